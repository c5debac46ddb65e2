"""Logs copied or exported newest first (a log viewer's console, `journalctl -r`, Render's dashboard copied from its
top): real records with real tracebacks, logged by stdlib logging in the test run, written in the order such a
tool lists them; the reader reads them in the order they were written, its line numbers the file's own. Guards: an
oldest-first log whose clock goes back once (a DST change, a restart, a rotated file's start, two hosts
interleaved) is read as it is."""

from __future__ import annotations

import io
import json
import logging
from datetime import UTC, datetime, timedelta

import pytest

from mosaic_diag.classifier.newest_first import is_newest_first, oldest_first
from mosaic_diag.logs.model import ReadStats
from mosaic_diag.logs.reader import NEWEST_FIRST_NOTE, read_events
from tests.isolation import loggers_kept
from tests.test_logs_support import BLOCKS, error_events

_START = datetime(2026, 12, 7, 9, 30, 0, tzinfo=UTC)


def _records() -> list[list[str]]:
    """Real records as stdlib logging writes them (`%(levelname)s:%(name)s:%(message)s`, Render's own default),
    each a list of lines: INFO records, then one ERROR logged with a real KeyError's traceback (chained from a real
    ValueError), then more INFO records."""
    buf = io.StringIO()
    handler = logging.StreamHandler(buf)
    handler.setFormatter(logging.Formatter("%(levelname)s:%(name)s:%(message)s"))
    out: list[list[str]] = []
    with loggers_kept("api.newest"):
        log = logging.getLogger("api.newest")
        log.handlers[:] = [handler]
        log.propagate = False
        log.setLevel(logging.INFO)

        def emit(fn: object) -> None:
            buf.seek(0)
            buf.truncate()
            fn()  # type: ignore[operator]
            out.append(buf.getvalue().rstrip("\n").split("\n"))

        for k in range(3):
            emit(lambda k=k: log.info("request %d served", k))

        def failing() -> None:
            try:
                try:
                    json.loads("{not json")
                except ValueError as exc:
                    raise KeyError("settings") from exc
            except KeyError:
                log.exception("Missing configuration")

        emit(failing)
        for k in range(3, 6):
            emit(lambda k=k: log.info("request %d served", k))
    return out


def _render(records: list[list[str]], step: timedelta = timedelta(milliseconds=37)) -> list[str]:
    """Render's text log: each line behind the time its record was written (the record's lines share it)."""
    return [f"{(_START + i * step).strftime('%Y-%m-%dT%H:%M:%S.%f')}Z {line}"
            for i, rec in enumerate(records) for line in rec]


def _journal(records: list[list[str]], step: timedelta = timedelta(seconds=1)) -> list[str]:
    """journald's short form (`journalctl`'s default): `Mon DD HH:MM:SS host unit[pid]: line`."""
    return [f"{(_START + i * step).strftime('%b %d %H:%M:%S')} web-1 gunicorn[4182]: {line}"
            for i, rec in enumerate(records) for line in rec]


def _spans(text: str) -> list[list[tuple[int, int, str | None, str]]]:
    return [[(e.line, e.end_line, e.level, e.message) for e in error_events(text, block)] for block in BLOCKS]


def _notes(text: str) -> list[str]:
    stats = ReadStats()
    list(read_events(io.BytesIO(text.encode()), stats))
    return [w for w in stats.warnings if w == NEWEST_FIRST_NOTE]


def _reversed_spans(lines: list[str]) -> list[tuple[int, int, str | None, str]]:
    """The events of `lines` read oldest first, their lines counted in the whole lines reversed."""
    n = len(lines)
    (spans,) = {tuple(s) for s in _spans("\n".join(lines) + "\n")}
    return sorted((n + 1 - end, n + 1 - line, level, message) for line, end, level, message in spans)


def test_the_real_record_is_what_the_tests_take_it_for() -> None:
    records = _records()
    rec = records[3]
    assert rec[0] == "ERROR:api.newest:Missing configuration"
    assert rec[1] == "Traceback (most recent call last):"
    assert rec[-1] == "KeyError: 'settings'"
    assert any(line.startswith("json.decoder.JSONDecodeError: ") for line in rec)
    assert any(line == "The above exception was the direct cause of the following exception:" for line in rec)


