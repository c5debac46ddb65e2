"""The forms layouts round 23 found the reader missing, produced by the real libraries in the test run:
multiprocessing's `Process Process-1:` before a child's traceback, a traceback another program's line cut before its
exception, two threads' excepthook lines interleaved, the unraisable hook's line broken by an 80-column console, stdlib
formats with a 12-hour `datefmt` and a thread's and function's `-` columns or a `%(filename)s %(lineno)d` pair, and
one failure section of pytest's report pasted alone (tests/realworld/layouts.yml, the `r23l-` entries)."""

from __future__ import annotations

import contextlib
import io
import logging
import os
import subprocess
import sys
import textwrap
import threading
import traceback
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

import psycopg2
import pytest

from mosaic_diag.classifier.classify import Classifier
from mosaic_diag.logs.assemble import MAX_TRACEBACK_LINES
from mosaic_diag.logs.model import RawEvent
from mosaic_diag.triage.events import EventClassifier
from tests.test_logs_support import BLOCKS, error_events

STAMP = "2026-12-07T10:15:02.136214Z"
_WRAPPERS: dict[str, Callable[[str], str]] = {"bare": lambda line: line,
                                               "render": lambda line: f"{STAMP} {line}",
                                               "compose": lambda line: f"web-1  | {line}"}


def _label(event: RawEvent) -> tuple[str, str | None]:
    got = EventClassifier(Classifier.default()).event(event)
    return got.label, got.exception_type


def _wrapped(lines: list[str], wrap: Callable[[str], str]) -> str:
    return "\n".join(wrap(line) for line in lines) + "\n"


def _child_crash(tmp_path: Path, port: int) -> list[str]:
    """What a multiprocessing child that dies of a refused PostgreSQL connection writes to stderr."""
    script = tmp_path / "child.py"
    script.write_text(textwrap.dedent(f"""
        import multiprocessing, psycopg2

        def work():
            psycopg2.connect(host="127.0.0.1", port={port}, user="x", dbname="x", connect_timeout=5)

        if __name__ == "__main__":
            p = multiprocessing.Process(target=work)
            p.start()
            p.join()
        """), encoding="utf-8")
    proc = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=60, check=True)
    lines = proc.stderr.rstrip("\n").split("\n")
    assert lines[0] == "Process Process-1:" and lines[1] == "Traceback (most recent call last):"
    assert any(line.startswith("psycopg2.OperationalError: connection to server at") for line in lines)
    return lines


def test_a_multiprocessing_childs_name_line_starts_its_tracebacks_event(tmp_path: Path, refused_port: int) -> None:
    """`Process Process-1:` (multiprocessing's line before a child's uncaught exception) starts the event, as
    threading's `Exception in thread T:` does; a `[x] ERROR`-free line after it stays out of it."""
    child = _child_crash(tmp_path, refused_port)
    lines = ["INFO:     Started server process [15518]", *child, "INFO:     Finished server process [15518]"]
    for wname, wrap in _WRAPPERS.items():
        for block in BLOCKS:
            (event,) = error_events(_wrapped(lines, wrap), block)
            assert (event.line, event.end_line) == (2, len(lines) - 1), (wname, block)
            assert _label(event) == ("PG_CONNECTION_FAILED", "psycopg2.OperationalError"), wname


def test_a_traceback_cut_by_another_programs_line_ends_before_it(tmp_path: Path, refused_port: int) -> None:
    """A progress bar's line where the exception line would be (`[=====  100%  ]  300s/300s …`, the child's stderr
    and the parent's stdout on one terminal) is no exception line: the traceback ends at its last frame, the event
    holds no message from that line."""
    child = _child_crash(tmp_path, refused_port)
    bar = "[================100%==================]  300s/300s   transactions: 248  timers: 0  errors: 0"
    frames = child[:next(i for i, line in enumerate(child) if line.startswith("psycopg2."))]
    lines = ["[============     32%                  ]  97s/300s   transactions: 49  timers: 0  errors: 0",
             *frames, bar, "waiting for all requests to finish..."]
    for block in BLOCKS:
        (event,) = error_events(_wrapped(lines, _WRAPPERS["bare"]), block)
        assert (event.line, event.end_line) == (2, 1 + len(frames)), block
        assert "%" not in event.message and "300s" not in (event.traceback or "")


def _stderr_of(fn: Callable[[], None]) -> str:
    err = io.StringIO()
    with contextlib.redirect_stderr(err):
        fn()
    return err.getvalue()


def _thread_crash_text(port: int, name: str) -> list[str]:
    def work() -> None:
        psycopg2.connect(host="127.0.0.1", port=port, user="x", dbname="x", connect_timeout=5)

    def run() -> None:
        t = threading.Thread(target=work, name=name)
        t.start()
        t.join()

    return _stderr_of(run).rstrip("\n").split("\n")


