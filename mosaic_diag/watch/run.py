"""The watch loop's core: events from a live source -> alerts (new group, anomaly, restart loop),
each with its playbook's plan, and on request the plan carried out once per cool-down."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from mosaic_diag.classifier.classify import Classifier
from mosaic_diag.errors import DiagError
from mosaic_diag.logs.model import RawEvent
from mosaic_diag.triage.model import RESTART_LABEL, ErrorEvent, TriageOptions
from mosaic_diag.triage.run import TriageRun, rate_facts
from mosaic_diag.watch.live import LiveRates
from mosaic_diag.watch.state import WatchState

PRUNE_EVERY = 2000
KEEP_MINUTES = 30
# groups a watch keeps counting (those seen last): a message that echoes its input makes a group per input, and
# a watch runs for weeks; a group forgotten and seen again counts afresh (its fingerprint stays in the state)
MAX_LIVE_GROUPS = 20_000
MAX_GROUPS_ACTED = 3  # groups one playbook acts on per cool-down (new groups past these are alerted, not acted on)
# a line's time further ahead of the watch's clock than this is none the log had yet (a forged or mis-set time): the
# line counts at its arrival, as an untimed one does (one line dated 9000 made every later one of its label "late")
FUTURE_SKEW = timedelta(minutes=5)


@dataclass(frozen=True)
class WatchOptions:
    """How the watch alerts and acts."""

    cooldown_s: float = 1800.0
    execute: bool = False
    max_groups_acted: int = MAX_GROUPS_ACTED


@dataclass(frozen=True)
class Alert:
    """Something a person should hear about, once."""

    kind: str  # new_group | anomaly | restart_loop
    label: str
    fingerprint: str | None
    at: datetime
    message: str
    count: int
    playbook: str | None = None
    plan: Mapping[str, Any] | None = None
    executed: tuple[Mapping[str, Any], ...] = ()
    skipped: str | None = None  # why an --execute did not act (cool-down, no playbook)
    details: Mapping[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"type": "alert", "kind": self.kind, "label": self.label, "fingerprint": self.fingerprint,
                "at": self.at.isoformat(), "message": self.message, "count": self.count,
                "playbook": self.playbook, "plan": self.plan, "executed": [dict(o) for o in self.executed],
                "skipped": self.skipped, **dict(self.details)}


PlanFn = Callable[[str, Mapping[str, Any]], tuple[str | None, Mapping[str, Any] | None]]
ExecuteFn = Callable[[str, Mapping[str, Any]], tuple[str | None, tuple[Mapping[str, Any], ...]]]


class Watcher:
    """Triage state kept incrementally over an endless stream of raw events."""

    def __init__(self, classifier: Classifier, state: WatchState, *, options: TriageOptions | None = None,
                 watch: WatchOptions | None = None, planner: PlanFn | None = None,
                 executor: ExecuteFn | None = None,
                 clock: Callable[[], datetime] = lambda: datetime.now(UTC)) -> None:
        self.run = TriageRun(classifier, options)
        self.state = state
        self.watch = watch or WatchOptions()
        self.planner = planner
        self.executor = executor
        self.clock = clock
        self.live = LiveRates(self.run.options.anomaly)
        self.alerts = 0
        self.lines = 0  # lines read by `follow`
        self._fed = 0
        self._recent: dict[str, None] = {}  # fingerprints, the one seen last at the end

    def feed(self, raws: Iterable[RawEvent], *, line_offset: int = 0) -> Iterator[ErrorEvent | Alert]:
        """Each error event as it is read, and after it the alerts it raised. A live source is read
        in passes (`logs.follow.segments`); `line_offset` makes line numbers count from its start."""
        if line_offset:
            raws = (replace(r, line=r.line + line_offset, end_line=r.end_line + line_offset) for r in raws)
        for event in self.run.process(self._untimed_ahead(raws)):
            self._recent.pop(event.fingerprint, None)
            self._recent[event.fingerprint] = None
            yield event
            yield from self._alerts_of(event)
            self._fed += 1
            if self._fed % PRUNE_EVERY == 0:
                self._prune()

    def _untimed_ahead(self, raws: Iterable[RawEvent]) -> Iterator[RawEvent]:
        """`raws`, those dated past the watch's clock (and `FUTURE_SKEW`) without their time (`FUTURE_SKEW`)."""
        for r in raws:
            ts = r.timestamp
            if ts is not None and ts.tzinfo is not None and ts > self.clock() + FUTURE_SKEW:
                r = replace(r, timestamp=None)
            yield r

    def follow(self, live: Any, idle: float, *, name: str = "-",
               on_quiet: Callable[[], None] | None = None) -> Iterator[ErrorEvent | Alert | None]:
        """`feed` over a live stream (`logs.follow.FollowStream`, a listener's stream) read in passes that end when
        it is idle for `idle` seconds (`logs.follow.segments`: a pass's open events are closed at its end, a line
        a container runtime split and has not finished goes on into the next); None after each pass. `lines`
        counts the lines read; `on_quiet` is called while nothing comes (`logs.follow.segments`)."""
        from mosaic_diag.logs import ReadStats, read_events
        from mosaic_diag.logs.follow import segments

        for segment in segments(live, idle, on_quiet):
            stats = ReadStats()
            yield from self.feed(read_events(segment, stats, name=name, carry=segment.carry), line_offset=self.lines)
            self.lines += stats.lines
            yield None

    def _prune(self) -> None:
        newest = self.run.rates.last
        if newest is not None:
            self.run.prune_before(newest - KEEP_MINUTES)
        groups, recent = self.run.groups, self._recent
        while len(recent) > MAX_LIVE_GROUPS:  # the groups seen longest ago are forgotten
            oldest = next(iter(recent))
            del recent[oldest]
            groups.pop(oldest, None)

    def _facts(self, event: ErrorEvent) -> dict[str, Any]:
        acc = self.run.groups.get(event.fingerprint)
        rates = self.run.rates
        return {"label": event.label, "category": event.category, "severity": event.severity, "stage": "runtime",
                "count": acc.count if acc else 1, "fingerprint": event.fingerprint,
                **({"starts": acc.starts} if acc and acc.starts else {}), **rate_facts(rates, event.label)}

    def _alerts_of(self, event: ErrorEvent) -> Iterator[Alert]:
        now = self.clock()
        when = event.timestamp or now
        if event.timestamp is None:  # untimed output (uvicorn): the arrival time carries the rate
            self.run.rates.add(event.label, when)
        # an alert's cool-down is the watch's clock, as acting's: a line's time is the log's text, and lines replayed
        # or back-dated hours apart (a log read from its start, two instances' clocks apart) alerted on each
        cooldown = self.watch.cooldown_s
        if event.label == RESTART_LABEL:
            if self.state.due("alerts", f"restart_loop:{event.fingerprint}", now, cooldown):
                yield self._alert("restart_loop", event, when, event.message)
        elif self.state.saw(event.fingerprint, when):
            first = event.message.strip().splitlines()[0] if event.message.strip() else event.label
            yield self._alert("new_group", event, when, f"new error group: {first[:200]}")
        anomaly = self.live.add(event.label, when)  # (its windows are the log's time, as a triage's)
        if anomaly is not None and self.state.due("alerts", f"anomaly:{event.label}", now, cooldown):
            yield self._alert("anomaly", event, when,
                              f"{anomaly.count} {event.label} in {anomaly.window_start:%H:%M}-"
                              f"{anomaly.window_end:%H:%M} ({anomaly.observed_rate:.1f}/min, baseline "
                              f"{anomaly.baseline_rate:.2f}/min, score {anomaly.score:.1f})",
                              {"anomaly": anomaly.to_dict()})

    def _alert(self, kind: str, event: ErrorEvent, when: datetime, message: str,
               details: Mapping[str, Any] | None = None) -> Alert:
        facts = self._facts(event)
        playbook, plan = self.planner(event.label, facts) if self.planner else (None, None)
        executed: tuple[Mapping[str, Any], ...] = ()
        skipped = None
        if self.watch.execute and self.executor is not None:
            # acting is timed by the watch's clock, never by the log's: a line's own timestamp (the log's text)
            # spaced past the cool-down acted again, and one dated years ahead silenced its group for years
            now, cooldown, key = self.clock(), self.watch.cooldown_s, f"{playbook}|{event.fingerprint}"
            if playbook is None:
                skipped = "no playbook for this label"
            elif self.state.cooling("acted", key, now, cooldown):
                skipped = f"acted on {playbook} for this group within the cool-down"
            elif self.state.recent("acted", f"{playbook}|", now, cooldown) >= self.watch.max_groups_acted:
                # a flood of new groups (a message that echoes user input makes one per input) is not acted on
                # one by one: a post, a note or a flag change per group would be the log's to count
                skipped = (f"{playbook} acted on {self.watch.max_groups_acted} groups within the cool-down; "
                           "not acting on more")
            else:
                self.state.due("acted", key, now, cooldown)
                self.state.flush()  # the intent is on disk before anything acts
                try:
                    _, executed = self.executor(event.label, facts)
                except DiagError as exc:  # e.g. the audit log cannot be written: nothing more acts, the watch goes on
                    executed = tuple(o.to_dict() for o in getattr(exc, "outcomes", ()))
                    skipped = f"actions stopped: {exc}"
                    if not any(not o.get("skipped") for o in executed):
                        self.state.acted.pop(key, None)  # nothing ran: neither its cool-down nor the budget counts it
        self.alerts += 1
        self.state.flush()
        return Alert(kind, event.label, event.fingerprint, when, message, int(facts["count"]), playbook, plan,
                     executed, skipped, dict(details or {}))
