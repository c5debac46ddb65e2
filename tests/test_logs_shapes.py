"""Each log shape end to end: real tracebacks, records rendered by examples/logshapes.py."""

from __future__ import annotations

from datetime import timedelta

import pytest

from examples.logshapes import SHAPES, make_tracebacks
from tests.test_logs_support import Rec, access, read, render


@pytest.fixture(scope="module")
def tbs() -> dict[str, str]:
    return make_tracebacks()


def _records(tbs: dict[str, str]) -> list[Rec]:
    return [
        Rec("INFO", "uvicorn.error", "Started server process [4242]"),
        Rec("INFO", "api.app", "Prompt selector matched prompt 3"),
        access(200),
        Rec("ERROR", "uvicorn.error", "Exception in ASGI application", tbs["chained_from"]),
        access(500),
        Rec("ERROR", "api.storage", "Database init failed", tbs["psycopg2_refused"]),
        Rec("WARNING", "api.llm", "Retrying request to /chat/completions in 0.4 seconds"),
        Rec("ERROR", "api.llm", "OpenAI call failed: Error code: 429 - Rate limit reached"),
        Rec("CRITICAL", "api.session", "Session handler crashed", tbs["chained_during"]),
        Rec("ERROR", "api.metrics", "Metrics failed", tbs["zero_division"]),
        Rec("INFO", "api.app", "PS101 step 2 completed"),
    ]


@pytest.mark.parametrize("block_size", [4 << 20, 97, 1])
@pytest.mark.parametrize("shape", SHAPES)
def test_each_shape_end_to_end(shape: str, block_size: int, tbs: dict[str, str]) -> None:
    recs = _records(tbs)
    data, spans = render(shape, recs)
    events, stats = read(data, block_size=block_size)

    errors = [e for e in events if e.kind == "error"]
    want = [s for s in spans if s.rec.level in ("ERROR", "CRITICAL")]
    assert [(e.line, e.end_line) for e in errors] == [(s.line, s.end_line) for s in want]
    for ev, span in zip(errors, want, strict=True):
        assert ev.message == span.rec.message
        assert ev.level == span.rec.level
        assert ev.shape == shape
        if span.rec.exc is None:
            assert ev.traceback is None
        else:
            assert ev.traceback == span.rec.exc.rstrip("\n")
        if shape == "uvicorn":
            assert ev.timestamp is None
        else:  # asctime (plain, python-json-logger) has milliseconds only
            assert abs(ev.timestamp - span.ts) < timedelta(milliseconds=1)
    starts = [e for e in events if e.kind == "process_start"]
    assert [(e.line, e.message) for e in starts] == [(1, "Started server process [4242]")]
    assert stats.lines == data.count(b"\n")
    assert stats.bytes == len(data)
    assert stats.corrupt == 0
    assert stats.levels["ERROR"] == 4 and stats.levels["CRITICAL"] == 1
    assert stats.levels["WARNING"] == 1
    if shape != "json":
        assert stats.levels["access"] == 2


def test_traceback_text_keeps_chains_markers_and_psycopg2_lines(tbs: dict[str, str]) -> None:
    data, _ = render("render-text", _records(tbs))
    events, _ = read(data)
    texts = [e.traceback for e in events if e.traceback]
    chained = next(t for t in texts if "direct cause" in t)
    assert chained.count("Traceback (most recent call last):") == 2
    assert "\n\nThe above exception was the direct cause of the following exception:\n\n" in chained
    during = next(t for t in texts if "During handling" in t)
    assert during.endswith("IndexError: list index out of range")
    marker = next(t for t in texts if "ZeroDivisionError" in t and "During" not in t)
    assert any(set(ln.strip()) <= set("~^") and "^" in ln for ln in marker.splitlines())
    pg = next(t for t in texts if "psycopg2.OperationalError" in t)
    assert pg.splitlines()[-1].strip() == "Is the server running on that host and accepting TCP/IP connections?"


