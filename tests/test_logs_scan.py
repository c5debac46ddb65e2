"""The reader's fast paths: rare-byte find/count, JSON gating, frame runs, level statistics."""

from __future__ import annotations

import io
import random
from datetime import timedelta

import pytest

from examples.logshapes import make_tracebacks
from mosaic_diag.logs import scan
from mosaic_diag.logs.scan import Needle
from tests.test_logs_support import T0, Rec, access, logging_to, read, render

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


@pytest.mark.parametrize("dense", [False, True])
def test_count_each_agrees_with_bytes_count(dense: bool) -> None:
    texts = (b"[warn", b"[debug")
    pieces = [b"[", b"[warn", b"[warning  ] ", b"[debug    ] ", b"[deb", b"[info     ] ", b"x" * 40, b"\n"]
    rng = random.Random(20261206 + dense)
    for _ in range(300):
        weights = [20 if dense and p == b"[" else 1 for p in pieces]
        data = b"".join(rng.choices(pieces, weights, k=rng.randint(0, 3000 if dense else 300)))
        start = rng.randint(0, len(data))
        end = rng.randint(start, len(data))
        assert scan.count_each(data, texts, start, end) == [data.count(t, start, end) for t in texts]


@pytest.mark.parametrize("dense", [False, True])
def test_json_start_is_the_first_json_line_or_prefixed_json_line(dense: bool) -> None:
    """`_json_start` (one pass over the "{" of a block) agrees with the plain searches, also where the "{" are too
    many (its fallback)."""
    from mosaic_diag.logs.reader import _json_start

    pieces = [b"{", b" {", b' {"', b"\n{", b"\n", b'"', b"x" * 40, b"{'go", b": {}["]
    rng = random.Random(20261207 + dense)
    for _ in range(300):
        weights = [60 if dense and p in (b"{", b"{'go") else 1 for p in pieces]
        block = b"".join(rng.choices(pieces, weights, k=rng.randint(0, 6000 if dense else 200)))
        starts = [0] if block[:1] == b"{" else []
        starts += [i + 1 for i in (block.find(b"\n{"),) if i >= 0]
        starts += [block.rfind(b"\n", 0, i) + 1 for i in (block.find(b' {"'),) if i >= 0]
        assert _json_start(block) == min(starts, default=-1), block


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


def test_mutated_logs_read_the_same_at_any_block_size() -> None:
    """Seeded mutations (stray bytes, CRLF, blank and indented lines, cuts) of every shape: the
    events and the line count do not depend on where the blocks split, and no line is lost."""
    import io

    from mosaic_diag.logs import ReadStats, read_events

    tbs = list(make_tracebacks().values())
    rng = random.Random(20261128)
    shapes = ["render-text", "plain", "uvicorn", "json", "render-api", "syslog"]

    def records() -> list[Rec]:
        out = []
        for i in range(rng.randint(1, 30)):
            r = rng.random()
            where = rng.choice(["srv-a-1", "srv-a-2"])
            out.append(access(rng.choice([200, 500])) if r < 0.4 else
                       Rec("ERROR", "api.x", f"boom {i}", rng.choice(tbs), instance=where) if r < 0.6 else
                       Rec("CRITICAL", "api.z", f"crit {i}", instance=where) if r < 0.7 else
                       Rec("WARNING", "api.y", f"warn {i}"))
        return out

    for _ in range(300):
        data = b"".join(render(rng.choice(shapes), records(), interleave=rng.random() < 0.5)[0]
                        for _ in range(rng.randint(1, 3)))
        for _ in range(rng.randint(0, 5)):
            p = rng.randrange(len(data) + 1)
            data = rng.choice([
                data[:p] + bytes([rng.randrange(256)]) + data[p:],
                data[:p] + b"\r\n" + data[p:],
                data[:p] + b"\n    \n" + data[p:],
                data[:p] + data[p + rng.randint(1, 50):],
                data[:p] + b"\n" + b'  File "x.py", line 1, in f\n' * 3 + data[p:],
            ])
        seen = []
        for block_size in (1 << 20, rng.randint(1, 400)):
            stats = ReadStats()
            events = list(read_events(io.BytesIO(data), stats, block_size=block_size))
            seen.append(([(e.line, e.end_line, e.message, e.traceback, e.detail) for e in events], stats.lines))
        assert seen[0] == seen[1]
        assert seen[0][1] == data.count(b"\n") + (0 if data.endswith(b"\n") or not data else 1)


