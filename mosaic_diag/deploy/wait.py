"""Wait until the service runs a commit: Render's deploy status (live, or a `*_failed` status) and/or
the runtime kit's `/health` (`deployment.git_commit_full`), polled until a deadline."""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from mosaic_diag.platform.redact import redact_text
from mosaic_diag.platform.render_api import commit_of

FAILED_STATUSES = ("build_failed", "update_failed", "pre_deploy_failed", "canceled")
Clock = Callable[[], datetime]
Sleep = Callable[[float], None]


@dataclass(frozen=True)
class WaitOutcome:
    """`state`: live, failed (Render says the deploy failed), superseded (a newer deploy replaced it:
    Render deactivated it, or /health reports a commit that is neither it nor one serving before it) or
    timeout (neither within the wait: no verdict on the commit). `since`: when it went live (or when its
    deploy started, for a failure).
    `health_answered`: whether /health ever reported a commit while it was polled (None: not polled)."""

    state: str
    message: str
    since: datetime
    deploy: Mapping[str, Any] | None = None
    status: str | None = None
    health_answered: bool | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"state": self.state, "message": self.message, "since": self.since.isoformat(),
                "render_deploy": dict(self.deploy) if self.deploy else None, "render_status": self.status}


def parse_time(value: Any) -> datetime | None:
    """An RFC 3339 time as Render writes it, or None."""
    if not isinstance(value, str) or not value:
        return None
    try:
        when = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return when if when.tzinfo else when.replace(tzinfo=UTC)


def health_commit(url: str, *, timeout: float = 5.0) -> tuple[str | None, str]:
    """(the full commit /health reports, or None; what went wrong, for the message)."""
    import httpx

    from mosaic_diag.platform.httpjson import NotJson, get_json

    try:
        status, data = get_json(url, timeout=timeout)
    except (httpx.HTTPError, NotJson) as exc:
        return None, redact_text(str(exc)) or type(exc).__name__
    deployment = data.get("deployment") if isinstance(data, dict) else None
    commit = deployment.get("git_commit_full") if isinstance(deployment, dict) else None
    if not isinstance(commit, str):
        return None, f"{status} without deployment.git_commit_full"
    return commit.strip().lower(), f"{status}, commit {commit.strip()[:12]}"


def newest_deploy_of(api: Any, sha: str) -> Mapping[str, Any] | None:
    """The newest Render deploy of `sha` (any status), from the first pages of the deploy list."""
    return _deploy_and_newer(api, sha)[0]


def _deploy_and_newer(api: Any, sha: str) -> tuple[Mapping[str, Any] | None, str | None]:
    """(the newest Render deploy of `sha`, the commit of a newer deploy of another commit, if any)."""
    newer: str | None = None
    for deploy in api.iter_deploys(page_size=20, max_pages=3):
        commit = commit_of(deploy)
        if commit == sha:
            return deploy, newer
        newer = newer or commit
    return None, newer


def _same(commit: str, sha: str) -> bool:
    return commit == sha or (len(commit) >= 7 and sha.startswith(commit))


def wait_for_commit(sha: str, *, api: Any = None, health_url: str | None = None, timeout_s: float,
                    poll_s: float, clock: Clock, sleep: Sleep, on_wait: Callable[[str], None] | None = None,
                    previous: Collection[str] | None = None) -> WaitOutcome:
    """Poll until `sha` serves (Render's deploy of it is live, then /health reports it), Render
    reports its deploy failed, or `timeout_s` passes. Render API errors raise (DiagError); /health
    that cannot be reached is polled again (the app restarts while it deploys). With `previous` (the
    commits that may serve until `sha` does: the one /health reported and the branch head before the
    push), /health reporting any other commit is `superseded`: someone deployed after us."""
    if api is None and health_url is None:
        raise ValueError("wait_for_commit needs a Render API or a health URL")
    start = clock()
    deadline = start + timedelta(seconds=timeout_s)
    deploy: Mapping[str, Any] | None = None
    said = ""

    def note(text: str) -> None:
        nonlocal said
        if text != said and on_wait is not None:
            on_wait(text)
        said = text

    def pause() -> None:
        """One poll interval, never past the deadline (`--wait-timeout 3s` waits 3s, not a 10s poll)."""
        sleep(max(0.0, min(poll_s, (deadline - clock()).total_seconds())))

    while api is not None:
        deploy, newer = _deploy_and_newer(api, sha)
        status = str(deploy.get("status")) if deploy else None
        if status == "live":
            break
        if status == "canceled" and newer is not None:  # Render cancels a build that a newer deploy overtook
            assert deploy is not None
            return WaitOutcome("superseded", f"Render deploy {deploy.get('id')} of {sha[:12]} was canceled for a "
                               f"newer deploy (of {newer[:12]})", parse_time(deploy.get("updatedAt")) or start,
                               deploy, status)
        if status in FAILED_STATUSES:
            assert deploy is not None
            return WaitOutcome("failed", f"Render deploy {deploy.get('id')} of {sha[:12]} ended {status}",
                               parse_time(deploy.get("createdAt")) or start, deploy, status)
        if status == "deactivated":
            assert deploy is not None
            return WaitOutcome("superseded", f"Render deploy {deploy.get('id')} of {sha[:12]} was replaced by a "
                               "newer deploy", parse_time(deploy.get("finishedAt")) or start, deploy, status)
        note(f"Render: {status or 'no deploy of ' + sha[:12] + ' yet'}")
        if clock() >= deadline:
            return WaitOutcome("timeout", f"no live Render deploy of {sha[:12]} after {timeout_s:g}s "
                               f"(last status: {status or 'none'})", start, deploy, status)
        pause()
    live_at = parse_time((deploy or {}).get("finishedAt")) if deploy else None
    status = str(deploy.get("status")) if deploy else None
    if health_url is None:
        return WaitOutcome("live", f"Render deploy {deploy.get('id') if deploy else '?'} of {sha[:12]} is live",
                           live_at or clock(), deploy, status)
    answered = False
    while True:
        commit, how = health_commit(health_url)
        answered = answered or commit is not None
        if commit is not None and _same(commit, sha):
            return WaitOutcome("live", f"{redact_text(health_url)} reports {sha[:12]}", live_at or clock(), deploy,
                               status, True)
        if commit is not None and previous is not None and not any(_same(commit, p) for p in previous if p):
            return WaitOutcome("superseded", f"{redact_text(health_url)} reports {commit[:12]}, neither "
                               f"{sha[:12]} nor the commit serving before it: a newer deploy replaced it",
                               clock(), deploy, status, True)
        note(f"/health: {how}")
        if clock() >= deadline:
            return WaitOutcome("timeout", f"{redact_text(health_url)} did not report {sha[:12]} within "
                               f"{timeout_s:g}s (last: {how})", start, deploy, status, answered)
        pause()