def test_plain_without_asctime_and_dashed_format(tbs: dict[str, str]) -> None:
    exc = tbs["json_decode"]
    lines = [
        "INFO:api.app:ready",
        "ERROR:api.ps101:Could not load PS101 steps",
        *exc.rstrip("\n").split("\n"),
        "2026-11-27 14:03:11,123 - api.storage - ERROR - Database init failed",
        "2026-11-27 14:03:12,456 - api.app - INFO - fine",
    ]
    events, stats = read(("\n".join(lines) + "\n").encode())
    n_exc = len(exc.rstrip("\n").split("\n"))
    assert [(e.line, e.end_line, e.logger, e.message) for e in events] == [
        (2, 2 + n_exc, "api.ps101", "Could not load PS101 steps"),
        (3 + n_exc, 3 + n_exc, "api.storage", "Database init failed"),
    ]
    assert events[0].traceback.endswith(exc.rstrip("\n").split("\n")[-1])
    assert events[1].timestamp is not None and events[1].timestamp.tzinfo is not None
    assert stats.levels["INFO"] == 2


def test_bare_traceback_is_an_event_but_one_logged_at_warning_is_not(tbs: dict[str, str]) -> None:
    exc = tbs["key_error"].rstrip("\n").split("\n")
    lines = ["INFO:     Application startup complete.", *exc,
             "WARNING:api.llm:retrying after error", *exc, "INFO:api.app:ok"]
    events, _ = read(("\n".join(lines) + "\n").encode())
    assert len(events) == 1
    ev = events[0]
    assert (ev.line, ev.end_line) == (2, 1 + len(exc))
    assert ev.message == exc[-1]
    assert ev.message.startswith("KeyError: 'MOSAIC_DIAG_SURELY_MISSING_VAR'")
    assert ev.level is None


def test_render_platform_lines(tbs: dict[str, str]) -> None:
    recs = [
        Rec("INFO", "render", "", raw=["==> Build successful 🎉", "==> Deploying..."]),
        Rec("INFO", "render", "", raw=["==> No open ports detected, continuing to scan..."]),
        Rec("INFO", "render", "", raw=["==> Port scan timeout reached, no open ports detected. Bind your "
                                       "service to at least one port."]),
        Rec("INFO", "render", "", raw=["==> Exited with status 0"]),
        Rec("INFO", "render", "", raw=["==> Exited with status 1"]),
        Rec("INFO", "render", "", raw=["==> Build failed 😞"]),
    ]
    for shape in ("render-text", "render-api", "syslog"):
        data, spans = render(shape, recs)
        events, _ = read(data)
        assert [(e.kind, e.line) for e in events] == [
            ("deploy", spans[0].line + 1),  # a timeline marker, not an error
            ("platform", spans[2].line), ("platform", spans[4].line), ("platform", spans[5].line)]
        assert events[0].message == "Deploying..." and events[2].message == "Exited with status 1"


def test_json_dialects_and_fields(tbs: dict[str, str]) -> None:
    recs = [Rec("ERROR", f"api.x{i}", f"failure {i}", tbs["chained_from"]) for i in range(3)]
    recs.append(Rec("WARNING", "api.y", "degraded", tbs["key_error"]))
    data, spans = render("json", recs)
    lines = data.decode().splitlines()
    assert '"exception"' in lines[0] and '"exc_info"' in lines[1] and '"stack_trace"' in lines[2]
    extra = '{"level": "error", "message": "ecs style", "error": {"stack": ' \
            + __import__("json").dumps(tbs["zero_division"]) + '}}'
    events, _ = read(data + extra.encode() + b"\n")
    assert [(e.line, e.logger) for e in events] == [(1, "api.x0"), (2, "api.x1"), (3, "api.x2"), (5, None)]
    assert all(e.traceback == tbs["chained_from"].rstrip("\n") for e in events[:3])
    assert events[3].traceback == tbs["zero_division"].rstrip("\n")
    assert events[3].message == "ecs style"
