"""MD002 conn-execute."""

from __future__ import annotations

import ast
from collections.abc import Iterator

from mosaic_diag.lint.context import PG, FileContext, call_name, dotted
from mosaic_diag.lint.model import Hit, Rule


class ConnExecute(Rule):
    """`.execute()` called on a psycopg2 connection instead of a cursor.

    sqlite3 connections have an `execute` shortcut; psycopg2 connections do not, so code
    ported from SQLite fails at run time with `AttributeError: 'psycopg2.extensions.connection'
    object has no attribute 'execute'` (label CONN_MISUSE). The framework: "PostgreSQL needs
    `cursor = conn.cursor()` before executing".

    A psycopg2 connection is a name bound from a configured factory (`lint.conn_factories`,
    default `get_conn`), `psycopg2.connect()` or a psycopg2 pool's `getconn()`, resolved through
    the imports; `get_conn().execute(...)` is caught too. psycopg 3 connections
    (`psycopg.connect()`, `psycopg_pool`) do have `execute`, and so do sqlite3's and asyncpg's
    connections and pools: all are left alone. Correct: `cursor = conn.cursor(); cursor.execute(...)`.
    """

    code = "MD002"
    name = "conn-execute"

    def check(self, ctx: FileContext) -> Iterator[Hit]:
        for call in ctx.execute_calls():
            assert isinstance(call.func, ast.Attribute)
            if ctx.receiver_kind(call) != PG:
                continue
            value = call.func.value
            inner = value.value if isinstance(value, ast.Await) else value  # `(await get_conn()).execute()`
            made_by = call_name(inner) if isinstance(inner, ast.Call) else None
            receiver = dotted(value) or f"{made_by or 'connection'}()"
            if isinstance(value, ast.Await):
                receiver = f"(await {receiver})"
            yield Hit(call, f"{receiver}.{call.func.attr}() on a psycopg2 connection: use "
                            f"`cursor = {receiver}.cursor()` and `cursor.{call.func.attr}(...)`")
