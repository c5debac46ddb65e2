"""JSON log records as pastes and log pipelines leave them (held-out round 4, tests/realworld/README.md).

A record cut off mid-object (a paste's end, a line limit), broken over lines inside a string (a terminal's
wrap), with a user's `...` in it, is still the record its first whole pairs say; a plain traceback a second
handler prints after a JSON error record is that record's. The records are printed by the real libraries
(structlog's JSONRenderer, loguru's `serialize=True` and a custom JSON sink) around a real psycopg2 failure;
the shapes no installed library prints are the users' pasted texts (tests/realworld/layouts.yml).
"""

from __future__ import annotations

import io
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from mosaic_diag.classifier.classify import Classifier
from mosaic_diag.logs.lines import json_prefix, parse_line
from mosaic_diag.logs.model import RawEvent
from mosaic_diag.triage.events import EventClassifier
from tests.isolation import loggers_kept
from tests.realworld.test_layouts_corpus import load_layouts
from tests.test_logs_support import logging_to, read

PG_LABELS = {"PG_CONNECTION_FAILED", "PG_NETWORK_UNREACHABLE"}


def _fail() -> None:
    """psycopg2 refused by a loopback port held bound (never listening) while it connects."""
    import socket

    import psycopg2

    with socket.socket() as held:
        held.bind(("127.0.0.1", 0))
        psycopg2.connect(f"host=127.0.0.1 port={held.getsockname()[1]} dbname=app user=app connect_timeout=3").close()


def _errors(text: str) -> list[RawEvent]:
    """The error events of `text`, the same read whole and in 7-byte blocks."""
    events, _ = read(text.encode())
    small, _ = read(text.encode(), block_size=7)
    assert [(e.line, e.end_line, e.level, e.message, e.traceback) for e in small] == \
        [(e.line, e.end_line, e.level, e.message, e.traceback) for e in events]
    return [e for e in events if e.kind == "error"]


def _label(event: RawEvent) -> str:
    return EventClassifier(Classifier.default()).event(event).label


def _structlog_line(*, format_exc: bool) -> str:
    import structlog

    buf = io.StringIO()
    processors: list[Any] = [structlog.processors.add_log_level, structlog.processors.TimeStamper(fmt="iso")]
    if format_exc:
        processors.append(structlog.processors.format_exc_info)
    processors.append(structlog.processors.JSONRenderer())
    log = structlog.wrap_logger(structlog.PrintLogger(buf), processors=processors)
    log.info("started")
    try:
        _fail()
    except Exception:
        log.exception("db connect failed", db="main")
    return buf.getvalue().rstrip("\n")


def test_structlog_record_cut_off_anywhere_after_its_level_is_still_an_error() -> None:
    info, error = _structlog_line(format_exc=True).split("\n")
    (whole,) = _errors(f"{info}\n{error}")
    assert (whole.line, whole.level, whole.message) == (2, "ERROR", "db connect failed")
    assert whole.traceback.startswith("Traceback") and _label(whole) in PG_LABELS
    after_level = error.index('"level": "error"') + len('"level": "error"')
    cut_in_tb = error.index("psycopg2/__init__.py")
    for cut in (after_level, after_level + 3, cut_in_tb, cut_in_tb + 1, len(error) - 2):
        (event,) = _errors(f"{info}\n{error[:cut]}\n{info}")
        assert (event.line, event.end_line, event.level, event.message) == (2, 2, "ERROR", "db connect failed")
        if cut >= cut_in_tb:  # the traceback as far as the cut went
            assert event.traceback.startswith("Traceback (most recent call last):")
    # cut before its level: no record
    before_level = error[:error.index('"level"')]
    assert not _errors(f"{info}\n{before_level}\n{info}")


def test_structlog_exc_info_true_without_its_traceback_is_one_error() -> None:
    """structlog's JSONRenderer without format_exc_info writes `"exc_info": true`: an error, no traceback."""
    text = _structlog_line(format_exc=False)
    assert '"exc_info": true' in text
    (event,) = _errors(text)
    assert (event.line, event.level, event.message, event.traceback) == (2, "ERROR", "db connect failed", None)


