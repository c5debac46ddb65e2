"""The git pre-commit hook: install / uninstall it, and run the code rules on the staged files.

`install` writes a small shell script into the hooks directory git uses (`core.hooksPath`
honoured, via `git rev-parse --git-path hooks`). A `core.hooksPath` set outside the repository's own
config (the global `~/.gitconfig`, the system config, `git -c`) is shared: a hook written there runs
for every repository using it, so install and uninstall act there only when told (`shared_ok`).
A pre-existing hook that is not ours is moved aside to `pre-commit.mosaic-diag-chained` and called
first; `uninstall` puts it back. One that finds what to run by its own file name (husky's) would run nothing
there: install refuses it.
Installing twice changes nothing. `run` lints the STAGED content of .py and .sql files (blobs read from
the index with one `git cat-file --batch`), not the working tree, through the content-hash cache,
and is kept light: stdlib plus the linter, no Typer, no Rich, pglast only when a file holds SQL.
INSERTs that MD007 cannot judge because no schema was found refuse the commit (exit 2).
"""

from __future__ import annotations

import dataclasses
import os
import re
import shlex
import subprocess
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from mosaic_diag.errors import DiagError, UsageError
from mosaic_diag.platform.atomic import write_atomic

if TYPE_CHECKING:
    from mosaic_diag.lint.settings import LintSettings

HOOK_NAME = "pre-commit"
CHAINED_NAME = "pre-commit.mosaic-diag-chained"
MARKER = "# mosaic-diag-hook v1"

_SCRIPT = """#!/bin/sh
# mosaic-diag pre-commit hook: `mosaic-diag hook install` wrote it, `mosaic-diag hook uninstall` removes it.
{marker}
# A hook that was here before is kept beside this one and runs first.
# -P: the installed mosaic-diag runs, never a mosaic_diag/ package of the repository (what -m would put first).
chained="$(dirname "$0")/{chained}"
if [ -f "$chained" ] && [ -x "$chained" ]; then
    "$chained" "$@" || exit $?
fi
exec {python} -P -m mosaic_diag.lint.hook run
"""


@dataclass(frozen=True)
class HookChange:
    """What install/uninstall did."""

    action: str            # installed | updated | unchanged | uninstalled | restored | absent
    hook: Path
    chained: Path | None = None
    shared: str | None = None  # the config that set a shared core.hooksPath ("global file:~/.gitconfig")
    in_tree: bool = False  # the hook is in the working tree, not ignored: `git add -A` would commit it


def _git(repo: Path, *args: str, stdin: bytes | None = None, env: Mapping[str, str] | None = None) -> bytes:
    try:
        proc = subprocess.run(["git", *args], cwd=repo, input=stdin, capture_output=True, check=False,
                              env=dict(env) if env is not None else None)
    except FileNotFoundError as exc:
        raise UsageError("git is not installed") from exc
    if proc.returncode != 0:
        message = proc.stderr.decode(errors="replace").strip().splitlines()
        raise UsageError(f"git {args[0]} failed: {message[-1] if message else proc.returncode}", path=str(repo))
    return proc.stdout


def hooks_dir(repo: Path) -> Path:
    """The directory git runs hooks from (core.hooksPath or .git/hooks)."""
    out = _git(repo, "rev-parse", "--git-path", "hooks").decode().strip()
    path = Path(out)
    return path if path.is_absolute() else (repo / path)


def shared_hooks_path(repo: Path) -> str | None:
    """Where `core.hooksPath` is set when that is not the repository's own config ("global
    file:/home/me/.gitconfig"), else None (unset, or set in .git/config or the worktree's config)."""
    try:
        proc = subprocess.run(["git", "config", "--show-scope", "--show-origin", "--get", "core.hooksPath"],
                              cwd=repo, capture_output=True, check=False)
    except FileNotFoundError as exc:
        raise UsageError("git is not installed") from exc
    fields = proc.stdout.decode(errors="replace").rstrip("\n").split("\t", 2)
    if proc.returncode != 0 or len(fields) != 3 or fields[0] in ("local", "worktree"):
        return None
    return f"{fields[0]} {fields[1]}"


def _hooks_dir_to_change(repo: Path, shared_ok: bool, doing: str) -> tuple[Path, str | None]:
    """The hooks directory, and the config that shares it when it is shared (a UsageError unless
    `shared_ok`: a hook there runs for every repository using that path)."""
    directory = hooks_dir(repo)
    shared = shared_hooks_path(repo)
    if shared is not None and not shared_ok:
        raise UsageError(f"core.hooksPath {directory} is set in the {shared}, not in this repository: "
                         f"{doing} there changes the {HOOK_NAME} hook of every repository using that path; "
                         "re-run with --global-hooks-path if you mean it, or set core.hooksPath in this "
                         "repository (git config --local core.hooksPath .git/hooks)", path=str(repo))
    return directory, shared


