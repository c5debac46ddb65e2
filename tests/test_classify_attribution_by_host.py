"""Attribution by host (docs/taxonomy.md, rule 6 and "A bare …" under the model labels; tests/realworld/README.md,
"Attribution by host"): a request whose host the event names, and which is not a provider's, is not attributed to the
provider by a word elsewhere in the event (`openai` in the app's own message or in an `/openai/` path, an OpenAI
model's name). The openai client's own evidence (its type, its frames) still makes the error the openai client's
(`OPENAI_*` by its status), whatever server answered.

The errors are the real openai client's and requests' against loopback servers answering 404: the suite's LLM
stand-in (a self-hosted route under `/openai/v1` it does not serve) and an OpenAI-compatible server answering a model it
does not have in Ollama's words.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

from examples.llm_standin import LLMStandIn
from mosaic_diag.classifier.classify import Classifier
from tests.test_classify_evidence import json_error_server, raised, text_of
from tests.test_classify_round33_shapes import _requests_404
from tests.test_logs_support import logged_error, triage_labels

openai = pytest.importorskip("openai")

_OLLAMA_404 = {"message": 'model "llama3.1" not found, try pulling it first', "type": "api_error", "param": None,
               "code": None}


def _clf() -> Classifier:
    return Classifier.default()


def _chat(base_url: str, model: str = "llama3.1") -> BaseException:
    client = openai.OpenAI(api_key="sk-local", base_url=base_url, max_retries=0)
    exc = raised(lambda: client.chat.completions.create(model=model, messages=[{"role": "user", "content": "hi"}]))
    assert isinstance(exc, openai.NotFoundError), exc
    return exc


def _embed(base_url: str) -> BaseException:
    client = openai.OpenAI(api_key="sk-local", base_url=base_url, max_retries=0)
    exc = raised(lambda: client.embeddings.create(model="text-embedding-3-small", input=["hello"]))
    assert isinstance(exc, openai.NotFoundError), exc
    return exc


def _standin_route(llm: LLMStandIn) -> tuple[str, BaseException]:
    """The stand-in's 404 for a self-hosted `/openai/v1` route (its body names the path: `Invalid URL (POST
    /openai/v1/chat/completions)`)."""
    base = llm.base_url + "/openai/v1"
    exc = _chat(base)
    assert "/openai/v1/chat/completions" in str(exc)
    return base, exc


def _ollama_404() -> tuple[str, BaseException]:
    with json_error_server(404, _OLLAMA_404) as base:
        exc = _chat(base)
    return base, exc


def _logged(message: str) -> str:
    return logged_error(message, "app.llm.chat")


@pytest.mark.parametrize("make", ["standin", "ollama"])
def test_the_openai_word_beside_another_servers_url_does_not_attribute_its_404(
        llm: LLMStandIn, make: str) -> None:
    base, exc = _standin_route(llm) if make == "standin" else _ollama_404()
    assert base.startswith("http://127.0.0.1:")
    for message in (f"openai request to {base} failed: {exc}", f"OpenAI chat failed (base_url={base}): {exc}",
                    f"gpt-4o-mini call failed: POST {base}/chat/completions: {exc}"):
        assert _clf().classify_text(message).label == "UNKNOWN_ERROR", message
        assert _clf().classify_text(message, logger="app.llm.chat", level="ERROR").label == "UNKNOWN_ERROR"
        assert triage_labels(_logged(message)) == ["UNKNOWN_ERROR"], message


@pytest.mark.parametrize("make", ["standin", "ollama"])
def test_the_openai_clients_own_evidence_still_makes_it_the_openai_clients(llm: LLMStandIn, make: str) -> None:
    """Its type and frames (live, or its printed traceback) and its logger: `OPENAI_MODEL_NOT_FOUND` by its 404,
    whatever server answered (taxonomy: through the openai client such an error is the openai client's)."""
    base, exc = _standin_route(llm) if make == "standin" else _ollama_404()
    message = f"openai request to {base} failed: {exc}"
    assert _clf().classify_exception(exc).label == "OPENAI_MODEL_NOT_FOUND"
    assert _clf().classify_exception(exc, logger="app.llm.chat", log_message=message).label == \
        "OPENAI_MODEL_NOT_FOUND"
    assert _clf().classify_text(text_of(exc)).label == "OPENAI_MODEL_NOT_FOUND"
    assert _clf().classify_text(f"{message}\n{text_of(exc)}").label == "OPENAI_MODEL_NOT_FOUND"
    assert _clf().classify_text(message, logger="openai._base_client", level="ERROR").label == \
        "OPENAI_MODEL_NOT_FOUND"


@pytest.mark.parametrize("host", ["https://api.openai.com/v1",
                                  "https://acme.openai.azure.com/openai/deployments/gpt-4o-mini"])
def test_the_word_beside_openais_own_host_or_none_still_attributes(host: str) -> None:
    """The app naming OpenAI's (or Azure OpenAI's) host, or no host at all (rule 4: `OpenAI call failed: {e}`)."""
    _, exc = _ollama_404()
    for message in (f"openai request to {host} failed: {exc}", f"openai request failed: {exc}"):
        assert _clf().classify_text(message).label == "OPENAI_MODEL_NOT_FOUND", message
        assert triage_labels(_logged(message)) == ["OPENAI_MODEL_NOT_FOUND"], message


@pytest.mark.parametrize("client", ["requests", "openai"])
def test_an_openai_named_embeddings_call_to_another_server_is_the_embeddings_call(
        llm: LLMStandIn, client: str) -> None:
    """tests/realworld/README.md, round 33's "what is left": `Error generating openai batch embeddings: 404 Client
    Error: Not Found for url: http://127.0.0.1:…/v1/embed` was OPENAI_MODEL_NOT_FOUND by the word."""
    text: Callable[[], str]
    if client == "requests":
        def text() -> str:
            return _requests_404(llm.base_url + "/v1/embed")
    else:
        def text() -> str:
            base = llm.base_url + "/openai/v1"
            return f"{_embed(base)} (base_url={base})"
    cause = text()
    assert "404" in cause and "127.0.0.1" in cause
    for wording in ("Error generating openai batch embeddings", "Failed while computing OpenAI embeddings"):
        message = f"{wording}: {cause}"
        assert _clf().classify_text(message).label == "EMBEDDING_GENERATION_FAILED", message
        assert triage_labels(_logged(message)) == ["EMBEDDING_GENERATION_FAILED"], message
