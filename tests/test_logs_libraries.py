"""Logs written by the logging libraries Python apps use besides stdlib logging: loguru, structlog's
console renderer, Rich's RichHandler and traceback boxes, uvicorn's coloured levels.

Every text is printed by the real library in the test run, around real failures (psycopg2 against the
test PostgreSQL, `json.loads` of a bad PS101 file), then read as a file and as a stream cut into tiny
blocks (the reader's candidate search), and classified.
"""

from __future__ import annotations

import io
import json
import logging
import os
import re
import subprocess
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import ModuleType

import pytest

from examples.pgtemp import TempPostgres
from mosaic_diag.classifier.classify import Classifier
from mosaic_diag.classifier.tracebacks import parse_traceback_text
from mosaic_diag.logs.model import RawEvent
from mosaic_diag.triage.events import EventClassifier
from tests.app_servers import gunicorn_argv
from tests.cli_inproc import run_cli  # (triage run in this process)
from tests.isolation import loggers_kept
from tests.test_logs_support import module_at, one_second, read


def _pg_failure(dsn: str) -> Callable[[], None]:
    def connect() -> None:
        import psycopg2

        psycopg2.connect(dsn, connect_timeout=10).close()

    return connect


def _bad_steps() -> None:
    json.loads('{"steps": [{"id": 1,}]}')


def _label(event: RawEvent) -> str:
    return EventClassifier(Classifier.default()).event(event).label


def _events(text: str) -> list[RawEvent]:
    """The error events of `text`, read whole and read in 7-byte blocks: the same either way."""
    data = text.encode()
    events, _ = read(data)
    small, _ = read(data, block_size=7)
    assert [(e.line, e.end_line, e.message) for e in small] == [(e.line, e.end_line, e.message) for e in events]
    return [e for e in events if e.kind == "error"]


def _filler(n: int) -> str:
    return "".join(f"2026-12-06 08:00:{i % 60:02d}.000 | INFO     | api.app:serve:10 - served {i}\n" for i in range(n))


# -- loguru -------------------------------------------------------------------------------------------------

class _Utf8IO(io.StringIO):
    """A text sink that says it is UTF-8 (loguru then draws its notes with box characters)."""

    encoding = "utf-8"


def _loguru_text(pg: TempPostgres, *, colorize: bool, utf8: bool = True) -> str:
    from loguru import logger

    buf = _Utf8IO() if utf8 else io.StringIO()
    sink = logger.add(buf, colorize=colorize, backtrace=True, diagnose=True)
    try:
        log = logger.bind()
        log.info("served /health")
        try:
            _pg_failure(pg.dsn(password="wrong-password"))()
        except Exception:
            log.exception("Database operation failed")
        try:
            _bad_steps()
        except ValueError:
            log.opt(exception=True).error("PS101 step file unreadable")
        log.warning("slow request")
        log.error("Upstream failed: {}", "rate limit")
    finally:
        logger.remove(sink)
    return buf.getvalue()


@pytest.mark.parametrize(("colorize", "utf8"), [(False, True), (True, True), (False, False)])
def test_loguru_records_and_tracebacks(pg: TempPostgres, colorize: bool, utf8: bool) -> None:
    text = _loguru_text(pg, colorize=colorize, utf8=utf8)
    assert ("\x1b[" in text) is colorize
    assert "> File" in text and ("└" in text) is utf8  # loguru's own traceback: marked frame, variable notes
    db, steps, upstream = _events(text)
    assert db.level == "ERROR" and db.message == "Database operation failed"
    assert db.logger == __name__ and db.timestamp is not None
    assert 'FATAL:  password authentication failed for user "mosaic"' in db.traceback
    assert _label(db) == "PG_AUTH_FAILED"
    assert steps.message == "PS101 step file unreadable" and steps.line > db.end_line
    assert steps.traceback.rstrip().splitlines()[-1].startswith("json.decoder.JSONDecodeError: Expecting")
    cls = Classifier.default().classify_text(steps.traceback)
    assert cls.exception_type == "json.decoder.JSONDecodeError"
    assert upstream.message == "Upstream failed: rate limit" and upstream.traceback is None
    assert upstream.line == text.count("\n")  # the last line: the warning before it is not an event


def test_loguru_errors_among_many_lines_are_found(pg: TempPostgres) -> None:
    text = _filler(3000) + _loguru_text(pg, colorize=False) + _filler(3000)
    assert [e.message for e in _events(text)] == ["Database operation failed", "PS101 step file unreadable",
                                                 "Upstream failed: rate limit"]


# -- structlog's console renderer ---------------------------------------------------------------------------

def _structlog_text(pg: TempPostgres, *, formatter: str, colors: bool, timestamp: bool) -> str:
    import structlog

    buf = io.StringIO()
    processors: list = [structlog.processors.add_log_level]
    if timestamp:
        processors.append(structlog.processors.TimeStamper(fmt="iso"))
    exc_formatter = {"plain": structlog.dev.plain_traceback, "rich": structlog.dev.rich_traceback}[formatter]
    processors.append(structlog.dev.ConsoleRenderer(colors=colors, exception_formatter=exc_formatter))
    log = structlog.wrap_logger(structlog.PrintLogger(buf), processors=processors)
    log.info("request served", path="/health")
    log.error("Database operation failed", error='column "score" does not exist')
    try:
        _pg_failure(pg.dsn(password="wrong-password"))()
    except Exception:
        log.exception("login failed", user="mosaic")
    log.warning("slow")
    return buf.getvalue()


