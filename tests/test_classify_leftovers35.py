"""Leftovers round 35 (tests/realworld/README.md, "Leftovers round 35"): the classifier's known misses of past rounds.

- A provider's name as a folder of a path (Vertex AI's `…/publishers/anthropic/models/…`, a proxy's or Groq's
  `POST /openai/v1/…`) is no evidence of who answered (taxonomy rule 6); the client's type and frames still are.
- A URL the app's message puts right before the error (`f"{base_url}: {e}"`) names the request's host.
- libpq 18's `unexpected spaces found in "…"` (psycopg 3) and another program's parser refusing a `postgresql://` URL
  (Go's net/url in the Supabase CLI) are PG_URL_MALFORMED.
- Prisma's `Can't reach database server at …` (P1001) and `Timed out fetching a new connection from the connection pool`
  (P2024) are PG_NETWORK_UNREACHABLE and PG_POOL_EXHAUSTED, unless the event names another database.

The errors are the real clients' (anthropic's Vertex client, openai, psycopg 3) against loopback servers where they can
be made here; Go and Prisma's engines are not installed, so theirs are pastes with their URLs (corpus entries by id).
"""

from __future__ import annotations

import json

import pytest

from examples.llm_standin import LLMStandIn
from mosaic_diag.classifier.classify import Classifier
from tests.realworld.corpus import corpus_text
from tests.test_classify_attribution_by_host import _ollama_404, _standin_route
from tests.test_classify_evidence import answering_server, raised
from tests.test_logs_support import labels_after_error_record, logged_error, triage_labels


def _clf() -> Classifier:
    return Classifier.default()


# ---------------------------------------------------------------- a provider's name as a path's folder

# Google's 404 for a Claude model on Vertex AI, its body as cline/cline#8697 pasted it (the project's name redacted)
_VERTEX_PASTE = "r34-neg-vertex-claude-publisher-model-404-cut"


def _vertex_404() -> BaseException:
    """The real anthropic Vertex client's error for a 404 in Google's envelope (the pasted body, from a loopback)."""
    anthropic = pytest.importorskip("anthropic")
    pasted = corpus_text(_VERTEX_PASTE)
    body = json.loads(pasted[pasted.index("[{") + 1:pasted.rindex("}]") + 1])
    with answering_server(404, json.dumps(body).encode(), "application/json") as url:
        client = anthropic.AnthropicVertex(region="us-central1", project_id="demo-project", access_token="ya29.test",
                                           base_url=url + "/v1", max_retries=0)
        exc = raised(lambda: client.messages.create(model="claude-sonnet-4-5@20250929", max_tokens=16,
                                                    messages=[{"role": "user", "content": "hi"}]))
    assert isinstance(exc, anthropic.NotFoundError), exc
    # anthropic>=2: `404 Publisher Model `…/publishers/anthropic/models/…` was not found … (path: /v1/projects/…)`
    assert str(exc).startswith("404 Publisher Model `projects/") and "/publishers/anthropic/models/" in str(exc)
    return exc


def test_vertex_ais_404_for_a_claude_model_is_not_anthropics_by_its_resource_path() -> None:
    """Google answered (its envelope, its resource name): the `anthropic` folder of the model's resource path is no
    Anthropic evidence, in the paste and in the client's `str(e)` logged alone."""
    pasted = corpus_text(_VERTEX_PASTE)
    exc = _vertex_404()
    for text in (pasted, str(exc), f"Vertex request failed: {exc}"):
        assert _clf().classify_text(text).label == "UNKNOWN_ERROR", text
        assert labels_after_error_record(text) == ["UNKNOWN_ERROR"], text
        assert triage_labels(logged_error(f"LLM call failed: {text}", "app.llm")) == ["UNKNOWN_ERROR"], text


def test_the_anthropic_vertex_clients_own_type_still_decides() -> None:
    """A guard: through Anthropic's own client (its type, rule 1) the 404 is its model-not-found, as round 34 read the
    Vertex client's `anthropic.RateLimitError`."""
    exc = _vertex_404()
    assert _clf().classify_exception(exc).label == "ANTHROPIC_MODEL_NOT_FOUND"
    assert _clf().classify_text(f"anthropic.NotFoundError: {exc}").label == "ANTHROPIC_MODEL_NOT_FOUND"


def test_an_openai_folder_in_a_hostless_route_does_not_attribute_the_clients_str(llm: LLMStandIn) -> None:
    """The openai client against a server that does not serve `/openai/v1` (`Invalid URL (POST /openai/v1/chat/
    completions)`), its `str(e)` logged with no host: OpenAI's API has no such path, so the path is no evidence."""
    _, exc = _standin_route(llm)
    assert "Invalid URL (POST /openai/v1/chat/completions)" in str(exc)
    for text in (str(exc), f"chat failed: {exc}"):
        assert _clf().classify_text(text).label == "UNKNOWN_ERROR", text
        assert labels_after_error_record(text) == ["UNKNOWN_ERROR"], text


def test_the_openai_clients_type_and_a_module_folder_still_attribute(llm: LLMStandIn) -> None:
    """Guards: its type, and its package's folder in a frame path (`site-packages/openai/`, `node_modules/openai/`)."""
    _, exc = _standin_route(llm)
    assert _clf().classify_exception(exc).label == "OPENAI_MODEL_NOT_FOUND"
    assert _clf().classify_text(f"openai.NotFoundError: {exc}").label == "OPENAI_MODEL_NOT_FOUND"
    for path in ("/usr/lib/python3.11/site-packages/openai/_base_client.py",
                 "file:///app/node_modules/openai/core/error.mjs"):
        assert _clf().classify_text(f"{exc} (raised in {path})").label == "OPENAI_MODEL_NOT_FOUND", path


