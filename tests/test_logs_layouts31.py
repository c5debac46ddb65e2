"""The forms layouts round 31 found the reader missing: klog's header (`E1218 10:39:50.481923       1 mysql.go:62] …`,
Kubernetes' components and Go services, behind `kubectl logs` and journald), Django's documented `verbose` format
(`{levelname} {asctime} {module} {process:d} {thread:d} {message}`: the ids are no part of the message), and a record
whose message is a formatted traceback logged with exc_info too (rq's `%(asctime)s %(message)s`: logging prints the
traceback twice under the record's stamp), and a JSON record pretty-printed over lines that the paste's end cuts
(structlog's JSONRenderer with an indent). The klog lines are the pasted excerpts (no Go toolchain here); the others
are written by stdlib logging and structlog in the test run, with real exceptions."""

from __future__ import annotations

import io
import json
import logging
import traceback

import pytest
import structlog

from mosaic_diag.logs.lines import parse_line
from tests.isolation import loggers_kept
from tests.test_logs_support import BLOCKS, error_events

_VERBOSE = "{levelname} {asctime} {module} {process:d} {thread:d} {message}"  # Django's documented `verbose`


def _spans(text: str) -> list[list[tuple[int, int, str | None, str]]]:
    return [[(e.line, e.end_line, e.level, e.message) for e in error_events(text, block)] for block in BLOCKS]


def _excerpt(entry: str) -> str:
    from tests.realworld.test_layouts_corpus import load_layouts

    (ex,) = [e for e in load_layouts() if e.id == entry]
    return ex.text


def _key_error() -> KeyError:
    try:
        json.loads("{}")["job"]
    except KeyError as e:
        return e
    raise AssertionError("no KeyError")


def _logged(fmt: str, style: str, emit: str, datefmt: str | None = None) -> list[str]:
    """The lines stdlib logging writes in `fmt`, a real KeyError caught: `emit` "exception" logs it with
    `log.exception`, "twice" as rq's worker did (the formatted traceback as the message, and exc_info), "then-print"
    logs it and then prints another real exception's traceback to the same stream; an INFO record follows."""
    buf = io.StringIO()
    handler = logging.StreamHandler(buf)
    handler.setFormatter(logging.Formatter(fmt, datefmt, style=style))  # type: ignore[arg-type]
    with loggers_kept("rq.worker"):
        log = logging.getLogger("rq.worker")
        log.handlers[:] = [handler]
        log.propagate = False
        log.setLevel(logging.INFO)
        try:
            json.loads("{}")["job"]
        except KeyError:
            if emit == "twice":
                log.error(traceback.format_exc(), exc_info=True)
            else:
                log.exception("Handling failed execution of job")
            if emit == "then-print":
                buf.write("".join(traceback.format_exception(_key_error())))
        log.info("Sent heartbeat to prevent worker timeout.")
    return buf.getvalue().rstrip("\n").split("\n")


def test_the_real_lines_are_what_the_tests_take_them_for() -> None:
    lines = _logged(_VERBOSE, "{", "exception")
    level, _date, _time, module, pid, tid, *message = lines[0].split(" ")
    assert (level, module, " ".join(message)) == ("ERROR", "test_logs_layouts31", "Handling failed execution of job")
    assert pid.isdigit() and tid.isdigit() and len(tid) >= 4
    assert lines[1] == "Traceback (most recent call last):" and lines[-2] == "KeyError: 'job'"
    twice = _logged("%(asctime)s %(message)s", "%", "twice", "%H:%M:%S")
    assert twice[0][8:] == " Traceback (most recent call last):" and twice[0][2] == twice[0][5] == ":"
    headers = [i for i, t in enumerate(twice) if t.endswith("Traceback (most recent call last):")]
    assert len(headers) == 2 and twice[headers[1] - 1] == "KeyError: 'job'" and twice[-2] == "KeyError: 'job'"


@pytest.mark.parametrize(("entry", "events"), [
    ("r31l-kubectl-logs-klog-error-lines-mysql-refused",
     [(n, n, "ERROR", "Ping to Katib db failed: dial tcp 10.233.28.55:3306: connect: connection refused")
      for n in (2, 3, 4, 5)]),
    ("r31l-journal-kubelet-klog-error-syncing-pod-crashloop",
     [(n, n, "ERROR", '"Error syncing pod, skipping" err="failed to \\"StartContainer\\" for \\"postgresql\\" with '
                      'CrashLoopBackOff: \\"back-off 20s restarting failed container=postgresql '
                      'pod=postgresql-postgresql-ha-postgresql-0_postgresql(fb9f0374-cd83-4b03-9f1c-02cc6c97e2ad)\\"" '
                      'pod="postgresql/postgresql-postgresql-ha-postgresql-0" '
                      'podUID="fb9f0374-cd83-4b03-9f1c-02cc6c97e2ad"') for n in (1, 2)]),
    ("r31l-django-verbose-level-first-asyncio-callback-handle-traceback",
     [(1, 10, "ERROR", "Exception in callback AsyncioSelectorReactor.callLater.<locals>.run() at "
                       "/usr/local/lib/python3.5/site-packages/twisted/internet/asyncioreactor.py:287")]),
    ("r31l-rq-time-only-stamp-error-record-traceback-then-its-exc-info",
     [(2, 21, None, "Exception: Whooops! A daisy!")]),
    ("r31l-json-structlog-dict-tracebacks-pretty-printed-cut", [(1, 11, "ERROR", "Block run completed.")]),
])
def test_the_pasted_excerpts(entry: str, events: list[tuple[int, int, str | None, str]]) -> None:
    """kubeflow#5468's `kubectl logs` of a Go service and bitnami/charts#20222's kubelet under journald (klog's
    header), daphne#206's Django `verbose` record, rq#1440's traceback logged twice, meltano#8737's structlog record
    pretty-printed and cut."""
    assert _spans(_excerpt(entry)) == [events] * 2


