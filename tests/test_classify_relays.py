"""A gateway's or relay's answer naming a Claude model is not Anthropic's (taxonomy rules 7-8: attribution follows who
raised the error, its exception module, host or client; a model's name alone is weaker evidence).

The errors are raised here by the real openai and anthropic clients against loopback servers answering with the bodies
real users pasted (tests/realworld/corpus.yml, read by id): a one-api / new-api relay's 503 for a Claude model it has
no channel for, an OpenAI-compatible endpoint's 404 for a Claude model, a LiteLLM proxy's 400 for a model name it does
not know, and LiteLLM relaying Anthropic's own 404 (which stays Anthropic's: the wrapper carries its cause).
"""

from __future__ import annotations

import ast
import json
from functools import cache

import pytest

from mosaic_diag.classifier.classify import Classifier
from tests.test_classify_evidence import answering_server, json_error_server, raised, text_of
from tests.test_logs_support import logged_error, triage_labels


def _clf() -> Classifier:
    return Classifier.default()


@cache
def _corpus() -> dict[str, str]:
    from tests.realworld.corpus import load_corpus

    return {e.id: e.text for e in load_corpus()}


def _pasted(entry_id: str) -> str:
    return _corpus()[entry_id]


def _via_openai(status: int, error: object, model: str = "claude-3-5-sonnet-20241022") -> BaseException:
    """The real openai client's error from a loopback gateway answering `{"error": error}` with `status`."""
    openai = pytest.importorskip("openai")
    with json_error_server(status, error) as url:  # type: ignore[arg-type]
        client = openai.OpenAI(api_key="sk-test", base_url=url, max_retries=0)
        exc = raised(lambda: client.chat.completions.create(model=model, messages=[{"role": "user", "content": "hi"}]))
    assert isinstance(exc, openai.APIStatusError) and exc.status_code == status, exc
    return exc


def _logged(message: str) -> str:
    return logged_error(message, "app.llm.chat")


def _triage_labels(text: str) -> list[str]:
    return triage_labels(text, _clf())


def _relay_503() -> BaseException:
    """new-api's 503 (no channel for the Claude model in the group), as the corpus entry's user got it."""
    message = _pasted("r27-neg-relay-503-mojibake-claude-channel").removeprefix("503 ")
    assert "claude-3-5-sonnet-20241022" in message and "(request id: " in message
    return _via_openai(503, {"message": message})


def _compatible_404() -> BaseException:
    """An OpenAI-compatible endpoint's 404 for a Claude model (the body the corpus entry's client printed)."""
    text = _pasted("r27-oai-model-notfound-claude-via-openai-shape")
    body = text[text.index("{'error'"):text.index("}}", text.index("{'error'")) + 2].replace("\n", "")
    error = ast.literal_eval(body)["error"]
    assert "claude-sonnet-4-20250514" in error["message"]
    return _via_openai(404, error, model="claude-sonnet-4-20250514")


@pytest.mark.parametrize(("make", "typed"), [(_relay_503, "OPENAI_SERVER_ERROR"),
                                             (_compatible_404, "OPENAI_MODEL_NOT_FOUND")])
def test_a_relays_answer_naming_a_claude_model_through_the_openai_client_is_not_anthropics(make, typed: str) -> None:
    """With its type (live, or its traceback) the error is the openai client's (OPENAI_* by its status); its `str(e)`
    alone, printed or under an ERROR record, says only that an OpenAI-protocol server answered for a Claude model:
    no provider's (rule 6), never Anthropic's."""
    exc = make()
    assert "claude-" in str(exc)
    assert _clf().classify_exception(exc).label == typed
    assert _clf().classify_text(text_of(exc)).label == typed
    assert _clf().classify_exception(exc, logger="app.llm.chat", log_message=f"chat failed: {exc}").label == typed
    assert _clf().classify_text(str(exc)).label == "UNKNOWN_ERROR"
    assert _clf().classify_text(f"chat failed: {exc}", logger="app.llm.chat", level="ERROR").label == "UNKNOWN_ERROR"
    assert _triage_labels(_logged(f"chat failed: {exc}")) == ["UNKNOWN_ERROR"]


