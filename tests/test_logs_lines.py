"""The line parser's shortcut for the commonest Render text records reads each line as the general path does."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from examples.logshapes import access_message, format_record, make_tracebacks
from mosaic_diag.logs import lines
from mosaic_diag.logs.lines import Line, parse_line

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
