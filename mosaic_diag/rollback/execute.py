"""Carry out a RollbackPlan; every attempt (done or failed) goes to the audit log."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mosaic_diag.errors import ConfigError, DiagError, UsageError
from mosaic_diag.manifest.store import DeployStore
from mosaic_diag.platform import gitops
from mosaic_diag.platform.audit import append_audit
from mosaic_diag.rollback.plan import RollbackPlan

if TYPE_CHECKING:
    from mosaic_diag.config import Config

DEFAULT_AUDIT_LOG = ".mosaic-diag/audit.log"


def audit_log_path(config: Config) -> Path:
    """The audit log `audit_log` names (relative to the repository root). Set to an empty value it is a
    ConfigError: a rollback (and a deploy) writes its intent there before it acts, and has nowhere to."""
    path = config.path("audit_log", DEFAULT_AUDIT_LOG)
    if path is None:
        raise config.error("audit_log", "is empty: a rollback or a deploy writes its audit log there before it "
                           f"acts; give a file (default {DEFAULT_AUDIT_LOG}) or leave the setting out")
    return path


class RollbackInterrupted(KeyboardInterrupt):
    """Ctrl-C or SIGTERM while the rollback acted (still an interruption to every caller): `str()` is one line
    saying what was cut short and what state the checkout, the remote and Render are in."""


@dataclass(frozen=True)
class RollbackResult:
    """What a rollback did; `warnings`: what failed after the push (or Render's rollback) succeeded."""

    plan: RollbackPlan
    executed: bool
    remote_sha: str | None
    message: str
    render_deploy: str | None = None
    warnings: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {"executed": self.executed, "remote_sha": self.remote_sha, "message": self.message,
                "render_deploy": self.render_deploy, "warnings": list(self.warnings), "plan": self.plan.to_dict()}


def _commit_message(plan: RollbackPlan) -> str:
    assert plan.target_sha is not None
    lines = [f"Roll back {plan.branch} to {plan.target_sha[:12]}", "",
             f"Reverts the {len(plan.undone)} commit(s) after {plan.target_sha}:"]
    lines += [f"- {sha[:12]} {summary} ({author})" for sha, summary, author in plan.undone]
    lines += ["", "Made by mosaic-diag rollback (strategy revert)."]
    return "\n".join(lines)


def _render_rollback(plan: RollbackPlan, record: dict[str, Any]) -> tuple[str | None, str]:
    """Autodeploy off, then Render's rollback (or a rebuild by commit); on failure autodeploy is restored,
    or the error says loudly that it is still off."""
    from mosaic_diag.platform.render_api import OutcomeUnknown, RenderApi

    assert plan.render is not None and plan.target_sha is not None
    api = RenderApi(plan.render)
    was_on = api.autodeploy_enabled()
    record["autodeploy_before"] = "yes" if was_on else "no"
    if was_on:
        api.set_autodeploy(False)
    try:
        answer = (api.rollback_to_deploy(plan.render_deploy_id) if plan.render_deploy_id
                  else api.deploy_commit(plan.target_sha))
    except DiagError as exc:
        if not was_on:
            raise
        if isinstance(exc, OutcomeUnknown):  # Render may have started it: a rollback keeps autodeploy off
            raise type(exc)(f"{exc}; the rollback was asked and no answer came: Render may have started it, so "
                            f"AUTODEPLOY IS LEFT OFF for service {plan.render.service_id}; look at the service's "
                            "deploys in Render, and turn autodeploy back on there once it is settled") from exc
        try:
            api.set_autodeploy(True)
        except DiagError as again:
            raise type(exc)(f"{exc}; AUTODEPLOY IS STILL OFF for service {plan.render.service_id}: turning it "
                            f"back on failed ({again}); turn it on in the Render dashboard") from exc
        raise type(exc)(f"{exc}; autodeploy turned back on") from exc
    deploy = str(answer.get("id") or "") or None
    how = (f"Render rollback to deploy {plan.render_deploy_id}" if plan.render_deploy_id
           else "Render rebuild by commit (no earlier deploy of it on Render)")
    state = ("autodeploy was on and is now OFF until you turn it back on" if was_on
             else "autodeploy was already off")
    return deploy, f"{how}: deploy {deploy or '(no id)'} of {plan.target_sha[:12]} started; {state}"


def execute_rollback(
    plan: RollbackPlan,
    *,
    audit_path: Path,
    store: DeployStore | None = None,
    clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    reason: str | None = None,
) -> RollbackResult:
    """Do what the plan says. Refuses (UsageError) a plan with refusals; nothing-to-do is a no-op.

    The audit log gets the intent before anything is done (unwritable: ConfigError, nothing done) and
    the result after. Once the push (or Render's rollback) succeeded, nothing raises: a failed check,
    deploy store or audit write is a warning of the result.
    """
    if not plan.ok:
        raise UsageError("refusing to execute a rollback plan that has refusals")
    if plan.nothing_to_do:
        return RollbackResult(plan, False, plan.deployed_sha, "nothing to do: the target is what is deployed")
    assert plan.deployed_sha and plan.target_sha
    from mosaic_diag.platform.oplock import operation_lock

    what = f"rollback of {plan.remote}/{plan.branch} to {plan.target_sha[:12]}"
    with operation_lock(gitops.open_repo(plan.repo_path), what):
        return _execute(plan, audit_path=audit_path, store=store, clock=clock, reason=reason)


def _execute(plan: RollbackPlan, *, audit_path: Path, store: DeployStore | None,
             clock: Callable[[], datetime], reason: str | None) -> RollbackResult:
    assert plan.deployed_sha and plan.target_sha
    record: dict[str, Any] = {"action": "rollback", "strategy": plan.strategy, "remote": plan.remote,
                              "branch": plan.branch, "from": plan.deployed_sha, "to": plan.target_sha,
                              "undone": len(plan.undone), "reason": reason}
    try:
        append_audit(audit_path, {**record, "result": "started"}, clock=clock)
    except OSError as exc:
        raise ConfigError(f"audit log {audit_path} cannot be written ({exc.strerror or exc}): "
                          "nothing was done") from None
    warnings: list[str] = []

    def audit(fields: dict[str, Any]) -> None:
        try:
            append_audit(audit_path, {**record, **fields}, clock=clock)
        except OSError as exc:
            warnings.append(f"audit log {audit_path}: the result could not be written ({exc.strerror or exc})")

    repo = gitops.open_repo(plan.repo_path)
    render_deploy = None
    pushed: str | None = None
    try:
        if plan.strategy == "revert":
            pushed = gitops.commit_tree(repo, plan.target_sha, plan.deployed_sha, _commit_message(plan))
            record["commit"] = pushed
            gitops.push_fast_forward(repo, plan.remote, pushed, plan.branch, plan.deployed_sha)
            message = f"pushed revert commit {pushed[:12]} to {plan.remote} {plan.branch}"
        elif plan.strategy == "reset":
            pushed = plan.target_sha
            gitops.push_with_lease(repo, plan.remote, plan.target_sha, plan.branch, plan.deployed_sha)
            message = f"moved {plan.remote} {plan.branch} to {plan.target_sha[:12]} (lease held)"
        else:
            render_deploy, message = _render_rollback(plan, record)
            record["render_deploy"] = render_deploy
    except DiagError as exc:
        audit({"result": "failed", "error": str(exc)})
        raise
    except KeyboardInterrupt:  # Ctrl-C or SIGTERM while acting: the outcome is not known, and the audit says so
        audit({"result": "interrupted", "error": "interrupted while acting: whether the rollback happened is not "
               f"known; look at {plan.remote} {plan.branch}"
               + (" and Render" if plan.strategy == "render-api" else "")})
        raise RollbackInterrupted(_interrupted_while_acting(plan, pushed)) from None
    # The rollback happened: from here on every failure is a warning (and an interruption says it happened).
    try:
        return _after(plan, repo, record, audit, warnings, store, pushed, message, render_deploy)
    except KeyboardInterrupt:
        audit({"result": "done", "warnings": [*warnings, "interrupted after the rollback acted: its checks and its "
                                              "deploy store records may be missing"]})
        where = (f"{plan.remote} {plan.branch} was moved to {pushed[:12]}" if pushed
                 else f"Render's rollback of service {plan.render.service_id if plan.render else '?'} was started")
        raise RollbackInterrupted(f"interrupted after the rollback: {where} (done: {message}); the deploy store may "
                                  "not record it; the checkout is untouched") from None


def _interrupted_while_acting(plan: RollbackPlan, commit: str | None) -> str:
    """The line an interruption while acting ends with: what was cut short, the state of remote and checkout."""
    assert plan.deployed_sha and plan.target_sha
    where, deployed = f"{plan.remote} {plan.branch}", plan.deployed_sha[:12]
    if plan.strategy == "render-api":
        service = plan.render.service_id if plan.render else "?"
        return (f"interrupted during Render's rollback of service {service} to {plan.target_sha[:12]}: whether "
                "autodeploy was turned off and the rollback started is not known (audited 'interrupted'); look at "
                f"the service's deploys and autodeploy in Render; {where} and the checkout are untouched")
    if commit is None:
        return (f"interrupted while making the revert commit: nothing was pushed; {where} is still at {deployed}, "
                "the checkout is untouched; re-run the rollback")
    moved = (f"pushing the revert commit {commit[:12]} to {where}" if plan.strategy == "revert"
             else f"moving {where} to {commit[:12]} (--force-with-lease)")
    return (f"interrupted while {moved}: whether it landed is not known (audited "
            f"'interrupted'); git ls-remote {plan.remote} refs/heads/{plan.branch}: at {commit[:12]} it is rolled "
            f"back, at {deployed} nothing changed (re-run the rollback); the checkout is untouched (the commit is on "
            "no local branch)")


def _after(plan: RollbackPlan, repo: Any, record: dict[str, Any], audit: Callable[[dict[str, Any]], None],
           warnings: list[str], store: DeployStore | None, pushed: str | None, message: str,
           render_deploy: str | None) -> RollbackResult:
    """What follows a rollback that happened: the remote checked, the deploy store told, the audit's result."""
    assert plan.deployed_sha and plan.target_sha
    remote_sha: str | None = None
    if pushed is not None:
        try:
            remote_sha = gitops.remote_branch_sha(repo, plan.remote, plan.branch)
            if remote_sha != pushed:
                warnings.append(f"{plan.remote} {plan.branch} is now at {(remote_sha or '(gone)')[:12]}, not at the "
                                f"pushed {pushed[:12]}: someone pushed after the rollback")
        except DiagError as exc:
            warnings.append(f"the push succeeded; checking {plan.remote} {plan.branch} afterwards failed: {exc}")
    if store is not None and plan.deployed_manifest is not None and plan.target_manifest is not None:
        try:
            store.record(plan.deployed_manifest, status="bad", note=f"rolled back to {plan.target_sha[:12]}")
            # the commit now deployed: the revert commit (the target's tree) or the target itself
            now = replace(plan.target_manifest, commit=pushed) if pushed else plan.target_manifest
            note = f"rollback from {plan.deployed_sha[:12]}" + (f" to {plan.target_sha[:12]}" if pushed and
                                                                 pushed != plan.target_sha else "")
            store.record(now, status="rollback", note=note)
        except (DiagError, OSError) as exc:
            warnings.append(f"deploy store {store.description}: the rollback is not recorded ({exc})")
    audit({"result": "done", "remote_sha": remote_sha, **({"warnings": list(warnings)} if warnings else {})})
    return RollbackResult(plan, True, remote_sha, message, render_deploy, tuple(warnings))
