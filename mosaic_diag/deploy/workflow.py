"""`mosaic-diag deploy` as one guarded run: preflight -> predeploy -> record (pending) -> push (never
forced) -> wait until the service runs the commit -> watch -> verdict -> rollback if bad.

Every step is reported as it starts and ends (`on_step`) and kept in the DeployReport. Nothing is
pushed before the gate (no change to a tracked file, a fast-forward, a reachable remote and Render API, predeploy)
passes; the push and the rollback are audited before they run.
"""

from __future__ import annotations

import platform
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from mosaic_diag.deploy.judge import Judgement, LogTriage, labels_of, triage_render_window, watch_and_judge
from mosaic_diag.deploy.model import DeployOptions, DeployReport, StepRecord
from mosaic_diag.deploy.wait import WaitOutcome, parse_time, wait_for_commit
from mosaic_diag.errors import ConfigError, DiagError, ExitCode
from mosaic_diag.platform.audit import append_audit

StepHook = Callable[[StepRecord, str], None]  # (step, "start" | "end" | a progress line)
STEPS = ("preflight", "predeploy", "record", "push", "wait", "watch", "verdict", "rollback", "playbooks")


class _Stop(Exception):
    """Ends the run early with the report as it stands."""


@dataclass
class _Context:
    root: Path
    env: Mapping[str, str]
    opts: DeployOptions
    config: Any
    report: DeployReport
    on_step: StepHook | None
    clock: Callable[[], datetime]
    sleep: Callable[[float], None]
    repo: Any = None
    sha: str = ""
    remote_head: str | None = None
    render_settings: Any = None
    target: Any = None  # the RenderTarget, when Render is configured
    api: Any = None
    autodeploy: bool | None = None
    manifest: Any = None
    store: Any = None
    health_before: bool = False  # /health reported a commit before the push (so its URL is right)
    serving_before: str | None = None  # the commit /health reported before the push
    on_warning: Callable[[str], None] | None = None
    pushed: str = ""  # once the push landed, what it did (a later step that cannot act says so)

    # -- steps ---------------------------------------------------------------------------------
    def begin(self, name: str) -> StepRecord:
        step = StepRecord(name, started=time.monotonic())
        self.report.steps.append(step)
        if self.on_step is not None:
            self.on_step(step, "start")
        return step

    def end(self, step: StepRecord, status: str, text: str, **details: Any) -> StepRecord:
        step.seconds = time.monotonic() - step.started
        step.status, step.message = status, text
        step.details.update({k: v for k, v in details.items() if v is not None and k != "message"})
        if self.on_step is not None:
            self.on_step(step, "end")
        return step

    def progress(self, step: StepRecord) -> Callable[[str], None]:
        return lambda text: self.on_step(step, text) if self.on_step is not None else None

    def fail_running(self, text: str) -> StepRecord | None:
        """End the step that was running when an error stopped the run (it is the last one)."""
        step = self.report.steps[-1] if self.report.steps else None
        if step is not None and step.status == "running":
            self.end(step, "failed", text)
        return step

    def warn(self, text: str) -> None:
        """A warning that stops nothing: kept in the report (`warnings`) and handed to `on_warning` as it comes."""
        self.report.warnings.append(text)
        if self.on_warning is not None:
            self.on_warning(text)

    def finish(self, verdict: str, reason: str, code: int) -> None:
        self.report.verdict, self.report.reason, self.report.exit_code = verdict, reason, int(code)

    @property
    def audit_path(self) -> Path:
        from mosaic_diag.rollback import audit_log_path

        return audit_log_path(self.config)

    def audit(self, record: Mapping[str, Any]) -> None:
        """Append `record`. An intent (`result` started) that cannot be written stops the step before it acts
        (ConfigError); a result cannot: the action happened (or failed) already, so it is a warning and the run
        goes on (a push that landed was said "nothing was done", and was left unwaited for and unjudged)."""
        path = self.audit_path
        try:
            append_audit(path, {"action": "deploy", "commit": self.sha, "remote": self.opts.remote,
                                "branch": self.opts.branch, **record}, clock=self.clock)
        except OSError as exc:
            why = exc.strerror or exc
            if record.get("result") == "started":
                done = (f"the {record.get('step')} step was not done ({self.pushed} before it; re-run once the log "
                        "can be written: it picks up from what the remote holds)" if self.pushed
                        else "nothing was done")
                raise ConfigError(f"audit log {path} cannot be written ({why}): {done}") from None
            self.warn(f"audit log {path}: the {record.get('step', 'deploy')} step's result "
                      f"({record.get('result')}) could not be written ({why})")


