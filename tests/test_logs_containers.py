# ruff: noqa: E501  (the real lines are kept whole, as the users pasted them)
"""Container runtimes' logs: Docker's json-file driver (an app's JSON records inside `log`) and the CRI format of
containerd and CRI-O (`TIMESTAMP STREAM F|P line`), whose lines longer than 16 KB are split into several entries
(each but the last marked partial) and read back as the one line the app wrote; and JSON records behind a line
prefix (Render's timestamp, a Compose service, journald, CRI). The errors are real (psycopg2 refused by a closed
port, `json.loads`), logged by real structlog and stdlib logging; the framing is the runtimes' (Docker's compact
JSON with Go's HTML-safe escapes, CRI's RFC 3339 nanosecond stamps, 16 KB pieces)."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Callable

import pytest

from tests.isolation import loggers_kept
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


def _logged(fmt: str, fail: Callable[[], object], message: str, *args: object) -> str:
    """What stdlib logging writes for `logger.exception(message, *args)` of the real exception `fail()` raises."""
    buf = io.StringIO()
    handler = logging.StreamHandler(buf)
    handler.setFormatter(logging.Formatter(fmt))
    with loggers_kept("test_logs_containers") as (log,):
        log.propagate = False
        log.addHandler(handler)
        try:
            fail()
        except Exception:  # noqa: BLE001 - the exception is the test's material
            log.exception(message, *args)
    return buf.getvalue()


def _pg_connect(port: int) -> Callable[[], object]:
    import psycopg2

    return lambda: psycopg2.connect(host="127.0.0.1", port=port, dbname="m", user="u", password="p",
                                    connect_timeout=5)


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
    assert (e.line, e.end_line, e.level, e.message) == (2, 2, "ERROR", f"session store unavailable: {cause}")
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
    assert (e.line, e.end_line, e.level) == (2, 4, "ERROR")
    assert e.message == f"save failed: {cause}"  # (its `error` field, whole after the 40 KB of context)
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
    text = _logged("%(asctime)s %(levelname)s %(name)s: %(message)s", _pg_connect(refused_port),
                   "could not connect with options %s", "o" * 17_000)
    lines = [("stderr", ln) for ln in text.splitlines()]
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


def _cri(lines: list[tuple[str, str]], t0: int = 0) -> list[str]:
    """The CRI log lines of `(stream, line)` pairs, as containerd writes them: a line longer than `PIECE` in
    pieces tagged `P` but the last (`F`)."""
    out = []
    for i, (std, text) in enumerate(lines, t0):
        for line in text.split("\n"):
            parts = [line[k:k + PIECE] for k in range(0, len(line), PIECE)] or [""]
            for j, part in enumerate(parts):
                tag = "F" if j == len(parts) - 1 else "P"
                out.append(f"2026-12-06T10:00:{i:02d}.123456789+00:00 {std} {tag} {part}")
    return out


# a Python 3.11 traceback in a CRI log, pasted in https://github.com/fluent/fluent-bit/issues/11516 (cut there)
CRI_PASTE = """\
2026-03-02T13:23:38.768156672+00:00 stderr F 2026-03-02 13:23:38,767   ERROR  yaook.op.daemon.infra.yaook.cloud/v1.mysqlusers.yaook.nova-api-api-5g8hd failed to reconcile state <yaook.op.infra.resources.MySQLUser component='user'>
2026-03-02T13:23:38.768156672+00:00 stderr F Traceback (most recent call last):
2026-03-02T13:23:38.768156672+00:00 stderr F   File "/usr/local/lib/python3.11/site-packages/yaook/statemachine/statemachine.py", line 81, in _ensure_state
2026-03-02T13:23:38.768156672+00:00 stderr F     await state.reconcile(
"""


@pytest.mark.parametrize("block_size", BLOCKS)
def test_cri_lines_are_the_process_lines_of_their_stream(block_size: int | None) -> None:
    """A real CRI paste: the runtime's time, stream and tag are peeled, the app's record and its traceback are one
    event of the stream."""
    (e,), stats = _errors(CRI_PASTE, block_size)
    assert (e.line, e.end_line, e.level, e.instance) == (1, 4, "ERROR", "stderr")
    assert e.message.startswith("yaook.op.daemon.infra.yaook.cloud/v1.mysqlusers")
    assert e.traceback is not None and e.traceback.startswith("Traceback (most recent call last):\n  File ")
    assert e.timestamp is not None and e.timestamp.isoformat() == "2026-03-02T13:23:38.767000+00:00"
    assert stats.corrupt == 0


@pytest.mark.parametrize("block_size", (*BLOCKS, 20_000))
def test_cri_records_split_into_pieces_and_json_behind_the_prefix(block_size: int | None, refused_port: int) -> None:
    """containerd's CRI log of an app: a stdlib traceback of a real psycopg2 refusal on stderr, a 40 KB record split
    into P/F pieces with the cause at its end, and structlog's JSON error record (a lower-case level) on stdout."""
    logged = _logged("%(asctime)s %(levelname)s %(name)s: %(message)s", _pg_connect(refused_port),
                     "session store unavailable")
    cause = _pg_refused(refused_port).split("\n")[0].split(": ", 1)[1]
    lines = [("stdout", "INFO:     Started server process [1]")]
    lines += [("stderr", ln) for ln in logged.rstrip("\n").split("\n")]
    lines += [("stderr", f"2026-12-06 10:00:05,000 ERROR api.db: retry {'r' * 40_000} failed: {cause}"),
              ("stdout", _structlog_line("chat failed", error="Expecting value: line 1 column 1 (char 0)")),
              ("stdout", "INFO:     done")]
    text = "\n".join(_cri(lines)) + "\n"
    events, stats = _errors(text, block_size)
    split_at = next(i for i, ln in enumerate(text.splitlines(), 1) if " stderr P " in ln)
    assert [(e.line, e.level, e.instance) for e in events] == [
        (2, "ERROR", "stderr"), (split_at, "ERROR", "stderr"), (split_at + 3, "ERROR", "stdout")]
    tb, long, rec = events
    assert tb.message == "session store unavailable" and tb.traceback is not None
    assert tb.traceback.splitlines()[-2].startswith("psycopg2.OperationalError: connection to server at")
    assert long.end_line == split_at + 2 and long.message.startswith("retry rrr")
    assert long.message.endswith(cause) or len(long.message) >= 40_000  # (the joined line, up to the line cap)
    assert rec.message == "chat failed: Expecting value: line 1 column 1 (char 0)"
    assert stats.corrupt == 0 and stats.lines == len(text.splitlines())


def _structlog_json_error() -> str:
    """structlog's JSON record of a real `json.loads` failure with its traceback (a lower-case level, no time)."""
    import structlog

    buf = io.StringIO()
    log = structlog.wrap_logger(structlog.PrintLogger(buf), processors=[
        structlog.processors.add_log_level, structlog.processors.format_exc_info, structlog.processors.JSONRenderer()])
    try:
        json.loads("")
    except json.JSONDecodeError:
        log.exception("PS101 steps could not be read")
    return buf.getvalue().rstrip("\n")


@pytest.mark.parametrize("block_size", BLOCKS)
@pytest.mark.parametrize("prefix", ("2026-12-06T10:00:01.500000Z ", "web-1  | ", "Dec 06 10:00:01 host app[12]: ",
                                    "2026-12-06T10:00:01.500000000Z stdout F "))
def test_json_records_behind_a_line_prefix(prefix: str, block_size: int | None) -> None:
    """An app that logs JSON, behind Render's timestamp, a Compose service, journald or CRI: its lower-case error
    level is found behind the prefix, its record read as JSON, its traceback the real one; Render's and CRI's time
    stamp a record that has none."""
    info = json.dumps({"event": "serving", "level": "info"})
    bare = _structlog_line("quota exhausted")  # (no traceback: only its level tells)
    text = "".join(f"{prefix}{r}\n" for r in (info, _structlog_json_error(), info, bare))
    (e, b), stats = _errors(text, block_size)
    assert (b.line, b.level, b.message) == (4, "ERROR", "quota exhausted")
    assert (e.line, e.end_line, e.level, e.message) == (2, 2, "ERROR", "PS101 steps could not be read")
    assert e.traceback is not None and e.traceback.splitlines()[-1].startswith(
        "json.decoder.JSONDecodeError: Expecting value")
    if prefix[0].isdigit():
        assert e.timestamp is not None and e.timestamp.isoformat().startswith("2026-12-06T10:00:01.5")
    assert stats.levels["INFO"] == 2 and stats.levels["ERROR"] == 2


def _env_traceback_lines() -> list[str]:
    """stdlib logging's record of a real `os.environ` KeyError with its traceback, line by line."""
    import os

    return _logged("%(levelname)s:%(name)s:%(message)s", lambda: os.environ["MOSAIC_DIAG_TEST_NEVER_SET_KEY"],
                   "could not start the chat client").rstrip("\n").split("\n")


@pytest.mark.parametrize("block_size", BLOCKS)
@pytest.mark.parametrize("layout", ("kubectl", "kubectl-timestamps", "logcli"))
def test_kubectl_prefix_and_loki_labels_are_streams(layout: str, block_size: int | None) -> None:
    """`kubectl logs --prefix` (`[pod/NAME/CONTAINER] `, with `--timestamps` too) and Loki's `logcli query` (`TS
    {labels} `): each pod's container or label set is a stream of its own, so two pods' lines interleaved keep their
    records and tracebacks apart."""
    tb = _env_traceback_lines()
    other = ["INFO:uvicorn.access:10.0.0.2:5000 - \"GET /health HTTP/1.1\" 200"] * len(tb)
    pods = {"a": "web-5d9c7-abcde", "b": "web-5d9c7-fghij"}

    def prefix(pod: str, i: int) -> str:
        if layout == "kubectl":
            return f"[pod/{pods[pod]}/web] "
        if layout == "kubectl-timestamps":
            return f"[pod/{pods[pod]}/web] 2026-12-06T10:00:{i:02d}.123456789Z "
        return f'2026-12-06T10:00:{i:02d}Z {{app="web", pod="{pods[pod]}"}} '

    lines = [prefix(p, i) + t for i, (a, b) in enumerate(zip(tb, other, strict=True)) for p, t in (("a", a), ("b", b))]
    (e,), stats = _errors("\n".join(lines) + "\n", block_size)
    assert (e.line, e.end_line, e.level, e.message) == (1, 2 * len(tb) - 1, "ERROR", "could not start the chat client")
    assert e.instance is not None and pods["a"] in e.instance
    assert e.traceback is not None and e.traceback.endswith("KeyError: 'MOSAIC_DIAG_TEST_NEVER_SET_KEY'")
    assert stats.corrupt == 0 and stats.levels["access"] == len(tb)