# ---------------------------------------------------------------- `{base_url}: {e}`

def test_a_url_the_app_puts_before_the_error_is_the_requests_host(llm: LLMStandIn) -> None:
    """An app's `f"[{provider}] {model} at {base_url}: {e}"` (an OpenAI model's name, the local server's URL): the
    URL names the server that answered, which is no provider's, so the model's name does not attribute."""
    for base, exc in (_ollama_404(), _standin_route(llm)):
        for message in (f"{base}: {exc}", f"[local] gpt-4o-mini at {base}: {exc}", f"openai {base}: {exc}"):
            assert _clf().classify_text(message).label == "UNKNOWN_ERROR", message
            assert triage_labels(logged_error(message, "app.llm")) == ["UNKNOWN_ERROR"], message


def test_openais_own_url_before_the_error_still_attributes() -> None:
    """A guard: the same wording with OpenAI's host is OpenAI's 404."""
    _, exc = _ollama_404()
    message = f"[openai] gpt-4o-mini at https://api.openai.com/v1: {exc}"
    assert _clf().classify_text(message).label == "OPENAI_MODEL_NOT_FOUND"
    assert triage_labels(logged_error(message, "app.llm")) == ["OPENAI_MODEL_NOT_FOUND"]


# ---------------------------------------------------------------- PostgreSQL URLs that do not parse

def test_psycopg3s_unexpected_spaces_in_a_url_is_a_malformed_dsn() -> None:
    """libpq 18's URI check through psycopg 3 (a password with a space, not percent-encoded), as psycopg2's `invalid
    dsn`: with its type, as `str(e)`, under an ERROR record."""
    psycopg = pytest.importorskip("psycopg")
    exc = raised(lambda: psycopg.connect("postgresql://app:pass word@127.0.0.1:1/app", connect_timeout=1))
    assert isinstance(exc, psycopg.ProgrammingError), exc
    assert str(exc).startswith('unexpected spaces found in "pass word"')
    assert _clf().classify_exception(exc).label == "PG_URL_MALFORMED"
    assert _clf().classify_text(str(exc)).label == "PG_URL_MALFORMED"
    assert labels_after_error_record(f"psycopg.ProgrammingError: {exc}") == ["PG_URL_MALFORMED"]


def test_gos_url_parser_refusing_a_postgresql_url_is_a_malformed_dsn() -> None:
    """The Supabase CLI's `parse "postgresql://postgres:Ax^s": invalid port ":Ax^s" after host` (supabase/cli#155)."""
    text = corpus_text("r35-pg-url-supabase-cli-go-invalid-port")
    assert _clf().classify_text(text).label == "PG_URL_MALFORMED"
    assert labels_after_error_record(text) == ["PG_URL_MALFORMED"]


def test_gos_url_parser_refusing_another_url_is_not_postgresqls() -> None:
    """A guard: the same parser's error for an HTTP URL (the paste's shape, its scheme another)."""
    text = corpus_text("r35-pg-url-supabase-cli-go-invalid-port").replace("postgresql://", "https://")
    assert _clf().classify_text(text).label == "UNKNOWN_ERROR"


# ---------------------------------------------------------------- Prisma

@pytest.mark.parametrize(("entry", "label"), [
    ("r35-pg-net-prisma-p1001-neon-datasource", "PG_NETWORK_UNREACHABLE"),
    ("r35-pg-net-prisma-p1001-neon-pooler-unhandled", "PG_NETWORK_UNREACHABLE"),
    ("r35-pg-pool-prisma-p2024-neon-lambda", "PG_POOL_EXHAUSTED"),
])
def test_prismas_unreachable_server_and_pool_timeout_are_postgresqls(entry: str, label: str) -> None:
    text = corpus_text(entry)
    assert _clf().classify_text(text).label == label
    assert labels_after_error_record(text) == [label]


def test_prismas_older_wording_with_the_port_apart() -> None:
    """prisma/studio#1177's title line (Prisma 5: host and port in backticks of their own)."""
    # https://github.com/prisma/studio/issues/1177
    text = ("Error: P1001  Can't reach database server at `localhost`:`5432`  Please make sure your database server is "
            "running at `localhost`:`5432`.")
    assert _clf().classify_text(text).label == "PG_NETWORK_UNREACHABLE"


def test_prismas_unreachable_mysql_server_is_not_postgresqls() -> None:
    """A guard: prisma/orm#10952's datasource line and error for MySQL (RDS for MySQL on Aliyun, port 3306)."""
    # https://github.com/prisma/orm/issues/10952
    datasource = 'Datasource "db": MySQL database "abcdb" at "abc.mysql.rds.aliyuncs.com:3306"'
    title = "Error: P1001 - Can't reach database server at `abc.mysql.rds.aliyuncs.com`:`3306`"
    for text in (title, f"{datasource}\n\n{title}"):
        assert _clf().classify_text(text).label == "UNKNOWN_ERROR", text
    pool = corpus_text("r35-pg-pool-prisma-p2024-neon-lambda")
    assert _clf().classify_text(f"{datasource}\n{pool}").label == "UNKNOWN_ERROR"
