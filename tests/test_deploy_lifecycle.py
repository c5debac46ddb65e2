"""The deploy lifecycle as a careless operator runs it (real git, a bare remote, the CLI as a process):
git's own environment pointing elsewhere, hooks that say no, a checkout in the middle of something,
runs that are interrupted or run twice."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
from pathlib import Path
from types import SimpleNamespace

import pytest

from mosaic_diag.manifest.store import FileDeployStore
from tests import test_deploy
from tests.test_deploy import ROOT, FakeClock, app_log, change, deploy, remote_head
from tests.test_manifest_support import GIT_ENV, commit_all, deploy_repo, git, set_git_env, write
from tests.test_rollback_cli import _Health, health_payload, run


@pytest.fixture
def repo(tmp_path, monkeypatch):
    set_git_env(monkeypatch)
    (tmp_path / "a").mkdir()
    return deploy_repo(tmp_path / "a")


@pytest.fixture
def elsewhere(tmp_path):
    """Another clone with its own remote, a dirty file and different commits."""
    (tmp_path / "b").mkdir()
    other = deploy_repo(tmp_path / "b")
    write(other.work, "app.py", "VERSION = 'local edit in b'\n")
    return other


@pytest.fixture
def project(tmp_path, monkeypatch):
    """test_deploy's: a repository deployed once through Render's stand-in (autodeploy off), recorded good."""
    yield from test_deploy.project.__wrapped__(tmp_path, monkeypatch)


def audit_of(root: Path) -> list[dict]:
    path = root / ".mosaic-diag" / "audit.log"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def test_git_dir_and_work_tree_in_the_environment_do_not_redirect_to_another_repository(repo, elsewhere):
    """GIT_DIR / GIT_WORK_TREE / GIT_INDEX_FILE left in the operator's shell (another clone's): every command
    works on the repository it runs in (or --repo), says so once, and never touches the other one."""
    c = repo.commits
    b_refs = git(elsewhere.remote, "for-each-ref")
    stray = {"GIT_DIR": str(elsewhere.work / ".git"), "GIT_WORK_TREE": str(elsewhere.work),
             "GIT_INDEX_FILE": str(elsewhere.work / ".git" / "index")}
    r = run(repo, "manifest", "generate", **stray)
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["git"]["commit"] == c["c5"]
    assert "GIT_DIR" in r.stderr and "ignored" in r.stderr
    r = run(repo, "rollback", c["c4"], "--yes", "--format", "json", **stray)
    assert r.returncode == 0, r.stdout + r.stderr
    head = repo.remote_head()
    assert git(repo.work, "rev-parse", f"{head}^") == c["c5"] and repo.remote_tree() == repo.tree_of(c["c4"])
    assert [a["result"] for a in audit_of(repo.work)] == ["started", "done"]
    assert git(elsewhere.remote, "for-each-ref") == b_refs and not audit_of(elsewhere.work)
    assert "local edit in b" in (elsewhere.work / "app.py").read_text()
    r = run(repo, "manifest", "history", "--format", "json", **stray)
    assert r.returncode == 0 and head in r.stdout, r.stdout + r.stderr


def hook(git_dir: Path, name: str, body: str) -> Path:
    path = git_dir / "hooks" / name
    path.write_text("#!/bin/sh\n" + body)
    path.chmod(0o755)
    return path


def test_a_local_pre_push_hook_that_refuses_is_a_refusal_naming_the_hook(repo):
    """The operator's own pre-push hook says no: exit 1 (refused, as a remote hook's no), its words quoted,
    never 'remote unreachable' (exit 3); the audit has the intent and the failure; nothing moved."""
    hook(repo.work / ".git", "pre-push", "echo 'pre-push: main is frozen today (OPS-7)' >&2\nexit 1\n")
    r = run(repo, "rollback", repo.commits["c4"], "--yes")
    assert r.returncode == 1, r.stdout + r.stderr
    assert r.stderr == ("mosaic-diag: error: the local pre-push hook (.git/hooks/pre-push) refused the push to "
                        "origin main: pre-push: main is frozen today (OPS-7); nothing was pushed\n")
    assert repo.remote_head() == repo.commits["c5"]
    assert [(e["result"], "OPS-7" in e.get("error", "")) for e in audit_of(repo.work)] == [("started", False),
                                                                                          ("failed", True)]


def test_a_push_landing_between_the_gate_and_the_deploys_push(project, tmp_path):
    """Someone pushes to the deploy branch while predeploy runs (a real push from another clone, at the end
    of the predeploy step): the deploy's push is refused by git (never forced), one clear line, exit 1; the
    pending record is closed (never left 'not judged yet'), and a re-run after a pull deploys."""
    import os

    from mosaic_diag.config import load_config
    from mosaic_diag.deploy import DeployOptions, run_deploy

    work, remote, render, first = project
    mine = change(work, "2", "mine")
    other = tmp_path / "other"
    git(tmp_path, "clone", "-q", str(remote), str(other))
    write(other, "README", "theirs\n")
    theirs = commit_all(other, "theirs")

    def on_step(step, event) -> None:
        if step.name == "predeploy" and event == "end":
            git(other, "push", "-q", "origin", "main")

    opts = DeployOptions(watch_s=30.0, poll_s=5.0, wait_timeout_s=120.0, log=work / "app.log", min_requests=1)
    clock = FakeClock()
    report = run_deploy(work, os.environ, opts, config=load_config(work, os.environ), clock=clock, sleep=clock.sleep,
                        on_step=on_step)
    assert (report.verdict, report.exit_code) == ("error", 1), report.to_dict()
    assert report.reason == (f"remote moved: origin main is no longer at {first[:12]} (someone pushed since the plan "
                             "was made); nothing changed, look again and re-run")
    assert mine[:12] not in remote_head(work, remote) and remote_head(work, remote) == theirs
    history = FileDeployStore(work / ".mosaic-diag" / "deploys.jsonl").history()
    assert [(r.commit, r.status) for r in history[:2]] == [(mine, "aborted"), (mine, "pending")], history
    assert "never pushed" in (history[0].note or "")
    git(work, "pull", "-q", "--rebase", "origin", "main")
    mine = git(work, "rev-parse", "HEAD")
    clock = FakeClock()
    clock.on_sleep = lambda: app_log(work / "app.log", fail=False)
    again = deploy(work, clock)
    assert (again.verdict, again.exit_code) == ("good", 0), again.to_dict()
    assert remote_head(work, remote) == mine


@pytest.mark.parametrize("operation", ["rebase", "bisect", "merge"])
def test_a_deploy_from_the_middle_of_a_rebase_bisect_or_merge_is_blocked(project, operation):
    """A clean tree on a detached HEAD is also what a stopped `git rebase -i` (edit) or a `git bisect` look
    like, and a clean tree on the branch what a `merge --no-commit` waiting for its commit looks like:
    deploying that HEAD would push a half-made history. Blocked before anything is recorded or pushed, naming
    the operation."""
    work, remote, render, first = project
    second = change(work, "2", "second")
    change(work, "3", "third")
    if operation == "rebase":
        git(work, "-c", "sequence.editor=sed -i 1s/^pick/edit/", "rebase", "-q", "-i", second + "^")
    elif operation == "bisect":
        git(work, "bisect", "start", "HEAD", first)
    else:  # `git merge -s ours --no-commit`: MERGE_HEAD, and an index and tree equal to HEAD's
        git(work, "checkout", "-q", "-b", "side", first)
        write(work, "app/main.py", "VERSION = 'side'\n")
        commit_all(work, "side")
        git(work, "checkout", "-q", "main")
        git(work, "merge", "-q", "-s", "ours", "--no-commit", "side")
    assert not git(work, "status", "--porcelain", "--untracked-files=no")
    before = len(FileDeployStore(work / ".mosaic-diag" / "deploys.jsonl").history())
    report = deploy(work, FakeClock())
    assert (report.verdict, report.exit_code) == ("blocked", 1), report.to_dict()
    assert f"a {operation} is in progress" in report.reason and "finish or abort it" in report.reason
    assert remote_head(work, remote) == first
    assert len(FileDeployStore(work / ".mosaic-diag" / "deploys.jsonl").history()) == before


def deploy_process(work: Path, *args: str) -> subprocess.Popen[str]:
    """`mosaic-diag deploy` as its own process group (as CI runs it: a cancel signals the whole group)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("MOSAIC_DIAG_")}
    env.update(GIT_ENV, PYTHONPATH=str(ROOT), MOSAIC_DIAG_RENDER_API_URL=os.environ["MOSAIC_DIAG_RENDER_API_URL"])
    return subprocess.Popen([sys.executable, "-m", "mosaic_diag", "deploy",
                             "--log", str(work / "app.log"), *args], cwd=work, env=env, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)


