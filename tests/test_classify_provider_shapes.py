"""Shapes of round 24 (tests/realworld/README.md, "Held-out round 24"): an HTTP client's connection failure to a
provider's host, the SDK's package in a Node stack frame behind a `file://` URL, a JSON string's escaped newline
after `Connection error.`, PHP PDO's SQLSTATE 42601 in a locale the catalogs do not read, better-sqlite3's class.

The requests errors are raised here by the real library (a proxy that refuses the connection: offline, no DNS); the
other texts are the real users' pastes of the corpus, read by id.
"""

from __future__ import annotations

import socket

import pytest

from mosaic_diag.classifier.classify import Classifier
from tests.realworld.corpus import corpus_text
from tests.test_classify_evidence import raised


def _clf() -> Classifier:
    return Classifier.default()


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]  # closed when the block ends: nothing listens there


def _through_dead_proxy(url: str) -> BaseException:
    requests = pytest.importorskip("requests")
    proxy = f"http://127.0.0.1:{_closed_port()}"
    return raised(lambda: requests.post(url, proxies={"https": proxy, "http": proxy}, timeout=5))


@pytest.mark.parametrize(("url", "label"), [
    ("https://api.anthropic.com/v1/messages", "ANTHROPIC_CONNECTION_ERROR"),
    ("https://api.openai.com/v1/chat/completions", "OPENAI_CONNECTION_ERROR"),
    ("https://api.example.org/v1/messages", "UNKNOWN_ERROR"),  # no provider's host: rule 6
])
def test_requests_connection_failure_to_a_providers_host(url: str, label: str) -> None:
    exc = _through_dead_proxy(url)
    text = str(exc)
    assert "Max retries exceeded with url: " in text and "Caused by ProxyError" in text
    assert _clf().classify_text(text).label == label  # `str(e)` logged without its type (rule 4)


def test_a_provider_hosts_timeout_is_no_connection_error() -> None:
    """A read timeout is the timeout's label, not the connection's (urllib3's ReadTimeoutError is not read here)."""
    requests = pytest.importorskip("requests")
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)  # accepts, never answers
    try:
        port = listener.getsockname()[1]
        exc = raised(lambda: requests.get(f"http://127.0.0.1:{port}/v1/chat/completions", timeout=0.3))
    finally:
        listener.close()
    text = str(exc).replace("host='127.0.0.1'", "host='api.openai.com'")
    assert "Read timed out." in text
    assert _clf().classify_text(text).label == "OPENAI_TIMEOUT"


@pytest.mark.parametrize(("entry_id", "label"), [
    # `"Error: Connection error.\n    at D3.makeRequest (file:///…/node_modules/@anthropic-ai/claude-code/cli.js…)"`
    ("r24-anth-conn-claude-code-npm-cli-json", "ANTHROPIC_CONNECTION_ERROR"),
    # `SQLSTATE[42601]: Syntax error: 7 ERREUR:  syntaxe errore near "`"` then `LINE 1: … AS`name` …`
    ("r24-dialect-pdo-backtick-garbled-french", "SQL_DIALECT_ERROR"),
    # `SqliteError: AUTOINCREMENT is only allowed on an INTEGER PRIMARY KEY`
    ("r24-sqlite-better-sqlite3-autoincrement-integer-pk", "SQLITE_FALLBACK_ACTIVE"),
])
def test_pasted_shapes(entry_id: str, label: str) -> None:
    assert _clf().classify_text(corpus_text(entry_id)).label == label


def test_a_node_package_is_attribution_only_where_it_is_the_sdks() -> None:
    """`node_modules/openai/` attributes; a package whose name merely holds the word does not."""
    text = corpus_text("r24-anth-conn-claude-code-npm-cli-json")
    assert _clf().classify_text(text.replace("@anthropic-ai/claude-code", "openai")).label == "OPENAI_CONNECTION_ERROR"
    assert _clf().classify_text(text.replace("@anthropic-ai/claude-code", "openai-proxy")).label == "UNKNOWN_ERROR"


def test_sqlstate_42601_needs_another_dialects_syntax_in_the_quoted_query() -> None:
    text = corpus_text("r24-dialect-pdo-backtick-garbled-french").replace("AS`name`", "AS name")
    assert _clf().classify_text(text).label == "UNKNOWN_ERROR"