@pytest.mark.parametrize("layout", [_render, _journal])
def test_a_log_listed_newest_first_is_read_in_the_order_it_was_written(layout: object) -> None:
    lines = layout(_records())  # type: ignore[operator]
    forward = _reversed_spans(lines)
    assert len(forward) == 1 and forward[0][2] == "ERROR" and forward[0][3] == "Missing configuration"
    newest_first = "\n".join(reversed(lines)) + "\n"
    assert _spans(newest_first) == [forward, forward]
    assert _notes(newest_first) == [NEWEST_FIRST_NOTE]
    # (the lines of the event are the file's: its exception line at the top, the record's line at the bottom)
    ((line, end, _, _),) = forward
    shown = newest_first.split("\n")
    assert shown[line - 1].endswith("KeyError: 'settings'") and shown[end - 1].endswith(":Missing configuration")


def _at(records: list[list[str]], times: list[datetime]) -> list[str]:
    return [f"{t.strftime('%Y-%m-%dT%H:%M:%S.%f')}Z {line}"
            for rec, t in zip(records, times, strict=True) for line in rec]


def _guarded(lines: list[str]) -> None:
    """`lines` (an oldest-first log) are read as they are: the ERROR record's event from its own line on."""
    text = "\n".join(lines) + "\n"
    first = next(k for k, line in enumerate(lines, 1) if line.endswith("ERROR:api.newest:Missing configuration"))
    last = next(k for k, line in enumerate(lines, 1) if line.endswith("KeyError: 'settings'"))
    assert _spans(text) == [[(first, last, "ERROR", "Missing configuration")]] * 2
    assert _notes(text) == []
    assert not is_newest_first(lines)


@pytest.mark.parametrize("back", [timedelta(hours=1), timedelta(minutes=7), timedelta(days=1)])
def test_a_clock_that_goes_back_once_is_no_newest_first_log(back: timedelta) -> None:
    """A DST change (an hour back), a restart on another clock, a host's clock set back a day: once, between two
    records of a log written oldest first; the ERROR record right after the jump and right before it."""
    records = _records()
    step = timedelta(seconds=2)
    for at in (3, 4):
        times = [_START + i * step - (back if i >= at else timedelta(0)) for i in range(len(records))]
        _guarded(_at(records, times))


def test_two_hosts_interleaved_are_no_newest_first_log() -> None:
    """Two hosts' records merged by arrival, one host's clock 3 s behind: stamps go down at every other record."""
    records = _records()
    times = [_START + timedelta(seconds=i) - (timedelta(seconds=3) if i % 2 else timedelta(0))
             for i in range(len(records))]
    _guarded(_at(records, times))


def test_a_rotated_file_that_starts_inside_a_traceback_is_no_newest_first_log() -> None:
    """A rotated file's first lines: the end of the record before (its last frame, its source line, its exception
    line, all in Python's order), then the log oldest first."""
    records = _records()
    rec = records[3]
    tail = rec[max(k for k, line in enumerate(rec) if line.startswith("  File ")):]
    lines = _at([tail, *records], [_START + timedelta(seconds=i) for i in range(len(records) + 1)])
    assert "  File " in lines[0] and lines[len(tail) - 1].endswith("KeyError: 'settings'") and len(tail) > 2
    text = "\n".join(lines) + "\n"
    assert _notes(text) == []
    assert not is_newest_first(lines)


def test_a_real_traceback_in_pythons_order_is_no_newest_first_text() -> None:
    (rec,) = [r for r in _records() if len(r) > 1]
    assert not is_newest_first(rec)
    assert not is_newest_first(rec[1:])  # (without the record's line)
    assert is_newest_first(rec[::-1])  # (upside down, with no stamp at all)
    lines, order = oldest_first(rec[::-1])
    assert lines == rec and order == list(range(len(rec) - 1, -1, -1))


@pytest.mark.parametrize("layout", [None, _render, _journal])
def test_classify_reads_a_pasted_traceback_upside_down_in_order(layout: object) -> None:
    """`classify` of the record pasted newest first (its lines bare, behind Render's stamps, behind journald's) reads
    the same exceptions, root cause first, as of the record in Python's order."""
    from mosaic_diag.classifier.evidence import evidence_from_text

    (rec,) = [r for r in _records() if len(r) > 1]
    lines = rec if layout is None else layout([rec])  # type: ignore[operator]
    forward = evidence_from_text("\n".join(lines))
    assert [i.type for i in forward.exceptions] == ["json.decoder.JSONDecodeError", "KeyError"]
    upside_down = evidence_from_text("\n".join(reversed(lines)))
    assert upside_down.exceptions == forward.exceptions


