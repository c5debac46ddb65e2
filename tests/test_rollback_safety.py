"""Rollback run unattended and adversarially (issue 12): no option injection, one root, targets on the
remote branch's first-parent history, verdicts tied to a commit, and the push as the truth.

Real git throughout: a bare remote with real hooks, clones, a real `git` race through an
upload-pack hook; the CLI as a user runs it.
"""

from __future__ import annotations

import json
import stat
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from mosaic_diag.errors import ExitCode, UsageError
from mosaic_diag.manifest import generate_manifest
from mosaic_diag.manifest.store import FileDeployStore
from mosaic_diag.platform.gitops import PushRejected, RemoteMoved
from mosaic_diag.rollback import execute_rollback, plan_rollback
from tests.test_manifest_support import commit_all, deploy_repo, git, set_git_env, write
from tests.test_rollback_cli import _Health, health_payload, record_deploys, run, run_process


@pytest.fixture
def repo(tmp_path, monkeypatch):
    set_git_env(monkeypatch)
    return deploy_repo(tmp_path)


def audit_of(root: Path) -> list[dict]:
    path = root / ".mosaic-diag" / "audit.log"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def hook(remote: Path, name: str, body: str) -> None:
    path = remote / "hooks" / name
    path.write_text("#!/bin/sh\n" + body)
    path.chmod(path.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)


def refs(path: Path) -> str:
    return git(path, "for-each-ref", "--format=%(refname) %(objectname)")


# -- no option injection --------------------------------------------------------------------------

class Ran:
    """What an in-process run of the CLI returned and printed (the shape of a CompletedProcess)."""

    def __init__(self, returncode: int, stdout: str, stderr: str) -> None:
        self.returncode, self.stdout, self.stderr = returncode, stdout, stderr


@pytest.fixture
def inproc(monkeypatch, capsys):
    """The CLI run in this process from the repository's work tree (the first case of each loop still
    runs as a whole process, through `run_process`): the same entry point and error handler, without a
    second of interpreter and import start-up per case."""
    from mosaic_diag.cli import main

    def runner(repo, *args: str, **env: str) -> Ran:
        with monkeypatch.context() as m:
            m.chdir(repo.work)
            for name in ("DATABASE_URL", "RENDER_API_KEY", "RENDER_SERVICE_ID"):
                m.delenv(name, raising=False)
            for key, value in env.items():
                m.setenv(key, value)
            capsys.readouterr()
            code = main(list(args))
            out, err = capsys.readouterr()
        return Ran(code, out, err)

    return runner


def test_remote_from_config_cannot_run_a_command(repo, tmp_path, inproc):
    c = repo.commits
    pwned = [repo.work / "pwned", tmp_path / "pwned", repo.remote / "pwned"]
    (repo.work / ".mosaic-diag").mkdir()
    (repo.work / ".mosaic-diag" / "x").write_text("")  # state dir exists; ignored by the dirty check
    before = (refs(repo.work), refs(repo.remote))
    for remote in ("--upload-pack=touch pwned;", "--receive-pack=touch pwned;", "ext::sh -c touch% pwned",
                   "-oProxyCommand=touch pwned"):
        env = {"MOSAIC_DIAG_ROLLBACK_REMOTE": remote}
        for args in ((c["c4"], "--dry-run"), (c["c4"], "--yes"), ("--previous", "--yes")):
            r = (run_process if remote.startswith("--upload") else inproc)(repo, "rollback", *args, **env)
            assert r.returncode == 2, (remote, args, r.stdout, r.stderr)
            assert "invalid git remote" in r.stderr and "Traceback" not in r.stderr
        r = inproc(repo, "rollback", c["c4"], "--remote", remote, "--dry-run")
        assert r.returncode == 2 and "invalid git remote" in r.stderr
    assert not any(p.exists() for p in pwned)
    assert (refs(repo.work), refs(repo.remote)) == before
    r = run(repo, "rollback", c["c4"], "--remote", "upstream", "--dry-run")
    assert r.returncode == 2 and "unknown git remote 'upstream'" in r.stderr
    r = run(repo, "rollback", c["c4"], "--remote", str(repo.remote), "--dry-run")  # a path is a URL: fine
    assert r.returncode == 0, r.stderr


