"""Plan a rollback: what is deployed, where to go, what would happen, and why not."""

from __future__ import annotations

import platform
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypedDict

from mosaic_diag.errors import ExitCode, UsageError
from mosaic_diag.manifest import Manifest, ManifestDiff, ManifestSettings, diff_manifests, generate_manifest
from mosaic_diag.manifest.model import full_sha
from mosaic_diag.manifest.store import DeployRecord, DeployStore, previous_deploy
from mosaic_diag.platform import gitops
from mosaic_diag.platform.render_api import RenderTarget
from mosaic_diag.platform.terminal import one_line_escaped

STRATEGIES = ("revert", "reset", "render-api")
# Refusal codes that are usage or configuration errors (exit 2); every other refusal exits 1.
USAGE_REFUSALS = frozenset({"unknown_sha", "render_config", "no_store", "render_deploy_mismatch", "bad_record"})


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


class _PlanBase(TypedDict):
    """The fields every plan of one `plan_rollback` call shares."""

    repo_path: Path
    strategy: str
    remote: str
    branch: str
    notes: tuple[str, ...]


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
    undone: tuple[tuple[str, str, str], ...] = ()  # (sha, summary, author) newest first
    steps: tuple[Step, ...] = ()
    refusals: tuple[Refusal, ...] = ()
    warnings: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()  # what it leaves alone and why (untracked files: the checkout is never touched)
    diff: ManifestDiff | None = None
    deployed_manifest: Manifest | None = field(default=None, repr=False)
    target_manifest: Manifest | None = field(default=None, repr=False)
    render: RenderTarget | None = field(default=None, repr=False)
    render_deploy_id: str | None = None
    render_deploy_note: str | None = None
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
            lines.append(f"undoes {len(self.undone)} commit(s):")
            lines += [f"  {sha[:8]} {summary} ({author})" for sha, summary, author in self.undone]
        lines += [f"warning: {w}" for w in self.warnings]
        lines += [f"note: {n}" for n in self.notes]
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
            "undone": [{"commit": s, "summary": m, "author": a} for s, m, a in self.undone],
            "steps": [s.to_dict() for s in self.steps], "refusals": [r.to_dict() for r in self.refusals],
            "warnings": list(self.warnings), "notes": list(self.notes), "nothing_to_do": self.nothing_to_do,
            "diff": self.diff.to_dict() if self.diff else None, "render_deploy_id": self.render_deploy_id,
        }


def _short(sha: str | None) -> str:
    return sha[:12] if sha else "(unknown)"


def _some(paths: Sequence[str], most: int = 3) -> str:
    """The first `most` of `paths`, `...` after them if there are more."""
    return ", ".join(paths[:most]) + ("..." if len(paths) > most else "")


def _strategy_steps(plan_args: _PlanBase, deployed: str, target: str, n: int,
                    render: RenderTarget | None, deploy_id: str | None) -> list[Step]:
    strategy, remote, branch = plan_args["strategy"], plan_args["remote"], plan_args["branch"]
    if strategy == "revert":
        return [Step("commit", f"create a commit on top of {deployed[:12]} whose tree is {target[:12]}'s "
                               f"(reverts the {n} commit(s) after it; history is kept)"),
                Step("push", f"push it to {remote} {branch} as a fast-forward (no force), only while the branch "
                             f"is still at {deployed[:12]}; Render redeploys it")]
    if strategy == "reset":
        return [Step("push", f"move {remote} {branch} from {deployed[:12]} to {target[:12]} with "
                             f"--force-with-lease=refs/heads/{branch}:{deployed} (fails if anyone pushed since)")]
    assert render is not None
    deploy = (Step("render-rollback", f"POST {render.url('/rollback')} {{\"deployId\": \"{deploy_id}\"}} "
                                      f"(Render's rollback to its earlier deploy of {target[:12]})")
              if deploy_id else
              Step("render-deploy", f"POST {render.url('/deploys')} {{\"commitId\": \"{target}\"}} (a rebuild: "
                                    f"Render has no earlier deploy of {target[:12]})"))
    return [Step("render-autodeploy-off", f"PATCH {render.url()} {{\"autoDeploy\": \"no\"}} so the next push "
                                          "does not undo the rollback (restored if the rollback call fails)"),
            deploy]