def run_deploy(root: Path, env: Mapping[str, str], opts: DeployOptions, *, config: Any,
               on_step: StepHook | None = None, clock: Callable[[], datetime] = lambda: datetime.now(UTC),
               sleep: Callable[[float], None] = time.sleep,
               on_warning: Callable[[str], None] | None = None) -> DeployReport:
    """Deploy HEAD of the repository at `root` (see the module docstring). Usage and configuration
    errors found before any step raise (exit 2); later errors end the report with the step's error. A warning
    that stops nothing (untracked files) goes to `report.warnings` and, as it comes, to `on_warning`."""
    from mosaic_diag.platform import gitops
    from mosaic_diag.platform.render_settings import RenderSettings

    repo = gitops.open_repo(root)
    gitops.validate_remote(repo, opts.remote)
    gitops.validate_branch(repo, opts.branch)
    settings = RenderSettings.from_config(config, env)
    render_ready = bool(settings.service_id and settings.api_key)
    if opts.health_url is None and not render_ready:
        raise ConfigError("deploy cannot tell when the new commit serves: give --health-url (or deploy.health_url) "
                          "or the Render service (RENDER_SERVICE_ID or render.service_id, and RENDER_API_KEY)")
    if opts.strategy == "render-api" and not render_ready:
        raise ConfigError(f"the render-api rollback strategy needs {', '.join(settings.missing())}")
    if not opts.dry_run:  # the push is audited before it runs: an empty `audit_log` is refused before any step
        from mosaic_diag.rollback import audit_log_path

        audit_log_path(config)
    else:  # a dry run audits and records nothing (an empty `audit_log` is no error for it), but a setting of the wrong
        # type is refused as the real run refuses it: a dry run that passed promised a deploy that then stopped
        from mosaic_diag.manifest.store import DEFAULT_FILE
        from mosaic_diag.rollback.execute import DEFAULT_AUDIT_LOG

        config.path("audit_log", DEFAULT_AUDIT_LOG)
        config.path("deploy_store", str(DEFAULT_FILE))
    try:
        sha = repo.head.commit.hexsha
    except ValueError:
        raise ConfigError(f"{root}: the repository has no commit to deploy") from None
    report = DeployReport(sha, opts.remote, opts.branch, opts.dry_run)
    ctx = _Context(Path(repo.working_dir), env, opts, config, report, on_step, clock, sleep, repo=repo, sha=sha,
                   render_settings=settings if render_ready else None, on_warning=on_warning)
    if opts.dry_run:  # (reads only: no lock)
        _guarded_run(ctx)
        return report
    from mosaic_diag.platform.oplock import Busy, operation_lock

    try:
        with operation_lock(repo, f"deploy of {sha[:12]} to {opts.remote}/{opts.branch}"):
            _guarded_run(ctx)
    except Busy as exc:  # another deploy (or rollback) from this checkout is under way: blocked before anything
        ctx.end(ctx.begin("preflight"), "failed", str(exc))
        ctx.finish("blocked", str(exc), exc.exit_code)
    return report


def _guarded_run(ctx: _Context) -> None:
    """The steps (a real deploy's under the checkout's deploy lock); errors end the report."""
    try:
        _preflight(ctx)
        if ctx.opts.dry_run:
            _plan_only(ctx)
            return
        _predeploy(ctx)
        _record(ctx)
        _push(ctx)
        outcome = _wait(ctx)
        if outcome.health_answered is False and not ctx.health_before:
            _unjudged(ctx, outcome)
            return
        if outcome.state == "superseded":
            _superseded(ctx, outcome.message)
            return
        if outcome.state == "timeout":
            _timed_out(ctx, outcome)
            return
        if outcome.state != "live":
            _failed_deploy(ctx, outcome)
            return
        judgement = _watch(ctx, outcome)
        _verdict(ctx, judgement)
    except _Stop:  # mosaic-diag: ignore[MD006]
        pass
    except DiagError as exc:
        ctx.fail_running(str(exc))
        ctx.finish("error", str(exc), exc.exit_code)
    except KeyboardInterrupt as exc:  # Ctrl-C: the report says how far it got (a pending record stays pending)
        step = ctx.report.steps[-1] if ctx.report.steps else None
        running = step is not None and step.status == "running"
        ctx.fail_running("interrupted")
        where = "at the start" if step is None else f"during {step.name}" if running else f"after {step.name}"
        said = f" ({exc})" if str(exc) else ""  # a rollback cut short says what state it left
        ctx.finish("error", f"interrupted {where}{said}", 130)


