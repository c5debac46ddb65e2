"""MD003 sqlite-placeholder."""

from __future__ import annotations

from collections.abc import Iterator

from mosaic_diag.lint.context import FileContext
from mosaic_diag.lint.model import Hit, Rule
from mosaic_diag.lint.sqltext import qmark_placeholders


class SqlitePlaceholder(Rule):
    """A SQLite `?` placeholder in SQL passed to `execute`.

    psycopg2 uses `%s` (or `%(name)s`); a `?` reaches PostgreSQL as-is and fails with
    `syntax error at or near "?"` or, with parameters, `not all arguments converted during
    string formatting` (label SQL_DIALECT_ERROR). The SQL is the first argument of
    `.execute` / `.executemany` (a literal, implicitly concatenated or triple-quoted, or a
    variable assigned a literal in the same function). Question marks inside SQL string
    literals and comments, and the jsonb operators `?|`, `?&`, `? 'key'`, are not
    placeholders. Calls on a known `sqlite3` connection or cursor are left alone.
    """

    code = "MD003"
    name = "sqlite-placeholder"

    def check(self, ctx: FileContext) -> Iterator[Hit]:
        for sql in ctx.postgres_sql():
            offsets = qmark_placeholders(sql.text)
            if offsets:
                line, col = ctx.sql_position(sql, offsets[0])
                yield Hit(sql.node, f"SQLite placeholder `?` in SQL ({len(offsets)}x): PostgreSQL "
                                    "(psycopg2) uses %s", line, col)
