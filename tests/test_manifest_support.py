"""Real git repositories for the manifest and rollback tests (no tests here).

`deploy_repo(tmp_path)` makes a bare `remote.git` (the deploy remote) and a clone `work` with
five commits on main, all pushed: c1 base, c2 app change, c3 prompt change (golden untouched),
c4 schema.sql change, c5 app change.
"""

from __future__ import annotations

import json
import subprocess
from dataclasses import dataclass
from pathlib import Path

from examples.render_standin import RenderStandIn
from tests.repo_cache import copied_repos

GIT_ENV = {
    "GIT_AUTHOR_NAME": "Test Author", "GIT_AUTHOR_EMAIL": "author@example.invalid",
    "GIT_COMMITTER_NAME": "Test Committer", "GIT_COMMITTER_EMAIL": "committer@example.invalid",
    "GIT_CONFIG_NOSYSTEM": "1", "GIT_CONFIG_GLOBAL": "/dev/null", "GIT_TERMINAL_PROMPT": "0",
}


def set_git_env(monkeypatch) -> None:
    for k, v in GIT_ENV.items():
        monkeypatch.setenv(k, v)


def git(cwd: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True, text=True).stdout.strip()


def write(root: Path, rel: str, text: str) -> None:
    p = root / rel
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_text(text, encoding="utf-8")


def commit_all(work: Path, message: str) -> str:
    git(work, "add", "-A")
    git(work, "commit", "-q", "-m", message)
    return git(work, "rev-parse", "HEAD")


@dataclass(frozen=True)
class DeployRepo:
    remote: Path
    work: Path
    commits: dict[str, str]

    def remote_head(self, branch: str = "main") -> str:
        return git(self.remote, "rev-parse", f"refs/heads/{branch}")

    def remote_tree(self, branch: str = "main") -> str:
        return git(self.remote, "rev-parse", f"refs/heads/{branch}^{{tree}}")

    def tree_of(self, sha: str) -> str:
        return git(self.work, "rev-parse", f"{sha}^{{tree}}")


def _build_deploy_repo(root: Path) -> dict[str, str]:
    """The bare remote and the clone of `deploy_repo` made under `root` with git; the commits by name."""
    remote = root / "remote.git"
    work = root / "work"
    git(root, "init", "-q", "--bare", "-b", "main", str(remote))
    git(root, "init", "-q", "-b", "main", str(work))
    git(work, "remote", "add", "origin", str(remote))
    commits: dict[str, str] = {}
    write(work, "schema.sql", "CREATE TABLE users (id TEXT PRIMARY KEY);\n")
    write(work, "requirements.txt", "fastapi==0.110.0\n")
    write(work, "prompts/ps101_steps.json", json.dumps({"steps": [{"step": 1, "title": "Start"}]}))
    write(work, "golden/ps101.yml", "cases: []\n")
    write(work, "feature_flags.json", json.dumps({"new_ui": False}))
    write(work, "app.py", "VERSION = 1\n")
    commits["c1"] = commit_all(work, "c1 base")
    write(work, "app.py", "VERSION = 2\n")
    commits["c2"] = commit_all(work, "c2 app")
    write(work, "prompts/ps101_steps.json", json.dumps({"steps": [{"step": 1, "title": "Begin"}]}))
    commits["c3"] = commit_all(work, "c3 prompt")
    write(work, "schema.sql", "CREATE TABLE users (id TEXT PRIMARY KEY, email TEXT);\n")
    commits["c4"] = commit_all(work, "c4 schema")
    write(work, "app.py", "VERSION = 5\n")
    commits["c5"] = commit_all(work, "c5 app")
    git(work, "push", "-q", "origin", "main")
    return commits


def deploy_repo(tmp_path: Path) -> DeployRepo:
    """The two repositories in `tmp_path`: built with git once a process and copied for each call
    (tests/repo_cache.py); each caller has a private copy to change as it likes."""
    commits = copied_repos(tmp_path, "deploy_repo", _build_deploy_repo)
    return DeployRepo(tmp_path / "remote.git", tmp_path / "work", dict(commits))


def render_standin(**kw) -> RenderStandIn:
    """A started Render API stand-in (examples/render_standin.py); the caller stops it."""
    return RenderStandIn(**kw).start()