def _loguru(sink_format: Any, serialize: bool) -> str:
    """What loguru writes to a sink of `sink_format` (None: its default format) for an exception."""
    from loguru import logger

    buf = io.StringIO()
    kw = {} if sink_format is None else {"format": sink_format}
    handler = logger.add(buf, serialize=serialize, colorize=False, backtrace=False, diagnose=True, **kw)
    try:
        try:
            _fail()
        except Exception:
            logger.exception("db connect failed")
    finally:
        logger.remove(handler)
    return buf.getvalue().rstrip("\n")


def test_loguru_serialized_record_wrapped_by_a_terminal_is_one_error() -> None:
    """loguru's `serialize=True` record broken into lines of any width (a terminal's hard wrap, as in
    https://github.com/Delgan/loguru/issues/998): one error event over all its lines, its message the record's,
    wherever the wraps fall (a piece may start with "{" of a nested object, look like another stream's
    `name   | ` prefix, or be indented like a traceback's frame: the record's text moves with the checkout's path)."""
    line = _loguru(None, serialize=True)
    assert "\n" not in line and len(line) > 3 * 500
    wrong = []
    for width in range(60, 500):
        wrapped = "\n".join(line[i:i + width] for i in range(0, len(line), width))
        got = [(e.line, e.end_line, e.level, e.message) for e in _errors(wrapped)]
        if got != [(1, wrapped.count("\n") + 1, "ERROR", "db connect failed")]:
            wrong.append((width, got))
    assert wrong == []


def test_loguru_serialized_record_wrapped_right_before_its_traceback_is_one_error_wherever_the_checkout_is() -> None:
    """The wrap of the test above at the width that breaks the record right before `Traceback (most recent call
    last):\\n…` (an escaped piece of its `text`), the checkout's path of every length: a later piece that started
    with a digit (`5, in _loguru\\n…`, at /work/wt-suitespeed) was taken for another program's line after a
    traceback's frames, and the record ended there."""
    line = _loguru(None, serialize=True)
    root = str(Path(__file__).parent.parent)  # (as imported: the path the traceback names, a link not resolved)
    assert root in line
    wrong = []
    for n in range(1, 90):
        moved = line.replace(root, "/" + "w" * n)
        width = moved.index("Traceback (most recent call last):")
        wrapped = "\n".join(moved[i:i + width] for i in range(0, len(moved), width))
        assert "\nTraceback (most recent call last):\\n" in wrapped
        got = [(e.line, e.end_line, e.level, e.message) for e in _errors(wrapped)]
        if got != [(1, wrapped.count("\n") + 1, "ERROR", "db connect failed")]:
            wrong.append((n, got))
    assert wrong == []


def test_loguru_custom_json_sink_then_its_traceback_is_one_error() -> None:
    """A custom JSON sink (`format="{extra[serialized]}\\n"`, https://github.com/Delgan/loguru/issues/1217): loguru
    prints its own traceback after the JSON record; it is the record's."""
    import json

    def fmt(record: dict) -> str:
        record["extra"]["serialized"] = json.dumps({"timestamp": record["time"].isoformat(),
                                                    "level": record["level"].name, "message": record["message"]})
        return "{extra[serialized]}\n{exception}"

    text = _loguru(fmt, serialize=False)
    assert text.startswith("{") and "\nTraceback (most recent call last):" in text
    (event,) = _errors(text)
    assert (event.line, event.end_line, event.level, event.message) == \
        (1, text.count("\n") + 1, "ERROR", "db connect failed")
    assert "psycopg2.OperationalError" in event.traceback and _label(event) in PG_LABELS


def _pasted(excerpt_id: str) -> str:
    (ex,) = [e for e in load_layouts() if e.id == excerpt_id]
    return ex.text


def test_traceback_printed_again_after_a_json_record_is_that_record() -> None:
    """Google Cloud's StructuredLogHandler, then stdlib's Formatter printing the traceback again (the pasted
    text of https://github.com/googleapis/python-logging/issues/382): one event, lines 1-5."""
    (event,) = _errors(_pasted("json-gcp-structured-log-handler-traceback-twice"))
    assert (event.line, event.end_line, event.level, event.message) == (1, 5, "ERROR", "Failed")
    assert event.traceback.endswith("Exception: Test")