def test_branch_cannot_be_a_refspec_or_an_option(repo, tmp_path, inproc):
    c = repo.commits
    before = (refs(repo.work), refs(repo.remote))
    for branch in ("main:refs/heads/x", "+main:refs/heads/x", "--upload-pack=touch pwned", "-x", "@{-1}",
                   "main..x", "refs/heads/main", "HEAD", "ma in"):
        for args in (("--dry-run",), ("--yes",)):
            runner = run_process if branch.startswith("--") else inproc
            r = runner(repo, "rollback", c["c4"], "--branch", branch, *args)
            assert r.returncode == 2, (branch, r.stdout, r.stderr)
            assert "invalid branch name" in r.stderr and "Traceback" not in r.stderr
        r = inproc(repo, "rollback", c["c4"], "--dry-run", MOSAIC_DIAG_ROLLBACK_BRANCH=branch)
        assert r.returncode == 2 and "invalid branch name" in r.stderr
    assert (refs(repo.work), refs(repo.remote)) == before  # no branch x, nothing moved
    assert not (repo.work / "pwned").exists()
    with pytest.raises(UsageError, match="invalid branch name"):
        plan_rollback(repo.work, c["c4"], branch="main:refs/heads/x")
    with pytest.raises(UsageError, match="invalid git remote"):
        plan_rollback(repo.work, c["c4"], remote="--upload-pack=touch pwned;")


def test_a_target_cannot_be_an_option(repo):
    r = run(repo, "rollback", "--dry-run", "--", "--output=x")
    assert r.returncode == 2 and "unknown commit '--output=x'" in r.stdout and not (repo.work / "x").exists()
    plan = plan_rollback(repo.work, "--all")
    assert [x.code for x in plan.refusals] == ["unknown_sha"]


def test_a_tag_named_like_a_sha_cannot_stand_for_another_commit(repo, inproc):
    c = repo.commits
    short = c["c4"][:10]
    git(repo.work, "tag", short, c["c2"])  # git would read `short` as the tag: c2, three commits further back
    before = (refs(repo.work), refs(repo.remote))
    for args in ((short, "--dry-run"), (short, "--yes")):
        r = inproc(repo, "rollback", *args, "--allow-schema-change")
        assert r.returncode == 2, (args, r.stdout, r.stderr)
        assert f"ambiguous git ref {args[0]!r}" in r.stderr and "Traceback" not in r.stderr
    assert (refs(repo.work), refs(repo.remote)) == before
    with pytest.raises(UsageError, match="ambiguous git ref"):
        plan_rollback(repo.work, short)
    # the full sha wins over a tag of that name (git reads a whole sha as the object), and the tag by its full name
    assert plan_rollback(repo.work, c["c4"], allow_schema_change=True).target_sha == c["c4"]
    assert plan_rollback(repo.work, f"refs/tags/{short}").target_sha == c["c2"]
    git(repo.work, "tag", "cafe", c["c3"])  # a hex tag that is no object's prefix is only a tag
    if not any(sha.startswith("cafe") for sha in c.values()):
        assert plan_rollback(repo.work, "cafe").target_sha == c["c3"]


def test_a_hostile_commit_message_cannot_drive_the_terminal(repo, inproc):
    write(repo.work, "app.py", "VERSION = 6\n")
    commit_all(repo.work, "c6 \x1bc\x1b]52;c;cm0gLXJm\x07 \u009b2J hidden\x08\x08 \u202eevil")
    git(repo.work, "push", "-q", "origin", "main")
    for fmt in ("table", "markdown", "json"):
        r = inproc(repo, "rollback", "HEAD~1", "--dry-run", "--format", fmt)
        assert r.returncode == 0, r.stderr
        assert "c6 " in r.stdout
        assert not [ch for ch in ("\x1b", "\x07", "\x08", "\u009b", "\u202e") if ch in r.stdout + r.stderr]


