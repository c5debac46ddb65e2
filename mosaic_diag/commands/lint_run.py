"""The body of `mosaic-diag lint`, without Typer: the Typer command calls it, and `cli.main` calls
`fast_main` first so that a well-formed `mosaic-diag lint ...` (the editor's, the CI's, the hook's
run) skips Typer's per-invocation parameter machinery; anything else (`--help`, a wrong option)
goes the ordinary way and gets the ordinary messages."""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass
from pathlib import Path

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
    """Lint, render, and return the exit code (1 findings, 2 unparsable file or configuration)."""
    from mosaic_diag.commands._common import config_here
    from mosaic_diag.lint.engine import lint_paths, schema_tables, select_rules
    from mosaic_diag.lint.report import as_statistics, failure_lines, render
    from mosaic_diag.lint.settings import lint_settings

    config = config_here()
    settings = lint_settings(config, select=opts.select, ignore=opts.ignore)
    rules = select_rules(settings.select, settings.ignore)
    if opts.list_rules:
        for rule in rules:
            sys.stdout.write(f"{rule.code} {rule.name}: {type(rule).summary()}\n")
        return 0
    targets = list(opts.paths) if opts.paths else [config.root / p for p in settings.paths]
    options = {"rules": rules, "tables": schema_tables(settings.schema_files),
               "conn_factories": settings.conn_factories}
    cache = None if opts.no_cache else settings.cache_dir
    result = lint_paths(targets, cache_dir=cache, **options)  # type: ignore[arg-type]
    if opts.fix or opts.diff:
        changed = _fix(result, opts.diff)
        if opts.diff:
            return 1 if changed else 0
        if changed:
            result = lint_paths(targets, cache_dir=cache, **options)  # type: ignore[arg-type]
    unjudged = bool(settings.schema_note and result.unknown_tables)
    if unjudged and opts.require_schema:
        from mosaic_diag.lint.hook import schema_errors

        sys.stderr.write("\n".join(schema_errors(settings.schema_note, result.unknown_tables)) + "\n")
    elif unjudged:
        sys.stderr.write(f"mosaic-diag: warning: {settings.schema_note}\n")
    sys.stdout.write(as_statistics(result) if opts.statistics else render(result, opts.fmt))
    for line in failure_lines(result):
        sys.stderr.write(line + "\n")
    if result.failures or (unjudged and opts.require_schema):
        return 2
    return 1 if result.findings else 0


def _fix(result: object, diff: bool) -> int:
    """Apply (or, with `diff`, show) the fixes; the number of files changed."""
    from itertools import groupby

    from mosaic_diag.lint.fix import apply_fixes
    from mosaic_diag.platform.atomic import write_atomic

    changed = 0
    fixable = [f for f in result.findings if f.fixes]  # type: ignore[attr-defined]
    for path, group in groupby(sorted(fixable, key=lambda f: f.path), key=lambda f: f.path):
        text = Path(path).read_text(encoding="utf-8")
        fixed = apply_fixes(path, text, group)
        if fixed.after == text:
            continue
        changed += 1
        if diff:
            sys.stdout.write(fixed.diff())
        else:
            write_atomic(Path(path), fixed.after, mode=Path(path).stat().st_mode & 0o7777)
            sys.stderr.write(f"mosaic-diag: fixed {fixed.fixed} finding(s) in {path}\n")
    return changed


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
