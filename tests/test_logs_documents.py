"""Whole JSON documents read as logs: records pretty-printed one after another (structlog's
`JSONRenderer(indent=2)`, `jq .`'s output) and CloudWatch Logs' exports (`aws logs get-log-events` /
`filter-log-events`), besides the Render API pages of test_logs_reassembly.py."""

from __future__ import annotations

import io
import json
import logging
from datetime import UTC, datetime

import pytest

from tests.test_logs_support import read

# the CloudWatch Logs export shape, as the AWS CLI documents `aws logs get-log-events` (its keys, their order,
# the tokens around the events): awscli/examples/logs/get-log-events.rst
_TOKENS = {"nextForwardToken": "f/31961209122447488583055879464742346735121166569214640130",
           "nextBackwardToken": "b/31961209122358285602261756944988674324553373268216709120"}
# a Lambda function's import failure as its runtime wrote it into one CloudWatch event (pasted in
# https://github.com/jkehler/awslambda-psycopg2/issues/88)
_IMPORT_FAILURE = ("[ERROR] Runtime.ImportModuleError: Unable to import module 'lambda_load': "
                   "/var/task/psycopg2/_psycopg.so: file too short\nTraceback (most recent call last):")


def _structlog_pretty(exc_source: str) -> str:
    """Three records rendered by structlog's JSONRenderer with `indent=2` (an INFO, an ERROR with the
    traceback of a real json error, an INFO), as a process writes them one after another."""
    import structlog

    buf = io.StringIO()
    log = structlog.wrap_logger(structlog.PrintLogger(buf), processors=[
        structlog.processors.add_log_level, structlog.processors.TimeStamper(fmt="iso"),
        structlog.processors.format_exc_info, structlog.processors.JSONRenderer(indent=2)])
    log.info("loading steps", path="prompts/ps101_steps.json")
    try:
        json.loads(exc_source)
    except json.JSONDecodeError:
        log.exception("PS101 steps could not be read")
    log.info("serving")
    return buf.getvalue()


def test_records_pretty_printed_one_after_another_are_read_as_records() -> None:
    text = _structlog_pretty('{"steps": [1, 2,]}')
    lines = text.splitlines()
    assert lines[0] == "{" and sum(1 for ln in lines if ln == "{") == 3  # three records over many lines each
    events, stats = read(text.encode())
    (ev,) = events
    starts = [i for i, ln in enumerate(lines, 1) if ln == "{"]
    ends = [i for i, ln in enumerate(lines, 1) if ln == "}"]
    assert (ev.line, ev.end_line) == (starts[1], ends[1])
    assert (ev.level, ev.message) == ("ERROR", "PS101 steps could not be read")
    assert ev.traceback is not None and ev.traceback.startswith("Traceback (most recent call last):")
    assert ev.traceback.splitlines()[-1].startswith("json.decoder.JSONDecodeError: Expecting value")
    assert stats.lines == len(lines) and stats.corrupt == 0
    assert stats.levels["INFO"] == 2 and stats.levels["ERROR"] == 1


def test_a_pretty_record_followed_by_text_is_read_as_lines() -> None:
    """A `{` first line that does not start a JSON document: the file is read line by line, as before."""
    data = b'{\n  "not": "closed"\nERROR:api.storage:Database init failed\n'
    events, stats = read(data)
    assert [(e.line, e.message) for e in events] == [(3, "Database init failed")]
    assert stats.lines == 3


def _lambda_record(request_id: str, when: datetime) -> str:
    """What Lambda's Python runtime writes for `logger.exception(...)`: its own record format
    (`[LEVEL]\\tTIME\\tREQUEST_ID\\tmessage`), the traceback after it, all in one CloudWatch event."""
    fmt = logging.Formatter("[%(levelname)s]\t%(asctime)s.%(msecs)03dZ\t%(aws_request_id)s\t%(message)s",
                            "%Y-%m-%dT%H:%M:%S")
    fmt.converter = lambda *_: when.timetuple()  # type: ignore[method-assign,assignment]
    try:
        {"user_id": 7}["session"]  # noqa: B018  (the real KeyError and its traceback)
    except KeyError:
        import sys

        record = logging.LogRecord("root", logging.ERROR, __file__, 1, "Session load failed", None, sys.exc_info())
    record.aws_request_id = request_id
    record.created, record.msecs = when.timestamp(), when.microsecond // 1000
    return fmt.format(record) + "\n"


def _event(ms: int, message: str, **extra: object) -> dict[str, object]:
    return {**extra, "ingestionTime": ms + 312, "timestamp": ms, "message": message}


