"""The forms layouts round 26 found the reader missing, produced by the real libraries in the test run: Azure Container
Apps' log stream (`{"TimeStamp": …, "Log": "F …"}` a line) and a paste cut inside a traceback's frame, below its
`File` line (tests/realworld/layouts.yml, the `r26l-` entries)."""

from __future__ import annotations

import json
import traceback
from datetime import UTC, datetime, timedelta

import pytest

from tests.test_logs_support import BLOCKS, error_events


def _inner(raw: str) -> int:
    return int(raw)


def _outer(raw: str) -> int:
    return _inner(raw) + 1


def _traceback() -> list[str]:
    """A real traceback's lines (two frames of ours, then `ValueError: …`)."""
    try:
        _outer("eleven")
    except ValueError:
        return traceback.format_exc().rstrip("\n").split("\n")
    raise AssertionError("no exception")


def _container_apps(lines: list[str], tag: str) -> str:
    """The lines as Container Apps' log stream prints them: the platform's own entry first, then one entry a line of
    the container's output behind the runtime's tag, each with its time."""
    start = datetime(2025, 8, 14, 11, 50, 20, tzinfo=UTC)
    out = [json.dumps({"TimeStamp": start.isoformat(), "Log": "Successfully Connected to container: 'main'"})]
    for i, line in enumerate(lines, 1):
        stamp = (start + timedelta(microseconds=i * 250)).isoformat()
        out.append(json.dumps({"TimeStamp": stamp, "Log": tag + line}))
    return "\n".join(out) + "\n"


@pytest.mark.parametrize("tag", ["F ", ""])
def test_container_apps_log_stream_entries_are_the_containers_lines(tag: str) -> None:
    """Each entry's `Log` is the container's line (its `F` tag dropped): the traceback is one event, stamped with its
    entries' time; the platform's own entry is none."""
    tb = _traceback()
    text = _container_apps(tb, tag)
    for block in BLOCKS:
        events = error_events(text, block)
        assert [(e.line, e.end_line, e.level, e.message) for e in events] == \
            [(2, len(tb) + 1, None, "ValueError: invalid literal for int() with base 10: 'eleven'")], block
        assert events[0].traceback.startswith("Traceback (most recent call last):\n  File ")
        stamp = events[0].timestamp
        assert stamp is not None and stamp.isoformat().startswith("2025-08-14T11:50:20.00025")


def test_a_paste_cut_inside_a_frame_starts_the_event_at_its_source_line() -> None:
    """A paste that starts below a frame's `File` line (its source line, then the next frames and the exception line):
    the event starts at the paste's first line, which is the traceback's."""
    tb = _traceback()
    first = next(i for i, line in enumerate(tb) if line.startswith("  File "))
    cut = tb[first + 1:]  # (the header and the first frame's `File` line cut off)
    assert cut[0].startswith("    ") and cut[1].startswith("  File ")
    text = "\n".join(cut) + "\n[2025-08-14 11:50:21,000: INFO/MainProcess] next\n"
    for block in BLOCKS:
        events = error_events(text, block)
        assert [(e.line, e.end_line, e.message) for e in events] == \
            [(1, len(cut), "ValueError: invalid literal for int() with base 10: 'eleven'")], block
        assert events[0].traceback.startswith(cut[0])


def test_indented_lines_under_a_record_before_frames_stay_the_records() -> None:
    """Indented lines after a record (its message's own) before frames without a header are no cut frame: the event
    is the frames' own, as before (only lines that open the input are a cut frame's)."""
    tb = _traceback()
    text = "\n".join(["[2025-08-14 11:50:19,000: INFO/MainProcess] config:", "    workers: 2", *tb[1:]]) + "\n"
    for block in BLOCKS:
        events = error_events(text, block)
        assert [(e.line, e.message) for e in events] == \
            [(3, "ValueError: invalid literal for int() with base 10: 'eleven'")], block
