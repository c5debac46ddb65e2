"""The root command: global options, one module per command, one error handler."""

from __future__ import annotations

import sys
from importlib import import_module
from typing import TYPE_CHECKING

import typer

from mosaic_diag import __version__
from mosaic_diag.commands import _help, _options
from mosaic_diag.commands.guard import fail as _fail
from mosaic_diag.commands.guard import guarded, handled
from mosaic_diag.errors import ExitCode

if TYPE_CHECKING:  # (the click Typer vendors; at run time `_click_exceptions` finds whichever is installed)
    from typer._click.exceptions import ClickException, UsageError

# Each module under mosaic_diag/commands/ exposes `register(app)`; it must stay light to
# import (heavy libraries are imported inside the command functions). These modules do not use
# `from __future__ import annotations`: Typer reads every command's signature at each start, and
# string annotations would be compiled and evaluated there (twice), a good part of `--help`'s cost;
# a name imported only for type checking is quoted where it is used.
COMMAND_MODULES = (
    "triage",
    "classify",
    "labels",
    "playbook",
    "golden",
    "predeploy",
    "lint",
    "hook",
    "manifest",
    "rollback",
    "dlq",
    "watch",
    "deploy",
)

app = typer.Typer(
    name="mosaic-diag",
    help="Error prevention and auto-triage for the Mosaic platform.",
    epilog=_help.ROOT_END,
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"mosaic-diag {__version__}")
        raise typer.Exit(0)


@app.callback()
def _root(
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="Show the version and exit."
    ),
) -> None:
    """Error prevention and auto-triage for the Mosaic platform."""


for _name in COMMAND_MODULES:
    import_module(f"mosaic_diag.commands.{_name}").register(app)
_help.apply(app)  # (each command's examples and exit codes at the end of its --help)
_options.name_values(app)  # (what each option takes, `--label LABEL`, not Typer's `<list[str]>`)


def _click_exceptions() -> tuple[type[ClickException], type[UsageError], type[typer.Abort]]:
    """(ClickException, UsageError, Abort) of the click that Typer uses (vendored or not)."""
    try:
        cx = import_module("typer._click.exceptions")  # Typer >= 0.20 vendors click
    except ImportError:  # pragma: no cover - older Typer
        cx = import_module("click.exceptions")
    return cx.ClickException, cx.UsageError, typer.Abort


# a bad value's message as Typer words it (its pydantic coercion's text) -> as every other usage error of
# mosaic-diag says it: `--format: 'pdf' is not one of table, json, markdown`, `--top: takes a whole number`
_BAD_VALUE = (
    (r"^Value error, ", ""),
    (r"Input should be a valid integer.*", "takes a whole number"),
    (r"Input should be a valid number.*", "takes a number"),
    (r"Input should be greater than or equal to (\S+)", r"takes \1 or more"),
    (r"Input should be less than or equal to (\S+)", r"takes \1 or less"),
    (r"Input should be greater than (\S+)", r"takes more than \1"),
    (r"Input should be less than (\S+)", r"takes less than \1"),
    (r"^Input should be ", "should be "),
    (r"'([^']*)'(?=,|\.?$)", r"\1"),  # (the choices of `is not one of 'table', 'json'`: the value keeps its quotes)
    (r"\.$", ""),
)


def _usage_message(exc: UsageError) -> str:
    """A usage error as one line: a bad value as `--option: what is wrong` (click: `Invalid value for '--format' /
    '-f': Value error, 'pdf' is not one of 'table', ...`), anything else as click words it."""
    import re

    param, message = getattr(exc, "param", None), getattr(exc, "message", "")
    if param is None or not message or type(exc).__name__ != "BadParameter":  # (MissingParameter: click's words)
        return exc.format_message().rstrip(".")
    name = max(param.opts, key=len) if param.param_type_name == "option" else param.metavar or param.name.upper()
    for pattern, replacement in _BAD_VALUE:
        message = re.sub(pattern, replacement, message)
    if _is_nan(_bad_input(exc)):  # (NaN fails every bound: `takes 3153600000 or less` named the wrong fault)
        message = "takes a number, got nan"
    return f"{name}: {message}"


