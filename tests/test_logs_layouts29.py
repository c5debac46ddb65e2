"""The forms layouts round 29 found the reader missing, produced by the real libraries in the test run: structlog's
`dict_tracebacks` (the exception as a list of `exc_type` / `exc_value` / `frames` objects, authentik's JSON records),
whole and cut inside its frames before the record's level (round 33's authentik#17749 behind a Compose prefix)."""

from __future__ import annotations

import io
import json

import psycopg2
import pytest
import structlog

from mosaic_diag.classifier.classify import Classifier
from mosaic_diag.triage.events import EventClassifier
from tests.test_logs_support import BLOCKS, error_events


def _fk_violation(dsn: str) -> None:
    """A real foreign-key violation from the suite's PostgreSQL (a task log naming a task that is not there)."""
    with psycopg2.connect(dsn) as conn, conn.cursor() as cur:
        cur.execute("CREATE TABLE task (id int PRIMARY KEY)")
        cur.execute("CREATE TABLE tasklog (id serial PRIMARY KEY, task_id int REFERENCES task (id))")
        cur.execute("INSERT INTO tasklog (task_id) VALUES (42)")


def _structlog_record(dsn: str) -> str:
    """structlog's JSON record (`dict_tracebacks`, keys sorted as authentik writes them) of `log.exception` over the
    real violation, chained under the app's own error."""
    buf = io.StringIO()
    log = structlog.wrap_logger(structlog.PrintLogger(buf), processors=[
        structlog.processors.add_log_level, structlog.processors.dict_tracebacks,
        structlog.processors.JSONRenderer(sort_keys=True)])
    try:
        try:
            _fk_violation(dsn)
        except psycopg2.Error as e:
            raise RuntimeError("task log not written") from e
    except RuntimeError:
        log.exception("Unexpected failure in before_process_message")
    (line,) = buf.getvalue().splitlines()
    return line


def _events(text: str, block_size: int | None) -> list[tuple[int, str | None, str, str | None]]:
    classify = EventClassifier(Classifier.default())
    return [(ev.line, ev.level, (c := classify.event(ev)).label, c.exception_type)
            for ev in error_events(text + "\n", block_size)]


@pytest.mark.parametrize("block_size", BLOCKS)
def test_structlog_dict_tracebacks_are_the_records_traceback(pg_db: str, block_size: int | None) -> None:
    """The whole record: its exception list is its traceback (the cause's frames, then the raised one's), so the
    event is the violation's (the cause the chain names); before, only the `event` text was read (UNKNOWN_ERROR)."""
    line = _structlog_record(pg_db)
    assert json.loads(line)["exception"][1]["exc_type"] == "ForeignKeyViolation"
    assert _events(line, block_size) == [(1, "ERROR", "SESSION_ORPHANED", "ForeignKeyViolation")]


@pytest.mark.parametrize("block_size", BLOCKS)
@pytest.mark.parametrize("prefix", ["", "worker-1  | "])
def test_a_structlog_record_cut_inside_its_frames_before_its_level(pg_db: str, prefix: str,
                                                                  block_size: int | None) -> None:
    """The record cut inside the raised exception's frames, before `"level"` (a paste's end, a line limit), alone and
    behind a Compose prefix: the exception objects read so far give it a traceback, so it is an error event; before,
    the cut list was no pair and the line no record."""
    line = _structlog_record(pg_db)
    cut = line[:line.index('"filename"', line.index('"ForeignKeyViolation"'))]
    assert '"level"' not in cut
    assert _events(prefix + cut, block_size) == [(1, None, "SESSION_ORPHANED", "ForeignKeyViolation")]


def test_structlog_dict_tracebacks_not_an_exception_list_stays_as_it_was() -> None:
    """Guard: a record's `exception` list of lines (a formatter's) is still joined as its traceback, and a list of
    objects without `exc_type` gives no traceback."""
    lines = ["Traceback (most recent call last):\n", '  File "a.py", line 1, in <module>\n', "ValueError: bad\n"]
    rec = json.dumps({"event": "failed", "level": "error", "exception": lines})
    assert _events(rec, None) == [(1, "ERROR", "UNKNOWN_ERROR", "ValueError")]
    rec = json.dumps({"event": "listed", "exception": [{"name": "x"}]})
    assert _events(rec, None) == []


@pytest.mark.parametrize("layout", ["header", "inline", "compose"])
def test_authentik_structlog_record_behind_compose_in_the_corpus_layouts(layout: str) -> None:
    """authentik#17749 (corpus.yml, round 33): its record cut before its level, behind `authentik-worker  | `, is
    SESSION_ORPHANED in the three layouts (header and compose were UNKNOWN_ERROR: the line was no record)."""
    from tests.realworld import corpus
    from tests.realworld.test_corpus_classify import build_log
    from tests.test_logs_support import triage_labels

    (entry,) = [e for e in corpus.load_corpus() if e.id == "r33-fk-authentik-structlog-json-exc-value-compose"]
    text, _ = build_log([entry], layout)
    assert "SESSION_ORPHANED" in triage_labels(text)
    assert set(triage_labels(text)) <= {"SESSION_ORPHANED", "UNKNOWN_ERROR"}


def test_lambda_timeout_above_a_bare_runtime_exit_error_in_classify() -> None:
    """chariot-ui#166 (corpus.yml, round 33): Lambda's `Task timed out after …` above `Runtime.ExitError` on a line of
    its own. With no traceback, the text's lines above its exception line are evidence too (before, `classify` read
    the bare type alone: UNKNOWN_ERROR; triage read the timeout's line)."""
    from tests.realworld import corpus

    (entry,) = [e for e in corpus.load_corpus() if e.id == "r33-timeout-lambda-log-group-prefix-runtime-killed"]
    assert Classifier.default().classify_text(entry.text).label == "APP_TIMEOUT"


def test_a_bare_exception_line_alone_keeps_its_reading() -> None:
    """Guard: Python's own exception line with nothing above it (`format_exception_only` of a real error) is read as
    before, by its type."""
    import traceback

    try:
        psycopg2.connect("host=127.0.0.1 port=1 connect_timeout=1")
    except psycopg2.OperationalError as e:
        text = "".join(traceback.format_exception_only(e)).rstrip("\n")
    assert Classifier.default().classify_text(text).label == "PG_CONNECTION_FAILED"
