"""`mosaic-diag lint [PATHS...]`: the code rules, `file:line:col: CODE message` (ruff's format)."""

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


def lint(
    paths: Annotated[list[Path] | None, typer.Argument(help="Files or directories (default: lint.paths, '.').")] = None,
    select: Annotated[list[str] | None, typer.Option("--select", help="Only these rules (codes, names or "
                                                                        "prefixes; comma-separated).")] = None,
    ignore: Annotated[list[str] | None, typer.Option("--ignore", help="Skip these rules (adds to lint.ignore).")]
    = None,
    list_rules: Annotated[bool, typer.Option("--list-rules", help="Describe the rules and exit.")] = False,
    statistics: Annotated[bool, typer.Option("--statistics", help="Count the findings per rule.")] = False,
    fix: Annotated[bool, typer.Option("--fix", help="Apply the certainly-safe rewrites ([*] or [~] in --statistics).")]
    = False,
    diff: Annotated[bool, typer.Option("--diff", help="Show the --fix rewrites as a diff; change nothing.")] = False,
    no_cache: Annotated[bool, typer.Option("--no-cache", help="Neither read nor write the result cache.")] = False,
    require_schema: Annotated[bool, typer.Option("--require-schema", help="Exit 2 when MD007 meets INSERTs it "
                                                 "cannot judge for want of a schema (the pre-commit hook).")]
    = False,
    fmt: Annotated[LintFormat, typer.Option("--format", "-f", case_sensitive=False,
                                            help="How the findings are written (text is table).")]
    = LintFormat.table,
) -> int:
    """Lint Python and SQL files for the Mosaic database and error-handling rules."""
    from mosaic_diag.commands.lint_run import LintOptions, run_lint, split

    return run_lint(LintOptions(tuple(paths or ()), split(select), split(ignore), list_rules, statistics, fix, diff,
                                no_cache, require_schema, fmt.value))


def register(app: typer.Typer) -> None:
    app.command("lint")(lint)
