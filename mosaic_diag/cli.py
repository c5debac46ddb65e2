"""The root command: global options, one module per command, one error handler."""

from __future__ import annotations

import contextlib
import os
import sys
from importlib import import_module

import typer

from mosaic_diag import __version__
from mosaic_diag.errors import DiagError, ExitCode

# Each module under mosaic_diag/commands/ exposes `register(app)`; it must stay light to
# import (heavy libraries are imported inside the command functions).
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


def _fail(message: str, code: int) -> int:
    with contextlib.suppress(OSError, _OutputClosed):  # stderr gone too: the exit code is all that is left
        sys.stderr.write(f"mosaic-diag: error: {message}\n")
    return code


class _OutputClosed(Exception):
    """stdout's reader went away; raised instead of BrokenPipeError, which Typer and Rich turn into a bare exit 1."""


class _GuardedStdout:
    """sys.stdout (or stderr) for the length of one CLI run: everything written goes through the one
    redactor (a net under the core's own redaction), and a closed pipe becomes `_OutputClosed`."""

    def __init__(self, stream: object) -> None:
        self._stream = stream

    def write(self, text: str) -> int:
        from mosaic_diag.platform.redact import redact_text

        try:
            self._stream.write(redact_text(text) if isinstance(text, str) else text)  # type: ignore[attr-defined]
        except BrokenPipeError as exc:
            raise _OutputClosed() from exc
        return len(text)

    def flush(self) -> None:
        try:
            self._stream.flush()  # type: ignore[attr-defined]
        except BrokenPipeError as exc:
            raise _OutputClosed() from exc

    def __getattr__(self, name: str) -> object:
        return getattr(self._stream, name)


def _broken_pipe() -> int:
    """stdout was closed by its reader (`| head`): say so once on stderr, exit 2, and keep Python's
    exit-time flush of the dead pipe from printing its own "Exception ignored" message."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError):
        pass
    return _fail("output closed early (broken pipe)", ExitCode.USAGE)


def _click_exceptions() -> tuple[type[BaseException], type[BaseException], type[BaseException]]:
    """(ClickException, UsageError, Abort) of the click that Typer uses (vendored or not)."""
    try:
        from typer._click import exceptions as cx  # Typer >= 0.20 vendors click
    except ImportError:  # pragma: no cover - older Typer
        from click import exceptions as cx
    return cx.ClickException, cx.UsageError, typer.Abort


def main(argv: list[str] | None = None) -> int:
    """Run the CLI; return (and, as a console script, exit with) the exit code."""
    stdout, stderr = sys.stdout, sys.stderr
    sys.stdout = _GuardedStdout(stdout)  # type: ignore[assignment]
    sys.stderr = _GuardedStdout(stderr)  # type: ignore[assignment]
    try:
        code = _run(argv)
        sys.stdout.flush()  # a reader that went away is found here, not at interpreter exit
        return code
    except _OutputClosed:
        sys.stderr = stderr
        return _broken_pipe()
    finally:
        sys.stdout, sys.stderr = stdout, stderr


def _run(argv: list[str] | None) -> int:
    click_error, usage_error, abort = _click_exceptions()
    try:
        rv = app(args=argv, prog_name="mosaic-diag", standalone_mode=False)
    except usage_error as exc:
        if not exc.format_message():  # no arguments at all: help was printed
            return ExitCode.USAGE
        ctx = getattr(exc, "ctx", None)
        where = f" ({ctx.command_path})" if ctx is not None else ""
        return _fail(f"{exc.format_message()}{where}; see --help", ExitCode.USAGE)
    except abort:
        return _fail("aborted", ExitCode.FINDINGS)
    except click_error as exc:
        return _fail(exc.format_message(), getattr(exc, "exit_code", ExitCode.USAGE))
    except DiagError as exc:
        return _fail(str(exc), exc.exit_code)
    except KeyboardInterrupt:
        return _fail("interrupted", 130)
    except (BrokenPipeError, _OutputClosed):
        return _broken_pipe()
    except RecursionError:
        return _fail("input nested too deeply", ExitCode.USAGE)
    except OSError as exc:  # an output path that cannot be written, a directory that cannot be made
        where = f"{exc.filename}: " if exc.filename else ""
        return _fail(f"{where}{exc.strerror or exc}", ExitCode.USAGE)
    return int(rv) if isinstance(rv, int) else ExitCode.OK
