# ruff: noqa: E501, W291  (the real lines are kept whole, as the users pasted them, trailing spaces included)
"""Where a deployed app's logs end up (held-out round 14, tests/realworld/README.md): Fluent Bit's `stdout` output,
one record a line (`[0] TAG: [EPOCH, {"log"=>"…", "stream"=>"stderr", …}]`), the app's line inside its `log` value.

Each text is a real user's paste (its thread above it); `tests/realworld/layouts.yml` holds the whole excerpts.
Every text is read whole and in 7-byte blocks; the layout is also built around errors the real libraries raise in
the test run, logged by stdlib logging.
"""

from __future__ import annotations

import io
import json
import logging
import os

import pytest

from mosaic_diag.logs.lines import parse_line
from tests.isolation import loggers_kept
from tests.test_logs_support import BLOCKS, error_events

_errors = error_events

# https://github.com/fluent/fluent-bit/issues/6747 (a Flask app on Kubernetes; each line cut where the user cut it)
FLASK = """\
[0] kube.test.helloworld-v2-64488c58b9-vbc42.helloworld: [1675181426.751781899, {"log_processed"=>{"log"=>"ERROR:main:crash route", "stream"=>"stderr", "time"=>"2023-01-31T16:10:26.751583014Z"}, "kubernetes"=>{"pod_name"=>"helloworld-v2-64488c58b9-vbc42", "namespace_name"=>"test"
[1] kube.test.helloworld-v2-64488c58b9-vbc42.helloworld: [1675181426.765800975, {"log_processed"=>{"log"=>"INFO:werkzeug:127.0.0.1 - - [31/Jan/2023 16:10:26] "GET /crash HTTP/1.1" 500 -", "stream"=>"stderr", "time"=>"2023-01-31T16:10:26.761718987Z"}, 
[2] kube.test.helloworld-v2-64488c58b9-vbc42.helloworld: [1675181426.765811115, {"log_processed"=>{"log"=>"Traceback (most recent call last):", "stream"=>"stderr", "time"=>"2023-01-31T16:10:26.762213361Z"}
"""


@pytest.mark.parametrize("block_size", BLOCKS)
def test_fluent_bit_records_hold_the_app_s_lines(block_size: int | None) -> None:
    """The `log` value (inside `log_processed` too) is the app's line: its record, its level; the unescaped quotes of
    werkzeug's request line stay in it; the record's epoch stamps it; one stream per tag and stdout / stderr."""
    first, tb = _errors(FLASK, block_size)
    assert (first.line, first.level, first.message) == (1, "ERROR", "crash route")
    assert first.timestamp is not None and first.timestamp.isoformat().startswith("2023-01-31T16:10:26.751")
    assert (tb.line, tb.traceback) == (3, "Traceback (most recent call last):")
    (ln,) = parse_line(FLASK.splitlines()[1])
    assert (ln.level, ln.stream) == ("INFO", "kube.test.helloworld-v2-64488c58b9-vbc42.helloworld/stderr")
    assert ln.message == '127.0.0.1 - - [31/Jan/2023 16:10:26] "GET /crash HTTP/1.1" 500 -'


# https://github.com/fluent/fluent-bit/issues/4608 (a Java app's record whose message went on over several lines)
JAVA_ERROR = """\
[5] kube.var.log.containers.log-img-7c96c47944-zngq9_default_log-img-9fee0000afb84d16a4e5af3a658b6e3ea8e866b8276db176ed54365259306f67.log: [1642005766.558141400, {"log"=>"2022-01-12T16:21:01,947Z ERROR [http-nio-8080-exec-4] c.v.s.w.c.IgniteRestController: Failed to parse query. Syntax error in SQL statement "FAILING10[*] "; expected "FROM, {"; SQL statement:
failing10 [42001-197]
java.sql.SQLException: Failed to parse query. Syntax error in SQL statement "FAILING10[*] "; expected "FROM, {"; SQL statement:
failing10 [42001-197]
\tat org.apache.ignite.internal.jdbc.thin.JdbcThinConnection.sendRequest(JdbcThinConnection.java:1009)
"""


@pytest.mark.parametrize("block_size", BLOCKS)
def test_a_value_with_no_closing_quote_is_read_to_its_line_s_end(block_size: int | None) -> None:
    """A value with no closing quote on its line (Fluent Bit writes the value's newlines as they are) is read to the
    line's end: the record is found with its message; the unprefixed lines after it are no event of their own."""
    (e,) = _errors(JAVA_ERROR, block_size)
    assert (e.line, e.level) == (1, "ERROR")
    # (logback's `[%thread] %logger: %msg` columns: the logger after the thread's column is the record's)
    assert (e.logger, e.message[:22]) == ("c.v.s.w.c.IgniteRestController", "Failed to parse query.")
    # the value's next lines are the record's, in its stream (no prefix of their own): its detail, to the paste's end
    assert e.end_line == 5 and e.detail is not None
    assert e.detail.split("\n")[1].startswith("java.sql.SQLException: Failed to parse query.")


