"""Real errors, raised by the real libraries in the test run, in the shapes users paste them (held-out round 16):
PostgreSQL's privilege errors on any object, Node's ENOENT under the
uploads folder, provider errors as a JSON error object's `"message"`, a reranker model's files failing to download,
Anthropic's context-overflow wording with no provider named."""

from __future__ import annotations

import json
import secrets
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.test_classify_evidence import clf, json_error_server, raised, text_of

# -- PostgreSQL -------------------------------------------------------------------------------------

def test_a_privilege_error_on_any_object_is_access_denied(pg, pg_db) -> None:
    """A role without privileges on a table, a sequence and a function: psycopg2's InsufficientPrivilege, and
    PostgreSQL's own line for it without the type (a server log, psql, Ruby's `PG::InsufficientPrivilege`)."""
    import psycopg2

    role = f"reader_{secrets.token_hex(3)}"
    dbname = pg_db.rsplit("/", 1)[1].split("?")[0]
    admin = psycopg2.connect(pg.superuser_dsn(), connect_timeout=10)
    admin.autocommit = True
    owner = psycopg2.connect(pg_db, connect_timeout=10)
    owner.autocommit = True
    try:
        with admin.cursor() as cur:
            cur.execute(f"CREATE ROLE {role} LOGIN PASSWORD 'pw'")
        with owner.cursor() as cur:
            cur.execute("CREATE TABLE docs (id int); CREATE SEQUENCE doc_ids; "
                        "CREATE FUNCTION secret() RETURNS int LANGUAGE sql AS 'SELECT 1'; "
                        "REVOKE EXECUTE ON FUNCTION secret() FROM PUBLIC")
        conn = psycopg2.connect(pg.dsn(dbname, user=role, password="pw"), connect_timeout=10)
        try:
            errors = []
            for sql in ("SELECT * FROM docs", "SELECT nextval('doc_ids')", "SELECT secret()"):
                with conn.cursor() as cur:
                    errors.append(raised(lambda cur=cur, sql=sql: cur.execute(sql)))
                conn.rollback()
        finally:
            conn.close()
    finally:
        owner.close()
        with admin.cursor() as cur:
            cur.execute(f"DROP ROLE IF EXISTS {role}")
        admin.close()
    messages = [str(exc).splitlines()[0] for exc in errors]
    assert messages == ["permission denied for table docs", "permission denied for sequence doc_ids",
                        "permission denied for function secret"]
    for exc, message in zip(errors, messages, strict=True):
        assert type(exc).__name__ == "InsufficientPrivilege"
        assert clf().classify_text(text_of(exc)).label == "PG_ACCESS_DENIED"
        assert clf().classify_text(f"ERROR:  {message}").label == "PG_ACCESS_DENIED"
        assert clf().classify_text(f"ERROR: PG::InsufficientPrivilege: ERROR:  {message}").label == "PG_ACCESS_DENIED"
    # the operating system's "Permission denied" is no database privilege (rule 6)
    assert clf().classify_text("PermissionError: [Errno 13] Permission denied: '/srv/app/docs'").label != \
        "PG_ACCESS_DENIED"


def test_psycopg3s_incomplete_placeholder_is_a_dialect_error_only_from_execute() -> None:
    """psycopg 3 reads SQLite's `%` arithmetic as a placeholder (`incomplete placeholder: '%'`): SQL_DIALECT_ERROR
    from `cursor.execute` or a database logger, as `not all arguments converted` is (rule 8). psycopg 3 is not in the
    test run: the text is round 16's real paste (fpdb-3#349), with and without its frames."""
    from tests.realworld.corpus import load_corpus

    text = next(e.text for e in load_corpus() if e.id == "r16-sql-dialect-psycopg3-incomplete-placeholder-modulo")
    assert clf().classify_text(text).label == "SQL_DIALECT_ERROR"
    message = text[text.index("psycopg.ProgrammingError"):]
    assert clf().classify_text(message).label == "UNKNOWN_ERROR"
    assert clf().classify_text(message, logger="app.storage").label == "SQL_DIALECT_ERROR"


# -- uploads --------------------------------------------------------------------------------------

