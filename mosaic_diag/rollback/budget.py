"""The error rate an automatic rollback decides on: from /health, or from a log's access lines."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from mosaic_diag.errors import UnreachableError, UsageError
from mosaic_diag.redact import redact_text

# An access line (uvicorn, Render's text export, JSON-escaped inside a message): "GET /x HTTP/1.1" 500
_ACCESS = re.compile(r'\\?"(?:GET|POST|PUT|PATCH|DELETE|HEAD|OPTIONS) \S+ HTTP/[\d.]+\\?" (\d{3})\b')
_TIMESTAMP = re.compile(r"(\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:Z|[+-]\d{2}:?\d{2})?)")


@dataclass(frozen=True)
class ErrorBudgetReading:
    """An observed error rate against the budget."""

    source: str
    error_rate: float
    requests: int
    errors: int | None
    window: str
    budget: float
    min_requests: int = 1
    deployed_commit: str | None = None
    labels: tuple[tuple[str, int], ...] = ()  # error events of the window by label (from a log)

    @property
    def enough_traffic(self) -> bool:
        return self.requests >= self.min_requests

    @property
    def over_budget(self) -> bool:
        return self.enough_traffic and self.error_rate > self.budget

    def verdict(self) -> str:
        if not self.enough_traffic:
            return f"{self.requests} request(s) in {self.window}: too few to judge (need {self.min_requests})"
        rel = ">" if self.over_budget else "<="
        what = ", ".join(f"{label} {count}" for label, count in self.labels[:5])
        return (f"error rate {self.error_rate:.2%} {rel} budget {self.budget:.2%} over {self.window} "
                f"({self.requests} requests, from {self.source})" + (f": {what}" if what else ""))

    def to_dict(self) -> dict[str, Any]:
        return {"source": self.source, "error_rate": self.error_rate, "requests": self.requests,
                "errors": self.errors, "window": self.window, "budget": self.budget,
                "over_budget": self.over_budget, "enough_traffic": self.enough_traffic,
                "deployed_commit": self.deployed_commit, "labels": dict(self.labels)}


def read_health(url: str, *, budget: float, min_requests: int = 1, timeout: float = 10.0) -> ErrorBudgetReading:
    """GET the app's enhanced /health and read `metrics.error_rate` (its own 5-minute window)."""
    import httpx

    try:
        resp = httpx.get(url, timeout=timeout, follow_redirects=True)
    except httpx.HTTPError as exc:
        raise UnreachableError(f"health URL {redact_text(url)} unreachable: {redact_text(str(exc))}") from exc
    try:
        data = resp.json()
    except ValueError as exc:
        raise UnreachableError(f"health URL {redact_text(url)} answered {resp.status_code} without JSON") from exc
    metrics = data.get("metrics") if isinstance(data, dict) else None
    if not isinstance(metrics, dict) or not isinstance(metrics.get("error_rate"), int | float):
        raise UsageError(f"health URL {redact_text(url)} has no metrics.error_rate (the enhanced /health payload)")
    requests = metrics.get("requests_total")
    requests = int(requests) if isinstance(requests, int | float) else 0
    deployment = data.get("deployment") if isinstance(data.get("deployment"), dict) else {}
    commit = deployment.get("git_commit_full") or deployment.get("git_commit")
    rate = float(metrics["error_rate"])
    return ErrorBudgetReading("health", rate, requests, round(rate * requests) if requests else None, "5m",
                              budget, min_requests, str(commit) if commit else None)


def _parse_ts(text: str) -> datetime | None:
    try:
        ts = datetime.fromisoformat(text.replace("Z", "+00:00").replace(" ", "T", 1))
    except ValueError:
        return None
    return ts if ts.tzinfo else ts.replace(tzinfo=UTC)


def read_log(path: Path, *, budget: float, window: timedelta, min_requests: int = 1,
             now: datetime | None = None) -> ErrorBudgetReading:
    """The error rate of the last `window` of a log (plain or gzip), and what failed in it.

    Requests are the access lines, errors the 5xx answers among them (the same rate /health
    reports). The window ends at `now`, or at the newest timestamp in the log; lines without a
    timestamp take the last one seen (all of them count when the log has none). The error events
    of the window are labelled by the shared classifier (a triage of the window), so the verdict
    says what went wrong, not only how much.
    """
    from collections import deque

    from mosaic_diag.logs import open_source
    from mosaic_diag.logs.source import Input

    hits: deque[tuple[datetime | None, int]] = deque()
    last_ts: datetime | None = None
    name = str(path)
    if not path.exists():
        raise UsageError(f"no such log file: {path}")
    with open_source(name) as raw:
        pending = b""
        for chunk in Input(raw).chunks():
            lines = (pending + chunk).split(b"\n")
            pending = lines.pop()
            for line in lines:
                last_ts = _scan(line.decode("utf-8", "replace"), hits, last_ts, window, now)
        if pending:
            last_ts = _scan(pending.decode("utf-8", "replace"), hits, last_ts, window, now)
    if not hits:
        raise UsageError(f"no request lines (access log) found in {path}: cannot compute an error rate")
    stamps = [t for t, _ in hits if t is not None]
    end = now or (max(stamps) if stamps else None)
    start = end - window if end is not None else None
    if end is not None and stamps:
        hits = deque((t, s) for t, s in hits if t is not None and start <= t <= end)
    errors = sum(1 for _, s in hits if s >= 500)
    minutes = int(window.total_seconds() // 60)
    labels = _labels(name, start, end)
    return ErrorBudgetReading(f"log {path.name}", errors / len(hits) if hits else 0.0, len(hits), errors,
                              f"{minutes}m", budget, min_requests, labels=labels)


def _scan(line: str, hits: Any, last_ts: datetime | None, window: timedelta,
          now: datetime | None) -> datetime | None:
    """Note one line's timestamp and access status; keep only what can still be in the window."""
    m = _TIMESTAMP.search(line[:64])
    if m:
        last_ts = _parse_ts(m.group(1)) or last_ts
    a = _ACCESS.search(line)
    if a:
        hits.append((last_ts, int(a.group(1))))
        if now is None and last_ts is not None:
            while hits and hits[0][0] is not None and hits[0][0] < last_ts - window:
                hits.popleft()
    return last_ts


def _labels(name: str, start: datetime | None, end: datetime | None) -> tuple[tuple[str, int], ...]:
    """Error events of the window by label, most frequent first (the triage pipeline)."""
    from mosaic_diag.triage import run_triage

    with run_triage(name, since=start, until=end, use_playbooks=False) as session:
        for _ in session.events:
            pass
        report = session.finish()
    return tuple(report.summary["labels"].items())
