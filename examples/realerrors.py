"""A corpus of REAL exceptions, produced in-process by the real libraries.

`collect(pg, standin, workdir)` runs every scenario below against a throwaway PostgreSQL, the
LLM stand-in, SQLite files, prompt files and a loopback "job board" proxy, and returns one
`RealError` per scenario: the live exception (chain kept), its formatted traceback, the logger
Mosaic would log it under, the one-line message an app would log without the traceback, and
the taxonomy label (taxonomy.md) it must be classified as. The code that raises lives in
`examples/realerrors_api/` so the frames look like the real app's.

`APP_LOG_EXAMPLES` holds the labels whose evidence is an app or platform log line rather
than an exception, as (label, logger, level, message).
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import secrets
import socket
import sqlite3
import threading
import traceback
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from examples.llm_standin import LLMStandIn
from examples.pgtemp import DENIED_DB, UNKNOWN_ROLE, TempPostgres, ram_dir
from examples.realerrors_api import (
    ai_clients,
    embeddings,
    job_sources,
    prompts,
    ps101,
    sessions,
    settings,
    storage,
    uploads,
)


@dataclass(frozen=True)
class RealError:
    """One real exception and what mosaic-diag must say about it."""

    key: str
    label: str
    exc: BaseException
    text: str
    logger: str
    log_message: str


@dataclass(frozen=True)
class Scenario:
    """How to provoke one real error, and what it must look like."""

    key: str
    label: str
    logger: str
    expect_type: str  # qualified type name of the raised exception
    expect_message: str  # regex searched in str(exc)
    log: str  # the app's log message; {exc} is str(exc), {exc_type} the short type name
    run: Callable[[Context], object]


@dataclass
class Context:
    """Everything the scenarios share while `collect` runs."""

    pg: TempPostgres
    standin: LLMStandIn
    workdir: Path
    db_dsn: str = ""
    conn: Any = None
    proxy: str = ""
    closed_port: int = 0
    silent_port: int = 0
    small_pg: TempPostgres | None = None
    cleanups: list[Callable[[], object]] = field(default_factory=list)

    def openai(self, *, api_key: str = "sk-mosaic-test-0000000000000000", timeout: float = 10.0,
               base_url: str | None = None) -> Any:
        return ai_clients.openai_client(base_url or self.standin.openai_base_url, api_key=api_key, timeout=timeout)

    def anthropic(self, *, api_key: str = "sk-ant-mosaic-test-000000", timeout: float = 10.0,
                  base_url: str | None = None) -> Any:
        return ai_clients.anthropic_client(base_url or self.standin.anthropic_base_url, api_key=api_key,
                                           timeout=timeout)


SCENARIOS: list[Scenario] = []


def scenario(key: str, label: str, logger: str, expect_type: str, expect_message: str,
             log: str = "{exc}") -> Callable[[Callable[[Context], object]], Callable[[Context], object]]:
    def register(fn: Callable[[Context], object]) -> Callable[[Context], object]:
        SCENARIOS.append(Scenario(key, label, logger, expect_type, expect_message, log, fn))
        return fn
    return register


def qualified_type(exc: BaseException) -> str:
    """`psycopg2.errors.UndefinedColumn`, `openai.RateLimitError`, `KeyError` (as a traceback prints it)."""
    cls = type(exc)
    return cls.__qualname__ if cls.__module__ == "builtins" else f"{cls.__module__}.{cls.__qualname__}"


# ================================================================ PostgreSQL connections
PG_LOG = "Database connection failed: {exc}"
STORAGE = "api.storage"


@scenario("pg_wrong_password", "PG_AUTH_FAILED", STORAGE, "psycopg2.OperationalError",
          'password authentication failed for user "mosaic"', PG_LOG)
def _pg_wrong_password(ctx: Context) -> object:
    return storage.connect(ctx.pg.dsn(password="not-the-password"))


@scenario("pg_unknown_role", "PG_AUTH_FAILED", STORAGE, "psycopg2.OperationalError",
          f'role "{UNKNOWN_ROLE}" does not exist', PG_LOG)
def _pg_unknown_role(ctx: Context) -> object:
    return storage.connect(ctx.pg.dsn(user=UNKNOWN_ROLE, password="whatever"))


@scenario("pg_no_password", "PG_AUTH_FAILED", STORAGE, "psycopg2.OperationalError", "no password supplied", PG_LOG)
def _pg_no_password(ctx: Context) -> object:
    return storage.connect(ctx.pg.dsn(password=""))


@scenario("pg_ssl_required", "PG_SSL_REQUIRED", STORAGE, "psycopg2.OperationalError",
          r"no pg_hba\.conf entry for host .* no encryption", PG_LOG)
def _pg_ssl_required(ctx: Context) -> object:
    return storage.connect(ctx.pg.dsn("mosaic_ssl", sslmode="disable"))


@scenario("pg_access_denied", "PG_ACCESS_DENIED", STORAGE, "psycopg2.errors.InsufficientPrivilege",
          "must be owner of database", "Database maintenance failed: {exc}")
def _pg_access_denied(ctx: Context) -> object:
    return storage.describe_database(ctx.conn, "postgres", "Mosaic's maintenance database")


@scenario("pg_hba_rejects_either_way", "PG_ACCESS_DENIED", STORAGE, "psycopg2.OperationalError",
          r"pg_hba\.conf rejects connection for host .* SSL encryption", PG_LOG)
def _pg_hba_rejects_either_way(ctx: Context) -> object:
    # libpq's default sslmode (prefer): rejected with SSL, then without: not an encryption problem
    return storage.connect(ctx.pg.dsn(DENIED_DB, sslmode=None))


@scenario("pg_host_unresolvable", "PG_NETWORK_UNREACHABLE", STORAGE, "psycopg2.OperationalError",
          'could not translate host name "db.invalid"', PG_LOG)
def _pg_host_unresolvable(ctx: Context) -> object:
    return storage.connect(ctx.pg.dsn(host="db.invalid", port=5432))


@scenario("pg_render_internal_host", "PG_NETWORK_UNREACHABLE", STORAGE, "psycopg2.OperationalError",
          'could not translate host name "dpg-', PG_LOG)
def _pg_render_internal_host(ctx: Context) -> object:
    # Render's internal hostname (no domain) used from outside Render's private network
    return storage.connect(ctx.pg.dsn(host="dpg-cq1mosaic0s73d8db0-a", port=5432))


@scenario("pg_connect_timeout", "PG_NETWORK_UNREACHABLE", STORAGE, "psycopg2.OperationalError",
          "timeout expired", PG_LOG)
def _pg_connect_timeout(ctx: Context) -> object:
    # a loopback port that accepts TCP (kernel backlog) but never answers
    return storage.connect(ctx.pg.dsn(port=ctx.silent_port), connect_timeout=2)


@scenario("app_timeout", "APP_TIMEOUT", "mosaic_diag.golden", "mosaic_diag.golden.targets.AppTimeoutError",
          r"the app did not answer within 0\.5s", "golden case wimd-basic: {exc}")
def _app_timeout(ctx: Context) -> object:
    # the golden harness's own request to an app that accepts the connection and never answers
    import httpx

    from mosaic_diag.golden.targets import AppTimeoutError

    try:
        return httpx.get(f"http://127.0.0.1:{ctx.silent_port}/api/wimd", timeout=0.5)
    except httpx.TimeoutException as exc:
        raise AppTimeoutError(0.5, "GET /api/wimd") from exc


@scenario("pg_connection_refused", "PG_CONNECTION_FAILED", STORAGE, "psycopg2.OperationalError",
          "Connection refused", PG_LOG)
def _pg_connection_refused(ctx: Context) -> object:
    return storage.connect(ctx.pg.dsn(port=ctx.closed_port))


@scenario("pg_unknown_database", "PG_CONNECTION_FAILED", STORAGE, "psycopg2.OperationalError",
          'database "mosaic_production" does not exist', PG_LOG)
def _pg_unknown_database(ctx: Context) -> object:
    return storage.connect(ctx.pg.dsn("mosaic_production", sslmode="prefer"))


@scenario("pg_too_many_clients", "PG_CONNECTION_FAILED", STORAGE, "psycopg2.OperationalError",
          "too many clients already", PG_LOG)
def _pg_too_many_clients(ctx: Context) -> object:
    if ctx.small_pg is None:
        ctx.small_pg = TempPostgres(ram_dir() or ctx.workdir / "pg-small", max_connections=3).start()
        ctx.cleanups.append(ctx.small_pg.stop)
    held = []
    try:
        for _ in range(4):
            held.append(storage.connect(ctx.small_pg.dsn()))
    finally:
        for conn in held:
            conn.close()
    return held


@scenario("pg_connection_already_closed", "PG_CONNECTION_FAILED", STORAGE, "psycopg2.InterfaceError",
          "connection already closed", "Health check query failed: {exc}")
def _pg_connection_already_closed(ctx: Context) -> object:
    conn = storage.connect(ctx.db_dsn)
    conn.close()
    return storage.ping(conn)


@scenario("pg_server_closed_connection", "PG_CONNECTION_FAILED", STORAGE, "psycopg2.OperationalError",
          "server closed the connection unexpectedly", "Health check query failed: {exc}")
def _pg_server_closed_connection(ctx: Context) -> object:
    conn = storage.connect(ctx.db_dsn)
    admin = storage.connect(ctx.pg.superuser_dsn())
    admin.autocommit = True
    try:
        storage.terminate_backend(admin, conn.get_backend_pid())
    finally:
        admin.close()
    try:
        return storage.ping(conn)
    finally:
        conn.close()


@scenario("pg_pool_exhausted", "PG_POOL_EXHAUSTED", STORAGE, "psycopg2.pool.PoolError",
          "connection pool exhausted", "Could not get a database connection: {exc}")
def _pg_pool_exhausted(ctx: Context) -> object:
    pool = storage.open_pool(ctx.db_dsn, maxconn=2)
    ctx.cleanups.append(pool.closeall)
    return [storage.get_conn(pool) for _ in range(3)]


@scenario("pg_dsn_bad_sslmode", "PG_URL_MALFORMED", STORAGE, "psycopg2.OperationalError",
          'invalid sslmode value: "requried"', PG_LOG)
def _pg_dsn_bad_sslmode(ctx: Context) -> object:
    return storage.connect(ctx.pg.dsn(sslmode="requried"))


@scenario("pg_dsn_missing_equals", "PG_URL_MALFORMED", STORAGE, "psycopg2.ProgrammingError",
          'invalid dsn: missing "=" after "dbname"', PG_LOG)
def _pg_dsn_missing_equals(ctx: Context) -> object:
    return storage.connect(f"host={ctx.pg.host} port={ctx.pg.port} user=mosaic dbname")


@scenario("pg_dsn_bad_port", "PG_URL_MALFORMED", STORAGE, "psycopg2.OperationalError",
          'invalid integer value "5432mosaic" for connection option "port"', PG_LOG)
def _pg_dsn_bad_port(ctx: Context) -> object:
    return storage.connect(f"postgresql://mosaic:{ctx.pg.password}@{ctx.pg.host}:5432mosaic/mosaic")


@scenario("pg_dsn_bad_query_parameter", "PG_URL_MALFORMED", STORAGE, "psycopg2.ProgrammingError",
          'invalid dsn: invalid URI query parameter: "pool_size"', PG_LOG)
def _pg_dsn_bad_query_parameter(ctx: Context) -> object:
    return storage.connect(ctx.pg.dsn() + "&pool_size=10")


# ================================================================ SQLite fallback
SQLITE_LOG = "SQLite fallback query failed: {exc}"


def _sqlite(ctx: Context, name: str, *, init: bool = True, timeout: float = 5.0) -> sqlite3.Connection:
    conn = storage.sqlite_connect(ctx.workdir / name, timeout=timeout)
    ctx.cleanups.append(conn.close)
    if init:
        storage.sqlite_init(conn)
    return conn


@scenario("sqlite_no_such_table", "SQLITE_FALLBACK_ACTIVE", STORAGE, "sqlite3.OperationalError",
          "no such table: users", SQLITE_LOG)
def _sqlite_no_such_table(ctx: Context) -> object:
    return storage.sqlite_execute(_sqlite(ctx, "empty.sqlite3", init=False), "SELECT id FROM users WHERE email = ?",
                                  ("ada@example.com",))


@scenario("sqlite_no_such_column", "SQLITE_FALLBACK_ACTIVE", STORAGE, "sqlite3.OperationalError",
          "no such column: last_login", SQLITE_LOG)
def _sqlite_no_such_column(ctx: Context) -> object:
    return storage.sqlite_execute(_sqlite(ctx, "fallback.sqlite3"), "SELECT id, last_login FROM users")


@scenario("sqlite_database_locked", "SQLITE_FALLBACK_ACTIVE", STORAGE, "sqlite3.OperationalError",
          "database is locked", SQLITE_LOG)
def _sqlite_database_locked(ctx: Context) -> object:
    holder = _sqlite(ctx, "locked.sqlite3")
    holder.execute("BEGIN IMMEDIATE")
    holder.execute("INSERT INTO users (email, password_hash) VALUES ('a@example.com', 'x')")
    waiter = _sqlite(ctx, "locked.sqlite3", init=False, timeout=0.05)
    try:
        return storage.sqlite_execute(waiter, "INSERT INTO users (email, password_hash) VALUES (?, ?)",
                                      ("b@example.com", "y"))
    finally:
        holder.rollback()


@scenario("sqlite_unique", "SQLITE_FALLBACK_ACTIVE", STORAGE, "sqlite3.IntegrityError",
          "UNIQUE constraint failed: users.email", SQLITE_LOG)
def _sqlite_unique(ctx: Context) -> object:
    conn = _sqlite(ctx, "unique.sqlite3")
    for _ in range(2):
        storage.sqlite_execute(conn, "INSERT INTO users (email, password_hash) VALUES (?, ?)", ("ada@example.com", "h"))
    return conn


@scenario("sqlite_foreign_key", "SQLITE_FALLBACK_ACTIVE", STORAGE, "sqlite3.IntegrityError",
          "FOREIGN KEY constraint failed", SQLITE_LOG)
def _sqlite_foreign_key(ctx: Context) -> object:
    return storage.sqlite_execute(_sqlite(ctx, "fk.sqlite3"), "INSERT INTO sessions (id, user_id) VALUES (?, ?)",
                                  ("s-orphan", 4242))


@scenario("sqlite_unable_to_open", "SQLITE_FALLBACK_ACTIVE", STORAGE, "sqlite3.OperationalError",
          "unable to open database file", "Falling back to SQLite failed: {exc}")
def _sqlite_unable_to_open(ctx: Context) -> object:
    return storage.sqlite_connect(ctx.workdir / "missing-disk" / "mosaic.sqlite3")


# ================================================================ missing settings
@contextlib.contextmanager
def _without_env(*names: str) -> Iterator[None]:
    saved = {name: os.environ.pop(name) for name in names if name in os.environ}
    try:
        yield
    finally:
        os.environ.update(saved)


@scenario("env_openai_key_keyerror", "ENV_VAR_MISSING", "api.settings", "KeyError", "^'OPENAI_API_KEY'$",
          "Required setting missing: {exc}")
def _env_openai_key_keyerror(ctx: Context) -> object:
    with _without_env("OPENAI_API_KEY"):
        return settings.openai_api_key()


@scenario("env_database_url_keyerror", "ENV_VAR_MISSING", "api.settings", "KeyError", "^'DATABASE_URL'$",
          "Required setting missing: {exc}")
def _env_database_url_keyerror(ctx: Context) -> object:
    with _without_env("DATABASE_URL"):
        return settings.database_url()


@scenario("env_openai_client_without_key", "ENV_VAR_MISSING", "api.ai_clients", "openai.OpenAIError",
          "OPENAI_API_KEY", "OpenAI client could not start: {exc}")
def _env_openai_client_without_key(ctx: Context) -> object:
    with _without_env("OPENAI_API_KEY", "OPENAI_ADMIN_KEY"):
        return ai_clients.openai_client(ctx.standin.openai_base_url)


@scenario("env_anthropic_without_key", "ENV_VAR_MISSING", "api.ai_clients", "TypeError",
          "Could not resolve authentication method", "Anthropic call failed: {exc}")
def _env_anthropic_without_key(ctx: Context) -> object:
    with _without_env("ANTHROPIC_API_KEY", "ANTHROPIC_AUTH_TOKEN"):
        client = ai_clients.anthropic_client(ctx.standin.anthropic_base_url)
        return ai_clients.ask_anthropic(client, "I feel stuck in my career")


# ================================================================ data
DB_LOG = "Database query failed: {exc}"


@scenario("missing_column", "MISSING_COLUMN", STORAGE, "psycopg2.errors.UndefinedColumn",
          'column "last_login" does not exist', DB_LOG)
def _missing_column(ctx: Context) -> object:
    return storage.fetch_user(ctx.conn, "ada@example.com")


@scenario("missing_table", "MISSING_TABLE", STORAGE, "psycopg2.errors.UndefinedTable",
          'relation "job_matches" does not exist', DB_LOG)
def _missing_table(ctx: Context) -> object:
    return storage.count_job_matches(ctx.conn, 1)


@scenario("type_mismatch_integer", "TYPE_MISMATCH", STORAGE, "psycopg2.errors.InvalidTextRepresentation",
          'invalid input syntax for type integer: "ada@example.com"', DB_LOG)
def _type_mismatch_integer(ctx: Context) -> object:
    return storage.save_session(ctx.conn, "s-type", "ada@example.com", "{}")


@scenario("type_mismatch_json", "TYPE_MISMATCH", STORAGE, "psycopg2.errors.InvalidTextRepresentation",
          "invalid input syntax for type json", DB_LOG)
def _type_mismatch_json(ctx: Context) -> object:
    return storage.save_preferences(ctx.conn, "s-good", "{'theme': 'dark'}")


@scenario("type_mismatch_datatype", "TYPE_MISMATCH", STORAGE, "psycopg2.errors.DatatypeMismatch",
          'column "created_at" is of type timestamp with time zone but expression is of type integer', DB_LOG)
def _type_mismatch_datatype(ctx: Context) -> object:
    return storage.backdate_user(ctx.conn, 1, 1700000000)


@scenario("session_orphaned", "SESSION_ORPHANED", STORAGE, "psycopg2.errors.ForeignKeyViolation",
          'violates foreign key constraint "sessions_user_id_fkey"', DB_LOG)
def _session_orphaned(ctx: Context) -> object:
    return storage.save_session(ctx.conn, "s-orphan", 424242, "{}")


@scenario("duplicate_key", "DUPLICATE_KEY", STORAGE, "psycopg2.errors.UniqueViolation",
          'duplicate key value violates unique constraint "users_email_key"', DB_LOG)
def _duplicate_key(ctx: Context) -> object:
    return storage.create_user(ctx.conn, "ada@example.com", "pbkdf2:sha256:again")


@scenario("sql_question_mark_params", "SQL_DIALECT_ERROR", STORAGE, "psycopg2.errors.SyntaxError",
          r"syntax error at end of input\nLINE 1: .*= \?", DB_LOG)
def _sql_question_mark_params(ctx: Context) -> object:
    return storage.find_user_id(ctx.conn, "ada@example.com")


@scenario("sql_half_migrated_placeholders", "SQL_DIALECT_ERROR", STORAGE, "TypeError",
          "not all arguments converted during string formatting", DB_LOG)
def _sql_half_migrated_placeholders(ctx: Context) -> object:
    return storage.check_login(ctx.conn, "ada@example.com", "pbkdf2:sha256:600000$abc$def")


@scenario("sql_question_mark_literal", "SQL_DIALECT_ERROR", STORAGE, "psycopg2.errors.SyntaxError",
          r"syntax error at or near .*\nLINE 1: .*= \?", DB_LOG)
def _sql_question_mark_literal(ctx: Context) -> object:
    return storage.find_user_by_literal(ctx.conn)


@scenario("sql_autoincrement", "SQL_DIALECT_ERROR", STORAGE, "psycopg2.errors.SyntaxError",
          'syntax error at or near "AUTOINCREMENT"', DB_LOG)
def _sql_autoincrement(ctx: Context) -> object:
    return storage.create_uploads_table(ctx.conn)


@scenario("sql_insert_or_ignore", "SQL_DIALECT_ERROR", STORAGE, "psycopg2.errors.SyntaxError",
          'syntax error at or near "OR"', DB_LOG)
def _sql_insert_or_ignore(ctx: Context) -> object:
    return storage.register_email(ctx.conn, "ada@example.com")


@scenario("conn_misuse", "CONN_MISUSE", STORAGE, "AttributeError",
          "'psycopg2.extensions.connection' object has no attribute 'execute'", DB_LOG)
def _conn_misuse(ctx: Context) -> object:
    return storage.touch_session(ctx.conn, "s-good")


SESSIONS = "api.sessions"


@scenario("session_missing_field", "SESSION_DATA_CORRUPT", SESSIONS,
          "examples.realerrors_api.sessions.SessionLoadError", "is missing field 'user_id'",
          "Failed to load session: {exc}")
def _session_missing_field(ctx: Context) -> object:
    return sessions.load_session({"id": "s-7f3a", "user_data": "{}"})


@scenario("session_keyerror", "SESSION_DATA_CORRUPT", SESSIONS, "KeyError", "^'user_id'$",
          "Failed to load session s-7f3a: KeyError {exc}")
def _session_keyerror(ctx: Context) -> object:
    return sessions.session_owner({"id": "s-7f3a", "user_data": "{}"})


@scenario("user_data_null", "USER_DATA_NULL", SESSIONS, "TypeError",
          "the JSON object must be str, bytes or bytearray, not NoneType", "Failed to load session data: {exc}")
def _user_data_null(ctx: Context) -> object:
    return sessions.load_user_data(ctx.conn, "s-null")


@scenario("user_data_null_subscript", "USER_DATA_NULL", SESSIONS, "TypeError",
          "'NoneType' object is not subscriptable", "Failed to read session user_data: {exc}")
def _user_data_null_subscript(ctx: Context) -> object:
    return sessions.current_goal(None)


@scenario("session_json_corrupt", "TYPE_MISMATCH", SESSIONS, "json.decoder.JSONDecodeError",
          "Expecting property name enclosed in double quotes", "Failed to load session data: {exc}")
def _session_json_corrupt(ctx: Context) -> object:
    return sessions.load_user_data(ctx.conn, "s-badjson")


PS101 = "api.ps101"


def _steps() -> list[dict[str, Any]]:
    return [{"step": n, "title": f"Step {n}", "prompts": [f"Question {n}.{i}" for i in range(1, 4)]}
             for n in range(1, 11)]


@scenario("ps101_prompt_index", "PS101_STATE_CORRUPT", PS101, "IndexError", "list index out of range",
          "PS101 prompt lookup failed for step 3, prompt_index 7: {exc}")
def _ps101_prompt_index(ctx: Context) -> object:
    return ps101.current_prompt(_steps(), 3, 7)


@scenario("ps101_step_keyerror", "PS101_STATE_CORRUPT", PS101, "KeyError", "^11$",
          "PS101 step lookup failed: KeyError {exc}")
def _ps101_step_keyerror(ctx: Context) -> object:
    return ps101.step_title({s["step"]: s for s in _steps()}, 11)


@scenario("ps101_steps_malformed", "PS101_STEP_MALFORMED", PS101, "json.decoder.JSONDecodeError",
          "Expecting value: line", "Could not load ps101_steps.json: {exc}")
def _ps101_steps_malformed(ctx: Context) -> object:
    path = ctx.workdir / "prompts" / "ps101_steps.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    text = json.dumps(_steps()[:2], indent=2)
    path.write_text(text.replace('"Question 2.3"', '"Question 2.3",', 1))  # a trailing comma
    return ps101.load_steps(path)


@scenario("upload_missing", "UPLOAD_PATH_MISSING", "api.uploads", "FileNotFoundError",
          r"No such file or directory: '.*/uploads/resume-42\.pdf'", "Could not read upload: {exc}")
def _upload_missing(ctx: Context) -> object:
    (ctx.workdir / "uploads").mkdir(exist_ok=True)
    return uploads.read_upload(ctx.workdir / "uploads", "resume-42.pdf")


@scenario("memory_error", "RENDER_OUT_OF_MEMORY", "api.uploads", "MemoryError", r"^$",
          "Could not buffer upload: {exc_type}")
def _memory_error(ctx: Context) -> object:
    # far beyond any address space: the allocator refuses at once, nothing is really allocated
    return uploads.buffer_upload(1 << 62)


@scenario("prompts_csv_corrupt", "PROMPT_CSV_CORRUPT", "api.prompts", "_csv.Error",
          r"field larger than field limit \(131072\)", "Could not load prompts.csv: {exc_type}: {exc}")
def _prompts_csv_corrupt(ctx: Context) -> object:
    path = ctx.workdir / "prompts" / "prompts.csv"
    path.parent.mkdir(parents=True, exist_ok=True)
    rows = ["prompt,response", 'I feel stuck in my career,"Start with PS101 step 1']
    rows += [f"Prompt {i} about my next role,Suggested response {i} " + "lorem ipsum " * 50 for i in range(300)]
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")
    return prompts.load_prompts(path)


# ================================================================ OpenAI
AI = "api.ai_clients"
OPENAI_LOG = "OpenAI call failed: {exc}"
QUESTION = "I feel stuck in my career. What should I do next?"


def _openai_failing(mode: str, **kw: Any) -> Callable[[Context], object]:
    def run(ctx: Context) -> object:
        ctx.standin.set_failure("openai", mode, **kw)
        return ai_clients.ask_openai(ctx.openai(), QUESTION)
    return run


for _key, _mode, _label, _type, _msg in [
    ("openai_rate_limit", "rate_limit", "OPENAI_RATE_LIMIT", "openai.RateLimitError", "Rate limit reached for gpt-4"),
    ("openai_quota", "quota", "OPENAI_QUOTA_EXCEEDED", "openai.RateLimitError", "You exceeded your current quota"),
    ("openai_context_overflow", "context_overflow", "OPENAI_CONTEXT_OVERFLOW", "openai.BadRequestError",
     "maximum context length is 8192 tokens"),
    ("openai_server_error", "server_error", "OPENAI_SERVER_ERROR", "openai.InternalServerError",
     "Error code: 500"),
    ("openai_overloaded", "overloaded", "OPENAI_SERVER_ERROR", "openai.InternalServerError", "Error code: 503"),
]:
    scenario(_key, _label, AI, _type, _msg, OPENAI_LOG)(_openai_failing(_mode))


@scenario("openai_invalid_key", "OPENAI_INVALID_KEY", AI, "openai.AuthenticationError",
          r"Incorrect API key provided: bad\*+", OPENAI_LOG)
def _openai_invalid_key(ctx: Context) -> object:
    return ai_clients.ask_openai(ctx.openai(api_key="bad-sk-proj-0123456789abcdef"), QUESTION)


@scenario("openai_model_not_found", "OPENAI_MODEL_NOT_FOUND", AI, "openai.NotFoundError",
          "The model `gpt-5-nope` does not exist", OPENAI_LOG)
def _openai_model_not_found(ctx: Context) -> object:
    return ai_clients.ask_openai(ctx.openai(), QUESTION, model="gpt-5-nope")


@scenario("openai_timeout", "OPENAI_TIMEOUT", AI, "openai.APITimeoutError", "^Request timed out.$", OPENAI_LOG)
def _openai_timeout(ctx: Context) -> object:
    ctx.standin.set_failure("openai", "slow", delay=1.5)
    return ai_clients.ask_openai(ctx.openai(timeout=0.3), QUESTION)


@scenario("openai_connection_error", "OPENAI_CONNECTION_ERROR", AI, "openai.APIConnectionError",
          "^Connection error.$", OPENAI_LOG)
def _openai_connection_error(ctx: Context) -> object:
    return ai_clients.ask_openai(ctx.openai(base_url=f"http://127.0.0.1:{ctx.closed_port}/v1"), QUESTION)


@scenario("openai_content_filter", "OPENAI_CONTENT_FILTERED", AI, "openai.ContentFilterFinishReasonError",
          "rejected by the content filter", OPENAI_LOG)
def _openai_content_filter(ctx: Context) -> object:
    ctx.standin.set_failure("openai", "refusal")
    return ai_clients.ask_openai_structured(ctx.openai(), QUESTION)


@scenario("openai_bad_request", "OPENAI_ERROR", AI, "openai.BadRequestError", "Invalid 'messages': empty array",
          OPENAI_LOG)
def _openai_bad_request(ctx: Context) -> object:
    return ai_clients.ask_openai(ctx.openai(), "")


EMB = "api.embeddings"
EMB_LOG = "OpenAI embeddings call failed: {exc}"


@scenario("embeddings_rate_limit", "OPENAI_RATE_LIMIT", EMB, "openai.RateLimitError",
          "Rate limit reached for text-embedding-3-small", EMB_LOG)
def _embeddings_rate_limit(ctx: Context) -> object:
    ctx.standin.set_failure("openai", "rate_limit", endpoint="embeddings")
    return embeddings.embed_texts(ctx.openai(), ["Senior data analyst, remote"])


@scenario("embeddings_server_error", "OPENAI_SERVER_ERROR", EMB, "openai.InternalServerError", "Error code: 500",
          EMB_LOG)
def _embeddings_server_error(ctx: Context) -> object:
    ctx.standin.set_failure("openai", "server_error", endpoint="embeddings")
    return embeddings.embed_texts(ctx.openai(), ["Senior data analyst, remote"])


@scenario("embeddings_bad_input", "EMBEDDING_GENERATION_FAILED", EMB, "openai.BadRequestError",
          r"'\$\.input' is invalid", "Embedding generation failed: {exc}")
def _embeddings_bad_input(ctx: Context) -> object:
    return embeddings.embed_texts(ctx.openai(), [])


@scenario("embeddings_dimensions", "EMBEDDING_GENERATION_FAILED", EMB, "ValueError",
          "expected 1536 dimensions", "Embedding generation failed: {exc}")
def _embeddings_dimensions(ctx: Context) -> object:
    return embeddings.embed_texts(ctx.openai(), ["Senior data analyst, remote"], dimensions=256)


@scenario("model_answer_invalid", "MODEL_ANSWER_INVALID", AI, "mosaic_diag.runtime.guard.SchemaRejected",
          "^model answer rejected by schema CoachAnswer", "Model answer rejected: {exc}")
def _model_answer_invalid(ctx: Context) -> object:
    ctx.standin.set_failure("openai", "malformed")  # a 200 whose JSON answer is cut in half
    return ai_clients.ask_openai_guarded(ctx.openai(), QUESTION + " Reply with a JSON object.")


# ================================================================ Anthropic
ANTHROPIC_LOG = "Anthropic call failed: {exc}"


def _anthropic_failing(mode: str) -> Callable[[Context], object]:
    def run(ctx: Context) -> object:
        ctx.standin.set_failure("anthropic", mode)
        return ai_clients.ask_anthropic(ctx.anthropic(), QUESTION)
    return run


for _key, _mode, _label, _type, _msg in [
    ("anthropic_rate_limit", "rate_limit", "ANTHROPIC_RATE_LIMIT", "anthropic.RateLimitError", "rate_limit_error"),
    ("anthropic_overloaded", "overloaded", "ANTHROPIC_OVERLOADED", "anthropic.OverloadedError", "overloaded_error"),
    ("anthropic_context_overflow", "context_overflow", "ANTHROPIC_CONTEXT_OVERFLOW", "anthropic.BadRequestError",
     "prompt is too long: 210000 tokens > 200000 maximum"),
    ("anthropic_server_error", "server_error", "ANTHROPIC_SERVER_ERROR", "anthropic.InternalServerError",
     "api_error"),
    ("anthropic_credit_balance", "quota", "ANTHROPIC_CREDIT_EXHAUSTED", "anthropic.BadRequestError",
     "credit balance is too low"),
    ("anthropic_permission_denied", "permission", "ANTHROPIC_ERROR", "anthropic.PermissionDeniedError",
     "permission_error"),
    ("anthropic_refusal", "refusal", "ANTHROPIC_CONTENT_FILTERED",
     "examples.realerrors_api.ai_clients.AnthropicRefusal", "stop_reason=refusal"),
]:
    scenario(_key, _label, AI, _type, _msg, ANTHROPIC_LOG)(_anthropic_failing(_mode))


@scenario("anthropic_invalid_key", "ANTHROPIC_INVALID_KEY", AI, "anthropic.AuthenticationError",
          "invalid x-api-key", ANTHROPIC_LOG)
def _anthropic_invalid_key(ctx: Context) -> object:
    return ai_clients.ask_anthropic(ctx.anthropic(api_key="bad-ant-api03-key"), QUESTION)


@scenario("anthropic_model_not_found", "ANTHROPIC_MODEL_NOT_FOUND", AI, "anthropic.NotFoundError",
          "model: claude-nope", ANTHROPIC_LOG)
def _anthropic_model_not_found(ctx: Context) -> object:
    return ai_clients.ask_anthropic(ctx.anthropic(), QUESTION, model="claude-nope")


@scenario("anthropic_timeout", "ANTHROPIC_TIMEOUT", AI, "anthropic.APITimeoutError",
          "^(Request timed out or interrupted|Request to \\S+ timed out after)", ANTHROPIC_LOG)
def _anthropic_timeout(ctx: Context) -> object:
    ctx.standin.set_failure("anthropic", "slow", delay=1.5)
    return ai_clients.ask_anthropic(ctx.anthropic(timeout=0.3), QUESTION)


@scenario("anthropic_connection_error", "ANTHROPIC_CONNECTION_ERROR", AI, "anthropic.APIConnectionError",
          "^(Connection error.|Connection to \\S+ failed: .*)$", ANTHROPIC_LOG)
def _anthropic_connection_error(ctx: Context) -> object:
    return ai_clients.ask_anthropic(ctx.anthropic(base_url=f"http://127.0.0.1:{ctx.closed_port}"), QUESTION)


# ================================================================ job sources
JOBS = "api.job_sources"
JOBS_LOG = "Job source request failed: {exc}"


def _job_board(ctx: Context, status: int, reason: str, *, body: str = "") -> None:
    _JobBoardHandler.answer = (status, reason, body)


@scenario("greenhouse_503_requests", "GREENHOUSE_API_DOWN", JOBS, "requests.exceptions.HTTPError",
          "503 Server Error: Service Unavailable for url: http://boards-api.greenhouse.io/", JOBS_LOG)
def _greenhouse_503_requests(ctx: Context) -> object:
    _job_board(ctx, 503, "Service Unavailable")
    return job_sources.fetch_greenhouse_jobs(job_sources.requests_session(ctx.proxy), "mosaic")


@scenario("greenhouse_502_httpx", "GREENHOUSE_API_DOWN", JOBS, "httpx.HTTPStatusError",
          "Server error '502 Bad Gateway' for url 'http://boards-api.greenhouse.io/", JOBS_LOG)
def _greenhouse_502_httpx(ctx: Context) -> object:
    _job_board(ctx, 502, "Bad Gateway")
    with job_sources.httpx_client(ctx.proxy) as client:
        return job_sources.fetch_greenhouse_jobs_httpx(client, "mosaic")


@scenario("linkedin_999_httpx", "LINKEDIN_SCRAPE_BLOCKED", JOBS, "httpx.HTTPStatusError",
          "'999 Request denied' for url 'http://www.linkedin.com/jobs/search/", JOBS_LOG)
def _linkedin_999_httpx(ctx: Context) -> object:
    _job_board(ctx, 999, "Request denied")
    with job_sources.httpx_client(ctx.proxy) as client:
        return job_sources.search_linkedin_httpx(client, "data analyst")


@scenario("linkedin_429_requests", "LINKEDIN_SCRAPE_BLOCKED", JOBS, "requests.exceptions.HTTPError",
          "429 Client Error: Too Many Requests for url: http://www.linkedin.com/", JOBS_LOG)
def _linkedin_429_requests(ctx: Context) -> object:
    _job_board(ctx, 429, "Too Many Requests")
    return job_sources.search_linkedin(job_sources.requests_session(ctx.proxy), "data analyst")


@scenario("linkedin_403_requests", "LINKEDIN_SCRAPE_BLOCKED", JOBS, "requests.exceptions.HTTPError",
          "403 Client Error: Forbidden for url: http://www.linkedin.com/", JOBS_LOG)
def _linkedin_403_requests(ctx: Context) -> object:
    _job_board(ctx, 403, "Forbidden", body="<html>authwall</html>")
    return job_sources.search_linkedin(job_sources.requests_session(ctx.proxy), "data analyst")


@scenario("remotive_500_requests", "JOB_SOURCE_ERROR", JOBS, "requests.exceptions.HTTPError",
          "500 Server Error: Internal Server Error for url: http://remotive.com/", JOBS_LOG)
def _remotive_500_requests(ctx: Context) -> object:
    _job_board(ctx, 500, "Internal Server Error")
    return job_sources.search_remotive(job_sources.requests_session(ctx.proxy), "data analyst")


@scenario("adzuna_503_httpx", "JOB_SOURCE_ERROR", JOBS, "httpx.HTTPStatusError",
          "Server error '503 Service Unavailable' for url 'http://api.adzuna.com/", JOBS_LOG)
def _adzuna_503_httpx(ctx: Context) -> object:
    _job_board(ctx, 503, "Service Unavailable")
    with job_sources.httpx_client(ctx.proxy) as client:
        return job_sources.search_adzuna_httpx(client, "data analyst")


class _JobBoardHandler(BaseHTTPRequestHandler):
    """A loopback HTTP proxy that answers every job-board URL with the configured status."""

    answer: tuple[int, str, str] = (200, "OK", "{}")

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
        pass

    def do_GET(self) -> None:
        status, reason, body = type(self).answer
        data = (body or json.dumps({"error": reason, "host": urlsplit(self.path).hostname})).encode()
        self.send_response(status, reason)
        self.send_header("content-type", "text/html" if body else "application/json")
        self.send_header("content-length", str(len(data)))
        self.send_header("connection", "close")
        self.end_headers()
        self.wfile.write(data)


# ================================================================ app and platform log lines
APP_LOG_EXAMPLES: list[tuple[str, str, str, str]] = [
    ("AUTH_INVALID_CREDENTIALS", "api.auth", "ERROR", "Login failed for a***@example.com: password hash mismatch"),
    ("AUTH_USER_NOT_FOUND", "api.auth", "ERROR", "Login failed: user not found for email j***@example.org"),
    ("AUTH_SESSION_INVALID", "api.auth", "ERROR", "Session 9b1f0c2e not found: invalid session id"),
    ("SESSION_EXPIRED", "api.sessions", "ERROR", "Session 9b1f0c2e expired (TTL 86400s exceeded); user must log in"),
    ("PROMPT_SELECTOR_FAIL", "api.prompt_selector", "ERROR",
     "Prompt selector found no match for 'career pivot at 45'; falling back to the generic prompt"),
    ("RERANKER_UNAVAILABLE", "api.reranker", "ERROR",
     "CrossEncoder reranker unavailable: failed to load cross-encoder/ms-marco-MiniLM-L-6-v2; "
     "serving unranked matches"),
    ("UPLOAD_SIZE_EXCEEDED", "api.uploads", "ERROR",
     "Upload rejected (413): resume-final.pdf is 14.2 MB and exceeds the upload size limit (10 MB)"),
    ("SQLITE_FALLBACK_ACTIVE", "api.storage", "CRITICAL",
     "PostgreSQL unavailable at startup; falling back to SQLite: data will not persist"),
    ("ENV_VAR_MISSING", "api.settings", "CRITICAL", "DATABASE_URL is not set; refusing to start in production"),
    ("PS101_STATE_CORRUPT", "api.ps101", "ERROR", "PS101 progress out of range: prompt_index 7 > len(prompts) 3"),
    ("RENDER_DEPLOY_FAILED", "render", "ERROR", "==> Build failed 😞"),
    ("RENDER_OUT_OF_MEMORY", "render", "ERROR", "==> Ran out of memory (used over 512MB) while running your code."),
    ("RENDER_DEPLOY_FAILED", "render", "ERROR", "==> Exited with status 1 while running your code."),
    ("RENDER_HEALTHCHECK_TIMEOUT", "render", "ERROR",
     "==> Timed out: Port scan timeout reached, no open ports detected. Bind your service to at least one port. "
     "If you don't need to receive traffic on any port, create a background worker instead."),
]


# ================================================================ running the corpus
def _prepare(ctx: Context) -> None:
    """A fresh database with Mosaic's schema and a few rows; the sockets the scenarios need."""
    ctx.db_dsn = ctx.pg.create_database("realerrors_" + secrets.token_hex(4))
    ctx.conn = storage.connect(ctx.db_dsn)
    ctx.cleanups.append(ctx.conn.close)
    storage.init_schema(ctx.conn)
    user_id = storage.create_user(ctx.conn, "ada@example.com", "pbkdf2:sha256:600000$abc$def")
    storage.save_session(ctx.conn, "s-good", user_id, '{"goals": ["switch to UX research"]}')
    storage.save_session(ctx.conn, "s-null", user_id, None)
    storage.save_session(ctx.conn, "s-badjson", user_id, "{'goals': ['switch to UX research']}")

    closed = socket.socket()  # bound and held, never listening: it refuses, and no other server can take it
    closed.bind(("127.0.0.1", 0))
    ctx.closed_port = closed.getsockname()[1]
    ctx.cleanups.append(closed.close)
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(16)  # never accept(): connects complete in the kernel, then nothing answers
    ctx.silent_port = silent.getsockname()[1]
    ctx.cleanups.append(silent.close)

    proxy = ThreadingHTTPServer(("127.0.0.1", 0), _JobBoardHandler)
    proxy.daemon_threads = True
    threading.Thread(target=proxy.serve_forever, daemon=True).start()
    ctx.proxy = f"http://127.0.0.1:{proxy.server_address[1]}"
    ctx.cleanups.extend([proxy.server_close, proxy.shutdown])