def test_cloudwatch_get_log_events_export() -> None:
    t0 = int(datetime(2026, 11, 27, 14, 3, 11, tzinfo=UTC).timestamp() * 1000)
    rid = "593f9067-4e23-4a54-b777-39acdb2cd723"
    events = [
        _event(t0, f"START RequestId: {rid} Version: $LATEST\n"),
        _event(t0 + 5, _lambda_record(rid, datetime(2026, 11, 27, 14, 3, 11, 5000, tzinfo=UTC))),
        _event(t0 + 9, f"END RequestId: {rid}\n"),
        _event(t0 + 9, f"REPORT RequestId: {rid}\tDuration: 8.93 ms\tBilled Duration: 9 ms\n"),
        _event(t0 + 60_000, _IMPORT_FAILURE),
    ]
    doc = {"nextForwardToken": _TOKENS["nextForwardToken"], "events": events,
           "nextBackwardToken": _TOKENS["nextBackwardToken"]}
    text = json.dumps(doc, indent=4)  # as the AWS CLI prints it
    lines = text.splitlines()
    starts = [i for i, ln in enumerate(lines, 1) if ln == "        {"]
    ends = [i for i, ln in enumerate(lines, 1) if ln in ("        }", "        },")]
    got, stats = read(text.encode())
    assert [(e.line, e.end_line, e.level) for e in got] == [(starts[1], ends[1], "ERROR"),
                                                            (starts[4], ends[4], "ERROR")]
    session, module = got
    assert session.message == "Session load failed"  # Lambda's time and request id are its record's prefix
    assert session.traceback is not None and session.traceback.splitlines()[-1] == "KeyError: 'session'"
    assert session.timestamp == datetime(2026, 11, 27, 14, 3, 11, 5000, tzinfo=UTC)
    assert module.message.startswith("Runtime.ImportModuleError: Unable to import module 'lambda_load'")
    assert module.timestamp == datetime(2026, 11, 27, 14, 4, 11, tzinfo=UTC)  # the event's own time
    assert stats.lines == len(lines) and stats.corrupt == 0


@pytest.mark.parametrize("indent", [None, 2])
def test_cloudwatch_filter_log_events_streams_are_reassembled(indent: int | None) -> None:
    """filter-log-events interleaves the streams it searched: each event keeps its stream, so a traceback
    written line by line into one stream is one event although another stream's lines come between."""
    t0 = int(datetime(2026, 11, 27, 14, 3, 11, tzinfo=UTC).timestamp() * 1000)
    try:
        json.loads("{")
    except json.JSONDecodeError:
        import traceback

        tb = traceback.format_exc().rstrip("\n").split("\n")
    a, b = "2026/11/27/[$LATEST]7f9c2k4m", "2026/11/27/[$LATEST]x81qd0ab"
    ours = ["2026-11-27 14:03:11,001 ERROR api.ps101 Steps file unreadable", *tb]
    others = [f"2026-11-27 14:03:11,00{i} INFO api.app request {i}" for i in range(len(ours))]
    events = []
    for i, (mine, theirs) in enumerate(zip(ours, others, strict=True)):
        events.append(_event(t0 + i, mine + "\n", logStreamName=a, eventId=f"3713485123456789012345678{i}"))
        events.append(_event(t0 + i, theirs + "\n", logStreamName=b, eventId=f"3713485123456789012345679{i}"))
    doc = {"events": events, "searchedLogStreams": [{"logStreamName": a, "searchedCompletely": True},
                                                    {"logStreamName": b, "searchedCompletely": True}]}
    text = json.dumps(doc, indent=indent)
    got, stats = read(text.encode())
    (ev,) = got
    assert ev.message == "Steps file unreadable" and ev.instance == a
    assert ev.traceback == "\n".join(tb)
    assert stats.corrupt == 0 and stats.levels["INFO"] == len(others)


def test_lambda_console_text_its_runtime_lines_end_a_record() -> None:
    """The same invocation as Lambda's console and `sam logs` print it, one line after another: the
    runtime's `END` / `REPORT` lines are records of the platform, not the record's continuation."""
    rid = "593f9067-4e23-4a54-b777-39acdb2cd723"
    record = _lambda_record(rid, datetime(2026, 11, 27, 14, 3, 11, 5000, tzinfo=UTC))
    text = (f"START RequestId: {rid} Version: $LATEST\n{record}END RequestId: {rid}\n"
            f"REPORT RequestId: {rid}\tDuration: 8.93 ms\tBilled Duration: 9 ms\n")
    (ev,), _ = read(text.encode())
    assert (ev.line, ev.end_line, ev.message) == (2, len(record.splitlines()) + 1, "Session load failed")
    assert ev.timestamp == datetime(2026, 11, 27, 14, 3, 11, 5000, tzinfo=UTC)
    assert ev.traceback is not None and ev.traceback.endswith("KeyError: 'session'")