def read_until(proc: subprocess.Popen[str], text: str) -> str:
    """stdout up to the first line holding `text` (the process is then at that step)."""
    seen = []
    assert proc.stdout is not None
    for line in proc.stdout:
        seen.append(line)
        if text in line:
            return "".join(seen)
    raise AssertionError("".join(seen) + (proc.stderr.read() if proc.stderr else ""))


def test_sigterm_during_the_push_is_audited_and_a_rerun_recovers(project, tmp_path):
    """CI cancels the deploy (SIGTERM to its process group) while the push runs (a pre-push hook that takes
    its time): exit 130 with the report naming the step, the audit ends with the push 'interrupted' (intent
    before, outcome after), the record stays pending; the re-run deploys."""
    work, remote, render, first = project
    second = change(work, "2", "second")
    marker = tmp_path / "in-pre-push"
    hook(work / ".git", "pre-push", f"touch '{marker}'\nexec sleep 60\n")
    proc = deploy_process(work, "--watch", "2s", "--poll-interval", "1s")
    read_until(proc, "[record] ok")
    for _ in range(600):  # (no time asserted: the hook is running once its marker is there)
        if marker.exists():
            break
        threading.Event().wait(0.05)
    os.killpg(proc.pid, signal.SIGTERM)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, out + err
    assert "[push] FAILED: interrupted" in out and "interrupted during push" in out, out
    assert [(a["step"], a["result"]) for a in audit_of(work) if a.get("action") == "deploy"] == [
        ("push", "started"), ("push", "interrupted")]
    assert "is not known" in audit_of(work)[-1]["error"]
    assert remote_head(work, remote) == first
    history = FileDeployStore(work / ".mosaic-diag" / "deploys.jsonl").history()
    assert (history[0].commit, history[0].status) == (second, "pending")
    (work / ".git" / "hooks" / "pre-push").unlink()
    proc = deploy_process(work, "--watch", "2s", "--poll-interval", "1s", "--no-rollback")
    out, err = proc.communicate(timeout=120)
    assert remote_head(work, remote) == second, out + err
    assert "[push] ok: pushed" in out


