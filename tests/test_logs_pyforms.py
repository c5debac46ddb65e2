"""The forms Python itself prints around an exception, produced by the real libraries in the test run and read by
the log reader and the classifier: PEP 654 exception groups (anyio's TaskGroup), asyncio's `Task exception was never
retrieved`, threading's excepthook, the unraisable hook, faulthandler's dump and IPython's traceback; then the real
pasted texts of held-out round 12 (tests/realworld/layouts.yml)."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import io
import json
import logging
import os
import subprocess
import sys
import threading
from collections.abc import Callable

import anyio
import openai
import psycopg2
import pytest

from examples.pgtemp import DENIED_DB
from mosaic_diag.classifier.classify import Classifier
from mosaic_diag.classifier.evidence import evidence_from_exception
from mosaic_diag.classifier.tracebacks import parse_traceback_text
from mosaic_diag.logs.model import RawEvent
from mosaic_diag.triage.events import EventClassifier
from tests.isolation import loggers_kept
from tests.realworld.corpus import LAYOUTS_PATH, corpus_text, read_yaml
from tests.test_logs_support import BLOCKS, error_events

STAMP = "2026-12-06T15:09:52.136214Z"
MISSING = "MOSAIC_PYFORMS_TEST_API_KEY"  # an upper-case setting that is not in the environment


def _classify(event: RawEvent) -> tuple[str, str | None]:
    got = EventClassifier(Classifier.default()).event(event)
    return got.label, got.exception_type


def _logged(exc: BaseException, fmt: str, message: str = "Exception in ASGI application",
            name: str = "api.chat") -> str:
    """What stdlib logging writes for `logger.exception(message)` while `exc` is handled, in format `fmt`."""
    out = io.StringIO()
    handler = logging.StreamHandler(out)
    handler.setFormatter(logging.Formatter(fmt))
    with loggers_kept(f"pyforms.{name}") as (logger,):
        logger.propagate = False
        logger.addHandler(handler)
        try:
            raise exc
        except BaseException:
            logger.exception(message)
    return out.getvalue()


# the layouts a record and its traceback take: stdlib's basicConfig, uvicorn's, an asctime format; each bare, behind
# Render's text-export timestamp and behind a Docker Compose prefix
_FORMATS = {"basic": "%(levelname)s:%(name)s:%(message)s", "uvicorn": "%(levelname)s:    %(message)s",
            "asctime": "%(asctime)s %(levelname)s %(name)s: %(message)s"}
_WRAPPERS: dict[str, Callable[[str], str]] = {"bare": lambda line: line,
                                               "render": lambda line: f"{STAMP} {line}",
                                               "compose": lambda line: f"web-1  | {line}"}


def _logs(exc: BaseException, strip: bool = False) -> list[tuple[str, str]]:
    """(name, log text) of `exc` logged in every format and wrapper, between an INFO line before and after (`strip`:
    each line's leading blanks stripped, as a paste or a log shipper that trims lines leaves them)."""
    out = []
    for fname, fmt in _FORMATS.items():
        body = _logged(exc, fmt).rstrip("\n").split("\n")
        if strip:
            body = [line.lstrip(" \t") for line in body]
        lines = ["INFO:uvicorn.access:127.0.0.1:5000 - \"GET / HTTP/1.1\" 200", *body, "INFO:app:next request"]
        for wname, wrap in _WRAPPERS.items():
            out.append((f"{fname}-{wname}", "\n".join(wrap(line) for line in lines) + "\n"))
    return out


def _group_of(*tasks: Callable[[], object]) -> BaseExceptionGroup:
    """The exception group anyio's TaskGroup raises when `tasks` (run in it as async tasks) fail."""
    async def run(fn: Callable[[], object]) -> None:
        fn()

    async def main() -> None:
        async with anyio.create_task_group() as tg:
            for fn in tasks:
                tg.start_soon(run, fn)

    try:
        anyio.run(main)
    except BaseExceptionGroup as group:
        return group
    raise AssertionError("the task group raised no exception group")


def _env_setting() -> str:
    return os.environ[MISSING]


def _check_one_event(text: str, first: int, label: str, etype: str | None) -> None:
    for block in BLOCKS:
        (event,) = error_events(text, block)
        assert event.line == first, (block, event.line)
        assert event.end_line == len(text.rstrip("\n").split("\n")) - 1  # (the INFO line after it is not the event's)
        assert _classify(event) == (label, etype), block


@pytest.fixture
def env_group(monkeypatch: pytest.MonkeyPatch) -> BaseExceptionGroup:
    monkeypatch.delenv(MISSING, raising=False)
    return _group_of(lambda: json.loads("{'a': 1}"), _env_setting)


def test_a_task_group_of_a_json_error_and_a_missing_setting_is_one_env_event(env_group: BaseExceptionGroup) -> None:
    """The brief's example, made by anyio: one event on the record's line; the missing setting decides, its
    KeyError is the event's type (the most specific sub-exception's)."""
    assert [type(e).__name__ for e in env_group.exceptions] == ["JSONDecodeError", "KeyError"]
    for name, text in _logs(env_group):
        assert "+-+---------------- 1 ----------------" in text and "Exception Group Traceback" in text, name
        _check_one_event(text, 2, "ENV_VAR_MISSING", "KeyError")


def test_a_task_group_of_a_refused_postgres_connection_is_pg_connection_failed(refused_port: int) -> None:
    group = _group_of(lambda: psycopg2.connect(host="127.0.0.1", port=refused_port, user="x", dbname="x",
                                               connect_timeout=5))
    for name, text in _logs(group):
        assert "psycopg2.OperationalError" in text, name
        _check_one_event(text, 2, "PG_CONNECTION_FAILED", "psycopg2.OperationalError")


def test_an_exception_group_whose_indentation_was_stripped_is_one_event(env_group: BaseExceptionGroup,
                                                                         refused_port: int) -> None:
    """A group's lines with their leading blanks stripped (`+ Exception Group Traceback …`, `| …` gutter lines, the
    `+-+---- 1 ----` box edges at the line's start): still one event with every sub-exception as evidence, logged,
    nested in another group, chained to the next exception, or printed uncaught."""
    pg = _group_of(lambda: psycopg2.connect(host="127.0.0.1", port=refused_port, user="x", dbname="x",
                                            connect_timeout=5))
    try:
        raise ExceptionGroup("unhandled errors in a TaskGroup", [env_group])
    except ExceptionGroup as outer:
        nested = outer
    try:
        raise ValueError("settings could not be loaded") from env_group
    except ValueError as exc:
        chained = exc
    for group, label, etype in ((env_group, "ENV_VAR_MISSING", "KeyError"), (nested, "ENV_VAR_MISSING", "KeyError"),
                                (chained, "ENV_VAR_MISSING", "KeyError"),
                                (pg, "PG_CONNECTION_FAILED", "psycopg2.OperationalError")):
        for name, text in _logs(group, strip=True):
            assert "+-+---------------- 1 ----------------" in text and "\n  " not in text, name
            _check_one_event(text, 2, label, etype)
    printed = "".join(__import__("traceback").format_exception(env_group)).split("\n")
    text = "INFO:app:started\n" + "\n".join(line.lstrip(" ") for line in printed).rstrip("\n") + "\nINFO:app:next\n"
    _check_one_event(text, 2, "ENV_VAR_MISSING", "KeyError")


def test_a_task_group_of_an_openai_rate_limit_nested_in_a_group_is_openai_rate_limit(llm) -> None:
    """A group nested in a group (the outer task group's sub-exception is the inner one's group), the OpenAI
    client's 429 from the stand-in at the bottom, the outer group raised while another exception was handled."""
    llm.set_failure("openai", "rate_limit")
    client = openai.OpenAI(api_key="sk-test-key", base_url=llm.openai_base_url, max_retries=0, timeout=10)

    def chat() -> None:
        client.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}])

    inner = _group_of(chat)
    try:
        try:
            raise RuntimeError("request failed")
        except RuntimeError:
            raise ExceptionGroup("unhandled errors in a TaskGroup", [inner]) from None
    except ExceptionGroup as outer:
        group = outer
    for name, text in _logs(group):
        assert "    | Exception Group Traceback" in text and "openai.RateLimitError" in text, name
        _check_one_event(text, 2, "OPENAI_RATE_LIMIT", "openai.RateLimitError")


