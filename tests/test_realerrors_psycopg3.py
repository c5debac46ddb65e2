"""psycopg 3's real errors: each scenario runs with psycopg2 and with psycopg 3 against the test PostgreSQL
server (and a refused port, an unresolvable host, a pool held full), and both drivers' errors get the same
label, from the live exception, its printed traceback and the one-line message an app would log."""

from __future__ import annotations

import secrets
import socket
import traceback
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from types import ModuleType
from typing import Any

import pytest

from examples.pgtemp import TempPostgres

DRIVERS = ("psycopg2", "psycopg")
LOGGER = "api.storage"


@dataclass(frozen=True)
class World:
    """What the scenarios connect to."""

    pg: TempPostgres
    db: str  # the dsn of a database with `users` (mosaic's) and `audit` (the superuser's, no grant)
    closed_port: int


def _connect(driver: ModuleType, dsn: str) -> Any:
    return driver.connect(dsn, connect_timeout=5)


def _query(sql: str, params: tuple[Any, ...] | None = None) -> Callable[[ModuleType, World], object]:
    def run(driver: ModuleType, world: World) -> object:
        conn = _connect(driver, world.db)
        try:
            cursor = conn.cursor()
            cursor.execute(sql, params)
            return cursor.fetchall()
        finally:
            conn.close()
    return run


def _closed_connection(driver: ModuleType, world: World) -> object:
    conn = _connect(driver, world.db)
    conn.close()
    cursor = conn.cursor()
    cursor.execute("SELECT 1")
    return cursor.fetchall()


def _cursor_used_after_its_block(driver: ModuleType, world: World) -> object:
    conn = _connect(driver, world.db)
    try:
        with conn.cursor() as cursor:
            cursor.execute("SELECT 1")
        cursor.execute("SELECT 2")
        return cursor.fetchall()
    finally:
        conn.close()


def _pool_held_full(driver: ModuleType, world: World) -> object:
    if driver.__name__ == "psycopg2":
        import psycopg2.pool

        pool: Any = psycopg2.pool.SimpleConnectionPool(1, 1, world.db)
        try:
            return [pool.getconn() for _ in range(2)]
        finally:
            pool.closeall()
    from psycopg_pool import ConnectionPool

    with ConnectionPool(world.db, min_size=1, max_size=1, timeout=0.2) as pool:
        return [pool.getconn() for _ in range(2)]


# key: (label, what the app logs before str(exc), how to provoke it with a driver)
SCENARIOS: dict[str, tuple[str, str, Callable[[ModuleType, World], object]]] = {
    "wrong_password": ("PG_AUTH_FAILED", "Database connection failed",
                       lambda d, w: _connect(d, w.pg.dsn(password="not-the-password"))),
    "ssl_only_database_without_ssl": ("PG_SSL_REQUIRED", "Database connection failed",
                                      lambda d, w: _connect(d, w.pg.dsn("mosaic_ssl", sslmode="disable"))),
    "closed_port": ("PG_CONNECTION_FAILED", "Database connection failed",
                    lambda d, w: _connect(d, w.pg.dsn(port=w.closed_port))),
    "unknown_host": ("PG_NETWORK_UNREACHABLE", "Database connection failed",
                     lambda d, w: _connect(d, w.pg.dsn(host="db.invalid", port=5432))),
    "unknown_database": ("PG_CONNECTION_FAILED", "Database connection failed",
                         lambda d, w: _connect(d, w.pg.dsn("mosaic_production", sslmode="prefer"))),
    "bad_sslmode": ("PG_URL_MALFORMED", "Database connection failed",
                    lambda d, w: _connect(d, w.pg.dsn(sslmode="requried"))),
    "permission_denied_on_table": ("PG_ACCESS_DENIED", "Database query failed", _query("SELECT * FROM audit")),
    "question_mark_placeholder": ("SQL_DIALECT_ERROR", "Database query failed",
                                  _query("SELECT id FROM users WHERE email = ?", ("ada@example.com",))),
    "half_migrated_placeholders": ("SQL_DIALECT_ERROR", "Database query failed",
                                   _query("SELECT id FROM users WHERE email = %s AND id = ?", ("ada@example.com", 1))),
    "question_mark_literal": ("SQL_DIALECT_ERROR", "Database query failed",
                              _query("SELECT id FROM users WHERE email = ?")),
    "unique_violation": ("DUPLICATE_KEY", "Database query failed",
                         _query("INSERT INTO users (email) VALUES (%s)", ("ada@example.com",))),
    "undefined_column": ("MISSING_COLUMN", "Database query failed",
                         _query("SELECT last_login FROM users WHERE email = %s", ("ada@example.com",))),
    "connection_used_after_close": ("PG_CONNECTION_FAILED", "Health check query failed", _closed_connection),
    "cursor_used_after_its_block": ("CONN_MISUSE", "Database query failed", _cursor_used_after_its_block),
    "pool_timeout": ("PG_POOL_EXHAUSTED", "Could not get a database connection", _pool_held_full),
}


