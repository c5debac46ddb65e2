"""Layouts of real-world logs: continuation lines, headerless / glued tracebacks, wrapping prefixes.

The log text comes from the real libraries in the test run (stdlib logging, httpx against a
loopback HTTP server, psycopg2 against the test PostgreSQL), then is laid out as users' logs are.
"""

from __future__ import annotations

import io
import logging
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from mosaic_diag.classifier.classify import Classifier
from mosaic_diag.triage.events import EventClassifier
from tests.isolation import loggers_kept
from tests.test_logs_support import read


class _NotFound(BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # noqa: N802
        body = b'{"error": "no such board"}'
        self.send_response(404)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture(scope="module")
def board() -> Iterator[str]:
    """A loopback job board that answers 404 to everything."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _NotFound)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def log_text(fmt: str, emit) -> str:
    """What stdlib logging prints with `fmt` for the records `emit(logger)` logs."""
    buf = io.StringIO()
    handler = logging.StreamHandler(buf)
    handler.setFormatter(logging.Formatter(fmt))
    with loggers_kept("api.jobs") as (logger,):
        logger.addHandler(handler)
        logger.propagate = False
        logger.setLevel(logging.INFO)
        emit(logger)
    return buf.getvalue()


def httpx_chain(board: str) -> BaseException:
    import httpx

    try:
        try:
            httpx.get(f"{board}/v1/boards/acme/jobs", timeout=5).raise_for_status()
        except httpx.HTTPStatusError as exc:
            raise RuntimeError("job board fetch failed") from exc
    except RuntimeError as exc:
        return exc
    raise AssertionError("no error")


def test_chain_stays_one_event_across_a_multi_line_exception_message(board: str) -> None:
    exc = httpx_chain(board)

    def emit(logger: logging.Logger) -> None:
        logger.info("fetching jobs")
        logger.error("Job fetch crashed", exc_info=exc)
        logger.info("next request")

    text = log_text("%(asctime)s %(levelname)s %(name)s: %(message)s", emit)
    assert "For more information check:" in text  # httpx's second message line, unprefixed
    events, _ = read(text.encode())
    assert len(events) == 1
    ev = events[0]
    assert ev.message == "Job fetch crashed"
    assert "httpx.HTTPStatusError: Client error '404 Not Found'" in ev.traceback
    assert ev.traceback.rstrip().endswith("RuntimeError: job board fetch failed")
    # the same chain printed by an uncaught exception (no record before it): still one event,
    # and its message is the last exception of the chain
    import traceback as tbm

    bare = "INFO:     Started\n" + "".join(tbm.format_exception(exc)) + "INFO:     next\n"
    events, _ = read(bare.encode())
    assert [(e.line, e.message) for e in events] == [(2, "RuntimeError: job board fetch failed")]


def test_lines_after_a_record_are_its_message_and_evidence(pg_db) -> None:
    import psycopg2

    with psycopg2.connect(pg_db) as conn, conn.cursor() as cur:
        try:
            cur.execute("SELECT nosuchcol FROM pg_class")
        except psycopg2.Error as e:
            err = e
    assert "\n" in str(err).strip()  # libpq's LINE 1: / caret lines

    def emit(logger: logging.Logger) -> None:
        logger.info("query")
        logger.error("Database operation failed")
        for line in str(err).rstrip("\n").split("\n"):  # a pasted str(e), one print per line
            print(line, file=logger.handlers[0].stream)
        logger.info("next")

    text = log_text("%(asctime)s %(levelname)s %(name)s: %(message)s", emit)
    events, _ = read(text.encode())
    assert len(events) == 1 and events[0].detail is not None
    assert 'column "nosuchcol" does not exist' in events[0].detail
    ev = EventClassifier(Classifier.default()).event(events[0])
    assert ev.label == "MISSING_COLUMN"


def test_a_runaway_unprefixed_block_is_not_swallowed() -> None:
    text = "2026-01-01 10:00:00,000 ERROR api.jobs: boom\n" + "".join(f"print {i}\n" for i in range(500))
    text += "2026-01-01 10:00:01,000 ERROR api.jobs: second\n"
    events, stats = read(text.encode())
    assert [e.line for e in events] == [1, 502]
    assert events[0].end_line <= 60 and stats.lines == 502


def test_headerless_traceback_is_a_traceback(board: str) -> None:
    import traceback as tbm

    exc = httpx_chain(board).__cause__
    lines = "".join(tbm.format_exception(exc)).splitlines()
    assert lines[0].startswith("Traceback")
    cut = "\n".join(lines[3:])  # a log that starts mid-traceback: frames, then the exception line
    for text in (cut, "2026-01-01 10:00:00,000 INFO api.jobs: fetching\n" + cut):
        events, _ = read((text + "\n").encode())
        assert len(events) == 1
        assert events[0].message.startswith("httpx.HTTPStatusError: Client error '404 Not Found'")
        cls = Classifier.default().classify_text(cut)
        assert cls.exception_type == "httpx.HTTPStatusError"


def test_header_glued_to_another_line_starts_a_traceback() -> None:
    import traceback as tbm

    try:
        int("x")
    except ValueError as e:
        tb = "".join(tbm.format_exception(e))
    text = "  Applying jobs.0099_board_url..." + tb + "INFO other\n"
    events, _ = read(text.encode())
    assert len(events) == 1 and events[0].traceback.startswith("Traceback (most recent call last):")
    assert events[0].message.startswith("ValueError: invalid literal")
    cls = Classifier.default().classify_text(text)
    assert cls.exception_type == "ValueError"



def test_traceback_flattened_onto_one_line_is_read_again() -> None:
    """A traceback whose line breaks were lost (a markdown quote joins its lines with spaces) still
    gives its frames and its qualified exception."""
    import json
    import traceback as tbm

    from mosaic_diag.classifier.tracebacks import parse_traceback_text

    def load_settings(raw: str) -> object:
        return json.loads(raw)

    try:
        load_settings("{oops")
    except json.JSONDecodeError as e:
        tb = "".join(tbm.format_exception(e))
    flat = " ".join(line.strip() for line in tb.splitlines())
    [exc] = parse_traceback_text(flat)
    assert exc.type == "json.decoder.JSONDecodeError"
    assert exc.message.startswith("Expecting property name enclosed in double quotes")
    assert [f.function for f in exc.frames] == [f.function for f in parse_traceback_text(tb)[0].frames]
    assert any(f.function == "load_settings" and f.source == "return json.loads(raw)" for f in exc.frames)
    assert Classifier.default().classify_text(flat).exception_type == "json.decoder.JSONDecodeError"

# -- prefixes that wrap every line ------------------------------------------------------------

BASIC = "%(levelname)s:%(name)s:%(message)s"  # what logging.basicConfig() prints


def _app_output(board: str, fmt: str) -> list[str]:
    """Real logging output of a request that fails with a real chained httpx error."""
    exc = httpx_chain(board)

    def emit(logger: logging.Logger) -> None:
        logger.info("GET /jobs")
        logger.error("Job fetch crashed", exc_info=exc)
        logger.warning("retrying in 5s")
        logger.error("Database operation failed: column \"score\" does not exist")
        logger.info("done")

    return log_text(fmt, emit).splitlines()


def _check(events, want_lines: list[int] | None = None) -> None:
    assert len(events) == 2, events
    crash, db = sorted(events, key=lambda e: e.line)
    assert crash.message == "Job fetch crashed" and crash.logger == "api.jobs"
    assert "httpx.HTTPStatusError: Client error '404 Not Found'" in crash.traceback
    assert crash.traceback.rstrip().endswith("RuntimeError: job board fetch failed")
    assert db.message.startswith("Database operation failed") and db.traceback is None
    if want_lines:
        assert [crash.line, db.line] == want_lines
    labels = [EventClassifier(Classifier.default()).event(e).label for e in (crash, db)]
    assert labels[1] == "MISSING_COLUMN"


@pytest.mark.parametrize("fmt", [BASIC, "%(asctime)s " + BASIC, "%(asctime)s:" + BASIC])
def test_stdlib_default_format_with_and_without_asctime(board: str, fmt: str) -> None:
    lines = _app_output(board, fmt)
    events, stats = read(("\n".join(lines) + "\n").encode())
    _check(events, [2, len(lines) - 1])
    assert stats.levels["WARNING"] == 1


@pytest.mark.parametrize("block_size", [4 << 20, 200, 1])
def test_docker_compose_prefixes_two_services_interleaved(board: str, block_size: int) -> None:
    """`docker compose logs` pads service names to one width; v1 spells them web_1, v2 web-1."""
    web = _app_output(board, "%(asctime)s %(levelname)s %(name)s: %(message)s")
    worker = _app_output(board, BASIC)
    for names in (("web-1", "worker-1"), ("web_1", "worker_1")):
        width = max(map(len, names))
        pre = [n.ljust(width) + "  | " for n in names]
        out = []
        for i in range(max(len(web), len(worker))):
            if i < len(web):
                out.append(pre[0] + web[i])
            if i < len(worker):
                out.append(pre[1] + worker[i])
        events, _ = read(("\n".join(out) + "\n").encode(), block_size=block_size)
        assert sorted({e.instance for e in events}) == sorted(names)
        for name in names:
            _check([e for e in events if e.instance == name])
        # one service alone: its frame runs are taken in one go, with the same result
        alone = [t for t in out if t.startswith(pre[0])]
        events, stats = read(("\n".join(alone) + "\n").encode(), block_size=block_size)
        _check(events)
        assert sum(stats.shapes.values()) == len(alone)


def test_heroku_dyno_prefix(board: str) -> None:
    lines = _app_output(board, BASIC)
    out = [f"2026-11-27T14:03:{i % 60:02d}.{i:06d}+00:00 app[web.1]: {t}" for i, t in enumerate(lines)]
    out.insert(3, "2026-11-27T14:03:02.500000+00:00 heroku[router]: at=info method=GET path=\"/jobs\" status=500")
    events, _ = read(("\n".join(out) + "\n").encode())
    _check(events)
    assert {e.instance for e in events} == {"web.1"}
    assert events[0].timestamp is not None


def test_platform_timestamp_in_front_of_the_app_timestamp(board: str) -> None:
    lines = _app_output(board, "%(asctime)s %(levelname)s %(name)s: %(message)s")
    for stamp in ("2026-11-27T14:03:11.123456Z ", "2026-11-27 14:03:11.123456+00:00 "):
        events, _ = read(("\n".join(stamp + t for t in lines) + "\n").encode())
        _check(events, [2, len(lines) - 1])


def test_postgres_server_log_lines_are_records() -> None:
    text = ("2024-09-27 13:40:00.833 UTC [277] LOG:  database system is ready to accept connections\n"
            '2024-09-27 13:40:01.101 UTC [281] FATAL:  role "directus" does not exist\n')
    events, stats = read(text.encode())
    assert [(e.line, e.logger, e.message) for e in events] == [(2, "postgres", 'role "directus" does not exist')]
    assert EventClassifier(Classifier.default()).event(events[0]).label == "PG_AUTH_FAILED"


def test_error_bodies_printed_after_a_record_are_its_message() -> None:
    """A provider's error body printed after the record (Python's repr of the dict, or pretty JSON)
    starts with "{" but is not a JSON log record: it continues the record."""
    import json

    body = {"type": "error", "error": {"type": "invalid_request_error",
                                       "message": "Your credit balance is too low to access the Anthropic API."}}
    for printed in (repr(body), json.dumps(body), json.dumps(body, indent=2)):
        text = "2026-01-01 10:00:00,000 ERROR api.ai_clients: Anthropic call failed\n" + printed + "\n"
        text += "2026-01-01 10:00:01,000 INFO api.web: next\n"
        for data in (text, "".join(f"web-1  | {t}\n" for t in text.splitlines())):
            events, stats = read(data.encode())
            assert len(events) == 1 and stats.corrupt == 0
            assert "credit balance is too low" in events[0].detail
            assert EventClassifier(Classifier.default()).event(events[0]).label == "ANTHROPIC_CREDIT_EXHAUSTED"
