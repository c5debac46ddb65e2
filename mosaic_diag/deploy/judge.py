"""The watch after a deploy: the error budget (the app's /health, or access lines of `--log`) read
while the window runs, then a triage of the new deploy's logs (Render's API or `--log`) -> verdict."""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Collection, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from mosaic_diag.deploy.model import SEVERITIES, DeployOptions
from mosaic_diag.errors import DiagError, UnreachableError
from mosaic_diag.platform.redact import redact_text

TAIL_LINES = 20


@dataclass(frozen=True)
class LogTriage:
    """What the logs of a window held: error groups (with their playbook plans) and the last lines."""

    source: str
    report: Any  # a TriageReport
    tail: tuple[str, ...] = ()

    def group_dicts(self) -> list[dict[str, Any]]:
        return [{"label": g.label, "severity": g.severity, "category": g.category, "count": g.count,
                 "message": redact_text(g.message.strip().splitlines()[0][:200]) if g.message.strip() else "",
                 "playbook": g.playbook, "plan": g.plan} for g in self.report.groups]


@dataclass(frozen=True)
class Judgement:
    """`verdict`: good, bad (with the reasons it is bad), unjudged (nothing was read to judge by) or superseded
    (a newer deploy replaced it during the watch: what was read is not its own)."""

    verdict: str
    reasons: tuple[str, ...]
    reading: Any = None  # the last ErrorBudgetReading, if any
    logs: LogTriage | None = None
    notes: tuple[str, ...] = field(default=())

    def to_dict(self) -> dict[str, Any]:
        return {"verdict": self.verdict, "reasons": list(self.reasons),
                "error_budget": self.reading.to_dict() if self.reading is not None else None,
                "log_source": self.logs.source if self.logs else None,
                "groups": self.logs.group_dicts() if self.logs else [], "notes": list(self.notes)}


def _tail(entries: Iterator[dict[str, Any]], keep: deque[str]) -> Iterator[dict[str, Any]]:
    for entry in entries:
        message = entry.get("message")
        if isinstance(message, str):
            keep.append(redact_text(message.rstrip()))
        yield entry


def triage_render_window(settings: Any, start: datetime, end: datetime, *, config: Any, rules: Path | None,
                         planner: Any) -> LogTriage:
    """Triage the service's log entries between `start` and `end` from Render's API (paged)."""
    from mosaic_diag.plans import attach_plans
    from mosaic_diag.platform.render_logs import EntryStream, RenderLogs
    from mosaic_diag.triage import open_triage

    keep: deque[str] = deque(maxlen=TAIL_LINES)
    entries = _tail(RenderLogs(settings, start, end).entries(), keep)
    name = f"render:{settings.service_id}"
    with open_triage(name, stream=EntryStream(entries), rules=rules, config=config) as run:
        for _ in run.events:
            pass
        report = attach_plans(run.finish(), planner)
    return LogTriage(name, report, tuple(keep))


def triage_log_file(log: Path, since: datetime, *, config: Any, rules: Path | None, planner: Any) -> LogTriage:
    """Triage the records of `log` from `since` on."""
    from mosaic_diag.plans import attach_plans
    from mosaic_diag.triage import open_triage

    with open_triage(str(log), since=since, rules=rules, config=config) as run:
        for _ in run.events:
            pass
        report = attach_plans(run.finish(), planner)
    return LogTriage(str(log), report, ())


def serious_groups(logs: LogTriage, fail_severity: str) -> list[Any]:
    """The groups at or above `fail_severity` (critical > high > medium > low)."""
    limit = SEVERITIES.index(fail_severity)
    return [g for g in logs.report.groups if g.severity in SEVERITIES and SEVERITIES.index(g.severity) <= limit]