def test_litellm_stacktrace_key_cut_and_broken_over_two_lines() -> None:
    """litellm's JSON record (its `stacktrace` key) cut inside that value and continued on the next line
    (https://github.com/BerriAI/litellm/issues/37532)."""
    (event,) = _errors(_pasted("json-litellm-proxy-stacktrace-key-wrapped"))
    assert (event.line, event.end_line, event.level, event.logger) == \
        (1, 2, "ERROR", "common_request_processing.py:1837")
    assert event.message.startswith("litellm.proxy.proxy_server._handle_llm_api_exception(): Exception occured")
    assert event.traceback.startswith("Traceback (most recent call last):") and "aiohttp_transport.py" in \
        event.traceback


def _cases() -> Iterator[tuple[str, dict]]:
    yield '{"event": "unhandled_exception", "exc_info": true, "level": "error", ...}', \
        {"event": "unhandled_exception", "exc_info": True, "level": "error"}
    yield '{"a": [1, {"b": 2}], "msg": "x\\ny\\\\', {"a": [1, {"b": 2}], "msg": "x\ny\\"}
    yield '{"msg": "an escape cut \\', {"msg": "an escape cut "}
    yield '{"msg": "tab\\u00', {"msg": "tab"}
    yield '{"msg": "ends in a backslash \\\\\\\\', {"msg": "ends in a backslash \\\\"}
    yield '{"level" "error"}', {}
    yield "{'level': 'ERROR', 'msg': 'a dict repr, not JSON'}", {}
    yield '{"x": ' + "[" * 5000, {}
    # (a cut array or object is taken as far as it goes: structlog's exception list cut inside its frames)
    yield '{"event": "e", "exception": [{"exc_type": "E", "frames": [{"n": 1}, {"n"', \
        {"event": "e", "exception": [{"exc_type": "E", "frames": [{"n": 1}]}]}


@pytest.mark.parametrize(("text", "want"), list(_cases()))
def test_json_prefix_reads_the_whole_pairs_first(text: str, want: dict) -> None:
    assert json_prefix(text) == want


TB = 'Traceback (most recent call last):\n  File "app.py", line 3, in f\nValueError: boom'


@pytest.mark.parametrize("record", [
    {"@timestamp": "2026-12-06T08:00:00.000Z", "log.level": "error", "message": "m", "error.stack_trace": TB},
    {"@timestamp": "2026-12-06T08:00:00.000Z", "log.level": "error", "message": "m", "error": {"stack_trace": TB}},
    {"timestamp": "2026-12-06T08:00:00Z", "status": "error", "level": "ERROR", "message": "m", "error.stack": TB},
    {"timestamp": "2026-12-06T08:00:00Z", "log_level": "ERROR", "errorMessage": "boom", "message": "m",
     "stackTrace": None, "traceback": TB},
    {"message": "m", "level": "ERROR", "stacktrace": TB},
])
def test_the_key_table_reads_each_formatters_level_and_traceback(record: dict) -> None:
    """ECS (dotted and nested), Datadog's `error.stack`, AWS Lambda's `log_level`, litellm's `stacktrace`."""
    import json

    (event,) = _errors(json.dumps(record))
    assert (event.level, event.message, event.traceback) == ("ERROR", "m", TB)


def test_a_dict_repr_and_a_cut_record_without_level_are_no_records() -> None:
    """Prefect's old `JsonFormatter` wrote a Python dict repr (not JSON): corrupt, no record; the same for a cut
    record whose first pairs hold no level."""
    for text in ("{'name': 'prefect.flow_runs', 'levelname': 'ERROR', 'msg': 'x'}", '{"message": "boom", "lev'):
        (ln,) = parse_line(text)
        assert ln.corrupt is not None and ln.level is None


if __name__ == "__main__":  # pragma: no cover
    sys.exit(pytest.main([__file__, "-q"]))


