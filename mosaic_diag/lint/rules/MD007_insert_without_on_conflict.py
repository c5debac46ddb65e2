"""MD007 insert-without-on-conflict."""

from __future__ import annotations

import ast
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
    literal does not), in the SQL of MD003 (asyncpg's `execute` / `fetchrow` ... on a known asyncpg connection or
    pool too: `INSERT ... RETURNING id` is often fetched). The unique keys come from the parsed DDL of the
    schema (`lint.schema`, default `schema.sql` or the migrations found from the repository root; the linter says when
    it finds none) and of any `CREATE TABLE` in the linted files (a file's own first: tests and examples each
    make their own `tbl`); a key that the database
    generates (SERIAL, IDENTITY, a `DEFAULT` of `nextval(...)` as pg_dump writes a serial, or of
    `gen_random_uuid()` / `uuid_generate_v4()`, also set by `ALTER COLUMN ... SET DEFAULT`) does not count.
    Nor does an INSERT whose duplicate the code expects: sent inside a `try` with a handler for the unique
    violation (asyncpg's `UniqueViolationError`, `psycopg2.errors.UniqueViolation`, an `IntegrityError`) that does
    more than re-raise it (`await ctx.send("This tag already exists.")`), or inside `pytest.raises(...)` of one.
    """

    code = "MD007"
    name = "insert-without-on-conflict"

    def check(self, ctx: FileContext) -> Iterator[Hit]:
        sites = list(ctx.postgres_sites())
        if not sites or not ctx.tables:  # (the tables are read only for a file with SQL: the schema parsed then)
            return
        expected: dict[int, bool] = {}
        for site in sites:
            sql = site.sql
            if id(site.call) not in expected:
                expected[id(site.call)] = _duplicate_expected(ctx, site.call)
            if expected[id(site.call)]:
                continue
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


_DUPLICATE_ERRORS = frozenset({"UniqueViolationError", "UniqueViolation", "IntegrityError"})


def _duplicate_error(ctx: FileContext, expr: ast.expr | None) -> bool:
    """An exception class (or a tuple of them) among which is a unique violation."""
    elts = expr.elts if isinstance(expr, ast.Tuple) else [expr] if expr is not None else []
    return any((ctx.qualified(e) or "").rsplit(".", 1)[-1] in _DUPLICATE_ERRORS for e in elts)


def _duplicate_expected(ctx: FileContext, call: ast.Call) -> bool:
    """The call is sent inside a `try` with a handler for the unique violation that does more than a bare `raise`
    (the duplicate is an answer: "this tag already exists", RoboDanny's tags, round 6 of the linter on public
    code), or inside `with pytest.raises(...)` of one; looked for up to the function the call is in."""
    child: ast.AST = call
    node = ctx.parents.get(call)
    while node is not None and not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda
                                                  | ast.ClassDef | ast.Module):
        if isinstance(node, ast.Try | ast.TryStar) and child in node.body:
            for handler in node.handlers:
                if _duplicate_error(ctx, handler.type) and not (
                        len(handler.body) == 1 and isinstance(handler.body[0], ast.Raise)
                        and handler.body[0].exc is None):
                    return True
        if isinstance(node, ast.With | ast.AsyncWith):
            for item in node.items:
                test = item.context_expr
                if isinstance(test, ast.Call) and ctx.qualified(test.func) == "pytest.raises" and test.args \
                        and _duplicate_error(ctx, test.args[0]):
                    return True
        child, node = node, ctx.parents.get(node)
    return False