def test_fluent_bit_s_v2_metadata_and_records_without_a_log_value() -> None:
    """Fluent Bit 2's `[[EPOCH, {}], {…}]` is read the same; a record with no `log` / `message` value is plain text,
    no event; a `[N]` line of another tool is not Fluent Bit's."""
    (ln,) = parse_line('[0] app.web: [[1700000000.5, {}], {"message"=>"ERROR:db:gone", "stream"=>"stdout"}]')
    assert (ln.level, ln.message, ln.stream, ln.ts) == ("ERROR", "gone", "app.web/stdout", "2023-11-14T22:13:20.500000+00:00")
    (ln,) = parse_line('[0] cpu.local: [1700000000.5, {"cpu_p"=>1.5, "user_p"=>1.0}]')
    assert (ln.shape, ln.level) == ("fluent-bit", None)
    (ln,) = parse_line("[1] ERROR: something")
    assert ln.shape != "fluent-bit"


def _fluent_bit(lines: list[str], stream: str = "stderr") -> str:
    """The app's `lines` as Fluent Bit's stdout output without a multiline parser writes them: one record each."""
    return "".join(f'[{i}] kube.var.log.containers.web-7d4_default_web-1.log: [{1765008000 + i}.25, '
                   f'{{"log"=>"{ln}", "stream"=>"{stream}", "time"=>"2026-12-06T08:00:0{i % 10}.25Z"}}]\n'
                   for i, ln in enumerate(lines))


def _logged(exc: BaseException, message: str) -> list[str]:
    """`message` and `exc`'s traceback as stdlib logging prints them (`logger.exception`)."""
    out = io.StringIO()
    handler = logging.StreamHandler(out)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    with loggers_kept(f"sinks.{id(out)}") as (log,):
        log.addHandler(handler)
        log.propagate = False
        try:
            raise exc
        except BaseException:
            log.exception(message)
    return out.getvalue().splitlines()


@pytest.mark.parametrize("block_size", BLOCKS)
def test_a_traceback_one_record_a_line_is_one_event_with_its_label(block_size: int | None, refused_port: int) -> None:
    """A real psycopg2 refusal, a real `json.loads` failure and a real `os.environ` KeyError, each logged with its
    traceback and split by Fluent Bit into one record a line: each is one event over its lines, its exception read,
    labelled as the taxonomy says."""
    from mosaic_diag.classifier.classify import Classifier
    from mosaic_diag.triage.events import EventClassifier

    psycopg2 = pytest.importorskip("psycopg2")
    errors: list[tuple[BaseException, str]] = []
    try:
        psycopg2.connect(host="127.0.0.1", port=refused_port, dbname="x", user="x", connect_timeout=3)
    except psycopg2.OperationalError as e:
        errors.append((e, "db connect failed"))
    try:
        json.loads("{'user': 1}")
    except json.JSONDecodeError as e:
        errors.append((e, "bad payload"))
    try:
        os.environ["MOSAIC_SINKS_NOT_SET_ANYWHERE"]
    except KeyError as e:
        errors.append((e, "settings"))
    assert len(errors) == 3
    lines = [ln for exc, msg in errors for ln in _logged(exc, msg)]
    events = _errors(_fluent_bit(lines), block_size)
    assert [e.message for e in events] == ["db connect failed", "bad payload", "settings"]
    assert all(e.level == "ERROR" and e.traceback and e.traceback.startswith("Traceback") for e in events)
    assert events[0].end_line < events[1].line and events[1].end_line < events[2].line and events[-1].end_line == len(lines)
    assert "Connection refused" in events[0].traceback and "JSONDecodeError" in events[1].traceback
    labels = [EventClassifier(Classifier.default()).event(e).label for e in events]
    assert labels == ["PG_CONNECTION_FAILED", "UNKNOWN_ERROR", "ENV_VAR_MISSING"]


def test_hostile_fluent_bit_lines_are_one_pass() -> None:
    """Half a megabyte of quotes, keys and nested records in a value: each pattern runs once over the line (the suite's
    timeout is the bound; a quadratic pattern takes hours at this size)."""
    head = "[0] t.x: [1700000000.5, {"
    for body in ('"log"=>"' + '", "' * 125_000, '"log"=>"' + '"' * 500_000 + "ERROR:a:b",
                 '"log"=>"x", "' + "k" * 500_000, ('"log"=>"' + head) * 20_000):
        lines = parse_line(head + body)
        assert lines and all(ln.level is None or ln.level == "ERROR" for ln in lines)
    (ln,) = parse_line("[1] " + "t" * 500_000 + ": [1700000000.5, {")
    assert ln.shape != "fluent-bit"


