"""Triage: raw log events -> classified events, groups by fingerprint, anomalies, plans.

Streaming: `TriageRun.process` yields each classified event as it is read and keeps only
per-group and per-minute counters, so memory does not grow with the length of the log.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any

from mosaic_diag.anomaly import Anomaly, AnomalySettings, RateSeries
from mosaic_diag.classify import Classification, Classifier
from mosaic_diag.evidence import Evidence, evidence_from_text
from mosaic_diag.fingerprint import fingerprint, template
from mosaic_diag.logs.model import RawEvent
from mosaic_diag.redact import redact_text
from mosaic_diag.taxonomy import SEVERITY_RANK, UNKNOWN

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


PlanFn = Callable[[str, Mapping[str, Any]], tuple[str | None, Mapping[str, Any] | None]]


@dataclass
class _GroupAcc:
    label: str
    category: str
    severity: str
    exception_type: str | None
    message: str
    sample_line: int
    count: int = 0
    first: datetime | None = None
    last: datetime | None = None


def _application_frame(evidence: Evidence, cls: Classification) -> str | None:
    chain = [e for e in evidence.exceptions if e.type == cls.exception_type] or list(
        evidence.exceptions)
    for exc in reversed(chain):
        app = [f for f in exc.frames if f.is_application]
        if app:
            f = app[-1]
            return f"{f.file}:{f.function}"
    return None


_VOLATILE = re.compile(r"\d{4,}|\b[0-9a-f]{8,}\b")


def _volatile(text: str | None) -> str | None:
    """`text` with long digit runs and hex ids blanked (a cache key, nothing else)."""
    return _VOLATILE.sub("#", text) if text else text


def _exception_message(traceback_text: str, exception_type: str | None) -> str | None:
    """The message of the exception `exception_type` in a traceback (the last one printed)."""
    if exception_type:
        at = traceback_text.rfind(f"\n{exception_type}: ")
        if at >= 0:
            start = at + len(exception_type) + 3
            end = traceback_text.find("\n\n", start)
            return traceback_text[start:end if end >= 0 else None].rstrip()
    from mosaic_diag.traceback_parse import parse_traceback_text

    for exc in reversed(parse_traceback_text(traceback_text)):
        if exc.type == exception_type or exception_type is None:
            return exc.message
    return None


def evidence_of(raw: RawEvent) -> Evidence:
    """Evidence for a raw log event: its traceback (if any) plus its own log record."""
    message = raw.message or ""
    detail = raw.detail
    if detail:
        message = f"{message}\n{detail}"
    kind = "platform" if raw.kind == "platform" else "error"
    if raw.traceback:
        return evidence_from_text(raw.traceback, logger=raw.logger, level=raw.level,
                                  log_message=message or None, kind=kind)
    return evidence_from_text(message, logger=raw.logger, level=raw.level, log_message=message,
                              kind=kind)


class TriageRun:
    """One pass over a log: feed raw events, get classified events; then `finish()`."""

    def __init__(self, classifier: Classifier, options: TriageOptions | None = None,
                 plan_for: PlanFn | None = None) -> None:
        self.classifier = classifier
        self.options = options or TriageOptions()
        self.plan_for = plan_for
        self.rates = RateSeries()
        self.groups: dict[str, _GroupAcc] = {}
        self.label_counts: dict[str, int] = {}
        self.events = 0
        self.filtered_out = 0
        self.untimed = 0
        self._restarts: dict[str | None, list[tuple[datetime | None, int, int]]] = {}
        self._loops_reported: set[tuple[str | None, int]] = set()
        self._seen: dict[tuple[Any, ...], tuple[Classification, str, str]] = {}
        self._volatile_tb: dict[str, str] = {}
        min_sev = self.options.min_severity
        self._min_rank = SEVERITY_RANK[min_sev] if min_sev else 0

    # -- streaming ------------------------------------------------------------------------
    def process(self, raws: Iterable[RawEvent]) -> Iterator[ErrorEvent]:
        """Classify each error event, update the counters, yield those that pass the filters."""
        for raw in raws:
            if raw.kind == "process_start":
                loop = self._note_start(raw)
                if loop is not None and self._keep(loop):
                    self._count(loop)
                    yield loop
                continue
            if raw.kind not in ("error", "platform"):
                continue
            event = self._event(raw)
            self._errors_since_start(raw.instance)
            if self._keep(event):
                self._count(event)
                yield event
            else:
                self.filtered_out += 1

    def _event(self, raw: RawEvent) -> ErrorEvent:
        # The same failure repeats with the same text but for ids and counters: parse and
        # classify it once. Long digit runs and long hex ids never decide a label (HTTP statuses
        # have 3 digits), and the fingerprint's template replaces them anyway.
        detail = raw.detail
        tb = raw.traceback
        if tb:  # the same traceback text repeats exactly more often than not: blank its ids once
            vtb = self._volatile_tb.get(tb)
            if vtb is None:
                if len(self._volatile_tb) >= 10_000:
                    self._volatile_tb.clear()
                vtb = self._volatile_tb[tb] = _VOLATILE.sub("#", tb)
        else:
            vtb = tb
        key = (raw.kind, vtb, _volatile(raw.message), _volatile(detail), raw.logger, raw.level)
        known = self._seen.get(key)
        if known is None:
            evidence = evidence_of(raw)
            cls = self.classifier.classify(evidence)
            message = redact_text(cls.message or raw.message or "")[:4000]
            first_line = message.strip().splitlines()[0] if message.strip() else ""
            fp = fingerprint(cls.label, cls.exception_type, first_line,
                             _application_frame(evidence, cls))
            from_log = bool(raw.message) and cls.message == (raw.message if not detail else f"{raw.message}\n{detail}")
            known = (cls, fp, from_log)
            if len(self._seen) >= 50_000:
                self._seen.clear()
            self._seen[key] = known
        else:
            message = ""
        cls, fp, from_log = known
        if not message:
            text = cls.message
            if from_log or not raw.traceback:
                text = raw.message if not detail else f"{raw.message}\n{detail}"
            elif raw.traceback:
                text = _exception_message(raw.traceback, cls.exception_type) or cls.message
            message = redact_text(text or raw.message or "")[:4000]
        return ErrorEvent(raw.line, raw.end_line, cls.label, cls.category, cls.severity,
                          raw.timestamp, cls.exception_type, message, fp, cls.rule_id,
                          raw.logger, raw.instance, raw.shape)

    def _keep(self, event: ErrorEvent) -> bool:
        opts = self.options
        if opts.since or opts.until:
            if event.timestamp is None:
                self.untimed += 1
                return False
            if opts.since and event.timestamp < opts.since:
                return False
            if opts.until and event.timestamp > opts.until:
                return False
        if opts.labels and event.label not in opts.labels:
            return False
        if opts.categories and event.category not in opts.categories:
            return False
        return SEVERITY_RANK[event.severity] >= self._min_rank

    def _count(self, event: ErrorEvent) -> None:
        self.events += 1
        self.label_counts[event.label] = self.label_counts.get(event.label, 0) + 1
        acc = self.groups.get(event.fingerprint)
        if acc is None:
            acc = self.groups[event.fingerprint] = _GroupAcc(
                event.label, event.category, event.severity, event.exception_type,
                event.message.strip().splitlines()[0] if event.message.strip() else "",
                event.line)
        acc.count += 1
        ts = event.timestamp
        if ts is not None:
            acc.first = ts if acc.first is None or ts < acc.first else acc.first
            acc.last = ts if acc.last is None or ts > acc.last else acc.last
            self.rates.add(event.label, ts)

    # -- restart loops (derived) ---------------------------------------------------------------
    def _errors_since_start(self, instance: str | None) -> None:
        starts = self._restarts.get(instance)
        if starts:
            ts, line, errors = starts[-1]
            starts[-1] = (ts, line, errors + 1)

    def _note_start(self, raw: RawEvent) -> ErrorEvent | None:
        starts = self._restarts.setdefault(raw.instance, [])
        starts.append((raw.timestamp, raw.line, 0))
        window = self.options.restart_window
        if raw.timestamp is not None:
            while starts and starts[0][0] is not None and raw.timestamp - starts[0][0] > window:
                starts.pop(0)
        need = self.options.restart_count
        if len(starts) > need:
            del starts[: len(starts) - need]
        if len(starts) < need:
            return None
        if not all(errors > 0 for _, _, errors in starts[:-1]):
            return None
        first_line = starts[0][1]
        if (raw.instance, first_line) in self._loops_reported:
            return None
        self._loops_reported.add((raw.instance, first_line))
        label = self.classifier.taxonomy.labels[RESTART_LABEL]
        when = "" if raw.timestamp else " (no timestamps: the 10-minute window was not checked)"
        message = (f"process started {need} times with errors between"
                   f"{' on ' + raw.instance if raw.instance else ''}{when}")
        fp = fingerprint(RESTART_LABEL, None, "restart loop", raw.instance)
        starts.clear()
        return ErrorEvent(first_line, raw.end_line, RESTART_LABEL, label.category, label.severity,
                          raw.timestamp, None, message, fp, "derived.restart-loop", raw.logger,
                          raw.instance, raw.shape)

    # -- the end ----------------------------------------------------------------------------------
    def finish(self, extra_summary: Mapping[str, Any] | None = None) -> TriageReport:
        """Groups (worst first), anomalies and a summary of the whole run."""
        groups = []
        for fp, acc in self.groups.items():
            rates = {
                "rate_1m": float(self.rates.peak(acc.label, 1)),
                "rate_5m": float(self.rates.peak(acc.label, 5)),
                "rate_15m": float(self.rates.peak(acc.label, 15)),
            }
            group = Group(acc.label, acc.category, acc.severity, fp, acc.count, acc.first,
                          acc.last, acc.sample_line, acc.exception_type, acc.message,
                          template(acc.message), rates=rates)
            if self.plan_for is not None:
                facts = {**rates, "count": acc.count, "label": acc.label,
                         "category": acc.category, "severity": acc.severity, "stage": "runtime"}
                playbook, plan = self.plan_for(acc.label, facts)
                group = replace(group, playbook=playbook, plan=plan)
            groups.append(group)
        groups.sort(key=lambda g: (-SEVERITY_RANK[g.severity], -g.count, g.sample_line))
        anomalies = tuple(self.rates.detect(self.options.anomaly))
        summary: dict[str, Any] = {
            "events": self.events,
            "groups": len(groups),
            "labels": dict(sorted(self.label_counts.items(), key=lambda kv: (-kv[1], kv[0]))),
            "unknown_events": self.label_counts.get(UNKNOWN, 0),
            "anomalies": len(anomalies),
            "filtered_out": self.filtered_out,
        }
        if self.untimed:
            summary["untimed_excluded"] = self.untimed
        summary.update(extra_summary or {})
        return TriageReport(tuple(groups), anomalies, summary)


@dataclass
class TriageSession:
    """An open input and its run: iterate `events`, then call `finish()`."""

    run: TriageRun
    stats: Any
    name: str
    events: Iterator[ErrorEvent]

    def finish(self) -> TriageReport:
        st = self.stats
        extra: dict[str, Any] = {
            "input": self.name,
            "lines": st.lines,
            "bytes": st.bytes,
            "corrupt_lines": st.corrupt,
            "corrupt_samples": [list(s) for s in st.corrupt_samples],
            "warnings": list(st.warnings),
            "shapes": dict(st.shapes),
            "levels": dict(st.levels),
            "first_timestamp": st.first_ts.isoformat() if st.first_ts else None,
            "last_timestamp": st.last_ts.isoformat() if st.last_ts else None,
        }
        for ts in (st.first_ts, st.last_ts):
            if ts is not None:
                self.run.rates.observe(ts)
        return self.run.finish(extra)


def _playbook_planner(directory: Any, config: Any = None) -> PlanFn | None:
    """plan_for from the playbook core (no gathering: triage stays offline and fast)."""
    import os
    from pathlib import Path

    from mosaic_diag.playbooks import SHIPPED_DIR, PlaybookSettings, PlaybookStore, plan_for

    if not directory and not SHIPPED_DIR.is_dir():  # installed without the shipped set
        return None
    store = PlaybookStore.load(Path(directory) if directory else None)
    settings = PlaybookSettings.from_config(config, os.environ) if config is not None else None

    def planner(label: str, facts: Mapping[str, Any]) -> tuple[str | None, Mapping[str, Any] | None]:
        summary = plan_for(label, facts, store, settings)
        if summary is None:
            return None, None
        data = summary.to_dict()
        return data.get("playbook"), data

    return planner


def build_options(*, since: datetime | None = None, until: datetime | None = None,
                  labels: Iterable[str] = (), categories: Iterable[str] = (),
                  min_severity: str | None = None, taxonomy: Any, config: Any = None
                  ) -> TriageOptions:
    """Validated TriageOptions (labels by name or alias; config `anomaly.*` applied)."""
    from mosaic_diag.errors import UsageError
    from mosaic_diag.taxonomy import CATEGORIES, SEVERITIES

    resolved = frozenset(taxonomy.resolve(name).name for name in labels)
    cats = frozenset(c.lower() for c in categories)
    bad = sorted(cats - set(CATEGORIES))
    if bad:
        raise UsageError(f"unknown category {bad[0]!r} (known: {', '.join(CATEGORIES)})")
    if min_severity is not None and min_severity.lower() not in SEVERITIES:
        raise UsageError(f"unknown severity {min_severity!r} (known: {', '.join(SEVERITIES)})")
    if since and until and since > until:
        raise UsageError("--since is after --until")
    get = config.get if config is not None else (lambda key, default: default)
    base = AnomalySettings()
    anomaly = AnomalySettings(
        window_minutes=int(get("anomaly.window_minutes", base.window_minutes)),
        alpha=float(get("anomaly.alpha", base.alpha)),
        threshold=float(get("anomaly.threshold", base.threshold)),
        min_count=int(get("anomaly.min_count", base.min_count)),
        min_history=int(get("anomaly.min_history", base.min_history)),
    )
    if anomaly.window_minutes < 1 or not 0 < anomaly.alpha <= 1:
        raise UsageError("anomaly.window_minutes must be >= 1 and anomaly.alpha in (0, 1]")
    return TriageOptions(since, until, resolved, cats,
                         min_severity.lower() if min_severity else None, anomaly)


class run_triage:  # noqa: N801 - used as a context manager, reads like a function
    """Open `source` (a path or "-"), and set up a triage run over it."""

    def __init__(self, source: str, *, stdin: Any = None, since: datetime | None = None,
                 until: datetime | None = None, labels: Iterable[str] = (),
                 categories: Iterable[str] = (), min_severity: str | None = None,
                 rules: Any = None, playbooks: Any = None, use_playbooks: bool = True,
                 config: Any = None) -> None:
        from mosaic_diag.classify import Classifier

        self.source = source
        self.stdin = stdin
        self.classifier = Classifier.default(rules)
        self.options = build_options(since=since, until=until, labels=labels,
                                     categories=categories, min_severity=min_severity,
                                     taxonomy=self.classifier.taxonomy, config=config)
        self.planner = _playbook_planner(playbooks, config) if use_playbooks else None
        self._cm: Any = None

    def __enter__(self) -> TriageSession:
        from mosaic_diag.logs import ReadStats, open_source, read_events

        self._cm = open_source(self.source, stdin=self.stdin)
        src = self._cm.__enter__()
        stats = ReadStats()
        run = TriageRun(self.classifier, self.options, self.planner)
        name = "<stdin>" if self.source == "-" else self.source
        events = run.process(read_events(src, stats, name=self.source))
        return TriageSession(run, stats, name, events)

    def __exit__(self, *exc: object) -> None:
        if self._cm is not None:
            self._cm.__exit__(*exc)
