"""The log reader on what log tools export: a CSV export (Datadog's Log Explorer, CloudWatch Logs Insights) whose
quoted cells hold whole records, an Elasticsearch / OpenSearch hit's `_source`, Google Cloud Logging's `jsonPayload`,
and a time stamp followed by logfmt pairs (`Log_Level=ERROR`). The real pastes of `tests/realworld/layouts.yml`, and
real tracebacks written by Python's own `csv` and `json` modules."""

from __future__ import annotations

import csv
import io
import json
import os
import traceback

from mosaic_diag.classifier.classify import Classifier
from mosaic_diag.logs import RawEvent
from mosaic_diag.triage.events import EventClassifier
from tests.realworld.test_layouts_corpus import load_layouts
from tests.test_logs_support import read


def _errors(data: bytes) -> list[RawEvent]:
    """The error events of `data`, the same whole and in 7-byte blocks."""
    events, _ = read(data)
    small, _ = read(data, block_size=7)
    assert [(e.line, e.end_line, e.level, e.message, e.traceback) for e in small] == \
        [(e.line, e.end_line, e.level, e.message, e.traceback) for e in events]
    return [e for e in events if e.kind == "error"]


def _env_traceback() -> str:
    """A real traceback: a missing environment variable read in a nested call."""
    def settings() -> str:
        return os.environ["MOSAIC_TEST_UNSET_VARIABLE"]
    try:
        settings()
    except KeyError:
        return traceback.format_exc().rstrip("\n")
    raise AssertionError("the variable is set")


def _json_traceback() -> str:
    try:
        json.loads('{"rows": [1, 2,')
    except json.JSONDecodeError:
        return traceback.format_exc().rstrip("\n")
    raise AssertionError("decoded")


def _csv(header: list[str], rows: list[list[str]]) -> bytes:
    out = io.StringIO()
    w = csv.writer(out, lineterminator="\n")
    w.writerow(header)
    w.writerows(rows)
    return out.getvalue().encode()


def _excerpt(ident: str) -> bytes:
    (ex,) = [e for e in load_layouts() if e.id == ident]
    return ex.text.encode()


def test_a_traceback_in_a_quoted_csv_cell_is_one_event_with_its_exception() -> None:
    tb = _env_traceback()
    record = "ERROR:    Exception in ASGI application\n" + tb
    data = _csv(["Date", "Host", "Service", "Message"], [
        ["2026-12-06T10:00:01.000Z", "web-1", "api", 'INFO:     10.0.0.1:1234 - "GET /health HTTP/1.1" 200 OK'],
        ["2026-12-06T10:00:02.000Z", "web-1", "api", record],
        ["2026-12-06T10:00:03.000Z", "web-1", "api", "INFO:     Application startup complete."],
    ])
    (event,) = _errors(data)
    n = record.count("\n")
    assert (event.line, event.end_line, event.level) == (3, 3 + n, "ERROR")
    assert event.message == "Exception in ASGI application"
    assert event.traceback == tb  # the cell's `""` read back as `"`
    assert event.timestamp is not None and event.timestamp.isoformat().startswith("2026-12-06T10:00:02")
    assert EventClassifier(Classifier.default()).event(event).label == "ENV_VAR_MISSING"


def test_an_insights_export_with_a_bare_traceback_and_a_status_column() -> None:
    """`@timestamp,@message` (Logs Insights, oldest first): Lambda's `[ERROR]` record with its traceback in one
    cell; Datadog's `Status` column gives a plain message its level, and an `info` row stays no event."""
    tb = _json_traceback()
    insights = _csv(["@timestamp", "@message"], [
        ["2026-12-06 10:00:01.000", "START RequestId: 0f1e Version: $LATEST"],
        ["2026-12-06 10:00:02.000", "[ERROR]\t2026-12-06T10:00:02.000Z\t0f1e\tUnhandled error\n" + tb],
        ["2026-12-06 10:00:03.000", "END RequestId: 0f1e"],
    ])
    (event,) = _errors(insights)
    assert (event.line, event.end_line, event.level, event.message) == (3, 3 + tb.count("\n") + 1, "ERROR",
                                                                        "Unhandled error")
    assert event.traceback == tb
    status = _csv(["Date", "Status", "Service", "Content"], [
        ["2026-12-06T10:00:01Z", "info", "api", "request served"],
        ["2026-12-06T10:00:02Z", "error", "api", "could not reach the database"],
    ])
    (event,) = _errors(status)
    assert (event.line, event.level, event.message) == (3, "ERROR", "could not reach the database")


def test_a_newest_first_export_is_read_from_its_last_row_up() -> None:
    """Datadog's Log Explorer exports newest first, one row per line of a traceback the agent did not join: read
    from the bottom up, the rows are the traceback; its event spans the rows that hold it, in the file's lines."""
    lines = _env_traceback().split("\n")
    stamps = [f"2026-12-06T10:00:{59 - i:02d}.000Z" for i in range(len(lines))]
    data = _csv(["Date", "Host", "Service", "Message"],
                [[stamps[i], "web-1", "api", line] for i, line in enumerate(reversed(lines))])
    (event,) = _errors(data)
    assert (event.line, event.end_line) == (2, 1 + len(lines))
    assert event.traceback is not None and event.traceback.split("\n")[-1] == lines[-1]
    # the real paste (loguru's logging error, newest first, every row in one millisecond, cut at its bottom inside a
    # frame: its last two rows, a source line and its markers whose `File` row was cut off, are no frame of it)
    (event,) = _errors(_excerpt("datadog-csv-export-loguru-logging-error-newest-first"))
    assert (event.line, event.end_line) == (2, 12)
    assert event.message.startswith("TypeError: '<=' not supported between instances of 'int' and 'NoneType'")


