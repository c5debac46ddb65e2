"""`mosaic-diag deploy` on a real git repository with a bare remote, Render's API stand-in
(examples/render_standin.py: deploys move build_in_progress -> live, or fail, as they are read) and a
log the app "writes" while the deploy is watched (real psycopg2 failures, logged by `logging`).
The whole workflow against the local Render and the example app under uvicorn: test_deploy_e2e.py."""

from __future__ import annotations

import json
import logging
import socket
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from examples.loopback import SERVE
from mosaic_diag.config import load_config
from mosaic_diag.deploy import DeployOptions, run_deploy
from mosaic_diag.manifest.store import FileDeployStore
from tests.cli_inproc import run_cli as in_process
from tests.repo_cache import copied_repos
from tests.test_manifest_support import GIT_ENV, commit_all, git, render_standin, set_git_env, write

ROOT = Path(__file__).resolve().parent.parent
CONFIG = """[tool.mosaic-diag]
deploy_store = ".mosaic-diag/deploys.jsonl"
[tool.mosaic-diag.predeploy]
skip = ["settings", "database", "prompts"]
"""


class FakeClock:
    """Deadlines advance only when the workflow sleeps; `on_sleep` runs the app's side meanwhile."""

    def __init__(self) -> None:
        self.now = datetime.now(UTC)
        self.on_sleep = lambda: None
        self.slept = 0.0

    def __call__(self) -> datetime:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept += seconds
        self.now += timedelta(seconds=seconds)
        self.on_sleep()


_HELD: list[socket.socket] = []


def closed_port() -> int:
    """A loopback port that refuses every connection: bound by this process for its whole life and never
    listening (a port merely found free could be taken by another test's server meanwhile)."""
    if not _HELD:
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        _HELD.append(s)
    return _HELD[0].getsockname()[1]


def test_the_wait_ends_at_its_timeout_not_a_poll_interval_later() -> None:
    """`--wait-timeout 3s` with the default 10s poll: a /health that never answers is given up after 3s."""
    from mosaic_diag.deploy.wait import wait_for_commit

    clock = FakeClock()
    got = wait_for_commit("a" * 40, health_url=f"http://127.0.0.1:{closed_port()}/health", timeout_s=3.0,
                          poll_s=10.0, clock=clock, sleep=clock.sleep)
    assert got.state == "timeout" and "within 3s" in got.message
    assert clock.slept == 3.0


def app_log(path: Path, *, fail: bool) -> None:
    """What the app logs for one request: an access line, and with `fail` a real psycopg2 failure."""
    import psycopg2

    handler = logging.FileHandler(path)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    log = logging.getLogger(f"mosaic.deploytest.{path.name}")
    propagate, log.propagate = log.propagate, False
    log.addHandler(handler)
    try:
        if fail:
            try:
                psycopg2.connect(host="127.0.0.1", port=closed_port(), dbname="mosaic", user="app",
                                 password="pw", connect_timeout=3)
            except psycopg2.OperationalError:
                log.exception("database unavailable while loading the user's session")
    finally:
        log.removeHandler(handler)
        log.propagate = propagate
        handler.close()


def _build_project(root: Path) -> str:
    """The bare remote and the work tree of `project`, its one commit pushed; that commit."""
    remote, work = root / "remote.git", root / "work"
    git(root, "init", "-q", "--bare", "-b", "main", str(remote))
    git(root, "init", "-q", "-b", "main", str(work))
    write(work, "pyproject.toml", CONFIG)
    write(work, ".gitignore", ".mosaic-diag/\napp.log\n")
    write(work, "app/main.py", "VERSION = 1\n")
    first = commit_all(work, "first")
    git(work, "remote", "add", "origin", str(remote))
    git(work, "push", "-q", "origin", "main")
    return first


@pytest.fixture
def project(tmp_path, monkeypatch):
    set_git_env(monkeypatch)
    for name in ("DATABASE_URL", "RENDER_API_KEY", "RENDER_SERVICE_ID", "RENDER_OWNER_ID"):
        monkeypatch.delenv(name, raising=False)
    remote, work = tmp_path / "remote.git", tmp_path / "work"
    first = copied_repos(tmp_path, "test_deploy.project", _build_project)  # (git once a process: repo_cache.py)
    render = render_standin(autodeploy=False, progress=("build_in_progress", "live"))
    render.add_deploy(first, "live")
    monkeypatch.setenv("RENDER_API_KEY", render.api_key)
    monkeypatch.setenv("RENDER_SERVICE_ID", render.service_id)
    monkeypatch.setenv("MOSAIC_DIAG_RENDER_API_URL", render.base_url)
    store = FileDeployStore(work / ".mosaic-diag" / "deploys.jsonl")
    from mosaic_diag.manifest import generate_manifest

    store.record(generate_manifest(work, first, python_version="3.11.7"), status="deployed", note="first deploy")
    yield work, remote, render, first
    render.stop()


def deploy(work: Path, clock: FakeClock, **kw) -> object:
    import os

    opts = DeployOptions(**{"watch_s": 30.0, "poll_s": 5.0, "wait_timeout_s": 120.0, "log": work / "app.log",
                            "min_requests": 1, **kw})
    return run_deploy(work, os.environ, opts, config=load_config(work, os.environ), clock=clock, sleep=clock.sleep)