_NODE_OPEN = """
try { require('fs').openSync(process.argv[1]); }
catch (e) { console.log(String(e)); console.log(JSON.stringify(e)); console.log(e.stack); }
"""


def test_node_enoent_under_the_uploads_folder_is_upload_path_missing(tmp_path: Path) -> None:
    """Node's ENOENT as its message, its error object as JSON (errno name and path, no `No such file or
    directory`) and its stack; the same for a path outside an uploads folder is not."""
    node = shutil.which("node")
    if node is None:
        pytest.skip("node is not installed")

    def shapes(path: str) -> list[str]:
        out = subprocess.run([node, "-e", _NODE_OPEN, path], capture_output=True, text=True, cwd=tmp_path,
                             timeout=60, check=True).stdout
        message, obj, *stack = out.splitlines()
        return [message, obj, "\n".join(stack)]

    inside = shapes("uploads/avatar-1.png")
    assert inside[0] == "Error: ENOENT: no such file or directory, open 'uploads/avatar-1.png'"
    assert json.loads(inside[1])["code"] == "ENOENT" and "no such file" not in inside[1].lower()
    for text in inside:
        assert clf().classify_text(text).label == "UPLOAD_PATH_MISSING", text
    for text in shapes("data/avatar-1.png"):
        assert clf().classify_text(text).label != "UPLOAD_PATH_MISSING", text


def _open_on_windows_style_path(folder: str) -> None:
    open(f"C:\\app\\{folder}\\resume.pdf", "rb")  # noqa: SIM115 - it never opens


def test_a_windows_path_under_the_folder_is_upload_path_missing() -> None:
    """Python's FileNotFoundError prints a Windows path with doubled backslashes; the folder is read across them
    (no frame's source names it: the frame rule would take the innermost one that did)."""
    exc = raised(lambda: _open_on_windows_style_path("uploads"))
    assert "\\\\uploads\\\\" in str(exc)
    for text in (text_of(exc), f"ERROR:app.files:save failed: {exc}"):
        assert clf().classify_text(text).label == "UPLOAD_PATH_MISSING", text
    other = raised(lambda: _open_on_windows_style_path("exports"))
    assert clf().classify_text(text_of(other)).label != "UPLOAD_PATH_MISSING"


# -- providers --------------------------------------------------------------------------------------

@pytest.mark.parametrize(("provider", "model", "label"), [
    ("anthropic", "claude-3-5-haiku-latest", "ANTHROPIC_CONNECTION_ERROR"),
    ("openai", "gpt-4o-mini", "OPENAI_CONNECTION_ERROR"),
])
def test_a_connection_error_as_a_json_error_objects_message(refused_port: int, provider: str, model: str,
                                                            label: str) -> None:
    """The real client's connection failure serialised as an error object (`{"error": {"message": str(e), …}}`,
    as JSON loggers and the Node SDK's apps print it): the message is the JSON string's value; the model's name
    attributes it. Without a provider word it stays unattributed."""
    sdk = pytest.importorskip(provider)
    client_class = sdk.Anthropic if provider == "anthropic" else sdk.OpenAI
    client = client_class(api_key="sk-test", base_url=f"http://127.0.0.1:{refused_port}", max_retries=0)
    if provider == "anthropic":
        exc = raised(lambda: client.messages.create(model=model, max_tokens=8,
                                                    messages=[{"role": "user", "content": "hi"}]))
    else:
        exc = raised(lambda: client.chat.completions.create(model=model, messages=[{"role": "user", "content": "hi"}]))
    assert type(exc).__name__ == "APIConnectionError"
    record = json.dumps({"error": {"message": str(exc), "name": type(exc).__name__}, "model": model}, indent=2)
    assert clf().classify_text(record).label == label
    bare = json.dumps({"error": {"message": str(exc)}})
    assert clf().classify_text(bare).label not in (label, "PG_CONNECTION_FAILED")


