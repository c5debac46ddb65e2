"""`mosaic-diag triage <logfile|->`: find, label, group and rate every error event of a log."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from mosaic_diag.commands._options import OutputFileOption, QuietOption, ReportFormat, ReportFormatOption


def triage(
    logfile: Annotated[str | None, typer.Argument(
        help="A log file (plain or gzip), or - for stdin (omit with --render).")] = None,
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
    anomalous rates and the playbook each group would run (dry run)."""
    from mosaic_diag.commands._common import check_output, config_here, parse_time
    from mosaic_diag.plans import attach_plans, playbook_planner
    from mosaic_diag.render.progress import progress, progress_wanted
    from mosaic_diag.triage import open_triage

    check_output(fmt, output)
    cfg = config_here()
    source, stream = _input(logfile, render, render_service, since, until, cfg)
    opts: dict[str, Any] = {
        "stream": stream,
        "since": parse_time(since, "--since"),
        "until": parse_time(until, "--until"),
        "labels": label or [],
        "categories": category or [],
        "min_severity": min_severity,
        "rules": rules or (Path(cfg.get("rules")) if cfg.get("rules") else None),
        "config": cfg,
    }
    planner = None if no_playbooks else playbook_planner(playbooks or cfg.get("playbooks.dir"), cfg)
    if fmt is ReportFormat.json:
        from mosaic_diag.render.triage import write_json

        with open_triage(source, stdin=sys.stdin.buffer, **opts) as run:
            report = write_json(run.events, lambda: attach_plans(run.finish(), planner), sys.stdout)
    else:
        name = "stdin" if source == "-" else "Render logs" if stream is not None else Path(source).name
        with progress(f"triage {name}", enabled=progress_wanted(fmt, quiet), unit="bytes") as on_progress, \
                open_triage(source, stdin=sys.stdin.buffer, on_progress=on_progress, **opts) as run:
            for _ in run.events:
                pass
            report = attach_plans(run.finish(), planner)
        if fmt is ReportFormat.markdown:
            from mosaic_diag.render.triage import write_markdown

            write_markdown(report, sys.stdout)
        elif fmt is ReportFormat.html:
            from mosaic_diag.commands._common import write_report
            from mosaic_diag.render.html import triage_html

            write_report(triage_html(report), output)
        else:
            from mosaic_diag.render.triage import write_table

            write_table(report, top=top)
    return 1 if report.summary["events"] else 0


def _input(logfile: str | None, render: bool, service: str | None, since: str | None, until: str | None,
           cfg: Any) -> tuple[str, Any]:
    """The source name and, with --render, the stream of the API's entries (nothing fetched yet)."""
    import os
    from datetime import UTC, datetime, timedelta

    from mosaic_diag.commands._common import parse_time
    from mosaic_diag.errors import UsageError

    if not render:
        if service:
            raise UsageError("--render-service needs --render")
        if logfile is None:
            raise UsageError("give a log file, - for stdin, or --render")
        return logfile, None
    if logfile is not None:
        raise UsageError("give either a log file or --render, not both")
    from mosaic_diag.platform.render_logs import EntryStream, RenderLogs
    from mosaic_diag.platform.render_settings import render_settings_for

    settings = render_settings_for(cfg, os.environ, service)
    for note in settings.notes:
        print(f"note: {note}", file=sys.stderr)
    end = parse_time(until, "--until") or datetime.now(UTC)
    start = parse_time(since, "--since") or end - timedelta(hours=1)
    if start > end:
        raise UsageError("--since is after --until")
    logs = RenderLogs(settings, start, end)
    return f"render:{settings.service_id}", EntryStream(logs.entries())


def register(app: typer.Typer) -> None:
    app.command("triage")(triage)