def test_a_group_chained_to_the_next_exception_is_one_event(env_group: BaseExceptionGroup) -> None:
    """`raise ValueError(...) from group`: the group, the blank, the chain's separator and the next traceback are
    one event (the group's lines all indented: its last box line ends it, then the separator goes on)."""
    try:
        raise ValueError("settings could not be loaded") from env_group
    except ValueError as exc:
        chained = exc
    for name, text in _logs(chained):
        assert "The above exception was the direct cause" in text, name
        _check_one_event(text, 2, "ENV_VAR_MISSING", "KeyError")


def test_an_uncaught_group_without_a_record_and_a_group_of_nothing_known(env_group: BaseExceptionGroup) -> None:
    """sys.excepthook's print of a group (no record: the event starts at its header) is an event; a group of
    errors no rule knows is UNKNOWN_ERROR, its type the last sub-exception's."""
    text = "INFO:app:started\n" + "".join(__import__("traceback").format_exception(env_group)) + "INFO:app:next\n"
    _check_one_event(text, 2, "ENV_VAR_MISSING", "KeyError")
    unknown = _group_of(lambda: json.loads("{'a': 1}"), lambda: [][1])
    text = "INFO:app:started\n" + "".join(__import__("traceback").format_exception(unknown)) + "INFO:app:next\n"
    _check_one_event(text, 2, "UNKNOWN_ERROR", "IndexError")