def _bad_input(exc: UsageError) -> object:
    """The value a bad parameter was given, as Typer's pydantic coercion recorded it (None when unknown)."""
    cause = exc.__cause__ or exc.__context__
    if type(cause).__name__ != "ValidationError":  # (pydantic's: its errors() list the input)
        return None
    found = cause.errors()  # type: ignore[union-attr]
    return found[0].get("input") if found and isinstance(found[0], dict) else None


def _is_nan(value: object) -> bool:
    try:
        number = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return False
    return number != number


def main(argv: list[str] | None = None) -> int:
    """Run the CLI; return (and, as a console script, exit with) the exit code."""
    return guarded(lambda: _run(argv))


def _run(argv: list[str] | None) -> int:
    return handled(lambda: _typer_run(argv))


def _typer_run(argv: list[str] | None) -> int:
    click_error, usage_error, abort = _click_exceptions()
    handlers = _signal_handlers()
    interrupted = _count_interrupts()
    try:
        try:
            rv = app(args=argv, prog_name="mosaic-diag", standalone_mode=False)
        finally:
            interrupted.restore()
            _put_back(handlers)
    except usage_error as exc:
        if not exc.format_message():  # no arguments at all: help was printed
            return ExitCode.USAGE
        if type(exc).__name__ == "NoArgsIsHelpError":  # `mosaic-diag playbook`: its help, as asked, not an error
            sys.stderr.write(exc.format_message().rstrip("\n") + "\n")
            return ExitCode.USAGE
        ctx = getattr(exc, "ctx", None)
        where = f" ({ctx.command_path})" if ctx is not None else ""
        return _fail(f"{_usage_message(exc)}{where}; see --help", ExitCode.USAGE)
    except abort:
        return _fail("aborted", ExitCode.FINDINGS)
    except click_error as exc:
        return _fail(exc.format_message(), getattr(exc, "exit_code", ExitCode.USAGE))
    if rv == 130 and interrupted.count:  # Typer made Ctrl-C (SIGTERM) a silent Exit(130): say it, as the fast paths do
        return _fail("interrupted", 130)
    return int(rv) if isinstance(rv, int) else ExitCode.OK


class _Interrupts:
    """SIGINT's handler (and SIGTERM's, where `entry` made it Ctrl-C's) for the length of a Typer run: counts,
    then raises KeyboardInterrupt as Python's own."""

    def __init__(self, previous: dict[int, object]) -> None:
        self.count = 0
        self.previous = previous

    def __call__(self, signum: int, frame: object) -> None:
        self.count += 1
        raise KeyboardInterrupt

    def restore(self) -> None:
        import signal

        for sig, handler in self.previous.items():
            if signal.getsignal(sig) is self:
                signal.signal(sig, handler)  # type: ignore[arg-type]


def _signal_handlers() -> dict[int, object]:
    """SIGINT's and SIGTERM's handlers before a command ran (none off the main thread, where none is set)."""
    import signal
    import threading

    if threading.current_thread() is not threading.main_thread():
        return {}
    return {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}


def _put_back(handlers: dict[int, object]) -> None:
    """The handlers as they were before the command: `deploy` and `rollback` turn SIGTERM into Ctrl-C, `watch`
    makes both stop it; run in-process (a test, an app calling `main`), they stayed that way for good."""
    import signal

    for sig, handler in handlers.items():
        if handler is not None and signal.getsignal(sig) is not handler:
            signal.signal(sig, handler)  # type: ignore[arg-type]


def _count_interrupts() -> _Interrupts:
    """Count Ctrl-Cs (and SIGTERMs made Ctrl-C) where Python's default handler is in place (never where SIGINT is
    ignored, `nohup`, or handled by someone else; a command that sets its own, `watch`, replaces this one for its
    run)."""
    import signal
    import threading

    if threading.current_thread() is not threading.main_thread():
        return _Interrupts({})
    handler = _Interrupts({sig: signal.default_int_handler for sig in (signal.SIGINT, signal.SIGTERM)
                           if signal.getsignal(sig) is signal.default_int_handler})
    for sig in handler.previous:
        signal.signal(sig, handler)
    return handler
