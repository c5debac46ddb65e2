"""The body of `mosaic-diag lint`, without Typer: the Typer command calls it, and `cli.main` calls
`fast_main` first so that a well-formed `mosaic-diag lint ...` (the editor's, the CI's, the hook's
run) skips Typer's per-invocation parameter machinery; anything else (`--help`, a wrong option)
goes the ordinary way and gets the ordinary messages."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from mosaic_diag.lint.settings import LintSettings

FORMATS = ("table", "text", "json", "markdown", "sarif", "github")


@dataclass(frozen=True)
class LintOptions:
    """What `mosaic-diag lint` was asked."""

    paths: tuple[Path, ...] = ()
    select: tuple[str, ...] = ()
    ignore: tuple[str, ...] = ()
    list_rules: bool = False
    statistics: bool = False
    fix: bool = False
    diff: bool = False
    no_cache: bool = False
    require_schema: bool = False
    fmt: str = "table"


def split(values: list[str] | tuple[str, ...] | None) -> tuple[str, ...]:
    return tuple(part.strip() for v in values or [] for part in v.split(",") if part.strip())


def run_lint(opts: LintOptions) -> int:
    """Lint, render, and return the exit code (1 findings, 2 unparsable file or configuration).

    With the cache on, a run whose inputs (the linter, the options, the settings, the schema and
    every file's content) are those of a recent run replays that run's output (`lint.runcache`):
    no file parsed, no rule imported. `--fix` / `--diff` / `--list-rules` always run."""
    import os

    from mosaic_diag.commands._common import warn_unknown_keys
    from mosaic_diag.config import config_root, load_config
    from mosaic_diag.errors import DiagError
    from mosaic_diag.lint.settings import lint_settings

    config = load_config(config_root(os.environ), os.environ)
    warn_unknown_keys(config)
    settings = lint_settings(config, select=opts.select, ignore=opts.ignore)
    targets = list(opts.paths) if opts.paths else [config.root / p for p in settings.paths]
    cache = None if opts.no_cache else settings.cache_dir
    if cache is None or opts.fix or opts.diff or opts.list_rules:
        return _run(opts, settings, targets, cache, _direct)
    from mosaic_diag.lint.runcache import RunCache, RunKey, discover, replay

    key = RunKey(os.getcwd(), opts.paths, opts.select, opts.ignore, opts.statistics, opts.require_schema, opts.fmt,
                 settings)
    key.add_files(settings.schema_files)
    try:
        key.add_files(discover(targets))
    except DiagError:  # a missing path: said by the run itself, after what it checks first
        return _run(opts, settings, targets, cache, _direct)
    runs = RunCache(cache)
    hit = runs.get(key.hexdigest())
    if hit is not None:
        replay(hit[1])
        return hit[0]
    output: list[tuple[int, str]] = []
    code = _run(opts, settings, targets, cache, lambda stream, text: output.append((stream, text)))
    runs.put(key.hexdigest(), code, output)
    replay(output)
    return code


def _direct(stream: int, text: str) -> None:
    (sys.stdout if stream == 1 else sys.stderr).write(text)


def _run(opts: LintOptions, settings: LintSettings, targets: list[Path], cache: Path | None,
         emit: Callable[[int, str], None]) -> int:
    """The lint itself, its output through `emit(1 | 2, text)` (stdout | stderr)."""
    from mosaic_diag.lint.engine import lint_paths, schema_tables, select_rules
    from mosaic_diag.lint.report import as_statistics, failure_lines, render

    rules = select_rules(settings.select, settings.ignore)
    if opts.list_rules:
        for rule in rules:
            emit(1, f"{rule.code} {rule.name}: {type(rule).summary()}\n")
        return 0
    options = {"rules": rules, "tables": schema_tables(settings.schema_files),
               "conn_factories": settings.conn_factories}
    result = lint_paths(targets, cache_dir=cache, **options)
    refused: list[str] = []
    if opts.fix or opts.diff:
        changed, refused = _fix(result, opts.diff, settings.root)
        for line in refused:
            emit(2, line + "\n")
        if opts.diff:
            return 2 if refused else 1 if changed else 0
        if changed:
            result = lint_paths(targets, cache_dir=cache, **options)
    unjudged = bool(settings.schema_note and result.unknown_tables)
    if unjudged and opts.require_schema:
        from mosaic_diag.lint.hook import schema_errors

        emit(2, "\n".join(schema_errors(settings.schema_note, result.unknown_tables)) + "\n")
    elif unjudged:
        emit(2, f"mosaic-diag: warning: {settings.schema_note}\n")
    emit(1, as_statistics(result) if opts.statistics else render(result, opts.fmt))
    for line in failure_lines(result):
        emit(2, line + "\n")
    if result.failures or refused or (unjudged and opts.require_schema):
        return 2
    return 1 if result.findings else 0


def _fix(result: object, diff: bool, root: Path | None = None) -> tuple[int, list[str]]:
    """Apply (or, with `diff`, show) the fixes: (the number of files changed, why a file was not fixed).

    A file is rewritten only when it still holds the text the run linted (else an edit made meanwhile would
    be lost), and then atomically, the replacement refused if it changed while the fixes were made; never a
    read-only file, nor, through a symlink, a file outside `root` (the repository); the new file keeps the old one's
    mode, owner and group (or it is not written)."""
    from itertools import groupby

    from mosaic_diag.lint.engine import decode_source, encode_source, text_digest
    from mosaic_diag.lint.fix import apply_fixes
    from mosaic_diag.lint.report import shown_path
    from mosaic_diag.platform.atomic import ChangedMeanwhile, write_atomic

    changed = 0
    refused: list[str] = []
    seen: set[Path] = set()  # a file reached through a symlink too is fixed once, where it lives
    fixable = [f for f in result.findings if f.fixes]  # type: ignore[attr-defined]
    digests: dict[str, str] = result.digests  # type: ignore[attr-defined]
    for path, group in groupby(sorted(fixable, key=lambda f: f.path), key=lambda f: f.path):
        real = Path(path).resolve()  # the file itself: a symlink stays a symlink
        if real in seen:
            continue
        seen.add(real)

        def refuse(why: str, shown: str = path) -> None:
            refused.append(f"mosaic-diag: error: {shown_path(shown)}: not fixed: {why}")

        try:
            data = real.read_bytes()
            text = decode_source(path, data)  # as the linter read it: its encoding, its line endings
        except (OSError, ValueError, LookupError, SyntaxError) as exc:
            refuse(f"cannot read it again ({getattr(exc, 'strerror', None) or exc})")
            continue
        if text_digest(text) != digests.get(path):
            refuse("it changed since it was linted; run again")
            continue
        fixed = apply_fixes(path, text, group)
        if fixed.after == text:
            continue
        if diff:
            changed += 1
            sys.stdout.write(fixed.diff())
            continue
        if root is not None and _leads_out(Path(path), real, root.resolve()):
            refuse(f"a symlink to {real}, outside {root}: fix that file there")
            continue
        st = real.stat()
        mode = st.st_mode & 0o7777
        if not mode & 0o200:
            refuse("read-only (give it write permission to let --fix rewrite it)")
            continue
        try:
            write_atomic(real, encode_source(path, fixed.after, data), mode=mode, unchanged=data,
                         owner=(st.st_uid, st.st_gid))
        except ChangedMeanwhile:
            refuse("it changed while being fixed; run again")
            continue
        except OSError as exc:
            refuse(f"cannot write it ({exc.strerror or exc})")
            continue
        changed += 1
        sys.stderr.write(f"mosaic-diag: fixed {fixed.fixed} finding(s) in {shown_path(path)}\n")
    return changed, refused


def _leads_out(path: Path, real: Path, root: Path) -> bool:
    """Whether `path`, a file in a directory of the repository `root`, is a symlink to a file outside it (a
    file named in a directory outside the repository, or through a system link such as macOS's /tmp, is the
    user's own choice)."""
    return path.absolute().parent.resolve().is_relative_to(root) and not real.is_relative_to(root)


class _Unhandled(Exception):
    """The arguments are not a plain lint invocation: let Typer handle them."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        raise _Unhandled(message)


def _parser() -> _Parser:
    p = _Parser(add_help=False, allow_abbrev=False)
    p.add_argument("paths", nargs="*", type=Path)
    p.add_argument("--select", action="append")
    p.add_argument("--ignore", action="append")
    for flag in ("--list-rules", "--statistics", "--fix", "--diff", "--no-cache", "--require-schema"):
        p.add_argument(flag, action="store_true")
    p.add_argument("--format", "-f", dest="fmt", type=str.lower, choices=FORMATS, default="table")
    return p


def fast_main(argv: list[str]) -> int | None:
    """`lint` arguments -> the exit code, or None when Typer should take them (help, errors)."""
    if any(a in {"-h", "--help"} for a in argv):
        return None
    try:
        ns = _parser().parse_args(argv)
    except _Unhandled:
        return None
    return run_lint(LintOptions(tuple(ns.paths), split(ns.select), split(ns.ignore), ns.list_rules, ns.statistics,
                                ns.fix, ns.diff, ns.no_cache, ns.require_schema, ns.fmt))