def test_a_live_exception_group_is_classified_by_its_sub_exceptions(env_group: BaseExceptionGroup) -> None:
    evidence = evidence_from_exception(env_group)
    assert [e.type for e in evidence.exceptions] == ["ExceptionGroup", "json.decoder.JSONDecodeError", "KeyError"]
    got = Classifier.default().classify(evidence)
    assert (got.label, got.exception_type) == ("ENV_VAR_MISSING", "KeyError")


def test_group_text_parses_every_sub_exception_in_printed_order(env_group: BaseExceptionGroup) -> None:
    text = "".join(__import__("traceback").format_exception(env_group))
    parsed = parse_traceback_text(text)
    assert [p.type for p in parsed] == ["ExceptionGroup", "json.decoder.JSONDecodeError", "KeyError"]
    assert parsed[0].message == "unhandled errors in a TaskGroup (2 sub-exceptions)"
    assert parsed[2].frames[-1].function == "__getitem__" and parsed[2].message == f"'{MISSING}'"


def _never_retrieved(refused_port: int) -> logging.LogRecord:
    """The record asyncio's default exception handler logs for a task whose exception nobody retrieved (a refused
    PostgreSQL connection)."""
    records: list[logging.LogRecord] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            records.append(record)

    handler = Keep()
    log = logging.getLogger("asyncio")
    log.addHandler(handler)
    try:
        async def connect() -> None:
            psycopg2.connect(host="127.0.0.1", port=refused_port, user="x", dbname="x", connect_timeout=5)

        async def main() -> None:
            asyncio.get_running_loop().create_task(connect())
            await asyncio.sleep(0.05)

        asyncio.run(main())
        gc.collect()
    finally:
        log.removeHandler(handler)
    (record,) = [r for r in records if r.getMessage().startswith("Task exception was never retrieved")]
    return record


def test_asyncio_task_exception_never_retrieved(refused_port: int) -> None:
    """Logged through logging (basicConfig's, an asctime format) and with no logging configured (logging's last
    resort: the message and the traceback alone): one event on its first line, the refused connection decides."""
    record = _never_retrieved(refused_port)
    for fmt in ("%(levelname)s:%(name)s:%(message)s", "%(asctime)s - %(name)s - %(levelname)s - %(message)s",
                "%(message)s"):
        body = logging.Formatter(fmt).format(record)
        assert "\nfuture: <Task finished" in body and "Traceback (most recent call last):" in body
        for wname, wrap in _WRAPPERS.items():
            lines = ["INFO:app:started", *body.rstrip("\n").split("\n"), "INFO:app:next"]
            text = "\n".join(wrap(line) for line in lines) + "\n"
            for block in BLOCKS:
                (event,) = error_events(text, block)
                assert (event.line, event.end_line) == (2, len(lines) - 1), (fmt, wname, block)
                assert event.message.startswith("Task exception was never retrieved"), (fmt, wname)
                assert _classify(event) == ("PG_CONNECTION_FAILED", "psycopg2.OperationalError"), (fmt, wname)


