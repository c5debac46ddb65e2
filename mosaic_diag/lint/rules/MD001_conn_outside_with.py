"""MD001 conn-outside-with."""

from __future__ import annotations

import ast
from collections.abc import Iterator

from mosaic_diag.lint.context import CONNECTIONS, FileContext, call_name, dotted
from mosaic_diag.lint.model import Hit, Rule

_WRAPPERS = frozenset({"closing", "enter_context", "enter_async_context"})


class ConnOutsideWith(Rule):
    """A database connection made outside a `with` statement and never given back.

    The framework's rule: every database operation runs inside `with get_conn() as conn:`,
    so the connection is committed or rolled back and given back to the pool. `conn =
    get_conn()` leaks it (and, with a context-manager `get_conn`, is not a connection at
    all: `'_GeneratorContextManager' object has no attribute 'cursor'`). Connections are known
    by what makes them, resolved through the imports: `psycopg2.connect()`, a pool's `getconn()`,
    `psycopg.connect()`, and the factories of `lint.conn_factories` (default `get_conn`; plain or
    qualified names such as `myapp.db.get_conn`). `sqlite3.connect()` is not one of them.

    Correct: `with get_conn() as conn:` (also `async with`, `stack.enter_context(...)`,
    `with closing(...) as conn:`); for the driver's own calls also a factory that returns or
    yields the connection (alone, or given to the object it returns: `return Driver(conn)`), and
    `conn = pool.getconn()` released in a `finally:`
    (`pool.putconn(conn)` / `conn.close()`).
    """

    code = "MD001"
    name = "conn-outside-with"

    def check(self, ctx: FileContext) -> Iterator[Hit]:
        candidates = ctx.connection_call_names
        if not candidates:
            return
        for node in ctx.calls:
            if call_name(node) not in candidates:
                continue
            if ctx.kind_of_value(node, node) not in CONNECTIONS or _managed(ctx, node):
                continue
            shown = dotted(node.func) or call_name(node)
            if call_name(node) == "getconn" and not ctx.is_factory(node):
                owner = dotted(node.func.value) if isinstance(node.func, ast.Attribute) else None
                yield Hit(node, f"{shown}() never given back: `{owner or 'pool'}.putconn(conn)` in a `finally:` "
                                "(a `with` does not return it to the pool)")
                continue
            tail = "" if ctx.is_factory(node) else " (or release it in `finally:`)"
            yield Hit(node, f"{shown}() used outside `with`: write `with {shown}() as conn:`{tail}")


def _managed(ctx: FileContext, call: ast.Call) -> bool:
    made = call
    parent = ctx.parents.get(call)
    if isinstance(parent, ast.Await):
        call, parent = parent, ctx.parents.get(parent)  # type: ignore[assignment]
    app_factory = isinstance(call, ast.Call) and ctx.is_factory(call)  # a context manager: only `with` is right
    # one of the values an expression picks (`a() if x else b()`, `given or connect()`): judged where
    # the expression goes (the assignment released in `finally:`, the `with`, the `return`)
    while (isinstance(parent, ast.IfExp) and call is not parent.test) or isinstance(parent, ast.BoolOp):
        call, parent = parent, ctx.parents.get(parent)  # type: ignore[assignment]
        if isinstance(parent, ast.Await):
            call, parent = parent, ctx.parents.get(parent)  # type: ignore[assignment]
    if isinstance(parent, ast.withitem) and parent.context_expr is call:
        return True
    wrapped, holder = _through_arguments(ctx, made)
    if isinstance(parent, ast.Return | ast.Yield | ast.YieldFrom) or (
            wrapped and not ctx.is_factory(made) and isinstance(holder, ast.Return | ast.Yield | ast.YieldFrom)):
        return True  # a factory of its own (`return Driver(psycopg.connect(dsn))`: the wrapper owns it)
    if isinstance(parent, ast.Attribute) and parent.attr == "close":
        return True  # connect(...).close()
    if isinstance(holder, ast.Expr) and _expects_failure(ctx, holder):
        return True  # a probe: `try: psycopg2.connect(bad) except OperationalError`, `with pytest.raises(...)`
    if isinstance(parent, ast.Call) and call in parent.args and call_name(parent) in _WRAPPERS:
        return _managed(ctx, parent) or call_name(parent) != "closing"
    if app_factory:
        return False
    if isinstance(parent, ast.Assign | ast.AnnAssign):
        targets = parent.targets if isinstance(parent, ast.Assign) else [parent.target]
        names = {n for n in (dotted(t) for t in targets) if n}
        if names and _released(ctx, parent, names):
            return True
    return False


def _through_arguments(ctx: FileContext, node: ast.AST) -> tuple[bool, ast.AST | None]:
    """(given to another call, the node holding the outermost such call): the connection followed
    up through awaits and call arguments (`return Driver(await connect(dsn))`: the object handed to
    the caller owns it; `Driver(connect(bad))` as a statement in `pytest.raises`: a probe)."""
    parent = ctx.parents.get(node)
    wrapped = False
    while True:
        if isinstance(parent, ast.keyword):
            node, parent = parent, ctx.parents.get(parent)
        if isinstance(parent, ast.Call) and (node in parent.args or node in parent.keywords):
            wrapped = True
        elif not isinstance(parent, ast.Await):
            return wrapped, parent
        node, parent = parent, ctx.parents.get(parent)


def _wraps(expr: ast.expr, names: set[str]) -> bool:
    """`Driver(conn)`, `Driver(pool=Pool(conn))`: a call given the connection as an argument."""
    while isinstance(expr, ast.Await):
        expr = expr.value
    if not isinstance(expr, ast.Call):
        return False
    args = [*expr.args, *(k.value for k in expr.keywords)]
    return any(dotted(a) in names or _wraps(a, names) for a in args)


def _expects_failure(ctx: FileContext, stmt: ast.stmt) -> bool:
    """The statement is in the body of a `try` with handlers, or of a `with ...raises(...)`."""
    child: ast.AST = stmt
    cur = ctx.parents.get(stmt)
    while cur is not None and not isinstance(cur, ast.FunctionDef | ast.AsyncFunctionDef | ast.Module):
        if isinstance(cur, ast.Try) and cur.handlers and child in cur.body:
            return True
        if isinstance(cur, ast.With) and any(call_name(i.context_expr) == "raises" for i in cur.items
                                             if isinstance(i.context_expr, ast.Call)):
            return True
        child, cur = cur, ctx.parents.get(cur)
    return False


def _released(ctx: FileContext, assign: ast.AST, names: set[str]) -> bool:
    """The name is released in the same function (or, for `self.x`, the class): used in a `finally:`,
    closed, handed to a `with`, or returned to the caller."""
    attr = any(n.startswith("self.") for n in names)
    scope = ctx.scope_of(assign, klass=attr)
    for node in ast.walk(scope):
        if isinstance(node, ast.Return | ast.Yield) and node.value is not None and (
                dotted(node.value) in names or _wraps(node.value, names)):
            return True  # handed to the caller (alone, or to the object returned: `return Driver(conn)`)
        if isinstance(node, ast.withitem) and dotted(node.context_expr) in names:
            return True  # `with conn:` later
        if attr and isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) \
                and dotted(node.func.value) in names and node.func.attr == "close":
            return True
        if isinstance(node, ast.Try) and node.finalbody:
            for stmt in node.finalbody:
                if any(dotted(n) in names for n in ast.walk(stmt) if isinstance(n, ast.Name | ast.Attribute)):
                    return True
    return False