def change(work: Path, version: str, message: str) -> str:
    """A new commit of the app (and an empty app.log for the watch to read)."""
    (work / "app.log").touch()
    write(work, "app/main.py", f"VERSION = {version}\n")
    return commit_all(work, message)


def remote_head(work: Path, remote: Path) -> str:
    return git(work, "ls-remote", str(remote), "refs/heads/main").split()[0]


def audit_lines(work: Path) -> list[dict]:
    path = work / ".mosaic-diag" / "audit.log"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def test_a_good_deploy_is_pushed_waited_for_watched_and_recorded_good(project):
    work, remote, render, first = project
    second = change(work, "2", "second")
    clock = FakeClock()
    clock.on_sleep = lambda: app_log(work / "app.log", fail=False)
    report = deploy(work, clock)
    assert report.exit_code == 0 and report.verdict == "good", report.to_dict()
    assert [s.name for s in report.steps] == ["preflight", "predeploy", "record", "push", "wait", "watch", "verdict"]
    assert all(s.status == "ok" for s in report.steps), [s.to_dict() for s in report.steps]
    assert remote_head(work, remote) == second
    assert ("POST", f"/v1/services/{render.service_id}/deploys") in render.calls()  # autodeploy off: asked
    assert render.deploys[0]["commit"]["id"] == second and render.deploys[0]["status"] == "live"
    history = FileDeployStore(work / ".mosaic-diag" / "deploys.jsonl").history()
    assert [(r.commit, r.status) for r in history[:2]] == [(second, "deployed"), (second, "pending")]
    steps = [(a["step"], a["result"]) for a in audit_lines(work) if a.get("action") == "deploy"]
    assert steps[:2] == [("push", "started"), ("push", "done")]
    assert clock.slept >= 30  # watched the whole window
    # autodeploy was off and --resume-autodeploy was not given: it stays off, and the verdict says so
    assert "autodeploy stays OFF" in report.steps[-1].message
    assert not [c for c in render.calls() if c[0] == "PATCH"]


def _lose_the_audit_log_while_pushing(work: Path) -> None:
    """A local pre-push hook that replaces the audit log by a link (a real OSError from the audit writer for every
    record after the push's intent), keeping what it held in audit.kept."""
    hook = work / ".git" / "hooks" / "pre-push"
    hook.write_text("#!/bin/sh\nmv .mosaic-diag/audit.log .mosaic-diag/audit.kept && "
                    "ln -s audit.kept .mosaic-diag/audit.log\n")
    hook.chmod(0o755)


def test_an_audit_log_lost_after_the_push_is_a_warning_and_the_deploy_goes_on(project):
    """The push's result cannot be audited: the push happened, so it is a warning and the deploy is waited for,
    judged and recorded. It was `audit log ... cannot be written: nothing was done`, exit 2, with the commit on the
    remote, unjudged and pending."""
    work, remote, render, first = project
    render.autodeploy = True  # (Render deploys the push itself: no later intent to audit)
    second = change(work, "2", "second")
    _lose_the_audit_log_while_pushing(work)
    clock = FakeClock()

    def serve() -> None:
        if not any(d["commit"]["id"] == second for d in render.deploys):
            render.add_deploy(second, "live")
        app_log(work / "app.log", fail=False)

    clock.on_sleep = serve
    report = deploy(work, clock)
    assert remote_head(work, remote) == second
    assert report.exit_code == 0 and report.verdict == "good", report.to_dict()
    assert [s.status for s in report.steps if s.name == "push"] == ["ok"]
    assert any("push step's result (done) could not be written" in w and "symlink" in w for w in report.warnings), \
        report.warnings
    kept = [json.loads(line) for line in (work / ".mosaic-diag" / "audit.kept").read_text().splitlines()]
    assert [(a["step"], a["result"]) for a in kept] == [("push", "started")]
    history = FileDeployStore(work / ".mosaic-diag" / "deploys.jsonl").history()
    assert (history[0].commit, history[0].status) == (second, "deployed")


def test_an_intent_not_audited_after_the_push_says_the_push_landed(project):
    """Autodeploy off: Render's deploy of the pushed commit is not asked for when its intent cannot be audited, and
    the error says the push landed (it said `nothing was done`)."""
    work, remote, render, first = project
    second = change(work, "2", "second")
    _lose_the_audit_log_while_pushing(work)
    report = deploy(work, FakeClock())
    assert remote_head(work, remote) == second
    assert report.exit_code == 2 and report.verdict == "error", report.to_dict()
    assert "the render-deploy step was not done" in report.reason and "nothing was done" not in report.reason
    assert f"{second[:12]} was pushed to origin main before it" in report.reason
    assert not any(d["commit"]["id"] == second for d in render.deploys)


