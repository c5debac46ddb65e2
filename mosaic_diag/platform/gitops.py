"""Git operations for the manifest and rollback, through gitpython (imported lazily).

Nothing here touches the operator's working tree: files are read as blobs of a commit's tree, the
rollback commit is built with `git commit-tree`, pushes name the commit explicitly, and the deploy's
predeploy checks get a private checkout of the commit (`commit_checkout`).
A push is never forced; `push_with_lease` moves a branch only if it still points at the
commit the caller saw (`--force-with-lease=<ref>:<sha>`).
"""

from __future__ import annotations

import os
import re
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mosaic_diag.errors import DiagError, ExitCode, UnreachableError, UsageError
from mosaic_diag.platform.redact import redact_text

_SHA = re.compile(r"^[0-9a-f]{40}$")
_SHORT_HEX = re.compile(r"^[0-9a-fA-F]{4,39}$")
_URL = re.compile(r"^(https?|ssh|git|file)://[^\s]+$")
_SCP = re.compile(r"^[A-Za-z0-9._-]+@[A-Za-z0-9.-]+:[^\s]+$")
# What git reads to find a repository, its work tree, index and objects. Left in an operator's shell (from a
# hook, a script, another clone), they would point every git call at another repository than the one
# mosaic-diag was run in (or given with --repo): its commits, its dirty files, its remote.
REPO_ENV = ("GIT_DIR", "GIT_WORK_TREE", "GIT_COMMON_DIR", "GIT_INDEX_FILE", "GIT_OBJECT_DIRECTORY",
            "GIT_ALTERNATE_OBJECT_DIRECTORIES", "GIT_NAMESPACE", "GIT_PREFIX", "GIT_IMPLICIT_WORK_TREE",
            "GIT_SHALLOW_FILE", "GIT_GRAFT_FILE")
_UNREACHABLE_HINTS = (
    "could not read from remote", "does not appear to be a git repository", "could not resolve host",
    "connection refused", "unable to access", "repository not found", "no such remote",
    "not a valid remote", "no such file or directory",
)


class PushRejected(DiagError):
    """The remote refused the update (a hook or a protected branch said no): nothing changed."""

    exit_code = ExitCode.FINDINGS


@dataclass(frozen=True)
class WorkingTreeState:
    """Whether the checkout has local changes, and which paths (`untracked`: those of them git does not track)."""

    dirty: bool
    paths: tuple[str, ...]
    untracked: tuple[str, ...] = ()


def _git_error_text(exc: Any) -> str:
    text = (getattr(exc, "stderr", "") or str(exc)).strip()
    text = re.sub(r"^\s*stderr:\s*", "", text).strip().strip("'").strip()
    return redact_text(" ".join(text.split()))


def ignore_repo_env(environ: Any = os.environ) -> list[str]:
    """Remove REPO_ENV's variables from `environ` (the process's environment: gitpython and every git
    process read it); the names removed. The repository is then the one found from the path given."""
    return [name for name in REPO_ENV if environ.pop(name, None) is not None]


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
    """The commit `ref` names (sha, branch, tag, `HEAD~3`), or None when it names none.

    A short hex `ref` that is both a branch or tag name and the start of an object's name is a UsageError:
    git would take the ref (a tag named `1a2b3c4` would stand for another commit than the sha meant)."""
    import git

    if not ref or ref.startswith("-"):
        return None
    try:
        sha = repo.git.rev_parse("--verify", "--quiet", "--end-of-options", f"{ref}^{{commit}}").strip()
    except git.GitCommandError:
        _ambiguous(repo, ref)
        return None
    if not _SHA.match(sha):
        return None
    if _SHORT_HEX.match(ref) and not sha.startswith(ref.lower()):
        objects = _run_git(repo, ["rev-parse", f"--disambiguate={ref.lower()}"]).stdout.split()
        if objects:
            raise UsageError(f"ambiguous git ref {ref!r}: a branch or tag of that name points at {sha[:12]}, "
                             f"but it is also the start of object {objects[0][:12]}; give the full sha, "
                             f"or refs/tags/{ref} (refs/heads/{ref}) for the ref")
    return repo.commit(sha)


