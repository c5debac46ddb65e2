"""Failed cases through the shared classifier, and the playbook for the label."""

from __future__ import annotations

import json
from functools import lru_cache
from typing import Any

from mosaic_diag.golden.report import Attempt, Explanation


def _strings(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for v in value.values() for s in _strings(v)]
    if isinstance(value, list):
        return [s for v in value for s in _strings(v)]
    return []


def error_text(attempt: Attempt, body: str | None = None) -> tuple[str, bool] | None:
    """The text to classify and whether it is an error for sure (False: a 2xx answer)."""
    if attempt.error:
        return attempt.error, True
    text = body if body is not None else attempt.body_excerpt
    if not text:
        return None
    try:
        data = json.loads(text)
    except ValueError:  # not JSON: classify the raw body
        data = None
    if data is not None:
        text = "\n".join(_strings(data)) or text
    return text, attempt.status is not None and attempt.status >= 400


@lru_cache(maxsize=1)
def _classifier() -> Any:
    from mosaic_diag.classify import Classifier

    return Classifier.default()


@lru_cache(maxsize=1)
def _playbooks() -> Any:
    from mosaic_diag.playbooks import PlaybookStore

    return PlaybookStore.load(None)  # the shipped set; a broken one is a ConfigError (exit 2)


def playbook_for(label: str) -> str | None:
    """The id of the shipped playbook that matches `label` best, or None when none does."""
    playbook = _playbooks().match(label)
    return playbook.id if playbook is not None else None


def explain(attempt: Attempt, body: str | None = None) -> Explanation | None:
    """Label a failed attempt's error text; None when there is nothing to label."""
    found = error_text(attempt, body)
    if found is None:
        return None
    text, is_error = found
    c = _classifier().classify_text(text)
    if not is_error and c.label == "UNKNOWN_ERROR":
        return None
    return Explanation(c.label, c.category, c.severity, c.explanation, playbook_for(c.label))