# -- the steps ---------------------------------------------------------------------------------------
def _preflight(ctx: _Context) -> None:
    from mosaic_diag.platform import gitops

    step = ctx.begin("preflight")
    opts, repo = ctx.opts, ctx.repo
    # a change to a tracked file blocks (the fix meant to ship, or a half-done edit someone would take for
    # deployed); an untracked file does not (Render builds the pushed commit, which never holds it), but one
    # git does not ignore may be a file someone forgot to add: a warning names them (rollback: a note)
    state = gitops.working_tree_state(repo)
    changed = [p for p in state.paths if p not in state.untracked]
    if changed:
        ctx.end(step, "failed", f"the working tree has {len(changed)} uncommitted change(s) to tracked files "
                f"({_some(changed)}): they would not be deployed; commit or stash them first", paths=changed)
        ctx.finish("blocked", step.message, ExitCode.FINDINGS)
        raise _Stop
    doing = gitops.operation_in_progress(repo)
    if doing is not None:  # (a stopped rebase or a bisect has a clean tree and a detached HEAD, as CI has)
        ctx.end(step, "failed", f"a {doing} is in progress in {ctx.root}: HEAD ({ctx.sha[:12]}) is a step of it, "
                f"not a finished history; finish or abort it (git {doing.split()[0]} --continue / --abort"
                + (", git bisect reset" if doing == "bisect" else "") + ") first", operation=doing)
        ctx.finish("blocked", step.message, ExitCode.FINDINGS)
        raise _Stop
    local = gitops.current_branch(repo)
    if local is not None and local != opts.branch and not opts.allow_other_branch:
        ctx.end(step, "failed", f"HEAD is on branch {local!r}, not the deploy branch {opts.branch!r}: deploying it "
                f"would put {local}'s commits on {opts.remote}/{opts.branch}; check out {opts.branch} (or pass "
                "--allow-other-branch if you mean it)", local_branch=local)
        ctx.finish("blocked", step.message, ExitCode.FINDINGS)
        raise _Stop
    fetched: list[str] = []
    ctx.remote_head = gitops.deployed_head(repo, opts.remote, opts.branch, fetched)
    head = ctx.remote_head
    if head is not None and head != ctx.sha and not gitops.is_ancestor(repo, head, ctx.sha):
        ctx.end(step, "failed", f"{opts.remote}/{opts.branch} is at {head[:12]}, which {ctx.sha[:12]} does not "
                "contain: a push would not be a fast-forward (deploy never forces); pull or rebase first",
                remote_head=head)
        ctx.finish("blocked", step.message, ExitCode.FINDINGS)
        raise _Stop
    said = [f"{opts.remote}/{opts.branch} at {head[:12] if head else '(no branch yet)'}", *fetched]
    if head == ctx.sha:
        said.append(f"{ctx.sha[:12]} is already pushed")
    elif head is not None:
        said.append(f"{len(gitops.commits_between(repo, head, ctx.sha))} new commit(s)")
    if ctx.render_settings is not None:
        from mosaic_diag.platform.render_api import RenderApi, RenderTarget

        s = ctx.render_settings
        ctx.target = RenderTarget(s.api_url, s.service_id, s.api_key)
        ctx.api = RenderApi(ctx.target)
        ctx.autodeploy = ctx.api.autodeploy_enabled()
        said.append(f"Render service {s.service_id}: autodeploy {'on' if ctx.autodeploy else 'OFF'}")
    if opts.health_url is not None:
        from mosaic_diag.deploy.wait import health_commit

        serving, how = health_commit(opts.health_url)
        ctx.health_before, ctx.serving_before = serving is not None, serving
        if serving is not None and opts.log is None and ctx.render_settings is None:
            _judgeable(opts.health_url, opts)
        if serving:
            said.append(f"/health reports {serving[:12]}")
        elif "without deployment.git_commit_full" in how:  # it answered: up, but says no commit
            said.append(f"/health: {how} (not the runtime kit's /health? the wait needs the commit)")
        else:
            said.append(f"/health: {how} (the app may be down)")
    ctx.end(step, "ok", "; ".join(said), remote_head=head, autodeploy=ctx.autodeploy,
            untracked=list(state.untracked) or None)
    if state.untracked:
        ctx.warn(f"{len(state.untracked)} untracked file(s) not deployed ({_some(state.untracked)}): Render builds "
                 "the pushed commit; git add and commit them if the app needs them, or list them in .gitignore")