def _layout_text(ident: str) -> str:
    """A real excerpt of `tests/realworld/layouts.yml` (its thread in its `source`)."""

    from tests.realworld.corpus import layout_text

    return layout_text(ident) + "\n"


@pytest.mark.parametrize("block_size", BLOCKS)
def test_an_elasticsearch_hit_cut_mid_document_is_read_by_its_message_line(block_size: int | None) -> None:
    """A hit of Logstash's index pasted from Elasticsearch and cut inside its `message` string
    (https://github.com/Solinea/goldstone-server/pull/580): no document decodes, so its lines are read as lines; the
    `"message": "…"` line holds the record rsyslog forwarded (`<131>2016-05-31T23:42:23.368785+00:00 rdo-kilo journal:
    …`, BSD syslog with an RFC 3339 time): one ERROR event on that line, its host and tag the stream."""
    (e,) = _errors(_layout_text("elasticsearch-hit-logstash-syslog-nova-error-mysql-refused"), block_size)
    assert (e.line, e.level, e.instance) == (8, "ERROR", "rdo-kilo/journal")
    assert e.message.startswith("nova.openstack.common.periodic_task [req-223ceac5-7c7d-4fa2-aad9-65a624d8a48e")
    assert e.timestamp is not None and e.timestamp.isoformat() == "2016-05-31T23:42:23.368785+00:00"


@pytest.mark.parametrize("block_size", BLOCKS)
def test_a_document_s_message_lines_that_hold_no_record_stay_as_they_are(block_size: int | None) -> None:
    """A CloudWatch export cut at its top (https://github.com/NHSDigital/spine-core-aws-common/issues/32): its
    `"message"` lines hold a traceback's lines one entry each, with the document's keys between them: no traceback
    event is made of them (nor of the `},` after them)."""
    text = _layout_text("cloudwatch-get-log-events-json-export")
    assert '"message": "Traceback (most recent call last):",' in text
    assert [e for e in _errors(text, block_size) if e.line > 4] == []
    (ln,) = parse_line('<131>2016-05-31T23:42:23.368785+00:00 rdo-kilo nova-compute[4156]: 2016-05-31 23:42:23.364 4156 '
                       'ERROR nova.compute.manager [-] boom')
    assert (ln.record, ln.level, ln.stream, ln.ts) == (True, "ERROR", "rdo-kilo/nova-compute",
                                                       "2016-05-31T23:42:23.368785+00:00")


def _fluent_bit_joined(text: str, i: int = 0, stream: str = "stderr") -> str:
    """One Fluent Bit `stdout` record whose `log` value holds `text`'s lines (a multiline filter joined them; Fluent
    Bit writes the value's newlines as they are, its closing quote on the last line before the record's next key)."""
    return (f'[{i}] kube.var.log.containers.web-7d4_default_web-1.log: [{1765008000 + i}.25, {{"log"=>"{text}", '
            f'"stream"=>"{stream}", "time"=>"2026-12-06T08:00:0{i % 10}.25Z"}}]\n')


@pytest.mark.parametrize("block_size", BLOCKS)
def test_a_record_whose_value_spans_lines_is_one_event_of_its_stream(block_size: int | None,
                                                                      refused_port: int) -> None:
    """stdlib logging's record of a real psycopg2 refusal with its traceback, joined into one record by a multiline
    filter: its lines after the record's first are the value's (its stream's: the traceback's frames and exception),
    up to the closing quote before `"stream"=>`; the next record, on another stream between, stays its own."""
    from mosaic_diag.classifier.classify import Classifier
    from mosaic_diag.triage.events import EventClassifier

    psycopg2 = pytest.importorskip("psycopg2")
    try:
        psycopg2.connect(host="127.0.0.1", port=refused_port, dbname="x", user="x", connect_timeout=3)
    except psycopg2.OperationalError as e:
        logged = "\n".join(_logged(e, "db connect failed"))
    text = (_fluent_bit_joined("INFO:api:serving", 0, "stdout") + _fluent_bit_joined(logged + "\n", 1)
            + _fluent_bit_joined("WARNING:api:retrying", 2, "stdout"))
    last = next(i for i, ln in enumerate(text.splitlines(), 1) if "Is the server running" in ln)
    (e,) = _errors(text, block_size)
    # (to the value's last text: the blank after psycopg2's message and the closing quote's line hold none of it)
    assert (e.line, e.end_line, e.level, e.message) == (2, last, "ERROR", "db connect failed")
    assert e.instance == "kube.var.log.containers.web-7d4_default_web-1.log"  # (its `stream` comes after the value)
    assert e.traceback is not None and e.traceback.startswith("Traceback (most recent call last):\n  File ")
    assert e.traceback.splitlines()[-2].startswith("psycopg2.OperationalError: connection to server at")
    assert EventClassifier(Classifier.default()).event(e).label == "PG_CONNECTION_FAILED"
