"""The reader's fast paths: rare-byte find/count, JSON gating, frame runs, level statistics."""

from __future__ import annotations

import random

import pytest

from examples.logshapes import make_tracebacks
from mosaic_diag.logs import scan
from mosaic_diag.logs.scan import Needle
from tests.test_logs_support import Rec, access, read, render

NEEDLES = [Needle(b"==> ", 2), Needle(b"CRITICAL", 7), Needle(b"DEBUG", 2), Needle(b"WARN", 0), Needle(b"\n{", 1),
           Needle(b"ERROR")]
PIECES = [b"==> ", b"=", b">", b"CRITICAL", b"CRITICA", b"L", b"DEBUG", b"B", b"DEBU", b"WARN", b"W", b"\n{", b"{",
          b"\n", b"ERROR", b"x" * 50, b" ", b"INFO:     10.0.0.1 - \"GET / HTTP/1.1\" 200\n"]


def _blob(rng: random.Random, dense: bool) -> bytes:
    # dense: the anchor bytes are everywhere (forces the fallback to the plain search)
    weights = [5 if dense or len(p) > 2 else 1 for p in PIECES]
    return b"".join(rng.choices(PIECES, weights, k=rng.randint(0, 3000 if dense else 400)))


@pytest.mark.parametrize("dense", [False, True])
def test_find_and_count_agree_with_bytes_methods(dense: bool) -> None:
    rng = random.Random(20261128 + dense)
    for _ in range(300):
        data = _blob(rng, dense)
        n = len(data)
        for needle in NEEDLES:
            start = rng.randint(0, n)
            end = rng.randint(start, n)
            assert scan.find(data, needle, start) == data.find(needle.text, start), (needle, start)
            assert scan.find(data, needle, start, end) == data.find(needle.text, start, end), (needle, start, end)
            assert scan.count(data, needle, start, end) == data.count(needle.text, start, end), (needle, start, end)


def test_find_falls_back_when_the_anchor_is_common() -> None:
    data = b">" * 100_000 + b"==> Build failed"
    assert scan.find(data, Needle(b"==> ", 2), 0) == 100_000
    assert scan.count(data, Needle(b"==> ", 2), 0, len(data)) == 1


def test_json_levels_are_found_in_a_text_file_with_a_json_line() -> None:
    text, _ = render("render-text", [access(200)] * 50)
    json_line = b'{"level": "error", "event": "Job source timed out", "logger": "api.jobs"}\n'
    events, stats = read(text + json_line + text, block_size=1 << 20)
    assert [(e.line, e.message, e.shape) for e in events] == [(51, "Job source timed out", "json")]
    assert stats.shapes["json"] == 1


@pytest.mark.parametrize("shape", ["render-text", "plain", "uvicorn"])
@pytest.mark.parametrize("eol", [b"\n", b"\r\n"])
def test_frame_runs_keep_every_line_and_stop_at_a_blank_one(shape: str, eol: bytes) -> None:
    tb = make_tracebacks()["chained_during"].rstrip("\n")
    data, spans = render(shape, [access(200), Rec("ERROR", "api", "boom", tb), access(200)])
    events, _ = read(data.replace(b"\n", eol), block_size=1 << 20)
    assert [(e.line, e.end_line, e.traceback) for e in events] == [(spans[1].line, spans[1].end_line, tb)]
    # a whitespace-only line inside the frames ends the traceback there, as a line-by-line read does
    lines = data.split(b"\n")
    frame = next(i for i, ln in enumerate(lines) if ln.endswith(b"in <module>") or b'  File "' in ln)
    lines.insert(frame + 1, lines[frame].split(b"File")[0].rstrip(b" ") + b"    ")
    events, _ = read(b"\n".join(lines), block_size=1 << 20)
    assert events[0].end_line == frame + 1
    # the ERROR record's line, then the traceback header and frames up to the whitespace-only line
    assert events[0].traceback.count("\n") == events[0].end_line - events[0].line - 1
    assert events[0].traceback.startswith("Traceback (most recent call last):")


def test_level_statistics_of_passed_over_lines() -> None:
    recs = [access(200)] * 7 + [Rec("WARNING", "api.llm", "Retrying"), Rec("DEBUG", "api", "cache miss"),
                                Rec("INFO", "api", "PS101 step 3 completed")] * 3
    data, _ = render("render-text", recs)
    _, stats = read(data)
    assert stats.lines == 16
    assert dict(stats.levels) == {"access": 7, "WARNING": 3, "DEBUG": 3, "INFO": 3}


@pytest.mark.parametrize("shape", ["json", "render-api"])
def test_level_statistics_of_passed_over_json_lines(shape: str) -> None:
    # a Render API entry's message starts with the process's own "WARNING:" besides its "warning"
    # label: counted once
    recs = [access(200)] * 5 + [Rec("WARNING", "api.llm", "Retrying"), Rec("INFO", "api", "PS101 step 3 completed"),
                                Rec("DEBUG", "api", "cache miss")] * 4
    data, _ = render(shape, recs)
    _, stats = read(data)
    assert stats.lines == 17
    assert dict(stats.levels) == {"access": 5, "WARNING": 4, "INFO": 4, "DEBUG": 4}


def test_cut_line_warning_names_its_line_after_many_blocks() -> None:
    data, _ = render("render-text", [access(200)] * 2000)
    lines = data.split(b"\n")
    huge = b"2026-11-27T14:03:11.123456Z INFO:api.app:" + b"x" * 100_000
    blob = b"\n".join(lines[:1500] + [huge] + lines[1500:])
    _, stats = read(blob, block_size=4096, line_cap=8192)
    assert stats.lines == 2001
    assert [w.split(" is ")[0] for w in stats.warnings] == ["line 1501"]
