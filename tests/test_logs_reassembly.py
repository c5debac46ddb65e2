"""Per-instance reassembly (Render API entries, syslog), API pages, mixed shapes in one file."""

from __future__ import annotations

import json

import pytest

from examples.logshapes import make_tracebacks
from tests.test_logs_support import Rec, access, read, render

A, B, C = "srv-d0abc-7f9c", "srv-d0abc-2k4m", "srv-d0abc-x81q"


@pytest.fixture(scope="module")
def tbs() -> dict[str, str]:
    return make_tracebacks()


def _interleaved(tbs: dict[str, str]) -> list[Rec]:
    return [
        Rec("INFO", "api.app", "warming up", instance=B),
        Rec("ERROR", "uvicorn.error", "Exception in ASGI application", tbs["chained_from"], instance=A),
        Rec("ERROR", "api.storage", "Database init failed", tbs["psycopg2_refused"], instance=B),
        Rec("ERROR", "api.session", "Session handler crashed", tbs["chained_during"], instance=C),
        Rec("INFO", "api.app", "done", instance=A),
        Rec("ERROR", "api.llm", "OpenAI call failed: Connection error.", instance=B),
    ]


@pytest.mark.parametrize("block_size", [4 << 20, 200, 1])
@pytest.mark.parametrize("shape", ["render-api", "syslog"])
def test_interleaved_instances_are_reassembled(shape: str, block_size: int, tbs: dict[str, str]) -> None:
    recs = _interleaved(tbs)
    data, spans = render(shape, recs, interleave=True)
    events, stats = read(data, block_size=block_size)
    want = sorted((s for s in spans if s.rec.level == "ERROR"), key=lambda s: s.line)
    got = sorted(events, key=lambda e: e.line)
    assert events == got  # in the order of their first lines, though the overlapping ones close in another
    assert [(e.line, e.end_line, e.message) for e in got] == [(s.line, s.end_line, s.rec.message) for s in want]
    for ev, span in zip(got, want, strict=True):
        assert ev.traceback == (span.rec.exc.rstrip("\n") if span.rec.exc else None)
        assert span.rec.instance in ev.instance
    # the three tracebacks really overlap in the file
    assert want[0].end_line > want[1].line and want[1].end_line > want[2].line
    assert stats.shapes[shape] == data.count(b"\n")


def test_a_silent_instance_does_not_hold_its_event_forever(tbs: dict[str, str]) -> None:
    recs = [Rec("ERROR", "api.storage", "Database init failed", tbs["key_error"], instance=A)]
    recs += [access(200)] * 400
    for r in recs[1:]:
        r.instance = B
    data, spans = render("render-api", recs)
    events, _ = read(data, horizon=50)
    assert [(e.line, e.end_line) for e in events] == [(spans[0].line, spans[0].end_line)]


def test_api_pages_one_per_line_and_pretty_printed(tbs: dict[str, str]) -> None:
    recs = _interleaved(tbs)
    data, spans = render("render-api", recs, interleave=True)
    entries = [json.loads(x) for x in data.decode().splitlines()]
    half = len(entries) // 2
    pages = [{"hasMore": True, "nextStartTime": "2026-11-27T14:03:20Z", "nextEndTime": "2026-11-27T15:00:00Z",
              "logs": entries[:half]},
             {"hasMore": False, "logs": entries[half:]}]
    one_per_line = "\n".join(json.dumps(p) for p in pages).encode() + b"\n"
    events, stats = read(one_per_line)
    line_of = [1] * half + [2] * (len(entries) - half)
    want = [s for s in spans if s.rec.level == "ERROR"]
    got = sorted(events, key=lambda e: (e.line, e.end_line))
    assert sorted((e.line, e.end_line, e.message) for e in got) == sorted(
        (line_of[s.line - 1], line_of[s.end_line - 1], s.rec.message) for s in want)
    assert all(e.traceback == s.rec.exc.rstrip("\n") for e, s in zip(
        sorted(events, key=lambda e: e.message), sorted(want, key=lambda s: s.rec.message), strict=True)
        if s.rec.exc)
    assert stats.corrupt == 0

    pretty = json.dumps(pages[0] | {"logs": entries}, indent=2).encode()
    events, stats = read(pretty)
    text = pretty.decode().splitlines()
    starts = [i for i, t in enumerate(text, 1) if t == "    {"]
    ends = [i for i, t in enumerate(text, 1) if t in ("    }", "    },")]
    assert len(starts) == len(entries)
    assert sorted((e.line, e.end_line, e.message) for e in events) == sorted(
        (starts[s.line - 1], ends[s.end_line - 1], s.rec.message) for s in want)
    assert stats.corrupt == 0 and stats.lines == len(text)

    array = json.dumps(entries, indent=1).encode()
    events, _ = read(array)
    assert sorted(e.message for e in events) == sorted(s.rec.message for s in want)