@pytest.mark.parametrize(("formatter", "colors", "timestamp"),
                         [("plain", False, True), ("rich", False, True), ("plain", True, False),
                          ("rich", True, False)])
def test_structlog_console_records_and_tracebacks(pg: TempPostgres, formatter: str, colors: bool,
                                                  timestamp: bool) -> None:
    text = _structlog_text(pg, formatter=formatter, colors=colors, timestamp=timestamp)
    assert ("╭" in text) is (formatter == "rich")
    column, login = _events(text)
    assert column.line == 2 and column.level == "ERROR" and column.traceback is None
    assert (column.timestamp is not None) is timestamp
    assert column.message.startswith("Database operation failed") and 'column "score" does not exist' in column.message
    assert _label(column) == "MISSING_COLUMN"
    assert login.line == 3 and login.message.startswith("login failed")
    assert "password authentication failed" in login.traceback
    assert _label(login) == "PG_AUTH_FAILED"
    lines = text.splitlines()
    last = max(i for i, line in enumerate(lines[:-1], 1) if line.strip())  # the traceback runs up to the warning
    assert login.end_line == last and "slow" in lines[-1]


@pytest.mark.parametrize("colors", [False, True])
def test_structlog_console_levels_are_counted_by_their_level(tmp_path: Path, colors: bool) -> None:
    """structlog writes its levels lower-case and padded (`[warning  ]`, `[debug    ]`): the lines passed
    over between error candidates are counted by that level in the triage report, not as INFO."""
    import structlog

    buf = io.StringIO()
    log = structlog.wrap_logger(structlog.PrintLogger(buf), processors=[
        structlog.processors.add_log_level, structlog.processors.TimeStamper(fmt="iso"),
        structlog.dev.ConsoleRenderer(colors=colors)])
    for half in range(2):
        for i in range(40):
            log.info("request served", path="/health", n=i)
            log.warning("slow request", ms=1200 + i)
            log.debug("cache miss", key=f"k{i}")
        if not half:
            try:
                _bad_steps()
            except ValueError:
                log.exception("PS101 step file unreadable")
    text = buf.getvalue()
    assert ("\x1b[" in text) is colors and "[warning  ]" in re.sub(r"\x1b\[[0-9;]*m", "", text)
    want = {"INFO": 80, "WARNING": 80, "DEBUG": 80, "ERROR": 1}
    for block_size in (1 << 20, 7):
        _, stats = read(text.encode(), block_size=block_size)
        assert dict(stats.levels) == want, block_size
    log_path = tmp_path / "app.log"
    log_path.write_text(text)
    report = json.loads(run_cli(["triage", str(log_path), "--format", "json"]).stdout)
    assert report["summary"]["levels"] == want
    assert [e["line"] for e in report["events"]] == [121]


_PREFECT_1_FORMAT = ("[%(asctime)s] %(levelname)s - %(name)s | %(message)s", "%Y-%m-%d %H:%M:%S%z")


@pytest.mark.parametrize("formatter", ["plain", "rich"])
def test_structlog_records_inside_prefect_1_records(pg: TempPostgres, formatter: str) -> None:
    """Prefect 1 logs each line a ShellTask's command prints as a record of its own at INFO (its format string,
    `[TS] INFO - prefect.ShellTask | line`; as pasted in https://github.com/meltano/meltano/issues/7333, see
    tests/realworld/layouts.yml): the structlog records inside are read with their own level, a traceback printed
    line by line stays one event, and Prefect's own ERROR record with its traceback under it is one event too."""
    inner = _structlog_text(pg, formatter=formatter, colors=False, timestamp=True)
    buf = io.StringIO()
    handler = logging.StreamHandler(buf)
    handler.setFormatter(logging.Formatter(*_PREFECT_1_FORMAT))
    with loggers_kept("prefect.CloudTaskRunner", "prefect.ShellTask") as (runner, shell):
        for lg in (runner, shell):
            lg.addHandler(handler)
            lg.propagate = False
            lg.setLevel(logging.INFO)
        runner.info("Task 'ShellTask': Starting task run...")
        for line in inner.splitlines():  # what a ShellTask does with its command's output
            shell.info(line)
        shell.error("Command failed with exit code 1")
        try:
            _bad_steps()
        except ValueError:
            runner.exception("Task 'ShellTask': Exception encountered during task execution!")
        runner.info("Task 'ShellTask': Finished task run for task with final state: 'Failed'")
    text = buf.getvalue()
    lines = text.splitlines()
    assert lines[2].startswith("[") and " INFO - prefect.ShellTask | " in lines[2] and "[error    ]" in lines[2]
    column, login, command, task = _events(text)
    assert (column.line, column.level, column.logger) == (3, "ERROR", "prefect.ShellTask")
    assert column.message.startswith("Database operation failed") and column.timestamp is not None
    assert _label(column) == "MISSING_COLUMN"
    assert login.line == 4 and login.message.startswith("login failed") and login.level == "ERROR"
    assert "password authentication failed" in login.traceback and _label(login) == "PG_AUTH_FAILED"
    warning = next(i for i, line in enumerate(lines, 1) if "[warning  ] slow" in line)
    assert login.end_line == max(i for i, line in enumerate(lines[:warning - 1], 1)
                                 if line.split(" | ", 1)[1].strip())  # the traceback runs up to the warning
    assert (command.line, command.level, command.message) == (warning + 1, "ERROR", "Command failed with exit code 1")
    assert task.line == warning + 2 and task.message.startswith("Task 'ShellTask': Exception encountered")
    assert task.traceback.rstrip().splitlines()[-1].startswith("json.decoder.JSONDecodeError: Expecting")
    assert task.end_line == len(lines) - 1  # not Prefect's next record
    for block_size in (1 << 20, 7):
        _, stats = read(text.encode(), block_size=block_size)
        assert stats.levels["WARNING"] == 1 and stats.levels["ERROR"] == 4, block_size