def test_a_bad_deploy_is_rolled_back_to_the_last_good_one(project):
    work, remote, render, first = project
    bad = change(work, "'broken'", "break the database code")
    clock = FakeClock()
    clock.on_sleep = lambda: app_log(work / "app.log", fail=True)
    report = deploy(work, clock)
    data = report.to_dict()
    assert report.exit_code == 1 and report.verdict == "bad", data
    assert [s.name for s in report.steps][-3:] == ["verdict", "rollback", "playbooks"]
    labels = [e["label"] for e in data["labels"]]
    assert labels and labels[0].startswith("PG_"), data["labels"]
    assert "error group(s) at or above high" in report.reason
    rollback = next(s for s in report.steps if s.name == "rollback")
    assert rollback.status == "ok", rollback.to_dict()
    head = remote_head(work, remote)
    assert head not in (bad, first)  # a revert commit on top: history kept, never forced
    assert git(work, "rev-parse", f"{head}^{{tree}}") == git(work, "rev-parse", f"{first}^{{tree}}")
    assert git(work, "rev-parse", f"{head}^") == bad
    assert render.deploys[0]["commit"]["id"] == head and render.deploys[0]["status"] == "live"
    assert data["rollback"]["serving"]["state"] == "live"
    statuses = [(r.commit, r.status) for r in FileDeployStore(work / ".mosaic-diag" / "deploys.jsonl").history()]
    assert (bad, "bad") in statuses and (head, "rollback") in statuses and (bad, "deployed") not in statuses
    playbooks = next(s for s in report.steps if s.name == "playbooks")
    assert playbooks.status == "planned" and playbooks.details["planned"]
    actions = [(a.get("action"), a.get("result")) for a in audit_lines(work)]
    assert ("rollback", "started") in actions and ("rollback", "done") in actions
    assert actions.index(("rollback", "started")) < actions.index(("rollback", "done"))


def test_no_rollback_records_bad_and_leaves_the_branch(project):
    work, remote, render, first = project
    bad = change(work, "'broken'", "break it")
    clock = FakeClock()
    clock.on_sleep = lambda: app_log(work / "app.log", fail=True)
    report = deploy(work, clock, rollback=False)
    assert report.exit_code == 1 and report.verdict == "bad"
    assert next(s for s in report.steps if s.name == "rollback").status == "skipped"
    assert remote_head(work, remote) == bad
    history = FileDeployStore(work / ".mosaic-diag" / "deploys.jsonl").history()
    assert (history[0].commit, history[0].status) == (bad, "bad")


def test_a_failed_build_is_bad_and_nothing_is_rolled_back(project):
    work, remote, render, first = project
    render.progress = ("build_in_progress", "build_failed")
    broken = change(work, "5", "a build Render cannot finish")
    clock = FakeClock()
    report = deploy(work, clock)
    assert report.exit_code == 1 and report.verdict == "bad"
    wait = next(s for s in report.steps if s.name == "wait")
    assert wait.status == "failed" and "build_failed" in wait.message
    assert "rollback" not in [s.name for s in report.steps]
    assert "previous deploy keeps serving" in report.reason
    assert remote_head(work, remote) == broken
    history = FileDeployStore(work / ".mosaic-diag" / "deploys.jsonl").history()
    assert (history[0].commit, history[0].status) == (broken, "bad")


def test_blocked_before_the_push(project, tmp_path):
    work, remote, render, first = project
    write(work, "app/main.py", "VERSION = 3\n")
    commit_all(work, "third")
    write(work, "app/main.py", "VERSION = 'uncommitted'\n")
    report = deploy(work, FakeClock())
    assert (report.verdict, report.exit_code) == ("blocked", 1) and "uncommitted" in report.reason
    git(work, "checkout", "--", "app/main.py")
    write(work, "app/main.py", "VERSION = (\n")
    commit_all(work, "a syntax error")
    report = deploy(work, FakeClock())
    assert (report.verdict, report.exit_code) == ("blocked", 1) and "predeploy failed" in report.reason
    predeploy = next(s for s in report.steps if s.name == "predeploy")
    assert predeploy.status == "failed" and "app/main.py" in json.dumps(predeploy.details["failing"])
    git(work, "reset", "-q", "--hard", "HEAD~1")
    git(work, "checkout", "-q", "-b", "feature-x")
    report = deploy(work, FakeClock())
    assert (report.verdict, report.exit_code) == ("blocked", 1)
    assert "'feature-x', not the deploy branch" in report.reason
    git(work, "checkout", "-q", "main")
    other = tmp_path / "other"
    git(tmp_path, "clone", "-q", str(remote), str(other))
    write(other, "README", "someone else\n")
    commit_all(other, "someone pushed")
    git(other, "push", "-q", "origin", "main")
    report = deploy(work, FakeClock())
    assert (report.verdict, report.exit_code) == ("blocked", 1) and "fast-forward" in report.reason
    assert remote_head(work, remote) == git(other, "rev-parse", "HEAD")
    assert not [a for a in audit_lines(work) if a.get("step") == "push"]


