"""What every CLI run goes through, Typer or not: stdout and stderr behind the one redactor and the
terminal-control filter (platform.terminal), a closed pipe turned into one message and exit 2, and the
core's errors turned into one line and their exit code (no traceback ever reaches a user). `cli.main` and
the Typer-free fast paths of `entry` share it."""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Callable

from mosaic_diag.errors import DiagError, ExitCode
from mosaic_diag.platform import notes


def fail(message: str, code: int) -> int:
    """Say `message` on stderr (if it is still there), on one line (a newline in a file's name or a value is
    written `\\n`: it cannot forge a second message), and return `code`."""
    from mosaic_diag.platform.terminal import one_line_escaped

    # stderr gone too: the exit code is all that is left
    with contextlib.suppress(OSError, OutputClosed):  # mosaic-diag: ignore[MD006]
        sys.stderr.write(f"mosaic-diag: error: {one_line_escaped(message)}\n")
    return code


class OutputClosed(Exception):
    """stdout's reader went away; raised instead of BrokenPipeError, which Typer and Rich turn into a bare exit 1."""


class GuardedStdout:
    """sys.stdout (or stderr) for the length of one CLI run: everything written goes through the one
    redactor (a net under the core's own redaction) and has its terminal controls shown as escapes (a
    hostile log line cannot drive the terminal), and a closed pipe becomes `OutputClosed`."""

    def __init__(self, stream: object) -> None:
        self._stream = stream
        self._redact: Callable[[str], str] | None = None  # redact_text, imported on the first write

    def write(self, text: str) -> int:
        redact = self._redact
        if redact is None:
            from mosaic_diag.platform.redact import redact_text
            from mosaic_diag.platform.terminal import Rendered, neutralize_controls

            # cursor moves and erasures only from our Rich consoles (a live view's redraw): in any other write
            # (a report, Typer's help) they could only be text's, hiding what was printed above
            redact = self._redact = lambda t: neutralize_controls(redact_text(t), moves=isinstance(t, Rendered))
        if self._stream is None:  # started with the descriptor closed (`cmd >&-`): Python gives None
            raise OutputClosed()
        try:
            self._stream.write(redact(text) if isinstance(text, str) else text)  # type: ignore[attr-defined]
        except BrokenPipeError as exc:
            raise OutputClosed() from exc
        return len(text)

    def flush(self) -> None:
        if self._stream is None:
            return
        try:
            self._stream.flush()  # type: ignore[attr-defined]
        except BrokenPipeError as exc:
            raise OutputClosed() from exc

    def __getattr__(self, name: str) -> object:
        return getattr(self._stream, name)


def broken_pipe() -> int:
    """stdout was closed by its reader (`| head`): say so once on stderr, exit 2, and keep Python's
    exit-time flush of the dead pipe from printing its own "Exception ignored" message."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        if devnull != 1:  # (fd 1 closed at the start: the open took its number, and that is the point)
            os.dup2(devnull, 1)
            os.close(devnull)
    except (OSError, ValueError):  # mosaic-diag: ignore[MD006]
        pass
    return fail("output closed early (broken pipe)", ExitCode.USAGE)


def handled(body: Callable[[], int]) -> int:
    """`body()`, with the errors of any command turned into a message and an exit code."""
    try:
        return body()
    except DiagError as exc:
        return fail(str(exc), exc.exit_code)
    except KeyboardInterrupt:
        return fail("interrupted", 130)
    except (BrokenPipeError, OutputClosed):
        return broken_pipe()
    except RecursionError:
        return fail("input nested too deeply", ExitCode.USAGE)
    except OSError as exc:  # an output path that cannot be written, a directory that cannot be made
        where = f"{exc.filename}: " if exc.filename else ""
        return fail(f"{where}{exc.strerror or exc}", ExitCode.USAGE)


CORE_NOTES = notes.LOGGER  # the core's notes of a run (classify.LOGGER: a user rule skipped)


def _note_lines() -> Callable[[], None]:
    """Attach NoteLines to the CORE_NOTES logger; returns what detaches it (`notes.when_logging`: `logging` is
    imported only for a run that notes something)."""
    import logging

    class NoteLines(logging.Handler):
        """The core's notes (WARNINGs of CORE_NOTES) as bare lines on the current stderr, between the lines of a
        report on stdout (flushed first): what a CLI user reads; the core itself never prints."""

        def __init__(self) -> None:
            super().__init__(logging.WARNING)

        def emit(self, record: logging.LogRecord) -> None:
            sys.stdout.flush()
            print(record.getMessage(), file=sys.stderr, flush=True)

    logger, lines = logging.getLogger(CORE_NOTES), NoteLines()
    logger.addHandler(lines)
    return lambda: logger.removeHandler(lines)


def guarded(body: Callable[[], int]) -> int:
    """Run `body` (which returns the exit code) with stdout and stderr guarded, and the core's notes on stderr
    (NoteLines); a reader that went away is found by the final flush, not at interpreter exit."""
    stdout, stderr = sys.stdout, sys.stderr
    sys.stdout = GuardedStdout(stdout)
    sys.stderr = GuardedStdout(stderr)
    detach = notes.when_logging(_note_lines)
    try:
        code = body()
        sys.stdout.flush()
        return code
    except OutputClosed:
        sys.stderr = stderr
        return broken_pipe()
    except Exception:  # mosaic-diag: ignore[MD006]  (reported below, whole)
        # a bug: its traceback through the guarded stderr, not past it (a value in it may be a secret or a hostile
        # text's controls), and Python's exit code for it
        import traceback

        with contextlib.suppress(OSError, OutputClosed):  # mosaic-diag: ignore[MD006]
            sys.stderr.write("mosaic-diag: internal error (a bug; please report it with this traceback):\n"
                             + traceback.format_exc())
        return 1
    finally:
        detach()
        sys.stdout, sys.stderr = stdout, stderr
        _keep_patterns()


def _keep_patterns() -> None:
    """The regular expressions and the dataclasses' code this run compiled afresh, kept for the next runs
    (`platform.recache`, `platform.codecache`; only when the module was imported: a run that compiled none loads
    nothing)."""
    for name in ("mosaic_diag.platform.recache", "mosaic_diag.platform.codecache"):
        kept = sys.modules.get(name)
        if kept is not None:
            with contextlib.suppress(OSError):  # mosaic-diag: ignore[MD006]  (a cache: a run never fails for it)
                kept.save()
