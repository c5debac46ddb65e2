"""Shapes of round 33 (tests/realworld/README.md, "Held-out round 33"): an OpenAI-compatible server's embeddings
endpoint on another host and path than OpenAI's `/v1/embeddings` (Open WebUI's `…//embeddings`), and an app's own
wording of the failed call (`Error generating openai batch embeddings: …`).

The HTTP clients' texts are their own: requests' and httpx's `str(e)` of a 404 from a loopback server that answers
every path with one; Open WebUI's aiohttp is not here, so its paste is the corpus's, read by id, and the triage cases
put the texts in a log after the ERROR record that reported them.
"""

from __future__ import annotations

import http.server
from collections.abc import Iterator

import httpx
import pytest
import requests

from mosaic_diag.classifier.classify import Classifier
from tests.realworld.corpus import corpus_text
from tests.test_classify_evidence import serving
from tests.test_logs_support import labels_after_error_record


def _clf() -> Classifier:
    return Classifier.default()


class _NotFound(http.server.BaseHTTPRequestHandler):
    def do_POST(self) -> None:  # noqa: N802 (http.server's name)
        self.send_response(404)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 (http.server's signature)
        pass


@pytest.fixture(scope="module")
def not_found_server() -> Iterator[str]:
    """`http://localhost:PORT`: a loopback server that answers every POST with a 404."""
    with serving(_NotFound) as url:
        yield url


def _requests_404(url: str) -> str:
    session = requests.Session()
    session.trust_env = False  # (no proxy from the environment)
    with pytest.raises(requests.exceptions.HTTPError) as info:
        session.post(url, json={"input": ["hello"], "model": "bge-m3"}, timeout=5).raise_for_status()
    return str(info.value)


def _httpx_404(url: str) -> str:
    with httpx.Client(trust_env=False) as client, pytest.raises(httpx.HTTPStatusError) as info:
        client.post(url, json={"input": ["hello"], "model": "bge-m3"}).raise_for_status()
    return str(info.value)


@pytest.mark.parametrize("path", ["//embeddings", "/api/embeddings", "/openai/embeddings"])
@pytest.mark.parametrize("client", [_requests_404, _httpx_404])
def test_an_http_error_from_a_compatible_servers_embeddings_endpoint_is_the_embeddings_call(
        not_found_server: str, path: str, client) -> None:
    text = client(not_found_server + path)
    assert "404" in text and path in text  # (the client's own words name the URL)
    assert _clf().classify_text(text).label == "EMBEDDING_GENERATION_FAILED"
    assert _clf().classify_text(f"Embedding call failed: {text}").label == "EMBEDDING_GENERATION_FAILED"
    assert labels_after_error_record(text) == ["EMBEDDING_GENERATION_FAILED"]


@pytest.mark.parametrize("path", ["/v1/models", "/embeddings-guide", "/v1/embedding_models"])
def test_another_path_is_no_embeddings_endpoint(not_found_server: str, path: str) -> None:
    text = _requests_404(not_found_server + path)
    assert _clf().classify_text(text).label == "UNKNOWN_ERROR"


def test_the_apps_own_wording_of_a_failed_embeddings_call(not_found_server: str) -> None:
    cause = _requests_404(not_found_server + "/v1/embed")  # (a path the endpoint rule does not read)
    for wording in ("Error generating batch embeddings", "Failed while computing document embeddings",
                    "error getting embeddings"):
        text = f"{wording}: {cause}"
        assert _clf().classify_text(text).label == "EMBEDDING_GENERATION_FAILED", wording
    assert _clf().classify_text(f"Error generating the report: {cause}").label == "UNKNOWN_ERROR"


def test_the_pasted_open_webui_record_is_the_embeddings_call_not_openais() -> None:
    text = corpus_text("r33-embed-openwebui-loguru-batch-embeddings-404")
    assert _clf().classify_text(text).label == "EMBEDDING_GENERATION_FAILED"
    assert "OPENAI_ERROR" not in labels_after_error_record(text)
    assert "EMBEDDING_GENERATION_FAILED" in labels_after_error_record(text)