def test_a_document_then_lines_reads_both() -> None:
    """Pretty records, then the process's own text lines (a container that switched its formatter, a
    file appended to by hand): the records are read as a document, the rest as lines, numbered on."""
    pretty = _structlog_pretty("[1,")
    doc_lines = len(pretty.splitlines())
    tail = "INFO:api.app:restarted\nERROR:api.storage:Database init failed\n"
    events, stats = read((pretty + tail).encode())
    assert [(e.line, e.message) for e in events] == [
        (events[0].line, "PS101 steps could not be read"), (doc_lines + 2, "Database init failed")]
    assert stats.lines == doc_lines + 2 and stats.levels["ERROR"] == 2 and stats.levels["INFO"] == 3


def test_a_cut_export_keeps_its_whole_entries_and_reads_the_rest_as_lines() -> None:
    t0 = int(datetime(2026, 11, 27, 14, 3, 11, tzinfo=UTC).timestamp() * 1000)
    events = [_event(t0 + i, f"2026-11-27 14:03:1{i},000 ERROR api.llm call {i} failed\n") for i in range(3)]
    text = json.dumps({"events": events}, indent=4)
    cut = text[: text.index("call 2") + 3]  # a paste cut inside the last entry
    got, stats = read(cut.encode())
    # the whole entries once each; the cut one, read as lines, by its `"message"` line: the record as far as the paste
    # goes (as a JSON record cut off mid-object is read)
    assert [e.message for e in got] == ["call 0 failed", "call 1 failed", "cal"]
    assert got[2].line == max(i for i, ln in enumerate(cut.splitlines(), 1) if '"message"' in ln)
    assert stats.lines == len(cut.splitlines())


def test_a_long_document_is_read_one_entry_at_a_time() -> None:
    """Memory: an array of entries is decoded entry by entry, never held whole as Python objects (which
    take several times the text's size)."""
    import tracemalloc

    entries = [{"timestamp": f"2026-11-27T14:03:{i % 60:02d}Z", "level": "info", "message": f"request {i} ok",
                "logger": "api.app"} for i in range(20_000)]
    data = json.dumps(entries, indent=2).encode()
    tracemalloc.start()
    try:
        got, stats = read(data)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert got == [] and stats.levels["INFO"] == len(entries)
    assert peak < 4 * len(data), (peak, len(data))  # its bytes and text (3x), not 20,000 dicts (9x)


@pytest.mark.parametrize("text", [
    "[" * 100_000,                                    # nested past the decoder's recursion limit
    "{\n" + '"a": [' * 50_000,                        # an object nesting arrays, never closed
    "[\n" + "1,\n" * 10_000 + "]\n",                  # entries that are not objects
    "{\n" + '"events": [' + "{}, " * 10_000 + "]}\n",   # wrapped entries with nothing in them
    '{\n"events": [\n{"timestamp": 1, "message": 5, "eventId": "x"}\n]\n}\n',  # a message that is no text
    '{\n"events": [\n{"timestamp": 99999999999999999999, "message": "ERROR:x:y", "eventId": "x"}\n]\n}\n',
    '"just a string"\n',
])
def test_hostile_documents_are_read_or_refused_as_documents_without_error(text: str) -> None:
    events, stats = read(text.encode())
    assert stats.lines == len(text.splitlines())
    assert all(e.kind == "error" for e in events)


def test_a_secret_in_a_cloudwatch_event_is_redacted_in_every_output(tmp_path) -> None:
    import subprocess
    import sys

    password, key_tail = "Hunter2SecretPasswordLong", "Abcdefghijklmnopqrstuvwxyz0123456789abcdefghij"
    t0 = int(datetime(2026, 11, 27, 14, 3, 11, tzinfo=UTC).timestamp() * 1000)
    events = [_event(t0, f"2026-11-27 14:03:11,001 ERROR api.storage postgresql://app:{password}@db:5432/app "
                         "refused\n", logStreamName="s"),
              _event(t0 + 1, f"[ERROR]\t2026-11-27T14:03:11.002Z\tabc-1\tOpenAI key sk-proj-{key_tail} refused\n",
                     logStreamName="s")]
    path = tmp_path / "export.json"
    path.write_text(json.dumps({"events": events}, indent=4), encoding="utf-8")
    for fmt in ("table", "json", "markdown"):
        r = subprocess.run([sys.executable, "-m", "mosaic_diag", "triage", str(path), "--format", fmt],
                           capture_output=True, text=True, timeout=120)
        assert r.returncode == 1, r.stderr
        assert "refused" in r.stdout and password[:8] not in r.stdout and key_tail[:10] not in r.stdout