# -- Rich: RichHandler and its traceback boxes --------------------------------------------------------------

@pytest.mark.parametrize("width", [80, 100, 200])  # narrow boxes fold a frame's path and function name
def test_rich_handler_records_wrapped_messages_and_traceback_boxes(pg: TempPostgres, width: int,
                                                                   refused_port: int) -> None:
    from rich.console import Console
    from rich.logging import RichHandler

    buf = io.StringIO()
    handler = one_second(RichHandler(console=Console(file=buf, width=width), rich_tracebacks=True))
    refused = pg.dsn(port=refused_port)
    # (the example app's logger: left not propagating, its records never reached a later test's caplog)
    with loggers_kept("api.storage") as (log,):
        log.addHandler(handler)
        log.propagate = False
        log.setLevel(logging.INFO)
        log.info("starting")
        try:
            _pg_failure(refused)()
        except Exception as exc:
            log.error("Database operation failed: %s", str(exc).strip())  # wrapped over three lines
        try:
            try:
                _bad_steps()
            except ValueError as exc:
                raise RuntimeError("PS101 steps unreadable") from exc
        except RuntimeError:
            log.exception("could not load the PS101 steps")
        log.warning("slow")
    text = buf.getvalue()
    lines = text.splitlines()
    assert lines[1].startswith(" ") and "ERROR" in lines[1]  # the time column left blank: same second
    failed, steps = _events(text)
    assert failed.line == 2 and failed.level == "ERROR" and failed.traceback is None
    assert "Connection refused" in failed.message and "Is the server running" in failed.message
    assert _label(failed) == "PG_CONNECTION_FAILED"
    assert steps.message == "could not load the PS101 steps"
    tops = [line for line in steps.traceback.splitlines() if line.lstrip().startswith("╭") and "Traceback" in line]
    assert len(tops) == 2  # (a narrow box cuts its title: "Traceback (most rec")
    cls = Classifier.default().classify_text(steps.traceback)
    assert cls.exception_type == "RuntimeError"
    chain = parse_traceback_text(steps.traceback)
    assert [(e.type, len(e.frames) > 0) for e in chain] == [("JSONDecodeError", True), ("RuntimeError", True)]
    assert chain[0].message == "Expecting property name enclosed in double quotes: line 1 column 21 (char 20)"
    assert lines[steps.end_line].lstrip().startswith(("WARNING", "[")) and "slow" in lines[steps.end_line]


def _module_at(path: Path, source: str) -> ModuleType:
    """The module of `source` written to `path` and imported from there (its frames name that path)."""
    return module_at(path, source, f"app_{abs(hash(str(path)))}")


def test_rich_traceback_frames_are_read_wherever_the_code_is(tmp_path: Path) -> None:
    """Rich folds a frame's `path:line in function` over the box's lines at its width, so where the breaks fall
    depends on how long the path is (the checkout's, for the app's own frames): a path with a blank in it (`/tmp/my
    checkout/…`) was no frame at all, nor one whose full line ended where a blank of ` in ` stood (`…/app.py:5 in` /
    `load_steps`, the blank Rich broke at taken for a fold inside a word: the suite failed at some checkout paths).
    Each length of the folder's name from 1 to past the box's width (every column a break can fall at): every frame
    read, the app's with its line and function (its path without the blanks Rich broke the path itself at, where a
    fold could be one)."""
    from rich.console import Console
    from rich.traceback import Traceback

    source = ("import json\n\n\ndef load_steps_from_the_uploaded_file():\n    json.loads('{\"steps\": [1,]}')\n\n\n"
              "def failure():\n    try:\n        load_steps_from_the_uploaded_file()\n"
              "    except ValueError as exc:\n        return exc\n")
    wrong = []
    for n in range(1, 60):
        path = tmp_path / "my checkout" / ("d" * n) / "app.py"
        error = _module_at(path, source).failure()
        out = io.StringIO()  # (a box 56 columns wide inside)
        Console(file=out, width=60, color_system=None).print(Traceback.from_exception(  # (json's source not shown)
            type(error), error, error.__traceback__, extra_lines=0, suppress=[json]))
        (parsed,) = parse_traceback_text(out.getvalue())
        frames = [(f.file.replace(" ", ""), f.line, f.function) for f in parsed.frames]
        app = str(path).replace(" ", "")
        if parsed.type != "JSONDecodeError" or len(frames) != 5 or \
                frames[:2] != [(app, 10, "failure"), (app, 5, "load_steps_from_the_uploaded_file")]:
            wrong.append((n, parsed.type, frames[:2]))
    assert wrong == []


