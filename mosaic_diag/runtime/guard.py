"""The schema guard: model answers validated against Pydantic models, rejects dead-lettered.

    guard = schema_guard(Answer, store=open_dead_letters(os.environ["DATABASE_URL"]))
    answer = guard(text, provider="openai", prompt_id="ps101-3")   # an Answer, or SchemaRejected

A rejected answer becomes one row of `mosaic_dead_letters` (payload, validation error, label,
provider, prompt id, model, time) in PostgreSQL, or in a local SQLite file when the app has no
PostgreSQL: the payload with its secrets masked and cut at MAX_PAYLOAD_CHARS, a connection the
server closed replaced once, a statement given `statement_timeout` (2 s) to wait for a lock. The same
answer rejected again by the same schema at the same site
(model, prompt id, stored payload: its `fingerprint`) is the same row, its `seen_count` raised and
`last_seen_at` set in one upsert (a unique index on the fingerprint: two instances at once make one
row). A table of the older format (no such columns) is upgraded when the store connects, one instance at a time
(UPGRADE_LOCK; SQLite's write lock); one that
cannot be altered (a read-only role or file) is still read, every letter seen once, and written
without de-duplication. The table is bounded: past `max_letters` letters (MAX_LETTERS, or MOSAIC_DLQ_MAX_LETTERS) a
new letter evicts the oldest (last seen first), in the transaction that writes it (PostgreSQL: one instance at a time,
EVICT_LOCK; SQLite: its write lock), each eviction counted in `mosaic_dead_letters_evictions` (`stats()`: what `dlq
stats`, `dlq list` and /health show), never silently. The caller gets `SchemaRejected` (its `dead_letter_id` None, and a
warning logged, when the store failed) (label MODEL_ANSWER_INVALID in the taxonomy, so
triage labels its traceback the same). `mosaic-diag dlq` lists, shows, replays and purges the rows.
"""

from __future__ import annotations

import contextlib
import inspect
import json
import logging
import os
import re
import sqlite3
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Generic, TypeVar

from mosaic_diag.errors import ConfigError, DiagError, UnreachableError, UsageError
from mosaic_diag.platform.redact import redact_cut, redact_dsn, redact_text, redact_with_dsn
from mosaic_diag.runtime.context import note_label, on_event_loop
from mosaic_diag.runtime.verdict import classify_exception

M = TypeVar("M")
logger = logging.getLogger("mosaic.runtime.guard")
MAX_PAYLOAD_CHARS = 256_000  # a model that loops to its output limit: the start tells what went wrong
MAX_ERROR_LINES = 40  # validation errors stored of one answer (the first ones tell what went wrong)
MAX_ERROR_LINE = 500  # characters of one of them
MAX_ERROR_CHARS = MAX_ERROR_LINES * (MAX_ERROR_LINE + 30) + 100  # the stored error's bound
TABLE = "mosaic_dead_letters"
_COLUMNS = "id, created_at, provider, prompt_id, label, model, error, payload, replayed_at"
_SEEN = "seen_count, last_seen_at"  # read as "1, NULL" from a table of the older format it could not upgrade
_PG_DDL = f"""CREATE TABLE IF NOT EXISTS {TABLE} (
    id bigserial PRIMARY KEY,
    created_at timestamptz NOT NULL DEFAULT now(),
    provider text,
    prompt_id text,
    label text NOT NULL,
    model text NOT NULL,
    error text NOT NULL,
    payload text NOT NULL,
    replayed_at timestamptz,
    fingerprint text,
    seen_count integer NOT NULL DEFAULT 1,
    last_seen_at timestamptz
)"""
_SQLITE_DDL = f"""CREATE TABLE IF NOT EXISTS {TABLE} (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    created_at TEXT NOT NULL,
    provider TEXT,
    prompt_id TEXT,
    label TEXT NOT NULL,
    model TEXT NOT NULL,
    error TEXT NOT NULL,
    payload TEXT NOT NULL,
    replayed_at TEXT,
    fingerprint TEXT,
    seen_count INTEGER NOT NULL DEFAULT 1,
    last_seen_at TEXT
)"""
# the older format (before de-duplication) gains the three columns; then the fingerprint's unique index
_PG_UPGRADE = (f"ALTER TABLE {TABLE} ADD COLUMN IF NOT EXISTS fingerprint text, "
               "ADD COLUMN IF NOT EXISTS seen_count integer NOT NULL DEFAULT 1, "
               "ADD COLUMN IF NOT EXISTS last_seen_at timestamptz")
_SQLITE_UPGRADE = {"fingerprint": "TEXT", "seen_count": "INTEGER NOT NULL DEFAULT 1", "last_seen_at": "TEXT"}
_INDEX = f"CREATE UNIQUE INDEX IF NOT EXISTS {TABLE}_fingerprint ON {TABLE} (fingerprint)"


# the letters kept by default: past them a new letter evicts the oldest (last seen first), counted; a letter is at most
# MAX_PAYLOAD_CHARS + MAX_ERROR_CHARS (~280 kB), one of a few kB is usual: 10,000 are some tens of MB, 2.8 GB at worst
MAX_LETTERS = 10_000
MAX_LETTERS_ENV = "MOSAIC_DLQ_MAX_LETTERS"
# letters one write evicts at most: a table far past the bound (grown before it, or its bound lowered) is brought under
# it over the next writes, each within its statement timeout (`dlq trim` does it at once)
EVICT_AT_ONCE = 1_000
STATS = f"{TABLE}_evictions"
_PG_STATS_DDL = f"""CREATE TABLE IF NOT EXISTS {STATS} (
    id integer PRIMARY KEY CHECK (id = 1),
    evicted bigint NOT NULL DEFAULT 0,
    last_evicted_at timestamptz,
    max_letters integer
)"""
_SQLITE_STATS_DDL = f"""CREATE TABLE IF NOT EXISTS {STATS} (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    evicted INTEGER NOT NULL DEFAULT 0,
    last_evicted_at TEXT,
    max_letters INTEGER
)"""
# instances evicting at once take turns on this advisory lock (pg_advisory_xact_lock): each counts the table with the
# others' letters and evictions committed, so the bound holds exactly and no eviction is counted twice
EVICT_LOCK = 0x6D6F_7361_6963_4556  # "mosaicEV"


MAX_LETTERS_CAP = 2**31 - 1  # (the evictions table's max_letters is PostgreSQL's integer)
_WHOLE = re.compile(r"[0-9]+(?:[_,][0-9]+)*")  # 10000, 10_000, 10,000: ASCII digits (isdigit takes '²', '١٢٣')


def max_letters_of(value: int | str | None, environ: Any = None, *, where: str | None = None) -> int:
    """The bound of a store: `value`, else MOSAIC_DLQ_MAX_LETTERS, else MAX_LETTERS; anything but a whole number from 1
    to MAX_LETTERS_CAP (ASCII digits, `_` or `,` between them) is a UsageError naming where it came from (`where`)."""
    named = where or "max_letters"
    if value is None:
        value = (os.environ if environ is None else environ).get(MAX_LETTERS_ENV) or None
        named = MAX_LETTERS_ENV
    if value is None:
        return MAX_LETTERS
    text = str(value).strip()
    digits = text.replace(",", "").replace("_", "")  # (int() of 5,000 digits and more is a ValueError)
    if isinstance(value, bool) or not _WHOLE.fullmatch(text) or len(digits) > 10 or \
            not 1 <= int(digits) <= MAX_LETTERS_CAP:
        shown = repr(value) if len(str(value)) <= 40 else f"{str(value)[:40]!r}… ({len(str(value)):,} characters)"
        raise UsageError(f"{named} takes the number of dead letters to keep (a whole number from 1 to "
                         f"{MAX_LETTERS_CAP:,}), got {shown}")
    return int(digits)