def test_a_hostile_commit_message_is_text_in_the_markdown_plan(repo, inproc):
    """The plan lists the commits it undoes: a subject with HTML, an image or a link is text in --format
    markdown (rendered by a real CommonMark parser), not markup that loads or links anything."""
    from markdown_it import MarkdownIt

    write(repo.work, "app.py", "VERSION = 7\n")
    commit_all(repo.work, "c7 <img src=http://evil.invalid/x.png> ![i](http://evil.invalid/y.png) [x](javascript:1)")
    git(repo.work, "push", "-q", "origin", "main")
    r = inproc(repo, "rollback", "HEAD~1", "--dry-run", "--format", "markdown")
    assert r.returncode == 0, r.stderr
    html = MarkdownIt("commonmark").render(r.stdout)
    assert "c7 " in html and "<img" not in html and "<a " not in html, html


# -- one root -------------------------------------------------------------------------------------

def test_from_a_subdirectory_config_store_and_audit_are_the_repositorys(repo, tmp_path):
    c = repo.commits
    write(repo.work, "mosaic-diag.toml", '[rollback]\nbranch = "prod"\n')
    write(repo.work, "src/app/module.py", "X = 1\n")
    c6 = commit_all(repo.work, "c6 config and src")
    git(repo.work, "push", "-q", "origin", "main", "main:prod")
    sub = repo.work / "src" / "app"
    r = run(repo, "manifest", "record", c["c5"], cwd=sub)
    assert r.returncode == 0, r.stderr
    r = run(repo, "rollback", "--previous", "--yes", cwd=sub)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "origin/prod" in r.stdout
    assert repo.remote_head("main") == c6                        # main untouched
    assert repo.remote_tree("prod") == repo.tree_of(c["c5"])     # prod rolled back
    assert [e["branch"] for e in audit_of(repo.work)] == ["prod", "prod"]
    assert not (sub / ".mosaic-diag").exists() and not (repo.work / "src" / ".mosaic-diag").exists()
    statuses = [r.status for r in FileDeployStore(repo.work / ".mosaic-diag" / "deploys.jsonl").history()]
    assert statuses == ["rollback", "bad", "deployed"]


# -- targets --------------------------------------------------------------------------------------

def merged_feature(repo, tmp_path) -> tuple[str, str]:
    """A feature branch (forked at c5) merged into main with --no-ff by someone else; (feature commit, merge)."""
    git(repo.work, "checkout", "-q", "-b", "feature", repo.commits["c5"])
    write(repo.work, "feature.txt", "wip\n")
    feature = commit_all(repo.work, "feature wip")
    git(repo.work, "checkout", "-q", "main")
    git(repo.work, "merge", "-q", "--no-ff", "--no-commit", "feature")
    git(repo.work, "commit", "-q", "--author", "Other Person <other@example.invalid>", "-m", "merge feature")
    merge = git(repo.work, "rev-parse", "HEAD")
    git(repo.work, "push", "-q", "origin", "main")
    return feature, merge


def test_a_feature_commit_reached_through_a_merge_is_refused(repo, tmp_path, monkeypatch):
    feature, merge = merged_feature(repo, tmp_path)
    plan = plan_rollback(repo.work, feature)
    assert [r.code for r in plan.refusals] == ["off_branch"] and plan.refusal_exit_code == ExitCode.FINDINGS
    assert "--allow-off-branch" in plan.refusals[0].message
    plan = plan_rollback(repo.work, feature, allow_off_branch=True)
    assert plan.ok and any("allowed by --allow-off-branch" in w for w in plan.warnings)
    r = run(repo, "rollback", feature, "--yes")
    assert r.returncode == 1 and "never the head of origin/main" in r.stdout and repo.remote_head() == merge
    # the first-parent history is fine, and the plan names whose commits it undoes
    plan = plan_rollback(repo.work, repo.commits["c5"])
    assert plan.ok
    assert {(s, a) for s, _, a in plan.undone} == {(merge, "Other Person <other@example.invalid>"),
                                                  (feature, "Test Author <author@example.invalid>")}
    assert "it undoes commit(s) by Other Person <other@example.invalid>" in plan.warnings
    text = "\n".join(plan.describe())
    assert f"{merge[:8]} merge feature (Other Person <other@example.invalid>)" in text