def _stderr_of(fn: Callable[[], None]) -> str:
    err = io.StringIO()
    with contextlib.redirect_stderr(err):
        fn()
    return err.getvalue()


def test_threading_excepthook_and_the_unraisable_hook(refused_port: int, monkeypatch: pytest.MonkeyPatch) -> None:
    """`Exception in thread T (f):` and `Exception ignored in: <…>` start the events of the tracebacks under them;
    two of them one after another are two events (Python's own hooks, not pytest's that catch them in a test)."""
    monkeypatch.setattr(threading, "excepthook", threading.__excepthook__)
    monkeypatch.setattr(sys, "unraisablehook", sys.__unraisablehook__)
    def work() -> None:
        psycopg2.connect(host="127.0.0.1", port=refused_port, user="x", dbname="x", connect_timeout=5)

    def in_thread() -> None:
        t = threading.Thread(target=work)
        t.start()
        t.join()

    class Holder:
        def __del__(self) -> None:
            json.loads("{'a': 1}")

    def unraisable() -> None:
        Holder()  # (dropped at once: its __del__ runs here)

    thread_text = _stderr_of(in_thread)
    del_text = _stderr_of(unraisable)
    assert thread_text.startswith("Exception in thread Thread-") and del_text.startswith("Exception ignored in: <")
    for wname, wrap in _WRAPPERS.items():
        lines = ["INFO:app:started", *thread_text.rstrip("\n").split("\n"), *del_text.rstrip("\n").split("\n"),
                 "INFO:app:next"]
        text = "\n".join(wrap(line) for line in lines) + "\n"
        second = 2 + len(thread_text.rstrip("\n").split("\n"))
        for block in BLOCKS:
            first, other = error_events(text, block)
            assert (first.line, first.end_line, other.line, other.end_line) == (2, second - 1, second, len(lines) - 1)
            assert _classify(first) == ("PG_CONNECTION_FAILED", "psycopg2.OperationalError"), wname
            assert _classify(other) == ("UNKNOWN_ERROR", "json.decoder.JSONDecodeError"), wname


def test_faulthandler_dump_is_one_event_from_its_fatal_error_line() -> None:
    """A real crash (a NULL read through ctypes) with faulthandler on: `Fatal Python error: Segmentation fault`, a
    blank, `Current thread 0x… (most recent call first):` and its frames are one event, from the first line."""
    proc = subprocess.run([sys.executable, "-X", "faulthandler", "-c",
                           "import ctypes\ndef crash():\n    ctypes.string_at(0)\ncrash()"],
                          capture_output=True, text=True, timeout=60, check=False)
    assert proc.returncode != 0 and "Fatal Python error: Segmentation fault" in proc.stderr
    dump = proc.stderr.rstrip("\n").split("\n")
    frames_end = max(k for k, line in enumerate(dump) if line.startswith("  File ")) + 1
    lines = ["INFO:app:started", *dump[:frames_end]]
    text = "\n".join(lines) + "\n"
    for block in BLOCKS:
        (event,) = error_events(text, block)
        assert (event.line, event.end_line) == (2, len(lines)), block
        assert event.traceback.startswith("Fatal Python error: Segmentation fault")
        assert _classify(event)[0] == "UNKNOWN_ERROR"


