"""The console script: `mosaic-diag lint ...` is routed to the linter before the Typer app is even
imported (editors, CI and hooks run it often, and a warm run is a few milliseconds of work), and so is
the common `mosaic-diag triage FILE [--format json|table]` (a triage's start-up is part of its cost);
everything else, `lint --help` and malformed `lint` / `triage` arguments included, goes to `cli.main`."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Callable

INTERRUPTED = 130  # (errors.ExitCode.INTERRUPTED, without importing it first)
# the commands that take SIGTERM as Ctrl-C (each calls `commands._common.sigterm_as_interrupt` when it starts): they
# do from the process's start, so that one while their modules are still imported is an interruption too (exit 130)
# (triage: a CI cancel of a long one is one line and exit 130, and its `-o` report's temporary file is removed, as
# with Ctrl-C; killed by the default, the process left it beside the report)
SIGTERM_STOPS = frozenset({"watch", "deploy", "rollback", "triage"})


def main(argv: list[str] | None = None) -> int:
    """Run the command of `argv` (default: sys.argv); return its exit code. Ctrl-C (or SIGTERM, for
    `SIGTERM_STOPS`) before a command's own guard is in place, while its modules are imported, is the same one
    line and exit 130 as after: never a traceback."""
    args = sys.argv[1:] if argv is None else argv
    put_back = _sigterm_as_interrupt() if args[:1] and args[0] in SIGTERM_STOPS else None
    try:
        return _main(args)
    except KeyboardInterrupt:
        import contextlib

        # (stderr closed: the code is what is left)
        with contextlib.suppress(OSError, AttributeError):  # mosaic-diag: ignore[MD006]
            sys.stderr.write("mosaic-diag: error: interrupted\n")
        return INTERRUPTED
    finally:
        if put_back is not None:
            put_back()


def _sigterm_as_interrupt() -> Callable[[], None] | None:
    """SIGTERM raising KeyboardInterrupt as Ctrl-C does (Python's own handler, which `cli` counts as it counts
    Ctrl-C) where the default is in place (not off the main thread, nor over a handler an embedding program
    set); the function putting the default back, or None."""
    import signal

    try:
        if signal.getsignal(signal.SIGTERM) is not signal.SIG_DFL:
            return None
        signal.signal(signal.SIGTERM, signal.default_int_handler)
    except ValueError:  # mosaic-diag: ignore[MD006]  (not the main thread: signals are not ours to set)
        return None

    def put_back() -> None:
        if signal.getsignal(signal.SIGTERM) is signal.default_int_handler:
            signal.signal(signal.SIGTERM, signal.SIG_DFL)

    return put_back


def _main(args: list[str]) -> int:
    from mosaic_diag.platform import codecache

    codecache.install()  # before any command's module makes its dataclasses (every command's does)
    if args[:1] == ["lint"]:
        import contextlib

        from mosaic_diag.commands.guard import GuardedStdout, OutputClosed, broken_pipe
        from mosaic_diag.commands.lint_run import fast_main
        from mosaic_diag.errors import DiagError

        stdout, stderr = sys.stdout, sys.stderr
        # (the one redactor and terminal filter, as every command's output: a file name or a string in the code
        # linted is the repository's text, which may be hostile)
        sys.stdout, sys.stderr = GuardedStdout(stdout), GuardedStdout(stderr)
        try:
            code = fast_main(list(args[1:]))
            sys.stdout.flush()
        except DiagError as exc:
            from mosaic_diag.commands.guard import fail

            return fail(str(exc), exc.exit_code)
        except KeyboardInterrupt:
            sys.stderr.write("mosaic-diag: error: interrupted\n")
            return INTERRUPTED
        except (BrokenPipeError, OutputClosed):
            sys.stdout, sys.stderr = stdout, GuardedStdout(stderr)
            return broken_pipe()
        finally:
            sys.stdout, sys.stderr = stdout, stderr
            with contextlib.suppress(OSError):  # mosaic-diag: ignore[MD006]  (a cache: a run never fails for it)
                codecache.save()
        if code is not None:
            return code
    if args[:1] == ["triage"]:
        from mosaic_diag.commands.triage_run import fast_main as triage_main

        code = triage_main(list(args[1:]))
        if code is not None:
            return code
    from mosaic_diag.cli import main as cli_main

    return cli_main(args)