def test_names_are_read_on_the_remote_branch_and_bad_targets_refused(repo, tmp_path):
    c = repo.commits
    store = FileDeployStore(repo.work / ".mosaic-diag" / "deploys.jsonl")
    for ref in ("c4", "c5"):
        store.record(generate_manifest(repo.work, c[ref], python_version="3.11.9"))
    r = run(repo, "rollback", "--previous", "--yes")
    assert r.returncode == 0, r.stderr
    revert = repo.remote_head()
    assert git(repo.work, "rev-parse", "HEAD") == c["c5"]  # the local clone still has the bad commit checked out
    r = run(repo, "rollback", "HEAD", "--yes", "--format", "json")
    data = json.loads(r.stdout)
    assert r.returncode == 0 and data["action"] == "none" and data["plan"]["target"] == revert
    plan = plan_rollback(repo.work, "main~1", store=store)
    assert plan.target_sha == c["c5"] and plan.target_ref == f"main~1 read on origin/main at {revert[:12]}"
    assert [x.code for x in plan.refusals] == ["recorded_bad"] and "recorded as bad" in plan.refusals[0].message
    r = run(repo, "rollback", "HEAD~1", "--yes")
    assert r.returncode == 1 and f"{c['c5'][:12]} is recorded as bad" in r.stdout and repo.remote_head() == revert
    r = run(repo, "rollback", c["c5"], "--yes", "--allow-recorded-bad")
    assert r.returncode == 0 and "going back to it anyway" in r.stdout
    assert repo.remote_tree() == repo.tree_of(c["c5"])


# -- --auto judges what it acts on ----------------------------------------------------------------

def test_auto_health_refuses_when_the_app_serves_another_commit(repo, tmp_path):
    c = repo.commits
    record_deploys(repo)
    write(repo.work, "app.py", "VERSION = 6  # the fix\n")
    fix = commit_all(repo.work, "c6 fix")
    git(repo.work, "push", "-q", "origin", "main")  # the fix is pushed; the app still serves c5
    health = _Health(health_payload(0.3, 500, c["c5"]))
    try:
        r = run(repo, "rollback", "--auto", "--health-url", health.url, "--execute", "--format", "json")
        data = json.loads(r.stdout)
        assert r.returncode == 1 and data["action"] == "refused"
        [refusal] = data["plan"]["refusals"]
        assert refusal["code"] == "verdict_not_head"
        assert c["c5"][:12] in refusal["message"] and fix[:12] in refusal["message"]
        assert repo.remote_head() == fix and audit_of(repo.work) == []
        for deployment in ({}, {"git_commit": "unknown", "git_commit_full": "unknown"}):  # the app's placeholder
            health.payload = {"metrics": {"requests_total": 500, "error_rate": 0.3}, "deployment": deployment}
            r = run(repo, "rollback", "--auto", "--health-url", health.url, "--execute")
            assert r.returncode == 1 and "reports no deployed commit" in r.stdout and repo.remote_head() == fix
        health.payload = health_payload(0.3, 500, fix)  # the fix is what serves, and it fails too: act
        r = run(repo, "rollback", "--auto", "--health-url", health.url, "--execute")
        assert r.returncode == 0, r.stdout + r.stderr
        assert repo.remote_tree() == repo.tree_of(c["c5"])  # back to the previous recorded deploy
    finally:
        health.stop()


