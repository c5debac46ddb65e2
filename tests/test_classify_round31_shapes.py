"""Shapes of round 31 (tests/realworld/README.md, "Held-out round 31"): an HTTP client's failure to reach or hear from a
job board logged without its type (requests' `str(e)` of a read timeout, aiohttp's `Cannot connect to host …`);
aiohttp's connector errors to OpenAI's host; Codex CLI's answer from OpenAI's `chatgpt.com` backend; litellm's
`ContentPolicyViolationError` for Azure OpenAI.

requests' read timeout is its own, against a loopback server that never answers (the board's name resolved to
127.0.0.1 for the test); aiohttp, litellm and Codex CLI are not installed here, so their texts are the real users'
pastes of the corpus, read by id, and the triage cases put them in a log after the ERROR record that reported them.
"""

from __future__ import annotations

import socket
from collections.abc import Iterator

import pytest

from mosaic_diag.classifier.classify import Classifier
from tests.loopback_names import resolve_to_loopback
from tests.realworld.corpus import corpus_text
from tests.test_logs_support import labels_after_error_record


def _clf() -> Classifier:
    return Classifier.default()


@pytest.fixture
def silent_port() -> Iterator[int]:
    """A loopback port that takes connections (the kernel's backlog) and never answers them."""
    with socket.socket() as srv:
        srv.bind(("127.0.0.1", 0))
        srv.listen(8)
        yield srv.getsockname()[1]


def _read_timeout_from(host: str, port: int, monkeypatch: pytest.MonkeyPatch) -> str:
    """requests' own `str(e)` of a read timeout from `host` (resolved to the loopback server for this test)."""
    import requests

    resolve_to_loopback(monkeypatch, host)
    session = requests.Session()
    session.trust_env = False  # (no proxy from the environment)
    with pytest.raises(requests.exceptions.ReadTimeout) as info:
        session.get(f"http://{host}:{port}/v1/boards/acme/jobs", timeout=0.3)
    return str(info.value)


# -- a job board's read timeout, requests' str(e) -------------------------------------------------------------------


@pytest.mark.parametrize(("host", "label"), [
    ("api.ashbyhq.com", "JOB_SOURCE_ERROR"),
    ("boards-api.greenhouse.io", "GREENHOUSE_API_DOWN"),
    ("storage.example.org", "UNKNOWN_ERROR"),  # (no job source: any other site's timeout is not one, rule 8)
])
def test_a_read_timeout_logged_without_its_type_is_the_boards_by_its_host(
        host: str, label: str, silent_port: int, monkeypatch: pytest.MonkeyPatch) -> None:
    text = _read_timeout_from(host, silent_port, monkeypatch)
    assert text.startswith(f"HTTPConnectionPool(host='{host}', port={silent_port}): Read timed out.")
    assert _clf().classify_text(text).label == label
    assert _clf().classify_text(f"fetch failed: {text}", level="ERROR").label == label
    assert labels_after_error_record(text) == [label]


def test_the_pasted_ashby_timeout_is_the_boards() -> None:
    text = corpus_text("r31-jobs-ashby-requests-read-timeout-str")
    assert _clf().classify_text(text).label == "JOB_SOURCE_ERROR"
    assert labels_after_error_record(text) == ["JOB_SOURCE_ERROR"]


# -- aiohttp's connector errors to OpenAI's host --------------------------------------------------------------------


@pytest.mark.parametrize("entry", ["r31-oai-conn-aiohttp-cert-stdlib-logger-record",
                                   "r31-oai-conn-aiohttp-retry-lines-nonetype-none"])
def test_aiohttps_cannot_connect_to_openais_host_is_its_connection_error(entry: str) -> None:
    text = corpus_text(entry)
    assert "Cannot connect to host api.openai.com:443 ssl:True" in text
    assert _clf().classify_text(text).label == "OPENAI_CONNECTION_ERROR"
    assert set(labels_after_error_record(text)) - {"UNKNOWN_ERROR"} == {"OPENAI_CONNECTION_ERROR"}


# -- Codex CLI's 404 from chatgpt.com, litellm's ContentPolicyViolationError for Azure -------------------------------


def test_codex_clis_model_not_found_from_chatgpt_com_is_openais() -> None:
    text = corpus_text("r31-oai-model-not-found-codex-unexpected-status-404")
    assert _clf().classify_text(text).label == "OPENAI_MODEL_NOT_FOUND"
    assert labels_after_error_record(text) == ["OPENAI_MODEL_NOT_FOUND"]


def test_litellms_content_policy_violation_for_azure_is_openais_content_filter() -> None:
    text = corpus_text("r31-oai-content-filter-litellm-contentpolicyviolation-no-body")
    assert _clf().classify_text(text).label == "OPENAI_CONTENT_FILTERED"
    assert labels_after_error_record(text) == ["OPENAI_CONTENT_FILTERED"]
    # (its proxy's body with the newer `AzureException - ` and Azure's sentence, read since round 1, stays so)
    assert _clf().classify_text(corpus_text("oai-content-filter-litellm-proxy")).label == "OPENAI_CONTENT_FILTERED"