def _entries() -> list[list[str]]:
    """The records as `%(asctime)s %(levelname)s …` writes them: the stamp on each record's first line only (a
    console's multi-line entry: its own lines, a traceback among them, in Python's order)."""
    return [[f"{(_START + i * timedelta(seconds=3)).strftime('%Y-%m-%d %H:%M:%S')},000 {rec[0]}", *rec[1:]]
            for i, rec in enumerate(_records())]


def test_a_console_of_multi_line_entries_newest_first_keeps_each_entry_in_order() -> None:
    entries = _entries()
    forward = "\n".join(line for e in entries for line in e) + "\n"
    ((line, end, level, message),) = _spans(forward)[0]
    assert (level, message) == ("ERROR", "Missing configuration")
    newest_first = "\n".join(line for e in reversed(entries) for line in e) + "\n"
    shown = newest_first.split("\n")
    spans = _spans(newest_first)
    assert spans[0] == spans[1] and len(spans[0]) == 1
    ((first, last, level2, message2),) = spans[0]
    assert (level2, message2, last - first) == (level, message, end - line)
    assert shown[first - 1].endswith("ERROR:api.newest:Missing configuration")
    assert shown[last - 1] == "KeyError: 'settings'"


def _read_file(path: str) -> tuple[list[tuple[int, int, str | None, str]], ReadStats]:
    stats = ReadStats()
    with open(path, "rb") as f:
        events = [(e.line, e.end_line, e.level, e.message) for e in read_events(f, stats, block_size=256)
                  if e.kind == "error"]
    return sorted(events), stats


@pytest.mark.parametrize("layout", ["render", "entries"])
def test_a_long_file_newest_first_is_read_from_its_end_up(monkeypatch: pytest.MonkeyPatch, tmp_path: object,
                                                          layout: str) -> None:
    """A file longer than what is reordered in memory (`REORDER_CAP`, made small here): read from its end up by
    blocks, the events and their lines those of the text reordered in memory; the same text through a pipe is read
    as it is (no look-back past the cap)."""
    import os
    import threading
    from pathlib import Path

    from mosaic_diag.logs import reader

    entries = _entries() if layout == "entries" else [[line] for line in _render(_records())]
    entries = [[e[0].replace("2026-12-07", "2026-12-06"), *e[1:]] for e in entries] + entries  # (a day before)
    text = "\n".join(line for e in reversed(entries) for line in e) + "\n"
    in_memory = _spans(text)[0]
    assert len(in_memory) == 2
    path = Path(str(tmp_path)) / "newest-first.log"
    path.write_text(text)
    monkeypatch.setattr(reader, "REORDER_CAP", 1024)
    assert _read_file(str(path))[0] == in_memory
    r, w = os.pipe()
    threading.Thread(target=lambda: (os.write(w, text.encode()), os.close(w)), daemon=True).start()
    stats = ReadStats()
    with os.fdopen(r, "rb") as f:
        list(read_events(f, stats, block_size=256))
    assert NEWEST_FIRST_NOTE not in stats.warnings


def test_ipython_tracebacks_then_a_cut_frame_are_no_newest_first_text() -> None:
    """IPython's real tracebacks (`%xmode Context`, a chain) pasted one after another, then a thread's real traceback
    cut to a source line and its frame (`test_fuzz`'s find): the last exception line has a source line and a frame
    right below it, but each IPython traceback is in Python's order (its `Cell In[1], line 4` under its header, its
    `---->` arrow above its exception line): read as it is."""
    from tests.test_fuzz import _pastes

    pastes = _pastes()
    chain = next(p for p in pastes if any(line.startswith("Cell In[") for line in p) and "KeyError: 'settings'" in p)
    thread = next(p for p in pastes if any("threading.py" in line for line in p))
    at = next(k for k, line in enumerate(thread) if line.strip() == "self.run()")
    lines = [*chain, *chain, *chain, *thread[at:at + 2]]
    assert lines[-1].startswith('  File "') and lines[-3] == "KeyError: 'settings'"
    assert not is_newest_first(lines)
    assert _notes("\n".join(lines) + "\n") == []
