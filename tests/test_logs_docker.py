"""Docker's json-file log driver: an app's JSON records inside `log`, and lines longer than 16 KB that the
driver splits into several entries (each piece's `log` without a newline but the last one's), read back as the
one line the app wrote. The errors are real (psycopg2 refused by a closed port, `json.loads`), logged by real
structlog and stdlib logging; the framing is the driver's (compact JSON, Go's HTML-safe escapes, 16 KB pieces)."""

from __future__ import annotations

import io
import json
import logging

import pytest

from tests.test_logs_support import BLOCKS, read

PIECE = 16 * 1024  # the driver's buffer: a longer line becomes several entries (moby daemon/logger/copier.go)


def _go_json(obj: dict) -> str:
    """A json-file entry as Docker writes it: compact, `<`, `>` and `&` escaped as Go's encoder does."""
    text = json.dumps(obj, ensure_ascii=False, separators=(",", ":"))
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def _entries(lines: list[tuple[str, str]], t0: int = 0) -> list[str]:
    """The json-file entries of `(stream, line)` pairs, a line longer than `PIECE` in pieces."""
    out = []
    for i, (std, text) in enumerate(lines, t0):
        for line in text.split("\n"):  # (the driver reads the output line by line)
            data = line + "\n"
            while data:
                piece, data = data[:PIECE], data[PIECE:]
                out.append(_go_json({"log": piece, "stream": std, "time": f"2026-12-06T10:00:{i:02d}.123456789Z"}))
    return out


def _pg_refused(port: int) -> str:
    import psycopg2

    try:
        psycopg2.connect(host="127.0.0.1", port=port, dbname="mosaic", user="mosaic", password="x",
                         connect_timeout=5)
    except psycopg2.OperationalError as e:
        return f"{type(e).__module__}.{type(e).__name__}: {e}".strip()
    raise AssertionError("the closed port accepted a connection")


def _structlog_line(event: str, **kw: object) -> str:
    """One record as structlog's JSONRenderer writes it (no time of its own: Docker's stamps it)."""
    import structlog

    buf = io.StringIO()
    log = structlog.wrap_logger(structlog.PrintLogger(buf), processors=[
        structlog.processors.add_log_level, structlog.processors.JSONRenderer()])
    log.error(event, **kw)
    return buf.getvalue().rstrip("\n")


def _errors(text: str, block_size: int | None):
    events, stats = read(text.encode(), **({} if block_size is None else {"block_size": block_size}))
    return sorted((e for e in events if e.kind == "error"), key=lambda e: e.line), stats


@pytest.mark.parametrize("block_size", BLOCKS)
def test_app_json_records_inside_docker_entries(block_size: int | None, refused_port: int) -> None:
    """structlog's JSON lines as the json-file driver stores them (`{"log":"{\\"event\\": …}\\n",…}`): an error
    record is an event with its level and message, and the lower-case levels are found inside the escaped text."""
    cause = _pg_refused(refused_port)
    lines = [("stdout", json.dumps({"event": "serving", "level": "info"})),
             ("stdout", _structlog_line("session store unavailable", error=cause)),
             ("stdout", json.dumps({"event": "next request", "level": "info"}))]
    (e,), stats = _errors("\n".join(_entries(lines)) + "\n", block_size)
    assert (e.line, e.end_line, e.level, e.message) == (2, 2, "ERROR", "session store unavailable")
    assert e.timestamp is not None and e.timestamp.isoformat().startswith("2026-12-06T10:00:01.123456")
    assert stats.corrupt == 0 and stats.levels["INFO"] == 2 and stats.levels["ERROR"] == 1


@pytest.mark.parametrize("block_size", (*BLOCKS, 20_000))
@pytest.mark.parametrize("level_last", (False, True))
def test_a_record_split_into_pieces_is_one_record(block_size: int | None, level_last: bool, refused_port: int) -> None:
    """A 40 KB JSON record in three entries: one event on its first piece's line (the level key in the first piece
    or only in the last: a piece with no candidate in it is passed over by the scan and joined back), its message
    and the real psycopg2 text after the padding whole, the first piece's time; a 20,000-byte block puts the block
    boundaries inside the pieces."""
    cause = _pg_refused(refused_port)
    context = "x" * 40_000
    record = (json.dumps({"event": "save failed", "context": context, "error": cause, "level": "error"}) if level_last
              else json.dumps({"level": "error", "event": "save failed", "context": context, "error": cause}))
    lines = [("stdout", json.dumps({"event": "serving", "level": "info"})), ("stdout", record),
             ("stdout", json.dumps({"event": "done", "level": "info"}))]
    entries = _entries(lines)
    assert len(entries) == 5 and all(not json.loads(p)["log"].endswith("\n") for p in entries[1:3])
    (e,), stats = _errors("\n".join(entries) + "\n", block_size)
    assert (e.line, e.end_line, e.level, e.message) == (2, 4, "ERROR", "save failed")
    assert e.timestamp is not None and e.timestamp.isoformat().startswith("2026-12-06T10:00:01.123456")
    assert stats.lines == 5 and stats.corrupt == 0 and stats.levels["INFO"] == 2


