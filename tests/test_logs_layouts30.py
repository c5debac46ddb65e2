"""The forms layouts round 30 found the reader missing, produced by the real libraries in the test run and written in
the layout each tool shows them in: a container's name in brackets before the runtime's nanosecond stamp, k9s's log
pane (its borders around every line), a buildpack's deploy output (a container's lines indented under `-----> `
steps), and an HTTP server's line for the failed request right after the exception's message (Django's `runserver`)."""

from __future__ import annotations

import importlib
import io
import logging
import traceback

from mosaic_diag.logs.lines import parse_line
from tests.isolation import loggers_kept
from tests.test_logs_support import BLOCKS, error_events

_MISSING = "no_such_module_layouts30"


def _import_error() -> list[str]:
    """The lines of a real uncaught ModuleNotFoundError's traceback, as Python prints it."""
    try:
        importlib.import_module(_MISSING)
    except ModuleNotFoundError as e:
        return "".join(traceback.format_exception(e)).rstrip("\n").split("\n")
    raise AssertionError("imported")


def _logged(fmt: str, name: str, emit: str, datefmt: str | None = None) -> list[str]:
    """The lines stdlib logging writes in `fmt`: `emit` "error" is one ERROR record without a traceback, "exception"
    one logged with the real ModuleNotFoundError's traceback (`log.exception`)."""
    buf = io.StringIO()
    handler = logging.StreamHandler(buf)
    handler.setFormatter(logging.Formatter(fmt, datefmt))
    with loggers_kept(name):
        log = logging.getLogger(name)
        log.handlers[:] = [handler]
        log.propagate = False
        if emit == "error":
            log.error("Can't locate revision identified by '821203926422'")
        else:
            try:
                importlib.import_module(_MISSING)
            except ModuleNotFoundError:
                log.exception("Exception in worker process")
    return buf.getvalue().rstrip("\n").split("\n")


def _spans(text: str) -> list[list[tuple[int, int, str | None, str]]]:
    return [[(e.line, e.end_line, e.level, e.message) for e in error_events(text, block)] for block in BLOCKS]


def test_the_real_lines_are_what_the_tests_take_them_for() -> None:
    tb = _import_error()
    assert tb[0] == "Traceback (most recent call last):"
    assert tb[-1] == f"ModuleNotFoundError: No module named '{_MISSING}'"
    (rec,) = _logged("%(levelname)-5.5s [%(name)s] %(message)s", "alembic.util.messaging", "error")
    assert rec == "ERROR [alembic.util.messaging] Can't locate revision identified by '821203926422'"


# -- a container's name in brackets before the runtime's stamp --------------------------------------------------------

def _named(name: str, i: int, line: str) -> str:
    return f"[{name}] 2026-04-18T07:24:32.{389431243 + 1013 * i:09d}Z {line}"


def test_a_containers_name_in_brackets_before_its_stamp_is_its_stream() -> None:
    """alembic's real ERROR record (`%(levelname)-5.5s [%(name)s] %(message)s`) in one container's stream and a
    real uncaught traceback in another's, their lines interleaved, each behind `[NAME] RFC3339-nano `: the record
    is an event at ERROR, the traceback one of its own stream (before, the prefix was no layout: the record was
    no record, and the interleaved lines broke the traceback)."""
    (rec,) = _logged("%(levelname)-5.5s [%(name)s] %(message)s", "alembic.util.messaging", "error")
    tb = _import_error()
    lines = [_named("worker", 0, tb[0]), _named("medical-records-app", 1, rec)]
    lines += [_named("worker", i + 2, t) for i, t in enumerate(tb[1:])]
    assert _spans("\n".join(lines) + "\n") == [[
        (1, len(lines), None, tb[-1]),
        (2, 2, "ERROR", "Can't locate revision identified by '821203926422'")]] * 2


def test_a_level_in_brackets_before_a_stamp_is_no_containers_name() -> None:
    """Guard: `[ERROR] 2024-…` is a level in brackets, not a stream's name."""
    (ln,) = parse_line("[ERROR] 2026-04-18T07:24:32.389431243Z worker lost")
    assert ln.stream is None
    (ln,) = parse_line("[web] 2026-04-18T07:24:32.389431243Z ERROR [app.db] worker lost")
    assert (ln.stream, ln.level, ln.logger, ln.message) == ("web", "ERROR", "app.db", "worker lost")
