"""The forms layouts round 24 found the reader missing, produced by the real libraries in the test run: a paste
quoted with markdown's `> ` or indented as a whole (tests/realworld/layouts.yml, the `r24l-` entries)."""

from __future__ import annotations

import io
import logging
import traceback

import pytest

from mosaic_diag.logs.model import RawEvent
from tests.test_logs_support import BLOCKS, error_events, logging_to

GUNICORN = "[%(asctime)s] [%(process)d] [%(levelname)s] %(message)s"  # (gunicorn's and hypercorn's record layout)


def _gunicorn_log() -> str:
    """A worker's records through gunicorn's layout: an INFO record, an ERROR record with a real traceback, an INFO
    record; a blank line between the last two (a paste's paragraph)."""
    out = io.StringIO()
    with logging_to(logging.StreamHandler(out), "test.layouts24", GUNICORN, "%Y-%m-%d %H:%M:%S %z") as log:
        log.info("Booting worker with pid: 11")
        try:
            int("eleven")
        except ValueError:
            log.exception("Exception in worker process")
        out.write("\n")
        log.info("Worker exiting (pid: 11)")
    return out.getvalue()


def _seen(events: list[RawEvent]) -> list[tuple[int, int | None, str | None, str, str]]:
    return [(e.line, e.end_line, e.level, e.message, e.traceback) for e in events]


@pytest.mark.parametrize("margin", ["> ", "    ", "\t"])
def test_a_paste_quoted_or_indented_as_a_whole_reads_as_the_log(margin: str) -> None:
    """Each line behind markdown's `> ` (a blank one as `>` alone), or the first line's indentation, is the log's
    line: the same events, records read and the traceback under its record."""
    text = _gunicorn_log()
    lines = text.rstrip("\n").split("\n")
    blank = margin.rstrip(" ")  # (a blank line: `>` alone, or left blank by an indentation)
    pasted = "\n".join(margin + line if line else blank for line in lines)
    for block in BLOCKS:
        plain = error_events(text, block)
        assert [(e.line, e.end_line, e.level, e.message) for e in plain] == \
            [(2, len(lines) - 2, "ERROR", "Exception in worker process")]
        assert plain[0].traceback.rstrip("\n").endswith("ValueError: invalid literal for int() with base 10: 'eleven'")
        assert _seen(error_events(pasted, block)) == _seen(plain), (margin, block)


def test_an_indented_first_line_that_is_no_record_is_no_margin() -> None:
    """A paste cut inside a traceback starts with an indented frame: no margin, the frames read as they are (the
    indentation of RichHandler's record whose time column is blank, a record with it, is kept likewise)."""
    text = _gunicorn_log()
    lines = text.rstrip("\n").split("\n")
    frame = next(i for i, line in enumerate(lines) if line.startswith("  File "))
    cut = "\n".join(lines[frame:]) + "\n"
    for block in BLOCKS:
        (event,) = error_events(cut, block)
        assert (event.line, event.level) == (1, None)
        assert event.message.startswith("ValueError: invalid literal"), block


def test_level_first_records_a_traceback_line_each_and_a_level_word_in_the_message() -> None:
    """`%(levelname)s %(asctime)s %(message)s` (Django's "verbose" order) with a message that starts with its own
    `ERROR: ` and the traceback logged one line per record after it (PyHardLinkBackup's): the message keeps its
    `ERROR: `, no logger's, and the traceback's records are the record's traceback, one event."""
    out = io.StringIO()
    with logging_to(logging.StreamHandler(out), "test.layouts24.level_first", "%(levelname)s %(asctime)s %(message)s"
                    ) as log:
        log.info("Backup started")
        try:
            int("eleven")
        except ValueError:
            log.error("ERROR: Backup aborted with a unexpected error:")
            for line in traceback.format_exc().splitlines():
                log.error(line)
        log.info("Backup done")
    text = out.getvalue()
    n = len(text.rstrip("\n").split("\n"))
    for block in BLOCKS:
        (event,) = error_events(text, block)
        assert (event.line, event.end_line, event.level) == (2, n - 1, "ERROR"), block
        assert event.message == "ERROR: Backup aborted with a unexpected error:" and event.logger is None
        assert event.traceback.rstrip("\n").endswith("ValueError: invalid literal for int() with base 10: 'eleven'")
