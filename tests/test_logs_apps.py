# ruff: noqa: E501, W291  (the real lines are kept whole, as the users pasted them, trailing spaces included)
"""Whole logs of apps shaped like Mosaic (held-out round 15, tests/realworld/README.md): FastAPI under uvicorn or
gunicorn, SQLAlchemy / asyncpg / sqlite3, asyncio tasks, in Docker Compose or run locally.

Each text is a real user's paste (its thread above it); `tests/realworld/layouts.yml` holds the whole excerpts.
Every text is read whole and in 7-byte blocks; each layout is also built around errors the real libraries raise in
the test run, logged by stdlib logging in that layout.
"""

from __future__ import annotations

import asyncio
import gc
import io
import logging
import sqlite3
from collections.abc import Callable
from pathlib import Path

import pytest

from mosaic_diag.classifier.classify import Classifier
from mosaic_diag.logs.lines import parse_line
from mosaic_diag.logs.model import RawEvent
from mosaic_diag.triage.events import EventClassifier
from tests.test_logs_support import BLOCKS, error_events

_errors = error_events


def _label(event: RawEvent) -> str:
    return EventClassifier(Classifier.default()).event(event).label


def _logging(fmt: str, name: str) -> tuple[logging.Logger, io.StringIO, Callable[[], None]]:
    """A logger writing `fmt` to a buffer, and the call that takes its handler off again."""
    buf = io.StringIO()
    handler = logging.StreamHandler(buf)
    handler.setFormatter(logging.Formatter(fmt))
    log = logging.getLogger(name)
    saved = log.propagate, log.level
    log.propagate, log.level = False, logging.INFO
    log.addHandler(handler)

    def done() -> None:
        log.removeHandler(handler)
        log.propagate, log.level = saved  # (a shared logger, asyncio's or gunicorn's, as it was)

    return log, buf, done


def _sqlite_error(db: Path) -> sqlite3.Error:
    try:
        sqlite3.connect(db).execute("SELECT id FROM sessions")
    except sqlite3.Error as e:
        return e
    raise AssertionError("the table exists")


# ------------------------------------------------------------------ "%(levelname)-5.5s [%(name)s] %(message)s"

# https://github.com/open-webui/open-webui/issues/6774 (its first line cut by the paste; the banner as printed)
OPEN_WEBUI = r"""NFO  [open_webui.env] Embedding model set: sentence-transformers/all-MiniLM-L6-v2
INFO  [open_webui.apps.audio.main] whisper_device_type: cpu
WARNI [langchain_community.utils.user_agent] USER_AGENT environment variable not set, consider setting it to identify your requests.

  ___                    __        __   _     _   _ ___
 / _ \ _ __   ___ _ __   \ \      / /__| |__ | | | |_ _|
| | | | '_ \ / _ \ '_ \   \ \ /\ / / _ \ '_ \| | | || |
| |_| | |_) |  __/ | | |   \ V  V /  __/ |_) | |_| || |
 \___/| .__/ \___|_| |_|    \_/\_/ \___|_.__/ \___/|___|
      |_|

v0.3.35 - building the best open-source AI user interface.

https://github.com/open-webui/open-webui

INFO:     Started server process [316816]
INFO:     Waiting for application startup.
INFO:     Application startup complete.
INFO:     Uvicorn running on http://0.0.0.0:8080 (Press CTRL+C to quit)
INFO  [open_webui.apps.openai.main] get_all_models()
INFO  [open_webui.apps.openai.main] get_all_models()
INFO  [open_webui.apps.openai.main] get_all_models()
INFO  [open_webui.apps.openai.main] get_all_models()
INFO  [open_webui.apps.openai.main] get_all_models()
INFO  [open_webui.apps.openai.main] get_all_models()
INFO  [open_webui.apps.openai.main] get_all_models()
ERROR [open_webui.apps.openai.main] Connection error: 
INFO  [open_webui.apps.ollama.main] get_all_models()
"""