# instances upgrading the table at once take turns on this advisory lock (pg_advisory_xact_lock): one ALTERs it,
# the others find it done (none queues an ACCESS EXCLUSIVE request behind another's, stopping the table's users)
UPGRADE_LOCK = 0x6D6F_7361_6963_444C  # "mosaicDL"


def _sqlite_columns(conn: sqlite3.Connection) -> set[str]:
    return {row[1] for row in conn.execute(f"PRAGMA table_info({TABLE})")}


def _sqlite_upgrade(conn: sqlite3.Connection) -> None:
    """A SQLite dead-letter table of the older format given the de-duplication columns, then the index. The columns
    are read again under the write lock (BEGIN IMMEDIATE): another process upgrading at the same moment made them
    (SQLite has no ADD COLUMN IF NOT EXISTS: a second ALTER was a "duplicate column name")."""
    if not set(_SQLITE_UPGRADE) <= _sqlite_columns(conn):
        conn.execute("BEGIN IMMEDIATE")
        try:
            present = _sqlite_columns(conn)
            for name, kind in _SQLITE_UPGRADE.items():
                if name not in present:  # names and types are this module's constants, never input
                    conn.execute(f"ALTER TABLE {TABLE} ADD COLUMN {name} {kind}")  # mosaic-diag: ignore[MD005]
            conn.execute(_INDEX)
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise
    conn.execute(_INDEX)


def _pg_exists(cur: Any, name: str) -> bool:
    """Whether the table (or index) `name` is there, where the store's statements find it (the search path). Looked
    up before it is made: `CREATE … IF NOT EXISTS` checks the CREATE privilege (or the table's ownership) first, so a
    role with only SELECT, INSERT, UPDATE, DELETE on the tables their owner made was refused them all the same."""
    cur.execute("SELECT to_regclass(%s) IS NOT NULL", (name,))
    return bool(cur.fetchone()[0])


def _pg_upgraded(cur: Any) -> bool:
    """Whether the table has the de-duplication columns (read in the catalog: any role may, granted or not)."""
    cur.execute("SELECT EXISTS (SELECT 1 FROM pg_attribute WHERE attrelid = to_regclass(%s) "
                "AND attname = 'last_seen_at' AND NOT attisdropped)", (TABLE,))
    return bool(cur.fetchone()[0])


def _pg_indexed(cur: Any) -> bool:
    """Whether the fingerprint has a unique index (of any name: the upsert's ON CONFLICT (fingerprint) takes it)."""
    cur.execute("SELECT EXISTS (SELECT 1 FROM pg_index i JOIN pg_attribute a ON a.attrelid = i.indrelid "
                "AND a.attnum = i.indkey[0] WHERE i.indrelid = to_regclass(%s) AND i.indisunique AND i.indisvalid "
                "AND i.indnkeyatts = 1 AND i.indpred IS NULL AND i.indexprs IS NULL AND a.attname = 'fingerprint')",
                (TABLE,))
    return bool(cur.fetchone()[0])


def _pg_upgrade(conn: Any, cur: Any) -> None:
    """The PostgreSQL table of the older format given the columns, one instance at a time (UPGRADE_LOCK): the
    columns are read again under the lock, so an instance that waited for another's upgrade finds it done."""
    conn.autocommit = False
    try:
        cur.execute("SELECT pg_advisory_xact_lock(%s)", (UPGRADE_LOCK,))
        if not _pg_upgraded(cur):
            cur.execute(_PG_UPGRADE)
        conn.commit()
    except BaseException:
        with contextlib.suppress(Exception):  # mosaic-diag: ignore[MD006] - a lost connection: nothing to undo
            conn.rollback()
        raise
    finally:
        with contextlib.suppress(Exception):  # mosaic-diag: ignore[MD006] - closed by the caller when lost
            conn.autocommit = True


class SchemaRejected(Exception):
    """A model answer failed its schema; `dead_letter_id` is its row (None without a store)."""

    def __init__(self, model: str, error: str, *, provider: str | None = None, prompt_id: str | None = None,
                 dead_letter_id: int | None = None, summary: str | None = None) -> None:
        self.model = model
        self.error = error
        self.provider = provider
        self.prompt_id = prompt_id
        self.dead_letter_id = dead_letter_id
        self.label = "MODEL_ANSWER_INVALID"
        first = summary or (error.strip().splitlines()[0] if error.strip() else "invalid")
        super().__init__(f"model answer rejected by schema {model} (provider {provider or 'unknown'}): {first}")


@dataclass(frozen=True)
class LetterStats:
    """How full the dead-letter table is and what its bound evicted."""

    letters: int
    max_letters: int | None  # the bound the writers last recorded (this store's own when none did yet)
    evicted: int | None  # letters evicted by the bound (and by `dlq trim`), in all; None: not counted (no table)
    last_evicted_at: datetime | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"letters": self.letters, "max_letters": self.max_letters, "evicted": self.evicted,
                "last_evicted_at": self.last_evicted_at.isoformat() if self.last_evicted_at else None}


@dataclass(frozen=True)
class DeadLetter:
    """One rejected answer."""

    id: int
    created_at: datetime
    provider: str | None
    prompt_id: str | None
    label: str
    model: str
    error: str
    payload: str
    replayed_at: datetime | None = None
    count: int = 1                        # times this answer was rejected (same schema, site and payload)
    last_seen_at: datetime | None = None  # the last of them (created_at when seen once)

    def to_dict(self, *, payload: bool = True) -> dict[str, Any]:
        last = self.last_seen_at or self.created_at
        data: dict[str, Any] = {
            "id": self.id, "created_at": self.created_at.isoformat(), "provider": self.provider,
            "prompt_id": self.prompt_id, "label": self.label, "model": self.model, "error": self.error,
            "replayed_at": self.replayed_at.isoformat() if self.replayed_at else None,
            "count": self.count, "last_seen_at": last.isoformat()}
        if payload:
            data["payload"] = self.payload
        return data


def _aware(value: Any) -> datetime | None:
    if value is None:
        return None
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def _row(found: tuple[Any, ...]) -> DeadLetter:
    """A row of `_COLUMNS, _SEEN`."""
    created = _aware(found[1]) or datetime.now(UTC)
    return DeadLetter(int(found[0]), created, found[2], found[3], found[4], found[5], found[6], found[7],
                      _aware(found[8]), int(found[9] or 1), _aware(found[10]) or created)


def fingerprint(model: str, prompt_id: str | None, payload: str) -> str:
    """What makes two rejected answers one dead letter: the schema, the site (prompt id) and the stored payload."""
    import hashlib

    return hashlib.sha256(json.dumps([model, prompt_id, payload]).encode()).hexdigest()


MAX_WAITING_LETTERS = 256  # per guard: letters handed to a slow store and not written yet; more are not stored


