"""Options shared by every command."""

from __future__ import annotations

from enum import Enum
from pathlib import Path
from typing import Annotated, Any

import typer
from typer.core import TyperCommand


class OutputFormat(str, Enum):
    """How a command renders its report."""

    table = "table"
    json = "json"
    markdown = "markdown"


class ReportFormat(str, Enum):
    """The formats of the commands that also write a self-contained HTML report."""

    table = "table"
    json = "json"
    markdown = "markdown"
    html = "html"


FormatOption = Annotated[
    OutputFormat,
    typer.Option("--format", "-f", case_sensitive=False, help="How the report is written."),
]


QuietOption = Annotated[
    bool,
    typer.Option("--quiet", "-q", help="No progress display on stderr (it is drawn only on a terminal)."),
]

ReportFormatOption = Annotated[
    ReportFormat,
    typer.Option("--format", "-f", case_sensitive=False,
                 help="How the report is written (html: one self-contained file; see -o)."),
]

OutputFileOption = Annotated[
    Path | None,
    typer.Option("--output", "-o", help="With --format html: write the report to this file "
                 "(atomically; default: stdout)."),
]


# What each option's or argument's value is, by its parameter's name, as --help shows it (`--label LABEL`,
# `--timeout SECONDS`) in place of Typer's type names (`<list[str]>`, `<float range>`, a required `{text}`);
# a name not here is shown by its kind: PATH, N (a whole number), NUMBER, else its own name in capitals.
METAVARS = {
    # arguments
    "logfiles": "LOGFILE", "text": "TEXT", "paths": "PATH", "sha": "COMMIT", "name": "LABEL|ID", "label": "LABEL",
    "ref": "REF", "old": "OLD_REF", "new": "NEW_REF", "row_id": "ID",
    # times and durations (`2h`, `30m`, an ISO-8601 time) and seconds
    "since": "TIME", "until": "TIME", "window": "DURATION", "cooldown": "DURATION", "watch": "DURATION",
    "wait_timeout": "DURATION", "poll_interval": "DURATION", "older_than": "DURATION",
    "timeout": "SECONDS", "global_timeout": "SECONDS", "regex_timeout": "SECONDS", "interval": "SECONDS",
    "flush_after": "SECONDS",
    # names of things
    "category": "CATEGORY", "min_severity": "SEVERITY", "fail_on": "SEVERITY", "fail_level": "LEVEL",
    "only": "CHECK", "skip": "CHECK", "select": "RULE", "ignore": "RULE", "tag": "TAG", "keyword": "TEXT",
    "note": "TEXT", "stage": "STAGE", "status": "STATUS", "strategy": "STRATEGY", "provider": "PROVIDER",
    "remote": "REMOTE", "branch": "BRANCH", "render_service": "SERVICE_ID", "render_deploy_id": "DEPLOY_ID",
    "health_url": "URL", "url": "URL", "app": "MODULE:ATTR", "validator": "MODULE:MODEL", "syslog": "HOST:PORT",
    "db": "DSN|FILE", "error_budget": "RATE", "pass_rate": "SHARE",
    # files and directories
    "rules": "FILE", "playbooks": "DIR", "output": "FILE", "out": "FILE", "junit": "FILE", "log": "FILE",
    "file": "FILE", "tls_cert": "FILE", "tls_key": "FILE", "state_file": "FILE", "state_dir": "DIR",
    "baseline": "FILE", "context": "FILE", "manifest_file": "FILE", "root": "DIR", "repo": "DIR",
    "cases": "PATH",
}


def metavar_for(name: str, annotation: Any) -> str | None:
    """What a parameter's value is called in --help (METAVARS, else by its type); None for a flag or a choice
    (`--format <table|json|markdown>` lists its values)."""
    import typing
    from enum import Enum

    kinds = [a for a in typing.get_args(annotation) if a is not type(None)] or [annotation]
    kind = kinds[0]
    if typing.get_origin(kind) is list:
        kind = typing.get_args(kind)[0]
    if kind is bool or (isinstance(kind, type) and issubclass(kind, Enum)):
        return None
    if name in METAVARS:
        return METAVARS[name]
    return {Path: "PATH", int: "N", float: "NUMBER"}.get(kind, name.upper())


def name_values(app: Any) -> None:
    """Give every option and argument of `app`'s commands and groups (a Typer, walked as `_help.apply` walks it)
    the metavar METAVARS has for it, and every command the class that shows arguments by it."""
    import inspect
    import typing

    from typer.models import ParameterInfo

    callbacks = [info.callback for info in app.registered_commands]
    for info in app.registered_commands:
        if info.cls in (None, TyperCommand):  # (Typer's own, unless a command chose another)
            info.cls = NamedArgumentsCommand
    for group in app.registered_groups:  # (a group's own options: `golden --url`)
        own = group.typer_instance.registered_callback
        callbacks.append(group.callback or (own.callback if own is not None else None))
    for callback in filter(None, callbacks):
        for name, param in inspect.signature(callback).parameters.items():
            annotation, extras = param.annotation, [param.default]
            if typing.get_origin(annotation) is Annotated:
                annotation, *more = typing.get_args(annotation)
                extras += more
            for extra in extras:
                if isinstance(extra, ParameterInfo) and extra.metavar is None:
                    extra.metavar = metavar_for(name, annotation)
    for group in app.registered_groups:
        name_values(group.typer_instance)


class NamedArgumentsCommand(TyperCommand):
    """A command whose usage line and help show each argument by its metavar alone (`PATH...`, `[LABEL]`),
    not with Typer's type names after it (`paths... <list[Path]>`) or braces (`{text}`)."""

    def collect_usage_pieces(self, ctx: Any) -> list[str]:
        pieces = [self.options_metavar] if self.options_metavar else []
        for param in self.get_params(ctx):
            if param.param_type_name != "argument":
                pieces += param.get_usage_pieces(ctx)
                continue
            shown = param.metavar or param.name.upper()
            shown = shown if param.required else f"[{shown}]"
            pieces.append(shown + ("..." if param.nargs != 1 else ""))
        return pieces

    def format_options(self, ctx: Any, formatter: Any) -> None:
        rows: dict[str, list[tuple[str, str]]] = {"argument": [], "option": []}
        for param in self.get_params(ctx):
            record = param.get_help_record(ctx)
            if record is None or param.param_type_name not in rows:
                continue
            if param.param_type_name == "argument":
                record = ((param.metavar or param.name.upper()) + ("..." if param.nargs != 1 else ""),
                          record[1])
            rows[param.param_type_name].append(record)
        for kind, title in (("argument", "Arguments"), ("option", "Options")):
            if rows[kind]:
                with formatter.section(title):
                    formatter.write_dl(rows[kind])

