"""Git repositories a fixture builds the same way for every test, built once a process and copied per test: a
`shutil.copytree` of a small repository takes ~10 ms, the git commands that make it 0.1-0.5 s (more on a busy
machine). Each test gets a private copy to change as it likes; nothing is shared but the read-only original."""

from __future__ import annotations

import atexit
import os
import shutil
import subprocess
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from examples.pgtemp import ram_dir

T = TypeVar("T")

# what git reads from the environment when it commits (the author, the committer, the config files)
_GIT_VARS = ("GIT_AUTHOR_NAME", "GIT_AUTHOR_EMAIL", "GIT_COMMITTER_NAME", "GIT_COMMITTER_EMAIL", "GIT_CONFIG_NOSYSTEM",
             "GIT_CONFIG_GLOBAL", "HOME", "XDG_CONFIG_HOME")
_built: dict[tuple[object, ...], tuple[Path, object]] = {}


def copied_repos(tmp_path: Path, key: str, build: Callable[[Path], T]) -> T:
    """`build(root)` run once a process (for `key` and git's environment variables of the time) in a private
    directory, that directory's contents copied into `tmp_path` (which may exist), and what `build` returned. In
    the copy, a git config naming the original's directory (a remote's URL) names the copy's, and each work tree's
    index is refreshed (the copied files have new inodes and change times). A `build` must make nothing that holds
    its directory's path elsewhere (a linked worktree's gitdir, a FETCH_HEAD)."""
    ident = (key, *(os.environ.get(name) for name in _GIT_VARS))
    if ident not in _built:
        root = Path(tempfile.mkdtemp(prefix="mosaic-repo-cache-", dir=ram_dir()))
        atexit.register(shutil.rmtree, root, ignore_errors=True)
        _built[ident] = root, build(root)
    root, value = _built[ident]
    shutil.copytree(root, tmp_path, symlinks=True, dirs_exist_ok=True)
    for head in tmp_path.rglob("HEAD"):
        gitdir = head.parent
        config = gitdir / "config"
        if not config.is_file() or not (gitdir / "objects").is_dir():
            continue  # (a HEAD that is no git directory's: a file of the work tree, a reflog)
        text = config.read_text()
        if str(root) in text:
            config.write_text(text.replace(str(root), str(tmp_path)))
        if gitdir.name == ".git":
            subprocess.run(["git", "update-index", "-q", "--refresh"], cwd=gitdir.parent, check=True,
                           capture_output=True, timeout=60)
    return value  # type: ignore[return-value]