def script(python: str) -> str:
    return _SCRIPT.format(marker=MARKER, chained=CHAINED_NAME, python=shlex.quote(python))


_HOOK_BYTES = 1 << 20  # a hook script is read to here (a hook that is a link to /dev/zero is not read without end)


def _hook_text(path: Path) -> str:
    """The start of a hook script's text ('' when it cannot be read: not a regular file, no permission)."""
    from mosaic_diag.platform.atomic import read_state

    try:
        return read_state(path, limit=_HOOK_BYTES).decode("utf-8", errors="replace")
    except OSError:
        try:  # larger than the limit: its start is enough to judge it
            with path.open("rb") as fh:
                return fh.read(_HOOK_BYTES).decode("utf-8", errors="replace") if path.is_file() else ""
        except OSError:
            return ""


def _is_ours(path: Path) -> bool:
    return MARKER in _hook_text(path)


# `basename "$0"`, `basename -- "$0"`, `${0##*/}`: a script that decides what to run by its own file name
_OWN_NAME = re.compile(r"""basename\s+(?:--\s+)?["']?\$(?:0(?!\w)|\{0\})|\$\{0##\*/\}""")
# `. "$(dirname "$0")/h"`, `. "$(dirname -- "$0")/_/husky.sh"`: a file of the hook's directory it reads in
_SOURCED = re.compile(r"""^\s*(?:\.|source)\s+["']?\$\(dirname\s+(?:--\s+)?["']?\$0["']?\)/([^"'\s;]+)""", re.MULTILINE)


def _runs_by_its_name(hook: Path) -> bool:
    """Whether a hook script finds what to run by its own file name (husky's hooks: `basename "$0"` in the script,
    or in a file of its directory it sources): moved aside under another name, it would run nothing, silently."""
    text = _hook_text(hook)
    if _OWN_NAME.search(text):
        return True
    return any(_OWN_NAME.search(_hook_text(hook.parent / name)) for name in _SOURCED.findall(text))




def install(repo: Path, *, python: str | None = None, shared_ok: bool = False) -> HookChange:
    """Install (or refresh) the hook; idempotent; an existing foreign hook is chained. Into a hooks
    directory shared by a global `core.hooksPath` only with `shared_ok`."""
    directory, shared = _hooks_dir_to_change(repo, shared_ok, "installing")
    hook = directory / HOOK_NAME
    in_tree = _tree_path(repo, hook)
    if in_tree is not None and (hook.exists() or hook.is_symlink()) and not _is_ours(hook) \
            and _git(repo, "--literal-pathspecs", "ls-files", "-z", "--", in_tree):
        raise UsageError(f"the {HOOK_NAME} hook is a file this repository tracks (core.hooksPath): replaced, the next "
                         "commit would give every clone this hook, with this machine's interpreter path; add "
                         f"`{shlex.quote(python or sys.executable)} -P -m mosaic_diag.lint.hook run` to it instead",
                         path=str(hook))
    change = _install(directory, python)
    exposed = in_tree is not None and _git_status(repo, "check-ignore", "-q", "--no-index", "--", in_tree) == 1
    return dataclasses.replace(change, shared=shared, in_tree=exposed)


def _tree_path(repo: Path, path: Path) -> str | None:
    """`path` relative to the working tree of `repo` (its top level) when it lies in it outside `.git`, else None."""
    try:
        rel = path.resolve().relative_to(repo.resolve())
    except (OSError, ValueError):
        return None
    return None if not rel.parts or rel.parts[0] == ".git" else rel.as_posix()


def _git_status(repo: Path, *args: str) -> int:
    """git's exit status for `args` in `repo` (its output dropped)."""
    try:
        return subprocess.run(["git", *args], cwd=repo, capture_output=True, check=False).returncode
    except FileNotFoundError as exc:
        raise UsageError("git is not installed") from exc