def _ambiguous(repo: Any, ref: str) -> None:
    """A UsageError naming the candidates when `ref` is a short hex more than one commit starts with (git
    cannot pick one: 'unknown' would send the operator looking for a commit that is there twice over)."""
    if not _SHORT_HEX.match(ref):
        return
    objects = _run_git(repo, ["rev-parse", f"--disambiguate={ref.lower()}"]).stdout.split()
    commits = [o for o in objects if _run_git(repo, ["cat-file", "-t", o]).stdout.strip() in ("commit", "tag")]
    if len(commits) > 1:
        named = ", ".join(f"{c[:12]} ({_run_git(repo, ['log', '-1', '--format=%s', c]).stdout.strip()[:60]})"
                          for c in commits[:5])
        raise UsageError(f"ambiguous commit {ref!r}: {len(commits)} commits start with it: {named}"
                         f"{', ...' if len(commits) > 5 else ''}; give more of the sha")


def require_commit(repo: Any, ref: str) -> Any:
    """Like resolve_commit, but an unknown ref is a usage error (exit 2)."""
    commit = resolve_commit(repo, ref)
    if commit is None:
        cut = (" (this clone is shallow: history before its cut is not here; git fetch --unshallow)"
               if is_shallow(repo) else "")
        raise UsageError(f"unknown git ref {ref!r}: not a commit in {repo.working_dir}{cut}")
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
    lines = [line for line in out.splitlines() if line.strip()]
    paths = tuple(sorted({line[3:].split(" -> ")[-1].strip('"') for line in lines}))
    paths = tuple(p for p in paths if not p.startswith(ignore))
    untracked = {line[3:].strip('"') for line in lines if line.startswith("??")}
    return WorkingTreeState(bool(paths), paths, tuple(p for p in paths if p in untracked))


# What git leaves in the repository's directory while an operation waits for --continue / --abort (or a
# bisect for `reset`): HEAD is then a step of it, not a finished history.
_IN_PROGRESS = (("rebase-merge", "rebase"), ("rebase-apply", "rebase (or am)"), ("MERGE_HEAD", "merge"),
                ("CHERRY_PICK_HEAD", "cherry-pick"), ("REVERT_HEAD", "revert"), ("BISECT_LOG", "bisect"))


def operation_in_progress(repo: Any) -> str | None:
    """The git operation the checkout is in the middle of (rebase, merge, cherry-pick, revert, bisect), or None."""
    for name, what in _IN_PROGRESS:
        proc = _run_git(repo, ["rev-parse", "--git-path", name])
        path = proc.stdout.strip()
        if proc.returncode == 0 and path and (Path(repo.working_dir or repo.git_dir) / path).exists():
            return what
    return None


def is_ancestor(repo: Any, ancestor: str, descendant: str) -> bool:
    return bool(repo.is_ancestor(ancestor, descendant))


def commits_between(repo: Any, base: str, head: str) -> list[Any]:
    """Commits reachable from head but not from base, newest first."""
    return list(repo.iter_commits(f"{base}..{head}"))


def _remote_error(text: str, remote: str) -> DiagError:
    lowered = text.lower()
    if any(hint in lowered for hint in _UNREACHABLE_HINTS):
        return UnreachableError(f"git remote {remote!r} unreachable: {text}")
    return UnreachableError(f"git remote {remote!r}: {text}")


def _run_git(repo: Any, args: list[str]) -> subprocess.CompletedProcess[str]:
    """Run git in the repository with `args` as they are (no shell, no prompt, C locale for parsing)."""
    env = {**{k: v for k, v in os.environ.items() if k not in REPO_ENV}, "GIT_TERMINAL_PROMPT": "0", "LC_ALL": "C",
           "LANGUAGE": "C"}
    return subprocess.run(["git", "-c", "protocol.ext.allow=never", *args], cwd=repo.working_dir or repo.git_dir,
                          capture_output=True, text=True, env=env, check=False)


def validate_remote(repo: Any, remote: str) -> str:
    """`remote` if it is a configured remote's name or a repository URL/path; a UsageError otherwise.

    Nothing starting with `-` (git would read it as an option) and no `<transport>::` helper syntax.
    """
    if not remote or remote.startswith("-") or any(ch.isspace() or ord(ch) < 32 for ch in remote):
        raise UsageError(f"invalid git remote {remote!r}: a configured remote name or a repository URL, "
                         "never starting with '-' or holding spaces")
    if any(r.name == remote for r in repo.remotes):
        return remote
    if "::" in remote:
        raise UsageError(f"invalid git remote {remote!r}: transport helpers ('<helper>::') are not allowed")
    if _URL.match(remote) or remote.startswith("/") or _SCP.match(remote):
        return remote
    raise UsageError(f"unknown git remote {remote!r}: not a remote of {repo.working_dir} "
                     "(git remote -v) and not a repository URL")