@pytest.mark.parametrize("block_size", BLOCKS)
def test_five_letter_levels_with_the_logger_in_brackets(block_size: int | None) -> None:
    """Alembic's default layout (Open WebUI's too): the level cut to five letters and padded, the logger in brackets.
    The ERROR record is the event, its message after the logger; INFO and `WARNI` records are records, no events."""
    (e,) = _errors(OPEN_WEBUI, block_size)
    assert (e.line, e.end_line, e.level, e.logger) == (27, 27, "ERROR", "open_webui.apps.openai.main")
    assert e.message.startswith("Connection error:")
    (warn,) = parse_line(OPEN_WEBUI.splitlines()[2])
    assert (warn.level, warn.logger, warn.record) == ("WARNING", "langchain_community.utils.user_agent", True)
    assert warn.message.startswith("USER_AGENT environment variable")
    (info,) = parse_line(OPEN_WEBUI.splitlines()[1])
    assert (info.level, info.logger, info.message) == ("INFO", "open_webui.apps.audio.main", "whisper_device_type: cpu")
    # another layout's four-letter "WARN [Context] …" (NestJS's) is not this one: it stays a plain line
    (other,) = parse_line("WARN [LinkedInService] Error fetching description: Request failed with status code 999")
    assert other.record is False


@pytest.mark.parametrize("block_size", BLOCKS)
def test_five_letter_layout_around_real_errors(block_size: int | None, tmp_path: Path) -> None:
    """Records of the real layout, written by stdlib logging: a real sqlite3 error logged with its traceback is one
    event over its lines (SQLITE_FALLBACK_ACTIVE), a CRITICAL record ("CRITI […]") is one, WARNING / INFO are none."""
    log, buf, done = _logging("%(levelname)-5.5s [%(name)s] %(message)s", "alembic.runtime.migration")
    try:
        log.info("Context impl SQLiteImpl.")
        log.info("Will assume non-transactional DDL.")
        log.warning("Revision abc123 is present more than once")
        try:
            raise _sqlite_error(tmp_path / "app.db")
        except sqlite3.Error:
            log.exception("loading sessions failed")
        log.critical("no database left to fall back to")
        log.info("done")
    finally:
        done()
    text = buf.getvalue()
    first, crit = _errors(text, block_size)
    assert (first.line, first.level, first.logger, first.message) == (4, "ERROR", "alembic.runtime.migration",
                                                                        "loading sessions failed")
    assert first.end_line == crit.line - 1 and "no such table: sessions" in first.traceback
    assert (crit.level, crit.message) == ("CRITICAL", "no database left to fall back to")
    assert text.splitlines()[crit.line - 1].startswith("CRITI [")
    assert _label(first) == "SQLITE_FALLBACK_ACTIVE"


def test_critical_cut_to_five_letters_is_looked_for_only_in_that_layout() -> None:
    """`CRITI [` is a candidate from the first block that shows the layout's other levels: in a log of that layout far
    past the first block it is found; a log of other lines pays no search for it."""
    from mosaic_diag.logs import announce, reader

    filler = "INFO  [app.jobs] tick\n" * 40_000  # ~880 KB
    events = _errors(filler + "CRITI [app.db] pool gone\n" + filler, 64 << 10)
    assert [(e.level, e.message) for e in events] == [("CRITICAL", "pool gone")]
    assert not reader._probe(b"2026-12-06T08:00:00Z INFO: ok\n" * 1000, reader._FIVE_LETTER, announce.FIRST_PROBE)


# ------------------------------------------------------------------ "[TS] file (line) - [LEVEL] : message"