@pytest.fixture(scope="module")
def errors(pg: TempPostgres) -> Iterator[dict[tuple[str, str], BaseException]]:
    import psycopg
    import psycopg2

    db = pg.create_database(f"pg3_{secrets.token_hex(3)}")
    with psycopg.connect(db, autocommit=True) as conn:
        conn.execute("CREATE TABLE users (id SERIAL PRIMARY KEY, email TEXT NOT NULL UNIQUE)")
        conn.execute("INSERT INTO users (email) VALUES ('ada@example.com')")
    with psycopg.connect(pg.superuser_dsn(db.rsplit("/", 1)[1].split("?")[0]), autocommit=True) as admin:
        admin.execute("CREATE TABLE audit (id INTEGER)")
    drivers = {"psycopg2": psycopg2, "psycopg": psycopg}
    with socket.socket() as closed:  # bound and never listening: it refuses, and no server can take it
        closed.bind(("127.0.0.1", 0))
        world = World(pg, db, closed.getsockname()[1])
        out: dict[tuple[str, str], BaseException] = {}
        for key, (_, _, run) in SCENARIOS.items():
            for name in DRIVERS:
                try:
                    run(drivers[name], world)
                except Exception as exc:  # noqa: BLE001 - collecting the real errors is the point
                    out[key, name] = exc
        yield out


def _labels(exc: BaseException, prefix: str) -> tuple[str, str, str]:
    from mosaic_diag.classifier.classify import Classifier

    classifier = Classifier.default()
    return (classifier.classify_exception(exc).label,
            classifier.classify_text("".join(traceback.format_exception(exc))).label,
            classifier.classify_text(f"{prefix}: {str(exc).rstrip()}", logger=LOGGER, level="ERROR").label)


@pytest.mark.parametrize("key", list(SCENARIOS))
def test_each_driver_raised_its_own_error(errors: dict[tuple[str, str], BaseException], key: str) -> None:
    assert type(errors[key, "psycopg2"]).__module__.split(".")[0] in {"psycopg2", "builtins"}
    assert type(errors[key, "psycopg"]).__module__.split(".")[0] in {"psycopg", "psycopg_pool"}


@pytest.mark.parametrize("key", list(SCENARIOS))
def test_psycopg3_error_gets_the_label_of_its_psycopg2_counterpart(errors: dict[tuple[str, str], BaseException],
                                                                    key: str) -> None:
    label, prefix, _ = SCENARIOS[key]
    two, three = errors[key, "psycopg2"], errors[key, "psycopg"]
    assert _labels(two, prefix) == (label, label, label), str(two)
    assert _labels(three, prefix) == (label, label, label), str(three)


def test_a_missing_parameter_is_not_read_as_another_dialect(pg_db: str) -> None:
    """More `%s` placeholders than parameters: a value left out, whatever the scope (psycopg 3 counts both)."""
    import psycopg

    with psycopg.connect(pg_db) as conn, pytest.raises(psycopg.ProgrammingError) as failed:
        cursor = conn.cursor()
        cursor.execute("SELECT %s, %s", (1,))
    assert "the query has 2 placeholders but 1 parameters were passed" in str(failed.value)
    assert "SQL_DIALECT_ERROR" not in _labels(failed.value, "Database query failed")


def _counted(pg_db: str, percent: int, question: int, params: int) -> BaseException:
    """psycopg 3's own count error for a query of `percent` `%s` and `question` `?` placeholders given `params`."""
    import psycopg

    marks = ", ".join(["%s"] * percent + ["?"] * question)
    sql = f"SELECT id FROM users WHERE id IN ({marks})"
    with psycopg.connect(pg_db) as conn, pytest.raises(psycopg.ProgrammingError) as failed:
        conn.cursor().execute(sql, tuple(range(params)))
    return failed.value


@pytest.mark.parametrize(("percent", "question", "params", "dialect"), [
    (11, 3, 14, True),   # a half-migrated query: 11 placeholders, 14 parameters (two digits each)
    (9, 3, 12, True),    # one digit against two
    (0, 12, 12, True),   # SQLite's `?` only: no placeholder at all (said anywhere)
    (12, 0, 11, False),  # a value left out: not another dialect
    (10, 0, 9, False),
])
def test_the_placeholder_counts_are_compared_as_numbers(pg_db: str, percent: int, question: int, params: int,
                                                        dialect: bool) -> None:
    """psycopg 3's `the query has N placeholders but M parameters were passed`, real, with counts of 10 and more:
    fewer placeholders than parameters is SQL_DIALECT_ERROR in a database's scope (and with none at all,
    anywhere), more is a missing value; the rule compares the two numbers (`numbers`), not their digits."""
    from mosaic_diag.classifier.classify import Classifier

    exc = _counted(pg_db, percent, question, params)
    said = f"the query has {percent} placeholders but {params} parameters were passed"
    assert said in str(exc)
    labels = _labels(exc, "Database query failed")
    assert (labels == ("SQL_DIALECT_ERROR",) * 3) is dialect, (labels, str(exc))
    if not dialect:
        assert "SQL_DIALECT_ERROR" not in labels
        return
    found = Classifier.default().classify_text(f"Database query failed: {exc}", logger=LOGGER, level="ERROR")
    assert ("numbers", f"placeholders {percent} < parameters {params}") in [(h.key, h.text) for h in found.hits]
    # out of a database's scope only the query with no placeholder at all says another dialect
    anywhere = Classifier.default().classify_text(f"Request failed: {exc}", logger="api.steps", level="ERROR")
    assert (anywhere.label == "SQL_DIALECT_ERROR") is (percent == 0), anywhere.label
