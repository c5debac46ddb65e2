"""`mosaic-diag triage <logfile|->...`: find, label, group and rate every error event of a log (or of several
files read as one log: rotated logs)."""

from pathlib import Path
from typing import Annotated

import typer

from mosaic_diag.commands._options import OutputFileOption, QuietOption, ReportFormat, ReportFormatOption


def triage(
    logfiles: Annotated[list[str] | None, typer.Argument(
        show_default=False,
        help="Log files (plain, gzip, bzip2 or xz), or - for stdin (once at most); several are triaged as one "
             "log, read in the order of their first timestamps (omit with --render).")] = None,
    fmt: ReportFormatOption = ReportFormat.table,
    output: OutputFileOption = None,
    quiet: QuietOption = False,
    since: Annotated[str | None, typer.Option(help="Only events at/after this time "
                                              "(ISO-8601, or a duration ago: 30m, 2h, 1d).")] = None,
    until: Annotated[str | None, typer.Option(help="Only events at/before this time.")] = None,
    label: Annotated[list[str] | None, typer.Option("--label", "-l",
                                                    help="Only these labels (aliases accepted); repeatable.")] = None,
    category: Annotated[list[str] | None, typer.Option("--category", "-c",
                                                       help="Only these categories; repeatable.")] = None,
    min_severity: Annotated[str | None, typer.Option(
        help="Only events at least this severe: low, medium, high, critical.")] = None,
    rules: Annotated[Path | None, typer.Option(help="A rules file that extends the taxonomy.")] = None,
    playbooks: Annotated[Path | None, typer.Option(help="Playbook directory (default: shipped).")] = None,
    no_playbooks: Annotated[bool, typer.Option("--no-playbooks", help="Do not plan playbooks.")] = False,
    top: Annotated[int, typer.Option(help="Groups shown in the table.", min=1)] = 30,
    render: Annotated[bool, typer.Option("--render", help="Read the service's logs from Render's API "
                                         "(RENDER_API_KEY; window: --since, default 1h, to --until).")] = False,
    render_service: Annotated[str | None, typer.Option("--render-service", help="The Render service id "
                                                       "(default: render.service_id or RENDER_SERVICE_ID).")] = None,
) -> int:
    """Read a Render / uvicorn / JSON log and report every error event: labels, groups,
    anomalous rates and the playbook each group would run (dry run).

    Several files (app.log.2.gz app.log.1 app.log, or logs/*.log*: rotated logs) are one triage, as if
    one log: each is decompressed on its own and read in the order of the first timestamp in its head
    (files without one last, in the order given); every event, sample and marker names its file
    (NAME:LINE, JSON "source"), line numbers counted within that file."""
    from mosaic_diag.commands._common import sigterm_as_interrupt
    from mosaic_diag.commands.triage_run import TriageArgs, run_triage

    sigterm_as_interrupt()  # (the fast path has it from `entry`, as its SIGTERM_STOPS)
    return run_triage(TriageArgs(
        logfiles=tuple(logfiles or ()), fmt=fmt.value, output=output, quiet=quiet, since=since, until=until,
        labels=tuple(label or ()), categories=tuple(category or ()), min_severity=min_severity, rules=rules,
        playbooks=playbooks, no_playbooks=no_playbooks, top=top, render=render, render_service=render_service))


def register(app: typer.Typer) -> None:
    app.command("triage")(triage)