def _resolve_target(repo: Any, target: str, remote: str, branch: str, deployed: str) -> tuple[Any | None, str]:
    """The commit `target` names, with HEAD / the branch's own name (and `~N`/`^` after them) read on the
    remote branch head `deployed`, never on the local clone; and how it was read."""
    names = ("HEAD", "@", branch, f"{remote}/{branch}", f"refs/heads/{branch}", f"refs/remotes/{remote}/{branch}")
    for name in sorted(names, key=len, reverse=True):
        rest = target[len(name):]
        if target.startswith(name) and (not rest or rest[0] in "~^"):
            return (gitops.resolve_commit(repo, deployed + rest),
                    f"{target} read on {remote}/{branch} at {deployed[:12]}")
    return gitops.resolve_commit(repo, target), target


def plan_rollback(
    repo_path: Path,
    target: str | None = None,
    *,
    previous: bool = False,
    strategy: str = "revert",
    remote: str = "origin",
    branch: str = "main",
    allow_schema_change: bool = False,
    allow_off_branch: bool = False,
    allow_recorded_bad: bool = False,
    judged_commit: str | None = None,
    store: DeployStore | None = None,
    render: RenderTarget | None = None,
    render_missing: tuple[str, ...] = (),
    render_deploy_id: str | None = None,
    settings: ManifestSettings | None = None,
    env: Mapping[str, str] | None = None,
    python_version: str | None = None,
) -> RollbackPlan:
    """Decide a rollback of `remote`/`branch` to `target` (or the previous recorded deploy).

    Remote and branch are validated first (UsageError; nothing runs). Changes nothing but the local
    remote-tracking objects (a `git fetch`); render-api plans read (GET) Render's deploy list.
    Raises UnreachableError when the remote cannot be read, RemoteMoved when it changes while read;
    every safety problem is a Refusal. `judged_commit` (with --auto): the commit the error rate was
    measured on, which must be the remote branch head.
    """
    if strategy not in STRATEGIES:
        raise UsageError(f"unknown strategy {strategy!r}; one of {', '.join(STRATEGIES)}")
    if (target is None) == (not previous):
        raise UsageError("give a target sha or --previous (not both)")
    repo = gitops.open_repo(repo_path)
    gitops.validate_remote(repo, remote)
    gitops.validate_branch(repo, branch)
    # the rollback commits a tree by its objects and pushes (`execute`): it never reads nor writes the checkout.
    # A change to a tracked file is refused all the same (it may be the fix meant to ship, or a half-done edit
    # someone would take for deployed); an untracked file is nobody's deploy: it is named in a note, not refused
    state = gitops.working_tree_state(repo)
    changed = [p for p in state.paths if p not in state.untracked]
    notes = (f"{len(state.untracked)} untracked file(s) ({_some(state.untracked)}) left as they are: the rollback "
             "never touches the checkout",) if state.untracked else ()
    base = _PlanBase(repo_path=Path(repo.working_dir), strategy=strategy, remote=remote, branch=branch, notes=notes)
    refusals: list[Refusal] = []
    warnings: list[str] = []
    if changed:
        refusals.append(Refusal("dirty_tree", f"the working tree has {len(changed)} uncommitted change(s) "
                                f"({_some(changed)}); commit or stash them first"))
    fetched: list[str] = []
    deployed = gitops.deployed_head(repo, remote, branch, fetched)
    base["notes"] = (*notes, *fetched)
    if deployed is None:
        return RollbackPlan(**base, deployed_sha=None, target_sha=None, target_ref=target,
                            refusals=(*refusals, Refusal("no_branch", f"{remote} has no branch {branch!r}")))
    if judged_commit is not None and not (len(judged_commit) >= 7 and deployed.startswith(judged_commit.lower())):
        return RollbackPlan(**base, deployed_sha=deployed, target_sha=None, target_ref=target or "previous",
                            refusals=(*refusals, Refusal(
                                "verdict_not_head", f"the error rate was measured on {judged_commit[:12]} but "
                                f"{remote}/{branch} is at {deployed[:12]}: the head is not yet judged (a newer push "
                                "is building, or the app serves an older commit); nothing is rolled back")))
    history = store.history() if store is not None else []
    if previous:
        if store is None:
            return RollbackPlan(**base, deployed_sha=deployed, target_sha=None, target_ref="previous",
                                refusals=(*refusals, Refusal("no_store", "--previous needs a deploy store")))
        rec = previous_deploy(history, deployed)
        if rec is None:
            return RollbackPlan(**base, deployed_sha=deployed, target_sha=None, target_ref="previous",
                                refusals=(*refusals, Refusal("no_previous", "no earlier good deploy is recorded "
                                                             f"in {store.description}")))
        if not full_sha(rec.commit):  # (a store's row is text: `main~1` would resolve to whatever it names now)
            return RollbackPlan(**base, deployed_sha=deployed, target_sha=None, target_ref="previous",
                                refusals=(*refusals, Refusal("bad_record", f"deploy #{rec.id} in {store.description} "
                                                             f"records {rec.commit[:80]!r}, not a full commit id: "
                                                             "nothing is rolled back to it")))
        commit = gitops.resolve_commit(repo, rec.commit)
        target_ref = f"previous deploy #{rec.id} recorded {rec.recorded_at}"
    else:
        assert target is not None
        commit, target_ref = _resolve_target(repo, target, remote, branch, deployed)
    if commit is None:
        return RollbackPlan(**base, deployed_sha=deployed, target_sha=None, target_ref=target_ref,
                            refusals=(*refusals, Refusal("unknown_sha", f"unknown commit {target_ref!r}")))
    target_sha = commit.hexsha
    if target_sha == deployed:
        return RollbackPlan(**base, deployed_sha=deployed, target_sha=target_sha, target_ref=target_ref,
                            refusals=tuple(refusals))
    if not gitops.is_ancestor(repo, target_sha, deployed):
        recorded = next((r for r in history if r.commit == target_sha and r.status != "aborted"), None)
        lost = (f"; it is in the deploy history (#{recorded.id} {recorded.status} at {recorded.recorded_at}): "
                f"{remote}/{branch} was rewritten since (a force push?)") if recorded is not None else ""
        refusals.append(Refusal("not_ancestor", f"{target_sha[:12]} is not an ancestor of {remote}/{branch} "
                                f"({deployed[:12]}): a rollback only goes back along the deployed history{lost}"))
        return RollbackPlan(**base, deployed_sha=deployed, target_sha=target_sha, target_ref=target_ref,
                            refusals=tuple(refusals))
    if target_sha not in set(gitops.first_parent_history(repo, deployed)):
        text = (f"{target_sha[:12]} was never the head of {remote}/{branch}: it is reached only through a merge "
                "(a feature-branch commit), not on the branch's first-parent history")
        if allow_off_branch:
            warnings.append(text + " (allowed by --allow-off-branch)")
        else:
            refusals.append(Refusal("off_branch", text + "; re-run with --allow-off-branch if you mean it"))
    bad = [r for r in history if r.commit == target_sha and r.status == "bad"]
    if bad:
        text = (f"{target_sha[:12]} is recorded as bad (deploy #{bad[0].id} at {bad[0].recorded_at}"
                + (f": {one_line_escaped(bad[0].note)}" if bad[0].note else "") + ")")
        if allow_recorded_bad:
            warnings.append(text + "; going back to it anyway (--allow-recorded-bad)")
        else:
            refusals.append(Refusal("recorded_bad", text + "; re-run with --allow-recorded-bad if you mean it"))

    if commit.tree.hexsha == repo.commit(deployed).tree.hexsha:
        return RollbackPlan(**base, deployed_sha=deployed, target_sha=target_sha, target_ref=target_ref,
                            refusals=tuple(refusals), warnings=tuple(warnings), same_tree=True)
    undone = tuple((c.hexsha, c.summary, f"{c.author.name} <{c.author.email}>")
                   for c in gitops.commits_between(repo, target_sha, deployed))
    me = gitops.author_ident(repo)
    others = sorted({a for _, _, a in undone if a != me})
    if others:
        warnings.append(f"it undoes commit(s) by {', '.join(others)}")
    pyver = python_version or platform.python_version()
    deployed_m = generate_manifest(Path(repo.working_dir), deployed, settings=settings, env=env, python_version=pyver)
    target_m = generate_manifest(Path(repo.working_dir), target_sha, settings=settings, env=env, python_version=pyver)
    diff = diff_manifests(deployed_m, target_m)
    if diff.schema_changed:
        if allow_schema_change:
            warnings.append("schema changed: a rollback will not undo the database (allowed by "
                            "--allow-schema-change); the older code must cope with the newer schema")
        else:
            refusals.append(Refusal("schema_change", "schema changed between the two: a rollback will not undo "
                                    "the database; re-run with --allow-schema-change if the old code copes"))
    note = None
    if strategy == "render-api" and render is None:
        refusals.append(Refusal("render_config", "the render-api strategy needs "
                                + " and ".join(render_missing or ("RENDER_SERVICE_ID", "RENDER_API_KEY"))))
    elif strategy == "render-api" and not refusals:
        render_deploy_id, note, problem = _render_deploy(render, target_sha, render_deploy_id)
        if problem:
            refusals.append(problem)
        elif note:
            warnings.append(note)
    steps = () if refusals else tuple(_strategy_steps(base, deployed, target_sha, len(undone),
                                                      render, render_deploy_id))
    return RollbackPlan(**base, deployed_sha=deployed, target_sha=target_sha, target_ref=target_ref, undone=undone,
                        steps=steps, refusals=tuple(refusals), warnings=tuple(warnings), diff=diff,
                        deployed_manifest=deployed_m, target_manifest=target_m, render=render,
                        render_deploy_id=render_deploy_id, render_deploy_note=note)


