"""The body of `mosaic-diag triage`, without Typer: the Typer command calls `run_triage`, and the console
script (`entry.main`) calls `fast_main` first, so that the common `mosaic-diag triage FILE... [--format
json|table] [--no-playbooks] [--quiet]` skips importing Typer and its per-invocation parameter machinery.
Anything else (another option, `--help`, a malformed argument) goes the ordinary way and gets the
ordinary messages."""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

FORMATS = ("table", "json", "markdown", "html")


@dataclass(frozen=True)
class TriageArgs:
    """What `mosaic-diag triage` was asked (the Typer command's parameters, formats as strings)."""

    logfiles: tuple[str, ...] = ()
    fmt: str = "table"
    output: Path | None = None
    quiet: bool = False
    since: str | None = None
    until: str | None = None
    labels: tuple[str, ...] = ()
    categories: tuple[str, ...] = ()
    min_severity: str | None = None
    rules: Path | None = None
    playbooks: Path | None = None
    no_playbooks: bool = False
    top: int = 30
    render: bool = False
    render_service: str | None = None


def run_triage(args: TriageArgs) -> int:
    """Triage, render, and return the exit code (1: error events found)."""
    from mosaic_diag.commands._common import check_output, config_here, parse_time
    from mosaic_diag.plans import attach_plans, playbook_planner
    from mosaic_diag.triage import open_triage

    fmt = args.fmt
    check_output(fmt, args.output, inputs=args.logfiles)  # (`-o app.log`: the log would be replaced)
    cfg = config_here()
    source, stream = _input(args.logfiles, args.render, args.render_service, args.since, args.until, cfg)
    opts: dict[str, Any] = {
        "stream": stream,
        "since": parse_time(args.since, "--since"),
        "until": parse_time(args.until, "--until"),
        "labels": list(args.labels),
        "categories": list(args.categories),
        "min_severity": args.min_severity,
        "rules": args.rules or cfg.path("rules"),
        "config": cfg,
    }
    planner = None if args.no_playbooks else playbook_planner(args.playbooks or cfg.path("playbooks.dir"), cfg)
    if fmt == "json":
        from mosaic_diag.render.triage import write_json

        with open_triage(source, **opts) as run:
            report = write_json(run.events, lambda: attach_plans(run.finish(), planner), sys.stdout)
    else:
        from mosaic_diag.render.progress import progress, progress_wanted

        name = ("Render logs" if stream is not None else f"{len(source)} files" if len(source) > 1
                else "stdin" if source[0] == "-" else Path(source[0]).name)
        with progress(f"triage {name}", enabled=progress_wanted(fmt, args.quiet), unit="bytes") as on_progress, \
                open_triage(source, on_progress=on_progress, **opts) as run:
            for _ in run.events:
                pass
            report = attach_plans(run.finish(), planner)
        if fmt == "markdown":
            from mosaic_diag.render.triage import write_markdown

            write_markdown(report, sys.stdout)
        elif fmt == "html":
            from mosaic_diag.commands._common import write_report
            from mosaic_diag.render.html import triage_html

            write_report(triage_html(report), args.output)
        else:
            from mosaic_diag.render.triage import write_table

            write_table(report, top=args.top)
    # an input among several that is not a text log (a binary file) is said, the others reported: no all-clear.
    # The table (for a reader at the terminal) says it among its warnings, once; the other formats are read by
    # a program (JSON) or saved and posted (Markdown, HTML), so stderr says it too, for the human who ran it,
    # except where Markdown goes to the very terminal stderr goes to: that reader has it in the report already
    said = fmt == "table" or (fmt == "markdown" and _same_terminal(sys.stdout, sys.stderr))
    for name in report.summary.get("not_text_inputs", ()) if not said else ():
        print(next(w for w in report.summary["warnings"] if w.startswith(f"{name}: ")), file=sys.stderr)
    if report.summary["events"]:
        return 1
    return 2 if report.summary.get("not_text_inputs") else 0


def _same_terminal(a: Any, b: Any) -> bool:
    """Whether the streams `a` and `b` are both the same terminal (one device: `cmd` run at a prompt)."""
    import os

    try:
        if not (a.isatty() and b.isatty()):
            return False
        x, y = os.fstat(a.fileno()), os.fstat(b.fileno())
    except (AttributeError, OSError, ValueError):  # a replaced or closed stream
        return False
    return (x.st_dev, x.st_ino, x.st_rdev) == (y.st_dev, y.st_ino, y.st_rdev)


def _input(logfiles: tuple[str, ...], render: bool, service: str | None, since: str | None, until: str | None,
           cfg: Any) -> tuple[Any, Any]:
    """The log files (paths, "-" for stdin) or, with --render, the source name and the stream of the API's
    entries (nothing fetched yet)."""
    import os
    from datetime import UTC, datetime, timedelta

    from mosaic_diag.commands._common import parse_time
    from mosaic_diag.errors import UsageError

    if not render:
        if service:
            raise UsageError("--render-service needs --render")
        if not logfiles:
            raise UsageError("give a log file, - for stdin, or --render")
        if logfiles.count("-") > 1:
            raise UsageError("- (stdin) is given more than once")
        return logfiles, None
    if logfiles:
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


def parse_fast(argv: list[str]) -> TriageArgs | None:
    """The arguments of `triage` (argv without the command) when they are log files and only
    `--format/-f json|table`, `--no-playbooks`, `--quiet/-q`; else None (Typer parses them)."""
    logfiles: list[str] = []
    fmt = "table"
    quiet = no_playbooks = False
    i = 0
    while i < len(argv):
        arg = argv[i]
        if arg in ("--format", "-f") and i + 1 < len(argv):
            fmt = argv[i + 1].lower()
            i += 2
            continue
        if arg.startswith("--format="):
            fmt = arg.split("=", 1)[1].lower()
        elif arg in ("--quiet", "-q"):
            quiet = True
        elif arg == "--no-playbooks":
            no_playbooks = True
        elif arg and (arg == "-" or not arg.startswith("-")):
            logfiles.append(arg)
        else:
            return None
        i += 1
    if not logfiles or fmt not in ("json", "table"):
        return None
    return TriageArgs(logfiles=tuple(logfiles), fmt=fmt, quiet=quiet, no_playbooks=no_playbooks)


def fast_main(argv: list[str]) -> int | None:
    """`run_triage` for arguments `parse_fast` takes (guarded as `cli.main` guards every command); None:
    leave them to the Typer app."""
    args = parse_fast(argv)
    if args is None:
        return None
    from mosaic_diag.commands.guard import guarded, handled

    return guarded(lambda: handled(lambda: run_triage(args)))