def test_auto_log_takes_only_lines_after_the_judged_deploy(repo, tmp_path):
    from tests.test_rollback import INCIDENT, T_END, build_log, traffic

    log = tmp_path / "app.log"
    log.write_bytes(build_log("render-text", traffic(INCIDENT)))
    r = run(repo, "rollback", "--auto", "--log", str(log), "--execute")
    assert r.returncode == 1 and "has no deploy record" in r.stdout and repo.remote_head() == repo.commits["c5"]
    record_deploys(repo, last_at=T_END + timedelta(days=2))  # c5 deployed after the log ends: a stale log
    r = run(repo, "rollback", "--auto", "--log", str(log), "--execute")
    assert r.returncode == 1 and "stale log: it ends at 2026-03-02T09:40:00+00:00" in r.stderr
    assert repo.remote_head() == repo.commits["c5"] and audit_of(repo.work) == []
    # c5 recorded 5 minutes before the log ends: only those 5 minutes are its own
    (repo.work / ".mosaic-diag" / "deploys.jsonl").unlink()
    record_deploys(repo, last_at=T_END - timedelta(minutes=5))
    r = run(repo, "rollback", "--auto", "--log", str(log), "--format", "json")
    reading = json.loads(r.stdout)["reading"]
    assert reading["start"] == (T_END - timedelta(minutes=5)).isoformat() and reading["requests"] == 11


# -- the push is the truth ------------------------------------------------------------------------

def test_an_unwritable_audit_log_stops_before_acting(repo):
    (repo.work / ".mosaic-diag").mkdir()
    (repo.work / ".mosaic-diag" / "audit.log").mkdir()  # not writable as a file, even as root
    r = run(repo, "rollback", repo.commits["c4"], "--yes")
    assert r.returncode == 2 and "audit log" in r.stderr and "nothing was done" in r.stderr
    assert repo.remote_head() == repo.commits["c5"]


def test_after_the_push_later_failures_are_warnings(repo, tmp_path):
    c = repo.commits
    store_path = repo.work / ".mosaic-diag" / "deploys.jsonl"
    for ref in ("c4", "c5"):
        FileDeployStore(store_path).record(generate_manifest(repo.work, c[ref], python_version="3.11.9"))
    moved = tmp_path / "remote-moved.git"
    # once the push landed: the audit log and the store become directories, and the remote moves away
    hook(repo.remote, "post-receive", f"rm -f '{store_path}' '{repo.work}/.mosaic-diag/audit.log'\n"
                                      f"mkdir '{store_path}' '{repo.work}/.mosaic-diag/audit.log'\n"
                                      f"mv '{repo.remote}' '{moved}'\n")
    r = run(repo, "rollback", "--previous", "--yes", "--format", "json")
    assert r.returncode == 0, r.stdout + r.stderr
    data = json.loads(r.stdout)
    assert data["action"] == "rolled-back" and "Traceback" not in r.stderr
    warnings = data["result"]["warnings"]
    assert any(w.startswith("the push succeeded; checking origin main afterwards failed") for w in warnings)
    assert any(w.startswith(f"deploy store file {store_path}: the rollback is not recorded") for w in warnings)
    assert any("the result could not be written" in w for w in warnings)
    assert all(f"mosaic-diag: warning: {w}" in r.stderr for w in warnings)
    assert git(moved, "rev-parse", "refs/heads/main^{tree}") == repo.tree_of(c["c4"])  # it happened


def test_the_audit_says_done_with_warnings(repo, tmp_path):
    c = repo.commits
    audit = tmp_path / "audit.log"
    store = FileDeployStore(tmp_path / "not-a-dir" / "deploys.jsonl")
    (tmp_path / "not-a-dir").write_text("a file where the store's directory should be")
    plan = plan_rollback(repo.work, c["c4"])
    result = execute_rollback(plan, audit_path=audit, store=store)
    assert result.executed and result.remote_sha == repo.remote_head()
    [warning] = result.warnings
    assert warning.startswith(f"deploy store file {store.path}: the rollback is not recorded")
    started, done = (json.loads(x) for x in audit.read_text().splitlines())
    assert (started["result"], done["result"], done["warnings"]) == ("started", "done", [warning])


