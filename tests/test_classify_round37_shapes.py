"""Shapes of round 37 (tests/realworld/README.md, "Held-out round 37"): a connect to a provider's host that timed out,
logged as requests' `str(e)`; litellm's OpenAI route's timeout with its account of the wait; LinkedIn's login
challenge as the unofficial Voyager client raises it.

requests' `ConnectTimeout` is its own, against a loopback listener whose accept queue is full, so the kernel drops the
next connect's SYN (the provider's name resolved to 127.0.0.1 for the test, no network); litellm and linkedin-api are
not installed here, so their texts are the real users' pastes of the corpus, read by id, and the triage cases put them
in a log after the ERROR record that reported them.
"""

from __future__ import annotations

import contextlib
import socket
import time
from collections.abc import Iterator

import pytest

from mosaic_diag.classifier.classify import Classifier
from tests.loopback_names import resolve_to_loopback
from tests.realworld.corpus import corpus_text
from tests.test_logs_support import labels_after_error_record


def _clf() -> Classifier:
    return Classifier.default()


@pytest.fixture
def full_port() -> Iterator[int]:
    """A loopback port whose accept queue is full: a further connect gets no answer and times out."""
    with socket.socket() as srv:
        srv.bind(("127.0.0.1", 0))
        srv.listen(0)
        port = srv.getsockname()[1]
        waiting = []
        for _ in range(3):
            sock = socket.socket()
            sock.setblocking(False)
            with contextlib.suppress(BlockingIOError):  # (non-blocking: the handshake completes in the kernel)
                sock.connect(("127.0.0.1", port))
            waiting.append(sock)
        time.sleep(0.2)
        try:
            yield port
        finally:
            for sock in waiting:
                sock.close()


def _connect_timeout_to(host: str, port: int, monkeypatch: pytest.MonkeyPatch) -> str:
    """requests' own `str(e)` of a connect to `host` (resolved to the loopback listener) that timed out."""
    import requests

    resolve_to_loopback(monkeypatch, host)
    session = requests.Session()
    session.trust_env = False  # (no proxy from the environment)
    with pytest.raises(requests.exceptions.ConnectTimeout) as info:
        session.post(f"https://{host}:{port}/v1/chat/completions", timeout=(0.3, 1))
    return str(info.value)


# -- a connect to the provider's host that timed out, requests' str(e) ---------------------------------------------


@pytest.mark.parametrize(("host", "label"), [
    ("api.openai.com", "OPENAI_CONNECTION_ERROR"),
    ("api.anthropic.com", "ANTHROPIC_CONNECTION_ERROR"),
    ("storage.example.org", "UNKNOWN_ERROR"),  # (no provider's host: any other site's connect is no provider's)
])
def test_a_connect_that_timed_out_to_the_providers_host_is_its_connection_error(
        host: str, label: str, full_port: int, monkeypatch: pytest.MonkeyPatch) -> None:
    text = _connect_timeout_to(host, full_port, monkeypatch)
    assert text.startswith(f"HTTPSConnectionPool(host='{host}', port={full_port}): Max retries exceeded with url: ")
    assert "(Caused by ConnectTimeoutError(" in text
    assert _clf().classify_text(text).label == label
    assert _clf().classify_text(f"requests.exceptions.ConnectTimeout: {text}").label == label
    assert labels_after_error_record(f"requests.exceptions.ConnectTimeout: {text}") == [label]


def test_the_pasted_connect_timeout_to_openai_is_its_connection_error() -> None:
    text = corpus_text("r37-oai-conn-requests-connect-timeout-title")
    assert _clf().classify_text(text).label == "OPENAI_CONNECTION_ERROR"
    assert labels_after_error_record(text) == ["OPENAI_CONNECTION_ERROR"]


def test_a_read_timeout_from_the_providers_host_stays_its_timeout() -> None:
    """A guard: the read side of the same failure (round 19's requests paste) is the timeout, not the connection."""
    text = ("requests.exceptions.ReadTimeout: HTTPSConnectionPool(host='api.openai.com', port=443): "
            "Read timed out. (read timeout=12)")
    assert _clf().classify_text(text).label == "OPENAI_TIMEOUT"


# -- litellm's OpenAI route: the timeout with its account of the wait ----------------------------------------------


def test_litellms_openai_timeout_with_the_wait_it_took_is_the_timeout() -> None:
    text = corpus_text("r37-oai-timeout-litellm-openaierror-timeout-value")
    assert "OpenAIError: Request timed out. - timeout value=50.0, time taken=151.3 seconds" in text
    assert _clf().classify_text(text).label == "OPENAI_TIMEOUT"
    assert set(labels_after_error_record(text)) - {"UNKNOWN_ERROR"} == {"OPENAI_TIMEOUT"}
    # the record's message alone, as an app logs `str(e)` of it
    line = next(ln for ln in text.splitlines() if ln.startswith("litellm."))
    assert _clf().classify_text(line).label == "OPENAI_TIMEOUT"


def test_another_request_timed_out_sentence_of_litellm_stays_unattributed() -> None:
    """A guard: litellm's own `Timeout` naming no provider (round 37's smolagents title) is nobody's."""
    text = corpus_text("r37-neg-litellm-timeout-no-provider-title")
    assert _clf().classify_text(text).label == "UNKNOWN_ERROR"


# -- LinkedIn's login challenge, the Voyager client's exception ----------------------------------------------------


def test_the_voyager_clients_login_challenge_is_linkedins_block() -> None:
    text = corpus_text("r37-linkedin-api-challenge-exception-login")
    assert _clf().classify_text(text).label == "LINKEDIN_SCRAPE_BLOCKED"
    assert labels_after_error_record(text) == ["LINKEDIN_SCRAPE_BLOCKED"]


def test_another_tools_linkedin_login_message_is_no_block() -> None:
    """A guard: a login LinkedIn stopped with a message, no challenge, status or host named (round 37's negative)."""
    text = corpus_text("r37-neg-linkedin2username-message-session-not-established")
    assert _clf().classify_text(text).label == "UNKNOWN_ERROR"