def collect(pg: TempPostgres, standin: LLMStandIn, workdir: Path, *,
            only: set[str] | None = None) -> list[RealError]:
    """Run every scenario (or those in `only`) and return the real errors they raised, in order.

    A scenario that raises nothing is left out (tests compare the keys with SCENARIOS).
    The stand-in is reset before and after each scenario.
    """
    workdir = Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    ctx = Context(pg=pg, standin=standin, workdir=workdir)
    results: list[RealError] = []
    try:
        _prepare(ctx)
        for sc in SCENARIOS:
            if only is not None and sc.key not in only:
                continue
            standin.reset()
            try:
                sc.run(ctx)
            except Exception as exc:  # noqa: BLE001 - collecting exceptions is the point
                results.append(_real_error(sc, exc))
            finally:
                standin.reset()
                with contextlib.suppress(Exception):
                    ctx.conn.rollback()
    finally:
        for cleanup in reversed(ctx.cleanups):
            with contextlib.suppress(Exception):
                cleanup()
    return results


def _real_error(sc: Scenario, exc: BaseException) -> RealError:
    text = "".join(traceback.format_exception(exc))
    message = sc.log.format(exc=str(exc).rstrip(), exc_type=qualified_type(exc))
    return RealError(sc.key, sc.label, exc, text, sc.logger, message)


def expected(key: str) -> Scenario:
    """The scenario behind a RealError key."""
    for sc in SCENARIOS:
        if sc.key == key:
            return sc
    raise KeyError(key)


def matches_expectation(error: RealError) -> bool:
    sc = expected(error.key)
    return qualified_type(error.exc) == sc.expect_type and re.search(sc.expect_message, str(error.exc)) is not None
