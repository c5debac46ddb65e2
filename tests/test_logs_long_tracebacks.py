"""A traceback longer than the reader keeps of one (`assemble.MAX_TRACEBACK_LINES`): Python prints the last 1000 frames
of a mutual recursion (f calls g calls f: no `[Previous line repeated …]` fold), 3000 lines with 3.11's markers. The
event keeps the traceback's head and its tail (the frames nearest the error, the exception line, a chain's next
traceback): its message is the exception's, whole or in 7-byte blocks. Real output of a `python` run in the test."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from mosaic_diag.classifier.tracebacks import parse_traceback_text
from mosaic_diag.logs.assemble import MAX_TRACEBACK_LINES
from mosaic_diag.logs.model import RawEvent
from tests.test_logs_support import BLOCKS, error_events

RECURSION = """\
    import logging
    import sys

    def f(n):
        return g(n + 1)

    def g(n):
        return f(n + 1)

    def handler():
        try:
            f(0)
        except RecursionError as exc:
            raise KeyError("settings") from exc

    logging.basicConfig(format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    how = sys.argv[1]
    if how == "logged":
        try:
            f(0)
        except RecursionError:
            logging.getLogger("app.worker").exception("request failed")
    elif how == "chained":
        handler()
    else:
        f(0)
    """


def _run(tmp_path: Path, how: str) -> str:
    """What the script prints to stderr (its uncaught traceback, or the logged record with its traceback)."""
    script = tmp_path / "recursion.py"
    script.write_text(textwrap.dedent(RECURSION), encoding="utf-8")
    proc = subprocess.run([sys.executable, str(script), how], capture_output=True, text=True, timeout=120, check=False)
    assert proc.stderr.count("\n") > MAX_TRACEBACK_LINES, proc.stderr[-2000:]
    return proc.stderr


def _one_event(text: str) -> RawEvent:
    got = [error_events(text, bs) for bs in BLOCKS]
    assert got[0] == got[1]
    (event,) = got[0]
    return event


@pytest.mark.parametrize("how", ["bare", "logged"])
def test_a_mutual_recursions_traceback_keeps_its_exception_line(tmp_path, how: str) -> None:
    """The event spans the whole traceback; its message is the RecursionError's (the reader kept the first 2000 lines
    and lost it: a frame line or the logged record's message stood for the exception), its traceback parses to it."""
    text = _run(tmp_path, how)
    lines = text.rstrip("\n").split("\n")
    event = _one_event(text)
    assert (event.line, event.end_line) == (1, len(lines))
    assert event.traceback is not None
    kept = event.traceback.split("\n")
    assert len(kept) <= MAX_TRACEBACK_LINES
    assert kept[0] == "Traceback (most recent call last):" and kept[-1] == lines[-1]
    assert lines[-1] == "RecursionError: maximum recursion depth exceeded"
    if how == "bare":
        assert event.message == lines[-1]
    else:
        assert (event.level, event.message) == ("ERROR", "request failed")
    (parsed,) = parse_traceback_text(event.traceback)
    assert parsed.type == "RecursionError"
    assert [f.function for f in parsed.frames][-2:] == ["g", "f"]


def test_a_chain_after_a_long_cause_is_its_last_exceptions(tmp_path) -> None:
    """`raise KeyError(…) from exc` after the recursion: the event's message is the KeyError's, the cause's exception
    line and the chain's separator are kept in its traceback."""
    text = _run(tmp_path, "chained")
    event = _one_event(text)
    end = len(text.rstrip("\n").split("\n"))
    assert (event.line, event.end_line, event.message) == (1, end, "KeyError: 'settings'")
    assert event.traceback is not None
    assert [p.type for p in parse_traceback_text(event.traceback)] == ["RecursionError", "KeyError"]
