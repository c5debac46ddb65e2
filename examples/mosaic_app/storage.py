"""Storage: PostgreSQL through a psycopg2 pool, with the SQLite fallback Mosaic runs on when
PostgreSQL cannot be reached at startup (logged loudly; /health shows `fallback_active`).

Every use goes through `with get_conn() as conn:` and `cursor = conn.cursor()` with `%s`
placeholders; on SQLite the cursor rewrites `%s` to `?`, so callers write one dialect.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from examples.mosaic_app.settings import APP_DIR

logger = logging.getLogger("api.storage")

SCHEMA_PATH = APP_DIR / "schema.sql"

_lock = threading.Lock()
_pool: Any = None  # psycopg2.pool.ThreadedConnectionPool when PostgreSQL is up
_sqlite_path: Path | None = None


class SQLiteCursor:
    """A sqlite3 cursor that accepts the `%s` placeholders the PostgreSQL code uses."""

    def __init__(self, cursor: sqlite3.Cursor) -> None:
        self._cursor = cursor

    def execute(self, sql: str, params: Sequence[Any] = ()) -> SQLiteCursor:
        self._cursor.execute(sql.replace("%s", "?"), tuple(params))
        return self

    def fetchone(self) -> tuple[Any, ...] | None:
        return self._cursor.fetchone()

    def fetchall(self) -> list[tuple[Any, ...]]:
        return self._cursor.fetchall()

    @property
    def rowcount(self) -> int:
        return self._cursor.rowcount

    def close(self) -> None:
        self._cursor.close()


class SQLiteConnection:
    """The fallback connection: the subset of the psycopg2 connection API the app uses."""

    def __init__(self, path: Path) -> None:
        self._conn = sqlite3.connect(str(path), timeout=10, check_same_thread=False)
        self._conn.execute("PRAGMA foreign_keys = ON")

    def cursor(self) -> SQLiteCursor:
        return SQLiteCursor(self._conn.cursor())

    def commit(self) -> None:
        self._conn.commit()

    def rollback(self) -> None:
        self._conn.rollback()

    def close(self) -> None:
        self._conn.close()


def init_db(database_url: str | None, sqlite_path: Path, *, pool_max: int = 10) -> str:
    """Open the pool (or fall back to SQLite) and apply schema.sql; returns the database type."""
    global _pool, _sqlite_path
    close_db()
    if database_url:
        import psycopg2
        import psycopg2.pool

        try:
            pool = psycopg2.pool.ThreadedConnectionPool(1, pool_max, dsn=database_url,
                                                        connect_timeout=5)
        except psycopg2.Error:
            logger.error("PostgreSQL connection pool initialization failed", exc_info=True)
        else:
            with _lock:
                _pool = pool
            apply_schema()
            logger.info("Database: PostgreSQL connection pool ready (max %d connections)", pool_max)
            return "postgresql"
    else:
        logger.error("DATABASE_URL is not set")
    sqlite_path.parent.mkdir(parents=True, exist_ok=True)
    with _lock:
        _sqlite_path = sqlite_path
    logger.warning("WARNING: Using SQLite fallback - data will not persist (%s)", sqlite_path)
    apply_schema()
    return "sqlite"


def close_db() -> None:
    """Close the pool (if any) and forget the fallback."""
    global _pool, _sqlite_path
    with _lock:
        pool, _pool, _sqlite_path = _pool, None, None
    if pool is not None:
        pool.closeall()


def current_pool() -> Any:
    """The psycopg2 pool, or None on the SQLite fallback (for the kit's /health database check)."""
    return _pool


def database_type() -> str:
    """`postgresql` or `sqlite`."""
    return "postgresql" if _pool is not None else "sqlite"


def fallback_active() -> bool:
    """True while the app runs on the SQLite fallback."""
    return _pool is None


@contextmanager
def get_conn() -> Iterator[Any]:
    """A connection for one unit of work: committed on success, rolled back on error."""
    pool, path = _pool, _sqlite_path
    if pool is not None:
        conn = pool.getconn()
        release = pool.putconn
    elif path is not None:
        conn = SQLiteConnection(path)
        release = SQLiteConnection.close
    else:
        raise RuntimeError("database not initialised: call init_db() first")
    try:
        yield conn
        conn.commit()
    except BaseException:
        conn.rollback()
        raise
    finally:
        release(conn)


def apply_schema(schema_path: Path = SCHEMA_PATH) -> None:
    """Run every statement of schema.sql (idempotent: CREATE TABLE IF NOT EXISTS)."""
    statements = [s.strip() for s in _strip_comments(schema_path.read_text()).split(";")]
    with get_conn() as conn:
        cursor = conn.cursor()
        for statement in statements:
            if statement:
                cursor.execute(statement)


def _strip_comments(sql: str) -> str:
    return "\n".join(line for line in sql.splitlines() if not line.lstrip().startswith("--"))


def check_postgres_connection() -> bool:
    """True when PostgreSQL answers `SELECT 1` (always False on the fallback)."""
    if _pool is None:
        return False
    import psycopg2
    import psycopg2.pool

    try:
        with get_conn() as conn:
            cursor = conn.cursor()
            cursor.execute("SELECT 1")
            return cursor.fetchone() == (1,)
    except (psycopg2.Error, psycopg2.pool.PoolError):
        logger.error("Health check: PostgreSQL did not answer", exc_info=True)
        return False