def _some(paths: list[str] | tuple[str, ...]) -> str:
    """The first three paths, `...` after them when there are more."""
    return ", ".join(paths[:3]) + ("..." if len(paths) > 3 else "")


def _judgeable(health_url: str, opts: DeployOptions) -> None:
    """With no log to read (no --log, no Render service), only /health's error budget can judge the new deploy:
    a /health without it (not the runtime kit's) is a ConfigError before anything is pushed (it was judged
    good on nothing)."""
    from mosaic_diag.errors import UnreachableError
    from mosaic_diag.rollback.budget import read_health

    try:
        read_health(health_url, budget=opts.error_budget, min_requests=opts.min_requests)
    except UnreachableError:
        return  # (read again during the watch; the wait says what it gets)
    except DiagError as exc:
        raise ConfigError(f"nothing could judge the new deploy: {exc} and no log is read; give --log FILE, or the "
                          "Render service and key (RENDER_SERVICE_ID, RENDER_API_KEY): nothing was pushed") from None


def _plan_only(ctx: _Context) -> None:
    opts, sha = ctx.opts, ctx.sha
    where = f"{opts.remote} {opts.branch}"
    plans = [("predeploy", f"run the predeploy checks on a checkout of {sha[:12]} (its files only, no untracked "
              "one); stop on a failure"),
             ("record", f"record {sha[:12]} as pending in the deploy store"),
             ("push", f"git push {where} ({sha[:12]}, a fast-forward; never forced)"
              + ("; then ask Render to deploy it (autodeploy is off)" if ctx.autodeploy is False else "")),
             ("wait", f"wait up to {opts.wait_timeout_s:g}s until the service runs {sha[:12]}"
              + (" (Render's deploy status" + (", then /health)" if opts.health_url else ")") if ctx.api
                 else " (/health)")),
             ("watch", f"watch {opts.watch_s:g}s: error budget {opts.error_budget:g}"
              + (" from /health" if opts.health_url else "") + ", then triage the new deploy's logs"
              + (f" ({opts.log})" if opts.log else " (Render's log API)" if ctx.render_settings else "")),
             ("verdict", "good: recorded as the last good deploy; bad: recorded bad"
              + (f", then rolled back ({opts.strategy}) to the previous good deploy" if opts.rollback
                 else " (--no-rollback: left as it is)")
              + ("; good: Render autodeploy turned back on" if opts.resume_autodeploy and ctx.autodeploy is False
                 else ""))]
    for name, text in plans:
        step = ctx.begin(name)
        ctx.end(step, "planned", text)
    ctx.finish("dry-run", "dry run: nothing was recorded, pushed or deployed", ExitCode.OK)


def _predeploy(ctx: _Context) -> None:
    """The predeploy checks on a checkout of the commit pushed (what Render builds: no untracked file takes
    part, and one the commit lacks fails the golden import and the lint as it fails the build), with the
    operator's settings and environment; the checkout is removed however the step ends."""
    from mosaic_diag.platform import gitops

    step = ctx.begin("predeploy")
    with gitops.commit_checkout(ctx.repo, ctx.sha) as tree:
        unfilled = gitops.fill_submodules(ctx.repo, tree, ctx.sha)  # (a build cloning them gets their files)
        result = _checks_on(ctx, tree)
    for text in unfilled:
        ctx.warn(text)
    shown = str(ctx.root)  # (a path of the checkout, gone now, named as the operator's file: the same content)
    failing = [{"id": r.id, "level": r.level, "message": r.message.replace(str(tree), shown),
                "location": r.location.replace(str(tree), shown) if r.location else r.location, "label": r.label,
                "playbook": r.playbook} for r in result.failing]
    if failing:
        first = failing[0]
        ctx.end(step, "failed", f"{len(failing)} check result(s) at or above {result.fail_level}: {first['id']} "
                f"{first['message']}" + (f" [{first['label']}]" if first["label"] else ""), failing=failing)
        ctx.report.labels = [{"label": f["label"], "check": f["id"], "playbook": f["playbook"]}
                             for f in failing if f["label"]]
        ctx.finish("blocked", "predeploy failed: nothing was pushed", ExitCode.FINDINGS)
        raise _Stop
    ctx.end(step, "ok", f"{len(result.outcomes)} checks passed at fail level {result.fail_level} on a checkout of "
            f"{ctx.sha[:12]}")


