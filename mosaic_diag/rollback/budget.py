"""The error rate an automatic rollback decides on: from /health, or from a log, by the shared pipeline.

From a log, nothing is parsed or classified here: the log is read by `mosaic_diag.logs`
(`open_source` + `read_events`, any shape, plain or gzip) and every error event is labelled by the
triage core (`TriageRun` with the shared `Classifier`), so the verdict names what failed.

    error rate = error events in the window / requests (access lines) in the window

Error events are the triage's events (ERROR/CRITICAL records with their tracebacks, bare
tracebacks, Render failure lines, derived restart loops). Requests are the access lines of the
window, health probes (`/health`, `/healthz`, config `rollback.health_paths`) left out; 5xx answers
among them are counted too, and the rate is the larger of the two counts over the requests (a
failing request usually both logs an error and answers 500: it is not counted twice).

The window is the last `window` before the log's newest timestamp (the reader's
`ReadStats.last_ts`, or a newer event's): the log is judged as of its own end, not of the wall clock,
so an exported log gives the same verdict later. A log without any timestamp is one window.
Events without a timestamp in a timed log are left out (as `triage --since` does).

`since` (the recorded time of the deploy being judged) cuts the window: nothing older counts, and a
log that ends before it is stale (StaleLog, exit 1); a log without timestamps cannot be judged
against a deploy (UsageError).

Requests are counted in a second pass with the reader's own line parser
(`mosaic_diag.logs.lines.parse_line` / `render_entry`, on the lines holding " HTTP/1." as the
reader's count does; this finds access records, their times, paths and statuses; it classifies
nothing). A log without any access line gives no rate (UsageError).
"""

from __future__ import annotations

import json
import re
from collections import Counter, deque
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from mosaic_diag.errors import DiagError, ExitCode, UnreachableError, UsageError
from mosaic_diag.platform.redact import redact_text

TOP_LABELS = 5
HEALTH_PATHS = ("/health", "/healthz")
_COMMIT = re.compile(r"^[0-9a-f]{7,40}$")
_REQUEST = re.compile(r'"[A-Z]+ (?P<path>\S+) HTTP/[0-9.]+" (?P<status>\d{3})')


class StaleLog(DiagError):
    """The log ends before the deploy it should judge: no verdict on that deploy."""

    exit_code = ExitCode.FINDINGS


@dataclass(frozen=True)
class ErrorBudgetReading:
    """An observed error rate against the budget (`labels`: the window's error events by label)."""

    source: str
    error_rate: float
    requests: int
    errors: int | None
    window: str
    budget: float
    min_requests: int = 1
    deployed_commit: str | None = None
    labels: tuple[tuple[str, int], ...] = ()
    start: datetime | None = None
    end: datetime | None = None
    server_errors: int | None = None

    @property
    def enough_traffic(self) -> bool:
        """At least `min_requests` requests (and never zero: no requests, no rate)."""
        return self.requests >= max(self.min_requests, 1)

    @property
    def over_budget(self) -> bool:
        return self.enough_traffic and self.error_rate > self.budget

    def top_labels(self) -> str:
        """`LABEL count, ...` of the most frequent labels (and how many more there are)."""
        shown = ", ".join(f"{label} {count}" for label, count in self.labels[:TOP_LABELS])
        more = len(self.labels) - TOP_LABELS
        return shown + (f", +{more} more label(s)" if more > 0 else "")

    def verdict(self) -> str:
        """One line for the user and the audit log's `reason`: the rate, the budget, what failed."""
        what = self.top_labels()
        if not self.enough_traffic:
            return (f"{self.requests} request(s) in {self.window}: too few to judge (need "
                    f"{max(self.min_requests, 1)})" + (f"; errors seen: {what}" if what else ""))
        rel = ">" if self.over_budget else "<="
        counts = (f"{self.errors} error(s) in {self.requests} requests" if self.errors is not None
                  else f"{self.requests} requests")
        if self.server_errors is not None:
            counts += f", {self.server_errors} 5xx answer(s)"
        return (f"error rate {self.error_rate:.2%} {rel} budget {self.budget:.2%} over {self.window}"
                + (f": {what}" if what else "") + f" ({counts}, from {self.source})")

    def to_dict(self) -> dict[str, Any]:
        return {"source": self.source, "error_rate": self.error_rate, "requests": self.requests,
                "errors": self.errors, "window": self.window, "budget": self.budget,
                "over_budget": self.over_budget, "enough_traffic": self.enough_traffic,
                "deployed_commit": self.deployed_commit, "labels": dict(self.labels),
                "start": self.start.isoformat() if self.start else None,
                "end": self.end.isoformat() if self.end else None, "server_errors": self.server_errors}