def test_sigterm_while_watching_reports_the_step_and_keeps_the_record_pending(project):
    work, remote, render, first = project
    second = change(work, "2", "second")
    proc = deploy_process(work, "--watch", "10m", "--poll-interval", "1s")
    seen = read_until(proc, "[watch]   watching:")  # (a progress line: the watch is under way)
    os.killpg(proc.pid, signal.SIGTERM)
    out, err = proc.communicate(timeout=60)
    out = seen + out
    assert proc.returncode == 130, out + err
    assert "interrupted during watch" in out, out
    history = FileDeployStore(work / ".mosaic-diag" / "deploys.jsonl").history()
    assert (history[0].commit, history[0].status) == (second, "pending")
    assert [(a["step"], a["result"]) for a in audit_of(work) if a.get("step") == "push"] == [
        ("push", "started"), ("push", "done")]


def _rollback_stopped_at(repo, marker: Path) -> tuple[subprocess.Popen[str], str, str]:
    """`rollback c4 --yes` run in `repo`, sent SIGTERM once `marker` exists (a hook or upload-pack touched it):
    the finished process and its stdout and stderr."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("MOSAIC_DIAG_")}
    env.update(GIT_ENV, PYTHONPATH=str(ROOT))
    proc = subprocess.Popen([sys.executable, "-m", "mosaic_diag", "rollback", repo.commits["c4"], "--yes"],
                            cwd=repo.work, env=env, text=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            start_new_session=True)
    while not marker.exists() and proc.poll() is None:
        threading.Event().wait(0.05)
    os.killpg(proc.pid, signal.SIGTERM)
    out, err = proc.communicate(timeout=60)
    return proc, out, err


def test_sigterm_during_a_rollbacks_push_is_audited_as_interrupted(repo, tmp_path):
    marker = tmp_path / "in-pre-push"
    hook(repo.work / ".git", "pre-push", f"touch '{marker}'\nexec sleep 60\n")
    proc, out, err = _rollback_stopped_at(repo, marker)
    assert proc.returncode == 130, out + err
    assert [a["result"] for a in audit_of(repo.work)] == ["started", "interrupted"]
    assert "whether the rollback happened is not known" in audit_of(repo.work)[-1]["error"]
    assert repo.remote_head() == repo.commits["c5"]
    # one line: what was cut short, and the state of the remote and the checkout
    revert = audit_of(repo.work)[-1]["commit"]
    assert err.splitlines() == [
        f"mosaic-diag: error: interrupted while pushing the revert commit {revert[:12]} to origin main: whether it "
        f"landed is not known (audited 'interrupted'); git ls-remote origin refs/heads/main: at {revert[:12]} it is "
        f"rolled back, at {repo.commits['c5'][:12]} nothing changed (re-run the rollback); the checkout is untouched "
        "(the commit is on no local branch)"], err
    assert git(repo.work, "status", "--porcelain", "--", ":!.mosaic-diag") == ""  # (its audit log)
    assert git(repo.work, "rev-parse", "HEAD") == repo.commits["c5"]


def test_sigterm_while_a_rollback_reads_the_remote_says_nothing_was_done(repo, tmp_path):
    """CI cancels a rollback while it fetches the remote (an upload-pack that takes its time): exit 130 and one line
    saying it was cut short before it acted and that remote and checkout are as they were; nothing audited."""
    marker = tmp_path / "in-upload-pack"
    slow = tmp_path / "slow-upload-pack"
    slow.write_text(f"#!/bin/sh\ntouch '{marker}'\nexec sleep 60\n")
    slow.chmod(0o755)
    git(repo.work, "config", "remote.origin.uploadpack", str(slow))
    proc, out, err = _rollback_stopped_at(repo, marker)
    assert proc.returncode == 130, out + err
    assert err.splitlines() == ["mosaic-diag: error: interrupted before the rollback acted: nothing was committed or "
                                "pushed; origin main and the checkout are as they were"], err
    assert audit_of(repo.work) == [] and repo.remote_head() == repo.commits["c5"]


def test_a_second_deploy_or_a_rollback_from_the_same_checkout_waits_its_turn(project):
    """A deploy is watching (its own process); the operator commits again and starts another deploy, then a
    rollback: both are refused at once naming the running deploy (exit 1, nothing recorded, pushed or audited),
    so the first one's verdict is not taken on the second one's commit. Once it ends, the next one runs."""
    work, remote, render, first = project
    second = change(work, "2", "second")
    proc = deploy_process(work, "--watch", "10m", "--poll-interval", "1s")
    try:
        read_until(proc, "[watch]   watching:")
        third = change(work, "3", "third")
        records = len(FileDeployStore(work / ".mosaic-diag" / "deploys.jsonl").history())
        audits = len(audit_of(work))
        report = deploy(work, FakeClock())
        assert (report.verdict, report.exit_code) == ("blocked", 1), report.to_dict()
        assert "another deploy or rollback is running" in report.reason
        assert f"pid {proc.pid}: deploy of {second[:12]} to origin/main" in report.reason
        r = run(SimpleNamespace(work=work), "rollback", first, "--yes")
        assert r.returncode == 1 and "another deploy or rollback is running" in r.stderr, r.stdout + r.stderr
        assert remote_head(work, remote) == second
        assert len(FileDeployStore(work / ".mosaic-diag" / "deploys.jsonl").history()) == records
        assert len(audit_of(work)) == audits
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.communicate(timeout=60)
    clock = FakeClock()
    clock.on_sleep = lambda: app_log(work / "app.log", fail=False)
    report = deploy(work, clock)
    assert (report.verdict, report.exit_code) == ("good", 0), report.to_dict()
    assert remote_head(work, remote) == third


def many_commits(work: Path, n: int = 1500) -> list[str]:
    """`n` commits on refs/heads/many (git fast-import: fixed dates, so the same shas every run)."""
    lines = []
    for i in range(n):
        lines += ["commit refs/heads/many", f"mark :{i + 1}",
                  f"committer T <t@example.invalid> {1700000000 + i} +0000", "data 4", f"{i:04d}"[-4:],
                  *([f"from :{i}"] if i else []), ""]
    subprocess.run(["git", "fast-import", "--quiet"], cwd=work, input="\n".join(lines) + "\n", text=True,
                   check=True)
    return git(work, "rev-list", "refs/heads/many").split()


def test_an_ambiguous_sha_prefix_is_said_to_be_ambiguous_not_unknown(repo):
    shas = many_commits(repo.work)
    seen: dict[str, str] = {}
    prefix = next(s[:4] for s in shas if seen.setdefault(s[:4], s) != s)
    r = run(repo, "rollback", prefix, "--dry-run")
    assert r.returncode == 2, r.stdout + r.stderr
    assert f"ambiguous commit {prefix!r}" in r.stderr and "unknown" not in r.stderr, r.stderr
    for sha in shas:
        if sha.startswith(prefix):
            assert sha[:12] in r.stderr


def test_a_bad_deploy_whose_rollback_is_refused_is_still_recorded_bad(project):
    """Judged bad, then the rollback's push is refused (a pre-push hook that wants a ticket for rollbacks):
    the deploy is recorded bad all the same (not left 'pending: not judged yet'), the verdict is BAD with the
    rollback's failure said, the playbooks are still planned, exit 1; the bad commit still serves."""
    work, remote, render, first = project
    hook(work / ".git", "pre-push", "while read ref sha rest; do\n"
         "  if git log -1 --format=%s \"$sha\" | grep -q '^Roll back'; then\n"
         "    echo 'rollbacks need a ticket (OPS-9)' >&2; exit 1; fi\ndone\nexit 0\n")
    bad = change(work, "'broken'", "break the database code")
    clock = FakeClock()
    clock.on_sleep = lambda: app_log(work / "app.log", fail=True)
    report = deploy(work, clock)
    data = report.to_dict()
    assert (report.verdict, report.exit_code) == ("bad", 1), data
    rollback = next(s for s in report.steps if s.name == "rollback")
    assert rollback.status == "failed" and "rollbacks need a ticket (OPS-9)" in rollback.message, rollback.to_dict()
    assert "still serves" in rollback.message
    assert [s.name for s in report.steps][-1] == "playbooks"
    assert remote_head(work, remote) == bad
    history = FileDeployStore(work / ".mosaic-diag" / "deploys.jsonl").history()
    assert (history[0].commit, history[0].status) == (bad, "bad"), history[:2]