def _checks_on(ctx: _Context, tree: Path) -> Any:
    """The predeploy report of the checkout at `tree`: the operator's settings (the file `deploy` read, tracked
    or not) with relative paths read in the checkout, mosaic-diag's own state left in the operator's checkout,
    the lint cache kept beside the checkout (its files' paths are the same from one deploy to the next)."""
    import sys

    from mosaic_diag.checks.predeploy import predeploy

    cache = str(tree.parent / "lint-cache")
    config = ctx.config.reading_from(tree, fixed={"lint.cache_dir": cache})
    path, bytecode = list(sys.path), sys.dont_write_bytecode
    sys.path[:] = _import_path_in(path, ctx.root, tree)
    sys.dont_write_bytecode = True  # (an in-process app imported from the checkout: nothing written into it)
    try:
        return predeploy(tree, ctx.env, skip=ctx.opts.predeploy_skip, config=config)
    finally:
        sys.dont_write_bytecode = bytecode
        sys.path[:] = path


def _import_path_in(entries: list[str], root: Path, tree: Path) -> list[str]:
    """The import path with its entries into the operator's checkout at `root` (`python -m` run there puts it
    first; PYTHONPATH=. or src) moved to the same place in the checkout at `tree`: a module only in the
    working tree is found through none of them. (Entries in the git directory are left as they are.)"""
    import os

    root = root.resolve()
    out = []
    for entry in entries:
        full = Path(os.path.abspath(entry or os.curdir)).resolve()  # ('' is the current directory)
        inside = full.relative_to(root) if full == root or root in full.parents else None
        out.append(entry if inside is None or inside.parts[:1] == (".git",) else str(tree / inside))
    return out


def _record(ctx: _Context) -> None:
    from mosaic_diag.manifest import ManifestSettings, generate_manifest
    from mosaic_diag.manifest.store import configured_store

    step = ctx.begin("record")
    ctx.manifest = generate_manifest(ctx.root, ctx.sha, settings=ManifestSettings.from_config(ctx.config),
                                     env=ctx.env, python_version=platform.python_version())
    ctx.store = configured_store(ctx.root, ctx.env)
    rec = ctx.store.record(ctx.manifest, status="pending",
                           note=f"mosaic-diag deploy to {ctx.opts.remote}/{ctx.opts.branch}: not judged yet")
    ctx.end(step, "ok", f"#{rec.id} {ctx.sha[:12]} pending in {ctx.store.description}", record=rec.to_dict())


def _push(ctx: _Context) -> None:
    from mosaic_diag.platform import gitops

    step = ctx.begin("push")
    opts = ctx.opts
    said = []
    if ctx.remote_head == ctx.sha:
        said.append(f"{opts.remote}/{opts.branch} already at {ctx.sha[:12]}: nothing to push")
    else:
        ctx.audit({"step": "push", "from": ctx.remote_head, "result": "started"})
        try:
            gitops.push_branch(ctx.repo, opts.remote, ctx.sha, opts.branch, ctx.remote_head)
        except (gitops.PushRejected, gitops.RemoteMoved) as exc:  # refused: nothing was pushed
            ctx.audit({"step": "push", "result": "failed", "error": str(exc)})
            _store(ctx, "aborted", f"never pushed: {exc}")
            raise
        except DiagError as exc:  # (the remote went away: whether it landed is not known, it stays pending)
            ctx.audit({"step": "push", "result": "failed", "error": str(exc)})
            raise
        except KeyboardInterrupt:  # Ctrl-C or SIGTERM while git pushed: whether it landed is not known
            ctx.audit({"step": "push", "result": "interrupted",
                       "error": f"whether {ctx.sha[:12]} reached {opts.remote} {opts.branch} is not known"})
            raise
        ctx.pushed = f"{ctx.sha[:12]} was pushed to {opts.remote} {opts.branch}"
        ctx.audit({"step": "push", "result": "done"})
        said.append(f"pushed {ctx.sha[:12]} to {opts.remote} {opts.branch}")
    if ctx.api is not None and ctx.autodeploy is False:
        deploy = _render_deploy(ctx, ctx.sha)
        said.append(f"autodeploy is off: asked Render to deploy it (deploy {deploy.get('id')})")
    ctx.end(step, "ok", "; ".join(said))


def _render_deploy(ctx: _Context, sha: str) -> Any:
    """Ask Render to deploy `sha` (autodeploy is off), audited before and after (a failure too)."""
    ctx.audit({"step": "render-deploy", "commit": sha, "result": "started"})
    try:
        deploy = ctx.api.deploy_commit(sha)
    except DiagError as exc:
        ctx.audit({"step": "render-deploy", "commit": sha, "result": "failed", "error": str(exc)})
        raise
    ctx.audit({"step": "render-deploy", "commit": sha, "result": "done", "render_deploy": deploy.get("id")})
    return deploy


