"""MD003 sqlite-placeholder."""

from __future__ import annotations

from collections.abc import Iterator

from mosaic_diag.lint.context import ASYNCPG, FileContext
from mosaic_diag.lint.model import Hit, Rule


class SqlitePlaceholder(Rule):
    """A SQLite `?` placeholder in SQL sent to PostgreSQL.

    psycopg2 uses `%s` (or `%(name)s`); a `?` reaches PostgreSQL as-is and fails with
    `syntax error at or near "?"` or, with parameters, `not all arguments converted during
    string formatting` (label SQL_DIALECT_ERROR). The SQL is what `.execute` / `.executemany` /
    `.mogrify` / SQLAlchemy `text()` receive: a literal, a variable or module/class constant
    assigned one, concatenations and `+=`. PostgreSQL's own parser decides: a `?` is a
    placeholder when the statement does not parse with it and does with a value in its place, so
    the jsonb operators `?`, `?|`, `?&` stay operators, and `?` inside literals and comments is
    text. Calls on a known `sqlite3` connection or cursor, or another database's (DuckDB, pyodbc,
    a SQLAlchemy engine on a `sqlite://` URL, ...), are left alone; through pyodbc to PostgreSQL (a
    connection string naming it) `?` is ODBC's placeholder, and right. On an asyncpg connection or pool (known by
    `asyncpg.connect()` / `create_pool()`, a pool's `acquire()`, or an `asyncpg.Connection` / `asyncpg.Pool`
    annotation) the SQL of `fetch` / `fetchrow` / `fetchval` / `execute` ... is read too, and asyncpg's
    placeholders are `$1`, `$2`. `--fix` writes `%s` (asyncpg: `$1`, `$2` in order, when the SQL numbers none
    itself) when the SQL has no `%` of its own and no such connection in the module runs the same string.
    """

    code = "MD003"
    name = "sqlite-placeholder"

    def check(self, ctx: FileContext) -> Iterator[Hit]:
        for site in ctx.postgres_sites():
            marks = [p for p in ctx.sql_analysis(site).problems if p.code == self.code]
            if not marks:
                continue
            line, col = ctx.sql_position(site.sql, marks[0].offset)
            fixes = tuple(e for p in marks for e in ctx.edit_for(site.sql, p.fix))
            if len(fixes) != len(marks):
                fixes = ()
            uses = "(asyncpg) uses $1, $2, ..." if site.kind == ASYNCPG else "(psycopg2) uses %s"
            yield Hit(site.sql.node, f"SQLite placeholder `?` in SQL ({len(marks)}x): PostgreSQL {uses}", line, col,
                      fixes)
