"""The log formats FastAPI apps configure for uvicorn and their own loggers (`--log-config`, `dictConfig`): a
logger's column in brackets (`%(levelname)s [%(name)s] %(message)s`, with or without an asctime, a bracketed
level), a code location's column (`%(filename)s:%(lineno)d - `, `[%(module)s:%(lineno)d]`), a logger padded to a
column, and the common forms that read already (Flask's default, pipes, the cookbook's, gunicorn's, uvicorn's
`%(levelprefix)s`), loguru behind an intercept handler, structlog's `ProcessorFormatter` and Rich's RichHandler.

Every log is written in the test run by a real uvicorn server (its own `Started server process [N]` record, through
the formatter configured for it) and by the app's logger around real failures: `json.loads` of a bad PS101 file,
psycopg2 against a port that refuses, a missing environment variable. Each is read whole, in 7-byte blocks, and
behind Render's timestamp column: the process start is a process start, each failure one event with its level,
logger, message and traceback, labelled as triage labels it.
"""

from __future__ import annotations

import asyncio
import io
import json
import logging
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from mosaic_diag.classifier.classify import Classifier
from mosaic_diag.logs.model import RawEvent
from mosaic_diag.triage.events import EventClassifier
from tests.isolation import loggers_kept
from tests.test_logs_support import one_second, read

_APP = "mosaic.api"
_MISSING = "MOSAIC_R17_UNSET_KEY"
_DIFY = "%(asctime)s.%(msecs)03d %(levelname)s [%(threadName)s] [%(filename)s:%(lineno)d] - %(message)s"
_DATEFMT = {_DIFY: "%Y-%m-%d %H:%M:%S"}  # (Dify's LOG_DATEFORMAT)
# (format, what the logger column holds: the logger's name, the module of a code location, or nothing)
FORMATS = [
    ("%(asctime)s %(levelname)s [%(name)s] %(message)s", "name"),
    ("%(asctime)s [%(levelname)s] [%(name)s] %(message)s", "name"),
    ("[%(asctime)s] [%(levelname)s] [%(name)s] %(message)s", "name"),
    ("%(levelname)s %(asctime)s [%(name)s] %(message)s", "name"),
    ("%(levelname)s [%(name)s] %(message)s", "name"),  # (Render writes the time)
    ("%(levelname)-8s [%(name)s] %(message)s", "name"),
    ("%(asctime)s %(levelname)s [%(name)s:%(lineno)d] %(message)s", "name"),
    ("%(asctime)s [%(levelname)s] [%(module)s:%(lineno)d] %(message)s", "module"),
    ("%(asctime)s %(levelname)s %(filename)s:%(lineno)d - %(message)s", "module"),
    (_DIFY, "module"),
    # (no datefmt: asctime's own ",029" and then ".029")
    ("%(asctime)s.%(msecs)03d %(levelname)s [%(name)s] %(message)s", "name"),
    ("[%(asctime)s.%(msecs)03d] %(levelname)s in %(module)s: %(message)s", "module"),
    ("%(asctime)s.%(msecs)03d - %(name)s - %(levelname)s - %(message)s", "name"),
    ("%(asctime)s %(levelname)-8s %(name)-24s %(message)s", "name"),
    ("%(asctime)s [%(name)s] %(levelname)s: %(message)s", "name"),
    ("%(asctime)s %(name)-24s %(levelname)-8s %(message)s", "name"),
    ("%(asctime)s - %(name)s - %(levelprefix)s %(message)s", "name"),
    ("%(asctime)s %(levelname)s:%(name)s: %(message)s", "name"),
    ("%(asctime)s %(levelprefix)s [%(name)s] %(message)s", "name"),
    ("[%(asctime)s] %(levelname)s in %(module)s: %(message)s", "module"),  # Flask's default
    ("%(asctime)s | %(levelname)-8s | %(name)s | %(message)s", "name"),
    ("%(asctime)s - %(name)s - %(levelname)s - %(message)s", "name"),  # the logging cookbook's
    ("[%(asctime)s] [%(process)d] [%(levelname)s] %(message)s", None),  # gunicorn's
    ("%(asctime)s %(levelprefix)s %(message)s", "uvicorn"),
]


def _failures(log: Callable[[str], None], port: int) -> None:
    """Three real failures, each logged with its traceback by `log(message)` inside the `except`."""
    import psycopg2

    try:
        json.loads('{"steps": [{"id": 1,}]}')
    except ValueError:
        log("PS101 steps unreadable")
    try:
        psycopg2.connect(host="127.0.0.1", port=port, dbname="m", user="u", password="p", connect_timeout=5)
    except psycopg2.OperationalError:
        log("session store unavailable")
    try:
        os.environ[_MISSING]
    except KeyError:
        log("startup failed")