def test_ipython_traceback_of_an_openai_quota_error_is_openai_quota_exceeded(llm) -> None:
    """IPython's traceback (`File ~/…/openai/_base_client.py:1047, in SyncAPIClient.request(…)` frames, the short type
    name): the frames in the openai package attribute the quota error to OpenAI."""
    from IPython.core.ultratb import FormattedTB

    llm.set_failure("openai", "quota")
    client = openai.OpenAI(api_key="sk-test-key", base_url=llm.openai_base_url, max_retries=0, timeout=10)
    try:
        client.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}])
    except openai.RateLimitError:
        etype, value, tb = sys.exc_info()
    try:
        formatter = FormattedTB(mode="Context", color_scheme="NoColor")
    except TypeError:  # (IPython 9 names its colours by theme)
        formatter = FormattedTB(mode="Context", theme_name="nocolor")
    text = formatter.text(etype, value, tb)
    assert "Traceback (most recent call last)" in text and "RateLimitError: Error code: 429" in text
    text = text.replace("insufficient_quota", "quota_word_removed")  # (the frames must attribute it, not the code)
    got = Classifier.default().classify_text(text)
    assert got.label == "OPENAI_QUOTA_EXCEEDED"
    assert any("/openai/" in f.file for p in parse_traceback_text(text) for f in p.frames)


# -- the real pasted texts of held-out round 12 ---------------------------------------------------------------------

_LAYOUTS = {e["id"]: e for e in read_yaml(LAYOUTS_PATH)}


@pytest.mark.parametrize(("entry", "spans"), [
    ("r12-dbgpt-uvicorn-exception-group-taskgroup", [(1, 15)]),
    ("r12-postgres-mcp-exception-group-nested-cut", [(1, 20)]),
    ("r12-anycorn-exception-group-indented-cut", [(1, 16)]),
    ("r12-psycopg3-unraisable-three-at-exit", [(1, 6), (7, 10), (11, 15)]),
    ("r12-cdat-atexit-and-sys-exitfunc", [(1, 7), (8, 14)]),
    ("r12-psycopg3-faulthandler-segfault-connect", [(2, 9)]),
    ("r12-tg-signer-stderr-task-exception-sqlite-closed", [(1, 11)]),
])
def test_real_pastes_read_as_their_events(entry: str, spans: list[tuple[int, int]]) -> None:
    text = _LAYOUTS[entry]["text"] + "\n"
    for block in BLOCKS:
        assert [(e.line, e.end_line) for e in error_events(text, block)] == spans, block


def test_real_paste_of_a_thread_exception_is_openai_quota() -> None:
    (event,) = error_events(_LAYOUTS["r12-ai-waifu-thread-exception-openai-quota"]["text"] + "\n")
    assert event.line == 1 and event.traceback.startswith("Exception in thread Thread-1 (preparation):")
    assert _classify(event) == ("OPENAI_QUOTA_EXCEEDED", "openai.error.RateLimitError")


# -- a traceback whose entries are apart by a blank ------------------------------------------------------------------

def _closed_cursor(dsn: str) -> None:
    conn = psycopg2.connect(dsn)
    conn.close()
    conn.cursor()


def _entries_joined(pg_db: str) -> list[str]:
    """`"\\n".join(traceback.format_exception(e))` of a real psycopg2 InterfaceError: every entry ends in a newline
    already, so a blank parts them (as Django's old error reports printed a traceback)."""
    import traceback

    try:
        _closed_cursor(pg_db)
    except psycopg2.InterfaceError as e:
        return "\n".join(traceback.format_exception(e)).rstrip("\n").split("\n")
    raise AssertionError("no InterfaceError")


def test_a_traceback_whose_entries_are_apart_by_a_blank_is_one_event(pg_db: str) -> None:
    lines = _entries_joined(pg_db)
    assert lines[1] == "" and lines[-1] == "psycopg2.InterfaceError: connection already closed"
    headerless = lines[2:]  # a paste cut before its header: it starts at the first frame
    for body, first in ((lines, 2), (headerless, 2)):
        text = "\n".join(["INFO:app:request started", *body, "INFO:app:next request"]) + "\n"
        for block in BLOCKS:
            (event,) = error_events(text, block)
            assert (event.line, event.end_line) == (first, len(body) + 1), block
            assert _classify(event) == ("PG_CONNECTION_FAILED", "psycopg2.InterfaceError"), block
    # the corpus's paste (django-balancer#4): Django's frames apart by blanks, cut before the header
    (event,) = error_events(corpus_text("pg-closed-django-balancer") + "\n")
    assert (event.line, event.end_line) == (1, 28)
    assert _classify(event) == ("PG_CONNECTION_FAILED", "InterfaceError")


