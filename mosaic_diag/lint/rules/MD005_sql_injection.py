"""MD005 sql-string-building."""

from __future__ import annotations

from collections.abc import Iterator

from mosaic_diag.lint.context import FileContext
from mosaic_diag.lint.model import Hit, Rule


class SqlStringBuilding(Rule):
    """SQL built from variables with an f-string, `%`, `+` or `.format()` and passed to `execute`.

    Values spliced into SQL text are an injection hole and break on quotes; pass them as
    parameters (`cursor.execute("... WHERE email = %s", (email,))`). Identifiers that must be
    dynamic go through `psycopg2.sql.SQL(...).format(sql.Identifier(name))`, which this rule
    does not flag. Constant-only pieces (`"a" + "b"`, an f-string without fields) are fine.
    A variable assigned such a string earlier in the same function is followed.
    """

    code = "MD005"
    name = "sql-string-building"

    def check(self, ctx: FileContext) -> Iterator[Hit]:
        for call in ctx.execute_calls():
            sql = ctx.sql_of(call)
            if sql is None or not sql.dynamic:
                continue
            yield Hit(sql.node, f"SQL built with {sql.how or 'string building'} from variables "
                                "(injection risk): pass values as parameters (%s)")
