"""MD008 sql-syntax-error."""

from __future__ import annotations

from collections.abc import Iterator

from mosaic_diag.lint.context import FileContext
from mosaic_diag.lint.model import Hit, Rule


class SqlSyntaxError(Rule):
    """SQL that PostgreSQL's own parser rejects, with the parser's message.

    The SQL is parsed by pglast (libpg_query: the grammar of the PostgreSQL server itself), so
    what this rule rejects the database rejects too (`psycopg2.errors.SyntaxError`, label
    SQL_DIALECT_ERROR). The position is the parser's, mapped to file:line:col inside the string.
    Driver placeholders (`%s`, `%(name)s`, SQLAlchemy `:name`) are made neutral first (psycopg2's
    client-side values too: `IN %s` with a tuple, `NOTIFY chan, %s`; psycopg 3 binds on the server, where
    those fail). asyncpg sends the text as written, with the server's own `$1` (PostgreSQL's grammar reads
    them): its queries (`fetch`, `fetchrow`, `fetchval`, `execute`... on a connection or pool known as asyncpg's)
    are judged as they are, where a `:name` is a syntax error; the
    SQLite/MySQL constructs of MD003/MD004 are reported there, not twice here. An f-string or
    `.format()` skeleton that does not parse is not reported (the interpolated piece may be what
    completes it; MD005 speaks about it). Nor is: a `str.format` template whose fields name nothing in
    scope (`FROM {powa}.servers`: a cursor subclass or a wrapper fills them; as an f-string it would raise
    NameError; a field naming a variable in scope is a forgotten `f` prefix and is judged), a
    SQLAlchemy `text()` fragment (`order_by(text("importance"))`), the data rows of `COPY ... FROM stdin`. In a
    `.sql` file of named queries (aiosql / anosql `-- name: get-user^`, PugSQL `-- :name get_user :one`), `:name`
    binds are that library's placeholders; in any `.sql` file psql's meta-commands are blanked and its variables
    filled in (`:'name'`, `:"name"`, and `:name` in a script with meta-commands), and so are an extension script's
    `@extschema@` / `@extschema:name@` / `@extowner@`. A `.sql` file whose path names another database
    (`migrations/clickhouse/`, `09_add_mysql_...sql`), or that is a `sqlcmd` / `mysql` client script, is that
    database's and not judged. A `%%` in SQL with psycopg's placeholders is one `%`, inside an operator too
    (`<%%>`); SQL formatted with `%` from values the code spells is judged as formatted.
    """

    code = "MD008"
    name = "sql-syntax-error"

    def check(self, ctx: FileContext) -> Iterator[Hit]:
        for site in ctx.postgres_sites():
            for problem in ctx.sql_analysis(site).problems:
                if problem.code == self.code:
                    line, col = ctx.sql_position(site.sql, problem.offset)
                    yield Hit(site.sql.node, problem.message, line, col)