def test_mixed_shapes_in_one_file(tbs: dict[str, str]) -> None:
    parts = []
    expected = []
    offset = 0
    for shape, rec in [("uvicorn", Rec("ERROR", "uvicorn.error", "Exception in ASGI application",
                                       tbs["chained_from"])),
                       ("json", Rec("ERROR", "api.storage", "Database init failed", tbs["psycopg2_refused"])),
                       ("render-text", Rec("CRITICAL", "api.session", "crashed", tbs["json_decode"])),
                       ("plain", Rec("ERROR", "api.llm", "OpenAI call failed")),
                       ("render-api", Rec("ERROR", "api.ps101", "bad steps", tbs["zero_division"])),
                       ("syslog", Rec("ERROR", "api.x", "syslog failure", tbs["key_error"]))]:
        data, spans = render(shape, [access(200), rec, access(500)])
        parts.append(data)
        expected.append((spans[1].line + offset, spans[1].end_line + offset, shape, rec.message))
        offset += data.count(b"\n")
    events, stats = read(b"".join(parts), block_size=333)
    assert [(e.line, e.end_line, e.shape, e.message) for e in events] == expected
    assert set(stats.shapes) >= {"uvicorn", "json", "render-text", "render-api", "syslog"}
    assert stats.levels["ERROR"] == 5 and stats.levels["CRITICAL"] == 1


def test_event_split_across_blocks_at_every_offset(tbs: dict[str, str]) -> None:
    data, spans = render("render-text", [access(200), Rec("ERROR", "api", "x", tbs["chained_during"]),
                                         access(200)])
    want = [(spans[1].line, spans[1].end_line)]
    for size in range(1, 400, 7):
        events, _ = read(data, block_size=size)
        assert [(e.line, e.end_line) for e in events] == want, size


def test_render_api_second_line_of_an_error_record_is_its_detail() -> None:
    """httpx's message has a second line; Render's API returns it as an entry of its own, labelled
    `error` but without a level of its own: it continues that instance's record."""
    import httpx

    transport = httpx.MockTransport(lambda request: httpx.Response(502, text="bad gateway"))
    try:
        with httpx.Client(transport=transport) as client:
            client.get("https://boards-api.greenhouse.io/v1/boards/mosaic/jobs").raise_for_status()
    except httpx.HTTPStatusError as exc:
        first, second = str(exc).split("\n", 1)
    recs = [Rec("ERROR", "api.jobs", "", raw=[f"ERROR:api.job_sources:Job source failed: {first}", second],
                instance=A),
            Rec("INFO", "api.app", "serving cached results", instance=B)]
    data, spans = render("render-api", recs, interleave=True)
    events, _ = read(data)
    assert len(events) == 1
    (ev,) = events
    assert ev.message == f"Job source failed: {first}" and ev.detail == second
    assert (ev.line, ev.end_line) == (spans[0].line, spans[0].end_line)


@pytest.mark.parametrize("name", ["chained_from", "chained_during", "json_decode", "key_error"])
def test_render_text_traceback_read_in_runs_as_line_by_line(name: str, tbs: dict[str, str]) -> None:
    """A Render text traceback's frames and the lines that chain two tracebacks are handed over in runs;
    the events are those of the same log read line by line (CRLF line ends keep the reader off the runs)."""
    recs = [Rec("INFO", "api.app", "warming up"), Rec("ERROR", "api.session", "Session handler crashed", tbs[name]),
            Rec("INFO", "api.app", "done"), Rec("ERROR", "api.session", "again", tbs[name]), access(200)]
    data, spans = render("render-text", recs)
    fast, fast_stats = read(data)
    slow, slow_stats = read(data.replace(b"\n", b"\r\n"))
    assert fast == slow and fast_stats.shapes == slow_stats.shapes and fast_stats.lines == slow_stats.lines
    errors = [s for s in spans if s.rec.level == "ERROR"]
    assert [(e.line, e.end_line) for e in fast] == [(s.line, s.end_line) for s in errors]
    assert fast[0].traceback == tbs[name].rstrip("\n")


def test_a_traceback_without_a_record_keeps_the_shape_of_the_text_before_it(tbs: dict[str, str]) -> None:
    """A traceback with no record of its own takes the text's shape as read up to its end (uvicorn's here), not the
    shape of the record that closes it: the log cut before that record gives the same event."""
    head = (b'ERROR:    Exception in ASGI application\nINFO:     10.0.0.1:51234 - "GET / HTTP/1.1" 200 OK\n'
            + tbs["json_decode"].encode())
    whole, _ = read(head + b"2026-11-27 14:03:11,123 INFO api: next\n")
    cut, _ = read(head)
    assert [(e.line, e.shape) for e in whole] == [(1, "uvicorn"), (3, "uvicorn")]
    assert whole == cut