def read_health(url: str, *, budget: float, min_requests: int = 1, timeout: float = 10.0) -> ErrorBudgetReading:
    """GET the app's enhanced /health and read `metrics.error_rate` (its own 5-minute window)."""
    import httpx

    from mosaic_diag.platform.httpjson import NotJson, get_json

    try:
        _status, data = get_json(url, timeout=timeout)
    except NotJson as exc:
        raise UnreachableError(f"health URL {redact_text(url)} answered without JSON: {exc}") from exc
    except httpx.HTTPError as exc:
        raise UnreachableError(f"health URL {redact_text(url)} unreachable: {redact_text(str(exc))}") from exc
    metrics = data.get("metrics") if isinstance(data, dict) else None
    if not isinstance(metrics, dict):
        metrics = {}
    rate = metrics.get("error_rate")
    if not isinstance(rate, int | float) or isinstance(rate, bool):
        raise UsageError(f"health URL {redact_text(url)} has no metrics.error_rate (the enhanced /health payload)")
    if not 0 <= rate <= 1:  # a rate the budget cannot be compared with (1e400 read as inf) is no verdict
        raise UsageError(f"health URL {redact_text(url)}: metrics.error_rate {rate!r} is not a rate between 0 and 1")
    requests = metrics.get("requests_total")
    requests = int(requests) if isinstance(requests, int | float) and 0 <= requests < 2**63 else 0
    deployment = data.get("deployment") if isinstance(data.get("deployment"), dict) else {}
    commit = deployment.get("git_commit_full") or deployment.get("git_commit")
    if not (isinstance(commit, str) and _COMMIT.match(commit.strip().lower())):
        commit = None  # absent, or a placeholder such as "unknown": no commit to tie the verdict to
    rate = float(rate)
    raw_labels = metrics.get("labels")  # the runtime kit's /health: the failed requests' labels
    labels = {str(k): int(v) for k, v in raw_labels.items() if isinstance(v, int)} if isinstance(
        raw_labels, dict) else {}
    return ErrorBudgetReading("health", rate, requests, round(rate * requests) if requests else None, "5m",
                              budget, min_requests, commit.strip().lower() if commit else None,
                              tuple(sorted(labels.items(), key=lambda kv: (-kv[1], kv[0]))))


