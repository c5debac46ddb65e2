"""MD007 insert-without-on-conflict."""

from __future__ import annotations

from collections.abc import Iterator

from mosaic_diag.lint.context import FileContext
from mosaic_diag.lint.model import Hit, Rule
from mosaic_diag.lint.sqltext import insert_targets


class InsertWithoutOnConflict(Rule):
    """An `INSERT` into a table with a unique key and no `ON CONFLICT` clause.

    The framework's "Idempotent Operations": a write that can run twice (a retry, a
    double-click, a replayed job) must not fail with `duplicate key value violates unique
    constraint` (label DUPLICATE_KEY); use `ON CONFLICT (...) DO NOTHING` or `DO UPDATE`.
    The unique keys come from the schema declaration (`predeploy.schema`, default
    `schema.sql`) and from any `CREATE TABLE` found in the linted files; a primary key that
    the database generates (SERIAL, IDENTITY) does not count. Tables the linter knows nothing
    about are not flagged.
    """

    code = "MD007"
    name = "insert-without-on-conflict"

    def check(self, ctx: FileContext) -> Iterator[Hit]:
        if not ctx.tables:
            return
        for call in ctx.execute_calls():
            sql = ctx.sql_of(call)
            if sql is None:
                continue
            for offset, table, handled in insert_targets(sql.text):
                info = ctx.tables.get(table)
                if handled or info is None or not info.has_conflict_key:
                    continue
                keys = ", ".join("(" + ", ".join(k) + ")" for k in info.unique_keys)
                line, col = ctx.sql_position(sql, offset)
                yield Hit(sql.node, f"INSERT INTO {table} without ON CONFLICT: the table has unique "
                                    f"key(s) {keys}; add `ON CONFLICT (...) DO NOTHING` or `DO UPDATE`",
                          line, col)