def _wait(ctx: _Context) -> WaitOutcome:
    step = ctx.begin("wait")
    outcome = wait_for_commit(ctx.sha, api=ctx.api, health_url=ctx.opts.health_url,
                              timeout_s=ctx.opts.wait_timeout_s, poll_s=ctx.opts.poll_s, clock=ctx.clock,
                              sleep=ctx.sleep, on_wait=ctx.progress(step),
                              previous=_previous(ctx))
    ctx.end(step, "ok" if outcome.state == "live" else "failed", outcome.message, **outcome.to_dict())
    return outcome


def _failed_deploy(ctx: _Context, outcome: WaitOutcome) -> None:
    """The new commit never served: triage what its deploy logged (the build log tail), record it bad;
    nothing to roll back (the previous deploy keeps serving)."""
    logs: LogTriage | None = None
    step = ctx.begin("watch")
    if ctx.render_settings is not None and ctx.opts.log is None:
        deploy = outcome.deploy or {}
        start = (parse_time(deploy.get("createdAt")) or outcome.since) - timedelta(seconds=1)
        end = (parse_time(deploy.get("finishedAt")) or ctx.clock()) + timedelta(seconds=2)
        logs = triage_render_window(ctx.render_settings, start, end, config=ctx.config, rules=_rules(ctx),
                                    planner=_planner(ctx))
    elif ctx.opts.log is not None:
        from mosaic_diag.deploy.judge import triage_log_file

        logs = triage_log_file(ctx.opts.log, outcome.since, config=ctx.config, rules=_rules(ctx),
                               planner=_planner(ctx))
    ctx.report.labels = labels_of(logs)
    found = ", ".join(f"{e['label']} x{e['count']}" for e in ctx.report.labels[:5]) or "no error events"
    if logs is None:  # nothing was read: say so, not "no error events"
        ctx.end(step, "skipped", "no deploy logs to read (--log FILE or the Render service)", groups=[], log_tail=[])
    else:
        ctx.end(step, "failed", f"the deploy's logs: {found}", groups=logs.group_dicts(), log_tail=list(logs.tail))
    step = ctx.begin("verdict")
    reason = f"the deploy failed ({outcome.status}); the previous deploy keeps serving"
    _store(ctx, "bad", reason)
    ctx.end(step, "failed", f"BAD: {reason}; nothing rolled back (the new commit never served)")
    _playbooks(ctx, logs)
    ctx.finish("bad", reason, ExitCode.FINDINGS)


def _unjudged(ctx: _Context, outcome: WaitOutcome) -> None:
    """/health never reported a commit, before the push or after: its URL may be wrong as well as the
    app down, so nothing is judged (exit 3): the record stays pending, nothing is rolled back."""
    from mosaic_diag.platform.redact import redact_text

    step = ctx.begin("verdict")
    reason = (f"{redact_text(ctx.opts.health_url or '')} never reported a commit, before the push or after it "
              f"({outcome.message}): the deploy is not judged; check --health-url (or deploy.health_url)")
    _not_judged(ctx, step, reason)


def _not_judged(ctx: _Context, step: StepRecord, reason: str) -> None:
    """No verdict on the commit: recorded `unjudged` (never a rollback target), nothing rolled back, exit 3."""
    _store(ctx, "unjudged", reason)
    ctx.end(step, "failed", f"NOT JUDGED: {reason}; recorded unjudged (never a rollback target), nothing rolled back")
    ctx.finish("error", reason, ExitCode.UNREACHABLE)


def _timed_out(ctx: _Context, outcome: WaitOutcome) -> None:
    """The service did not run the commit within --wait-timeout (still building, or the app never came up):
    no verdict on the commit (it may yet serve): recorded `unjudged`, nothing rolled back, exit 3."""
    step = ctx.begin("verdict")
    reason = (f"{ctx.sha[:12]} was not seen serving within --wait-timeout ({outcome.message}): the deploy is not "
              f"judged; look at the service, then judge it with mosaic-diag rollback --auto or deploy again")
    _not_judged(ctx, step, reason)