def _install(directory: Path, python: str | None) -> HookChange:
    hook, chained = directory / HOOK_NAME, directory / CHAINED_NAME
    text = script(python or sys.executable)
    if hook.is_dir():  # (chained, it would be run: `[ -x ]` holds for a directory, and every commit would fail)
        raise UsageError("is a directory, not a hook script: move it away first", path=str(hook))
    if hook.exists() or hook.is_symlink():
        if _is_ours(hook):
            if (chained.exists() or chained.is_symlink()) and _runs_by_its_name(chained):  # an older version's
                raise UsageError(f"the chained hook {CHAINED_NAME} finds what to run by its own file name (basename "
                                 "\"$0\": husky?): under that name it runs nothing; `mosaic-diag hook uninstall` puts "
                                 "it back", path=str(chained))
            if hook.read_text(encoding="utf-8") == text:
                return HookChange("unchanged", hook, chained if chained.exists() else None)
            write_atomic(hook, text, mode=0o755)
            return HookChange("updated", hook, chained if chained.exists() else None)
        if chained.exists() or chained.is_symlink():
            raise UsageError(f"both a foreign {HOOK_NAME} hook and {CHAINED_NAME} exist; move one away first",
                             path=str(directory))
        if _runs_by_its_name(hook):
            raise UsageError(f"the existing {HOOK_NAME} hook finds what to run by its own file name (basename \"$0\": "
                             f"husky?); moved aside to {CHAINED_NAME} it would silently run nothing; add "
                             f"`{shlex.quote(python or sys.executable)} -P -m mosaic_diag.lint.hook run` to the "
                             "pre-commit hook that tool runs instead", path=str(hook))
        os.replace(hook, chained)
        write_atomic(hook, text, mode=0o755)
        return HookChange("installed", hook, chained)
    write_atomic(hook, text, mode=0o755)
    return HookChange("installed", hook, None)


def uninstall(repo: Path, *, shared_ok: bool = False) -> HookChange:
    """Remove our hook and put a chained one back; a foreign hook is left alone. From a hooks directory
    shared by a global `core.hooksPath` only with `shared_ok`."""
    directory, shared = _hooks_dir_to_change(repo, shared_ok, "uninstalling")
    return dataclasses.replace(_uninstall(directory), shared=shared)


def _uninstall(directory: Path) -> HookChange:
    hook, chained = directory / HOOK_NAME, directory / CHAINED_NAME
    if not hook.exists() and not hook.is_symlink():
        return HookChange("absent", hook)
    if not _is_ours(hook):
        raise UsageError(f"{HOOK_NAME} is not a mosaic-diag hook; leaving it alone", path=str(hook))
    if chained.exists() or chained.is_symlink():
        os.replace(chained, hook)
        return HookChange("restored", hook, chained)
    hook.unlink()
    return HookChange("uninstalled", hook)


_LINTED_MODES = (b"100644", b"100755")  # regular files: a symlink's blob is its target's name, a gitlink a commit


def staged_python_files(repo: Path) -> list[tuple[str, str]]:
    """(path, blob id) of each staged .py / .sql regular file that is added, modified or changed type,
    straight from `git diff --cached --raw` (the index side's blob id; no pathspec, so a name such as
    `[ab].py` or `*.py` names itself only; a name git holds in bytes that are not UTF-8 decoded as the OS
    does, `os.fsdecode`). A symlink or a submodule named `*.py` is no Python source: left out."""
    raw = _git(repo, "diff", "--cached", "--raw", "-z", "--no-abbrev", "--no-renames", "--diff-filter=AMT")
    fields = raw.split(b"\0")
    out = []
    for meta, path in zip(fields[0::2], fields[1::2], strict=False):
        parts = meta.lstrip(b":").split()
        if len(parts) < 5 or parts[1] not in _LINTED_MODES or not path.endswith((b".py", b".sql")):
            continue
        out.append((os.fsdecode(path), parts[3].decode()))
    return out


def read_blobs(repo: Path, blobs: Sequence[str]) -> list[bytes]:
    """The contents of blobs, in order, with one `git cat-file --batch`."""
    if not blobs:
        return []
    raw = _git(repo, "cat-file", "--batch", stdin=("\n".join(blobs) + "\n").encode())
    out, pos = [], 0
    for blob in blobs:
        header_end = raw.index(b"\n", pos)
        header = raw[pos:header_end].split()
        if len(header) != 3:  # "<sha> missing": an index naming a blob the repository lacks
            raise UsageError(f"git cannot read the staged blob {blob} ({b' '.join(header[1:]).decode(errors='replace')}"
                             "): is the repository damaged? (git fsck)", path=str(repo))
        _sha, _kind, size = header
        start = header_end + 1
        out.append(raw[start: start + int(size)])
        pos = start + int(size) + 1
    return out


