"""The line parser's shortcut for the commonest Render text records reads each line as the general path does."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from examples.logshapes import access_message, format_record, make_tracebacks
from mosaic_diag.logs import lines
from mosaic_diag.logs.clock import Clock, time_of_day
from mosaic_diag.logs.lines import Line, parse_line, parse_ts

TS = ("2026-11-27T00:00:09.176000Z", "2026-11-27T00:00:09Z", "2026-11-27T00:00:09.5+02:00", "2026-11-27T00:00:09.1",
      "2026-11-27 00:00:09.176Z", "٢٠٢٦-11-27T00:00:09.176000Z")
INNER = ("ERROR:api.config:Missing configuration", "INFO:api.app:Job search returned 248 results",
         'INFO:     10.0.1.1:40001 - "GET /wimd/ask HTTP/1.1" 200 OK', "INFO:     Started server process [8]",
         "WARNING:api.llm:Retrying in 0.10 s", "WARN:x:y", "WARNING:   spaced out", "WARN:    uvicorn warn",
         "ERROR:    Exception in ASGI application", "CRITICAL::no logger", "FATAL:a:b:c", "DEBUG:root:",
         "ERROR:api storage:space in the logger", "ERROR:", "ERROR:\tTab", "ERROR:  ",
         "INFO:x:Started server process [9]",
         "INFO:x:10.0.1.1:1 - \"GET / HTTP/1.1\" 200", "ERRORS:x:y", "error:x:y", "ERROR api: boom",
         "ERROR:a:line one\nline two", "2026-11-27 00:00:09,123 ERROR api.x: asctime inside", "==> Build failed",
         "app[web.1]: ERROR:a:b", "  File \"x.py\", line 1, in f", "Traceback (most recent call last):", "")
SEPS = (" ", "", "  ", "\t")


def _general(text: str) -> list[tuple[object, ...]]:
    """parse_line(text) with the shortcut off, as tuples of the Line fields."""
    saved = lines._render_record
    lines._render_record = lambda _text: None
    try:
        return [_fields(ln) for ln in parse_line(text)]
    finally:
        lines._render_record = saved


def _fields(ln: Line) -> tuple[object, ...]:
    return tuple(getattr(ln, name) for name in Line.__slots__)


def _same(text: str) -> None:
    assert [_fields(ln) for ln in parse_line(text)] == _general(text), text


@pytest.mark.parametrize("ts", TS)
@pytest.mark.parametrize("sep", SEPS)
def test_the_shortcut_reads_records_as_the_general_path(ts: str, sep: str) -> None:
    for inner in INNER:
        _same(f"{ts}{sep}{inner}")


def test_the_shortcut_takes_the_commonest_records() -> None:
    assert lines._render_record(f"{TS[0]} {INNER[0]}") is not None
    assert lines._render_record(f"{TS[0]} {INNER[2]}") is not None
    assert lines._render_record(f"{TS[0]}   File \"x.py\", line 1") is None


def test_the_shortcut_reads_generated_render_logs_as_the_general_path() -> None:
    tbs = make_tracebacks()
    ts = datetime(2026, 11, 27, 0, 0, 9, 176000, tzinfo=UTC)
    for level in ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"):
        for logger in ("api.app", "uvicorn.error", "uvicorn.access", "root"):
            for exc in (None, *tbs.values()):
                for message in ("Job search returned 5 results", 'Started server process [8]', "",
                                access_message("10.0.1.1:40001", "GET", "/wimd/ask", 200, "OK")):
                    for line in format_record("render-text", ts=ts, level=level, logger=logger, message=message,
                                              exc_text=exc):
                        _same(line)


@settings(max_examples=300, deadline=None, derandomize=True, database=None,
          suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(TS), st.sampled_from(SEPS), st.sampled_from(("ERROR", "WARN", "WARNING", "INFO", "FATAL", "x")),
       st.text(alphabet=": \t\n\r.aZ0[]|{-\u00a0\u2028", max_size=20))
def test_the_shortcut_matches_on_fuzzed_records(ts: str, sep: str, level: str, rest: str) -> None:
    _same(f"{ts}{sep}{level}{rest}")


def test_rich_dates_and_times_of_day() -> None:
    assert parse_ts("12/06/26 08:29:26") == datetime(2026, 12, 6, 8, 29, 26, tzinfo=UTC)  # %x %X: month/day/year
    assert parse_ts("13/06/26 08:29:26") is None and parse_ts("08:29:26") is None
    assert time_of_day("08:29:26.5") == datetime(2026, 1, 1, 8, 29, 26, 500000).time()
    assert time_of_day("24:00:00") is None and time_of_day("8:29:26") is None


def test_clock_dates_times_of_day_in_reading_order() -> None:
    day = datetime(2026, 12, 5, tzinfo=UTC)
    clock = Clock()
    assert clock.at("23:59:58") is None  # nothing to date it by: no file, no timestamp before it
    assert clock.at("2026-12-05T23:50:00Z") == day + timedelta(hours=23, minutes=50)
    assert clock.at("23:59:58") == day + timedelta(hours=23, minutes=59, seconds=58)
    assert clock.at("23:30:00") == day + timedelta(hours=23, minutes=30)  # a little back: the same day
    assert clock.at("00:00:03") == day + timedelta(days=1, seconds=3)  # midnight passed
    assert clock.at("00:00:01") == day + timedelta(days=1, seconds=1)
    assert clock.last == day + timedelta(days=1, seconds=3)
    assert clock.at("23:00:00") == day + timedelta(hours=23)  # an hour back over midnight: the day before
    assert clock.at("11:00:00") == day + timedelta(days=1, hours=11)  # 11 h on: the same day
    assert clock.at("09:00:00") == day + timedelta(days=1, hours=9)  # 2 h back (out of order): no day added
    assert clock.at("23:30:00") == day + timedelta(hours=23, minutes=30)  # 11.5 h back is nearer than 12.5 h on
    assert clock.at("22:59:00") == day + timedelta(days=1, hours=22, minutes=59)  # 11 h 59 on: the same day
    assert clock.at("10:00:00") == day + timedelta(days=2, hours=10)  # 12 h 59 back: midnight passed
    written = day + timedelta(days=1, minutes=5)  # the file's last write: 00:05 the next day
    assert Clock(written).at("23:59:58") == day + timedelta(hours=23, minutes=59, seconds=58)
    assert Clock(written).at("00:04:00") == day + timedelta(days=1, minutes=4)
