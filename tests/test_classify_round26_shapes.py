"""Shapes of round 26 (tests/realworld/README.md, "Held-out round 26"): a provider's own 413 is the provider's error,
not an upload's; OpenAI's 429 for one request larger than the per-minute limit and its refusal of an unverified
organization, as clients log their messages alone; an "OpenAI-compatible" server is no OpenAI; langchain's missing-key
wording for any client's key; the CrossEncoder's constructor refusing its arguments.

The openai, anthropic and httpx errors are raised here by the real libraries against loopback servers that answer with
the providers' bodies as users pasted them; langchain and sentence-transformers are not installed, so their messages
are the real users' pastes of the corpus, read by id.
"""

from __future__ import annotations

from contextlib import AbstractContextManager

import pytest

from mosaic_diag.classifier.classify import Classifier
from tests.realworld.corpus import corpus_text
from tests.test_classify_evidence import answering_server, json_error_server, raised, text_of
from tests.test_logs_support import logged_error, triage_labels

_TPM = ("Request too large for gpt-4o in organization org-VDAWofJASuLH0vVz8o9tiQZr on tokens per min (TPM): "
        "Limit 30000, Requested 30601. The input or output tokens must be reduced in order to run successfully. Visit "
        "https://platform.openai.com/account/rate-limits to learn more.")
_VERIFY = ("Your organization must be verified to stream this model. Please go to: "
           "https://platform.openai.com/settings/organization/general and click on Verify Organization. If you just "
           "verified, it can take up to 15 minutes for access to propagate.")


def _clf() -> Classifier:
    return Classifier.default()


def _openai_error(status: int, error: dict[str, object]) -> BaseException:
    openai = pytest.importorskip("openai")
    with json_error_server(status, error) as url:
        client = openai.OpenAI(api_key="sk-test", base_url=url, max_retries=0)
        return raised(lambda: client.chat.completions.create(model="gpt-4o",
                                                             messages=[{"role": "user", "content": "hi"}]))


def _logged(message: str) -> str:
    return logged_error(message, "app.embeddings.batch")


def _triage_labels(text: str) -> list[str]:
    return triage_labels(text, _clf())


# -- a provider's 413 -----------------------------------------------------------------------------------------------


def test_anthropics_413_request_too_large_is_anthropics_not_an_uploads() -> None:
    """The real anthropic client's 413 (`request_too_large`: ContentTooLargeError, RequestTooLargeError by version):
    the provider refused the request it was sent (rule 2), as `str(e)`, as its traceback and live."""
    anthropic = pytest.importorskip("anthropic")
    with json_error_server(413, {"type": "request_too_large", "message": "Request exceeds the maximum size"}) as url:
        client = anthropic.Anthropic(api_key="sk-ant-test", base_url=url.removesuffix("/v1"), max_retries=0)
        exc = raised(lambda: client.messages.create(model="claude-sonnet-4-5", max_tokens=16,
                                                    messages=[{"role": "user", "content": "hi"}]))
    assert isinstance(exc, anthropic.APIStatusError) and exc.status_code == 413
    assert _clf().classify_text(f"Summary failed: {exc}").label == "ANTHROPIC_ERROR"
    assert _clf().classify_text(text_of(exc)).label == "ANTHROPIC_ERROR"
    assert _clf().classify_exception(exc).label == "ANTHROPIC_ERROR"


@pytest.mark.parametrize("entry_id", [
    "r26-anth-other-request-too-large-private-module-name",  # `anthropic._exceptions.RequestTooLargeError`
    "r26-anth-other-request-too-large-claude-code-wrapped",  # Anthropic's own body type, wrapped by a terminal
])
def test_anthropics_413_as_pasted(entry_id: str) -> None:
    assert _clf().classify_text(corpus_text(entry_id)).label == "ANTHROPIC_ERROR"


def test_openais_413_is_openais_and_another_413_stays_an_uploads() -> None:
    """The openai client's 413 is its own error; httpx's 413 from the app's own upload endpoint stays the upload's."""
    exc = _openai_error(413, {"message": "Request body too large", "type": "invalid_request_error"})
    assert _clf().classify_exception(exc).label == "OPENAI_ERROR"
    httpx = pytest.importorskip("httpx")
    with json_error_server(413, {"message": "too big"}) as url:
        upload = raised(lambda: httpx.post(f"{url}/uploads", content=b"x" * 64).raise_for_status())
    assert isinstance(upload, httpx.HTTPStatusError) and "413" in str(upload)
    assert _clf().classify_exception(upload).label == "UPLOAD_SIZE_EXCEEDED"


# -- OpenAI's messages logged alone -------------------------------------------------------------------------------


def test_openais_request_too_large_for_the_tpm_limit_is_a_rate_limit() -> None:
    """The real client's 429 for one request over the per-minute limit; clients log its message alone (Node's `429
    <message>`, `err.body["message"]`), with the rate-limits URL or only the model's name."""
    exc = _openai_error(429, {"message": _TPM, "type": "tokens", "param": None, "code": "rate_limit_exceeded"})
    message = exc.body["message"]  # type: ignore[attr-defined]
    assert message == _TPM
    assert _clf().classify_text(message).label == "OPENAI_RATE_LIMIT"
    assert _clf().classify_text(f"429 {message}").label == "OPENAI_RATE_LIMIT"
    assert _clf().classify_text(message.split(" Visit ")[0].replace(" in organization org-VDAWofJASuLH0vVz8o9tiQZr",
                                                                    "")).label == "OPENAI_RATE_LIMIT"


