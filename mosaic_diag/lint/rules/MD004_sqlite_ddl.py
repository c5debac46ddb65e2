"""MD004 sqlite-only-sql."""

from __future__ import annotations

from collections.abc import Iterator

from mosaic_diag.lint.context import FileContext
from mosaic_diag.lint.model import Hit, Rule
from mosaic_diag.lint.sqltext import sqlite_only_constructs


class SqliteOnlySql(Rule):
    """SQLite-only SQL (`AUTOINCREMENT`, `INSERT OR IGNORE` / `OR REPLACE`, `REPLACE INTO`,
    `PRAGMA`) in SQL passed to `execute`.

    PostgreSQL rejects these with a syntax error (label SQL_DIALECT_ERROR); the framework:
    "PostgreSQL uses SERIAL not AUTOINCREMENT". The words are looked for outside string
    literals and comments. Calls on a known `sqlite3` connection or cursor (the SQLite
    fallback itself) are left alone.
    """

    code = "MD004"
    name = "sqlite-only-sql"

    def check(self, ctx: FileContext) -> Iterator[Hit]:
        for sql in ctx.postgres_sql():
            for offset, construct, advice in sqlite_only_constructs(sql.text):
                line, col = ctx.sql_position(sql, offset)
                yield Hit(sql.node, f"SQLite-only `{construct}` in SQL: {advice}", line, col)
