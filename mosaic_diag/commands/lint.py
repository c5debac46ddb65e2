"""`mosaic-diag lint [PATHS...]`: the code rules, `file:line:col: CODE message` (ruff's format)."""

from __future__ import annotations

import sys
from enum import Enum
from pathlib import Path
from typing import Annotated

import typer


class LintFormat(str, Enum):
    """How `lint` renders its findings."""

    table = "table"
    text = "text"
    json = "json"
    markdown = "markdown"
    sarif = "sarif"
    github = "github"


def _split(values: list[str] | None) -> list[str]:
    return [part.strip() for v in values or [] for part in v.split(",") if part.strip()]


def lint(
    paths: Annotated[list[Path] | None, typer.Argument(help="Files or directories (default: lint.paths, '.').")] = None,
    select: Annotated[list[str] | None, typer.Option("--select", help="Only these rules (codes, names or "
                                                                        "prefixes; comma-separated).")] = None,
    ignore: Annotated[list[str] | None, typer.Option("--ignore", help="Skip these rules (adds to lint.ignore).")]
    = None,
    list_rules: Annotated[bool, typer.Option("--list-rules", help="Describe the rules and exit.")] = False,
    statistics: Annotated[bool, typer.Option("--statistics", help="Count the findings per rule.")] = False,
    fix: Annotated[bool, typer.Option("--fix", help="Apply the certainly-safe rewrites ([*] in --statistics).")]
    = False,
    diff: Annotated[bool, typer.Option("--diff", help="Show the --fix rewrites as a diff; change nothing.")] = False,
    no_cache: Annotated[bool, typer.Option("--no-cache", help="Neither read nor write the result cache.")] = False,
    require_schema: Annotated[bool, typer.Option("--require-schema", help="Exit 2 when MD007 meets INSERTs it "
                                                 "cannot judge for want of a schema (the pre-commit hook).")]
    = False,
    fmt: Annotated[LintFormat, typer.Option("--format", "-f", case_sensitive=False,
                                            help="table/text (default), json, markdown, sarif or github.")]
    = LintFormat.table,
) -> int:
    """Lint Python and SQL files for the Mosaic database and error-handling rules (exit 1 on findings,
    2 when a file does not parse or the configuration is wrong)."""
    from mosaic_diag.commands._common import config_here
    from mosaic_diag.lint.engine import lint_paths, schema_tables, select_rules
    from mosaic_diag.lint.report import as_statistics, failure_lines, render
    from mosaic_diag.lint.settings import lint_settings

    config = config_here()
    settings = lint_settings(config, select=_split(select), ignore=_split(ignore))
    rules = select_rules(settings.select, settings.ignore)
    if list_rules:
        for rule in rules:
            sys.stdout.write(f"{rule.code} {rule.name}: {type(rule).summary()}\n")
        return 0
    targets = list(paths) if paths else [config.root / p for p in settings.paths]
    options = {"rules": rules, "tables": schema_tables(settings.schema_files),
               "conn_factories": settings.conn_factories}
    cache = None if no_cache else settings.cache_dir
    result = lint_paths(targets, cache_dir=cache, **options)  # type: ignore[arg-type]
    if fix or diff:
        changed = _fix(result, diff)
        if diff:
            return 1 if changed else 0
        if changed:
            result = lint_paths(targets, cache_dir=cache, **options)  # type: ignore[arg-type]
    if settings.schema_note and result.unknown_tables:
        if require_schema:
            from mosaic_diag.lint.hook import schema_errors

            sys.stderr.write("\n".join(schema_errors(settings.schema_note, result.unknown_tables)) + "\n")
        else:
            sys.stderr.write(f"mosaic-diag: warning: {settings.schema_note}\n")
    sys.stdout.write(as_statistics(result) if statistics else render(result, fmt.value))
    for line in failure_lines(result):
        sys.stderr.write(line + "\n")
    if result.failures or (require_schema and settings.schema_note and result.unknown_tables):
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


def register(app: typer.Typer) -> None:
    app.command("lint")(lint)