def validate_branch(repo: Any, branch: str) -> str:
    """`branch` if `git check-ref-format --branch` accepts it unchanged; a UsageError otherwise."""
    if not branch or branch.startswith("-") or "@{" in branch or branch == "HEAD" or branch.startswith("refs/"):
        raise UsageError(f"invalid branch name {branch!r}")
    proc = _run_git(repo, ["check-ref-format", "--branch", branch])
    if proc.returncode != 0 or proc.stdout.strip() != branch:
        raise UsageError(f"invalid branch name {branch!r} (git check-ref-format --branch refuses it)")
    return branch


class RemoteMoved(DiagError):
    """The remote branch changed while we looked at it or before our push: nothing changed."""

    exit_code = ExitCode.FINDINGS


def remote_branch_sha(repo: Any, remote: str, branch: str) -> str | None:
    """The sha the remote's branch points at now (ls-remote), None if the branch is absent."""
    proc = _run_git(repo, ["ls-remote", "--end-of-options", remote, f"refs/heads/{branch}"])
    if proc.returncode != 0:
        raise _remote_error(_clean(proc.stderr), remote)
    for line in proc.stdout.splitlines():
        sha, _, ref = line.partition("\t")
        if ref.strip() == f"refs/heads/{branch}" and _SHA.match(sha.strip()):
            return sha.strip()
    return None


def is_shallow(repo: Any) -> bool:
    """Whether the clone is shallow (`git clone --depth`, CI's checkouts): history before its cut is not there."""
    return _run_git(repo, ["rev-parse", "--is-shallow-repository"]).stdout.strip() == "true"


def fetch_branch(repo: Any, remote: str, branch: str) -> bool:
    """Fetch the remote branch's objects (updates only FETCH_HEAD and remote-tracking refs). A shallow clone is made
    whole (`--unshallow`): in it HEAD's history stops at its cut, so the remote head would not be found an ancestor
    of HEAD (a fast-forward taken for a rewrite) and a rollback target before the cut would not be found at all.
    True when it was shallow and is no more."""
    shallow = is_shallow(repo)
    proc = _run_git(repo, ["fetch", "--quiet", "--no-tags", "--no-write-fetch-head",
                           *(["--unshallow"] if shallow else []), "--end-of-options", remote, f"refs/heads/{branch}"])
    if proc.returncode != 0:
        text = _clean(proc.stderr)
        if "couldn't find remote ref" in text.lower():
            return False
        raise _remote_error(text, remote)
    return shallow and not is_shallow(repo)


def has_commit(repo: Any, sha: str) -> bool:
    return bool(_SHA.match(sha)) and _run_git(repo, ["cat-file", "-e", f"{sha}^{{commit}}"]).returncode == 0


UNSHALLOWED = "this clone was shallow: its whole history was fetched (git fetch --unshallow)"


def deployed_head(repo: Any, remote: str, branch: str, said: list[str] | None = None) -> str | None:
    """Fetch the remote branch and return its head (None: no such branch); RemoteMoved on a race. A shallow clone is
    made whole first (`fetch_branch`), which appends UNSHALLOWED to `said`."""
    if fetch_branch(repo, remote, branch) and said is not None:
        said.append(UNSHALLOWED)
    sha = remote_branch_sha(repo, remote, branch)
    if sha is not None and not has_commit(repo, sha):
        raise RemoteMoved(f"remote moved: {remote} {branch} changed while it was read (now {sha[:12]}); "
                          "nothing changed, run again")
    return sha


def first_parent_history(repo: Any, head: str) -> Iterator[str]:
    """The shas of `head`'s first-parent history, newest first."""
    proc = _run_git(repo, ["rev-list", "--first-parent", head, "--"])
    yield from proc.stdout.split()


def _clean(text: str) -> str:
    return redact_text(" ".join(text.split()))


class SigningFailed(DiagError):
    """The operator's git config asks for signed commits (commit.gpgSign) and signing failed: exit 2."""

    exit_code = ExitCode.USAGE


def signs_commits(repo: Any) -> bool:
    """Whether the repository's git config (`commit.gpgSign`, any level or GIT_CONFIG_*) asks for signed commits."""
    proc = _run_git(repo, ["config", "--type=bool", "--get", "commit.gpgSign"])
    return proc.returncode == 0 and proc.stdout.strip() == "true"


