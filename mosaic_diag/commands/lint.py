"""`mosaic-diag lint [PATHS...]`: the code rules, `file:line:col: CODE message`."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from mosaic_diag.commands._options import FormatOption, OutputFormat


def _split(values: list[str] | None) -> list[str]:
    return [part.strip() for v in values or [] for part in v.split(",") if part.strip()]


def lint(
    paths: Annotated[list[Path] | None, typer.Argument(help="Files or directories (default: lint.paths, '.').")] = None,
    select: Annotated[list[str] | None, typer.Option("--select", help="Only these rules (codes, names or "
                                                                        "prefixes; comma-separated).")] = None,
    ignore: Annotated[list[str] | None, typer.Option("--ignore", help="Skip these rules (adds to lint.ignore).")]
    = None,
    list_rules: Annotated[bool, typer.Option("--list-rules", help="Describe the rules and exit.")] = False,
    fmt: FormatOption = OutputFormat.table,
) -> int:
    """Lint Python files for the Mosaic database and error-handling rules (exit 1 on findings,
    2 when a file does not parse)."""
    from mosaic_diag.commands._common import config_here
    from mosaic_diag.lint.engine import lint_paths, schema_tables, select_rules
    from mosaic_diag.lint.report import failure_lines, render
    from mosaic_diag.lint.settings import lint_settings

    config = config_here()
    settings = lint_settings(config, select=_split(select), ignore=_split(ignore))
    rules = select_rules(settings.select, settings.ignore)
    if list_rules:
        for rule in rules:
            sys.stdout.write(f"{rule.code} {rule.name}: {type(rule).summary()}\n")
        return 0
    targets = list(paths) if paths else [config.root / p for p in settings.paths]
    result = lint_paths(targets, rules=rules, tables=schema_tables(settings.schema_files),
                        conn_factories=settings.conn_factories)
    sys.stdout.write(render(result, fmt.value))
    for line in failure_lines(result):
        sys.stderr.write(line + "\n")
    if result.failures:
        return 2
    return 1 if result.findings else 0


def register(app: typer.Typer) -> None:
    app.command("lint")(lint)