def test_a_recorded_deploy_lost_to_a_force_push_is_refused_saying_the_branch_was_rewritten(repo, tmp_path):
    """Someone force-pushed the deploy branch after c5 was deployed and recorded: a rollback to c5 (or
    --previous) is refused as not on the branch, and the refusal says the branch was rewritten since."""
    c = repo.commits
    assert run(repo, "manifest", "record", c["c4"]).returncode == 0
    assert run(repo, "manifest", "record").returncode == 0  # c5
    other = tmp_path / "other"
    git(tmp_path, "clone", "-q", str(repo.remote), str(other))
    git(other, "reset", "-q", "--hard", c["c3"])
    write(other, "app.py", "VERSION = 'rewritten'\n")
    commit_all(other, "rewritten")
    git(other, "push", "-q", "--force", "origin", "main")
    write(other, "app.py", "VERSION = 'rewritten again'\n")
    commit_all(other, "rewritten again")
    git(other, "push", "-q", "origin", "main")
    for args in ((c["c4"],), ("--previous",)):
        r = run(repo, "rollback", *args, "--dry-run")
        assert r.returncode == 1, r.stdout + r.stderr
        assert "is not an ancestor of origin/main" in r.stdout
        assert "in the deploy history" in r.stdout and "rewritten since (a force push?)" in r.stdout, r.stdout
    r = run(repo, "rollback", c["c3"], "--dry-run")  # a commit still on the branch: planned
    assert r.returncode == 0 and "dry run: nothing changed" in r.stdout, r.stdout + r.stderr