class DeadLetterStore:
    """The dead-letter table in PostgreSQL (a DSN) or SQLite (a file path)."""

    def __init__(self, target: str, *, retry_after: float = 5.0, statement_timeout: float | None = 2.0,
                 clock: Callable[[], float] = time.monotonic, max_letters: int | None = None,
                 read_only: bool = False) -> None:
        self.max_letters = max_letters_of(max_letters)  # (before anything is opened: a bad bound fails at once)
        # read_only (`dlq list`, `stats`, `show`): nothing is made, upgraded or written (a SQLite file opened read-only,
        # a PostgreSQL session whose transactions are read-only); a database without the table reads as empty
        self.read_only = read_only
        self.absent = False  # (read_only, once connected) the dead-letter table is not there: nothing was stored
        self._stats_there = True
        self.target = str(target)
        self.retry_after = retry_after  # a PostgreSQL unreachable (or timed out) is not tried again before
        self.statement_timeout = statement_timeout  # seconds a statement may wait (a lock held); None: no limit
        self.clock = clock
        self._down_until: float | None = None
        self.postgres = _is_postgres(self.target)
        if self.postgres:  # SQLAlchemy's `postgresql+psycopg2://` is libpq's `postgresql://`
            self.target = _PG_DRIVER.sub(r"\1://", self.target, count=1)
        elif _SCHEME.match(self.target):
            raise UsageError(f"{redact_dsn(self.target)}: not a PostgreSQL URL or a SQLite file path")
        self.param = "%s" if self.postgres else "?"
        self._lock = threading.Lock()
        self._conn: Any = None
        self.deduplicates = True  # False: a table of the older format that could not be upgraded
        self.bounded = True  # False: the evictions table could neither be made nor read: letters are not evicted
        self._stats_cache: tuple[float, LetterStats] | None = None
        self._executor: Any = None
        self._executor_pid = 0
        self._executor_lock = threading.Lock()  # not `_lock`: that one is held during round trips
        self.writing_since: float | None = None  # (time.monotonic) the write under way on the store's thread

    def submit(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """`fn(*args, **kwargs)` on the store's own thread (one per store and process: its statements queue on its
        one connection anyway); a concurrent.futures.Future. `writing_since` tells how long the one under way ran."""
        with self._executor_lock:
            if self._executor is None or self._executor_pid != os.getpid():  # (a forked child makes its own)
                from mosaic_diag.runtime.storethread import StoreThread

                self._executor = StoreThread("mosaic-dead-letters")  # (a daemon: see its module doc)
                self._executor_pid = os.getpid()

            def timed() -> Any:
                self.writing_since = time.monotonic()
                try:
                    return fn(*args, **kwargs)
                finally:
                    self.writing_since = None

            return self._executor.submit(timed)

    @property
    def shown(self) -> str:
        return redact_dsn(self.target)

    def _connect(self) -> Any:
        if self._conn is not None:
            return self._conn
        if self.postgres:
            import psycopg2

            try:
                conn = psycopg2.connect(self.target, connect_timeout=5)
            except psycopg2.Error as exc:
                self._down_until = self.clock() + self.retry_after  # (each try can wait the connect timeout)
                said = redact_with_dsn((str(exc).strip().splitlines() or [type(exc).__name__])[0], self.target)
                label = _connect_refusal(exc)
                if label is not None:  # the server answered and refused (a password, TLS, pg_hba, the database)
                    raise ConfigError(f"dead-letter database {self.shown} refused the connection: {said} ({label}: "
                                      "the DSN's settings or the server's, not the network)") from exc
                raise UnreachableError(f"dead-letter database {self.shown} unreachable: {said}") from exc
            self._down_until = None
            conn.autocommit = True
            if self.read_only:
                conn.readonly = True  # (the session's default_transaction_read_only)
        elif self.read_only:
            from urllib.parse import quote

            if self.target != ":memory:" and not self.target.startswith("file:"):
                _private(self.target)  # (letters others may have forged are not shown, nor replayed)
            conn = sqlite3.connect(f"file:{quote(self.target)}?mode=ro", uri=True, check_same_thread=False,
                                   isolation_level=None, timeout=self.statement_timeout or 5.0)
        else:
            _create_private(self.target)  # rejected answers hold user data: the owner's alone
            conn = sqlite3.connect(self.target, check_same_thread=False, isolation_level=None,
                                   timeout=self.statement_timeout or 5.0)  # (a write lock waited for so long)
            conn.execute(_SQLITE_DDL)  # (a file that is no database says so here)
        try:
            if self.postgres and self.statement_timeout is not None:  # the table made or upgraded within it too
                limit = str(max(int(self.statement_timeout * 1000), 1))
                with conn.cursor() as cur:
                    cur.execute("SELECT set_config('statement_timeout', %s, false), "
                                "set_config('lock_timeout', %s, false)", (limit, limit))
            if self.read_only:
                self._inspect(conn)
            else:
                self.deduplicates = self._prepare(conn)
                self.bounded = self._prepare_stats(conn)
        except BaseException:
            conn.close()
            raise
        self._conn = conn
        return conn

    def _inspect(self, conn: Any) -> None:
        """(read_only) What is there, nothing made: the table (`absent`), its format (`deduplicates`), the evictions
        table (none yet: nothing was evicted)."""
        if self.postgres:
            with conn.cursor() as cur:
                self.absent = not _pg_exists(cur, TABLE)
                self.deduplicates = not self.absent and _pg_upgraded(cur)
                self._stats_there = _pg_exists(cur, STATS)
            return
        names = {row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        self.absent = TABLE not in names
        self.deduplicates = not self.absent and set(_SQLITE_UPGRADE) <= _sqlite_columns(conn)
        self._stats_there = STATS in names

    def _prepare(self, conn: Any) -> bool:
        """Make the table, or give one of the older format the de-duplication columns and index; whether letters
        are de-duplicated. PostgreSQL: only what is not there is made (a role without CREATE on the schema uses the
        tables their owner made). A database that refuses (read-only, a role that may not make or alter what is
        missing) is read as it is, each letter seen once, warned."""
        try:
            if self.postgres:
                with conn.cursor() as cur:
                    if not _pg_exists(cur, TABLE):
                        _pg_create(cur, _PG_DDL)
                    if not _pg_upgraded(cur):
                        _pg_upgrade(conn, cur)
                    if not _pg_indexed(cur):
                        _pg_create(cur, _INDEX)
                return True
            _sqlite_upgrade(conn)
            return True
        except Exception as exc:
            # a connection lost, a statement or lock timeout (another instance upgrading the table): the caller's to
            # handle (a new connection, a later try), not a table to read as it is
            lost = _pg_transient(exc) if self.postgres else _sqlite_busy(exc)
            if lost or not (isinstance(exc, sqlite3.Error) or type(exc).__module__.startswith("psycopg2")):
                raise  # a connection lost is the caller's to handle (a new one), not a table to read as it is
            why = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
            logger.warning("dead letters %s: the table cannot be made or upgraded (%s): read as it is, new letters "
                           "not de-duplicated", self.shown, redact_with_dsn(why, self.target))
            return False

    def _prepare_stats(self, conn: Any) -> bool:
        """Make the evictions table, or find it there and read it (a read-only role, one without CREATE on the
        schema: PostgreSQL's is looked up first, not made); whether letters are bounded. One that can neither be made
        nor read leaves the table unbounded, warned: no letter is evicted uncounted."""
        why = ""
        try:
            if self.postgres:
                with conn.cursor() as cur:
                    if not _pg_exists(cur, STATS):
                        _pg_create(cur, _PG_STATS_DDL)
                        return True
            else:
                conn.execute(_SQLITE_STATS_DDL)
                return True
        except Exception as exc:
            if (_pg_transient(exc) if self.postgres else _sqlite_busy(exc)) or not (
                    isinstance(exc, sqlite3.Error) or type(exc).__module__.startswith("psycopg2")):
                raise
            why = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        try:
            self._statement(conn, f"SELECT evicted FROM {STATS} WHERE id = 1", (), "one")
            return True
        except Exception as exc:
            if (_pg_transient(exc) if self.postgres else _sqlite_busy(exc)) or not (
                    isinstance(exc, sqlite3.Error) or type(exc).__module__.startswith("psycopg2")):
                raise
            why = why or (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        logger.warning("dead letters %s: the evictions table cannot be made or read (%s): the letters are not bounded "
                       "(max_letters %d not applied)", self.shown, redact_with_dsn(why, self.target), self.max_letters)
        return False

    def _seen(self) -> str:
        """The select list of the seen columns, after connecting (an older table's stand-ins when not upgraded)."""
        if self._conn is None:
            self._run("SELECT 1")
        return _SEEN if self.deduplicates else "1, NULL"

    def _last_seen(self) -> str:
        return "COALESCE(last_seen_at, created_at)" if self._seen() == _SEEN else "created_at"

    def _run(self, sql: str, params: tuple[Any, ...] = (), *, fetch: str = "") -> Any:
        """One statement; a driver error becomes one clear DiagError (no traceback in the CLI)."""
        sql = sql.replace("?", self.param)
        return self._guarded(lambda conn: self._statement(conn, sql, params, fetch))

    def _in_transaction(self, steps: Callable[[Callable[..., Any]], Any]) -> Any:
        """`steps(run)` in one transaction (`run(sql, params, fetch)` a statement of it), committed, or rolled back
        when it raises; a connection lost is replaced once and the whole transaction run again."""
        def work(conn: Any) -> Any:
            def run(sql: str, params: tuple[Any, ...] = (), fetch: str = "") -> Any:
                return self._statement(conn, sql.replace("?", self.param), params, fetch)

            run("BEGIN" if self.postgres else "BEGIN IMMEDIATE")  # (SQLite: the write lock taken at once)
            try:
                result = steps(run)
                run("COMMIT")
            except BaseException:
                with contextlib.suppress(Exception):  # mosaic-diag: ignore[MD006] - a lost connection: nothing to undo
                    run("ROLLBACK")
                raise
            return result

        return self._guarded(work)

    def _guarded(self, work: Callable[[Any], Any]) -> Any:
        """`work(connection)`; a driver error becomes one clear DiagError (no traceback in the CLI): PostgreSQL
        unreachable, the connection lost, a statement or lock timeout an UnreachableError (exit 3); a statement the
        database answered and refused (a grant missing, no table, read-only) a ConfigError (exit 2) saying what to
        change: it was said as the database unreachable, sending the operator to the network."""
        try:
            return self._execute(work)
        except sqlite3.Error as exc:
            if _sqlite_busy(exc):
                raise UsageError(f"the dead-letter file stayed locked by another connection (a long purge, another "
                                 f"process writing): {exc}; try again", path=self.shown) from exc
            raise UsageError(f"not a usable dead-letter database: {exc}", path=self.shown) from exc
        except Exception as exc:
            if type(exc).__module__.startswith("psycopg2"):
                said = redact_with_dsn((str(exc).strip().splitlines() or [type(exc).__name__])[0], self.target)
                if _pg_transient(exc):  # the connection lost or refused, a statement or lock timeout
                    raise UnreachableError(f"dead-letter database {self.shown}: {said}") from exc
                # the database answered and refused (a grant missing, no table, read-only): no network to look at
                raise ConfigError(f"dead-letter database {self.shown}: {said}{self._refusal(exc)}") from exc
            raise

    def _refusal(self, exc: BaseException) -> str:
        """What to change, after a PostgreSQL refusal's own words: the grant missing (the privileges the statement
        needs on the table, sequence or schema named that the role lacks, asked of the database), the CREATE
        missing to make a table not there, a read-only database; '' when there is nothing to add."""
        code = getattr(exc, "pgcode", None)
        if code == "25006":  # read_only_sql_transaction
            return (" (the database or the role's session is read-only: a replica, or default_transaction_read_only; "
                    "connect to the primary, as a role that may write)")
        message = str(exc)
        if code == "42P01" and (f'"{TABLE}"' in message or f'"{STATS}"' in message):  # undefined_table
            found = self._ask("SELECT current_user, current_schema(), has_schema_privilege(current_schema(), "
                              "'CREATE'), current_setting('transaction_read_only') = 'on'", ())
            if found is None or found[1] is None:
                return f" (no {TABLE} where this role looks for it: is it the database and schema the app writes to?)"
            role, schema = _ident(found[0]), _ident(found[1])
            if found[3]:
                return (f" (no {TABLE} in schema {schema}, and the database is read-only, a replica: none can be "
                        "made here; is it the database the app writes to?)")
            if found[2]:
                return f" (no {TABLE} in schema {schema}: is it the database and schema the app writes to?)"
            return (f" (no {TABLE} in schema {schema}, and role {role} may not make it: GRANT CREATE ON SCHEMA "
                    f"{schema} TO {role}, or connect once as the app's role that may; or is it the wrong database?)")
        denied = _DENIED.search(message) if code == "42501" else None  # insufficient_privilege
        if denied is None:
            return ""
        kind, name = denied.group(1), denied.group(2)
        query = getattr(getattr(exc, "cursor", None), "query", None) or b""
        needed = _privileges_needed(kind, query.decode("utf-8", "replace") if isinstance(query, bytes) else query)
        if not needed:
            return ""
        found = self._ask(_LACKING.get(kind, _LACKING["table"]), (needed, name))
        what = {"sequence": "SEQUENCE ", "schema": "SCHEMA "}.get(kind, "") + _ident(name)
        if found is None or not found[1]:  # (not asked, or none lacking by the object's grants: what it needs)
            return f" (the statement needs {', '.join(needed)} on {what})"
        return f" (missing grant: GRANT {', '.join(found[1])} ON {what} TO {_ident(found[0])})"

    def _ask(self, sql: str, params: tuple[Any, ...]) -> Any:
        """One row of a question to the database about a refusal, on the store's connection; None when it cannot
        be asked (no connection, or the question refused as well)."""
        with self._lock:
            conn = self._conn
            if conn is None or not self.postgres:
                return None
            try:
                with conn.cursor() as cur:
                    cur.execute(sql, params)
                    return cur.fetchone()
            except Exception:  # the refusal is reported all the same  # mosaic-diag: ignore[MD006]
                return None

    def _execute(self, work: Callable[[Any], Any]) -> Any:
        with self._lock:
            if self.postgres:
                import psycopg2

                if self._down_until is not None and self.clock() < self._down_until:
                    raise UnreachableError(f"dead-letter database {self.shown} unreachable or timing out: not tried "
                                           f"again for {self._down_until - self.clock():.0f} s")
                reused = self._conn is not None
                try:
                    return work(self._connect())
                except (psycopg2.OperationalError, psycopg2.InterfaceError) as exc:
                    if _timed_out(exc):  # a lock held (a long purge, an upgrade): the connection is still good
                        self._down_until = self.clock() + self.retry_after
                        raise
                    self._drop()  # a connection the server or the network closed is never used again
                    if not reused:
                        raise
                return work(self._connect())  # once, on a new connection
            return work(self._connect())

    def _statement(self, conn: Any, sql: str, params: tuple[Any, ...], fetch: str) -> Any:
        if self.postgres:
            with conn.cursor() as cur:
                cur.execute(sql, params)
                return cur.fetchone() if fetch == "one" else cur.fetchall() if fetch == "all" else cur.rowcount
        cur = conn.execute(sql, params)
        return cur.fetchone() if fetch == "one" else cur.fetchall() if fetch == "all" else cur.rowcount

    def _drop(self) -> None:
        if self._conn is not None:
            with contextlib.suppress(Exception):  # mosaic-diag: ignore[MD006] - closing a broken connection
                self._conn.close()
        self._conn = None

    def add(self, *, payload: str, error: str, label: str, model: str, provider: str | None = None,
            prompt_id: str | None = None) -> int:
        """Store one rejected answer; its id. The same answer again (its `fingerprint`) is the same row: its
        count raised and `last_seen_at` set (NULL while seen once). A new row past `max_letters` evicts the oldest
        in the same transaction (at most EVICT_AT_ONCE), counted."""
        now = datetime.now(UTC)
        created: Any = now if self.postgres else now.isoformat()
        payload, error, label, model = (storable(payload), storable(error), storable(label), storable(model))
        provider, prompt_id = (storable(provider) if provider is not None else None,
                               storable(prompt_id) if prompt_id is not None else None)
        values = (created, provider, prompt_id, label, model, error, payload)
        dedup = self._seen() == _SEEN  # (False: an older table that could not be upgraded)
        last_seen = self._last_seen()

        def steps(run: Callable[..., Any]) -> int:
            if not dedup:
                found = run(f"INSERT INTO {TABLE} (created_at, provider, prompt_id, label, model, error, payload) "
                            "VALUES (?, ?, ?, ?, ?, ?, ?) RETURNING id", values, "one")
            else:
                found = run(
                    f"INSERT INTO {TABLE} (created_at, provider, prompt_id, label, model, error, payload, fingerprint) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (fingerprint) DO UPDATE SET "
                    f"seen_count = {TABLE}.seen_count + 1, last_seen_at = excluded.created_at RETURNING id, seen_count",
                    (*values, fingerprint(model, prompt_id, payload)), "one")
            if self.bounded and (not dedup or int(found[1]) == 1):  # a new row (a letter seen again adds none)
                self._bound(run, last_seen)
            return int(found[0])

        return int(self._in_transaction(steps))

    def _bound(self, run: Callable[..., Any], last_seen: str) -> None:
        """The bound kept after a new letter, in its transaction; an eviction the database refuses (a role that may
        not write the evictions table or delete letters, a lock waited for too long) is undone alone (a savepoint):
        the letter is kept, warned, and a role refused is not bounded from then on. Only a connection lost fails
        the letter (its transaction is gone)."""
        run("SAVEPOINT mosaic_evict")
        try:
            self._evict(run, last_seen, self.max_letters, EVICT_AT_ONCE, record=True)
        except Exception as exc:
            if not (isinstance(exc, sqlite3.Error) or (type(exc).__module__.startswith("psycopg2") and (
                    _timed_out(exc) or not _pg_transient(exc)))):
                raise
            run("ROLLBACK TO SAVEPOINT mosaic_evict")
            why = redact_with_dsn((str(exc).strip().splitlines() or [type(exc).__name__])[0], self.target)
            if getattr(exc, "pgcode", None) == "42501":  # insufficient_privilege
                self.bounded = False
                logger.warning("dead letters %s: the bound cannot be kept (%s): the letters are not bounded "
                               "(max_letters %d not applied; grant this role INSERT, UPDATE on %s and DELETE on %s)",
                               self.shown, why, self.max_letters, STATS, TABLE)
            else:
                logger.warning("dead letters %s: no letter evicted this time (%s): the letter is kept, past the bound "
                               "until the next one", self.shown, why)
        else:
            run("RELEASE SAVEPOINT mosaic_evict")

    def _evict(self, run: Callable[..., Any], last_seen: str, keep: int, at_most: int | None, *,
               record: bool) -> int:
        """Delete the letters past `keep` (at most `at_most`), the oldest (last seen) first, and count them; with
        `record`, note `max_letters` as the writers' bound. In the caller's transaction."""
        if self.postgres:  # (instances take turns: each counts the others' letters and evictions committed)
            run("SELECT pg_advisory_xact_lock(?)", (EVICT_LOCK,), "one")
        total = int(run(f"SELECT count(*) FROM {TABLE}", (), "one")[0])
        over = total - keep if at_most is None else min(total - keep, at_most)
        evicted = 0
        if over > 0:  # (PostgreSQL: a row another instance is seeing again right now is not the oldest)
            skip = " FOR UPDATE SKIP LOCKED" if self.postgres else ""
            evicted = int(run(f"DELETE FROM {TABLE} WHERE id IN (SELECT id FROM {TABLE} ORDER BY {last_seen}, id "
                              f"LIMIT ?{skip})", (over,), ""))
        if evicted or record:
            now = datetime.now(UTC)
            when: Any = (now if self.postgres else now.isoformat()) if evicted else None
            run(f"INSERT INTO {STATS} (id, evicted, last_evicted_at, max_letters) VALUES (1, ?, ?, ?) "
                f"ON CONFLICT (id) DO UPDATE SET evicted = {STATS}.evicted + excluded.evicted, "
                f"last_evicted_at = COALESCE(excluded.last_evicted_at, {STATS}.last_evicted_at), "
                f"max_letters = COALESCE(excluded.max_letters, {STATS}.max_letters)",
                (evicted, when, self.max_letters if record else None), "")
        return evicted

    def trim(self, keep: int) -> int:
        """Evict now every letter past `keep` (`dlq trim`), the oldest first, counted as the bound's are; how many.
        The writers' bound recorded is left as it is."""
        if not self._bounded():
            raise UsageError(f"the evictions table of {self.shown} cannot be made: nothing is evicted uncounted")
        last_seen = self._last_seen()
        return int(self._in_transaction(lambda run: self._evict(run, last_seen, keep, None, record=False)))

    def _gone(self) -> bool:
        """(read_only) Whether the table is not there (connecting first)."""
        self._seen()
        return self.absent

    def _bounded(self) -> bool:
        self._seen()  # (connected: the tables made or found)
        return self.bounded

    def stats(self, *, max_age: float = 0.0) -> LetterStats:
        """How many letters, the writers' bound, how many were evicted and when last; read again after `max_age`
        seconds (/health: a load balancer's polls do not count the table each)."""
        cached = self._stats_cache
        if cached is not None and max_age > 0 and time.monotonic() - cached[0] < max_age:
            return cached[1]
        if self._gone():
            return LetterStats(0, self.max_letters, 0)
        letters = int(self._run(f"SELECT count(*) FROM {TABLE}", fetch="one")[0])
        row = self._run(f"SELECT evicted, last_evicted_at, max_letters FROM {STATS} WHERE id = 1",
                        fetch="one") if self._bounded() and self._stats_there else None
        if not self.bounded:
            stats = LetterStats(letters, None, None)
        elif row is None:
            stats = LetterStats(letters, self.max_letters, 0)
        else:
            stats = LetterStats(letters, int(row[2]) if row[2] is not None else self.max_letters, int(row[0]),
                                _aware(row[1]))
        self._stats_cache = (time.monotonic(), stats)
        return stats

    def list(self, *, limit: int = 50, label: str | None = None) -> list[DeadLetter]:
        """The rows seen last first."""
        where, params = ("WHERE label = ?", (label,)) if label else ("", ())
        if self._gone():
            return []
        seen = self._seen()
        rows = self._run(f"SELECT {_COLUMNS}, {seen} FROM {TABLE} {where} ORDER BY {self._last_seen()} DESC, "
                         "id DESC LIMIT ?", (*params, limit), fetch="all")
        return [_row(r) for r in rows]

    def get(self, row_id: int) -> DeadLetter | None:
        """The letter of that id, None when there is none (an id past a 64-bit integer has none: SQLite raised
        OverflowError for it, a traceback of `dlq show 99999999999999999999`)."""
        if self._gone() or not -2**63 <= row_id < 2**63:
            return None
        found = self._run(f"SELECT {_COLUMNS}, {self._seen()} FROM {TABLE} WHERE id = ?", (row_id,), fetch="one")
        return _row(found) if found else None

    def mark_replayed(self, row_id: int) -> None:
        now = datetime.now(UTC)
        self._run(f"UPDATE {TABLE} SET replayed_at = ? WHERE id = ?",
                  (now if self.postgres else now.isoformat(), row_id))

    def count_before(self, older_than: datetime) -> int:
        """How many rows were last seen before `older_than` (what `purge` would delete)."""
        when: Any = older_than if self.postgres else older_than.astimezone(UTC).isoformat()
        return int(self._run(f"SELECT count(*) FROM {TABLE} WHERE {self._last_seen()} < ?", (when,),
                             fetch="one")[0])

    def purge(self, older_than: datetime) -> int:
        """Delete the rows last seen before `older_than` (an answer still rejected lately is kept); how many."""
        when: Any = older_than if self.postgres else older_than.astimezone(UTC).isoformat()
        return int(self._run(f"DELETE FROM {TABLE} WHERE {self._last_seen()} < ?", (when,)))

    def close(self) -> None:
        with self._lock:
            self._drop()
        with self._executor_lock:
            if self._executor is not None and self._executor_pid == os.getpid():
                self._executor.shutdown(wait=False)
            self._executor = None


_PG_DRIVER = re.compile(r"^(postgres(?:ql)?)\+[A-Za-z0-9_]+://")
_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")
# libpq's keyword/value form (`host=db user=app password=...`): any of its usual keywords, dbname or not
_PG_KEYWORDS = re.compile(r"(?:^|\s)(?:host|hostaddr|port|dbname|user|password|passfile|service|sslmode|"
                          r"connect_timeout|options|application_name)\s*=")


# PostgreSQL's words for a privilege refused: "permission denied for table mosaic_dead_letters"
_DENIED = re.compile(r'permission denied for (table|relation|view|sequence|schema) "?([^\s"]+)"?')
# (the role, the privileges of those asked it lacks on the object named, in their order)
_LACKING = {kind: "SELECT current_user, array(SELECT p FROM unnest(%s::text[]) WITH ORDINALITY AS u(p, n) "
                  f"WHERE NOT {check}(%s, p) ORDER BY n)"
            for kind, check in (("table", "has_table_privilege"), ("sequence", "has_sequence_privilege"),
                                ("schema", "has_schema_privilege"))}
_PLAIN_NAME = re.compile(r"[a-z_][a-z0-9_$]*")


def _ident(name: str) -> str:
    """`name` as SQL writes it (quoted unless a plain lower-case identifier)."""
    return name if _PLAIN_NAME.fullmatch(name) else '"' + name.replace('"', '""') + '"'


def _privileges_needed(kind: str, query: str) -> list[str]:
    """The privileges a refused statement (`query`, as sent) needs on the object of `kind` the refusal names: the
    statement's verb, and SELECT (a WHERE, RETURNING, an upsert's SET reads), UPDATE (ON CONFLICT DO UPDATE, FOR
    UPDATE) as it uses them. Only its start and its clauses are read; the values in it are never shown."""
    if kind in ("sequence", "schema"):
        return ["USAGE"]
    verb = (query.split(None, 1) or [""])[0].upper()
    if verb not in ("SELECT", "INSERT", "UPDATE", "DELETE"):
        return []
    needed = [verb] if verb == "SELECT" else [verb, "SELECT"]
    if " FOR UPDATE" in query.upper() or " DO UPDATE " in query.upper():
        needed.append("UPDATE")
    return list(dict.fromkeys(needed))


def _pg_create(cur: Any, sql: str) -> None:
    """`CREATE … IF NOT EXISTS`, run by several instances at once: the one that lost the race is told of a
    duplicate key in the catalog once the winner committed, when the object is there."""
    import psycopg2.errors

    try:
        cur.execute(sql)
    except (psycopg2.errors.UniqueViolation, psycopg2.errors.DuplicateTable, psycopg2.errors.DuplicateObject):
        logger.debug("dead letters: made by another instance at the same moment: %s", sql.split("(")[0])


def _timed_out(exc: BaseException) -> bool:
    """Whether a PostgreSQL error is the statement or lock timeout the store sets (57014, 55P03)."""
    return getattr(exc, "pgcode", None) in ("57014", "55P03")


# labels of a connection the server answered and refused: a setting to change, not a network to wait for (exit 2)
# (a database not there is PG_CONNECTION_FAILED in the taxonomy, with a server not reached: said as unreachable)
_CONNECT_REFUSALS = frozenset({"PG_AUTH_FAILED", "PG_SSL_REQUIRED", "PG_ACCESS_DENIED", "PG_URL_MALFORMED"})


def _connect_refusal(exc: BaseException) -> str | None:
    """The taxonomy's label of a failed connect when it says the server (or libpq, of the DSN) refused it: a wrong
    password, a server that wants TLS, a pg_hba.conf rejection, a DSN libpq cannot read; None
    for a server not reached (refused, timed out, a name not found), said as unreachable."""
    label = classify_exception(exc).label
    return label if label in _CONNECT_REFUSALS else None


def _pg_transient(exc: BaseException) -> bool:
    """A psycopg2 error that says nothing of the table: the connection lost, a timeout."""
    return type(exc).__module__.startswith("psycopg2") and (
        _timed_out(exc) or any(k.__name__ in ("OperationalError", "InterfaceError") for k in type(exc).__mro__))


def _sqlite_busy(exc: BaseException) -> bool:
    """A SQLite error that says nothing of the file: another connection held its lock past the busy timeout
    (SQLITE_BUSY, SQLITE_LOCKED and their extended codes). The store connects again at its next statement: a `dlq
    purge` running while the app connected left it unbounded and not de-duplicated for its whole life."""
    return isinstance(exc, sqlite3.Error) and getattr(exc, "sqlite_errorcode", 0) & 0xFF in (5, 6)


def _is_postgres(target: str) -> bool:
    return bool(re.match(r"^postgres(?:ql)?(?:\+[A-Za-z0-9_]+)?://", target) or _PG_KEYWORDS.search(target))


def _create_private(path: str) -> None:
    """Create the SQLite file mode 0600 if it is not there (SQLite gives its journals the file's mode); one that other
    users may write (another user's file put where the app's goes, in /tmp; one made `chmod 666`) is a UsageError:
    the answers written into it, user data, would be theirs to read and its letters theirs to forge."""

    if path == ":memory:" or path.startswith("file:"):
        return
    with contextlib.suppress(OSError):  # mosaic-diag: ignore[MD006] - there already, or sqlite3 says why
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    _private(path)


def _private(path: str) -> None:
    """A UsageError when other users may write the SQLite file at `path` (its letters theirs to forge)."""
    import stat

    try:
        st = os.stat(path)
    except OSError:
        return  # (sqlite3 says why)
    if stat.S_ISREG(st.st_mode) and st.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
        raise UsageError(f"other users may write this dead-letter file (mode {stat.S_IMODE(st.st_mode):04o}): not "
                         "used; make it the owner's alone (chmod 600) or give another path", path=path)


def open_dead_letters(target: str | Path, *, retry_after: float = 5.0, statement_timeout: float | None = 2.0,
                      clock: Callable[[], float] = time.monotonic, max_letters: int | None = None,
                      read_only: bool = False) -> DeadLetterStore:
    """The store at a PostgreSQL DSN or a SQLite file path (created on first write). A statement waits at most
    `statement_timeout` seconds (a row or the table locked by a long `dlq purge`, another instance upgrading the
    table: PostgreSQL's statement_timeout and lock_timeout; SQLite's busy timeout), None for no limit (the CLI).
    A PostgreSQL that cannot be reached, or timed out, is tried again `retry_after` seconds of `clock` later, not at
    every rejected answer. The table keeps at most `max_letters` letters (None: MOSAIC_DLQ_MAX_LETTERS, else
    MAX_LETTERS; anything but a whole number from 1 to MAX_LETTERS_CAP is a UsageError at once): a new one past them
    evicts the oldest, counted (`stats()`). `read_only`: see DeadLetterStore (the reading commands)."""
    if not str(target).strip():
        raise UsageError("no dead-letter database: give a PostgreSQL DSN or a SQLite file path")
    return DeadLetterStore(str(target), retry_after=retry_after, statement_timeout=statement_timeout, clock=clock,
                           max_letters=max_letters, read_only=read_only)


_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")


def storable(text: str) -> str:
    """`text` as both stores take it: a NUL (PostgreSQL's text refuses it) and a lone surrogate (no UTF-8 encodes
    it: a decoded `\\ud83d` of a cut emoji) written as their JSON escapes, `\\u0000`, `\\ud83d`."""
    return _UNSTORABLE.sub(lambda m: f"\\u{ord(m.group()):04x}", text)


def _text_of(answer: Any) -> str:
    if isinstance(answer, str | bytes):
        return answer.decode("utf-8", "replace") if isinstance(answer, bytes) else answer
    try:
        return json.dumps(answer, default=str)
    except (TypeError, ValueError, RecursionError):  # a key json cannot write (a tuple), a cycle: as Python shows it
        return repr(answer)


def _strip_fences(text: str) -> str:
    cleaned = text.strip()
    if cleaned.startswith("```"):
        cleaned = cleaned.strip("`").strip()
        if cleaned[:4].lower() == "json":
            cleaned = cleaned[4:]
    return cleaned.strip()


def validate(model: type[M], answer: Any) -> M:
    """`answer` (JSON text, bytes, or a decoded object) as `model`; pydantic's ValidationError if not."""
    if isinstance(answer, str | bytes):
        text = _text_of(answer)
        return model.model_validate_json(_strip_fences(text))  # type: ignore[attr-defined]
    return model.model_validate(answer)  # type: ignore[attr-defined]


def stored_payload(text: str, limit: int = MAX_PAYLOAD_CHARS) -> str:
    """What the guard stores of a rejected answer: secrets masked (the redactor of the CLI), then at most
    `limit` characters, a cut one ending with a note of the length. Only the part kept (and 16,384 characters
    past it, so no secret across the cut is left half readable) is redacted: a huge answer costs no more."""
    total = len(text)
    text = redact_text(text[:limit + 16_384])
    if len(text) <= limit and total <= limit + 16_384:
        return text
    return f"{text[:limit]}\n[… {total - limit:,} more characters not stored ({total:,} in all) …]"


def describe_error(exc: Any) -> str:
    """A ValidationError as `location: message [type]` lines, without the input values (which would
    copy parts of the payload, secrets included, into the error column); at most MAX_ERROR_LINES lines of at most
    MAX_ERROR_LINE characters (an answer of 50,000 wrong items is 50,000 errors, a location holds the answer's own
    keys) and a note of the rest, secrets masked (an app's validator may quote the value in its message)."""
    errors = exc.errors(include_input=False, include_url=False)
    lines = []
    for err in errors[:MAX_ERROR_LINES]:
        where = ".".join(str(p) for p in err.get("loc", ())) or "(answer)"
        line = f"{_cut(where, 200)}: {err.get('msg', 'invalid')} [type={err.get('type', '?')}]"
        lines.append(_cut(line, MAX_ERROR_LINE))
    if len(errors) > MAX_ERROR_LINES:
        lines.append(f"[… {len(errors) - MAX_ERROR_LINES:,} more errors not stored ({len(errors):,} in all) …]")
    return redact_text("\n".join(lines) or str(exc).splitlines()[0])


# pydantic's errors whose message is a template filled from the schema or the parser alone (never the answer's text
# nor an app validator's): the one message of an error the summary shows
_SCHEMA_MESSAGES = frozenset({
    "missing", "extra_forbidden", "json_invalid", "json_type", "string_type", "string_unicode", "string_too_short",
    "string_too_long", "string_pattern_mismatch", "int_type", "int_parsing", "int_from_float", "float_type",
    "float_parsing", "bool_type", "bool_parsing", "list_type", "dict_type", "model_type", "model_attributes_type",
    "too_short", "too_long", "greater_than", "greater_than_equal", "less_than", "less_than_equal", "literal_error",
    "enum", "none_required"})
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,63}")


def summarize_error(exc: Any) -> str:
    """The first error of a ValidationError for the exception's message (the line the app's log, triage and the
    classifier read): its type, where (a key of the answer's own that is no plain name shown as `…`) and, for
    pydantic's own templates (`_SCHEMA_MESSAGES`), its message; no text of the answer. `describe_error` (the
    letter's) has the rest. A model answer is the prompt's to steer: a key `openai.RateLimitError: Error code: 429`
    in the message was read as that error, the rejection labelled a rate limit, retried, counted by the breaker."""
    errors = exc.errors(include_input=False, include_url=False, include_context=False)
    if not errors:
        return "invalid"
    err = errors[0]
    kind = str(err.get("type", "?"))
    kind = kind if _NAME.fullmatch(kind) else "…"
    where = ".".join(str(p) if isinstance(p, int) or _NAME.fullmatch(str(p)) else "…" for p in err.get("loc", ()))
    text = f"{kind} at {where or '(answer)'}"
    if kind in _SCHEMA_MESSAGES:
        text += f": {_cut(str(err.get('msg', '')).replace(chr(10), ' '), 200)}"
    return text + (f" (and {len(errors) - 1:,} more)" if len(errors) > 1 else "")


def _cut(text: str, limit: int) -> str:
    """At most `limit` characters of `text` and a note of the rest, redacted before the cut (`redact_cut`): cut
    first, a DSN an app's validator quoted lost its `@` and the first part of its password was stored."""
    if len(text) <= limit:
        return text
    return f"{redact_cut(text, limit)}[… {len(text) - limit:,} more characters]"


class SchemaGuard(Generic[M]):
    """Validate answers against one Pydantic model; dead-letter the rejects (see the module doc). `guard(answer)`
    in sync code, `await guard.call_async(answer)` in an `async def` endpoint: the letter is written on the store's
    own thread, never the event loop's. Either waits for the letter at most `store_timeout` seconds (a database
    that stopped answering: the write goes on there, the caller gets the rejection with `dead_letter_id` None and a
    warning), and not at all while a write is stuck past that (each later rejection would wait as long)."""

    def __init__(self, model: type[M], *, store: DeadLetterStore | str | Path | None = None,
                 provider: str | None = None, prompt_id: str | None = None, store_timeout: float = 10.0) -> None:
        if not callable(getattr(model, "model_validate_json", None)):
            raise TypeError(f"schema_guard: {model!r} is not a Pydantic model (a BaseModel subclass)")
        if isinstance(store, str | Path):  # a DSN or a file where the store was meant: the store it names
            store = open_dead_letters(store)
        elif store is not None and not callable(getattr(store, "add", None)):
            raise TypeError(f"schema_guard: store={store!r} is not a dead-letter store: give open_dead_letters(DSN "
                            "or SQLite path), the DSN or path itself, or None")
        self.model = model
        self.store = store
        self.provider = provider
        self.prompt_id = prompt_id
        self.store_timeout = store_timeout
        self._warned_loop = False
        self._waiting = 0  # letters handed to the store and not written yet (at most MAX_WAITING_LETTERS)
        self._waiting_lock = threading.Lock()

    def _check(self, answer: Any, provider: str | None, prompt_id: str | None) -> tuple[Any, SchemaRejected | None]:
        """(the validated answer, None) or (the answer as given, its rejection: label noted, no letter yet)."""
        if inspect.isawaitable(answer) or inspect.isasyncgen(answer):
            if inspect.iscoroutine(answer):
                answer.close()  # (no "never awaited" warning on top of this error)
            raise TypeError(f"schema_guard({self.model.__name__}) was given {type(answer).__name__} {answer!r}, not "
                            "an answer: await the call first, guard(await ask(...))")
        if hasattr(answer, "provider") and hasattr(answer, "value"):  # a FailoverResult
            provider = provider or answer.provider
            answer = answer.value
        provider = provider or self.provider
        prompt_id = prompt_id or self.prompt_id
        from pydantic import ValidationError

        try:
            return validate(self.model, answer), None
        except ValidationError as exc:
            error, summary = describe_error(exc), summarize_error(exc)
        rejected = SchemaRejected(self.model.__name__, error, provider=provider, prompt_id=prompt_id, summary=summary)
        rejected.label = classify_exception(rejected).label  # (the taxonomy's word: MODEL_ANSWER_INVALID)
        note_label(rejected.label)
        return answer, rejected

    def _write(self, answer: Any, rejected: SchemaRejected) -> int:
        """The letter of `rejected` (on the store's thread): its id."""
        assert self.store is not None
        return self.store.add(payload=stored_payload(_text_of(answer)), error=rejected.error, label=rejected.label,
                              model=rejected.model, provider=rejected.provider, prompt_id=rejected.prompt_id)

    def _submitted(self, answer: Any, rejected: SchemaRejected) -> Any:
        """The letter's write under way on the store's thread (a concurrent.futures.Future), or None when a write
        there is stuck past `store_timeout` or `MAX_WAITING_LETTERS` wait already (warned: the caller does not
        queue behind them, and a flood of rejections against a slow store holds neither memory nor threads)."""
        with self._waiting_lock:
            if self._waiting >= MAX_WAITING_LETTERS:
                self._not_stored(rejected, f"{self._waiting} dead letters already wait for the store")
                return None
            self._waiting += 1
        future = self._handed(answer, rejected)
        if future is None:
            self._written(None)
        else:
            future.add_done_callback(self._written)
        return future

    def _written(self, _: Any) -> None:
        with self._waiting_lock:
            self._waiting -= 1

    def _handed(self, answer: Any, rejected: SchemaRejected) -> Any:
        submit = getattr(self.store, "submit", None)
        if submit is None:  # a store of the app's own: a thread of its own per letter
            import concurrent.futures

            future: concurrent.futures.Future[int] = concurrent.futures.Future()

            def run() -> None:
                try:
                    future.set_result(self._write(answer, rejected))
                except BaseException as exc:  # the caller's wait raises it
                    future.set_exception(exc)

            threading.Thread(target=run, name="mosaic-dead-letter", daemon=True).start()
            return future
        since = getattr(self.store, "writing_since", None)
        if since is not None and time.monotonic() - since > self.store_timeout:
            self._not_stored(rejected, f"the store's last write is stuck for {time.monotonic() - since:.0f} s")
            return None
        return submit(self._write, answer, rejected)

    def _not_stored(self, rejected: SchemaRejected, why: Any) -> None:
        logger.warning("schema guard: answer rejected by %s, not dead-lettered: %s", rejected.model, why)

    def _failed(self, rejected: SchemaRejected, exc: BaseException) -> None:
        if isinstance(exc, TimeoutError):
            self._not_stored(rejected, f"the store did not answer within {self.store_timeout:g} s (still trying)")
        else:  # the caller still learns that the answer was rejected, whatever the store did
            self._not_stored(rejected, exc if isinstance(exc, DiagError) else f"{type(exc).__name__}: {exc}")

    def __call__(self, answer: Any, *, provider: str | None = None, prompt_id: str | None = None) -> M:
        checked, rejected = self._check(answer, provider, prompt_id)
        if rejected is None:
            return checked
        if self.store is not None:
            if not self._warned_loop and on_event_loop():
                self._warned_loop = True
                logger.warning("schema guard %s: a sync guard waits for its dead letter (up to %g s) on the event "
                               "loop's thread, which stops every other request meanwhile: in an `async def` endpoint "
                               "use `await guard.call_async(answer)`", rejected.model, self.store_timeout)
            future = self._submitted(checked, rejected)
            if future is not None:
                try:
                    rejected.dead_letter_id = future.result(timeout=self.store_timeout)
                except Exception as exc:  # (concurrent.futures.TimeoutError is TimeoutError)
                    self._failed(rejected, exc)
        raise rejected

    async def call_async(self, answer: Any, *, provider: str | None = None, prompt_id: str | None = None) -> M:
        """The guard for an `async def` endpoint: the validation on the loop, the letter written on the store's
        own thread (the loop serves other requests meanwhile), waited for at most `store_timeout` seconds. A task
        cancelled meanwhile does not wait: the letter is still written."""
        import asyncio

        checked, rejected = self._check(answer, provider, prompt_id)
        if rejected is None:
            return checked
        if self.store is not None:
            future = self._submitted(checked, rejected)
            if future is not None:
                try:
                    rejected.dead_letter_id = await asyncio.wait_for(asyncio.shield(asyncio.wrap_future(future)),
                                                                     self.store_timeout)
                except Exception as exc:
                    self._failed(rejected, exc)
        raise rejected


def schema_guard(model: type[M], *, store: DeadLetterStore | str | Path | None = None, provider: str | None = None,
                 prompt_id: str | None = None, store_timeout: float = 10.0) -> SchemaGuard[M]:
    """A validator of answers for `model` that dead-letters what it rejects into `store` (a store, or the DSN or
    SQLite path of one); a model that is not Pydantic's, or a store that is none, is a TypeError at once.
    `guard(answer)` in sync code, `await guard.call_async(answer)` in an `async def` endpoint (see SchemaGuard)."""
    return SchemaGuard(model, store=store, provider=provider, prompt_id=prompt_id, store_timeout=store_timeout)
