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
    The INSERT is read by PostgreSQL's parser (a CTE's INSERT counts, an `INSERT` inside a
    literal does not). The unique keys come from the parsed DDL of the schema (`lint.schema`,
    default `schema.sql` or the migrations found from the repository root; the linter says when
    it finds none) and of any `CREATE TABLE` in the linted files (a file's own first: tests and examples each
    make their own `tbl`); a key that the database
    generates (SERIAL, IDENTITY, a `DEFAULT` of `nextval(...)` as pg_dump writes a serial, or of
    `gen_random_uuid()` / `uuid_generate_v4()`, also set by `ALTER COLUMN ... SET DEFAULT`) does not count.
    """

    code = "MD007"
    name = "insert-without-on-conflict"

    def check(self, ctx: FileContext) -> Iterator[Hit]:
        sites = list(ctx.postgres_sites())
        if not sites or not ctx.tables:  # (the tables are read only for a file with SQL: the schema parsed then)
            return
        for site in sites:
            sql = site.sql
            analysis = ctx.sql_analysis(site)
            inserts = ([(i.offset, i.table, i.handled) for i in analysis.inserts] if analysis.parsed
                       else insert_targets(sql.text))
            for offset, table, handled in inserts:
                info = ctx.tables.get(table)
                if handled or info is None or not info.has_conflict_key:
                    continue
                keys = ", ".join("(" + ", ".join(k) + ")" for k in info.conflict_keys)  # not a SERIAL id
                line, col = ctx.sql_position(sql, offset)
                yield Hit(sql.node, f"INSERT INTO {table} without ON CONFLICT: the table has unique "
                                    f"key(s) {keys}; add `ON CONFLICT (...) DO NOTHING` or `DO UPDATE`",
                          line, col)
