"""Plan a rollback: what is deployed, where to go, what would happen, and why not."""

from __future__ import annotations

import platform
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mosaic_diag.errors import ExitCode, UsageError
from mosaic_diag.manifest import Manifest, ManifestDiff, ManifestSettings, diff_manifests, generate_manifest
from mosaic_diag.manifest.store import DeployStore, previous_deploy
from mosaic_diag.platform import gitops
from mosaic_diag.platform.render_api import RenderTarget

STRATEGIES = ("revert", "reset", "render-api")
# Refusal codes that are usage or configuration errors (exit 2); every other refusal exits 1.
USAGE_REFUSALS = frozenset({"unknown_sha", "render_config", "no_store"})


@dataclass(frozen=True)
class Refusal:
    """A safety reason not to act."""

    code: str
    message: str

    def to_dict(self) -> dict[str, str]:
        return {"code": self.code, "message": self.message}


@dataclass(frozen=True)
class Step:
    """One thing the rollback does (or would do)."""

    action: str
    description: str

    def to_dict(self) -> dict[str, str]:
        return {"action": self.action, "description": self.description}


@dataclass(frozen=True)
class RollbackPlan:
    """Everything a rollback would do, decided before anything changes."""

    repo_path: Path
    strategy: str
    remote: str
    branch: str
    deployed_sha: str | None
    target_sha: str | None
    target_ref: str | None
    undone: tuple[tuple[str, str], ...] = ()
    steps: tuple[Step, ...] = ()
    refusals: tuple[Refusal, ...] = ()
    warnings: tuple[str, ...] = ()
    diff: ManifestDiff | None = None
    deployed_manifest: Manifest | None = field(default=None, repr=False)
    target_manifest: Manifest | None = field(default=None, repr=False)
    render: RenderTarget | None = field(default=None, repr=False)
    render_deploy_id: str | None = None
    same_tree: bool = False

    @property
    def ok(self) -> bool:
        return not self.refusals

    @property
    def nothing_to_do(self) -> bool:
        return self.ok and self.deployed_sha is not None and (self.deployed_sha == self.target_sha or self.same_tree)

    @property
    def refusal_exit_code(self) -> ExitCode:
        if any(r.code in USAGE_REFUSALS for r in self.refusals):
            return ExitCode.USAGE
        return ExitCode.FINDINGS if self.refusals else ExitCode.OK

    def describe(self) -> list[str]:
        """Human-readable lines: the situation, then each step (or the refusals)."""
        ref = self.target_ref
        named = f" ({ref})" if ref and not (self.target_sha or "").startswith(ref) else ""
        lines = [f"deployed: {self.remote}/{self.branch} at {_short(self.deployed_sha)}",
                 f"target:   {_short(self.target_sha)}{named}"]
        if self.undone:
            lines.append(f"undoes {len(self.undone)} commit(s): "
                         + "; ".join(f"{sha[:8]} {summary}" for sha, summary in self.undone))
        lines += [f"warning: {w}" for w in self.warnings]
        if self.refusals:
            lines += [f"refused: {r.message}" for r in self.refusals]
        elif self.nothing_to_do:
            lines.append("nothing to do: the target is what is deployed"
                         + (" (the deployed commit has the target's tree)" if self.same_tree else ""))
        else:
            lines += [f"{n}. {s.description}" for n, s in enumerate(self.steps, start=1)]
        return lines

    def to_dict(self) -> dict[str, Any]:
        return {
            "strategy": self.strategy, "remote": self.remote, "branch": self.branch,
            "deployed": self.deployed_sha, "target": self.target_sha, "target_ref": self.target_ref,
            "undone": [{"commit": s, "summary": m} for s, m in self.undone],
            "steps": [s.to_dict() for s in self.steps], "refusals": [r.to_dict() for r in self.refusals],
            "warnings": list(self.warnings), "nothing_to_do": self.nothing_to_do,
            "diff": self.diff.to_dict() if self.diff else None,
        }


def _short(sha: str | None) -> str:
    return sha[:12] if sha else "(unknown)"


def _strategy_steps(strategy: str, remote: str, branch: str, deployed: str, target: str, n: int,
                    render: RenderTarget | None, deploy_id: str | None) -> list[Step]:
    if strategy == "revert":
        return [Step("commit", f"create a commit on top of {deployed[:12]} whose tree is {target[:12]}'s "
                               f"(reverts the {n} commit(s) after it; history is kept)"),
                Step("push", f"push it to {remote} {branch} as a fast-forward (no force); Render redeploys it")]
    if strategy == "reset":
        return [Step("push", f"move {remote} {branch} from {deployed[:12]} to {target[:12]} with "
                             f"--force-with-lease=refs/heads/{branch}:{deployed} (fails if anyone pushed since)")]
    assert render is not None
    deploy = (Step("render-rollback", f"POST {render.url('/rollback')} {{\"deployId\": \"{deploy_id}\"}}")
              if deploy_id else
              Step("render-deploy", f"POST {render.url('/deploys')} {{\"commitId\": \"{target}\"}}"))
    return [Step("render-autodeploy-off", f"PATCH {render.url()} {{\"autoDeploy\": \"no\"}} so the next push "
                                          "does not undo the rollback"), deploy]


