"""Labels and playbook advice for check failures, through the shared classifier and playbooks.

Everything here degrades gracefully: when the taxonomy, the classifier or the playbook store
is unavailable, a result simply carries less (never a crash of the predeploy run).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any

from mosaic_diag.redact import redact_text

_lock = threading.Lock()
_store: Any = None
_store_loaded = False


@dataclass(frozen=True)
class Advice:
    """What the taxonomy and the playbooks say about one label."""

    label: str | None
    category: str | None = None
    severity: str | None = None
    playbook: str | None = None
    diagnosis: str | None = None
    recommendation: str | None = None


def classify(exc: BaseException) -> str | None:
    """The shared classifier's label for a caught exception (None if the classifier fails)."""
    try:
        from mosaic_diag.classify import Classifier

        return Classifier.default().classify_exception(exc).label
    except Exception:  # noqa: BLE001 - classification is best effort here  # mosaic-diag: ignore[MD006]
        return None


def _playbooks() -> Any:
    global _store, _store_loaded
    with _lock:
        if not _store_loaded:
            _store_loaded = True
            try:
                from mosaic_diag.playbooks import PlaybookStore

                _store = PlaybookStore.load()
            except Exception:  # noqa: BLE001 - no playbooks yet / invalid set  # mosaic-diag: ignore[MD006]
                _store = None
        return _store


def _text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, str):
        return value.strip() or None
    if isinstance(value, list | tuple):
        parts = [t for t in (_text(v) for v in value) if t]
        return "; ".join(parts) or None
    for attr in ("text", "message", "summary", "description"):
        inner = getattr(value, attr, None)
        if isinstance(inner, str):
            return inner
    return str(value)


def _recommendation(pb: Any, facts: dict[str, Any]) -> str | None:
    """The playbook's recommendations for the checks that fail on `facts`; else its advice steps."""
    try:
        failed = [r.recommendation for r in pb.diagnose(facts) if r.failed and r.recommendation]
        if failed:
            return _text(failed)
        plan = pb.plan(facts)
        return _text([a.effect.summary for a in plan.actions if a.would_run and a.action == "advise"])
    except Exception:  # noqa: BLE001 - advice is best effort  # mosaic-diag: ignore[MD006]
        return None


def advise(label: str | None, facts: dict[str, Any] | None = None) -> Advice:
    """Category/severity from the taxonomy; diagnosis/recommendation from the matching playbook."""
    if label is None:
        return Advice(None)
    category = severity = None
    try:
        from mosaic_diag.taxonomy import load_taxonomy

        info = load_taxonomy().resolve(label)
        label, category, severity = info.name, info.category, info.severity
    except Exception:  # noqa: BLE001 - unknown label or no taxonomy: keep the label  # mosaic-diag: ignore[MD006]
        pass
    store = _playbooks()
    playbook = diagnosis = recommendation = None
    if store is not None:
        try:
            pb = store.match(label, stage="predeploy", category=category)
        except Exception:  # noqa: BLE001  # mosaic-diag: ignore[MD006]
            pb = None
        if pb is not None:
            playbook = pb.id
            diagnosis = _text(pb.description)
            recommendation = _recommendation(pb, {"label": label, "category": category, "severity": severity,
                                                  "stage": "predeploy", **(facts or {})})
    return Advice(label, category, severity, playbook,
                  redact_text(diagnosis) if diagnosis else None,
                  redact_text(recommendation) if recommendation else None)