def commit_tree(repo: Any, tree_of: str, parent: str, message: str) -> str:
    """A new commit with the tree of `tree_of` on top of `parent` (no working tree involved), signed when the
    git config says commits are (`commit.gpgSign`: `git commit-tree` itself ignores it); a signing failure is
    SigningFailed, one line: signing is the operator's to fix or to turn off, never turned off here."""
    import git

    sign = signs_commits(repo)
    try:
        return repo.git.commit_tree(f"{tree_of}^{{tree}}", "-p", parent, *(["-S"] if sign else []),
                                    "-m", message).strip()
    except git.GitCommandError as exc:
        text = _git_error_text(exc)
        if "tell me who you are" in text.lower() or "empty ident" in text.lower():
            from mosaic_diag.errors import ConfigError

            raise ConfigError("git has no author identity: set user.name and user.email "
                              "(or GIT_AUTHOR_NAME/GIT_AUTHOR_EMAIL)") from exc
        if sign:
            raw = re.sub(r"^\s*stderr:\s*'?", "", getattr(exc, "stderr", "") or "").strip().rstrip("'")
            said = redact_text(re.sub(r"^(error|fatal):\s*", "", raw.splitlines()[0] if raw else "").strip()) or text
            program = _run_git(repo, ["config", "--get", "gpg.program"]).stdout.strip()
            raise SigningFailed(
                f"the rollback commit could not be signed (commit.gpgSign is true; git: {said}"
                + (f"; gpg.program is {program!r}" if program else "") + "): nothing was committed or pushed; "
                "make signing work (a usable key: user.signingKey, gpg-agent) and re-run, or, if unsigned is "
                "acceptable, re-run with signing off for this run: GIT_CONFIG_COUNT=1 GIT_CONFIG_KEY_0=commit.gpgSign "
                "GIT_CONFIG_VALUE_0=false mosaic-diag rollback ...") from exc
        raise DiagError(f"git commit-tree failed: {text}") from exc


def _remote_says(stderr: str) -> str:
    """The `remote:` lines of a push's stderr (what a hook printed), joined on one line."""
    lines = [ln[len("remote:"):].strip() for ln in stderr.splitlines() if ln.startswith("remote:")]
    return redact_text("; ".join(ln for ln in lines if ln))


def _push(repo: Any, remote: str, args: list[str], branch: str, expected: str) -> None:
    proc = _run_git(repo, ["push", "--porcelain", *args])
    if proc.returncode == 0:
        return
    out = proc.stdout + "\n" + proc.stderr
    lowered = out.lower()
    if "[remote rejected]" in lowered or "hook declined" in lowered:
        said = _remote_says(proc.stderr)
        reason = re.search(r"\[remote rejected\][^(]*\(([^)]*)\)", out)
        raise PushRejected(f"the remote {remote!r} rejected the push to {branch}"
                           + (f" ({reason.group(1)})" if reason else "")
                           + (f": {said}" if said else "") + "; nothing changed")
    hook = _pre_push_hook(repo)
    if hook is not None and not any(ln.startswith("To ") for ln in proc.stdout.splitlines()) \
            and "failed to push some refs" in lowered:  # refused before anything was sent: the local hook
        said = "; ".join(ln.strip() for ln in proc.stderr.splitlines()
                         if ln.strip() and not ln.startswith("error: failed to push some refs"))
        raise PushRejected(f"the local pre-push hook ({hook}) refused the push to {remote} {branch}"
                           + (f": {_clean(said)}" if said else "") + "; nothing was pushed")
    if "stale info" in lowered or "[rejected]" in lowered or "fetch first" in lowered or "non-fast-forward" in lowered:
        raise RemoteMoved(f"remote moved: {remote} {branch} is no longer at {expected[:12]} (someone pushed since "
                          "the plan was made); nothing changed, look again and re-run")
    raise _remote_error(_clean(proc.stderr), remote)


def _pre_push_hook(repo: Any) -> str | None:
    """The repository's pre-push hook (core.hooksPath honoured) when there is one git would run, as git names it."""
    proc = _run_git(repo, ["rev-parse", "--git-path", "hooks/pre-push"])
    path = proc.stdout.strip()
    if proc.returncode != 0 or not path:
        return None
    full = Path(repo.working_dir or repo.git_dir) / path
    return path if full.is_file() and os.access(full, os.X_OK) else None


