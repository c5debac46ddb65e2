"""MD001 conn-outside-with."""

from __future__ import annotations

import ast
from collections.abc import Iterator

from mosaic_diag.lint.context import FileContext, call_name
from mosaic_diag.lint.model import Hit, Rule

_WRAPPERS = frozenset({"closing", "enter_context", "enter_async_context"})


class ConnOutsideWith(Rule):
    """A connection from `get_conn()` used outside a `with` statement.

    The framework's rule: every database operation runs inside `with get_conn() as conn:`,
    so the connection is committed or rolled back and given back to the pool. `conn =
    get_conn()` leaks it (and, with a context-manager `get_conn`, is not a connection at
    all: `'_GeneratorContextManager' object has no attribute 'cursor'`).

    Correct: `with get_conn() as conn:` (also `async with`, `stack.enter_context(get_conn())`,
    `with closing(get_conn()) as conn:`). Configure other factory names with
    `lint.conn_factories`.
    """

    code = "MD001"
    name = "conn-outside-with"

    def check(self, ctx: FileContext) -> Iterator[Hit]:
        for node in ctx.nodes:
            if not isinstance(node, ast.Call) or call_name(node) not in ctx.conn_factories:
                continue
            if _managed(ctx, node):
                continue
            yield Hit(node, f"{call_name(node)}() used outside `with`: write `with {call_name(node)}() as conn:`")


def _managed(ctx: FileContext, call: ast.Call) -> bool:
    parent = ctx.parents.get(call)
    if isinstance(parent, ast.withitem) and parent.context_expr is call:
        return True
    if isinstance(parent, ast.Call) and call in parent.args and call_name(parent) in _WRAPPERS:
        return _managed(ctx, parent) or call_name(parent) != "closing"
    return False