def test_a_first_line_with_commas_that_is_no_export_header_is_read_as_lines() -> None:
    data = b"a, b, c\n2026-12-06 10:00:02,000 ERROR app: boom\n"
    (event,) = _errors(data)
    assert (event.line, event.level, event.message) == (2, "ERROR", "boom")
    data = b"id,name\n1,x\nTraceback (most recent call last):\n  File \"a.py\", line 1, in <module>\nKeyError: 'X'\n"
    (event,) = _errors(data)  # (no message column: not an export)
    assert (event.line, event.end_line) == (3, 5)


def test_a_search_hits_source_is_the_record() -> None:
    """Elasticsearch / OpenSearch hits, one a line (`_source.message` a JSON record's, `_source.log` a shipper's text
    line) and pretty-printed (the real paste: its event on its message's line)."""
    tb = _env_traceback()
    hits = [
        {"_index": "logs-2026.12.06", "_id": "a1", "_score": 1.0,
         "_source": {"@timestamp": "2026-12-06T10:00:02Z", "level": "ERROR",
                     "message": "Exception in ASGI application\n" + tb}},
        {"_index": "logs-2026.12.06", "_id": "a2", "_score": 1.0,
         "_source": {"@timestamp": "2026-12-06T10:00:03Z", "stream": "stderr",
                     "log": "2026-12-06 10:00:03,000 ERROR app.jobs: job failed\n"}},
        {"_index": "logs-2026.12.06", "_id": "a3", "_score": 1.0,
         "_source": {"@timestamp": "2026-12-06T10:00:04Z", "log": "2026-12-06 10:00:04,000 INFO app: ok\n"}},
    ]
    first, second = _errors("\n".join(json.dumps(h) for h in hits).encode())
    assert (first.line, first.level, first.message, first.traceback) == (1, "ERROR", "Exception in ASGI application",
                                                                         tb)
    assert (second.line, second.level, second.message) == (2, "ERROR", "job failed")
    (event,) = _errors(_excerpt("elasticsearch-hits-fluentbit-cri-spring-error"))
    assert (event.line, event.level) == (10, "ERROR")
    assert event.message.startswith("1 --- [nio-8080-exec-7] o.a.c.c.C.[.[.[/].[dispatcherServlet]")


def test_a_cloud_logging_json_payload_is_the_record() -> None:
    """Cloud Logging's LogEntry with a `jsonPayload` (python's structured logging on Cloud Run): its `message`
    (a traceback in it) with the entry's `severity` and `timestamp`; an entry at INFO is no event."""
    tb = _env_traceback()
    entries = [
        {"insertId": "a1", "jsonPayload": {"message": "request failed\n" + tb}, "severity": "ERROR",
         "timestamp": "2026-12-06T10:00:02.123Z", "logName": "projects/p/logs/run.googleapis.com%2Fstderr"},
        {"insertId": "a2", "jsonPayload": {"message": "request served"}, "severity": "INFO",
         "timestamp": "2026-12-06T10:00:03Z"},
    ]
    (event,) = _errors("\n".join(json.dumps(e) for e in entries).encode())
    assert (event.line, event.level, event.message, event.traceback) == (1, "ERROR", "request failed", tb)
    assert event.timestamp is not None and event.timestamp.isoformat().startswith("2026-12-06T10:00:02.123")
    pretty = json.dumps({"entries": entries}, indent=2).encode()  # (entries.list's page, pretty-printed)
    (event,) = _errors(pretty)
    assert event.level == "ERROR" and event.traceback == tb
    assert pretty.split(b"\n")[event.line - 1].lstrip().startswith(b'"message"')
    # the real paste: a jsonPayload with no message and no severity (a `...` cut in it) is no event
    assert _errors(_excerpt("gcp-cloud-logging-json-payload-no-message-cut")) == []


def test_a_time_stamp_then_logfmt_pairs_with_a_level_key() -> None:
    """`15/07/2021 18:26:14.638 Log_Level=ERROR Process=… - message` (day first), in a CloudWatch export's message (the
    real paste) and as a line of its own; an INFO record of the layout is no event."""
    (event,) = _errors(_excerpt("cloudwatch-get-log-events-json-export"))
    assert (event.line, event.level) == (4, "ERROR")
    assert event.message.startswith("Unhandled exception when running lambda_func=")
    data = (b"15/07/2021 18:26:14.600 Log_Level=INFO Process=app logReference=APP001 - started\n"
            b"15/07/2021 18:26:14.638 Log_Level=ERROR Process=app logReference=APP999 - could not connect\n"
            b"2021-07-15 18:26:15 level=error msg=\"db down\"\n")
    first, second = _errors(data)
    assert (first.line, first.level, first.message) == (2, "ERROR", "could not connect")
    assert first.timestamp is not None and first.timestamp.isoformat().startswith("2021-07-15T18:26:14.638")
    assert (second.line, second.message) == (3, "db down")


def test_a_cell_past_csvs_default_limit_is_read_and_the_process_limit_is_left_as_it_was() -> None:
    """A traceback padded past `csv`'s 128 KB default in one cell is one event; the reader raises the process-wide
    limit for its rows only (an app that imports the reader and reads its own prompts.csv keeps its limit)."""
    before = csv.field_size_limit()
    long_message = "x" * 200_000
    data = _csv(["Date", "Message"], [["2026-12-06T10:00:00Z", f"ERROR api: {long_message}\n{_json_traceback()}"]])
    (event,) = _errors(data)
    assert "JSONDecodeError" in (event.traceback or "")
    assert csv.field_size_limit() == before
    try:
        list(csv.reader(io.StringIO('"' + "y" * 200_000 + "\n")))
    except csv.Error as exc:
        assert "field larger than field limit" in str(exc)
    else:
        raise AssertionError("the process's csv limit was left raised")