# (a JSONDecodeError outside the PS101 code is no PS101 label: rule 8)
_WANT = [("PS101 steps unreadable", "json.decoder.JSONDecodeError: Expecting property name enclosed in double quotes"),
         ("session store unavailable", "psycopg2.OperationalError: connection to server at"),
         ("startup failed", f"KeyError: '{_MISSING}'")]


def _serve(handlers: dict, formatters: dict) -> None:
    """Start and stop a real uvicorn server (port 0, an ASGI app with a lifespan) logging through `handlers`."""
    import uvicorn

    async def app(scope: dict, receive: Callable, send: Callable) -> None:
        while scope["type"] == "lifespan":
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            else:
                await send({"type": "lifespan.shutdown.complete"})
                return

    cfg = {"version": 1, "disable_existing_loggers": False, "formatters": formatters, "handlers": handlers,
           "loggers": {"uvicorn": {"handlers": list(handlers), "level": "INFO", "propagate": False},
                       "uvicorn.error": {"level": "INFO"}, "uvicorn.access": {"level": "INFO"}}}
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=0, log_config=cfg, lifespan="on"))
    server.should_exit = True  # (the server starts, logs, binds its socket and stops again)
    asyncio.run(server.serve())


@pytest.fixture(autouse=True)
def _uvicorn_loggers_kept() -> Iterator[None]:
    """uvicorn's loggers put back after each test: `_serve`'s config leaves `uvicorn` with the test's handler and
    not propagating, which a later test logging through uvicorn's loggers would inherit."""
    with loggers_kept("uvicorn", "uvicorn.error", "uvicorn.access"):
        yield


def _app_logger(handler: logging.Handler) -> Callable[[], None]:
    """Route the app's logger to `handler`; the returned function undoes it."""
    log = logging.getLogger(_APP)
    saved = log.handlers[:], log.level, log.propagate
    log.handlers, log.propagate = [handler], False
    log.setLevel(logging.INFO)

    def undo() -> None:
        log.handlers, log.level, log.propagate = saved

    return undo


def _app_logs(port: int, tag: str = "") -> None:
    """The app's records (its failures, then a warning) through the handler uvicorn's logger was given."""
    undo = _app_logger(logging.getLogger("uvicorn").handlers[0])
    try:
        log = logging.getLogger(_APP)
        _failures(lambda msg: log.error(tag + msg, exc_info=True), port)
        log.warning(tag + "falling back to SQLite")
    finally:
        undo()


def _stdlib_log(fmt: str, port: int, tag: str = "") -> str:
    """What uvicorn and the app's logger write through a `logging.Formatter` (uvicorn's own for `%(levelprefix)s`)
    with `fmt` (the app's messages after `tag`)."""
    buf = io.StringIO()
    formatter = ({"()": "uvicorn.logging.DefaultFormatter", "fmt": fmt, "use_colors": False}
                 if "levelprefix" in fmt else {"format": fmt, "datefmt": _DATEFMT.get(fmt)})
    _serve({"h": {"class": "logging.StreamHandler", "formatter": "f", "stream": buf}}, {"f": formatter})
    _app_logs(port, tag)
    return buf.getvalue()


def _label(event: RawEvent) -> str:
    return EventClassifier(Classifier.default()).event(event).label


def _read_three_ways(text: str, on_render: bool = True) -> list[RawEvent]:
    """The events of `text`, the same when it is read in 7-byte blocks and (`on_render`) behind Render's timestamp
    column."""
    data = text.encode()
    events, _ = read(data)
    small, _ = read(data, block_size=7)

    def key(e: RawEvent) -> tuple:
        return e.kind, e.line, e.end_line, e.level, e.logger, e.message

    assert [key(e) for e in small] == [key(e) for e in events]
    if on_render:
        rendered = "".join(f"2026-12-06T10:00:{i % 60:02d}.000000Z {line}\n"
                           for i, line in enumerate(text.splitlines()))
        assert [key(e) for e in read(rendered.encode())[0]] == [key(e) for e in events]
    return events