# https://github.com/RockChinQ/free-one-api/issues/22
FREE_ONE_API = """\
[2023-10-06 16:24:25.512] selector_events.py (917) - [WARNING] : socket.send() raised exception.
[2023-10-06 16:24:25.515] base_events.py (1758) - [ERROR] : Task exception was never retrieved
future: <Task finished name='Task-1161' coro=<SQLiteDB.insert_log() done, defined at /app/free_one_api/impls/database/sqlite.py:147> exception=OperationalError('database is locked')>
Traceback (most recent call last):
  File "/app/free_one_api/impls/database/sqlite.py", line 149, in insert_log
    await db.execute("INSERT INTO log (timestamp, content) VALUES (?, ?)", (
  File "/usr/local/lib/python3.10/site-packages/aiosqlite/core.py", line 190, in execute
    cursor = await self._execute(self._conn.execute, sql, parameters)
  File "/usr/local/lib/python3.10/site-packages/aiosqlite/core.py", line 133, in _execute
    return await future
  File "/usr/local/lib/python3.10/site-packages/aiosqlite/core.py", line 106, in run
    result = function()
sqlite3.OperationalError: database is locked
"""


@pytest.mark.parametrize("block_size", BLOCKS)
def test_a_colon_after_the_level_column_is_no_part_of_the_message(block_size: int | None) -> None:
    """`… - [ERROR] : message`: the ` : ` separates the level column from the message (as `- ` does); asyncio's
    record with its `future:` line and the traceback is one event, labelled from the sqlite3 error."""
    (e,) = _errors(FREE_ONE_API, block_size)
    assert (e.line, e.end_line, e.level, e.message) == (2, 13, "ERROR", "Task exception was never retrieved")
    assert _label(e) == "SQLITE_FALLBACK_ACTIVE"
    (warn,) = parse_line(FREE_ONE_API.splitlines()[0])
    assert (warn.level, warn.message) == ("WARNING", "socket.send() raised exception.")


@pytest.mark.parametrize("block_size", BLOCKS)
def test_asyncio_task_never_retrieved_with_a_real_locked_sqlite(block_size: int | None, tmp_path: Path) -> None:
    """asyncio's own record of a task whose real `sqlite3.OperationalError: database is locked` nobody retrieved,
    written in that layout: one event from the record to the exception line, SQLITE_FALLBACK_ACTIVE."""
    db = tmp_path / "app.db"
    holder = sqlite3.connect(db, isolation_level=None)
    holder.execute("CREATE TABLE log (content TEXT)")
    holder.execute("BEGIN EXCLUSIVE")

    async def insert_log() -> None:
        sqlite3.connect(db, timeout=0).execute("INSERT INTO log VALUES ('x')")

    async def main() -> None:
        task = asyncio.get_running_loop().create_task(insert_log())
        await asyncio.sleep(0.01)
        assert task.done()
        del task
        gc.collect()

    log, buf, done = _logging("[%(asctime)s] %(filename)s (%(lineno)d) - [%(levelname)s] : %(message)s", "asyncio")
    try:
        log.warning("socket.send() raised exception.")
        asyncio.run(main())
    finally:
        done()
        holder.close()
    text = buf.getvalue()
    assert "Task exception was never retrieved" in text and "database is locked" in text
    (e,) = _errors(text, block_size)
    assert (e.line, e.end_line, e.level, e.message) == (2, len(text.splitlines()), "ERROR",
                                                        "Task exception was never retrieved")
    assert _label(e) == "SQLITE_FALLBACK_ACTIVE"


# ------------------------------------------------------------------ a log viewer's time column: "TS | line"

