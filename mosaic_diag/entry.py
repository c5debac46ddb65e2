"""The console script: `mosaic-diag lint ...` is routed to the linter before the Typer app is even
imported (editors, CI and hooks run it often, and a warm run is a few milliseconds of work), and so is
the common `mosaic-diag triage FILE [--format json|table]` (a triage's start-up is part of its cost);
everything else, `lint --help` and malformed `lint` / `triage` arguments included, goes to `cli.main`."""

from __future__ import annotations

import sys


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if args[:1] == ["lint"]:
        from mosaic_diag.commands.guard import GuardedStdout, OutputClosed, broken_pipe
        from mosaic_diag.commands.lint_run import fast_main
        from mosaic_diag.errors import DiagError

        stdout, stderr = sys.stdout, sys.stderr
        # (the one redactor and terminal filter, as every command's output: a file name or a string in the code
        # linted is the repository's text, which may be hostile)
        sys.stdout, sys.stderr = GuardedStdout(stdout), GuardedStdout(stderr)  # type: ignore[assignment]
        try:
            code = fast_main(list(args[1:]))
            sys.stdout.flush()
        except DiagError as exc:
            from mosaic_diag.commands.guard import fail

            return fail(str(exc), exc.exit_code)
        except KeyboardInterrupt:
            sys.stderr.write("mosaic-diag: error: interrupted\n")
            return 130
        except (BrokenPipeError, OutputClosed):
            sys.stdout, sys.stderr = stdout, GuardedStdout(stderr)  # type: ignore[assignment]
            return broken_pipe()
        finally:
            sys.stdout, sys.stderr = stdout, stderr
        if code is not None:
            return code
    if args[:1] == ["triage"]:
        from mosaic_diag.commands.triage_run import fast_main as triage_main

        code = triage_main(list(args[1:]))
        if code is not None:
            return code
    from mosaic_diag.cli import main as cli_main

    return cli_main(argv)