@pytest.mark.parametrize("step", [1, 7, 64, 1 << 18])
def test_utf8_is_checked_piece_by_piece_as_a_whole(step: int) -> None:
    """The block check decodes pieces of whole lines: valid or not exactly as the whole block decodes."""
    from mosaic_diag.logs.reader import _check_utf8

    rng = random.Random(5)
    parts = [b"plain line\n", "caf\u00e9 \U0001f389 ok\n".encode(), b"\xe2\x82\n", b"\xff\n", b"tail \xf0\x9f",
             "\u20ac\n".encode(), b"\n"]
    for _ in range(300):
        block = b"".join(rng.choice(parts) for _ in range(rng.randint(1, 12)))
        try:
            block.decode("utf-8")
            whole = True
        except UnicodeDecodeError:
            whole = False
        try:
            _check_utf8(block, step)
            pieces = True
        except UnicodeDecodeError:
            pieces = False
        assert pieces == whole, block


# -- statistics that do not depend on where the blocks split (the minimal cases of tests/test_fuzz.py's cut properties)

CUTS = (None, 3, 17)  # a text read whole, in blocks of one line or so, in a few lines a block


def _read_in(data: bytes, block_size: int | None, **kw: int) -> tuple[list, object]:
    return read(data, **kw) if block_size is None else read(data, block_size=block_size, **kw)


@pytest.mark.parametrize("block_size", CUTS)
def test_corrupt_samples_are_in_line_order(block_size: int | None) -> None:
    """A block's invalid UTF-8 is looked for before its NUL bytes: the samples are still the lines in order."""
    _, stats = _read_in(b"INFO:api:a\0b\nINFO:api:caf\xe9\n", block_size)
    assert stats.corrupt_samples == [(1, "NUL byte"), (2, "invalid UTF-8")]


@pytest.mark.parametrize("block_size", CUTS)
def test_first_and_last_timestamps_are_the_log_s_not_the_blocks(block_size: int | None) -> None:
    """Out of order stamps (instances interleaved): the range spans the first stamp of the log's head, the last of its
    tail (and the events'), not the stamps that happened to end a block."""
    data, _ = render("render-text", [access(200)] * 4)
    lines = data.split(b"\n")
    _, stats = _read_in(b"\n".join([b"", lines[0], lines[3], lines[2], b""]), block_size)
    assert (stats.first_ts, stats.last_ts) == (T0, T0 + timedelta(seconds=2))


@pytest.mark.parametrize("block_size", CUTS)
def test_cut_json_lines_are_found_with_crlf_and_at_the_end(block_size: int | None) -> None:
    """A cut-off JSON line of a CRLF log, and a log's last line cut without its newline, are corrupt wherever the
    block splits (the block's first line was checked so, the others were not)."""
    data = (b'{"level": "info", "message": "a"}\r\n{"level": "info", "message": "cut\r\n'
            b'{"level": "info", "message": "b"}\r\n{"level": "info", "message": "cut again')
    _, stats = _read_in(data, block_size)
    assert stats.corrupt_samples == [(2, "JSON line cut off or not one object"),
                                     (4, "JSON line cut off or not one object")]


@pytest.mark.parametrize("block_size", CUTS)
def test_a_run_of_passed_over_lines_after_a_blank_line_has_their_shape(block_size: int | None) -> None:
    """A run that starts with a blank line (after a traceback, at a block's start) is counted as its lines' shape: a
    Render API entry's level is its label, not a word of its text."""
    data, _ = render("render-api", [Rec("DEBUG", "api.db", "pool size 5", raw=["pool size 5"])])
    _, stats = _read_in(b"\n" + data, block_size)
    assert dict(stats.levels) == {"INFO": 1, "DEBUG": 1}


@pytest.mark.parametrize("block_size", CUTS)
def test_a_run_of_passed_over_lines_keeps_its_shape_across_blocks(block_size: int | None) -> None:
    """The lines passed over between two lines read are one run, counted in the shape of its first line that is not
    blank, however the blocks cut it: Render API entries after a plain-text line of the same run are counted as
    plain ones, their levels as words of their text (a block of them alone counted them as entries, by their
    labels)."""
    plain, _ = render("plain", [access(200)] * 3)
    api, _ = render("render-api", [Rec("DEBUG", "api.db", "pool size 5", raw=["pool size 5"])] * 2)
    _, stats = _read_in(plain + api, block_size)
    assert dict(stats.shapes) == {"plain": 5}
    assert dict(stats.levels) == {"access": 3, "INFO": 2}