def test_two_threads_excepthook_lines_interleaved_are_two_events(refused_port: int,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """Two threads dying at once: the first writes `Exception in thread `, the second its whole line and the start of
    its traceback, then the first its name (`Thread-8:`) and its traceback. Each traceback is an event; the first
    ends before the name's line (no exception line of its own), the second starts at it."""
    monkeypatch.setattr(threading, "excepthook", threading.__excepthook__)
    first = _thread_crash_text(refused_port, "Thread-8")
    second = _thread_crash_text(refused_port, "Thread-12")
    assert first[0] == "Exception in thread Thread-8:" and second[0] == "Exception in thread Thread-12:"
    lines = ["Exception in thread " + second[0], *second[1:3], "Thread-8:", *first[1:]]
    for block in BLOCKS:
        one, two = error_events(_wrapped(lines, _WRAPPERS["bare"]), block)
        assert (one.line, one.end_line, two.line, two.end_line) == (1, 3, 4, len(lines)), block
        assert _label(two) == ("PG_CONNECTION_FAILED", "psycopg2.OperationalError")


class _LongNamedConnectionHolderForTheWindowsConsole:
    def __del__(self) -> None:
        raise AttributeError("'NoneType' object has no attribute 'error'")


def test_the_unraisable_hooks_line_broken_at_80_columns_starts_the_event(monkeypatch: pytest.MonkeyPatch) -> None:
    """`Exception ignored in: <function …__del__ at 0x…>` longer than a Windows console's 80 columns goes on on the
    next line: both start the event (the repr's `<` closed on the second)."""
    monkeypatch.setattr(sys, "unraisablehook", sys.__unraisablehook__)

    def drop() -> None:
        _LongNamedConnectionHolderForTheWindowsConsole()  # (dropped at once: its __del__ runs here)

    text = _stderr_of(drop).rstrip("\n").split("\n")
    assert text[0].startswith("Exception ignored in: <function ") and len(text[0]) > 80
    lines = ["INFO:app:started", text[0][:80], text[0][80:], *text[1:]]
    for block in BLOCKS:
        (event,) = error_events(_wrapped(lines, _WRAPPERS["bare"]), block)
        assert (event.line, event.end_line) == (2, len(lines)), block
        assert _label(event) == ("UNKNOWN_ERROR", "AttributeError")


def _formatted(fmt: str, datefmt: str | None, message: str) -> tuple[list[str], logging.LogRecord]:
    out = io.StringIO()
    handler = logging.StreamHandler(out)
    handler.setFormatter(logging.Formatter(fmt, datefmt))
    logger = logging.getLogger("layouts23.status")
    propagate, logger.propagate = logger.propagate, False
    logger.addHandler(handler)
    records: list[logging.LogRecord] = []
    handler.addFilter(lambda r: records.append(r) or True)
    try:
        try:
            {}["missing"]  # noqa: B018
        except KeyError:
            logger.exception(message)
    finally:
        logger.removeHandler(handler)
        logger.propagate = propagate
    return out.getvalue().rstrip("\n").split("\n"), records[0]


@pytest.mark.parametrize("fmt, datefmt", [
    ("[%(asctime)s] - %(levelname)s - %(filename)s - %(threadName)s - %(funcName)s - %(message)s",
     "%d/%m/%Y %I:%M:%S %p"),
    ("%(asctime)s %(levelname)s %(message)s", "%m/%d/%Y %I:%M:%S %p"),  # (the logging HOWTO's datefmt)
    ("%(asctime)s %(levelname)8s %(filename)s %(lineno)d %(message)s", None),
])
def test_formats_with_a_12_hour_clock_and_code_columns_are_records(fmt: str, datefmt: str | None) -> None:
    """The record is read with its level, its time (the 12-hour clock's afternoon read as such) and its message
    without the thread's, function's or line number's columns."""
    body, record = _formatted(fmt, datefmt, "Exception in thread Thread-2:")
    lines = ["INFO:app:started", *body, "INFO:app:next"]
    when = datetime.fromtimestamp(record.created).time().replace(microsecond=0)
    for block in BLOCKS:
        (event,) = error_events(_wrapped(lines, _WRAPPERS["bare"]), block)
        assert (event.line, event.end_line, event.level) == (2, len(lines) - 1, "ERROR"), block
        assert event.message == "Exception in thread Thread-2:", block
        assert event.timestamp is not None
        assert event.timestamp.time().replace(microsecond=0) == when, block  # (`%d/%m` and `%m/%d` alike)
        assert _label(event) == ("UNKNOWN_ERROR", "KeyError")


def test_a_12_hour_clock_before_noon_and_after() -> None:
    """12 AM is midnight, 12 PM noon (`%I`), read from `strftime`'s output for fixed times (month first, as the
    logging HOWTO's datefmt writes it: a day first is read so only when it cannot be a month)."""
    from mosaic_diag.logs.lines import parse_ts
    for hour in (0, 11, 12, 23):
        when = datetime(2015, 9, 5, hour, 12, 39)
        text = when.strftime("%m/%d/%Y %I:%M:%S %p")
        got = parse_ts(text)
        assert got is not None and got.replace(tzinfo=None) == when, text


def _pytest_q(test: Path) -> subprocess.CompletedProcess[str]:
    """`pytest -q test` in its folder, the installed plugins not loaded (a failure section is the same without
    them; importing hypothesis's and the others was most of the run's time)."""
    return subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(test)],
                          capture_output=True, text=True, timeout=120, cwd=test.parent,
                          env={**os.environ, "PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1"})