@pytest.mark.parametrize("block_size", BLOCKS)
def test_split_pieces_with_the_other_stream_between(block_size: int | None, refused_port: int) -> None:
    """A stderr record split in two with a stdout line between its pieces, then a split stdout record that ends
    the log without its last piece (a container killed mid-line): each is read as its stream's record."""
    cause = _pg_refused(refused_port).split("\n")[0]
    err = f"2026-12-06 10:00:00,001 ERROR api.db: connect failed ({'y' * 20_000}): {cause}"
    a, b = _entries([("stderr", err)])
    (out,) = _entries([("stdout", "2026-12-06 10:00:00,500 INFO api: request served")], t0=1)
    (cut,) = _entries([("stdout", "2026-12-06 10:00:02,000 CRITICAL api: worker exiting " + "z" * 20_000)], t0=2)[:1]
    text = "\n".join([a, out, b, cut]) + "\n"
    events, stats = _errors(text, block_size)
    assert [(e.line, e.end_line, e.level, e.instance) for e in events] == [
        (1, 3, "ERROR", "stderr"), (4, 4, "CRITICAL", "stdout")]
    assert events[0].message.endswith(cause) and "\n" not in events[0].message.split("): ")[0]
    assert events[1].message.startswith("worker exiting zzz")
    assert stats.lines == 4


def test_a_long_line_then_its_traceback_in_entries(refused_port: int) -> None:
    """stdlib logging's `logger.exception` whose message line is over 16 KB, then its traceback's lines, each
    an entry of stderr: one event, the traceback's exception the real one."""
    import psycopg2

    buf = io.StringIO()
    handler = logging.StreamHandler(buf)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    log = logging.getLogger("test_logs_docker.long")
    log.propagate = False
    log.addHandler(handler)
    try:
        psycopg2.connect(host="127.0.0.1", port=refused_port, dbname="mosaic", user="u", password="p",
                         connect_timeout=5)
    except psycopg2.OperationalError:
        log.exception("could not connect with options %s", "o" * 17_000)
    finally:
        log.removeHandler(handler)
    lines = [("stderr", ln) for ln in buf.getvalue().splitlines()]
    entries = _entries(lines)
    assert len(entries) == len(lines) + 1
    (e,), _ = _errors("\n".join(entries) + "\n", None)
    last = max(i for i, entry in enumerate(entries, 1) if "accepting TCP/IP connections" in entry)
    assert (e.line, e.end_line, e.level) == (1, last, "ERROR")
    assert e.message.startswith("could not connect with options ooo") and e.message.endswith("o")
    assert e.traceback is not None and "psycopg2.OperationalError: connection to server at" in e.traceback


def test_a_line_that_never_ends_is_capped_and_the_other_stream_read() -> None:
    """A process writing 5 MB without a newline (300 pieces on stdout, the log ending mid-line) while stderr
    reports an error: the stdout record keeps its start up to the reader's line cap, the stderr event is read."""
    from mosaic_diag.logs.source import LINE_CAP

    head = "2026-12-06 10:00:00,000 ERROR api.stream: runaway output " + "w" * (300 * PIECE)
    pieces = _entries([("stdout", head)])[:-1]  # (the last piece, with the newline, never written)
    (err,) = _entries([("stderr", "2026-12-06 10:00:01,000 CRITICAL api: out of file descriptors")], t0=1)
    pieces.insert(150, err)
    (a, b), stats = _errors("\n".join(pieces) + "\n", None)
    assert (a.line, a.end_line, a.level, a.instance) == (1, 301, "ERROR", "stdout")
    assert a.message.startswith("runaway output www") and len(a.message) <= LINE_CAP
    assert (b.line, b.level, b.message) == (151, "CRITICAL", "out of file descriptors")
    assert stats.lines == 301
