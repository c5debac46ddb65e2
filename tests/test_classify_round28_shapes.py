"""Shapes of round 28 (tests/realworld/README.md, "Held-out round 28"): Kubernetes' and Docker's `OOMKilled` record of
a container killed for memory (and docker's flag at false, which says the opposite); transformers' refusal of a
reranker's model id when the Hub is out of reach.

kubectl, docker and transformers are not installed here, so their texts are the real users' pastes of the corpus,
read by id; the triage cases put them in a log after the ERROR record that reported them.
"""

from __future__ import annotations

import pytest

from mosaic_diag.classifier.classify import Classifier
from tests.realworld.corpus import corpus_text
from tests.test_logs_support import labels_after_error_record


def _clf() -> Classifier:
    return Classifier.default()


# -- OOMKilled ------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("entry_id", ["r28-oom-kubectl-describe-last-state-oomkilled",
                                      "r28-oom-hkube-container-status-oomkilled-one-line"])
def test_a_containers_oomkilled_reason_is_an_out_of_memory_kill(entry_id: str) -> None:
    text = corpus_text(entry_id)
    assert _clf().classify_text(text).label == "RENDER_OUT_OF_MEMORY"
    assert labels_after_error_record(text) == ["RENDER_OUT_OF_MEMORY"]


@pytest.mark.parametrize("entry_id", ["r28-neg-docker-inspect-state-exit-137-oomkilled-false",
                                      "r28-neg-docker-state-unquoted-keys-oomkilled-false"])
def test_dockers_oomkilled_flag_at_false_is_no_out_of_memory_kill(entry_id: str) -> None:
    text = corpus_text(entry_id)
    assert _clf().classify_text(text).label == "UNKNOWN_ERROR"
    # the same state with the flag set is docker's record of the kill
    flagged = text.replace('"OOMKilled": false', '"OOMKilled": true').replace("OOMKilled:false", "OOMKilled:true")
    assert flagged != text
    assert _clf().classify_text(flagged).label == "RENDER_OUT_OF_MEMORY"


# -- transformers' refusal of a reranker's model id, offline --------------------------------------------------------


def test_a_reranker_model_id_the_hub_could_not_be_reached_for() -> None:
    text = corpus_text("r28-reranker-localai-rerankers-backend-hub-oserror")
    assert _clf().classify_text(text).label == "RERANKER_UNAVAILABLE"
    # the same refusal of a model id that names no reranker (a chat model's) is no reranker's failure; the LocalAI
    # backend's own name on the line before is not read as the model's
    other = text.replace("mixedbread-ai/mxbai-rerank-base-v1", "mixedbread-ai/mxbai-embed-large-v1")
    assert other != text
    assert _clf().classify_text(other).label == "UNKNOWN_ERROR"