def test_one_failure_section_of_pytests_report_pasted_alone_is_an_event(tmp_path: Path) -> None:
    """A failure section pasted without pytest's banners (`____ test_code ____`, its source, `E` lines, location and
    captured log) is the test's error event, its message the exception pytest reported; the captured ERROR record in
    it is no event of its own."""
    test = tmp_path / "test_paste.py"
    test.write_text(textwrap.dedent("""
        import logging

        def test_code():
            logging.getLogger("asyncio").error("Exception in callback dumb()")
            raise RuntimeError("No active exception to reraise")
        """), encoding="utf-8")
    proc = _pytest_q(test)
    out = proc.stdout.split("\n")
    start = next(i for i, line in enumerate(out) if line.startswith("_") and " test_code " in line)
    end = next(i for i, line in enumerate(out) if i > start and line.startswith("="))
    section = out[start:end]
    assert any(line.startswith("E   ") for line in section) and any("Captured log call" in line for line in section)
    for block in BLOCKS:
        (event,) = error_events("\n".join(section) + "\n", block)
        assert event.line == 1, block
        assert event.message.startswith("RuntimeError: No active exception to reraise"), block


def test_real_traceback_text_still_takes_its_exception_line() -> None:
    """A line after the frames that names a type is the exception line, as before (`KeyError: 'missing'`)."""
    try:
        {}["missing"]  # noqa: B018
    except KeyError as exc:
        lines = "".join(traceback.format_exception(exc)).rstrip("\n").split("\n")
    for block in BLOCKS:
        (event,) = error_events(_wrapped(lines, _WRAPPERS["bare"]), block)
        assert (event.line, event.end_line, event.message) == (1, len(lines), "KeyError: 'missing'")
        # (in markdown's bold, as a paste may put it: still its exception line, `pg-hba-agensgraph-noenc`)
        (event,) = error_events(_wrapped([*lines[:-1], f"**{lines[-1]}**"], _WRAPPERS["bare"]), block)
        assert (event.line, event.end_line, event.message) == (1, len(lines), "**KeyError: 'missing'**")


def test_a_failure_section_pasted_alone_takes_no_log_after_it(tmp_path: Path) -> None:
    """The section, then a program's output (5000 lines, no section or banner of pytest's after it) and its traceback:
    the section's event ends within `MAX_TRACEBACK_LINES` lines, the traceback is an event of its own (the section took
    every line to the end of the log, the traceback too)."""
    test = tmp_path / "test_paste.py"
    test.write_text(textwrap.dedent("""
        def test_code():
            raise RuntimeError("No active exception to reraise")
        """), encoding="utf-8")
    proc = _pytest_q(test)
    out = proc.stdout.split("\n")
    start = next(i for i, line in enumerate(out) if line.startswith("_") and " test_code " in line)
    end = next(i for i, line in enumerate(out) if i > start and line.startswith("="))
    after = subprocess.run([sys.executable, "-c", "import json\nfor i in range(5000):\n    print(f'step {i}: ok')\n"
                            "json.loads('{x')"], capture_output=True, text=True, timeout=120, check=False)
    text = "\n".join(out[start:end]) + "\n" + after.stdout + after.stderr
    lines = text.rstrip("\n").split("\n")
    header = lines.index("Traceback (most recent call last):") + 1
    for block in BLOCKS:
        section, crash = error_events(text, block)
        assert section.line == 1 and section.end_line <= 1 + MAX_TRACEBACK_LINES, block
        assert section.message.startswith("RuntimeError: No active exception to reraise"), block
        assert (crash.line, crash.end_line) == (header, len(lines)), block
        assert crash.message.startswith("json.decoder.JSONDecodeError: "), block