def run_staged(repo: Path, env: Mapping[str, str], fmt: str = "table") -> tuple[int, str, list[str]]:
    """Lint the staged Python and SQL files: (exit code, report in `fmt`, error lines). The table report of
    a clean run is empty (the hook stays quiet); json / markdown always say what was linted.
    Staged blobs identical to a recent run's (git's blob ids are content hashes), with the same
    settings, schema and linter, give that run's answer without reading a blob (`lint.runcache`)."""
    from mosaic_diag.config import load_config
    from mosaic_diag.lint.runcache import RunCache, RunKey
    from mosaic_diag.lint.settings import lint_settings

    settings = lint_settings(load_config(repo, env))
    files = staged_python_files(repo)
    key = RunKey("hook", str(repo), fmt, settings, files)
    key.add_files(settings.schema_files)
    runs = RunCache(settings.cache_dir) if settings.cache_dir is not None else None
    hit = runs.get(key.hexdigest()) if runs is not None else None
    if hit is not None:
        code, output = hit
        return code, "".join(t for s, t in output if s == 1), [t for s, t in output if s == 2]
    code, report, errors = _lint_staged(repo, settings, files, fmt)
    if runs is not None:
        runs.put(key.hexdigest(), code, [(1, report), *((2, line) for line in errors)])
    return code, report, errors


def _lint_staged(repo: Path, settings: LintSettings, files: list[tuple[str, str]],
                 fmt: str) -> tuple[int, str, list[str]]:
    from mosaic_diag.lint.engine import Source, lint_sources, schema_tables, select_rules, source_of, with_failures
    from mosaic_diag.lint.report import failure_lines, render

    blobs = read_blobs(repo, [blob for _, blob in files])
    read = [source_of(path, data) for (path, _), data in zip(files, blobs, strict=True)]
    result = lint_sources([s for s in read if isinstance(s, Source)],
                          rules=select_rules(settings.select, settings.ignore),
                          tables=schema_tables(settings.schema_files), conn_factories=settings.conn_factories,
                          cache_dir=settings.cache_dir)
    result = with_failures(result, [s for s in read if not isinstance(s, Source)], [path for path, _ in files])
    errors = failure_lines(result) + schema_errors(settings.schema_note, result.unknown_tables)
    report = render(result, fmt)
    if result.failures or errors:
        return 2, report, errors
    if result.findings:
        advice = ("mosaic-diag: commit refused: fix the findings above (or silence one with "
                  "`# noqa: CODE` or `# mosaic-diag: ignore[CODE]` on its line)")
        return 1, report, [advice]
    return 0, "" if fmt == "table" else report, []


def schema_errors(note: str, unknown: Sequence[str]) -> list[str]:
    """MD007 never passes silently: INSERTs into tables of a schema that was not found refuse the commit."""
    if not note or not unknown:
        return []
    def one(item: str) -> str:  # "path:line: table" -> "table (path:line)"
        where, _, table = item.rpartition(": ")
        return f"{table} ({where})" if where else item

    from mosaic_diag.platform.terminal import one_line_escaped

    shown = ", ".join(one_line_escaped(one(u)) for u in unknown[:3])
    shown += f" and {len(unknown) - 3} more" if len(unknown) > 3 else ""
    return [f"mosaic-diag: error: {note}", f"mosaic-diag: error: MD007 cannot judge INSERT INTO {shown}: set "
            "lint.schema, or `lint.ignore = [\"MD007\"]` to lint without it"]


def _toplevel() -> Path:
    return Path(_git(Path.cwd(), "rev-parse", "--show-toplevel").decode().strip())


def main(argv: Sequence[str]) -> int:
    """`python -P -m mosaic_diag.lint.hook run` (what the installed hook executes)."""
    if list(argv) != ["run"]:
        sys.stderr.write("usage: python -m mosaic_diag.lint.hook run\n")
        return 2
    try:
        code, report, errors = run_staged(_toplevel(), os.environ)
    except DiagError as exc:
        from mosaic_diag.platform.terminal import one_line_escaped

        sys.stderr.write(_shown(f"mosaic-diag: error: {one_line_escaped(str(exc))}\n"))
        return exc.exit_code
    sys.stdout.write(_shown(report))
    for line in errors:
        sys.stderr.write(_shown(line + "\n"))
    return code


def _shown(text: str) -> str:
    """What the hook prints, through the one redactor and terminal filter the CLI's output goes through (a
    staged file's name or string is the repository's text: an escape sequence in it must not reach the
    terminal that runs `git commit`)."""
    from mosaic_diag.platform.redact import redact_text
    from mosaic_diag.platform.terminal import neutralize_controls

    return neutralize_controls(redact_text(text), moves=False)


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