# https://github.com/meshackbahati/plagiarism-detection/issues/18 (Compose services behind a viewer's time column;
# the last line cut by the paste)
COMPOSE_TS_COLUMN = """\
frontend      | 2026-03-30 16:12:01.323 | 172.18.0.1 - - [30/Mar/2026:14:12:01 +0000] "POST /api/v1/auth/jwt/login HTTP/1.1" 500 21 "http://localhost/login" "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:149.0) Gecko/20100101 Firefox/149.0" "-"
db            | 2026-03-30 16:12:10.815 | 2026-03-30 14:12:10.814 UTC [57] ERROR:  relation "users" does not exist at character 163
db            | 2026-03-30 16:12:10.815 | 2026-03-30 14:12:10.814 UTC [57] STATEMENT:  SELECT users.id, users.email, users.hashed_password, users.role, users.is_active, users.is_superuser, users.is_verified, users.created_at, users.updated_at 
db            | 2026-03-30 16:12:10.815 | \tFROM users 
db            | 2026-03-30 16:12:10.815 | \tWHERE lower(users.email) = lower($1::VARCHAR)
frontend      | 2026-03-30 16:12:10.818 | 172.18.0.1 - - [30/Mar/2026:14:12:10 +0000] "POST /api/v1/auth/jwt/login HTTP/1.1" 500 21 "http://localhost/login" "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:149.0) Gecko/20100101 Firefox/149.0" "-"
api           | 2026-03-30 16:12:10.818 | [2026-03-30 14:12:10 +0000] [24] [ERROR] Exception in ASGI application
api           | 2026-03-30 16:12:10.818 | Traceback (most recent call last):
api           | 2026-03-30 16:12:10.818 |   File "/usr/local/lib/python3.11/site-packages/sqlalchemy/dialects/postgresql/asyncpg.py", line 526, in
"""


@pytest.mark.parametrize("block_size", BLOCKS)
def test_a_bar_after_a_viewer_s_time_column_is_peeled(block_size: int | None) -> None:
    """`service | TS | line`: the line after the bar is the process's own: PostgreSQL's ERROR record (its `STATEMENT:`
    and tab-indented query lines with it) and gunicorn's record with its traceback are the two events; nothing is
    read as a header-less traceback."""
    pg, asgi = _errors(COMPOSE_TS_COLUMN, block_size)
    assert (pg.line, pg.end_line, pg.level) == (2, 5, "ERROR")
    assert pg.message.startswith('relation "users" does not exist')
    assert (asgi.line, asgi.end_line, asgi.level, asgi.message) == (7, 9, "ERROR", "Exception in ASGI application")
    assert asgi.traceback.startswith("Traceback (most recent call last):")
    assert _label(pg) == "MISSING_TABLE"
    # (the column's time stamps the line, as a platform's timestamp in front of a record does)
    assert pg.timestamp is not None and pg.timestamp.isoformat().startswith("2026-03-30T16:12:10.815")


@pytest.mark.parametrize("block_size", BLOCKS)
def test_viewer_time_column_around_a_real_refusal(block_size: int | None, refused_port: int) -> None:
    """gunicorn-style records of a real psycopg2 refusal logged with its traceback, each line behind a Compose
    service and a viewer's `TS | ` column: one event over its lines, PG_CONNECTION_FAILED; the access line is none."""
    psycopg2 = pytest.importorskip("psycopg2")
    log, buf, done = _logging("[%(asctime)s] [%(process)d] [%(levelname)s] %(message)s", "gunicorn.error")
    try:
        log.info("Booting worker with pid: 24")
        try:
            psycopg2.connect(host="127.0.0.1", port=refused_port, dbname="m", user="u", password="p",
                             connect_timeout=5)
        except psycopg2.OperationalError:
            log.exception("Exception in ASGI application")
        log.info('172.18.0.1:5123 - "POST /api/v1/auth/jwt/login HTTP/1.1" 500')
    finally:
        done()
    lines = buf.getvalue().splitlines()
    text = "".join(f"api           | 2026-03-30 16:12:10.{i:03d} | {ln}\n" for i, ln in enumerate(lines))
    (e,) = _errors(text, block_size)
    last = max(i for i, ln in enumerate(lines, 1) if "Is the server running" in ln)  # (a blank line after it)
    assert (e.line, e.end_line, e.level, e.message) == (2, last, "ERROR", "Exception in ASGI application")
    assert "Connection refused" in e.traceback
    assert _label(e) == "PG_CONNECTION_FAILED"


# ------------------------------------------------------------------ asyncpg's exception names