def _superseded(ctx: _Context, why: str, step: StepRecord | None = None) -> None:
    """A newer deploy (someone else's) replaced the commit before it was judged (`why`): recorded `superseded`,
    never `bad` (nothing says it is), and nothing rolled back (that would undo the other deploy); exit 3."""
    step = step or ctx.begin("verdict")
    reason = f"{why}: {ctx.sha[:12]} is not judged and nothing is rolled back (it would undo that deploy)"
    _store(ctx, "superseded", why)
    ctx.end(step, "failed", f"SUPERSEDED: {reason}; recorded superseded (never a rollback target)")
    ctx.finish("superseded", reason, ExitCode.UNREACHABLE)


def _watch(ctx: _Context, outcome: WaitOutcome) -> Judgement:
    step = ctx.begin("watch")
    judgement = watch_and_judge(ctx.sha, outcome.since, ctx.opts, render_settings=ctx.render_settings,
                                config=ctx.config, rules=_rules(ctx), planner=_planner(ctx), clock=ctx.clock,
                                sleep=ctx.sleep, on_wait=ctx.progress(step), previous=_previous(ctx))
    if judgement.verdict == "superseded":
        ctx.end(step, "failed", judgement.reasons[0], **judgement.to_dict())
        return judgement
    ctx.report.labels = labels_of(judgement.logs)
    found = ", ".join(f"{e['label']} x{e['count']}" for e in ctx.report.labels[:5]) or "no error events"
    if judgement.logs is None:  # nothing was read: say so, not "no error events"
        found = "none read (give --log, or the Render service and key)"
    budget = judgement.reading.verdict() if judgement.reading is not None else "no error budget reading"
    ctx.end(step, "ok" if judgement.verdict == "good" else "failed", f"{budget}; logs: {found}",
            **judgement.to_dict())
    return judgement


def _resume_autodeploy(ctx: _Context) -> str:
    """With --resume-autodeploy, after a good verdict: Render's autodeploy back on when it was off
    (audited before and after); the words the verdict adds about it."""
    if ctx.api is None or ctx.autodeploy is not False:
        return ""
    if not ctx.opts.resume_autodeploy:
        return "; Render autodeploy stays OFF (--resume-autodeploy turns it back on after a good deploy)"
    ctx.audit({"step": "autodeploy-on", "service": ctx.render_settings.service_id, "result": "started"})
    try:
        ctx.api.set_autodeploy(True)
    except DiagError as exc:
        ctx.audit({"step": "autodeploy-on", "result": "failed", "error": str(exc)})
        return f"; Render autodeploy could NOT be turned back on ({exc})"
    ctx.audit({"step": "autodeploy-on", "result": "done"})
    ctx.autodeploy = True
    return "; Render autodeploy turned back on"


def _verdict(ctx: _Context, judgement: Judgement) -> None:
    step = ctx.begin("verdict")
    if judgement.verdict == "superseded":  # someone deployed during the watch: what was read is not ours alone
        _superseded(ctx, judgement.reasons[0], step)
        return
    if judgement.verdict == "unjudged":  # serving, but nothing read could judge it: never the last good deploy
        reason = "; ".join(judgement.reasons)
        _not_judged(ctx, step, reason)
        return
    if judgement.verdict == "good":
        rec = _store(ctx, "deployed", f"mosaic-diag deploy: good after a {ctx.opts.watch_s:g}s watch")
        ctx.end(step, "ok", f"GOOD: {ctx.sha[:12]} recorded as the last good deploy"
                + (f" (#{rec.id})" if rec is not None else "") + _resume_autodeploy(ctx))
        ctx.finish("good", "no error group at or above the fail severity and the error budget holds",
                   ExitCode.OK)
        return
    reason = "; ".join(judgement.reasons)
    if not ctx.opts.rollback:
        _store(ctx, "bad", reason)
    ctx.end(step, "failed", f"BAD: {reason}")
    if ctx.opts.rollback:
        _rollback(ctx, reason)
    else:
        skipped = ctx.begin("rollback")
        ctx.end(skipped, "skipped", "--no-rollback: the bad deploy stays; roll back with mosaic-diag rollback "
                "--previous")
    _playbooks(ctx, judgement.logs)
    ctx.finish("bad", reason, ExitCode.FINDINGS)