def test_every_render_deploy_request_is_audited_before_and_after(project):
    """Autodeploy off: the deploy asks Render to deploy its commit, and after a bad verdict asks it to deploy
    the pushed revert. Each request has its intent audited before it is made and its outcome after, a
    failed one (Render answers 503) included."""
    work, remote, render, first = project
    change(work, "'broken'", "break the database code")
    clock = FakeClock()
    clock.on_sleep = lambda: app_log(work / "app.log", fail=True)
    report = deploy(work, clock)
    assert (report.verdict, next(s for s in report.steps if s.name == "rollback").status) == ("bad", "ok"), \
        report.to_dict()
    steps = [(a.get("step") or a["action"], a["result"]) for a in audit_of(work)]
    assert steps == [("push", "started"), ("push", "done"), ("render-deploy", "started"), ("render-deploy", "done"),
                     ("rollback", "started"), ("rollback", "done"), ("render-deploy", "started"),
                     ("render-deploy", "done")], steps
    revert = remote_head(work, remote)
    assert [a.get("commit") for a in audit_of(work) if a.get("step") == "render-deploy"][-1] == revert
    (work / ".mosaic-diag" / "audit.log").unlink()
    git(work, "reset", "-q", "--hard", revert)
    change(work, "3", "third")
    render.fail("POST", "/deploys", 503)
    report = deploy(work, FakeClock())
    assert report.exit_code == 3, report.to_dict()
    steps = [(a.get("step") or a["action"], a["result"]) for a in audit_of(work)]
    assert steps == [("push", "started"), ("push", "done"), ("render-deploy", "started"),
                     ("render-deploy", "failed")], steps