# https://github.com/smithyhq/sqladmin/issues/350 (cut mid-word by the paste)
ASYNCPG_UNIQUE = """\
INFO:     127.0.0.1:40976 - "POST /user-model/create HTTP/1.1" 500 Internal Server Error
ERROR:    Exception in ASGI application
Traceback (most recent call last):
  File "/home/mike/workspace/freedamu/test_sqladmin/.venv/lib/python3.9/site-packages/sqlalchemy/dialects/postgresql/asyncpg.py", line 442, in _prepare_and_execute
    self._rows = await prepared_stmt.fetch(*parameters)
  File "/home/mike/workspace/freedamu/test_sqladmin/.venv/lib/python3.9/site-packages/asyncpg/prepared_stmt.py", line 176, in fetch
    data = await self.__bind_execute(args, 0, timeout)
  File "/home/mike/workspace/freedamu/test_sqladmin/.venv/lib/python3.9/site-packages/asyncpg/prepared_stmt.py", line 241, in __bind_execute
    data, status, _ = await self.__do_execute(
  File "/home/mike/workspace/freedamu/test_sqladmin/.venv/lib/python3.9/site-packages/asyncpg/prepared_stmt.py", line 230, in __do_execute
    return await executor(protocol)
  File "asyncpg/protocol/protocol.pyx", line 201, in bind_execute
asyncpg.exceptions.UniqueViolationError: duplicate k"""


@pytest.mark.parametrize("block_size", BLOCKS)
def test_asyncpg_unique_violation_cut_mid_word(block_size: int | None) -> None:
    """asyncpg names PostgreSQL's SQLSTATE conditions with an `Error` suffix: its `UniqueViolationError` is
    DUPLICATE_KEY by its type, with the message cut before the words that say so."""
    (e,) = _errors(ASYNCPG_UNIQUE, block_size)
    assert (e.line, e.end_line, e.message) == (2, 13, "Exception in ASGI application")
    assert _label(e) == "DUPLICATE_KEY"


@pytest.mark.parametrize(("name", "label"), [
    ("UniqueViolationError", "DUPLICATE_KEY"), ("ForeignKeyViolationError", "SESSION_ORPHANED"),
    ("UndefinedTableError", "MISSING_TABLE"), ("UndefinedColumnError", "MISSING_COLUMN"),
    ("NotNullViolationError", "TYPE_MISMATCH"), ("InvalidTextRepresentationError", "TYPE_MISMATCH"),
    ("DatatypeMismatchError", "TYPE_MISMATCH"),
])
def test_asyncpg_condition_names_qualified_and_short(name: str, label: str) -> None:
    """Each of asyncpg's names for a condition the data labels read, qualified and unqualified (an error tracker's
    title), with no message words to go by; SQLAlchemy's wrapper carries it too."""
    classify = Classifier.default()
    assert classify.classify_text(f"asyncpg.exceptions.{name}: x").label == label
    assert classify.classify_text(f"{name}: x").label == label
    wrapped = f"sqlalchemy.exc.IntegrityError: (sqlalchemy.dialects.postgresql.asyncpg.IntegrityError) <class 'asyncpg.exceptions.{name}'>: x"
    assert classify.classify_text(wrapped).label == label


# ------------------------------------------------------------------ hostile lines

def test_hostile_lines_of_these_layouts_are_one_pass() -> None:
    """Half a megabyte of what these patterns read (brackets, spaces, bars, separators): each pattern runs once over
    the line (the suite's timeout is the bound; a quadratic pattern takes hours at this size)."""
    n = 500_000
    for text in ("ERROR [" + "a" * n, "ERROR [" + "[" * n, "INFO  [" + "a]" * (n // 2), "WARNI [x]" + " " * n,
                 "2026-03-30 16:12:10.815 | " + "| " * (n // 2), "2026-03-30 16:12:10.815 |" + " " * n + "x",
                 "[2023-10-06 16:24:25.512] a (1) - [ERROR] :" + " " * n + "x",
                 "[2023-10-06 16:24:25.512] a (1) - [ERROR] " + ": " * (n // 2)):
        (ln,) = parse_line(text)
        assert ln.level in (None, "ERROR", "INFO", "WARNING")