def test_openais_refusal_of_an_unverified_organization_is_openais() -> None:
    """Its 400 (`unsupported_value`) logged as its message (LibreChat's `400 <message>`, Copilot's relay): attributed
    by OpenAI's own host in it; the words alone, with no OpenAI named, stay unlabelled."""
    exc = _openai_error(400, {"message": _VERIFY, "type": "invalid_request_error", "param": "stream",
                              "code": "unsupported_value"})
    assert _clf().classify_exception(exc).label == "OPENAI_ERROR"
    message = exc.body["message"]  # type: ignore[attr-defined]
    assert _clf().classify_text(f"AI response error; aborting request: 400 {message}").label == "OPENAI_ERROR"
    assert _clf().classify_text("Your organization must be verified to stream this model.").label == "UNKNOWN_ERROR"


# -- an OpenAI-compatible server ----------------------------------------------------------------------------------


def _plain_404_server() -> AbstractContextManager[str]:
    """A loopback stand-in for Ollama's router: `404 page not found` as text/plain."""
    return answering_server(404, b"404 page not found", "text/plain")


def test_an_openai_compatible_server_named_in_an_error_record_is_not_openai() -> None:
    """An app's ERROR record of its embedding batch against an "OpenAI-compatible" server (the real httpx 404 of
    Ollama's router) names no OpenAI: no OpenAI label; the same record naming the OpenAI API is OpenAI's."""
    httpx = pytest.importorskip("httpx")
    with _plain_404_server() as base:
        response = httpx.post(f"{base}/v1/embeddings", json={"input": "x"})
    record = (f"action=batchError provider=openai-compatible model=qwen3-embedding baseUrl={base} "
              f"error={response.status_code} {response.text}")
    assert _triage_labels(_logged(record)) == ["UNKNOWN_ERROR"]
    assert _triage_labels(_logged(record.replace("openai-compatible", "OpenAI API"))) == ["OPENAI_ERROR"]


# -- pasted: langchain's missing key, the CrossEncoder's constructor --------------------------------------------------


def test_langchains_missing_key_wording_for_any_clients_key() -> None:
    """`Did not find anthropic_api_key, please add an environment variable `ANTHROPIC_API_KEY` …` (langchain's
    get_from_dict_or_env, its pydantic v1 traceback), also inside an ERROR record naming Anthropic."""
    text = corpus_text("r26-env-langchain-did-not-find-anthropic-api-key")
    assert _clf().classify_text(text).label == "ENV_VAR_MISSING"
    assert _triage_labels(_logged(text)) == ["ENV_VAR_MISSING"]
    assert _clf().classify_text(text.replace("`ANTHROPIC_API_KEY`", "`anthropic_api_key`")).label != "ENV_VAR_MISSING"


def test_the_crossencoder_constructor_refusing_its_arguments_is_the_reranker_unavailable() -> None:
    text = corpus_text("r26-rerank-xinference-crossencoder-init-unexpected-kwarg")
    assert _clf().classify_text(text).label == "RERANKER_UNAVAILABLE"
    other = text.replace("CrossEncoder.__init__()", "Tokenizer.__init__()")
    assert _clf().classify_text(other).label == "UNKNOWN_ERROR"


# -- a provider's name as a setting's value ---------------------------------------------------------------------------


def _settings_error(provider: str) -> str:
    """The real pydantic-settings refusal of a provider setting's value (a Literal of provider names)."""
    from typing import Literal

    pydantic_settings = pytest.importorskip("pydantic_settings")
    pydantic = pytest.importorskip("pydantic")

    class Anthropic(pydantic.BaseModel):
        provider: Literal["anthropic", "bedrock", "vertexai"] = "anthropic"

    class Settings(pydantic_settings.BaseSettings):
        anthropic: Anthropic = Anthropic()

    return str(raised(lambda: Settings(anthropic={"provider": provider})))


def test_a_provider_named_as_a_settings_value_is_not_that_providers_error() -> None:
    """pydantic's listing of a Settings field refused (`anthropic.provider  Input should be 'anthropic', …`) names
    the provider as the field's path and its allowed values, data the app was given, not a call to the provider: an
    ERROR record carrying it (one line, as pasted, or as pydantic prints it) is no ANTHROPIC_ERROR. The model named
    after the header is the client's own (langchain's `validation error for Anthropic`) and still attributes."""
    text = _settings_error("tushare")
    assert "validation error for Settings" in text and "anthropic.provider" in text, text
    for shown in (text, " ".join(text.split())):
        assert _triage_labels(_logged(f"Request failed\nError: {shown}")) == ["UNKNOWN_ERROR"], shown
        assert _triage_labels(_logged(f"Request failed: {shown}")) == ["UNKNOWN_ERROR"], shown
    client = text.replace("for Settings", "for Anthropic")
    assert _triage_labels(_logged(f"Request failed: {client}")) == ["ANTHROPIC_ERROR"]
    assert _triage_labels(_logged("Anthropic call failed: timed out")) == ["ANTHROPIC_ERROR"]
