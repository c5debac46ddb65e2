"""Rollback core end to end with real git: a bare deploy remote, a clone, every strategy."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from mosaic_diag.deploy_store import FileDeployStore
from mosaic_diag.errors import ExitCode, UnreachableError, UsageError
from mosaic_diag.gitops import PushRejected
from mosaic_diag.manifest import generate_manifest
from mosaic_diag.render_api import RenderTarget
from mosaic_diag.rollback import execute_rollback, plan_rollback
from tests.test_manifest_support import RenderStandIn, commit_all, deploy_repo, git, set_git_env, write


@pytest.fixture
def repo(tmp_path, monkeypatch):
    set_git_env(monkeypatch)
    return deploy_repo(tmp_path)


def clock():
    return datetime(2025, 3, 4, 5, 6, tzinfo=UTC)


def audit_lines(path):
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def test_revert_end_to_end_keeps_history(repo, tmp_path):
    c = repo.commits
    plan = plan_rollback(repo.work, c["c4"])
    assert plan.ok and plan.deployed_sha == c["c5"] and plan.target_sha == c["c4"]
    assert [s.action for s in plan.steps] == ["commit", "push"]
    assert plan.undone == ((c["c5"], "c5 app"),)
    text = "\n".join(plan.describe())
    assert "deployed: origin/main at " + c["c5"][:12] in text and "fast-forward (no force)" in text
    audit = tmp_path / "audit.log"
    result = execute_rollback(plan, audit_path=audit, clock=clock, reason="test")
    head = repo.remote_head()
    assert result.executed and result.remote_sha == head
    assert repo.remote_tree() == repo.tree_of(c["c4"])          # the remote's tree is the target's
    assert git(repo.remote, "rev-parse", f"{head}^") == c["c5"]  # history kept: a new commit on top
    assert git(repo.remote, "log", "-1", "--format=%s", head) == f"Roll back main to {c['c4'][:12]}"
    [entry] = audit_lines(audit)
    assert entry["action"] == "rollback" and entry["result"] == "done" and entry["strategy"] == "revert"
    assert (entry["from"], entry["to"], entry["commit"]) == (c["c5"], c["c4"], head)
    assert entry["when"] == clock().isoformat()
    assert git(repo.work, "rev-parse", "HEAD") == c["c5"]      # the checkout did not move
    assert git(repo.work, "status", "--porcelain") == ""


def test_dry_run_plan_moves_nothing(repo):
    before = repo.remote_head()
    plan = plan_rollback(repo.work, repo.commits["c4"], strategy="reset")
    assert plan.ok and plan.steps[0].description.startswith("move origin main from")
    assert f"--force-with-lease=refs/heads/main:{repo.commits['c5']}" in plan.steps[0].description
    assert repo.remote_head() == before


def test_schema_change_refused_unless_allowed(repo, tmp_path):
    c = repo.commits
    plan = plan_rollback(repo.work, c["c3"])
    assert [r.code for r in plan.refusals] == ["schema_change"] and plan.refusal_exit_code == ExitCode.FINDINGS
    assert plan.steps == () and "refused: schema changed" in "\n".join(plan.describe())
    with pytest.raises(UsageError):
        execute_rollback(plan, audit_path=tmp_path / "a.log")
    assert repo.remote_head() == c["c5"] and not (tmp_path / "a.log").exists()
    plan = plan_rollback(repo.work, c["c3"], allow_schema_change=True)
    assert plan.ok and plan.warnings and plan.diff.schema_changed
    execute_rollback(plan, audit_path=tmp_path / "a.log")
    assert repo.remote_tree() == repo.tree_of(c["c3"])


def test_reset_end_to_end(repo, tmp_path):
    c = repo.commits
    plan = plan_rollback(repo.work, c["c4"], strategy="reset")
    result = execute_rollback(plan, audit_path=tmp_path / "audit.log")
    assert repo.remote_head() == c["c4"] == result.remote_sha


def concurrent_push(repo, tmp_path) -> str:
    other = tmp_path / "other"
    git(tmp_path, "clone", "-q", str(repo.remote), str(other))
    write(other, "hotfix.txt", "hotfix\n")
    sha = commit_all(other, "hotfix from a colleague")
    git(other, "push", "-q", "origin", "main")
    return sha


@pytest.mark.parametrize("strategy", ["reset", "revert"])
def test_concurrent_push_makes_the_push_fail(repo, tmp_path, strategy):
    plan = plan_rollback(repo.work, repo.commits["c4"], strategy=strategy)
    theirs = concurrent_push(repo, tmp_path)
    audit = tmp_path / "audit.log"
    with pytest.raises(PushRejected) as info:
        execute_rollback(plan, audit_path=audit)
    assert info.value.exit_code == ExitCode.FINDINGS
    assert "someone pushed to it since the plan was made" in str(info.value)
    assert ("stale info" if strategy == "reset" else "rejected") in str(info.value)
    assert repo.remote_head() == theirs                      # their push survives
    assert audit_lines(audit)[0]["result"] == "failed"


def test_refusals_dirty_unknown_non_ancestor(repo, tmp_path):
    c = repo.commits
    plan = plan_rollback(repo.work, "0123456789abcdef0123456789abcdef01234567")
    assert [r.code for r in plan.refusals] == ["unknown_sha"] and plan.refusal_exit_code == ExitCode.USAGE
    git(repo.work, "checkout", "-q", "-b", "side", c["c2"])
    write(repo.work, "side.txt", "x")
    side = commit_all(repo.work, "side work")
    git(repo.work, "checkout", "-q", "main")
    plan = plan_rollback(repo.work, side)
    assert [r.code for r in plan.refusals] == ["not_ancestor"]
    write(repo.work, "app.py", "dirty\n")
    plan = plan_rollback(repo.work, c["c4"])
    assert [r.code for r in plan.refusals] == ["dirty_tree"] and "app.py" in plan.refusals[0].message
    assert repo.remote_head() == c["c5"]


def test_nothing_to_do(repo, tmp_path):
    plan = plan_rollback(repo.work, "HEAD")
    assert plan.ok and plan.nothing_to_do and plan.describe()[-1].startswith("nothing to do")
    result = execute_rollback(plan, audit_path=tmp_path / "audit.log")
    assert not result.executed and not (tmp_path / "audit.log").exists()


def test_previous_uses_the_recorded_history(repo, tmp_path):
    c = repo.commits
    store = FileDeployStore(tmp_path / "deploys.jsonl")
    plan = plan_rollback(repo.work, previous=True, store=store)
    assert [r.code for r in plan.refusals] == ["no_previous"]
    for ref in ("c2", "c4", "c5"):
        store.record(generate_manifest(repo.work, c[ref], python_version="3.11.9"))
    plan = plan_rollback(repo.work, previous=True, store=store)
    assert plan.target_sha == c["c4"] and plan.target_ref.startswith("previous deploy #2")
    execute_rollback(plan, audit_path=tmp_path / "audit.log", store=store)
    statuses = [(r.commit, r.status) for r in store.history()]
    assert (c["c5"], "bad") in statuses and (c["c4"], "rollback") in statuses


def test_unreachable_remote(repo):
    git(repo.work, "remote", "set-url", "origin", str(repo.remote.parent / "gone.git"))
    with pytest.raises(UnreachableError, match="git remote 'origin' unreachable"):
        plan_rollback(repo.work, repo.commits["c4"])


def test_render_api_strategy_end_to_end(repo, tmp_path):
    server = RenderStandIn()
    try:
        target = RenderTarget(server.base_url, server.service_id, server.api_key)
        plan = plan_rollback(repo.work, repo.commits["c4"], strategy="render-api", render=target)
        assert [s.action for s in plan.steps] == ["render-autodeploy-off", "render-deploy"]
        assert server.requests == []  # planning calls nothing
        audit = tmp_path / "audit.log"
        result = execute_rollback(plan, audit_path=audit)
        assert result.render_deploy == "dep-rollback1"
        sid = server.service_id
        assert [(r["method"], r["path"], r["body"]) for r in server.requests] == [
            ("PATCH", f"/v1/services/{sid}", {"autoDeploy": "no"}),
            ("POST", f"/v1/services/{sid}/deploys", {"commitId": repo.commits["c4"], "clearCache": "do_not_clear"}),
        ]
        assert all(r["auth"] == f"Bearer {server.api_key}" for r in server.requests)
        assert repo.remote_head() == repo.commits["c5"]  # git untouched
        assert server.api_key not in audit.read_text() and audit_lines(audit)[0]["render_deploy"] == "dep-rollback1"
        missing = plan_rollback(repo.work, repo.commits["c4"], strategy="render-api",
                                render_missing=("RENDER_API_KEY",))
        assert [r.code for r in missing.refusals] == ["render_config"]
        assert missing.refusal_exit_code == ExitCode.USAGE
    finally:
        server.stop()