def test_klogs_header_is_read_as_a_record() -> None:
    text = _excerpt("r31l-kubectl-logs-klog-error-lines-mysql-refused").split("\n")[1]
    (ln,) = parse_line(text)
    assert (ln.record, ln.level, ln.logger, ln.ts) == (True, "ERROR", "mysql.go", "10:39:50.481923")
    for initial, level in (("I", "INFO"), ("W", "WARNING"), ("F", "CRITICAL")):
        (other,) = parse_line(initial + text[1:])
        assert (other.record, other.level) == (True, level)


def test_klogs_info_and_warning_lines_are_no_events() -> None:
    lines = _excerpt("r31l-kubectl-logs-klog-error-lines-mysql-refused").split("\n")
    text = "\n".join([lines[0], "I" + lines[1][1:], "W" + lines[2][1:]])
    assert _spans(text) == [[], []]


@pytest.mark.parametrize("text", [
    "E1218 was the code the device returned",  # a word of the klog's initial and digits, no header after it
    "E1218 10:39:50 1 mysql.go:62] no microseconds",
    "E1218 10:39:50.481923 1 mysql.go] no line number",
])
def test_a_line_that_only_starts_like_klog_is_no_record(text: str) -> None:
    (ln,) = parse_line(text)
    assert not ln.record and ln.level is None


def test_djangos_verbose_record_is_read_without_its_ids() -> None:
    lines = _logged(_VERBOSE, "{", "exception")
    (ln,) = parse_line(lines[0])
    assert (ln.level, ln.logger, ln.message) == ("ERROR", "test_logs_layouts31", "Handling failed execution of job")
    assert _spans("\n".join(lines)) == [[(1, len(lines) - 1, "ERROR", "Handling failed execution of job")]] * 2


def test_a_level_first_record_whose_message_starts_with_a_word_and_numbers_keeps_them() -> None:
    lines = _logged("%(levelname)s %(asctime)s %(message)s", "%", "exception")
    (ln,) = parse_line(lines[0].replace("Handling failed execution of job", "worker 3 12 jobs failed"))
    assert ln.message.endswith("worker 3 12 jobs failed")  # (a thread id has 4 digits at least)


def test_a_traceback_logged_as_the_message_and_from_exc_info_is_one_event() -> None:
    lines = _logged("%(asctime)s %(message)s", "%", "twice", "%H:%M:%S")
    assert _spans("\n".join(lines)) == [[(1, len(lines) - 1, None, "KeyError: 'job'")]] * 2


def test_a_traceback_printed_after_a_logged_one_is_an_event_of_its_own() -> None:
    lines = _logged("%(asctime)s %(message)s", "%", "then-print")
    second = lines.index("Traceback (most recent call last):", 2)
    assert _spans("\n".join(lines)) == [[(1, second, "ERROR", "Handling failed execution of job"),
                                         (second + 1, len(lines) - 1, None, "KeyError: 'job'")]] * 2


def _structlog_pretty() -> list[str]:
    """The lines structlog's JSONRenderer(indent=4) writes for `log.exception` of a real KeyError (dict_tracebacks)."""
    buf = io.StringIO()
    log = structlog.wrap_logger(structlog.PrintLogger(buf), processors=[
        structlog.processors.add_log_level, structlog.processors.TimeStamper(fmt="iso", utc=True),
        structlog.processors.dict_tracebacks, structlog.processors.JSONRenderer(indent=4)])
    try:
        json.loads("{}")["job"]
    except KeyError:
        log.exception("Block run completed.")
    return buf.getvalue().rstrip("\n").split("\n")


def test_a_pretty_printed_json_record_cut_by_the_pastes_end_is_its_record() -> None:
    lines = _structlog_pretty()
    assert lines[0] == "{" and lines[-1] == "}" and '"exc_type": "KeyError",' in lines[6]
    cut = lines[:lines.index('            "frames": [') + 3]  # (cut inside its first frame)
    assert _spans("\n".join(cut)) == [[(1, len(cut), "ERROR", "Block run completed.")]] * 2
    assert _spans("\n".join(lines)) == [[(1, len(lines), "ERROR", "Block run completed.")]] * 2  # (whole: as before)
    (event,) = error_events("\n".join(cut))
    assert event.traceback is not None and "KeyError: 'job'" in event.traceback


def test_a_pretty_printed_document_broken_inside_then_lines_is_read_as_lines() -> None:
    lines = _structlog_pretty()
    cut = lines[:lines.index('            "frames": [')]
    record = "2026-12-07 10:00:00,000 ERROR app.worker: Request failed"
    text = "\n".join([*cut, record])
    assert _spans(text) == [[(len(cut) + 1, len(cut) + 1, "ERROR", "Request failed")]] * 2