def _check(text: str, start_logger: str | None, app_logger: str | None, on_render: bool = True, tag: str = "") -> None:
    lines = text.splitlines()
    events = _read_three_ways(text, on_render)
    (start,) = [e for e in events if e.kind == "process_start"]
    assert start.message == f"Started server process [{os.getpid()}]" and start.line == 1
    assert start.logger == start_logger
    errors = [e for e in events if e.kind == "error"]
    assert [(e.level, e.message) for e in errors] == [("ERROR", tag + msg) for msg, _ in _WANT]
    assert all(e.logger == app_logger for e in errors)
    warning = next(i for i, line in enumerate(lines, 1) if "falling back to SQLite" in line)
    for e, (_, exc), after in zip(errors, _WANT, [*(e.line for e in errors[1:]), warning], strict=True):
        assert e.traceback is not None and exc in e.traceback
        # the event runs up to the next record (blank lines between apart): no line of it is in the event
        assert e.end_line < after and not "".join(lines[e.end_line:after - 1]).strip()
    assert [_label(e) for e in errors] == ["UNKNOWN_ERROR", "PG_CONNECTION_FAILED", "ENV_VAR_MISSING"]


@pytest.mark.parametrize(("fmt", "column"), FORMATS)
def test_uvicorn_and_the_app_in_a_configured_stdlib_format(fmt: str, column: str | None, refused_port: int) -> None:
    text = _stdlib_log(fmt, refused_port)
    assert text.startswith(("2", "[", "INFO")) and "Started server process" in text.splitlines()[0]
    if column == "name":
        loggers = "uvicorn.error", _APP
    elif column == "module":  # (the modules that log: uvicorn's server.py, and this test's)
        loggers = "server", __name__.rpartition(".")[2]
    elif column == "uvicorn":  # (`%(levelprefix)s` alone: uvicorn's own layout, read as its logger's)
        loggers = "uvicorn.error", "uvicorn.error"
    else:
        loggers = None, None
    _check(text, *loggers)
    if "asctime" in fmt:  # (the record's own time read: the date of the run, to the millisecond)
        events = read(text.encode())[0]
        assert all(e.timestamp is not None and e.timestamp.year > 2000 for e in events)


@pytest.mark.parametrize(("fmt", "loggers"), [
    ("%(asctime)s %(levelname)s %(message)s", (None, None)),
    ("%(asctime)s %(levelname)s [%(threadName)s] %(message)s", (None, None)),
    ("%(asctime)s [%(threadName)s] %(levelname)s %(message)s", (None, None)),
    ("%(levelname)s [%(threadName)s] %(message)s", (None, None)),
    ("[%(asctime)s] [%(process)d] [%(levelname)s] %(message)s", (None, None)),  # gunicorn's
    ("%(asctime)s %(levelname)s [%(threadName)s] [%(name)s] %(message)s", ("uvicorn.error", _APP)),
    ("%(asctime)s %(levelname)s [%(name)s] %(message)s", ("uvicorn.error", _APP)),
])
def test_a_tag_in_front_of_the_message_and_a_thread_column_are_no_logger(fmt: str, loggers: tuple, refused_port: int
                                                                          ) -> None:
    """The app's messages start with a tag of their own (`[billing] PS101 steps unreadable`): in a format with no
    logger's column (uvicorn's records there show none) the tag stays in the message, in one with a logger's column
    the column before it is the logger; a `[MainThread]` column (`%(threadName)s`) is no logger either."""
    tag = "[billing] "
    text = _stdlib_log(fmt, refused_port, tag)
    assert f"{tag}PS101 steps unreadable" in text and ("MainThread" in text) is ("threadName" in fmt)
    _check(text, *loggers, tag=tag)


_STREAMS = ("ecs/web/8fdf80d5882e4a4ab9b2523da59cb109", "2026/12/06/[$LATEST]419072086af14c69bf935a036f99ffc6",
            "i-0abc1234def567890")


@pytest.mark.parametrize("fmt", ["%(levelname)s:%(name)s:%(message)s",
                                 "%(asctime)s %(levelname)s [%(name)s] %(message)s"])
@pytest.mark.parametrize("block_size", [None, 7])
def test_behind_a_platform_timestamp_and_a_stream_token(fmt: str, block_size: int | None, refused_port: int) -> None:
    """`aws logs tail`'s `TIMESTAMP STREAM message` (ECS's, Lambda's and an instance's stream names), three streams'
    lines interleaved: each stream's events are those of its text read alone (records, tracebacks with their frames
    and exception lines), in that stream."""
    text = _stdlib_log(fmt, refused_port)
    lines = text.splitlines()
    mixed = "".join(f"2026-12-06T10:00:{i % 60:02d}.{k:06d}+00:00 {stream} {line}\n"
                    for i, line in enumerate(lines) for k, stream in enumerate(_STREAMS))
    alone, _ = read(text.encode())

    def key(e: RawEvent) -> tuple:
        tb = (e.traceback or "").splitlines()
        return e.kind, e.level, e.logger, e.message, tb[-1] if tb else None, len(tb)

    events, _ = read(mixed.encode(), **({} if block_size is None else {"block_size": block_size}))
    assert sum(e.kind == "error" for e in alone) == 3
    for stream in _STREAMS:
        assert [key(e) for e in events if e.instance == stream] == [key(e) for e in alone]
    assert {e.instance for e in events} == set(_STREAMS)
    assert [_label(e) for e in events if e.kind == "error" and e.instance == _STREAMS[0]] == [
        "UNKNOWN_ERROR", "PG_CONNECTION_FAILED", "ENV_VAR_MISSING"]