def test_a_records_error_field_is_its_evidence(refused_port: int) -> None:
    """The error of a structured record kept beside its message (structlog's `log.error("…", error=str(e))`, an
    ECS-style `error` object of `type` and `message`, logfmt's `err=`), not in a traceback: read as `message: error`,
    so that it decides the label. An error body printed after a text record (no level) is no record's field."""
    import json
    import logging

    import psycopg2
    import structlog

    try:
        psycopg2.connect(host="127.0.0.1", port=refused_port, dbname="m", user="u", password="p", connect_timeout=5)
    except psycopg2.OperationalError as e:
        exc = e
    buf = io.StringIO()
    log = structlog.wrap_logger(structlog.PrintLogger(buf), processors=[
        structlog.processors.add_log_level, structlog.processors.JSONRenderer()])
    log.error("session store unavailable", error=str(exc))
    ecs = json.dumps({"log.level": "error", "message": "session store unavailable",
                      "error": {"type": f"{type(exc).__module__}.{type(exc).__name__}", "message": str(exc)}})
    try:
        json.loads("")
    except json.JSONDecodeError as e:
        decode = e
    handler = logging.StreamHandler(buf)
    handler.setFormatter(logging.Formatter(f'level=%(levelname)s msg="%(message)s" err="{decode}"'))
    with loggers_kept("test_logs_json_records.logfmt") as (logger,):
        logger.propagate = False
        logger.addHandler(handler)
        logger.error("PS101 steps could not be read")
    text = buf.getvalue().replace("}\n", "}\n" + ecs + "\n", 1)
    events, _ = read(text.encode())
    clf = EventClassifier(Classifier.default())
    got = [(e.line, e.message.split(":")[0], clf.event(e).label) for e in events]
    assert got[:2] == [(1, "session store unavailable", "PG_CONNECTION_FAILED"),
                       (2, "session store unavailable", "PG_CONNECTION_FAILED")]
    assert got[2][:2] == (3, "PS101 steps could not be read")
    assert events[2].message.endswith("Expecting value: line 1 column 1 (char 0)")


def _logged_lines(message: str, *args: object) -> str:
    """What stdlib logging writes for `logger.error(message, *args)` with an asctime format."""
    import logging

    buf = io.StringIO()
    with logging_to(logging.StreamHandler(buf), "test_logs_json_records.body",
                    "%(asctime)s %(levelname)s %(name)s: %(message)s") as logger:
        logger.info("request started")
        logger.error(message, *args)
        logger.info("next request")
    return buf.getvalue()


@pytest.mark.parametrize(("provider", "mode", "label"), [
    ("anthropic", "model_not_found", "ANTHROPIC_MODEL_NOT_FOUND"),
    ("anthropic", "rate_limit", "ANTHROPIC_RATE_LIMIT"),
    ("openai", "quota", "OPENAI_QUOTA_EXCEEDED"),
])
def test_an_error_body_printed_as_json_under_a_text_record_is_its_evidence(llm, provider: str, mode: str,
                                                                            label: str) -> None:
    """`logger.error("…:\\n%s", json.dumps(error))` of a real provider error's body: the `{"type": …, "message": …}`
    line has a message but no level and no time, so it is the ERROR record's next line, not a JSON record of its own
    (as continue's and litellm's pastes show it); bare and behind a Docker Compose prefix."""
    import json

    sdk = pytest.importorskip(provider)
    llm.set_failure(provider, mode)
    if provider == "anthropic":
        client = sdk.Anthropic(api_key="sk-ant-test", base_url=llm.anthropic_base_url, max_retries=0)
        call = lambda: client.messages.create(model="claude-3-5-haiku-latest", max_tokens=16,  # noqa: E731
                                              messages=[{"role": "user", "content": "hi"}])
    else:
        client = sdk.OpenAI(api_key="sk-test", base_url=llm.openai_base_url, max_retries=0)
        call = lambda: client.chat.completions.create(model="gpt-4o-mini",  # noqa: E731
                                                      messages=[{"role": "user", "content": "hi"}])
    with pytest.raises(sdk.APIStatusError) as info:
        call()
    body = info.value.body
    error = body["error"] if provider == "anthropic" else body  # (openai's `body` is the inner object already)
    assert isinstance(error, dict) and "message" in error and "type" in error
    text = _logged_lines("Request failed:\n%s", json.dumps(error))
    for wrapped in (text, "".join(f"web-1  | {line}\n" for line in text.splitlines())):
        (event,) = _errors(wrapped)
        assert (event.line, event.end_line) == (2, 3)
        assert EventClassifier(Classifier.default()).event(event).label == label
