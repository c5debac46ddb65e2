"""Database access in Mosaic's style: psycopg2 (pool, `with get_conn() as conn`) and the SQLite fallback."""

from __future__ import annotations

import logging
import sqlite3
from pathlib import Path
from typing import Any

logger = logging.getLogger("api.storage")

SCHEMA = """
CREATE TABLE users (
    id SERIAL PRIMARY KEY,
    email TEXT NOT NULL UNIQUE,
    password_hash TEXT NOT NULL,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE TABLE sessions (
    id TEXT PRIMARY KEY,
    user_id INTEGER NOT NULL REFERENCES users(id),
    user_data TEXT,
    user_prefs JSONB,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE TABLE ps101_progress (
    user_id INTEGER NOT NULL REFERENCES users(id),
    step INTEGER NOT NULL,
    prompt_index INTEGER NOT NULL DEFAULT 0
);
"""


def connect(dsn: str, *, connect_timeout: int = 5) -> Any:
    import psycopg2

    return psycopg2.connect(dsn, connect_timeout=connect_timeout)


def check_dsn(dsn: str) -> dict[str, str]:
    from psycopg2.extensions import parse_dsn

    return parse_dsn(dsn)


def open_pool(dsn: str, *, maxconn: int) -> Any:
    import psycopg2.pool

    return psycopg2.pool.SimpleConnectionPool(1, maxconn, dsn)


def get_conn(pool: Any) -> Any:
    return pool.getconn()


def init_schema(conn: Any) -> None:
    with conn.cursor() as cur:
        cur.execute(SCHEMA)
    conn.commit()


def ping(conn: Any) -> None:
    cursor = conn.cursor()
    cursor.execute("SELECT 1")


def describe_database(conn: Any, name: str, text: str) -> None:
    """Set a database's comment (only its owner may)."""
    from psycopg2 import sql

    try:
        with conn.cursor() as cur:
            cur.execute(sql.SQL("COMMENT ON DATABASE {} IS %s").format(sql.Identifier(name)), (text,))
        conn.commit()
    except Exception:
        conn.rollback()
        raise


def create_user(conn: Any, email: str, password_hash: str) -> int:
    with conn:
        cursor = conn.cursor()
        cursor.execute("INSERT INTO users (email, password_hash) VALUES (%s, %s) RETURNING id", (email, password_hash))
        return cursor.fetchone()[0]


def fetch_user(conn: Any, email: str) -> Any:
    with conn:
        cursor = conn.cursor()
        cursor.execute("SELECT id, email, last_login FROM users WHERE email = %s", (email,))
        return cursor.fetchone()


def count_job_matches(conn: Any, user_id: int) -> int:
    with conn:
        cursor = conn.cursor()
        cursor.execute("SELECT count(*) FROM job_matches WHERE user_id = %s", (user_id,))
        return cursor.fetchone()[0]


def save_session(conn: Any, session_id: str, user_id: Any, user_data: str | None) -> None:
    with conn:
        cursor = conn.cursor()
        cursor.execute("INSERT INTO sessions (id, user_id, user_data) VALUES (%s, %s, %s)",
                       (session_id, user_id, user_data))


def save_preferences(conn: Any, session_id: str, prefs_json: str) -> None:
    with conn:
        cursor = conn.cursor()
        cursor.execute("UPDATE sessions SET user_prefs = %s WHERE id = %s", (prefs_json, session_id))


def backdate_user(conn: Any, user_id: int, epoch_seconds: int) -> None:
    with conn:
        cursor = conn.cursor()
        cursor.execute("UPDATE users SET created_at = %(ts)s::integer WHERE id = %(id)s",
                       {"ts": epoch_seconds, "id": user_id})


def find_user_id(conn: Any, email: str) -> Any:
    with conn:
        cursor = conn.cursor()
        cursor.execute("SELECT id FROM users WHERE email = ?", (email,))
        return cursor.fetchone()


def check_login(conn: Any, email: str, password_hash: str) -> Any:
    with conn:
        cursor = conn.cursor()
        cursor.execute("SELECT id FROM users WHERE email = %s AND password_hash = ?", (email, password_hash))
        return cursor.fetchone()


def find_user_by_literal(conn: Any) -> Any:
    with conn:
        cursor = conn.cursor()
        cursor.execute("SELECT id FROM users WHERE email = ? AND password_hash = ?")
        return cursor.fetchone()


def create_uploads_table(conn: Any) -> None:
    with conn:
        cursor = conn.cursor()
        cursor.execute("CREATE TABLE IF NOT EXISTS uploads (id INTEGER PRIMARY KEY AUTOINCREMENT, path TEXT)")


def register_email(conn: Any, email: str) -> None:
    with conn:
        cursor = conn.cursor()
        cursor.execute("INSERT OR IGNORE INTO users (email, password_hash) VALUES (%s, %s)", (email, "x"))


def touch_session(conn: Any, session_id: str) -> None:
    conn.execute("UPDATE sessions SET created_at = now() WHERE id = %s", (session_id,))


def terminate_backend(admin_conn: Any, pid: int) -> None:
    with admin_conn.cursor() as cur:
        cur.execute("SELECT pg_terminate_backend(%s)", (pid,))


# -- the SQLite fallback -------------------------------------------------------------------------

def sqlite_connect(path: Path, *, timeout: float = 5.0) -> sqlite3.Connection:
    conn = sqlite3.connect(str(path), timeout=timeout)
    conn.execute("PRAGMA foreign_keys = ON")
    return conn


def sqlite_init(conn: sqlite3.Connection) -> None:
    conn.executescript("""
        CREATE TABLE IF NOT EXISTS users (id INTEGER PRIMARY KEY AUTOINCREMENT, email TEXT NOT NULL UNIQUE,
                                          password_hash TEXT NOT NULL);
        CREATE TABLE IF NOT EXISTS sessions (id TEXT PRIMARY KEY, user_id INTEGER NOT NULL REFERENCES users(id),
                                             user_data TEXT);
    """)


def sqlite_execute(conn: sqlite3.Connection, sql: str, params: tuple[Any, ...] = ()) -> list[Any]:
    cursor = conn.execute(sql, params)
    rows = cursor.fetchall()
    conn.commit()
    return rows