def test_a_timeout_as_a_json_error_objects_message(llm) -> None:
    """The real Anthropic client's timeout (the stand-in answers too slowly) in a JSON error object."""
    anthropic = pytest.importorskip("anthropic")
    llm.set_failure("anthropic", "slow", delay=5)
    client = anthropic.Anthropic(api_key="sk-ant-test", base_url=llm.anthropic_base_url, max_retries=0, timeout=0.3)
    exc = raised(lambda: client.messages.create(model="claude-3-5-haiku-latest", max_tokens=8,
                                                messages=[{"role": "user", "content": "hi"}]))
    assert isinstance(exc, anthropic.APITimeoutError)
    record = json.dumps({"level": "error", "message": str(exc), "model": "claude-3-5-haiku-latest"})
    assert clf().classify_text(record).label == "ANTHROPIC_TIMEOUT"


def test_anthropics_context_overflow_wording_needs_no_provider_name(llm) -> None:
    """Anthropic's `prompt is too long: N tokens > M maximum` wrapped by a client that names no provider (the
    Vercel AI SDK's `APICallError`); the bare words without the counts still need the attribution."""
    anthropic = pytest.importorskip("anthropic")
    llm.set_failure("anthropic", "context_overflow")
    client = anthropic.Anthropic(api_key="sk-ant-test", base_url=llm.anthropic_base_url, max_retries=0)
    exc = raised(lambda: client.messages.create(model="claude-3-5-haiku-latest", max_tokens=8,
                                                messages=[{"role": "user", "content": "hi"}]))
    assert isinstance(exc, anthropic.BadRequestError)
    message = exc.body["error"]["message"]  # the API's own message, as the AI SDK carries it
    assert clf().classify_text(f"APICallError [AI_APICallError]: {message}").label == "ANTHROPIC_CONTEXT_OVERFLOW"
    assert clf().classify_text("APICallError [AI_APICallError]: prompt is too long").label == "UNKNOWN_ERROR"


def test_openais_geo_block_code_attributes_an_unqualified_error() -> None:
    """The real openai client's PermissionDeniedError for OpenAI's geo block: its own error code names the provider
    when the type is unqualified or absent (an agent framework's `PermissionDeniedError: …`, a tracing client's
    `… error 403: {json}`), as `insufficient_quota` does."""
    openai = pytest.importorskip("openai")
    # OpenAI's answer to a request from a country it does not serve (its body as users paste it)
    with json_error_server(403, {"code": "unsupported_country_region_territory", "param": None,
                                 "message": "Country, region, or territory not supported",
                                 "type": "request_forbidden"}) as url:
        client = openai.OpenAI(api_key="sk-test", base_url=url, max_retries=0)
        exc = raised(lambda: client.chat.completions.create(model="m", messages=[{"role": "user", "content": "hi"}]))
    assert isinstance(exc, openai.PermissionDeniedError)
    body = exc.response.json()
    legacy = f"Error code: {exc.status_code} - {body!r}"  # how openai<2 printed it, the shape users paste
    for text in (text_of(exc), f"PermissionDeniedError: {legacy}", f"Tracing client error 403: {json.dumps(body)}"):
        assert clf().classify_text(text).label == "OPENAI_ERROR", text
    # the newest client prints the message alone: unqualified, nothing names OpenAI
    assert clf().classify_text(f"PermissionDeniedError: {exc}").label == "UNKNOWN_ERROR"


# -- reranker ---------------------------------------------------------------------------------------

@pytest.mark.parametrize(("repo", "reranker"), [
    ("cross-encoder/ms-marco-MiniLM-L-6-v2", True),
    ("BAAI/bge-reranker-base", True),
    ("sentence-transformers/all-MiniLM-L6-v2", False),  # an embedding model's download is no reranker
])
def test_a_reranker_models_download_failing_is_reranker_unavailable(refused_port: int, repo: str,
                                                                    reranker: bool) -> None:
    """The model's config fetched from the Hugging Face Hub through a proxy that refuses (the real requests /
    urllib3 error, as the Hub client raises it on a machine without network)."""
    requests = pytest.importorskip("requests")
    url = f"https://huggingface.co/{repo}/resolve/main/config.json"
    proxy = f"http://127.0.0.1:{refused_port}"
    exc = raised(lambda: requests.get(url, proxies={"https": proxy}, timeout=10))
    assert isinstance(exc, requests.exceptions.ProxyError)
    assert f"/{repo}/resolve/main/config.json" in str(exc)
    got = clf().classify_text(text_of(exc)).label
    assert (got == "RERANKER_UNAVAILABLE") is reranker, got