@pytest.mark.parametrize("block_size", CUTS)
def test_blank_lines_that_start_a_run_are_counted_in_its_shape(block_size: int | None) -> None:
    """Blank lines at a run's start are the shape of its first line that is not blank, also when a block holds
    nothing else (a block of blank lines alone counted them as plain ones)."""
    data, _ = render("render-text", [access(200)] * 2)
    _, stats = _read_in(b"\n" * 300 + data, block_size)
    assert dict(stats.shapes) == {"render-text": 302}


@pytest.mark.parametrize("block_size", CUTS)
def test_info_is_the_lines_passed_over_less_their_level_words_over_all_runs(block_size: int | None) -> None:
    """INFO counts the lines passed over without a level word as the lines less the words, summed over the whole
    log (a line of two level words takes one more off): the same sum however the blocks cut the runs (the sum was
    clamped at 0 run by run, so a run of that line alone took nothing off the runs after it)."""
    data, _ = render("render-text", [access(200)] * 4 + [Rec("WARNING", "api.settings", "DEBUG is on"),
                                                          Rec("INFO", "api", "PS101 step 3 completed")])
    _, stats = _read_in(data, block_size)
    assert dict(stats.levels) == {"access": 4, "WARNING": 1, "DEBUG": 1}


def _pretty_body_log(sep: str, compact_after: bool = False) -> bytes:
    """A text log whose INFO record's message is an upstream answer pretty-printed over lines after `sep` (its
    `"error"` line starts with spaces), between other records; a record of the body compact (behind the record's
    prefix) after them when `compact_after`."""
    import json
    import logging

    out = io.StringIO()
    with logging_to(logging.StreamHandler(out), "api.client", "%(asctime)s %(levelname)s %(name)s: %(message)s") \
            as log:
        for i in range(5):
            log.info("request %d done", i)
        body = {"status": "error", "detail": "quota"}
        log.info("upstream answered%s%s", sep, json.dumps(body, indent=2))
        for i in range(5):
            log.info("request %d done", i)
        if compact_after:
            log.info("upstream answered %s", json.dumps(body))
    return out.getvalue().encode()


@pytest.mark.parametrize("block_size", CUTS)
def test_json_levels_are_candidates_from_the_log_s_first_json_line_on(block_size: int | None) -> None:
    """The JSON levels are candidates from the log's first line that starts with "{" on, not only in the blocks that
    hold such a line: a pretty-printed body's `"error"` line is read (a record's line, no level of its own) also in a
    block after its "{" line's."""
    events, stats = _read_in(_pretty_body_log(":\n"), block_size)
    assert events == []
    assert stats.lines == 15
    assert dict(stats.levels) == {"INFO": 14}


@pytest.mark.parametrize("block_size", CUTS)
def test_json_levels_behind_a_prefix_are_candidates_from_that_line_on(block_size: int | None) -> None:
    """A JSON object behind a line's prefix (` {"`) makes the JSON levels candidates from its line on, not in all of
    the block that holds it: a pretty-printed body's `"error"` line before it is passed over (an INFO line) in
    whatever block it is."""
    events, stats = _read_in(_pretty_body_log(" ", compact_after=True), block_size)
    assert events == []
    assert stats.lines == 15
    assert dict(stats.levels) == {"INFO": 15}


@pytest.mark.parametrize("shape", ["render-api", "syslog"])
@pytest.mark.parametrize("block_size", CUTS)
def test_a_silent_instance_s_event_expires_on_the_same_line_in_any_blocks(shape: str, block_size: int | None) -> None:
    """An instance's open event closes once the instance has been silent for the horizon, looked at on the same lines
    however the blocks cut the other instances' lines passed over (it was every 32 lines of a run, counted from the
    run's start in its block): its traceback after more than the horizon is an event of its own."""
    err, _ = render(shape, [Rec("ERROR", "api.storage", "Database init failed", make_tracebacks()["chained_during"])])
    other = access(200)
    other.instance = "srv-d0abc-2b1e"
    others, _ = render(shape, [other] * 68)
    head, rest = err.split(b"\n", 1)
    events, _ = _read_in(head + b"\n" + others + rest, block_size, horizon=40)
    assert [(e.line, e.end_line) for e in events] == [(1, 1), (70, 82)]
