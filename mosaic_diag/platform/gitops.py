"""Git operations for the manifest and rollback, through gitpython (imported lazily).

Nothing here touches a working tree: files are read as blobs of a commit's tree, the
rollback commit is built with `git commit-tree`, and pushes name the commit explicitly.
A push is never forced; `push_with_lease` moves a branch only if it still points at the
commit the caller saw (`--force-with-lease=<ref>:<sha>`).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mosaic_diag.errors import DiagError, ExitCode, UnreachableError, UsageError
from mosaic_diag.platform.redact import redact_text

_SHA = re.compile(r"^[0-9a-f]{40}$")
_UNREACHABLE_HINTS = (
    "could not read from remote", "does not appear to be a git repository", "could not resolve host",
    "connection refused", "unable to access", "repository not found", "no such remote",
    "not a valid remote", "no such file or directory",
)


class PushRejected(DiagError):
    """The remote refused the update (it moved since we looked): nothing changed."""

    exit_code = ExitCode.FINDINGS


@dataclass(frozen=True)
class WorkingTreeState:
    """Whether the checkout has local changes, and which paths."""

    dirty: bool
    paths: tuple[str, ...]


def _git_error_text(exc: Any) -> str:
    text = (getattr(exc, "stderr", "") or str(exc)).strip()
    text = re.sub(r"^\s*stderr:\s*", "", text).strip().strip("'").strip()
    return redact_text(" ".join(text.split()))


def open_repo(path: Path) -> Any:
    """The repository at (or above) `path`; a UsageError if there is none."""
    import git

    try:
        repo = git.Repo(path, search_parent_directories=True)
    except (git.InvalidGitRepositoryError, git.NoSuchPathError) as exc:
        raise UsageError(f"not a git repository: {path}") from exc
    repo.git.update_environment(GIT_TERMINAL_PROMPT="0")
    return repo


def resolve_commit(repo: Any, ref: str) -> Any | None:
    """The commit `ref` names (sha, branch, tag, `HEAD~3`), or None when it names none."""
    import git

    if not ref or ref.startswith("-"):
        return None
    try:
        sha = repo.git.rev_parse("--verify", "--quiet", "--end-of-options", f"{ref}^{{commit}}").strip()
    except git.GitCommandError:
        return None
    return repo.commit(sha) if _SHA.match(sha) else None


def require_commit(repo: Any, ref: str) -> Any:
    """Like resolve_commit, but an unknown ref is a usage error (exit 2)."""
    commit = resolve_commit(repo, ref)
    if commit is None:
        raise UsageError(f"unknown git ref {ref!r}: not a commit in {repo.working_dir}")
    return commit


def iter_blobs(commit: Any) -> Iterator[tuple[str, Any]]:
    """(path, blob) of every file in the commit's tree (submodules skipped)."""
    for item in commit.tree.traverse():
        if item.type == "blob":
            yield item.path, item


def read_blob(blob: Any) -> bytes:
    return blob.data_stream.read()


def current_branch(repo: Any) -> str | None:
    """The checked-out branch, or None on a detached HEAD."""
    try:
        return repo.active_branch.name
    except TypeError:
        return None


def working_tree_state(repo: Any, ignore: tuple[str, ...] = (".mosaic-diag/",)) -> WorkingTreeState:
    """Local changes of the checkout (modified, staged or untracked files).

    Paths under `ignore` (mosaic-diag's own state: audit log, deploy store) do not count.
    """
    if repo.bare:
        return WorkingTreeState(False, ())
    out = repo.git.status("--porcelain", "--untracked-files=all")
    paths = tuple(sorted({line[3:].split(" -> ")[-1].strip('"') for line in out.splitlines() if line.strip()}))
    paths = tuple(p for p in paths if not p.startswith(ignore))
    return WorkingTreeState(bool(paths), paths)


def is_ancestor(repo: Any, ancestor: str, descendant: str) -> bool:
    return bool(repo.is_ancestor(ancestor, descendant))


def commits_between(repo: Any, base: str, head: str) -> list[Any]:
    """Commits reachable from head but not from base, newest first."""
    return list(repo.iter_commits(f"{base}..{head}"))


def _remote_error(exc: Any, remote: str) -> DiagError:
    text = _git_error_text(exc)
    lowered = text.lower()
    if any(hint in lowered for hint in _UNREACHABLE_HINTS):
        return UnreachableError(f"git remote {remote!r} unreachable: {text}")
    return UnreachableError(f"git remote {remote!r}: {text}")


def remote_branch_sha(repo: Any, remote: str, branch: str) -> str | None:
    """The sha the remote's branch points at now (ls-remote), None if the branch is absent."""
    import git

    try:
        out = repo.git.ls_remote(remote, f"refs/heads/{branch}")
    except git.GitCommandError as exc:
        raise _remote_error(exc, remote) from exc
    for line in out.splitlines():
        sha, _, ref = line.partition("\t")
        if ref.strip() == f"refs/heads/{branch}" and _SHA.match(sha.strip()):
            return sha.strip()
    return None


def fetch_branch(repo: Any, remote: str, branch: str) -> None:
    """Fetch the remote branch's objects (updates only FETCH_HEAD and remote-tracking refs)."""
    import git

    try:
        repo.git.fetch("--no-tags", remote, f"refs/heads/{branch}")
    except git.GitCommandError as exc:
        raise _remote_error(exc, remote) from exc


def commit_tree(repo: Any, tree_of: str, parent: str, message: str) -> str:
    """A new commit with the tree of `tree_of` on top of `parent` (no working tree involved)."""
    import git

    try:
        return repo.git.commit_tree(f"{tree_of}^{{tree}}", "-p", parent, "-m", message).strip()
    except git.GitCommandError as exc:
        text = _git_error_text(exc)
        if "tell me who you are" in text.lower() or "empty ident" in text.lower():
            from mosaic_diag.errors import ConfigError

            raise ConfigError("git has no author identity: set user.name and user.email "
                              "(or GIT_AUTHOR_NAME/GIT_AUTHOR_EMAIL)") from exc
        raise DiagError(f"git commit-tree failed: {text}") from exc


def _push(repo: Any, remote: str, args: list[str], what: str) -> None:
    import git

    try:
        repo.git.push(*args)
    except git.GitCommandError as exc:
        text = _git_error_text(exc)
        lowered = text.lower()
        if "stale info" in lowered or "rejected" in lowered or "fetch first" in lowered:
            raise PushRejected(f"the remote refused {what}: {text}; someone pushed to it since the "
                               "plan was made; nothing changed, look again and re-run") from exc
        raise _remote_error(exc, remote) from exc


def push_fast_forward(repo: Any, remote: str, sha: str, branch: str) -> None:
    """Push `sha` to the remote branch; refused by the remote unless it is a fast-forward."""
    _push(repo, remote, [remote, f"{sha}:refs/heads/{branch}"], f"the push to {branch}")


def push_with_lease(repo: Any, remote: str, sha: str, branch: str, expected: str) -> None:
    """Move the remote branch to `sha` only if it still points at `expected`."""
    _push(repo, remote, [f"--force-with-lease=refs/heads/{branch}:{expected}", remote,
                         f"{sha}:refs/heads/{branch}"], f"moving {branch} (lease on {expected[:12]})")


def has_remote(repo: Any, remote: str) -> bool:
    return any(r.name == remote for r in repo.remotes) or "://" in remote or remote.startswith("/")
