"""`mosaic-diag predeploy`: the deploy gate (settings, database, schema, prompts, providers, golden, lint)."""

import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from mosaic_diag.commands._options import OutputFileOption, QuietOption, ReportFormat, ReportFormatOption

if TYPE_CHECKING:
    from mosaic_diag.checks.model import Report

_STATUS_STYLE = {"passed": "green", "failed": "bold red", "warning": "yellow", "skipped": "dim", "timeout": "red"}


def predeploy(
    only: Annotated[list[str] | None, typer.Option("--only", help="Checks, tags or ids to run (comma-separated).")]
    = None,
    skip: Annotated[list[str] | None, typer.Option("--skip", help="Checks, tags or ids to leave out.")] = None,
    fail_level: Annotated[str | None, typer.Option("--fail-level", help="error (default), warning or info.")] = None,
    timeout: Annotated[float | None, typer.Option("--timeout", help="Seconds per check (default 10).")] = None,
    junit: Annotated[Path | None, typer.Option("--junit", help="Also write a JUnit XML report here.")] = None,
    root: Annotated[Path | None, typer.Option(
        "--root", help="The app repository (default: the one holding the current directory, at its top).")] = None,
    fmt: ReportFormatOption = ReportFormat.table,
    output: OutputFileOption = None,
    quiet: QuietOption = False,
) -> int:
    """Run the predeploy checks; exit 1 if any check fails at the fail level."""
    from mosaic_diag.checks.predeploy import predeploy as run
    from mosaic_diag.checks.report import as_json, as_junit, as_markdown, write_atomic
    from mosaic_diag.commands._common import check_output, write_report
    from mosaic_diag.config import config_root
    from mosaic_diag.render.progress import progress, progress_wanted

    check_output(fmt, output, junit)
    # from a subdirectory, the repository's top level: its schema, prompt files and config are read from there
    with progress("predeploy checks", enabled=progress_wanted(fmt, quiet)) as on_progress:
        report = run((root or config_root(os.environ)).resolve(), os.environ, only=only or (), skip=skip or (),
                     fail_level=fail_level, timeout=timeout, on_progress=on_progress)
    if junit is not None:
        write_atomic(junit, as_junit(report), to_device=True)
    if fmt is ReportFormat.json:
        sys.stdout.write(as_json(report))
    elif fmt is ReportFormat.markdown:
        sys.stdout.write(as_markdown(report))
    elif fmt is ReportFormat.html:
        from mosaic_diag.render.html import predeploy_html

        write_report(predeploy_html(report), output)
    else:
        _table(report)
    return report.exit_code


def _table(report: "Report") -> None:
    """One row per result (its hint, label and playbook), then what each playbook says, once: the same
    advice repeated in every row of a folded column was unreadable in 80 columns."""
    from rich.markup import escape
    from rich.table import Table
    from rich.text import Text

    from mosaic_diag.render.console import out, print_hanging, print_table

    table = Table(show_lines=False)
    for column in ("Check", "Status", "ID"):
        table.add_column(column, no_wrap=True)
    for column in ("Message", "Hint"):
        table.add_column(column, overflow="fold", ratio=1)
    # the playbook blocks (playbook, label, severity, diagnosis, recommendation, plan), in order, and the ids they serve
    advice: dict[tuple[str | None, str | None, str | None, str | None, str | None, tuple[str, ...]], list[str]] = {}
    for o in report.outcomes:
        style = _STATUS_STYLE.get(o.status, "")
        if not o.results:
            table.add_row(o.check, f"[{style}]{o.status}[/]", "", escape(o.reason or ""), "")
        for r in o.results:
            status = "silenced" if r.silenced else r.level
            hint = [r.hint] if r.hint else []
            if r.label:
                hint.append(f"label {r.label}" + (f" ({r.severity})" if r.severity else "")
                            + (f", playbook {r.playbook}" if r.playbook else ""))
            table.add_row(o.check, f"[{style}]{status}[/]", r.id, escape(r.located), escape("\n".join(hint)))
            block = (r.playbook, r.label, r.severity, r.diagnosis, r.recommendation, tuple(r.plan))
            if r.playbook and (r.diagnosis or r.recommendation or r.plan):
                advice.setdefault(block, []).append(r.id)
    console = out()
    print_table(console, table, markup=True, highlight=False)
    for (playbook, label, severity, diagnosis, recommendation, plan), ids in advice.items():
        served = ", ".join(dict.fromkeys(ids)) + (f" ({len(ids)} results)" if len(ids) > 1 else "")
        console.print()
        print_hanging(console, Text.assemble((f"playbook {playbook}", "bold"), f" for {served}: label {label}"
                                             + (f" ({severity})" if severity else "")))
        for line in [t for t in (diagnosis, recommendation) if t]:
            print_hanging(console, Text(line), indent=2, hang=0)
        for step in plan:  # (a step wraps under its text, past `plan -> `)
            print_hanging(console, Text(f"plan {step}"), indent=2, hang=len("plan -> "))
    verdict = "[bold red]FAILED[/]" if report.exit_code else "[green]passed[/]"
    console.print(f"{chr(10) if advice else ''}{verdict}: {len(report.failing)} findings at or above "
                  f"{report.fail_level}; wall time {report.wall_time:.2f}s")


def register(app: typer.Typer) -> None:
    app.command("predeploy")(predeploy)
