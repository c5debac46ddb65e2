"""Shapes of round 29 (tests/realworld/README.md, "Held-out round 29"): Anthropic's `not_found_error` whose message is
the model's id alone; Claude Code's model wording wrapped by a terminal; Anthropic's other context-window wording (the
input and `max_tokens` together over the limit); openai<1.0's 5xx without a printed status (`HTTP code 502 from API`,
the edge's `{"error":{"code":502,…}}` body).

The anthropic errors are raised here by the real client against a loopback server that answers with Anthropic's body
as users pasted it; openai<1.0 and Claude Code are not installed, so their texts are the real users' pastes of the
corpus, read by id.
"""

from __future__ import annotations

import json

import pytest

from mosaic_diag.classifier.classify import Classifier
from tests.realworld.corpus import corpus_text
from tests.test_classify_evidence import answering_server, raised, text_of
from tests.test_logs_support import logged_error, triage_labels

# Anthropic's server message for a prompt whose `max_tokens` added would overrun the window, as the corpus paste has it
# (kortix-ai/suna#172), and its refusal of a `max_tokens` over the model's output limit (anthropics/claude-code#11302)
_INPUT_PLUS_MAX = ("input length and `max_tokens` exceed context limit: 174167 + 64000 > 200000, decrease input length "
                   "or `max_tokens` and try again")
_OUTPUT_LIMIT = ("max_tokens: 21333 > 4096, which is the maximum allowed number of output tokens for "
                 "claude-3-opus-20240229")


def _clf() -> Classifier:
    return Classifier.default()


def _anthropic_error(status: int, error_type: str, message: str) -> BaseException:
    """The real anthropic client's error for Anthropic's body `{"type": "error", "error": {…}}` with `status`."""
    anthropic = pytest.importorskip("anthropic")
    body = json.dumps({"type": "error", "error": {"type": error_type, "message": message}}).encode()
    with answering_server(status, body, "application/json") as url:
        client = anthropic.Anthropic(api_key="sk-ant-test", base_url=url, max_retries=0)
        exc = raised(lambda: client.messages.create(model="claude-3-5-sonnet-20240620", max_tokens=16,
                                                    messages=[{"role": "user", "content": "hi"}]))
    assert isinstance(exc, anthropic.APIStatusError) and exc.status_code == status
    return exc


def _labels(exc: BaseException) -> set[str]:
    """The labels of `exc` as `str(e)` in a message, as its traceback, and live."""
    c = _clf()
    return {c.classify_text(f"Summary failed: {exc}").label, c.classify_text(text_of(exc)).label,
            c.classify_exception(exc).label}


# -- Anthropic's 404 naming the model by its id alone --------------------------------------------------------------


def test_anthropics_not_found_error_whose_message_is_the_models_id() -> None:
    """A `not_found_error` whose message is a Claude model's id (no `model:` before it) names the model; one that names
    none (`Not Found`, a wrong path) stays Anthropic's generic error."""
    assert _labels(_anthropic_error(404, "not_found_error", "claude-3-5-sonnet-20240620")) == {
        "ANTHROPIC_MODEL_NOT_FOUND"}
    assert _labels(_anthropic_error(404, "not_found_error", "model: claude-3-5-sonnet-20240620")) == {
        "ANTHROPIC_MODEL_NOT_FOUND"}
    assert _labels(_anthropic_error(404, "not_found_error", "Not Found")) == {"ANTHROPIC_ERROR"}


def test_anthropics_not_found_error_as_pasted() -> None:
    assert _clf().classify_text(corpus_text("r29-anth-model-litellm-notfound-message-is-model-id")).label == \
        "ANTHROPIC_MODEL_NOT_FOUND"
    assert _clf().classify_text(corpus_text("r29-anth-error-litellm-not-found-error-names-no-model")).label == \
        "ANTHROPIC_ERROR"


def test_claude_codes_model_wording_wrapped_by_the_terminal() -> None:
    text = corpus_text("r29-anth-model-claude-code-wording-terminal-wrapped-relay")
    assert "\n  not exist" in text
    assert _clf().classify_text(text).label == "ANTHROPIC_MODEL_NOT_FOUND"
    assert triage_labels(logged_error(text, "app.agent")) == ["ANTHROPIC_MODEL_NOT_FOUND"]


# -- Anthropic's other context-window wording ----------------------------------------------------------------------


def test_anthropics_input_and_max_tokens_over_the_window_is_a_context_overflow() -> None:
    assert _labels(_anthropic_error(400, "invalid_request_error", _INPUT_PLUS_MAX)) == {"ANTHROPIC_CONTEXT_OVERFLOW"}
    # its full wording, with the counts, is Anthropic's own (a client that names no provider logs it alone)
    assert _clf().classify_text(f"Error: {_INPUT_PLUS_MAX}").label == "ANTHROPIC_CONTEXT_OVERFLOW"
    # the output limit of a model is no context window
    assert _labels(_anthropic_error(400, "invalid_request_error", _OUTPUT_LIMIT)) == {"ANTHROPIC_ERROR"}


def test_anthropics_input_and_max_tokens_over_the_window_as_pasted() -> None:
    text = corpus_text("r29-anth-ctx-compose-input-length-and-max-tokens-exceed-limit")
    assert _clf().classify_text(text).label == "ANTHROPIC_CONTEXT_OVERFLOW"


# -- openai<1.0's 5xx without a printed status ---------------------------------------------------------------------


@pytest.mark.parametrize("entry_id", [
    "r29-openai-server-legacy-apierror-http-502-html-page",  # `HTTP code 502 from API (<!DOCTYPE html>…`
    "r29-openai-server-legacy-apierror-cf-bad-gateway-line-numbered",  # `{"error":{"code":502,…"cf_bad_gateway"}}`
])
def test_openai_legacy_api_errors_of_a_5xx_are_the_servers(entry_id: str) -> None:
    text = corpus_text(entry_id)
    assert _clf().classify_text(text).label == "OPENAI_SERVER_ERROR"
    assert triage_labels(logged_error("Completion failed", "app.llm") + text + "\n") == [
        "OPENAI_SERVER_ERROR"]


def test_a_numeric_5xx_code_in_a_body_needs_openais_attribution() -> None:
    """A JSON answer with `"code": 500` from an app's own API (no OpenAI in the event) is no OpenAI 5xx."""
    text = corpus_text("h10-neg-response-validation-v2-json-body")
    assert '"code": 500' in text
    assert _clf().classify_text(text).label == "UNKNOWN_ERROR"
