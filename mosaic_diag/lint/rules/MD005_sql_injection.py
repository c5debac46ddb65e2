"""MD005 sql-string-building."""

from __future__ import annotations

from collections.abc import Iterator

from mosaic_diag.lint.context import ASYNCPG, FileContext
from mosaic_diag.lint.model import Hit, Rule


class SqlStringBuilding(Rule):
    """SQL built from variables with an f-string, `%`, `+`, `+=` or `.format()` and sent to the
    database (`execute`, `executemany`, `mogrify`, SQLAlchemy `text()`; on a connection or pool known as asyncpg's,
    `fetch`, `fetchrow`, `fetchval` and the other query methods too).

    Values spliced into SQL text are an injection hole and break on quotes; pass them as
    parameters (`cursor.execute("... WHERE email = %s", (email,))`, `text("... = :email")` with
    binds, asyncpg's `conn.fetch("... WHERE email = $1", email)`). Identifiers that must be dynamic go
    through `psycopg2.sql.SQL(...).format(sql.Identifier(name))`, which this rule does not flag.
    Constant-only pieces (`"a" + "b"`, an f-string without fields) are fine. A variable or module/class
    constant assigned such a string, and `query += user_input`, are followed.
    """

    code = "MD005"
    name = "sql-string-building"

    def check(self, ctx: FileContext) -> Iterator[Hit]:
        seen: set[tuple[int, int]] = set()
        for site in ctx.sql_sites:
            # (one finding an expression, however many of the texts it may be are built)
            if site.sql.dynamic and (id(site.call), id(site.sql.node)) not in seen:
                seen.add((id(site.call), id(site.sql.node)))
                yield Hit(site.sql.node, f"SQL built with {site.sql.how or 'string building'} from variables "
                                         "(injection risk): pass values as parameters "
                                         f"({'$1' if site.kind == ASYNCPG else '%s'})")