def test_rich_handler_traceback_text_whose_frame_path_the_column_folds_is_read(refused_port: int,
                                                                                   tmp_path: Path) -> None:
    """RichHandler without Rich's tracebacks prints the plain traceback in its message column, word-wrapped: a frame
    line whose path is longer than the column breaks after `File` and folds inside the path (`File` / `"/tmp/portable-a
    -rather-long-checkout-…/tests/test_logs_configur` / `ed.py", line 77, in _failures`). With that frame first the
    column was not found, the traceback was read as text and the record was UNKNOWN_ERROR (from a checkout at a long
    path). Each length of the folder's name up to past the column's width (every one: a path that fills the column's
    last line puts the blank before `line N` at the next line's start, which under pytest-xdist's longer temporary
    folder one length in three missed), in a folder with a blank in its name (Rich breaks the path there: the path
    was read without it, under a --basetemp with a blank in it): the label, and the app's frame read, its path
    whole."""
    from rich.console import Console
    from rich.logging import RichHandler

    source = ("import psycopg2\n\n\ndef open_the_session_store(port):\n"
              "    psycopg2.connect(host='127.0.0.1', port=port, dbname='m', user='u', connect_timeout=5)\n\n\n"
              "def serve(log, port):\n    try:\n        open_the_session_store(port)\n"
              "    except Exception:\n        log.exception('session store unavailable')\n")
    wrong = []
    for n in range(1, 100):
        path = tmp_path / "my checkout" / ("d" * n) / "app.py"
        module = _module_at(path, source)
        buf = io.StringIO()
        with loggers_kept("app.sessions") as (log,):
            log.addHandler(one_second(RichHandler(console=Console(file=buf, width=120, color_system=None))))
            log.propagate = False
            module.serve(log, refused_port)
        (event,) = _events(buf.getvalue())
        first = parse_traceback_text(event.traceback or "")[-1].frames[:2]
        got = (_label(event), [(f.file, f.line, f.function) for f in first])
        if got != ("PG_CONNECTION_FAILED", [(str(path), 10, "serve"), (str(path), 5, "open_the_session_store")]):
            wrong.append((n, got))
    assert wrong == []


def _rich_log_at(stamps: list[tuple[datetime, int, str]], time_format: str, head: str = "") -> str:
    """RichHandler's output of records logged at the given local times (level, message): the real handler,
    its clock set through `record.created`."""
    from rich.console import Console
    from rich.logging import RichHandler

    buf = io.StringIO(head)
    buf.seek(len(head))
    handler = RichHandler(console=Console(file=buf, width=120), log_time_format=time_format)
    when = iter(stamps)

    def at(record: logging.LogRecord) -> bool:
        record.created = next(when)[0].timestamp()
        return True

    handler.addFilter(at)
    with loggers_kept("api.jobs") as (log,):
        log.addHandler(handler)
        log.propagate = False
        log.setLevel(logging.INFO)
        for _, level, message in stamps:
            log.log(level, message)
    return buf.getvalue()


_NIGHT = datetime(2026, 12, 5, 23, 59, 10)  # local times, as RichHandler writes them
_OVER_MIDNIGHT = [(_NIGHT, logging.INFO, "nightly export started"),
                  (_NIGHT + timedelta(seconds=48), logging.ERROR, "export failed: connection reset"),  # 23:59:58
                  (_NIGHT + timedelta(seconds=53), logging.INFO, "retrying"),  # 00:00:03, the next day
                  (_NIGHT + timedelta(seconds=54), logging.ERROR, "export failed again"),
                  (_NIGHT + timedelta(seconds=54, microseconds=500), logging.ERROR, "giving up"),  # same second
                  (_NIGHT + timedelta(minutes=30, seconds=50), logging.ERROR, "cleanup failed")]  # 00:30:00
_OVER_MIDNIGHT_ERRORS = [(i, t) for i, (t, level, _) in enumerate(_OVER_MIDNIGHT) if level == logging.ERROR]


def _utc(local: datetime) -> datetime:
    return local.replace(microsecond=0, tzinfo=UTC)  # the reader takes naive times as UTC


@pytest.mark.parametrize("time_format", ["[%x %X]", "[%X]"])
def test_rich_handler_time_column_dates_its_records_over_midnight(time_format: str) -> None:
    """RichHandler's time column: `[%x %X]` (its default) dates a record; `[%X]` writes the time of day alone,
    dated from the last full timestamp before it (here stdlib logging's asctime), a day later after midnight;
    a blank column (the same second again) is the time last written."""
    head = "2026-12-05 23:58:30,000 INFO api: starting\n"
    text = _rich_log_at(_OVER_MIDNIGHT, time_format, head)
    lines = text.splitlines()
    assert lines[5].startswith(" ") and "giving up" in lines[5]  # the column left blank
    assert ("[12/05/26 23:59:58]" in text) is (time_format == "[%x %X]")
    assert "[00:30:00]" in text.replace("[12/06/26 ", "[")
    want = [(i + 2, _utc(t)) for i, t in _OVER_MIDNIGHT_ERRORS]
    for block_size in (1 << 20, 7):
        events, stats = read(text.encode(), block_size=block_size)
        assert [(e.line, e.timestamp) for e in events] == want, block_size
        assert (stats.first_ts, stats.last_ts) == (datetime(2026, 12, 5, 23, 58, 30, tzinfo=UTC), want[-1][1])


