"""Carry out a RollbackPlan; every attempt (done or failed) goes to the audit log."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from mosaic_diag.errors import DiagError, UsageError
from mosaic_diag.manifest.store import DeployStore
from mosaic_diag.platform import gitops
from mosaic_diag.platform.audit import append_audit
from mosaic_diag.rollback.plan import RollbackPlan


@dataclass(frozen=True)
class RollbackResult:
    """What a rollback did."""

    plan: RollbackPlan
    executed: bool
    remote_sha: str | None
    message: str
    render_deploy: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"executed": self.executed, "remote_sha": self.remote_sha, "message": self.message,
                "render_deploy": self.render_deploy, "plan": self.plan.to_dict()}


def _commit_message(plan: RollbackPlan) -> str:
    assert plan.target_sha is not None
    lines = [f"Roll back {plan.branch} to {plan.target_sha[:12]}", "",
             f"Reverts the {len(plan.undone)} commit(s) after {plan.target_sha}:"]
    lines += [f"- {sha[:12]} {summary}" for sha, summary in plan.undone]
    lines += ["", "Made by mosaic-diag rollback (strategy revert)."]
    return "\n".join(lines)


def execute_rollback(
    plan: RollbackPlan,
    *,
    audit_path: Path,
    store: DeployStore | None = None,
    clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    reason: str | None = None,
) -> RollbackResult:
    """Do what the plan says. Refuses (UsageError) a plan with refusals; nothing-to-do is a no-op."""
    if not plan.ok:
        raise UsageError("refusing to execute a rollback plan that has refusals")
    if plan.nothing_to_do:
        return RollbackResult(plan, False, plan.deployed_sha, "nothing to do: the target is what is deployed")
    assert plan.deployed_sha and plan.target_sha
    record: dict[str, Any] = {"action": "rollback", "strategy": plan.strategy, "remote": plan.remote,
                              "branch": plan.branch, "from": plan.deployed_sha, "to": plan.target_sha,
                              "undone": len(plan.undone), "reason": reason}
    repo = gitops.open_repo(plan.repo_path)
    remote_sha: str | None = None
    render_deploy = None
    try:
        if plan.strategy == "revert":
            new = gitops.commit_tree(repo, plan.target_sha, plan.deployed_sha, _commit_message(plan))
            record["commit"] = new
            gitops.push_fast_forward(repo, plan.remote, new, plan.branch)
            remote_sha = gitops.remote_branch_sha(repo, plan.remote, plan.branch)
            message = f"pushed revert commit {new[:12]} to {plan.remote} {plan.branch}"
        elif plan.strategy == "reset":
            gitops.push_with_lease(repo, plan.remote, plan.target_sha, plan.branch, plan.deployed_sha)
            remote_sha = gitops.remote_branch_sha(repo, plan.remote, plan.branch)
            message = f"moved {plan.remote} {plan.branch} to {plan.target_sha[:12]} (lease held)"
        else:
            from mosaic_diag.platform.render_api import RenderApi

            assert plan.render is not None
            api = RenderApi(plan.render)
            api.set_autodeploy(False)
            answer = (api.rollback_to_deploy(plan.render_deploy_id) if plan.render_deploy_id
                      else api.deploy_commit(plan.target_sha))
            render_deploy = str(answer.get("id") or "") or None
            record["render_deploy"] = render_deploy
            message = (f"Render deploy {render_deploy or '(no id)'} of {plan.target_sha[:12]} started; "
                       "autodeploy is off until you turn it back on")
    except DiagError as exc:
        append_audit(audit_path, {**record, "result": "failed", "error": str(exc)}, clock=clock)
        raise
    append_audit(audit_path, {**record, "result": "done", "remote_sha": remote_sha}, clock=clock)
    if store is not None and plan.deployed_manifest is not None and plan.target_manifest is not None:
        store.record(plan.deployed_manifest, status="bad", note=f"rolled back to {plan.target_sha[:12]}")
        store.record(plan.target_manifest, status="rollback", note=f"rollback from {plan.deployed_sha[:12]}")
    return RollbackResult(plan, True, remote_sha, message, render_deploy)
