"""Shapes of round 34 (tests/realworld/README.md, "Held-out round 34"): Claude Code's own sentence for a request its
API refused under Anthropic's Usage Policy, and LM Studio's model names (`text-embedding-<any model>`), which are no
OpenAI model's.

The openai client's errors are its own, against a loopback server answering 404 for a model it does not have (the
body in an OpenAI-compatible server's words); Claude Code and ragflow are not here, so their pastes are the corpus's,
read by id, and the triage cases put the texts in a log after the ERROR record that reported them.
"""

from __future__ import annotations

import pytest

from mosaic_diag.classifier.classify import Classifier
from tests.realworld.corpus import corpus_text
from tests.test_classify_evidence import json_error_server, raised
from tests.test_logs_support import labels_after_error_record

openai = pytest.importorskip("openai")

_USAGE_POLICY = "r34-anth-filter-claude-code-usage-policy-aup"


def _clf() -> Classifier:
    return Classifier.default()


def _embedding_404(model: str) -> str:
    """`str(e)` of the real openai client's 404 from a server that does not have the embedding model `model`."""
    body = {"message": f'model "{model}" not found', "type": "api_error", "param": None, "code": None}
    with json_error_server(404, body) as base:
        client = openai.OpenAI(api_key="sk-local", base_url=base, max_retries=0)
        exc = raised(lambda: client.embeddings.create(model=model, input=["hello"]))
    assert isinstance(exc, openai.NotFoundError), exc
    return str(exc)


def test_claude_codes_usage_policy_refusal_is_the_content_filter() -> None:
    text = corpus_text(_USAGE_POLICY)
    assert _clf().classify_text(text).label == "ANTHROPIC_CONTENT_FILTERED"
    assert labels_after_error_record(text) == ["ANTHROPIC_CONTENT_FILTERED"]
    line = next(x for x in text.splitlines() if "Usage Policy" in x)
    assert _clf().classify_text(line).label == "ANTHROPIC_CONTENT_FILTERED"


def test_the_refusal_sentence_wants_anthropic_in_the_event() -> None:
    """Without what attributes it (Claude's name, the link to Anthropic's usage policy), the sentence is no
    provider's."""
    line = next(x for x in corpus_text(_USAGE_POLICY).splitlines() if "Usage Policy" in x)
    bare = line.replace("Claude Code", "The assistant").replace(" (https://www.anthropic.com/legal/aup)", "")
    assert "nthropic" not in bare and "Claude" not in bare
    assert _clf().classify_text(bare).label == "UNKNOWN_ERROR"


def test_lm_studios_embedding_model_name_is_no_openai_model() -> None:
    """LM Studio serves every embedding model as `text-embedding-<name>`: the name does not make a 404 OpenAI's."""
    text = _embedding_404("text-embedding-nomic-embed-text-v1.5")
    assert "text-embedding-nomic-embed-text-v1.5" in text
    assert _clf().classify_text(text).label == "UNKNOWN_ERROR"
    assert labels_after_error_record(text) == ["UNKNOWN_ERROR"]


@pytest.mark.parametrize("model", ["text-embedding-3-small", "text-embedding-3-large", "text-embedding-ada-002"])
def test_openais_own_embedding_models_still_attribute(model: str) -> None:
    text = _embedding_404(model)
    assert _clf().classify_text(text).label == "OPENAI_MODEL_NOT_FOUND"


def test_ragflows_lm_studio_reranker_is_not_an_openai_error() -> None:
    text = corpus_text("r34-rerank-ragflow-lmstudio-not-implemented")
    assert "OPENAI_ERROR" not in labels_after_error_record(text)
