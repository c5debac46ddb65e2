"""Failed cases through the shared classifier, and the playbook for the label."""

from __future__ import annotations

import json
import re
from functools import lru_cache
from typing import Any

from mosaic_diag.golden.report import Attempt, Explanation, LabelRef
from mosaic_diag.taxonomy import SEVERITY_RANK, UNKNOWN

# a line that starts an exception's report: `openai.RateLimitError: ...`, `KeyError: ...`
_EXCEPTION_LINE = re.compile(r"^(?:(?:[A-Za-z_]\w*\.)+[A-Z]\w*|[A-Z]\w*(?:Error|Exception|Refusal|Timeout))(?=: )",
                             re.MULTILINE)


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


def error_parts(text: str) -> list[str]:
    """The errors of a text that reports several (`module.Type: message` lines, each with the
    lines that follow it), or the whole text when it holds fewer than two."""
    starts = [m.start() for m in _EXCEPTION_LINE.finditer(text)]
    if len(starts) < 2:
        return [text]
    return [text[a:b].strip() for a, b in zip(starts, [*starts[1:], len(text)], strict=True)]


def explain(attempt: Attempt, body: str | None = None) -> Explanation | None:
    """Label a failed attempt's error text; None when there is nothing to label.

    An error that reports several failures (both providers of a failover) gets every label.
    """
    found = error_text(attempt, body)
    if found is None:
        return None
    text, is_error = found
    classifier = _classifier()
    found_labels: dict[str, Any] = {}
    for part in error_parts(text):
        c = classifier.classify_text(part)
        found_labels.setdefault(c.label, c)
    if len(found_labels) > 1:
        found_labels.pop(UNKNOWN, None)
    ranked = sorted(found_labels.values(), key=lambda c: -SEVERITY_RANK[c.severity])  # stable: first seen
    primary = ranked[0]
    if not is_error and primary.label == UNKNOWN:
        return None
    refs = tuple(LabelRef(c.label, c.category, c.severity, playbook_for(c.label)) for c in ranked)
    why = " | ".join(c.explanation for c in ranked)
    return Explanation(primary.label, primary.category, primary.severity, why, refs[0].playbook, refs)