def test_untracked_files_warn_but_do_not_block_and_tracked_changes_still_do(project):
    """Render builds the pushed commit: an untracked file is not deployed, so it blocks nothing (as in rollback);
    one git does not ignore may be a forgotten `git add`, so one warning line counts and names them. A change to
    a tracked file (staged or not) still blocks; an ignored file (app.log) is not named."""
    work, remote, render, first = project
    second = change(work, "2", "second")
    write(work, "app/helpers.py", "def helper() -> int:\n    return 1\n")  # forgotten: never added
    write(work, "notes.txt", "todo\n")
    api = {"MOSAIC_DIAG_RENDER_API_URL": render.base_url}
    r = run_cli(work, "--dry-run", **api)
    assert r.returncode == 0 and "verdict: DRY-RUN" in r.stdout, r.stdout + r.stderr
    assert r.stderr == ("mosaic-diag: warning: 2 untracked file(s) not deployed (app/helpers.py, notes.txt): Render "
                        "builds the pushed commit; git add and commit them if the app needs them, or list them in "
                        ".gitignore\n"), r.stderr
    assert "[preflight] ok" in r.stdout
    r = run_cli(work, "--dry-run", "--format", "json", **api)
    data = json.loads(r.stdout)
    assert data["warnings"] == [r.stderr.removeprefix("mosaic-diag: warning: ").rstrip("\n")]
    assert data["steps"][0]["details"]["untracked"] == ["app/helpers.py", "notes.txt"]
    warned: list[str] = []
    clock = FakeClock()
    clock.on_sleep = lambda: app_log(work / "app.log", fail=False)
    report = run_deploy(work, __import__("os").environ, DeployOptions(watch_s=30.0, poll_s=5.0, wait_timeout_s=120.0,
                                                                       log=work / "app.log", min_requests=1),
                        config=load_config(work, __import__("os").environ), clock=clock, sleep=clock.sleep,
                        on_warning=warned.append)
    assert (report.verdict, report.exit_code) == ("good", 0), report.to_dict()
    assert remote_head(work, remote) == second and warned == report.warnings and len(warned) == 1
    assert git(work, "ls-tree", "-r", "--name-only", second).split() == [".gitignore", "app/main.py",
                                                                         "pyproject.toml"]
    write(work, "app/main.py", "VERSION = 'edited'\n")  # a tracked change blocks, untracked files beside it
    git(work, "add", "app/main.py")  # (staged: still not in the commit)
    r = run_cli(work, "--dry-run", "--format", "json", **api)
    data = json.loads(r.stdout)
    assert r.returncode == 1 and data["verdict"] == "blocked" and data["warnings"] == [], r.stdout
    assert data["reason"] == ("the working tree has 1 uncommitted change(s) to tracked files (app/main.py): they "
                              "would not be deployed; commit or stash them first")
    assert data["steps"][0]["details"]["paths"] == ["app/main.py"] and r.stderr == ""