def test_a_pre_receive_hook_rejection_quotes_the_remote(repo, tmp_path):
    hook(repo.remote, "pre-receive", "echo 'deploys are frozen until Monday (OPS-12)' >&2\nexit 1\n")
    r = run(repo, "rollback", repo.commits["c4"], "--yes")
    assert r.returncode == 1, r.stdout + r.stderr
    assert r.stderr == ("mosaic-diag: error: the remote 'origin' rejected the push to main (pre-receive hook "
                        "declined): deploys are frozen until Monday (OPS-12); nothing changed\n")
    assert repo.remote_head() == repo.commits["c5"]
    assert [(e["result"], "frozen" in e.get("error", "")) for e in audit_of(repo.work)] == [("started", False),
                                                                                            ("failed", True)]
    plan = plan_rollback(repo.work, repo.commits["c4"], strategy="reset")
    with pytest.raises(PushRejected, match="deploys are frozen until Monday"):
        execute_rollback(plan, audit_path=tmp_path / "a.log")


def test_a_push_landing_between_fetch_and_ls_remote_is_remote_moved(repo, tmp_path, monkeypatch):
    """The remote's branch moves while it is fetched (a real upload-pack hook moves it), so ls-remote then
    names a commit the fetch did not bring: one line, exit 1, nothing changed."""
    other = tmp_path / "other"
    git(tmp_path, "clone", "-q", str(repo.remote), str(other))
    write(other, "first.txt", "x\n")
    commit_all(other, "a first push the clone has not fetched yet (so the fetch packs objects)")
    git(other, "push", "-q", "origin", "HEAD:refs/heads/main")
    write(other, "hotfix.txt", "x\n")
    theirs = commit_all(other, "hotfix")
    git(other, "push", "-q", "origin", "HEAD:refs/heads/incoming")
    script = tmp_path / "move-main.sh"
    script.write_text(f"#!/bin/sh\ngit --git-dir='{repo.remote}' update-ref refs/heads/main {theirs}\nexec \"$@\"\n")
    script.chmod(0o755)
    config = tmp_path / "gitconfig"
    config.write_text(f"[uploadpack]\n\tpackObjectsHook = {script}\n")
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", str(config))
    with pytest.raises(RemoteMoved) as info:
        plan_rollback(repo.work, repo.commits["c4"])
    assert str(info.value) == (f"remote moved: origin main changed while it was read (now {theirs[:12]}); "
                               "nothing changed, run again")
    assert info.value.exit_code == ExitCode.FINDINGS


def test_the_audit_records_intent_then_result_with_their_times(repo, tmp_path):
    """The audit's two records carry the clock's times (intent first)."""
    times = iter([datetime(2026, 1, 1, tzinfo=UTC), datetime(2026, 1, 1, 0, 0, 9, tzinfo=UTC)])
    audit = tmp_path / "audit.log"
    execute_rollback(plan_rollback(repo.work, repo.commits["c4"]), audit_path=audit, clock=lambda: next(times))
    assert [json.loads(x)["when"] for x in audit.read_text().splitlines()] == ["2026-01-01T00:00:00+00:00",
                                                                               "2026-01-01T00:00:09+00:00"]