def _render_deploy(render: RenderTarget | None, target_sha: str,
                   given: str | None) -> tuple[str | None, str | None, Refusal | None]:
    """(deploy id to roll back to, a note, a refusal): the given deploy checked against the commit, or
    Render's newest successful deploy of it (None: no earlier deploy, it will be rebuilt by commit)."""
    from mosaic_diag.platform.render_api import RenderApi, commit_of, deploy_id_of

    assert render is not None
    api = RenderApi(render)
    if given:
        deploy = api.get_deploy(given)
        commit = commit_of(deploy) or ""  # (an answer is not trusted to be shaped as Render's)
        if commit != target_sha:
            return None, None, Refusal("render_deploy_mismatch", f"Render deploy {given} is of commit "
                                       f"{commit[:12] or '(none)'}, not {target_sha[:12]}")
        return given, None, None
    found = api.find_deploy_of(target_sha)
    if found is None:
        return None, (f"Render has no earlier successful deploy of {target_sha[:12]}: it will be rebuilt by "
                      "commit (POST /deploys), not rolled back"), None
    return deploy_id_of(found), None, None


def deployed_record(repo_path: Path, remote: str, branch: str,
                    store: DeployStore | None) -> tuple[str | None, DeployRecord | None]:
    """The remote branch head (validated remote and branch, fetched) and its newest deploy record (or None)."""
    repo = gitops.open_repo(repo_path)
    gitops.validate_remote(repo, remote)
    gitops.validate_branch(repo, branch)
    head = gitops.deployed_head(repo, remote, branch)
    if head is None or store is None:
        return head, None
    return head, next((r for r in store.history() if r.commit == head), None)