def test_rich_handler_times_of_day_alone_are_dated_by_the_files_last_write(tmp_path: Path) -> None:
    """A log of times of day with no date anywhere: the file's mtime dates them (the day before for the times
    later in the day than the last write, so a log written over midnight is dated right); from stdin, where
    there is no file to ask, they stay undated."""
    text = _rich_log_at(_OVER_MIDNIGHT, "[%X]")
    assert "/" not in text and "[23:59:58]" in text
    log = tmp_path / "worker.log"
    log.write_text(text)
    written = (_OVER_MIDNIGHT[-1][0] + timedelta(minutes=1)).timestamp()
    os.utime(log, (written, written))

    def triage(*args: str, stdin: str | None = None) -> list[tuple[int, str | None]]:
        r = run_cli(["triage", *args, "--format", "json"], stdin=stdin)
        return [(e["line"], e["timestamp"]) for e in json.loads(r.stdout)["events"]]

    assert triage(str(log)) == [(i + 1, _utc(t).isoformat()) for i, t in _OVER_MIDNIGHT_ERRORS]
    assert triage("-", stdin=text) == [(i + 1, None) for i, _ in _OVER_MIDNIGHT_ERRORS]


# -- uvicorn's coloured levels ------------------------------------------------------------------------------

def test_uvicorn_coloured_levels(pg: TempPostgres) -> None:
    from uvicorn.logging import DefaultFormatter

    buf = io.StringIO()
    handler = logging.StreamHandler(buf)
    handler.setFormatter(DefaultFormatter("%(levelprefix)s %(message)s", use_colors=True))
    with loggers_kept("uvicorn.error") as (log,):
        log.addHandler(handler)
        log.setLevel(logging.INFO)
        log.propagate = False
        log.info("Started server process [8]")
        try:
            _pg_failure(pg.dsn(password="wrong-password"))()
        except Exception:
            log.exception("Exception in ASGI application")
    text = buf.getvalue()
    assert "\x1b[" in text
    (crash,) = _events(text)
    assert crash.line == 2 and crash.logger == "uvicorn.error" and crash.message == "Exception in ASGI application"
    assert _label(crash) == "PG_AUTH_FAILED"


def test_triage_of_a_loguru_log_shows_no_password_from_its_value_notes(pg: TempPostgres, tmp_path: Path) -> None:
    """loguru's `diagnose` notes print the values of a frame's variables, the DSN and its password among
    them: the triage report names the events and shows none of it."""
    text = _loguru_text(pg, colorize=True)
    assert "wrong-password" in text
    log = tmp_path / "app.log"
    log.write_text(text)
    for fmt in ("json", "table"):
        r = run_cli(["triage", str(log), "--format", fmt], env={"COLUMNS": "200"})
        assert r.returncode == 1, r.stderr
        assert "wrong-password" not in r.stdout + r.stderr
        assert "PG_AUTH_FAILED" in r.stdout
    report = json.loads(run_cli(["triage", str(log), "--format", "json"]).stdout)
    assert [e["line"] for e in report["events"]] == [e.line for e in _events(text)]


def test_loguru_serialized_json(pg: TempPostgres) -> None:
    """loguru's `serialize=True`: one JSON object a line, the formatted text (traceback included) and the
    record (level, message, logger, time) in it."""
    from loguru import logger

    buf = io.StringIO()
    sink = logger.add(buf, serialize=True)
    try:
        logger.info("served /health")
        try:
            _pg_failure(pg.dsn(password="wrong-password"))()
        except Exception:
            logger.exception("Database operation failed")
        logger.error("Upstream failed: rate limit")
    finally:
        logger.remove(sink)
    text = buf.getvalue()
    db, upstream = _events(text)
    assert (db.line, db.level, db.logger, db.message) == (2, "ERROR", __name__, "Database operation failed")
    assert db.timestamp is not None and db.traceback.startswith("Traceback (most recent call last):")
    assert _label(db) == "PG_AUTH_FAILED"
    assert (upstream.line, upstream.message, upstream.traceback) == (3, "Upstream failed: rate limit", None)


# -- gunicorn's error log -----------------------------------------------------------------------------------

_WSGI_APP = '''
import os, time


def app(environ, start_response):
    path = environ["PATH_INFO"]
    if path == "/hang":
        time.sleep(120)
    if path == "/db":
        import psycopg2
        psycopg2.connect(os.environ["BAD_DSN"], connect_timeout=10)
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"ok"]
'''


def _wait_for(path: Path, needle: str, count: int = 1, deadline: float = 90.0) -> str:
    """The log once `needle` is in it `count` times (polled; the deadline only stops a hung test)."""
    import time

    end = time.monotonic() + deadline
    while time.monotonic() < end:
        text = path.read_text(errors="replace") if path.exists() else ""
        if text.count(needle) >= count:
            return text
        time.sleep(0.1)
    raise AssertionError(f"{needle!r} x{count} never logged:\n{path.read_text(errors='replace')}")


