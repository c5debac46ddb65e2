"""`--auto`: judge the error budget of the commit the remote branch points at, and nothing else.

With a /health URL the verdict counts only when the commit /health reports is the remote branch
head (checked by the planner: `judged_commit`); with a log, only the records newer than the head's
deploy record count, and a log that ends before that record is stale (StaleLog).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from mosaic_diag.errors import UsageError, no_such
from mosaic_diag.manifest.store import DeployStore
from mosaic_diag.rollback.budget import HEALTH_PATHS, ErrorBudgetReading, read_health, read_log
from mosaic_diag.rollback.plan import Refusal, deployed_record


@dataclass(frozen=True)
class Judgement:
    """A reading and the commit it judged; or a refusal when the verdict cannot be tied to the head."""

    reading: ErrorBudgetReading | None
    judged_commit: str | None
    refusal: Refusal | None = None


def judge_head(repo_path: Path, remote: str, branch: str, store: DeployStore | None, *, budget: float,
               min_requests: int, health_url: str | None = None, log: Path | None = None,
               window: timedelta = timedelta(minutes=15), rules: Path | None = None,
               health_paths: tuple[str, ...] = HEALTH_PATHS) -> Judgement:
    """Read the error budget from `health_url` or `log` (exactly one) for the remote branch head."""
    if (health_url is None) == (log is None):
        raise UsageError("--auto needs one of --health-url or --log")
    if health_url is not None:
        reading = read_health(health_url, budget=budget, min_requests=min_requests)
        if reading.over_budget and reading.deployed_commit is None:
            return Judgement(reading, None, Refusal(
                "verdict_without_commit", "/health reports no deployed commit (deployment.git_commit_full): the "
                f"verdict cannot be tied to {remote}/{branch}; nothing is rolled back"))
        return Judgement(reading, reading.deployed_commit)
    assert log is not None
    if not log.exists():
        raise no_such(log)
    head, record = deployed_record(repo_path, remote, branch, store)
    if record is None:
        where = store.description if store is not None else "the deploy store"
        return Judgement(None, head, Refusal(
            "unjudged_deploy", f"{remote}/{branch} is at {(head or '(no branch)')[:12]}, which has no deploy record "
            f"in {where} (mosaic-diag manifest record): cannot tell which log lines are its own"))
    since = datetime.fromisoformat(record.recorded_at)
    since = since if since.tzinfo else since.replace(tzinfo=UTC)
    reading = read_log(log, budget=budget, window=window, min_requests=min_requests, rules=rules, since=since,
                       health_paths=health_paths)
    return Judgement(reading, head)