def _rollback(ctx: _Context, reason: str) -> None:
    from mosaic_diag.manifest import ManifestSettings
    from mosaic_diag.rollback import execute_rollback, plan_rollback

    step = ctx.begin("rollback")
    opts = ctx.opts
    ctx.report.rollback = {}
    try:
        plan = plan_rollback(ctx.root, previous=True, strategy=opts.strategy, remote=opts.remote,
                             branch=opts.branch, allow_schema_change=opts.allow_schema_change, judged_commit=ctx.sha,
                             store=ctx.store, render=ctx.target, settings=ManifestSettings.from_config(ctx.config),
                             env=ctx.env)
        ctx.report.rollback["plan"] = plan.to_dict()
        if not plan.ok or plan.nothing_to_do:
            why = "; ".join(r.message for r in plan.refusals) or "nothing to do: the target is what is deployed"
            _store(ctx, "bad", reason)
            ctx.end(step, "failed" if not plan.ok else "skipped", f"not rolled back: {why}")
            return
        result = execute_rollback(plan, audit_path=ctx.audit_path, store=ctx.store,
                                  reason=f"mosaic-diag deploy judged {ctx.sha[:12]} bad: {reason}")
    except DiagError as exc:  # judged bad all the same: recorded so, and the report goes on (playbooks)
        ctx.report.rollback["error"] = str(exc)
        _store(ctx, "bad", reason)
        ctx.end(step, "failed", f"the rollback failed: {exc}; {ctx.sha[:12]} still serves (roll back by hand: "
                "mosaic-diag rollback --previous)")
        return
    ctx.report.rollback["result"] = result.to_dict()
    serving = result.remote_sha if plan.strategy != "render-api" else plan.target_sha
    said = [result.message, *result.warnings]
    if serving and plan.strategy != "render-api" and ctx.api is not None and ctx.autodeploy is False:
        deploy = _render_deploy(ctx, serving)  # autodeploy is off: the pushed rollback deploys only on request
        said.append(f"asked Render to deploy {serving[:12]} (deploy {deploy.get('id')})")
    if serving:
        back = wait_for_commit(serving, api=ctx.api, health_url=opts.health_url, timeout_s=opts.wait_timeout_s,
                               poll_s=opts.poll_s, clock=ctx.clock, sleep=ctx.sleep, on_wait=ctx.progress(step))
        ctx.report.rollback["serving"] = back.to_dict()
        said.append(back.message if back.state == "live" else f"the rollback did not go live: {back.message}")
        ctx.end(step, "ok" if back.state == "live" else "failed",
                f"rolled back to {plan.target_sha[:12] if plan.target_sha else '?'}: " + "; ".join(said))
        return
    ctx.end(step, "ok", "; ".join(said))


def _playbooks(ctx: _Context, logs: LogTriage | None) -> None:
    """The runtime playbooks of the labels found: planned (dry run) or carried out with --execute-playbooks."""
    if logs is None or not logs.report.groups:
        return
    step = ctx.begin("playbooks")
    planned = [{"label": g.label, "playbook": g.playbook, "plan": g.plan} for g in logs.report.groups if g.playbook]
    if not planned:
        ctx.end(step, "skipped", "no playbook matches the labels found")
        return
    if not ctx.opts.execute_playbooks:
        names = ", ".join(dict.fromkeys(f"{p['playbook']} ({p['label']})" for p in planned))
        ctx.end(step, "planned", f"dry run (add --execute-playbooks to act): {names}", planned=planned)
        return
    from mosaic_diag.plans import group_facts, playbook_executor

    executor = playbook_executor(ctx.config.path("playbooks.dir"), ctx.config)
    done: list[dict[str, Any]] = []
    seen: set[str] = set()
    for group in logs.report.groups:
        if not group.playbook or group.playbook in seen:
            continue
        seen.add(group.playbook)
        playbook, outcomes = executor(group.label, group_facts(group))
        done.append({"label": group.label, "playbook": playbook, "outcomes": [dict(o) for o in outcomes]})
    ctx.end(step, "ok", f"carried out {len(done)} playbook(s): " + ", ".join(d["playbook"] for d in done),
            executed=done)


# -- helpers -----------------------------------------------------------------------------------------
def _previous(ctx: _Context) -> set[str]:
    """The commits that may serve until ours does (an old instance): the branch head and /health's before the push."""
    return {c for c in (ctx.remote_head, ctx.serving_before) if c}


def _store(ctx: _Context, status: str, note: str) -> Any:
    if ctx.store is None or ctx.manifest is None:
        return None
    return ctx.store.record(ctx.manifest, status=status, note=note[:500])


def _rules(ctx: _Context) -> Path | None:
    return ctx.config.path("rules")


def _planner(ctx: _Context) -> Any:
    from mosaic_diag.plans import playbook_planner

    return playbook_planner(ctx.config.path("playbooks.dir"), ctx.config)
