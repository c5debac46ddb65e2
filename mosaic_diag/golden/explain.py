"""Failed cases through the shared classifier, and the playbook for the label."""

from __future__ import annotations

import json
import re
from functools import lru_cache
from typing import Any

from mosaic_diag.classifier.taxonomy import SEVERITY_RANK, UNKNOWN
from mosaic_diag.golden.report import Attempt, Explanation, LabelRef
from mosaic_diag.platform.redact import redact_text

# a line that starts an exception's report: `openai.RateLimitError: ...`, `KeyError: ...`
_EXCEPTION_LINE = re.compile(r"^(?:(?:[A-Za-z_]\w*\.)+[A-Z]\w*|[A-Z]\w*(?:Error|Exception|Refusal|Timeout))(?=: )",
                             re.MULTILINE)


def _strings(value: Any) -> list[str]:
    """The strings of a decoded JSON value, in document order (a walk without recursion: an app's answer may
    be nested as deep as the decoder goes)."""
    out: list[str] = []
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            out.append(item)
        elif isinstance(item, dict):
            stack.extend(reversed(list(item.values())))
        elif isinstance(item, list):
            stack.extend(reversed(item))
    return out


def error_texts(attempt: Attempt, body: str | None = None) -> tuple[list[str], bool] | None:
    """The texts of a failed attempt (a JSON body's strings one by one) and whether it is an error
    for sure (False: a 2xx answer)."""
    if attempt.error:
        return [attempt.error], True
    text = body if body is not None else attempt.body_excerpt
    if not text:
        return None
    try:
        data = json.loads(text)
    except (ValueError, RecursionError):  # not JSON (or nested past the decoder): classify the raw body
        data = None
    texts = _strings(data) if data is not None else []
    return texts or [text], attempt.status is not None and attempt.status >= 400


def error_text(attempt: Attempt, body: str | None = None) -> tuple[str, bool] | None:
    """The text to classify and whether it is an error for sure (False: a 2xx answer)."""
    found = error_texts(attempt, body)
    return None if found is None else ("\n".join(found[0]), found[1])


@lru_cache(maxsize=1)
def _classifier() -> Any:
    from mosaic_diag.classifier.classify import Classifier

    return Classifier.default()


def warm_up() -> None:
    """Load the classifier and the playbooks now (for a caller on a deadline: explaining the failed cases then
    takes no loading after the run's end)."""
    _classifier()
    _playbooks()


@lru_cache(maxsize=1)
def _playbooks() -> Any:
    from mosaic_diag.playbooks import PlaybookStore

    return PlaybookStore.load(None)  # the shipped set; a broken one is a ConfigError (exit 2)


def playbook_for(label: str) -> str | None:
    """The id of the shipped playbook that matches `label` best, or None when none does."""
    playbook = _playbooks().match(label)
    return playbook.id if playbook is not None else None


def _exception_chunks(text: str) -> list[str]:
    """The errors a text reports: each `module.Type: message` line with the lines after it, up to
    the next such line (what comes before the first is not an error report)."""
    starts = [m.start() for m in _EXCEPTION_LINE.finditer(text)]
    if not starts:
        return []
    return [text[a:b].strip() for a, b in zip(starts, [*starts[1:], len(text)], strict=True)]


def error_parts(texts: str | list[str]) -> list[str]:
    """The errors of texts that report several (the app's failover error: one `module.Type:
    message` line per provider), or the texts joined as one when they hold fewer than two.

    A JSON body's strings are split one by one, so the fields after the failover `detail`
    (the step, the question) do not end up in the last provider's error.
    """
    texts = [texts] if isinstance(texts, str) else texts
    chunks = [chunk for text in texts for chunk in _exception_chunks(text)]
    return chunks if len(chunks) >= 2 else ["\n".join(texts)]


def explain(attempt: Attempt, body: str | None = None) -> Explanation | None:
    """Label a failed attempt's error text; None when there is nothing to label.

    An error that reports several failures (both providers of a failover) gets every label.
    """
    found = error_texts(attempt, body)
    if found is None:
        return None
    texts, is_error = found
    classifier = _classifier()
    found_labels: dict[str, Any] = {}  # label -> its first classification, in the order found
    for part in error_parts(texts):
        c = classifier.classify_text(part)
        found_labels.setdefault(c.label, c)
    if len(found_labels) > 1:
        found_labels.pop(UNKNOWN, None)
    ranked = sorted(found_labels.values(), key=lambda c: -SEVERITY_RANK[c.severity])  # stable: first seen
    primary = ranked[0]
    if not is_error and primary.label == UNKNOWN:
        return None
    refs = tuple(LabelRef(c.label, c.category, c.severity, playbook_for(c.label)) for c in ranked)
    # (a rule's hit quotes the answer, `message matched 'could not translate host name "TAIL@'`: the tail of a
    # password libpq cut at its '@'; redacted here, for every report and the last run kept, which no output guard sees)
    why = redact_text(" | ".join(c.explanation for c in ranked))
    return Explanation(primary.label, primary.category, primary.severity, why, refs[0].playbook, refs)