def test_an_alembic_migration_is_a_schema_change(repo):
    """schema.sql is untouched: the migration folder alone makes the schema change."""
    write(repo.work, "alembic/versions/0001_users.py", "def upgrade():\n    op.create_table('users')\n")
    before = commit_all(repo.work, "c6 first migration")
    write(repo.work, "alembic/versions/0002_drop_email.py",
          "def upgrade():\n    op.drop_column('users', 'email')\n")
    write(repo.work, "alembic/versions/__init__.py", "")
    commit_all(repo.work, "c7 drop a column")
    git(repo.work, "push", "-q", "origin", "main")
    plan = plan_rollback(repo.work, before)
    assert [r.code for r in plan.refusals] == ["schema_change"]
    assert "alembic/versions/0002_drop_email.py" in plan.diff.findings[0].message + str(plan.diff.to_dict())
    assert plan_rollback(repo.work, before, allow_schema_change=True).ok


def test_an_audit_record_cut_off_by_a_crash_keeps_its_text_and_the_next_record_its_own_line(tmp_path):
    from mosaic_diag.platform.audit import append_audit

    path = tmp_path / "audit.log"
    append_audit(path, {"action": "rollback", "result": "started"})
    torn = '{"when": "2026-12-06T10:00:00+00:00", "action": "rollback", "res'
    with open(path, "a", encoding="utf-8") as fh:
        fh.write(torn)  # the process died half-way through its write
    append_audit(path, {"action": "rollback", "result": "done"})
    lines = path.read_text().splitlines()
    assert lines[1] == torn  # an audit trail is never cut, even its torn line
    assert json.loads(lines[2])["result"] == "done"


def test_a_new_audit_log_is_readable_by_its_owner_only_and_an_existing_one_keeps_its_mode(tmp_path):
    from mosaic_diag.platform.audit import append_audit

    fresh = tmp_path / "new" / "audit.log"
    append_audit(fresh, {"action": "rollback", "result": "started"})
    assert fresh.stat().st_mode & 0o777 == 0o600
    shared = tmp_path / "shared.log"
    shared.write_text("")
    shared.chmod(0o640)  # an operator's choice is kept
    append_audit(shared, {"action": "rollback", "result": "started"})
    assert shared.stat().st_mode & 0o777 == 0o640
    assert json.loads(shared.read_text())["action"] == "rollback"


def test_a_shallow_clone_rolls_back_to_a_commit_before_its_cut(repo, tmp_path):
    """CI's checkouts are shallow (`git clone --depth 1`, actions/checkout's default): the target, the last good
    deploy, was before the clone's cut and the rollback refused it as `unknown commit` (exit 2), for a commit the
    remote has. The remote branch's history is fetched whole (said in a note), then the rollback is the one a full
    clone makes; before that, `manifest diff` names the cut as the reason a ref is unknown."""
    c = repo.commits
    ci = tmp_path / "ci"
    git(tmp_path, "clone", "-q", "--depth", "1", f"file://{repo.remote}", str(ci))
    r = run(repo, "manifest", "diff", c["c3"], "HEAD", cwd=ci)
    assert r.returncode == 2 and r.stderr.count("\n") == 1, r.stderr
    assert f"unknown git ref {c['c3']!r}" in r.stderr and "this clone is shallow" in r.stderr
    r = run(repo, "rollback", c["c3"], "--yes", "--allow-schema-change", cwd=ci)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "note: this clone was shallow: its whole history was fetched (git fetch --unshallow)" in r.stdout
    assert "undoes 2 commit(s):" in r.stdout
    assert repo.remote_tree() == repo.tree_of(c["c3"]) and git(ci, "rev-parse", "--is-shallow-repository") == "false"


