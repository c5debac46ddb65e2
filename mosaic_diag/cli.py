"""The root command: global options, one module per command, one error handler."""

from __future__ import annotations

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
    # "playbook",
    # "golden",
    # "predeploy",
    # "lint",
    # "hook",
    # "manifest",
    # "rollback",
)

app = typer.Typer(
    name="mosaic-diag",
    help="Error prevention and auto-triage for the Mosaic platform.",
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
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
    sys.stderr.write(f"mosaic-diag: error: {message}\n")
    return code


def main(argv: list[str] | None = None) -> int:
    """Run the CLI; return (and, as a console script, exit with) the exit code."""
    import click

    try:
        rv = app(args=argv, prog_name="mosaic-diag", standalone_mode=False)
    except click.exceptions.UsageError as exc:
        where = f" ({exc.ctx.command_path})" if exc.ctx else ""
        return _fail(f"{exc.format_message()}{where}; see --help", ExitCode.USAGE)
    except click.exceptions.Abort:
        return _fail("aborted", ExitCode.FINDINGS)
    except click.exceptions.ClickException as exc:
        return _fail(exc.format_message(), exc.exit_code)
    except DiagError as exc:
        return _fail(str(exc), exc.exit_code)
    except KeyboardInterrupt:
        return _fail("interrupted", 130)
    except BrokenPipeError:
        return ExitCode.OK
    return int(rv) if isinstance(rv, int) else ExitCode.OK