def test_a_blank_after_a_header_less_frame_does_not_take_prose_as_its_exception(pg_db: str) -> None:
    frame = _entries_joined(pg_db)[2:4]  # one frame and its source line
    text = "\n".join([*frame, "", "then the request was retried", "INFO:app:next request"]) + "\n"
    for block in BLOCKS:
        (event,) = error_events(text, block)
        assert (event.line, event.end_line) == (1, 2), block


# -- a chained traceback cut inside its cause ------------------------------------------------------------------------

def _sqlalchemy_traceback(pg_db: str, *statements: str) -> list[str]:
    """The lines of the whole chained traceback SQLAlchemy raises on the last of `statements` (run in one
    transaction through psycopg2 on the test server)."""
    import traceback

    import sqlalchemy

    engine = sqlalchemy.create_engine(pg_db.replace("postgresql://", "postgresql+psycopg2://", 1)
                                      if pg_db.startswith("postgresql://") else f"postgresql+psycopg2:///?{pg_db}")
    try:
        with engine.begin() as conn:
            for sql in statements:
                conn.execute(sqlalchemy.text(sql))
    except sqlalchemy.exc.DBAPIError as e:
        return "".join(traceback.format_exception(e)).rstrip("\n").split("\n")
    finally:
        engine.dispose()
    raise AssertionError(f"no error from {statements[-1]!r}")


def test_a_chained_traceback_cut_at_its_causes_exception_line_starts_there(pg_db: str) -> None:
    """SQLAlchemy's chained traceback of a real psycopg2 UndefinedColumn, pasted from the cause's exception line down
    (its frames cut off above it: `psycopg2.errors.UndefinedColumn: …`, `LINE 1:`, the caret, blanks, `The above
    exception was the direct cause …`, the wrapper's traceback): one event from that line, the cause's evidence read;
    bare and behind a Docker Compose prefix. The whole traceback stays one event from its header."""
    whole = _sqlalchemy_traceback(pg_db, "CREATE TABLE accounts (id int)", "SELECT accounts.plan_id FROM accounts")
    cause = next(i for i, t in enumerate(whole) if t.startswith("psycopg2.errors.UndefinedColumn: "))
    assert "The above exception was the direct cause of the following exception:" in whole[cause:]
    for body, first in ((whole[cause:], 2), (whole, 2)):
        for wrap in (lambda t: t, lambda t: f"web-1  | {t}"):
            text = "\n".join(wrap(t) for t in ["INFO:app:request started", *body, "INFO:app:next request"]) + "\n"
            wrapper = next(i for i, t in enumerate(body) if t.startswith("sqlalchemy.exc.ProgrammingError: "))
            for block in BLOCKS:
                (event,) = error_events(text, block)
                # (to the wrapper's exception line and its message's lines: SQLAlchemy's `[SQL: …]` after a blank
                # is no part of it)
                assert event.line == first and wrapper + 2 <= event.end_line <= len(body) + 1, block
                assert event.traceback.startswith(body[0].split(" ", 1)[0] if body is whole else body[0]), block
                assert _classify(event)[0] == "MISSING_COLUMN", block


def test_a_separator_after_a_traceback_already_read_starts_no_second_event(pg_db: str) -> None:
    """A traceback closed before a chain's separator (a blank and a line of text after its exception line) keeps its
    exception: the separator does not take that exception line again (its frames are above it)."""
    import traceback

    try:
        psycopg2.connect(pg_db).cursor().execute("SELECT nope FROM pg_class")
    except psycopg2.Error as e:
        lines = "".join(traceback.format_exception(e)).rstrip("\n").split("\n")
    text = "\n".join([*lines, "", "the request is retried", "",
                      "The above exception was the direct cause of the following exception:",
                      "INFO:app:next request"]) + "\n"
    for block in BLOCKS:
        events = error_events(text, block)
        assert [(e.line, e.end_line) for e in events] == [(1, len(lines))], block


