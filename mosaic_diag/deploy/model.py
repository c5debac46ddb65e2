"""What `mosaic-diag deploy` decides and reports: its options, each step as it ran, the verdict."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

SEVERITIES = ("critical", "high", "medium", "low")
# Verdicts and their exit codes: good 0; bad (the deploy failed or was judged bad) and blocked (a
# gate stopped it before anything was pushed) 1; dry-run 0; error: the step's own exit code (2, 3; a
# deploy not judged: 3); superseded (a newer deploy replaced it before it was judged) 3.
VERDICTS = ("good", "bad", "blocked", "dry-run", "error", "superseded")


@dataclass(frozen=True)
class DeployOptions:
    """How one deploy runs (command-line flags over config `deploy.*`, `rollback.*`)."""

    remote: str = "origin"
    branch: str = "main"
    watch_s: float = 300.0
    wait_timeout_s: float = 600.0
    poll_s: float = 10.0
    health_url: str | None = None
    log: Path | None = None
    rollback: bool = True
    strategy: str = "revert"
    allow_schema_change: bool = False
    error_budget: float = 0.01
    min_requests: int = 10
    fail_severity: str = "high"
    predeploy_skip: tuple[str, ...] = ()
    execute_playbooks: bool = False
    dry_run: bool = False
    allow_other_branch: bool = False
    resume_autodeploy: bool = False  # a good verdict turns Render's autodeploy back on (it was off)


@dataclass
class StepRecord:
    """One step of the workflow: `status` is running, ok, failed, skipped or planned."""

    name: str
    status: str = "running"
    message: str = ""
    seconds: float = 0.0
    details: dict[str, Any] = field(default_factory=dict)
    started: float = field(default=0.0, repr=False)  # time.monotonic() when it began

    def to_dict(self) -> dict[str, Any]:
        return {"step": self.name, "status": self.status, "message": self.message,
                "seconds": round(self.seconds, 3), **({"details": self.details} if self.details else {})}


@dataclass
class DeployReport:
    """The whole run, in the order it happened; `exit_code` follows the verdict."""

    commit: str | None
    remote: str
    branch: str
    dry_run: bool = False
    steps: list[StepRecord] = field(default_factory=list)
    verdict: str | None = None
    reason: str = ""
    exit_code: int = 0
    labels: list[dict[str, Any]] = field(default_factory=list)
    rollback: dict[str, Any] | None = None
    warnings: list[str] = field(default_factory=list)  # what stopped nothing but is worth a look (untracked files)

    def to_dict(self) -> dict[str, Any]:
        return {"commit": self.commit, "remote": self.remote, "branch": self.branch, "dry_run": self.dry_run,
                "verdict": self.verdict, "reason": self.reason, "exit_code": self.exit_code,
                "steps": [s.to_dict() for s in self.steps], "labels": self.labels, "rollback": self.rollback,
                "warnings": self.warnings}