def test_auto_rollback_when_the_rolled_back_version_is_bad_too_alarms_and_does_not_loop(repo):
    """`rollback --auto --execute` from cron: c5 over budget, rolled back (the revert R has c4's tree). R is over
    budget too (the fault is elsewhere: the database, a provider): nothing is rolled back again (no loop, no
    older target chosen), and the run says so with exit 1, never exit 0 as if all were well."""
    c = repo.commits
    assert run(repo, "manifest", "record", c["c4"]).returncode == 0
    assert run(repo, "manifest", "record", c["c5"]).returncode == 0
    health = _Health(health_payload(0.2, 500, c["c5"]))
    try:
        r = run(repo, "rollback", "--auto", "--health-url", health.url, "--execute")
        assert r.returncode == 0, r.stdout + r.stderr
        revert = repo.remote_head()
        health.payload = health_payload(0.3, 500, revert)
        for _ in range(2):
            r = run(repo, "rollback", "--auto", "--health-url", health.url, "--execute", "--format", "json")
            data = json.loads(r.stdout)
            assert r.returncode == 1 and data["action"] == "none", r.stdout + r.stderr
            assert "nothing to roll back to" in data["message"], data
            assert repo.remote_head() == revert
    finally:
        health.stop()
    assert [a["result"] for a in audit_of(repo.work)] == ["started", "done"]  # one rollback, once