def watch_and_judge(sha: str, since: datetime, opts: DeployOptions, *, render_settings: Any, config: Any,
                    rules: Path | None, planner: Any, clock: Callable[[], datetime],
                    sleep: Callable[[float], None], on_wait: Callable[[str], None] | None = None,
                    previous: Collection[str] | None = None) -> Judgement:
    """Watch `opts.watch_s` seconds (stopping early once /health shows the budget spent on `sha`), then
    triage the deploy's logs from `since` and judge. /health reporting a commit that is neither `sha` nor one of
    `previous` (an old instance still answering) ends the watch `superseded`: someone deployed meanwhile."""
    from mosaic_diag.rollback.budget import read_health, read_log

    deadline = clock() + timedelta(seconds=opts.watch_s)
    reading = None
    notes: list[str] = []
    unreachable: str | None = None
    while opts.health_url is not None:
        try:
            got = read_health(opts.health_url, budget=opts.error_budget, min_requests=opts.min_requests)
            unreachable = None
            other = got.deployed_commit
            if other is None or sha.startswith(other) or other == sha:
                reading = got
            elif previous is not None and len(other) >= 7 and not any(p.startswith(other) for p in previous if p):
                return Judgement("superseded", (f"/health reports {other[:12]}, neither {sha[:12]} nor the commit "
                                                "serving before it: a newer deploy replaced it during the watch",),
                                 None, None, tuple(dict.fromkeys(notes)))
            else:
                notes.append(f"/health reports {other[:12]}, not {sha[:12]}")
            if on_wait is not None:
                on_wait(got.verdict())
            if reading is not None and reading.over_budget:
                break
        except UnreachableError as exc:
            unreachable = str(exc)
            if on_wait is not None:
                on_wait(f"/health: {exc}")
        except DiagError as exc:  # not the runtime kit's /health (no metrics): judge by the logs alone
            notes.append(f"no error budget from /health: {exc}")
            break
        left = (deadline - clock()).total_seconds()
        if left <= 0:
            break
        sleep(min(opts.poll_s, left))
    if opts.health_url is None or (reading is None and unreachable is None):
        left = (deadline - clock()).total_seconds()
        while left > 0:
            sleep(min(opts.poll_s, left))
            if on_wait is not None:
                on_wait(f"watching: {max(0.0, left - opts.poll_s):.0f}s left")
            left = (deadline - clock()).total_seconds()
    end = clock()
    if opts.log is not None:
        logs = triage_log_file(opts.log, since, config=config, rules=rules, planner=planner)
        if reading is None:
            try:
                reading = read_log(opts.log, budget=opts.error_budget, min_requests=opts.min_requests,
                                   window=max(end - since, timedelta(seconds=1)), rules=rules, since=since)
            except DiagError as exc:
                notes.append(f"error budget from {opts.log}: {exc}")
    elif render_settings is not None:
        logs = triage_render_window(render_settings, since, end + timedelta(seconds=1), config=config,
                                    rules=rules, planner=planner)
    else:
        logs = None
        notes.append("no logs to triage (give --log, or the Render service and key)")
    reasons: list[str] = []
    if reading is not None and reading.over_budget:
        reasons.append(reading.verdict())
    if unreachable is not None:
        reasons.append(f"the app's /health could not be read at the end of the watch: {unreachable}")
    if logs is not None:
        serious = serious_groups(logs, opts.fail_severity)
        if serious:
            named = ", ".join(f"{g.label} x{g.count}" for g in serious[:5])
            reasons.append(f"{len(serious)} error group(s) at or above {opts.fail_severity} in the new deploy's "
                           f"logs: {named}")
    if not reasons and reading is None and logs is None:  # no budget reading and no log: nothing judged it
        return Judgement("unjudged", ("no error-budget reading from /health and no log read: nothing judged the "
                                      "deploy",), reading, logs, tuple(dict.fromkeys(notes)))
    return Judgement("bad" if reasons else "good", tuple(reasons), reading, logs, tuple(dict.fromkeys(notes)))


def labels_of(logs: LogTriage | None) -> list[dict[str, Any]]:
    """One entry per label found (most frequent first): label, severity, count, playbook."""
    if logs is None:
        return []
    found: dict[str, dict[str, Any]] = {}
    for g in logs.report.groups:
        entry = found.setdefault(g.label, {"label": g.label, "severity": g.severity, "count": 0,
                                           "playbook": g.playbook})
        entry["count"] += g.count
    return sorted(found.values(), key=lambda e: -e["count"])