def test_loguru_intercepting_uvicorn_and_the_app(refused_port: int) -> None:
    """loguru's default format, uvicorn's records routed into it by the intercept handler of loguru's README."""
    from loguru import logger

    class Intercept(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            logger.opt(depth=6, exception=record.exc_info).log(record.levelname, record.getMessage())

    buf = io.StringIO()
    sink = logger.add(buf, colorize=False, backtrace=False, diagnose=False)  # (loguru's stderr sink left in place)
    try:
        _serve({"h": {"()": lambda: Intercept()}}, {})
        _failures(lambda msg: logger.opt(exception=True).error(msg), refused_port)
        logger.warning("falling back to SQLite")
    finally:
        logger.remove(sink)
    text = buf.getvalue()
    assert " | INFO     | uvicorn.server:" in text.splitlines()[0]
    _check(text, "uvicorn.server", __name__)


def test_structlog_processor_formatter_for_uvicorn_and_the_app(refused_port: int) -> None:
    """structlog's ConsoleRenderer over stdlib records (`ProcessorFormatter`): the logger's column after the padded
    event is the logger, no part of the message."""
    import structlog

    buf = io.StringIO()
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=[structlog.stdlib.add_log_level, structlog.stdlib.add_logger_name,
                           structlog.processors.TimeStamper(fmt="iso")],
        processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                    structlog.dev.ConsoleRenderer(colors=False, exception_formatter=structlog.dev.plain_traceback)])
    _serve({"h": {"class": "logging.StreamHandler", "formatter": "f", "stream": buf}}, {"f": {"()": lambda: formatter}})
    _app_logs(refused_port)
    text = buf.getvalue()
    assert "[info     ] Started server process" in text.splitlines()[0] and "[uvicorn.error]" in text.splitlines()[0]
    _check(text, "uvicorn.error", _APP)


def test_rich_handler_for_uvicorn_and_the_app(refused_port: int) -> None:
    """Rich's RichHandler (no logger column: the events carry none), alone and behind Render's timestamp column: its
    records with the time column left blank (the second repeats) are records there too, not a traceback's indented
    lines."""
    from rich.console import Console
    from rich.logging import RichHandler

    buf = io.StringIO()
    console = Console(file=buf, width=140, color_system=None)
    _serve({"h": {"()": lambda: one_second(RichHandler(console=console))}}, {})
    _app_logs(refused_port)
    text = buf.getvalue()
    lines = text.splitlines()
    assert "INFO     Started server process" in lines[0] and lines[-1].startswith(" " * 10)
    _check(text, None, None)


@pytest.mark.parametrize(("fmt", "on_render"), [("%(asctime)s %(levelname)s [%(name)s] %(message)s", False),
                                                ("%(levelname)s [%(name)s] %(message)s", True)])
def test_a_crash_loop_in_the_bracketed_logger_format_is_a_restart_loop(fmt: str, on_render: bool, refused_port: int,
                                                                       tmp_path: Path) -> None:
    """Three starts of a real uvicorn server with failures logged after each: triage derives the restart loop from
    the starts in this format (as it does from uvicorn's own layout), alone and behind Render's timestamp column."""
    text = "".join(_stdlib_log(fmt, refused_port) for _ in range(3))
    if on_render:
        text = "".join(f"2026-12-06T10:00:{i % 60:02d}.000000Z {line}\n" for i, line in enumerate(text.splitlines()))
    log = tmp_path / "app.log"
    log.write_text(text)
    r = subprocess.run([sys.executable, "-m", "mosaic_diag", "triage", str(log), "--format", "json"],
                       capture_output=True, text=True, timeout=60)
    events = json.loads(r.stdout)["events"]
    assert [e["line"] for e in events if e["label"] == "RENDER_RESTART_LOOP"] == [1]
    assert sum(e["label"] == "ENV_VAR_MISSING" for e in events) >= 1