def test_gunicorn_error_log(pg: TempPostgres, tmp_path: Path, refused_port: int) -> None:
    """gunicorn's own records (`[TS] [pid] [LEVEL] message`) around a request that fails on PostgreSQL, a worker
    killed for not answering within --timeout, and a worker killed by SIGKILL as the OOM killer does; nothing else,
    under a HOME at any path (gunicorn 25.1's control socket under it logged `AF_UNIX path too long` at a long one)."""
    import signal
    import socket
    import threading
    import urllib.error
    import urllib.request

    (tmp_path / "wsgiapp.py").write_text(_WSGI_APP)
    log = tmp_path / "error.log"
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    home = tmp_path / ("home-" + "h" * 110)  # (past an AF_UNIX path's length, as under a long temporary folder)
    home.mkdir()
    env = {**os.environ, "BAD_DSN": pg.dsn(port=refused_port), "HOME": str(home), "PYTHONPATH": str(tmp_path)}
    env.pop("XDG_RUNTIME_DIR", None)
    proc = subprocess.Popen(gunicorn_argv("--bind", f"127.0.0.1:{port}", "--workers", "1",
                                          "--timeout", "2", "--error-logfile", str(log), "wsgiapp:app"),
                            cwd=tmp_path, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        _wait_for(log, "Booting worker with pid")
        with pytest.raises(urllib.error.HTTPError):
            urllib.request.urlopen(f"http://127.0.0.1:{port}/db", timeout=60)

        hung: list[OSError] = []

        def hang() -> None:
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/hang", timeout=60)
            except OSError as exc:  # the worker is killed under this request
                hung.append(exc)

        threading.Thread(target=hang, daemon=True).start()
        text = _wait_for(log, "Booting worker with pid", count=2)  # the timed-out worker was replaced
        worker = int(re.findall(r"Booting worker with pid: (\d+)", text)[-1])
        os.kill(worker, signal.SIGKILL)
        _wait_for(log, "was sent SIGKILL")
    finally:
        proc.terminate()
        proc.wait(timeout=60)
    text = log.read_text()
    events = _events(text)
    by_label = {}
    for e in events:
        by_label.setdefault(_label(e), []).append(e)
    (db,) = by_label["PG_CONNECTION_FAILED"]
    assert db.message == "Error handling request GET /db" and db.level == "ERROR" and db.timestamp is not None
    assert "psycopg2.OperationalError" in db.traceback
    timeouts = by_label["APP_TIMEOUT"]
    assert any(e.message.startswith("WORKER TIMEOUT (pid:") and e.level == "CRITICAL" for e in timeouts)
    # (the arbiter may SIGKILL the timed-out worker too, and says "Perhaps out of memory?" for that one as well)
    oom = [e for e in by_label["RENDER_OUT_OF_MEMORY"] if f"(pid:{worker})" in e.message]
    assert [e.message for e in oom] == [f"Worker (pid:{worker}) was sent SIGKILL! Perhaps out of memory?"]
    assert oom[0].level == "ERROR"
    assert set(by_label) <= {"PG_CONNECTION_FAILED", "APP_TIMEOUT", "RENDER_OUT_OF_MEMORY"}, by_label
    # triage: a SIGKILL of the worker that timed out (if the arbiter had to send one) is the timeout's
    report = json.loads(run_cli(["triage", str(log), "--format", "json"]).stdout)
    kills = {re.search(r"pid:(\d+)", e["message"]).group(1): e["label"] for e in report["events"]
             if "was sent SIGKILL" in e["message"]}
    timed_out = {re.search(r"pid:(\d+)", e["message"]).group(1) for e in report["events"]
                 if e["message"].startswith("WORKER TIMEOUT")}
    assert kills[str(worker)] == "RENDER_OUT_OF_MEMORY" and str(worker) not in timed_out
    assert all(label == "APP_TIMEOUT" for pid, label in kills.items() if pid in timed_out)


def test_gunicorn_kill_of_a_timed_out_worker_is_the_timeout(tmp_path: Path) -> None:
    """As pasted in https://github.com/open-runtimes/open-runtimes/pull/330 (the maintainers' finding: the
    worker timed out, it did not run out of memory), then a later SIGKILL of another worker (the OOM killer)."""
    log = tmp_path / "gunicorn.log"
    kill = "[ERROR] Worker (pid:{}) was sent SIGKILL! Perhaps out of memory?"
    log.write_text("[2024-11-05 09:25:59 +0000] [16] [CRITICAL] WORKER TIMEOUT (pid:17)\n"
                   f"[2024-11-05 09:26:00 +0000] [16] {kill.format(17)}\n"
                   f"[2024-11-05 09:41:00 +0000] [16] {kill.format(18)}\n"
                   "[2024-11-05 09:45:00 +0000] [16] [CRITICAL] WORKER TIMEOUT (pid:19)\n"
                   f"[2024-11-05 09:55:00 +0000] [16] {kill.format(19)}\n")
    r = run_cli(["triage", str(log), "--format", "json"])
    events = json.loads(r.stdout)["events"]
    assert [(e["line"], e["label"], e["severity"]) for e in events] == [
        (1, "APP_TIMEOUT", "high"), (2, "APP_TIMEOUT", "high"), (3, "RENDER_OUT_OF_MEMORY", "critical"),
        (4, "APP_TIMEOUT", "high"), (5, "RENDER_OUT_OF_MEMORY", "critical")]  # (10 minutes later: not the kill)


def test_journald_lines_of_a_gunicorn_service(tmp_path: Path) -> None:
    """`journalctl` output of a gunicorn service, as pasted in https://github.com/benoitc/gunicorn/issues/3233:
    the journal's prefix is peeled (one stream per process), gunicorn's records are read under it, and what
    the arbiter says of the timed-out worker afterwards is the timeout's."""
    text = (
        "Jul 05 09:13:44 webapps wsgi.sh[3129704]: [2024-07-05 09:13:44 +0200] [3129704] [CRITICAL] WORKER TIMEOUT "
        "(pid:3129714)\n"
        "Jul 05 09:13:44 webapps wsgi.sh[3129714]: [2024-07-05 09:13:44 +0200] [3129714] [INFO] Worker exiting "
        "(pid: 3129714)\n"
        "Jul 05 09:13:44 webapps wsgi.sh[3129714]: Aiwa gunicorn (env production), with bind unix:aiwa.sock\n"
        "Jul 05 09:13:44 webapps wsgi.sh[3129704]: [2024-07-05 09:13:44 +0200] [3129704] [ERROR] Worker "
        "(pid:3129714) exited with code 1\n"
        "Jul 05 09:13:44 webapps wsgi.sh[3129704]: [2024-07-05 09:13:44 +0200] [3129704] [ERROR] Worker "
        "(pid:3129714) exited with code 1.\n"
        "Jul 05 09:13:44 webapps wsgi.sh[3154335]: [2024-07-05 09:13:44 +0200] [3154335] [INFO] Booting worker with "
        "pid: 3154335\n")
    events = _events(text)
    assert [(e.line, e.level, e.instance) for e in events] == [
        (1, "CRITICAL", "wsgi.sh[3129704]"), (4, "ERROR", "wsgi.sh[3129704]"), (5, "ERROR", "wsgi.sh[3129704]")]
    assert events[0].timestamp is not None and events[0].timestamp.utcoffset() is not None
    log = tmp_path / "journal.log"
    log.write_text(text)
    r = run_cli(["triage", str(log), "--format", "json"])
    assert [(e["line"], e["label"]) for e in json.loads(r.stdout)["events"]] == [
        (1, "APP_TIMEOUT"), (4, "APP_TIMEOUT"), (5, "APP_TIMEOUT")]

# -- forms seen in users' pastes (tests/realworld/layouts.yml) -------------------------------------------------

def _frozen_frames() -> None:
    import runpy

    runpy.run_path("/nonexistent/steps.py")  # frames of <frozen runpy>: no source line to print


def test_loguru_traceback_with_frames_without_source_or_notes_is_one_event() -> None:
    """loguru puts a blank line after every frame; a frame with no source (`<frozen runpy>`) or no notes
    (`diagnose=False`) is still followed by one: the traceback goes on to its exception line."""
    from loguru import logger

    for diagnose in (True, False):
        buf = io.StringIO()
        sink = logger.add(buf, colorize=False, backtrace=True, diagnose=diagnose)
        try:
            try:
                _frozen_frames()
            except Exception:
                logger.exception("")
        finally:
            logger.remove(sink)
        text = buf.getvalue()
        assert '\n\n  File "<frozen runpy>"' in text or not diagnose
        (event,) = _events(text)
        assert (event.line, event.level, event.message) == (1, "ERROR", "")
        assert event.end_line == len(text.splitlines())
        assert event.traceback.rstrip().endswith("No such file or directory: '/nonexistent/steps.py'")


@pytest.mark.parametrize("fmt", [
    "{time:YYYY-MM-DD HH:mm:ss} | {level} | \"{file.path}:{line}\": {function} - {message}",
    "{time} | {level} | {message}",
])
def test_loguru_custom_formats_that_keep_time_and_level_in_front(fmt: str) -> None:
    from loguru import logger

    buf = io.StringIO()
    sink = logger.add(buf, colorize=False, format=fmt)
    try:
        logger.info("start, try: 2")
        logger.error("failed to generate script: Error code: 503")
        logger.warning("trying again... 1")
    finally:
        logger.remove(sink)
    (event,) = _events(buf.getvalue())
    assert (event.line, event.level, event.message) == (2, "ERROR", "failed to generate script: Error code: 503")


@pytest.mark.parametrize("fmt", [
    "{time} | {level} | {name}:{function}:{line} - {message}",
    "{time} | {level} | {name}:{function}:{line} | {message}",
    "{time} | {level: <8} | {name}:{line} - {message}",
    "{time} | {level} | {module}.{function}:{line} - {message}",
    "{time} | {level} | {file}:{line} - {message}",
    "{time:YYYY-MM-DD HH:mm:ss} | {level} | \"{file.path}:{line}\": {function} - {message}",
    "{time} | {level} | {message}",
])
def test_loguru_message_is_split_only_at_its_location_fields_separator(fmt: str) -> None:
    """The message starts after the " - " (or " | ") that ends the location field; a " - " in the message
    itself (after a `host:5432`, a DSN) does not cut it, and a message with no location field is kept whole."""
    from loguru import logger

    messages = ["connect to db.internal:5432 - connection refused - retry 3",
                "postgres://app@db.internal:5432/wimd - connection refused",
                "Upstream failed: api.openai.com:443 timed out - giving up"]
    buf = io.StringIO()
    sink = logger.add(buf, colorize=False, format=fmt)
    try:
        for m in messages:
            logger.error(m)
    finally:
        logger.remove(sink)
    events = _events(buf.getvalue())
    assert [(e.line, e.level, e.message) for e in events] == [(i, "ERROR", m) for i, m in enumerate(messages, 1)]
    if "{name}:{function}" in fmt:
        assert {e.logger for e in events} == {__name__}


def test_loguru_quoted_file_path_with_a_blank_is_its_location_field(tmp_path: Path) -> None:
    """`"{file.path}:{line}": {function} - {message}` logged from code in a folder with a blank in its name
    (`/home/me/my project`, a checkout at `/tmp/my checkout`): the quoted location is one field, the message starts
    after it (it started at the blank: the suite failed from a checkout at such a path)."""
    from loguru import logger

    fmt = "{time:YYYY-MM-DD HH:mm:ss} | {level} | \"{file.path}:{line}\": {function} - {message}"
    module = _module_at(tmp_path / "my project" / "app.py",
                        "def fail(logger):\n    logger.error('connect to db.internal:5432 - connection refused')\n")
    buf = io.StringIO()
    sink = logger.add(buf, colorize=False, format=fmt)
    try:
        module.fail(logger)
    finally:
        logger.remove(sink)
    assert f'"{tmp_path / "my project" / "app.py"}:2": fail - ' in buf.getvalue()
    assert [(e.line, e.level, e.message) for e in _events(buf.getvalue())] == [
        (1, "ERROR", "connect to db.internal:5432 - connection refused")]


def test_an_uncaught_exception_in_a_thread_starts_at_pythons_own_line() -> None:
    import contextlib
    import threading

    def worker() -> None:
        _bad_steps()

    buf = io.StringIO()
    hook = threading.excepthook  # (pytest puts its own in place: Python's prints the lines users see)
    threading.excepthook = threading.__excepthook__
    try:
        with contextlib.redirect_stderr(buf):
            t = threading.Thread(target=worker, name="Thread-10 (_output_queue_loop)")
            t.start()
            t.join()
    finally:
        threading.excepthook = hook
    text = "2026-12-06 08:00:01,000 INFO app: started\n" + buf.getvalue()
    assert text.splitlines()[1].startswith("Exception in thread Thread-10")
    (event,) = _events(text)
    assert event.line == 2 and event.message.startswith("json.decoder.JSONDecodeError")


def test_a_rich_traceback_box_cut_at_its_top_is_still_a_traceback() -> None:
    from rich.console import Console
    from rich.panel import Panel

    buf = io.StringIO()
    console = Console(file=buf, width=100, color_system=None)
    try:
        _bad_steps()
    except ValueError:
        console.print_exception()
    lines = buf.getvalue().splitlines()
    body = lines.index(next(s for s in lines if s.startswith("│ ") and ".py:" in s))
    cut = "\n".join(lines[body + 1:]) + "\n"  # the paste starts inside the box
    (event,) = _events(cut)
    assert event.line == 1 and event.message.startswith("JSONDecodeError: Expecting property name")
    # a box that is not a traceback, and a traceback box that never closes, are no events
    buf = io.StringIO()
    Console(file=buf, width=60, color_system=None).print(Panel("Deploy finished: 3 services"))
    assert _events("\n".join(buf.getvalue().splitlines()[1:]) + "\nDone: ok\n") == []
    assert _events("\n".join(lines[body + 1:body + 6]) + "\n") == []


def test_loguru_traceback_cut_before_its_exception_line_is_read_by_its_value_notes(llm) -> None:
    """loguru's `diagnose` traceback of a real openai ContentFilterFinishReasonError (the stand-in's `finish_reason`
    `content_filter`), pasted without its last line: no exception line is left, only the note under openai's own
    `raise ContentFilterFinishReasonError()` names it (`└ <class 'openai.ContentFilterFinishReasonError'>`). Triage
    reads what the cut traceback printed as the record's text, as `classify` reads the same paste alone; the event's
    message stays the record's."""
    import openai
    import pydantic
    from loguru import logger

    class Answer(pydantic.BaseModel):
        text: str

    llm.set_failure("openai", "refusal")
    client = openai.OpenAI(api_key="sk-test", base_url=llm.openai_base_url, max_retries=0)
    parse = getattr(client.chat.completions, "parse", None) or client.beta.chat.completions.parse
    buf = io.StringIO()
    sink = logger.add(buf, colorize=False, backtrace=False, diagnose=True,
                      format="{time:YYYY-MM-DD HH:mm:ss.SSS} | {level: <8} | {name}:{function}:{line} - {message}")
    try:
        logger.info("request started")
        try:
            parse(model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}], response_format=Answer)
        except openai.ContentFilterFinishReasonError:
            logger.exception("Structured answer failed")
        logger.info("next request")
    finally:
        logger.remove(sink)
    lines = buf.getvalue().rstrip("\n").split("\n")
    last = max(i for i, t in enumerate(lines) if t.startswith("openai.ContentFilterFinishReasonError"))
    assert any("<class 'openai.ContentFilterFinishReasonError'>" in t for t in lines[:last])
    whole = "\n".join(lines) + "\n"
    cut = "\n".join(lines[:last] + lines[-1:]) + "\n"  # (the exception line dropped, the next record kept)
    for text in (whole, cut):
        (event,) = _events(text)
        got = EventClassifier(Classifier.default()).event(event)
        assert got.label == "OPENAI_CONTENT_FILTERED", text is cut
        assert got.message.startswith("Could not parse response content" if text is whole
                                      else "Structured answer failed"), got.message
    paste = "\n".join(t for t in lines[1:last] if not t.startswith("Traceback"))  # (the paste alone, as classify reads)
    assert Classifier.default().classify_text(paste).label == "OPENAI_CONTENT_FILTERED"
