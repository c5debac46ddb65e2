"""The triage report model: options of a run, classified events, groups and the report."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
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
    source: str | None = None  # the input file, when a run reads more than one (lines are the file's own)

    @property
    def where(self) -> str:
        """`NAME:LINE` when the run read several files, else the line number."""
        return f"{self.source}:{self.line}" if self.source is not None else str(self.line)

    def to_dict(self) -> dict[str, Any]:
        head: dict[str, Any] = {"line": self.line}
        if self.source is not None:
            head["source"] = self.source
        return {
            **head,
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
    sample_source: str | None = None  # the sample's input file, when a run reads more than one
    starts: int | None = None  # a restart loop's group: the process starts in its loops

    @property
    def where(self) -> str:
        """The sample's `NAME:LINE` when the run read several files, else its line number."""
        return f"{self.sample_source}:{self.sample_line}" if self.sample_source is not None else str(self.sample_line)

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
            **({"sample_source": self.sample_source} if self.sample_source is not None else {}),
            "exception_type": self.exception_type,
            "message": self.message,
            "template": self.template,
            "candidate_new_kind": self.is_candidate,
            "rates": dict(self.rates),
            **({"starts": self.starts} if self.starts is not None else {}),
            "playbook": self.playbook,
            "plan": self.plan,
        }


@dataclass(frozen=True)
class Marker:
    """A moment worth drawing on a timeline: a deploy (Render's "==> Deploying") or a process start."""

    kind: str  # "deploy" | "start"
    timestamp: datetime
    line: int
    text: str
    source: str | None = None  # the input file, when a run reads more than one

    @property
    def where(self) -> str:
        """`NAME:LINE` when the run read several files, else the line number."""
        return f"{self.source}:{self.line}" if self.source is not None else str(self.line)

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "timestamp": self.timestamp.isoformat(), "line": self.line,
                **({"source": self.source} if self.source is not None else {}), "text": self.text}


@dataclass(frozen=True)
class Timeline:
    """Error counts per minute over the log's time range (minutes since the epoch, UTC), per label
    and per group (by fingerprint), and the deploy / process start markers of the log."""

    first_minute: int | None = None
    last_minute: int | None = None
    labels: Mapping[str, Mapping[int, int]] = field(default_factory=dict)
    groups: Mapping[str, Mapping[int, int]] = field(default_factory=dict)
    markers: tuple[Marker, ...] = ()

    @property
    def minutes(self) -> int:
        """Minutes the range spans (0 when nothing was timed)."""
        if self.first_minute is None or self.last_minute is None:
            return 0
        return self.last_minute - self.first_minute + 1

    def start(self) -> datetime | None:
        return None if self.first_minute is None else datetime.fromtimestamp(self.first_minute * 60, UTC)

    def end(self) -> datetime | None:
        """The end of the last minute of the range."""
        return None if self.last_minute is None else datetime.fromtimestamp((self.last_minute + 1) * 60, UTC)

    def cell_minutes(self, n: int) -> int:
        """Whole minutes per cell when the range is cut into at most `n` cells."""
        return max(1, -(-self.minutes // max(n, 1)))

    def cells(self, n: int) -> int:
        """How many cells of `cell_minutes(n)` the range fills (at most `n`)."""
        return -(-self.minutes // self.cell_minutes(n)) if self.minutes else 0

    def bucket(self, ts: datetime, n: int) -> int:
        """The cell (0..n-1) of `ts`, cells of `cell_minutes(n)` from the start (clamped)."""
        if self.first_minute is None or n <= 0:
            return 0
        minute = int(ts.timestamp() // 60) - self.first_minute
        return max(0, min(n - 1, minute // self.cell_minutes(n)))

    def buckets(self, counts: Mapping[int, int], n: int) -> list[int]:
        """`counts` (per minute) summed into `n` cells of `cell_minutes(n)`."""
        out = [0] * max(n, 0)
        if self.first_minute is None or n <= 0:
            return out
        per = self.cell_minutes(n)
        for minute, k in counts.items():
            i = (minute - self.first_minute) // per
            if 0 <= i < n:
                out[i] += k
        return out

    def to_dict(self) -> dict[str, Any]:
        """The range and the markers (the per-minute counts stay out of the JSON: they can be long)."""
        start, end = self.start(), self.end()
        return {"start": start.isoformat() if start else None, "end": end.isoformat() if end else None,
                "markers": [m.to_dict() for m in self.markers]}


@dataclass(frozen=True)
class TriageReport:
    """Everything but the events (those are streamed)."""

    groups: tuple[Group, ...]
    anomalies: tuple[Anomaly, ...]
    summary: Mapping[str, Any]
    timeline: Timeline = field(default_factory=Timeline)