def push_fast_forward(repo: Any, remote: str, sha: str, branch: str, expected: str) -> None:
    """Push `sha` to the remote branch, only while it is at `expected` (and as a fast-forward)."""
    _push(repo, remote, [f"--force-with-lease=refs/heads/{branch}:{expected}", "--end-of-options", remote,
                         f"{sha}:refs/heads/{branch}"], branch, expected)


def push_branch(repo: Any, remote: str, sha: str, branch: str, expected: str | None) -> None:
    """Push `sha` to the remote branch as a plain push: never forced, so git itself refuses anything but
    a fast-forward (RemoteMoved when someone pushed since `expected` was read)."""
    _push(repo, remote, ["--end-of-options", remote, f"{sha}:refs/heads/{branch}"], branch, expected or "(none)")


def push_with_lease(repo: Any, remote: str, sha: str, branch: str, expected: str) -> None:
    """Move the remote branch to `sha` only if it still points at `expected`."""
    _push(repo, remote, [f"--force-with-lease=refs/heads/{branch}:{expected}", "--end-of-options", remote,
                         f"{sha}:refs/heads/{branch}"], branch, expected)


def author_ident(repo: Any) -> str | None:
    """`Name <email>` of who would author a commit here, or None."""
    proc = _run_git(repo, ["var", "GIT_AUTHOR_IDENT"])
    m = re.match(r"^(.*?>)", proc.stdout.strip())
    return m.group(1) if proc.returncode == 0 and m else None


# The predeploy checks of a deploy run on a checkout of the commit it pushes, here in the clone's common git
# directory (beside its deploy lock, which makes it one at a time; never a path `git status` shows): a
# stable place, so that a run killed outright (SIGKILL) leaves nothing the next run does not remove first.
CHECKOUT_DIR = Path("mosaic-diag") / "deploy-checkout"


def checkout_path(repo: Any) -> Path:
    """Where `commit_checkout` checks a commit out for the clone of `repo` (its own components not resolved: a link
    someone put there is no place of the checkout's, `_own_place`)."""
    return Path(repo.common_dir).resolve() / CHECKOUT_DIR