def test_a_rollback_from_a_linked_worktree_while_the_main_one_deploys_names_where_it_runs(repo, tmp_path):
    """The deploy lock is the clone's (its common git directory), shared by its worktrees (`git worktree add`): a
    rollback from a linked worktree while a deploy runs in the main one is refused, and the refusal named the
    rollback's own worktree as where the other one ran ('running from <the linked worktree>'), sending the operator
    to look for it in the wrong place. It names the holder's."""
    import subprocess
    import sys

    linked = tmp_path / "hotfix"
    git(repo.work, "worktree", "add", "-q", "--detach", str(linked))
    holder = subprocess.Popen(
        [sys.executable, "-c", "import sys, time\nfrom pathlib import Path\nfrom mosaic_diag.platform import gitops, "
         "oplock\nwith oplock.operation_lock(gitops.open_repo(Path(sys.argv[1])), 'deploy of x to origin/main'):\n"
         "    print('held', flush=True)\n    time.sleep(60)\n", str(repo.work)],
        stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline() == "held\n"
        r = run(repo, "rollback", repo.commits["c3"], "--yes", "--allow-schema-change", cwd=linked)
    finally:
        holder.kill()
        holder.communicate(timeout=60)
    assert r.returncode == 1 and r.stderr.count("\n") == 1, r.stdout + r.stderr
    assert (f"another deploy or rollback is running from {repo.work} (pid {holder.pid}: deploy of x to origin/main "
            "since ") in r.stderr, r.stderr
    assert repo.remote_head() == repo.commits["c5"]


def test_a_render_answer_not_shaped_as_renders_is_a_refusal_not_a_traceback(repo, inproc):
    """Render's API is not trusted to answer in its own shape: a deploy whose `commit` is text, or a live deploy of
    the target whose `id` is null, ended the render-api plan with an internal error (AttributeError) or planned a
    rollback to deploy "None"."""
    from tests.test_manifest_support import render_standin

    server = render_standin()
    try:
        c = repo.commits
        odd = server.add_deploy(c["c4"])
        server.add_deploy(c["c5"])
        env = {"RENDER_API_KEY": server.api_key, "RENDER_SERVICE_ID": server.service_id,
               "MOSAIC_DIAG_RENDER_API_URL": server.base_url}
        odd["commit"] = c["c4"]  # the commit as text, not {"id": ...}
        r = inproc(repo, "rollback", c["c4"], "--strategy", "render-api", "--dry-run", "--render-deploy-id",
                   odd["id"], **env)
        assert r.returncode == 2 and f"is of commit (none), not {c['c4'][:12]}" in r.stdout, r.stdout + r.stderr
        odd["commit"] = {"id": c["c4"]}
        odd["id"] = None  # a live deploy of the target with no id to roll back to: rebuilt by commit, never
        # rolled back to a deploy "None"
        r = inproc(repo, "rollback", c["c4"], "--strategy", "render-api", "--dry-run", **env)
        assert r.returncode == 0 and "it will be rebuilt by commit" in r.stdout, r.stdout + r.stderr
        assert '"deployId": "None"' not in r.stdout
        assert "internal error" not in r.stderr and server.api_key not in r.stdout + r.stderr
    finally:
        server.stop()


def test_a_remote_url_holding_a_token_is_never_written_in_clear_into_the_lock_file(repo, inproc):
    """`--remote https://x-access-token:TOKEN@host/r.git` (a CI job's remote, given on the command line: the token is
    in no git config): the deploy lock's file, which says who holds it, was written with the token in clear into the
    git directory, where it stayed after the run. The remote is written redacted, as everywhere else."""
    token = "ghp_" + "A1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6Q7r8"
    url = f"https://x-access-token:{token}@git.example.invalid/r.git"
    git(repo.work, "config", f"url.file://{repo.remote}.insteadOf", url)  # (the real bare remote behind the URL)
    r = inproc(repo, "rollback", repo.commits["c3"], "--remote", url, "--yes", "--allow-schema-change")
    assert r.returncode == 0, r.stdout + r.stderr
    assert repo.remote_tree() == repo.tree_of(repo.commits["c3"])
    lock = repo.work / ".git" / "mosaic-diag-deploy.lock"
    held = json.loads(lock.read_text())
    assert held["what"].startswith("rollback of https://x-access-token:***@git.example.invalid/r.git/main to "), held
    everything = lock.read_text() + r.stdout + r.stderr + (repo.work / ".mosaic-diag" / "audit.log").read_text()
    assert token not in everything