def run_cli(work: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    import os

    full = {k: v for k, v in os.environ.items() if not k.startswith("MOSAIC_DIAG_")}
    full.update(GIT_ENV, PYTHONPATH=str(ROOT), **env)
    return in_process(["deploy", *args], cwd=work, env=full, replace_env=True)  # (tests/cli_inproc.py)


def test_a_committed_submodule_path_cannot_forge_a_line_of_the_deploy(project):
    """A submodule's path is the repository's text, named in the warning that its content was not filled: its line
    breaks wrote lines of their own ('mosaic-diag: warning: all clear', '[predeploy] ok: ...'). Each step, warning
    and verdict is one line, its breaks written `\\n`."""
    work, remote, render, first = project
    forged = "sub\nmosaic-diag: warning: all clear\n[predeploy] ok: 40 checks passed"
    git(work, "update-index", "--add", "--cacheinfo", f"160000,{first},{forged}")
    (work / forged).mkdir()  # (an uninitialized submodule's empty directory: the tree is clean)
    write(work, "app/main.py", "VERSION = (\n")  # a syntax error: the predeploy blocks, nothing is pushed
    commit_all(work, "a submodule and a syntax error")
    r = run_cli(work, MOSAIC_DIAG_RENDER_API_URL=render.base_url)
    assert r.returncode == 1 and "verdict: BLOCKED" in r.stdout, r.stdout + r.stderr
    warnings = [line for line in r.stderr.splitlines() if line.startswith("mosaic-diag: warning: ")]
    assert warnings == [f"mosaic-diag: warning: submodule {forged.encode('unicode_escape').decode()} (at "
                        f"{first[:12]}) is not initialized in {work}: the checks ran without its content (git "
                        "submodule update --init, then deploy again)"], r.stderr
    assert not [line for line in r.stdout.splitlines() if line.startswith("[predeploy] ok")], r.stdout
    assert remote_head(work, remote) == first


def test_cli_dry_run_touches_nothing_and_api_down_is_exit_3(project):
    work, remote, render, first = project
    write(work, "app/main.py", "VERSION = 4\n")
    fourth = commit_all(work, "fourth")
    api = {"MOSAIC_DIAG_RENDER_API_URL": render.base_url}
    r = run_cli(work, "--dry-run", "--resume-autodeploy", **api)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "[push] plan: git push origin main" in r.stdout and "verdict: DRY-RUN" in r.stdout
    assert "good: Render autodeploy turned back on" in r.stdout
    assert not [c for c in render.calls() if c[0] == "PATCH"]
    assert remote_head(work, remote) == first
    assert len(FileDeployStore(work / ".mosaic-diag" / "deploys.jsonl").history()) == 1
    down = {"MOSAIC_DIAG_RENDER_API_URL": f"http://127.0.0.1:{closed_port()}"}
    r = run_cli(work, "--format", "json", "--skip", "lint,manifest,config", **down)
    assert r.returncode == 3, r.stdout + r.stderr
    data = json.loads(r.stdout)
    assert data["verdict"] == "error" and "unreachable" in data["reason"]
    assert [s["step"] for s in data["steps"]] == ["preflight"]
    assert remote_head(work, remote) == first != fourth
    assert render.api_key not in r.stdout + r.stderr
    r = run_cli(work, "--watch", "soon", **api)
    assert r.returncode == 2 and r.stderr.count("\n") == 1 and "--watch" in r.stderr
    r = run_cli(work, RENDER_SERVICE_ID="", RENDER_API_KEY="")
    assert r.returncode == 2 and "--health-url" in r.stderr and "Traceback" not in r.stderr


def test_a_shallow_ci_checkout_is_a_fast_forward_not_blocked(project, tmp_path):
    """A CI job's checkout of the commit to deploy is shallow (actions/checkout's `fetch-depth: 1`, detached): its
    history stops at the commit itself, so the remote head, its parent, was not found in it and the deploy was
    blocked as 'not a fast-forward; pull or rebase first', a push git would take. The clone's history is fetched
    whole (said in the preflight's line) and the push is judged as in a full clone."""
    work, remote, render, first = project
    second = change(work, "2", "second")
    git(work, "push", "-q", "origin", "main:refs/heads/ci-build")
    ci = tmp_path / "ci"
    git(tmp_path, "clone", "-q", "--depth", "1", "--branch", "ci-build", f"file://{remote}", str(ci))
    git(ci, "checkout", "-q", "--detach")
    r = run_cli(ci, "--dry-run", MOSAIC_DIAG_RENDER_API_URL=render.base_url)
    assert r.returncode == 0, r.stdout + r.stderr
    assert (f"[preflight] ok: origin/main at {first[:12]}; this clone was shallow: its whole history was fetched "
            "(git fetch --unshallow); 1 new commit(s);") in r.stdout
    assert f"[push] plan: git push origin main ({second[:12]}, a fast-forward; never forced)" in r.stdout
    assert remote_head(work, remote) == first


def test_an_empty_audit_log_setting_is_one_line_before_any_step(project):
    """`MOSAIC_DIAG_AUDIT_LOG=""` (or `audit_log = ""`): the push is audited before it runs and has nowhere to be:
    one line, exit 2, before any step: nothing recorded, nothing pushed (it was a traceback at the push, after a
    pending record was written); a dry run audits nothing and still runs."""
    work, remote, render, first = project
    second = change(work, "2", "second")
    api = {"MOSAIC_DIAG_RENDER_API_URL": render.base_url}
    skip = "lint,manifest,config,settings,database,prompts"  # (the predeploy checks pass: it gets to the push)
    r = run_cli(work, "--skip", skip, MOSAIC_DIAG_AUDIT_LOG="", **api)
    assert r.returncode == 2 and r.stdout == "", r.stdout + r.stderr
    assert r.stderr == ("mosaic-diag: error: MOSAIC_DIAG_AUDIT_LOG (audit_log) is empty: a rollback or a deploy "
                        "writes its audit log there before it acts; give a file (default .mosaic-diag/audit.log) "
                        "or leave the setting out\n")
    assert remote_head(work, remote) == first != second and audit_lines(work) == []
    assert len(FileDeployStore(work / ".mosaic-diag" / "deploys.jsonl").history()) == 1
    r = run_cli(work, "--dry-run", MOSAIC_DIAG_AUDIT_LOG="", **api)
    assert r.returncode == 0 and "verdict: DRY-RUN" in r.stdout, r.stdout + r.stderr


class HealthServer:
    """An app's plain /health (no runtime-kit metrics) reporting `commit`."""

    def __init__(self) -> None:
        import threading
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

        self.commit = "0" * 40
        self.metrics: dict | None = None  # the runtime kit's error budget, when set
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def do_GET(self) -> None:  # noqa: N802 - http.server's name
                page = {"status": "ok", "deployment": {"git_commit_full": owner.commit}}
                if owner.metrics is not None:
                    page["metrics"] = owner.metrics
                body = json.dumps(page).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/health"
        threading.Thread(target=self.server.serve_forever, kwargs=SERVE, daemon=True).start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def test_health_only_deploys_judge_by_the_logs_and_a_commit_that_never_serves_times_out(project, monkeypatch):
    work, remote, render, first = project
    for name in ("RENDER_API_KEY", "RENDER_SERVICE_ID"):
        monkeypatch.delenv(name)
    health = HealthServer()
    try:
        (work / "app.log").touch()
        write(work, "app/main.py", "VERSION = 6\n")
        sixth = commit_all(work, "sixth")
        health.commit = sixth  # the platform deployed it on the push
        clock = FakeClock()
        clock.on_sleep = lambda: app_log(work / "app.log", fail=False)
        report = deploy(work, clock, health_url=health.url)
        assert (report.verdict, report.exit_code) == ("good", 0), report.to_dict()
        watch = next(s for s in report.steps if s.name == "watch")
        assert any("no error budget from /health" in n for n in watch.details["notes"])
        assert clock.slept >= 30  # the whole window, judged by the log
        write(work, "app/main.py", "VERSION = 7\n")
        seventh = commit_all(work, "seventh")
        clock = FakeClock()
        report = deploy(work, clock, health_url=health.url, wait_timeout_s=20.0)  # /health keeps the sixth
        # timed out: no verdict on the seventh (still building? never came up?): not judged, exit 3, never "bad"
        assert (report.verdict, report.exit_code) == ("error", 3), report.to_dict()
        wait = next(s for s in report.steps if s.name == "wait")
        assert wait.status == "failed" and "did not report" in wait.message and sixth[:12] in wait.message
        assert "not seen serving within --wait-timeout" in report.reason
        assert "rollback" not in [s.name for s in report.steps] and remote_head(work, remote) == seventh
        history = FileDeployStore(work / ".mosaic-diag" / "deploys.jsonl").history()
        assert (history[0].commit, history[0].status) == (seventh, "unjudged")
        # without a log or the Render service only /health's error budget can judge: a /health without it (not the
        # runtime kit's) is exit 2 before anything is pushed (such a deploy was judged good on nothing)
        write(work, "app/main.py", "VERSION = 8\n")
        eighth = commit_all(work, "eighth")
        health.commit = eighth
        report = deploy(work, FakeClock(), health_url=health.url, log=None)
        assert (report.verdict, report.exit_code) == ("error", 2), report.to_dict()
        assert "nothing could judge the new deploy" in report.reason and "--log" in report.reason
        assert [s.name for s in report.steps] == ["preflight"] and remote_head(work, remote) == seventh
        # with the runtime kit's budget it is judged by it, and the watch says no log was read
        health.metrics = {"error_rate": 0.0, "requests_total": 50}
        report = deploy(work, FakeClock(), health_url=health.url, log=None)
        assert (report.verdict, report.exit_code) == ("good", 0), report.to_dict()
        watch = next(s for s in report.steps if s.name == "watch")
        assert "logs: none read (give --log, or the Render service and key)" in watch.message, watch.message
        assert "no error events" not in watch.message
        # the new commit serves a /health without the budget: nothing judged it, never the last good deploy
        write(work, "app/main.py", "VERSION = 9\n")
        ninth = commit_all(work, "ninth")
        clock = FakeClock()
        clock.on_sleep = lambda: (setattr(health, "metrics", None), setattr(health, "commit", ninth))
        report = deploy(work, clock, health_url=health.url, log=None)
        assert (report.verdict, report.exit_code) == ("error", 3), report.to_dict()
        assert "nothing judged the deploy" in report.reason
        history = FileDeployStore(work / ".mosaic-diag" / "deploys.jsonl").history()
        assert (history[0].commit, history[0].status) == (ninth, "unjudged")
    finally:
        health.stop()


def test_a_deploy_replaced_by_a_newer_one_before_it_is_judged_is_superseded_not_bad(project, monkeypatch, tmp_path):
    """Someone pushes from another clone (and the platform deploys it) after our push, before /health reported
    our commit: ours is recorded superseded, never bad; nothing is rolled back (that would undo their deploy),
    exit 3. `rollback --previous` still goes to the last good deploy, and the superseded commit is no refused
    target (it was never judged)."""
    from mosaic_diag.rollback import plan_rollback

    work, remote, render, first = project
    for name in ("RENDER_API_KEY", "RENDER_SERVICE_ID"):
        monkeypatch.delenv(name)
    health = HealthServer()
    health.commit = first
    theirs: list[str] = []

    def someone_else_deploys() -> None:
        if theirs:
            return
        theirs.append(_push_theirs(tmp_path, remote))
        health.commit = theirs[0]

    try:
        second = change(work, "2", "second")
        clock = FakeClock()
        clock.on_sleep = someone_else_deploys
        report = deploy(work, clock, health_url=health.url)
    finally:
        health.stop()
    assert (report.verdict, report.exit_code) == ("superseded", 3), report.to_dict()
    assert [s.name for s in report.steps][-2:] == ["wait", "verdict"]  # no watch, no rollback
    assert f"reports {theirs[0][:12]}, neither {second[:12]}" in report.reason
    assert "nothing is rolled back" in report.reason
    assert remote_head(work, remote) == theirs[0]
    store = FileDeployStore(work / ".mosaic-diag" / "deploys.jsonl")
    assert [(r.commit, r.status) for r in store.history()[:2]] == [(second, "superseded"), (second, "pending")]
    assert not any(a.get("action") == "rollback" for a in audit_lines(work))
    plan = plan_rollback(work, previous=True, store=store)
    assert plan.ok and plan.target_sha == first, plan.describe()
    plan = plan_rollback(work, second, store=store)
    assert plan.ok and plan.target_sha == second, plan.describe()  # not refused as recorded_bad
    # replaced during the watch: what /health and the log say from then on is theirs, not ours to be judged by
    git(work, "merge", "-q", "--ff-only", theirs[0])
    fourth = change(work, "4", "fourth")
    health = HealthServer()
    health.commit, health.metrics = fourth, {"error_rate": 0.0, "requests_total": 50}

    def theirs_fail_during_our_watch() -> None:
        if len(theirs) > 1:
            return
        other = tmp_path / "other"  # (their clone, from the first push)
        git(other, "pull", "-q", "--ff-only", "origin", "main")
        write(other, "app/main.py", "VERSION = 50\n")
        theirs.append(commit_all(other, "theirs again, failing"))
        git(other, "push", "-q", "origin", "main")
        health.commit, health.metrics = theirs[1], {"error_rate": 0.9, "requests_total": 50}
        app_log(work / "app.log", fail=True)

    try:
        clock = FakeClock()
        clock.on_sleep = theirs_fail_during_our_watch
        report = deploy(work, clock, health_url=health.url)
    finally:
        health.stop()
    assert (report.verdict, report.exit_code) == ("superseded", 3), report.to_dict()
    assert [s.name for s in report.steps][-3:] == ["wait", "watch", "verdict"]
    assert f"reports {theirs[1][:12]}, neither {fourth[:12]}" in report.steps[-2].message
    assert "during the watch" in report.reason and remote_head(work, remote) == theirs[1]
    assert [(r.commit, r.status) for r in store.history()[:2]] == [(fourth, "superseded"), (fourth, "pending")]
    assert not any(a.get("action") == "rollback" for a in audit_lines(work))


def _push_theirs(tmp_path: Path, remote: Path) -> str:
    """Someone else's commit pushed on top of ours, from a clone of their own: its sha."""
    other = tmp_path / "other"
    git(tmp_path, "clone", "-q", str(remote), str(other))
    write(other, "app/main.py", "VERSION = 30\n")
    sha = commit_all(other, "theirs, on top of ours")
    git(other, "push", "-q", "origin", "main")
    return sha


@pytest.mark.parametrize("how", ["canceled", "deactivated"])
def test_a_render_deploy_overtaken_by_a_newer_one_is_superseded_not_bad(project, tmp_path, how):
    """Render cancels our build for a newer deploy (someone pushed after us), or deactivates ours when theirs goes
    live: recorded superseded, never bad, nothing rolled back (Render is asked for no rollback), exit 3. The
    connection of the poll that sees it is closed with no answer first (as a loaded run once had it: that ended the
    deploy "unreachable", ('error', 3)): the poll is asked again."""
    work, remote, render, first = project
    second = change(work, "2", "second")
    theirs: list[str] = []

    def overtaken() -> None:
        if theirs:
            return
        theirs.append(_push_theirs(tmp_path, remote))
        ours = next(d for d in render.deploys if d["commit"]["id"] == second)
        render.set_status(ours["id"], "canceled" if how == "canceled" else "live")
        render.add_deploy(theirs[0], "build_in_progress" if how == "canceled" else "live")
        render.hang_up("GET", "/deploys")

    clock = FakeClock()
    clock.on_sleep = overtaken
    report = deploy(work, clock)
    assert (report.verdict, report.exit_code) == ("superseded", 3), json.dumps(report.to_dict(), default=str)[-3000:]
    wait = next(s for s in report.steps if s.name == "wait")
    assert wait.details["state"] == "superseded" and wait.details["render_status"] == how, wait.to_dict()
    said = f"newer deploy (of {theirs[0][:12]})" if how == "canceled" else "replaced by a newer deploy"
    assert said in wait.message, wait.message
    assert [s.name for s in report.steps][-2:] == ["wait", "verdict"]
    history = FileDeployStore(work / ".mosaic-diag" / "deploys.jsonl").history()
    assert (history[0].commit, history[0].status) == (second, "superseded")
    assert not any(path.endswith("/rollback") for _, path in render.calls())
    assert remote_head(work, remote) == theirs[0]
    assert [p for _, p in render.calls()][-2:] == [f"/v1/services/{render.service_id}/deploys"] * 2  # asked again


def test_a_health_url_that_never_answers_is_not_judged_but_one_that_answered_before_is(project, monkeypatch):
    """A wrong --health-url (a closed port: nothing ever answers) must not judge a deploy bad and roll it back:
    exit 3, recorded unjudged. A /health that answered before the push and not after: not judged either (the
    wait timed out: a slow start or a dead app), exit 3, never recorded bad."""
    work, remote, render, first = project
    for name in ("RENDER_API_KEY", "RENDER_SERVICE_ID"):
        monkeypatch.delenv(name)
    ninth = change(work, "9", "ninth")
    wrong = f"http://127.0.0.1:{closed_port()}/health"
    report = deploy(work, FakeClock(), health_url=wrong, wait_timeout_s=20.0)
    assert (report.verdict, report.exit_code) == ("error", 3), json.dumps(report.to_dict())[:3000]
    assert [s.name for s in report.steps][-2:] == ["wait", "verdict"]
    preflight = report.steps[0]
    assert "/health:" in preflight.message and "may be down" in preflight.message
    assert "never reported a commit" in report.reason and "--health-url" in report.reason
    history = FileDeployStore(work / ".mosaic-diag" / "deploys.jsonl").history()
    assert (history[0].commit, history[0].status) == (ninth, "unjudged")
    assert remote_head(work, remote) == ninth  # pushed (nothing said it was wrong before), not rolled back
    health = HealthServer()
    try:
        health.commit = ninth
        tenth = change(work, "10", "tenth")
        clock = FakeClock()
        clock.on_sleep = health.stop  # it served the ninth before the push and never answers after it
        report = deploy(work, clock, health_url=health.url, wait_timeout_s=20.0, rollback=False)
        assert (report.verdict, report.exit_code) == ("error", 3), report.to_dict()
        assert f"/health reports {ninth[:12]}" in report.steps[0].message
        history = FileDeployStore(work / ".mosaic-diag" / "deploys.jsonl").history()
        assert (history[0].commit, history[0].status) == (tenth, "unjudged")
    finally:
        if health.server.socket.fileno() != -1:
            health.stop()
    health = HealthServer()  # up and answering 200, but with no commit: not "the app may be down"
    try:
        health.commit = None
        report = deploy(work, FakeClock(), health_url=health.url, dry_run=True)
        preflight = report.steps[0]
        assert "200 without deployment.git_commit_full (not the runtime kit's /health?" in preflight.message
        assert "may be down" not in preflight.message
    finally:
        health.stop()


def test_ctrl_c_while_watching_reports_how_far_it_got(project):
    work, remote, render, first = project
    eighth = change(work, "8", "eighth")
    clock = FakeClock()

    def interrupt() -> None:
        raise KeyboardInterrupt

    clock.on_sleep = interrupt
    report = deploy(work, clock)
    assert (report.verdict, report.exit_code) == ("error", 130)
    assert report.steps[-1].status == "failed" and report.steps[-1].message == "interrupted"
    assert report.reason.startswith("interrupted during wait")  # stopped while Render built it
    history = FileDeployStore(work / ".mosaic-diag" / "deploys.jsonl").history()
    assert (history[0].commit, history[0].status) == (eighth, "pending")


def test_a_zero_poll_interval_in_the_config_names_its_file_and_line(project):
    """`deploy.poll_interval = "0s"` in the config file was refused as '--poll-interval must be positive': a flag the
    operator never gave, the file and line that set it not named. Now the file and line (or the variable)."""
    work, remote, render, first = project
    write(work, "pyproject.toml", CONFIG + '[tool.mosaic-diag.deploy]\npoll_interval = "0s"\n')
    r = run_cli(work, "--dry-run", MOSAIC_DIAG_RENDER_API_URL=render.base_url)
    assert r.returncode == 2 and r.stdout == "", r.stdout + r.stderr
    assert r.stderr == (f"mosaic-diag: error: {work / 'pyproject.toml'}:6: deploy.poll_interval must be a positive "
                        "duration, got '0s'\n")
    write(work, "pyproject.toml", CONFIG)
    r = run_cli(work, "--dry-run", MOSAIC_DIAG_RENDER_API_URL=render.base_url, MOSAIC_DIAG_DEPLOY_POLL_INTERVAL="0m")
    assert r.returncode == 2 and r.stderr == ("mosaic-diag: error: MOSAIC_DIAG_DEPLOY_POLL_INTERVAL "
                                              "(deploy.poll_interval) must be a positive duration, got '0m'\n")
    r = run_cli(work, "--dry-run", "--poll-interval", "0s", MOSAIC_DIAG_RENDER_API_URL=render.base_url)
    assert r.returncode == 2 and r.stderr == "mosaic-diag: error: --poll-interval must be positive\n"


def test_a_dry_run_refuses_the_settings_of_the_wrong_type_the_real_run_refuses(project):
    """`deploy --dry-run` passed with `audit_log = 5` or `deploy_store = {a = 1}`, which the real deploy then refused
    (exit 2): the dry run promised a deploy that stopped. It refuses them alike, naming the file and line; an empty
    `audit_log` still passes a dry run (it audits nothing)."""
    work, remote, render, first = project
    api = {"MOSAIC_DIAG_RENDER_API_URL": render.base_url}
    kept = 'deploy_store = ".mosaic-diag/deploys.jsonl"\n'
    for line, said in ((f"{kept}audit_log = 5\n", "audit_log must be a string"),
                       ("deploy_store = {a = 1}\n", "deploy_store must be a string")):
        write(work, "pyproject.toml", CONFIG.replace(kept, line, 1))
        commit_all(work, f"config: {line.strip()}")  # (committed: a dirty tree is not what stops the real run)
        r = run_cli(work, "--dry-run", **api)
        assert r.returncode == 2 and r.stdout == "", r.stdout + r.stderr
        assert r.stderr.startswith(f"mosaic-diag: error: {work / 'pyproject.toml'}:") and said in r.stderr, r.stderr
        r = run_cli(work, **api)  # (what the dry run now says ahead: the real run stops on it)
        assert r.returncode == 2 and said in r.stdout + r.stderr, r.stdout + r.stderr
    assert remote_head(work, remote) == first