@contextmanager
def commit_checkout(repo: Any, sha: str) -> Iterator[Path]:
    """A detached checkout of commit `sha` (40 hex digits), what a build of the pushed commit gets: its
    tracked files, no untracked or ignored file (`fill_submodules` adds the submodules'). `git worktree add
    --detach` with no hook run (core.hooksPath=/dev/null); removed with its registration when the block ends,
    however it ends (an error, Ctrl-C, SIGTERM as an interrupt); one a killed run left is removed before. The
    caller holds the clone's deploy lock (`oplock.operation_lock`): one checkout at a time."""
    if not _SHA.match(sha):
        raise UsageError(f"not a full commit sha: {sha!r}")
    path = checkout_path(repo)
    _own_place(path.parent)
    remove_checkout(repo, path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        proc = _run_git(repo, ["-c", "core.hooksPath=/dev/null", "worktree", "add", "--detach", "--quiet", "--",
                               str(path), sha])
        if proc.returncode != 0:
            raise DiagError(f"cannot check {sha[:12]} out for the predeploy checks: "
                            f"{redact_text(' '.join(proc.stderr.split()))}")
        yield path
    finally:
        remove_checkout(repo, path)


def remove_checkout(repo: Any, path: Path) -> None:
    """Remove the checkout at `path` and its registration in the repository (nothing when there is none).
    A Ctrl-C meanwhile does not cut it short: it is finished, then the interrupt goes on."""
    import shutil

    interrupted: BaseException | None = None
    for _ in range(3):
        try:
            _own_place(path)
            if path.exists():
                _run_git(repo, ["worktree", "remove", "--force", "--", str(path)])
                shutil.rmtree(path, ignore_errors=True)  # (what git left: a file written meanwhile)
            if _registered(repo, path):  # its directory gone, its registration left: that registration dropped,
                _unregister(repo, path)  # never `git worktree prune`, which drops every worktree not there just now
            break
        except KeyboardInterrupt as exc:
            interrupted = exc
    if interrupted is not None:
        raise interrupted


def _own_place(path: Path) -> None:
    """`path` (in the git directory, the checkout's or its parent) is a directory or nothing: a symlink or a file
    there, which no deploy made, is removed, never followed (a stale checkout is removed with its tree: a link's
    target was)."""
    if path.is_symlink() or (os.path.lexists(path) and not path.is_dir()):
        path.unlink()


def _unregister(repo: Any, path: Path) -> None:
    """Drop git's registration of the worktree at `path`, whose directory is gone, and no other's (a worktree on a
    disk not mounted now is the operator's). `git worktree remove --force` does it (git 2.24 and later); else its
    administrative directory (`<common dir>/worktrees/<id>`, whose `gitdir` names `path/.git`) is removed."""
    import shutil

    _run_git(repo, ["worktree", "remove", "--force", "--", str(path)])
    if not _registered(repo, path):
        return
    admin = Path(repo.common_dir) / "worktrees"
    for entry in admin.iterdir() if admin.is_dir() else ():
        named = entry / "gitdir"
        if entry.is_symlink() or not entry.is_dir() or not named.is_file():
            continue
        if Path(named.read_text(encoding="utf-8", errors="surrogateescape").strip()) == path / ".git":
            shutil.rmtree(entry)


def _registered(repo: Any, path: Path) -> bool:
    """Whether git lists `path` among the repository's worktrees."""
    out = _run_git(repo, ["worktree", "list", "--porcelain"]).stdout
    return any(line == f"worktree {path}" for line in out.splitlines())


def fill_submodules(repo: Any, tree: Path, sha: str, _prefix: str = "", _source: Path | None = None) -> list[str]:
    """Put the content of each submodule of commit `sha` into its checkout at `tree`, at the commit the superproject
    records, from the operator's own clone of it (its objects: nothing fetched, and neither its index nor its
    checkout touched), nested ones too; what a build that clones with its submodules gets. The sentences saying
    which could not be filled and why (not initialized in the operator's clone, the recorded commit not fetched)."""
    source = _source if _source is not None else Path(repo.working_dir)
    listed = _git_bytes(source, ["ls-tree", "-r", "-z", "--full-tree", sha]) or b""
    links = []  # (path, commit) of each gitlink: "<mode> <type> <object>\t<path>"
    for entry in listed.split(b"\0"):
        meta, _, name = entry.partition(b"\t")
        if meta.startswith(b"160000 commit "):
            links.append((os.fsdecode(name), meta.split()[2].decode()))
    said = []
    for path, link in links:
        shown = f"{_prefix}{path}"
        sub, dest = source / path, tree / path
        gitdir = _git_bytes(sub, ["rev-parse", "--absolute-git-dir"])
        top = _git_bytes(sub, ["rev-parse", "--show-toplevel"])
        if gitdir is None or top is None or Path(os.fsdecode(top.strip())).resolve() != sub.resolve():
            said.append(f"submodule {shown} (at {link[:12]}) is not initialized in {source}: the checks ran without "
                        "its content (git submodule update --init, then deploy again)")
            continue
        if _git_bytes(sub, ["cat-file", "-e", f"{link}^{{commit}}"]) is None:
            said.append(f"submodule {shown}: its clone in {sub} lacks the commit {link[:12]} the superproject records: "
                        "the checks ran without its content (git submodule update, then deploy again)")
            continue
        dest.mkdir(parents=True, exist_ok=True)
        index = tree.parent / "submodule-index"
        env = {"GIT_INDEX_FILE": str(index), "GIT_DIR": os.fsdecode(gitdir.strip()), "GIT_WORK_TREE": str(dest)}
        try:
            if (_git_bytes(dest, ["read-tree", link], env) is None
                    or _git_bytes(dest, ["checkout-index", "--all", "--force"], env) is None):
                said.append(f"submodule {shown}: its content at {link[:12]} could not be checked out from {sub}: the "
                            "checks ran without it")
                continue
        finally:
            index.unlink(missing_ok=True)
        said += fill_submodules(repo, dest, link, f"{shown}/", sub)
    return said


def _git_bytes(cwd: Path, args: list[str], env: dict[str, str] | None = None) -> bytes | None:
    """git's stdout in `cwd` (REPO_ENV's variables dropped, then `env`'s set), None when it fails or cannot run."""
    full = {**{k: v for k, v in os.environ.items() if k not in REPO_ENV}, "GIT_TERMINAL_PROMPT": "0", **(env or {})}
    try:
        proc = subprocess.run(["git", "-c", "protocol.ext.allow=never", "-c", "core.hooksPath=/dev/null", *args],
                              cwd=cwd, capture_output=True, env=full, check=False)
    except OSError:
        return None
    return proc.stdout if proc.returncode == 0 else None
