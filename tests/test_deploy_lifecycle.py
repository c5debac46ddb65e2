"""The deploy lifecycle as a careless operator runs it (real git, a bare remote, the CLI as a process):
git's own environment pointing elsewhere, hooks that say no, a checkout in the middle of something,
runs that are interrupted or run twice."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.test_manifest_support import deploy_repo, git, set_git_env, write
from tests.test_rollback_cli import run


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