def test_a_litellm_proxys_own_refusal_of_a_claude_model_name_is_not_anthropics() -> None:
    """LiteLLM's proxy refusing a model name it does not know (its body's message is an object, which the openai
    client does not print): an app logging the error's body, OpenAI's error object (`param`), names a Claude model
    the proxy, not Anthropic, refused."""
    text = _pasted("r27-neg-litellm-proxy-invalid-model-name-openui")
    error = ast.literal_eval(text[text.index("{'error'"):])["error"]
    exc = _via_openai(400, error, model="claude-3-5-sonnet")
    assert _clf().classify_exception(exc).label == "OPENAI_ERROR"
    body = exc.body  # type: ignore[attr-defined]
    assert "claude-3-5-sonnet" in str(body)
    assert _clf().classify_text(f"LLM call failed: {body}", logger="app.llm.chat", level="ERROR").label == \
        "UNKNOWN_ERROR"
    assert _triage_labels(_logged(f"LLM call failed: {body}")) == ["UNKNOWN_ERROR"]


def test_anthropics_own_error_relayed_by_a_proxy_stays_anthropics() -> None:
    """LiteLLM relaying Anthropic's 404 (`AnthropicException - b'{"type":"error",…not_found_error…}'`): the wrapper
    carries its cause (rule 7), whatever client printed it; Anthropic's own client's 404 in its API's envelope is
    Anthropic's. (A Claude model's name with nothing else in the event still attributes: test_realerrors_shapes.)"""
    relayed = json.loads(_pasted("anth-model-litellm-proxy-bytes"))
    exc = _via_openai(404, relayed, model="claude-3-5-sonnet")
    assert "AnthropicException - " in str(exc)
    assert _clf().classify_text(str(exc)).label == "ANTHROPIC_MODEL_NOT_FOUND"
    assert _triage_labels(_logged(f"chat failed: {exc}")) == ["ANTHROPIC_MODEL_NOT_FOUND"]

    anthropic = pytest.importorskip("anthropic")
    body = _pasted("r16-anth-model-notfound-status-envelope").removeprefix("404 ").encode()
    with answering_server(404, body, "application/json") as url:
        client = anthropic.Anthropic(api_key="sk-ant-test", base_url=url, max_retries=0)
        own = raised(lambda: client.messages.create(model="claude-sonnet-4-20250514", max_tokens=8,
                                                    messages=[{"role": "user", "content": "hi"}]))
    assert isinstance(own, anthropic.NotFoundError)
    for text in (str(own), text_of(own)):
        assert _clf().classify_text(text).label == "ANTHROPIC_MODEL_NOT_FOUND"


@pytest.mark.parametrize(("entry_id", "status", "label"), [
    ("anth-model-litellm-proxy-bytes", 404, "ANTHROPIC_MODEL_NOT_FOUND"),
    ("anth-ratelimit-litellm-log", 429, "ANTHROPIC_RATE_LIMIT"),
])
def test_a_relayed_anthropic_error_is_labelled_alike_live_in_its_traceback_and_as_text(
        entry_id: str, status: int, label: str) -> None:
    """The openai client's error carrying LiteLLM's `AnthropicException - {…}` (a proxy relaying Anthropic's answer) is
    Anthropic's however it is read (rule 7: the wrapper carries its cause): the live exception, its printed traceback
    and its `str()` under an ERROR record get one label (the live one and the traceback's were OPENAI_* by the
    client's type). The 429's message is the one a user's log printed (`litellm.RateLimitError: AnthropicException -
    {…}`), relayed in LiteLLM's proxy envelope as the 404's real body shows it."""
    pasted = _pasted(entry_id)
    if pasted.lstrip().startswith("{"):
        relayed = json.loads(pasted)
    else:
        start = pasted.index("litellm.RateLimitError: ")
        end = pasted.index("}}", start) + 2
        relayed = {"message": pasted[start:end], "type": None, "param": None, "code": str(status)}
    exc = _via_openai(status, relayed, model="claude-3-5-sonnet")
    assert "AnthropicException - " in str(exc)
    clf = _clf()
    assert clf.classify_exception(exc).label == label
    assert clf.classify_text(text_of(exc)).label == label
    assert clf.classify_text(str(exc)).label == label
    assert _triage_labels(_logged(f"chat failed: {exc}")) == [label]