# -- round 19: a plain traceback before a cut Rich box; a chain whose first header is gone -------------


def _openai_failure(llm, mode: str) -> BaseException:
    llm.set_failure("openai", mode)
    client = openai.OpenAI(api_key="sk-test-key-0000000000", base_url=llm.openai_base_url, max_retries=0)
    try:
        client.chat.completions.create(model="gpt-4", messages=[{"role": "user", "content": "x"}])
    except openai.OpenAIError as exc:
        return exc
    raise AssertionError("nothing raised")


def test_a_plain_traceback_before_a_cut_rich_box_is_read_with_it(llm) -> None:
    """A program that prints the error as Python does and then lets Rich print it again (a CLI's handler): the
    paste starts inside the plain traceback and is cut inside the Rich box, so only the plain part has the
    exception line. Both parts are evidence; the plain one was printed first."""
    from rich.console import Console
    from rich.traceback import Traceback

    exc = _openai_failure(llm, "context_overflow")
    plain = "".join(__import__("traceback").format_exception(exc)).splitlines()
    out = io.StringIO()
    Console(file=out, width=100, color_system=None).print(Traceback.from_exception(type(exc), exc, exc.__traceback__))
    box = out.getvalue().splitlines()
    assert box[0].startswith("╭") and "Traceback" in box[0]
    cut_box = box[:next(k for k, line in enumerate(box) if line.startswith("╰"))]  # cut before its bottom edge
    text = "\n".join([*plain[1:], *cut_box])  # and without the plain traceback's header
    parsed = parse_traceback_text(text)
    assert parsed[0].type == "openai.BadRequestError" and parsed[0].frames
    assert Classifier.default().classify_text(text).label == "OPENAI_CONTEXT_OVERFLOW"
    # the box alone, whole, still reads its own exception line
    assert parse_traceback_text("\n".join(box))[-1].type is not None


def test_a_chained_traceback_whose_first_header_is_gone_keeps_its_first_frames(refused_port: int) -> None:
    """`logger.error(f"Request failed: {traceback.format_exc()}")` glues the chain's first header into the
    record's line: the rest starts with the cause's frames. The cause is a traceback of its own (its frames, which
    attribute it), ended by the separator, as when its header is there."""
    client = openai.OpenAI(api_key="sk-test-key-0000000000", base_url=f"http://127.0.0.1:{refused_port}/v1",
                           max_retries=0)

    def call() -> None:
        try:
            client.chat.completions.create(model="gpt-4", messages=[{"role": "user", "content": "x"}])
        except openai.APIConnectionError as exc:
            raise RuntimeError("LLM call failed") from exc

    try:
        call()
    except RuntimeError as exc:
        lines = "".join(__import__("traceback").format_exception(exc)).splitlines()
    assert lines[0] == "Traceback (most recent call last):"
    whole, headless = parse_traceback_text("\n".join(lines)), parse_traceback_text("\n".join(lines[1:]))
    assert [(p.type, p.message, len(p.frames)) for p in headless] == \
        [(p.type, p.message, len(p.frames)) for p in whole]
    assert headless[0].frames and "exception" not in headless[0].message