def read_log(path: Path, *, budget: float, window: timedelta, min_requests: int = 1,
             rules: Path | None = None, since: datetime | None = None,
             health_paths: tuple[str, ...] = HEALTH_PATHS) -> ErrorBudgetReading:
    """The error rate of the last `window` of a log (after `since`) and what failed in it (see the module
    docstring).

    `rules` extends the shipped taxonomy (as `triage --rules`). Raises UsageError for a missing or
    unreadable file and for a log without access lines, StaleLog for a log that ends before `since`.
    """
    from mosaic_diag.classifier.classify import Classifier
    from mosaic_diag.logs import ReadStats, open_source, read_events
    from mosaic_diag.triage import TriageRun

    name = str(path)
    stats = ReadStats()
    run = TriageRun(Classifier.default(rules))
    recent: deque[tuple[datetime | None, str]] = deque()  # events that can still be in the window
    newest: datetime | None = None
    with open_source(name) as src:
        for event in run.process(read_events(src, stats, name=name)):
            ts = event.timestamp
            recent.append((ts, event.label))
            if ts is not None and (newest is None or ts > newest):
                newest = ts
                while recent and recent[0][0] is not None and recent[0][0] < newest - window:
                    recent.popleft()
    if not stats.levels.get("access", 0):
        raise UsageError("no request lines (access log) found: cannot compute an error rate", path=name)
    end = max((t for t in (stats.last_ts, newest) if t is not None), default=None)
    if since is not None and end is None:
        raise UsageError("the log has no timestamps: cannot tell its lines after the deploy "
                         f"(recorded {since.isoformat()}) from older ones", path=name)
    if since is not None and end is not None and end < since:
        raise StaleLog(f"stale log: it ends at {end.isoformat()}, before the deploy it should judge was recorded "
                       f"({since.isoformat()}); no verdict", path=name)
    start = end - window if end is not None else None
    if start is not None and since is not None and since > start:
        start = since
    if end is None or start is None:  # no timestamps at all: the whole log is the window (start is None with end)
        labels = Counter(label for _, label in recent)
    else:
        labels = Counter(label for ts, label in recent if ts is not None and start <= ts <= end)
    requests, server_errors = _count_requests(name, start, end, health_paths)
    errors = sum(labels.values())
    minutes = int(window.total_seconds() // 60)
    return ErrorBudgetReading(
        f"log {path.name}", max(errors, server_errors) / requests if requests else 0.0, requests, errors,
        f"{minutes}m" if minutes else f"{int(window.total_seconds())}s", budget, min_requests,
        labels=tuple(sorted(labels.items(), key=lambda kv: (-kv[1], kv[0]))), start=start, end=end,
        server_errors=server_errors)


def _count_requests(name: str, start: datetime | None, end: datetime | None,
                    health_paths: tuple[str, ...]) -> tuple[int, int]:
    """(requests, 5xx answers) of the access lines timed within [start, end] (all when the log has no
    timestamps), health probes left out."""
    from mosaic_diag.logs.lines import parse_ts

    requests = server_errors = 0
    for ln in _access_lines(name):
        if end is not None:
            ts = parse_ts(ln.ts) if ln.ts else None
            if ts is None or not (start is None or start <= ts) or ts > end:
                continue
        m = _REQUEST.search(ln.message or ln.text or "")
        if m and m.group("path").split("?", 1)[0] in health_paths:
            continue
        requests += 1
        if m and m.group("status").startswith("5"):
            server_errors += 1
    return requests, server_errors


def _access_lines(name: str) -> Iterator[Any]:
    """The access records of a log (lines or a JSON document: an API page or an array of entries)."""
    from mosaic_diag.logs import ReadStats, open_source
    from mosaic_diag.logs.lines import json_record, parse_line, render_entry
    from mosaic_diag.logs.source import iter_blocks

    with open_source(name) as src:
        blocks: Iterator[bytes] = iter_blocks(src, ReadStats())
        first = next(blocks, b"")
        if _is_document(first):
            data = first + b"".join(blocks)
            entries = _document_entries(data)
            if entries is not None:
                for obj in entries:
                    ln = render_entry(obj) if "labels" in obj else json_record(obj)
                    if ln.kind == "access":
                        yield ln
                return
            blocks = iter(())
            first = data
        for block in _chain(first, blocks):
            for raw in block.splitlines():
                if b" HTTP/1." in raw:
                    for ln in parse_line(raw.decode("utf-8", "replace")):
                        if ln.kind == "access":
                            yield ln


def _document_entries(data: bytes) -> list[dict[str, Any]] | None:
    """The entries of a JSON array or of an API page (`{"logs": [...]}`), or None."""
    try:
        doc = json.loads(data)
    except ValueError:
        return None
    entries = doc if isinstance(doc, list) else doc.get("logs") if isinstance(doc, dict) else None
    return [e for e in entries if isinstance(e, dict)] if isinstance(entries, list) else None


def _chain(first: bytes, rest: Iterator[bytes]) -> Iterator[bytes]:
    yield first
    yield from rest


def _is_document(block: bytes) -> bool:
    """A pretty-printed JSON document (as the reader takes it), not JSON lines."""
    head = block.lstrip()
    line = head[: head.find(b"\n")] if b"\n" in head else head
    line = line.rstrip()
    return line in (b"[", b"{") or (line.startswith(b"{") and not line.endswith(b"}"))