def plan_rollback(
    repo_path: Path,
    target: str | None = None,
    *,
    previous: bool = False,
    strategy: str = "revert",
    remote: str = "origin",
    branch: str = "main",
    allow_schema_change: bool = False,
    store: DeployStore | None = None,
    render: RenderTarget | None = None,
    render_missing: tuple[str, ...] = (),
    render_deploy_id: str | None = None,
    settings: ManifestSettings | None = None,
    env: Mapping[str, str] | None = None,
    python_version: str | None = None,
) -> RollbackPlan:
    """Decide a rollback of `remote`/`branch` to `target` (or the previous recorded deploy).

    Changes nothing but the local remote-tracking objects (a `git fetch`). Raises
    UnreachableError when the remote cannot be read; every safety problem is a Refusal.
    """
    if strategy not in STRATEGIES:
        raise UsageError(f"unknown strategy {strategy!r}; one of {', '.join(STRATEGIES)}")
    if (target is None) == (not previous):
        raise UsageError("give a target sha or --previous (not both)")
    repo = gitops.open_repo(repo_path)
    base = dict(repo_path=Path(repo.working_dir), strategy=strategy, remote=remote, branch=branch)
    refusals: list[Refusal] = []
    state = gitops.working_tree_state(repo)
    if state.dirty:
        refusals.append(Refusal("dirty_tree", f"the working tree has {len(state.paths)} uncommitted change(s) "
                                f"({', '.join(state.paths[:3])}{'...' if len(state.paths) > 3 else ''}); "
                                "commit or stash them first"))
    gitops.fetch_branch(repo, remote, branch)
    deployed = gitops.remote_branch_sha(repo, remote, branch)
    if deployed is None:
        return RollbackPlan(**base, deployed_sha=None, target_sha=None, target_ref=target,
                            refusals=(*refusals, Refusal("no_branch", f"{remote} has no branch {branch!r}")))
    if previous:
        if store is None:
            return RollbackPlan(**base, deployed_sha=deployed, target_sha=None, target_ref="previous",
                                refusals=(*refusals, Refusal("no_store", "--previous needs a deploy store")))
        rec = previous_deploy(store.history(), deployed)
        if rec is None:
            return RollbackPlan(**base, deployed_sha=deployed, target_sha=None, target_ref="previous",
                                refusals=(*refusals, Refusal("no_previous", "no earlier good deploy is recorded "
                                                             f"in {store.description}")))
        target = rec.commit
        target_ref = f"previous deploy #{rec.id} recorded {rec.recorded_at}"
    else:
        target_ref = target
    commit = gitops.resolve_commit(repo, target)
    if commit is None:
        return RollbackPlan(**base, deployed_sha=deployed, target_sha=None, target_ref=target_ref,
                            refusals=(*refusals, Refusal("unknown_sha", f"unknown commit {target!r}")))
    target_sha = commit.hexsha
    if target_sha == deployed:
        return RollbackPlan(**base, deployed_sha=deployed, target_sha=target_sha, target_ref=target_ref,
                            refusals=tuple(refusals))
    if not gitops.is_ancestor(repo, target_sha, deployed):
        refusals.append(Refusal("not_ancestor", f"{target_sha[:12]} is not an ancestor of {remote}/{branch} "
                                f"({deployed[:12]}): a rollback only goes back along the deployed history"))
        return RollbackPlan(**base, deployed_sha=deployed, target_sha=target_sha, target_ref=target_ref,
                            refusals=tuple(refusals))

    if commit.tree.hexsha == repo.commit(deployed).tree.hexsha:
        return RollbackPlan(**base, deployed_sha=deployed, target_sha=target_sha, target_ref=target_ref,
                            refusals=tuple(refusals), same_tree=True)
    undone = tuple((c.hexsha, c.summary) for c in gitops.commits_between(repo, target_sha, deployed))
    pyver = python_version or platform.python_version()
    deployed_m = generate_manifest(Path(repo.working_dir), deployed, settings=settings, env=env, python_version=pyver)
    target_m = generate_manifest(Path(repo.working_dir), target_sha, settings=settings, env=env, python_version=pyver)
    diff = diff_manifests(deployed_m, target_m)
    warnings: list[str] = []
    if diff.schema_changed:
        if allow_schema_change:
            warnings.append("schema changed: a rollback will not undo the database (allowed by "
                            "--allow-schema-change); the older code must cope with the newer schema")
        else:
            refusals.append(Refusal("schema_change", "schema changed between the two: a rollback will not undo "
                                    "the database; re-run with --allow-schema-change if the old code copes"))
    if strategy == "render-api" and render is None:
        refusals.append(Refusal("render_config", "the render-api strategy needs "
                                + " and ".join(render_missing or ("RENDER_SERVICE_ID", "RENDER_API_KEY"))))
    steps = () if refusals else tuple(_strategy_steps(strategy, remote, branch, deployed, target_sha, len(undone),
                                                      render, render_deploy_id))
    return RollbackPlan(**base, deployed_sha=deployed, target_sha=target_sha, target_ref=target_ref, undone=undone,
                        steps=steps, refusals=tuple(refusals), warnings=tuple(warnings), diff=diff,
                        deployed_manifest=deployed_m, target_manifest=target_m, render=render,
                        render_deploy_id=render_deploy_id)