def test_a_chained_traceback_cut_inside_its_causes_message_starts_at_its_libpq_lines(pg_db: str) -> None:
    """SQLAlchemy's chain over a real psycopg2 UniqueViolation pasted from the cause's `DETAIL:  Key (…)=(…) already
    exists.` down (its exception line cut off too), bare and behind journald's prefix: one event from the DETAIL
    line, its evidence read. A DETAIL line after a traceback already read is taken by no second event."""
    with psycopg2.connect(pg_db) as conn, conn.cursor() as cur:
        cur.execute("CREATE TABLE users (id int PRIMARY KEY)")
        cur.execute("INSERT INTO users VALUES (1)")
    whole = _sqlalchemy_traceback(pg_db, "INSERT INTO users VALUES (1)")
    detail = next(i for i, t in enumerate(whole) if t.startswith("DETAIL:  Key (id)=(1) already exists."))
    assert whole[detail - 1].startswith("psycopg2.errors.UniqueViolation: ")
    body = whole[detail:]
    for wrap in (lambda t: t, lambda t: f"Sep 27 07:05:58 web01 gunicorn[94156]: {t}"):
        text = "\n".join(wrap(t) for t in ["INFO:app:request started", *body, "INFO:app:next request"]) + "\n"
        for block in BLOCKS:
            (event,) = error_events(text, block)
            assert event.line == 2 and event.traceback.startswith("DETAIL:  Key (id)=(1)"), block
            assert _classify(event)[0] == "DUPLICATE_KEY", block
    # the whole chain: one event from its header, the DETAIL line inside it
    text = "\n".join(["INFO:app:request started", *whole, "INFO:app:next request"]) + "\n"
    for block in BLOCKS:
        assert [e.line for e in error_events(text, block)] == [2], block


# psycopg2 over libpq < 14 (held-out round 20's paste, nyc-trees#26): each connection attempt's message on a line of
# its own, the second (without SSL) a bare `FATAL:  ` line under the exception line
_LIBPQ_TWO_ATTEMPTS = [
    'django.db.utils.OperationalError: FATAL:  no pg_hba.conf entry for host "33.33.33.10", user "nyc", database '
    '"nyc", SSL on',
    'FATAL:  no pg_hba.conf entry for host "33.33.33.10", user "nyc", database "nyc", SSL off',
]


def test_libpqs_message_of_a_second_connection_attempt_continues_the_event(pg) -> None:
    """libpq writes its messages `SEVERITY:  text` (two spaces); a `FATAL:  ` line right after a line carrying one is
    the next attempt's message (SSL, then no SSL), not a record of its own: one event, both rejections its evidence
    (with SSL too: PG_ACCESS_DENIED). Under an error record, inlined into it, and after a real current libpq's
    message (`connection to server … failed: FATAL:  …` per attempt) too."""
    exc = None
    try:
        psycopg2.connect(pg.dsn(DENIED_DB, sslmode="prefer"))
    except psycopg2.OperationalError as e:
        exc = e
    assert exc is not None
    current = f"psycopg2.OperationalError: {exc}".rstrip("\n").splitlines()
    assert len(current) == 2 and all("FATAL:  " in t for t in current)
    for body in (_LIBPQ_TWO_ATTEMPTS, current,
                 [current[0], "FATAL:  " + current[1].split("FATAL:  ", 1)[1]]):  # the older libpq's second line
        for lines in (["2026-11-27 14:00:00,500 ERROR app.db: Database init failed", *body],
                      [f"2026-11-27 14:00:00,500 ERROR app.db: Database init failed: {body[0]}", *body[1:]]):
            text = "\n".join(["2026-11-27 14:00:00,000 INFO app.main: starting", *lines,
                              "2026-11-27 14:00:01,000 INFO app.main: retrying"]) + "\n"
            for block in BLOCKS:
                (event,) = error_events(text, block)
                assert event.line == 2 and event.end_line == 1 + len(lines), block
                assert _classify(event)[0] == "PG_ACCESS_DENIED", (body, block)


def test_a_libpq_severity_line_with_nothing_open_before_it_is_its_own_event() -> None:
    """A bare `FATAL:  …` (psql's output pasted into a log) with no error open before it, or after an error whose
    text carries no libpq message, is still an error event of its own."""
    lone = 'FATAL:  no pg_hba.conf entry for host "10.0.0.5", user "app", database "app", SSL off'
    text = f"2026-11-27 14:00:00,000 INFO app.main: starting\n{lone}\n"
    for block in BLOCKS:
        (event,) = error_events(text, block)
        assert event.line == 2 and _classify(event)[0] == "PG_SSL_REQUIRED", block
    text = f"2026-11-27 14:00:00,500 ERROR app.jobs: Job failed: timeout\n{lone}\n"
    for block in BLOCKS:
        assert [e.line for e in error_events(text, block)] == [1, 2], block