@pytest.mark.parametrize("wrapped", [False, True])
def test_cloud_logging_entries_with_a_traceback_as_their_text_payload(refused_port: int, wrapped: bool) -> None:
    """`gcloud logging read --format=json` (an array of LogEntry objects) or an entries.list page: a Cloud Run
    entry of the process's stderr whose `textPayload` is a whole traceback (a real psycopg2 refusal) is an
    event whose traceback is that text and whose message is its exception line."""
    import traceback

    import psycopg2

    try:
        psycopg2.connect(host="127.0.0.1", port=refused_port, dbname="app", connect_timeout=5)
    except psycopg2.OperationalError:
        tb = traceback.format_exc()
    run = {"type": "cloud_run_revision", "labels": {"service_name": "mosaic-api"}}
    entries = [{"insertId": "6571c2b5000a1", "textPayload": "Listening at: http://0.0.0.0:8080 (1)", "resource": run,
                "timestamp": "2026-11-27T14:03:10.000000Z", "severity": "INFO",
                "logName": "projects/p/logs/run.googleapis.com%2Fstdout"},
               {"insertId": "6571c2b5000a2", "textPayload": tb, "resource": run,
                "timestamp": "2026-11-27T14:03:11.000000Z", "severity": "ERROR",
                "logName": "projects/p/logs/run.googleapis.com%2Fstderr"}]
    doc = {"entries": entries, "nextPageToken": "EAA4suKu3qnLwbtr"} if wrapped else entries
    (ev,), stats = read(json.dumps(doc, indent=2).encode())
    assert ev.traceback == tb.rstrip("\n")
    assert ev.message.startswith("psycopg2.OperationalError: connection to server at") \
        and ev.message.endswith("Connection refused")  # the exception's line (its message's first line)
    assert ev.timestamp == datetime(2026, 11, 27, 14, 3, 11, tzinfo=UTC) and stats.levels["INFO"] == 1


# Lambda's timeouts as users pasted them: the console's lines (https://github.com/awslabs/aws-lambda-redshift-loader/
# issues/80), a Logs Insights query's rows (https://github.com/DataBiosphere/azul/issues/5622 and, REPORT's status
# on a newer runtime, https://github.com/DataBiosphere/azul/issues/8140)
LAMBDA_CONSOLE = "".join(f"{line}\n" for line in (  # (the paste's trailing spaces kept)
    "START RequestId: b47cde10-029a-11e6-b5d6-1f01b70b94b2 Version: $LATEST ",
    "END RequestId: b47cde10-029a-11e6-b5d6-1f01b70b94b2 ",
    "REPORT RequestId: b47cde10-029a-11e6-b5d6-1f01b70b94b2  Duration: 120000.64 ms  Billed Duration: 120000 ms "
    "Memory Size: 128 MB  Max Memory Used: 23 MB  ",
    "2016-04-14T23:52:45.715Z b47cde10-029a-11e6-b5d6-1f01b70b94b2 Task timed out after 120.00 seconds "))
LAMBDA_INSIGHTS = """\
[
    {
        "@timestamp": "2023-10-20 16:27:46.827",
        "@message": "START RequestId: 4299ee26-8d1d-4ea9-bd43-77b85ed96cfe Version: $LATEST\\n",
        "lambda": "azul-indexer-anvilprod-forward_s3_logs"
    },
    {
        "@timestamp": "2023-10-20 16:28:17.840",
        "@message": "2023-10-20T16:28:17.840Z 4299ee26-8d1d-4ea9-bd43-77b85ed96cfe Task timed out after 31.01 seconds\\n\\n",
        "lambda": "azul-indexer-anvilprod-forward_s3_logs"
    },
    {
        "@timestamp": "2023-10-20 16:28:17.840",
        "@message": "END RequestId: 4299ee26-8d1d-4ea9-bd43-77b85ed96cfe\\n",
        "lambda": "azul-indexer-anvilprod-forward_s3_logs"
    },
    {
        "@timestamp": "2026-06-25 23:59:41.096",
        "@message": "REPORT RequestId: 4725a167-21a7-5731-99c2-c3d0e3dfd770\\tDuration: 180000.00 ms\\tBilled Duration: 180000 ms\\tMemory Size: 1280 MB\\tMax Memory Used: 1201 MB\\tStatus: timeout\\n"
    }
]
"""  # noqa: E501


@pytest.mark.parametrize(("text", "lines"), [(LAMBDA_CONSOLE, [4]), (LAMBDA_INSIGHTS, [7, 17])])
def test_lambda_timeouts_are_app_timeout_events(text: str, lines: list[int]) -> None:
    from mosaic_diag.classifier.classify import Classifier
    from mosaic_diag.triage.events import EventClassifier

    events, _ = read(text.encode())
    assert sorted(e.line for e in events) == lines and {e.kind for e in events} == {"platform"}
    assert {EventClassifier(Classifier.default()).event(e).label for e in events} == {"APP_TIMEOUT"}
