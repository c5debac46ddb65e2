"""The triage report model: options of a run, classified events, groups and the report."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from mosaic_diag.classifier.taxonomy import UNKNOWN
from mosaic_diag.triage.anomaly import Anomaly, AnomalySettings

RESTART_LABEL = "RENDER_RESTART_LOOP"


@dataclass(frozen=True)
class TriageOptions:
    """Filters and tuning of one triage run."""

    since: datetime | None = None
    until: datetime | None = None
    labels: frozenset[str] = frozenset()
    categories: frozenset[str] = frozenset()
    min_severity: str | None = None
    anomaly: AnomalySettings = field(default_factory=AnomalySettings)
    restart_count: int = 3
    restart_window: timedelta = timedelta(minutes=10)


@dataclass(frozen=True)
class ErrorEvent:
    """One classified error event of the input."""

    line: int
    end_line: int
    label: str
    category: str
    severity: str
    timestamp: datetime | None
    exception_type: str | None
    message: str
    fingerprint: str
    rule: str | None = None
    logger: str | None = None
    instance: str | None = None
    shape: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "line": self.line,
            "end_line": self.end_line,
            "label": self.label,
            "category": self.category,
            "severity": self.severity,
            "timestamp": self.timestamp.isoformat() if self.timestamp else None,
            "exception_type": self.exception_type,
            "message": self.message,
            "fingerprint": self.fingerprint,
            "rule": self.rule,
            "logger": self.logger,
            "instance": self.instance,
            "shape": self.shape,
        }


@dataclass(frozen=True)
class Group:
    """Events that share a fingerprint."""

    label: str
    category: str
    severity: str
    fingerprint: str
    count: int
    first_seen: datetime | None
    last_seen: datetime | None
    sample_line: int
    exception_type: str | None
    message: str
    template: str
    playbook: str | None = None
    plan: Mapping[str, Any] | None = None
    rates: Mapping[str, float] = field(default_factory=dict)

    @property
    def is_candidate(self) -> bool:
        """An unmatched failure kind: a candidate for a new rule."""
        return self.label == UNKNOWN

    def to_dict(self) -> dict[str, Any]:
        return {
            "label": self.label,
            "category": self.category,
            "severity": self.severity,
            "fingerprint": self.fingerprint,
            "count": self.count,
            "first_seen": self.first_seen.isoformat() if self.first_seen else None,
            "last_seen": self.last_seen.isoformat() if self.last_seen else None,
            "sample_line": self.sample_line,
            "exception_type": self.exception_type,
            "message": self.message,
            "template": self.template,
            "candidate_new_kind": self.is_candidate,
            "rates": dict(self.rates),
            "playbook": self.playbook,
            "plan": self.plan,
        }


@dataclass(frozen=True)
class TriageReport:
    """Everything but the events (those are streamed)."""

    groups: tuple[Group, ...]
    anomalies: tuple[Anomaly, ...]
    summary: Mapping[str, Any]
