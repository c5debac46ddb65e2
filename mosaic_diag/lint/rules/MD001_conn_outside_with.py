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
    (`pool.putconn(conn)` / `conn.close()`), or closed by the very next statement; a connection returned
    in a tuple; one stored into an object that closes it (`self.conn = conn` with `self.conn.close()` in
    the class, `app.db` / `g.db` closed in the module, Flask's `g.pop("db")` teardown, a cache attribute
    whose values a loop closes).
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
    closed (at once, by the next statement), handed to a `with`, returned to the caller (alone, in a tuple,
    or given to the object returned), or stored into an object that closes it (`self.conn = conn`)."""
    if _closed_next(ctx, assign, names):
        return True  # `c = connect(dsn)` then `c.close()`: nothing runs between (a probe)
    owned = [n for n in names if "." in n]
    if any(_owner_closes(ctx, assign, n) for n in owned):
        return True  # `self.conn = connect()`, `app.db = connect()`: the object's, closed where it is
    scope = ctx.scope_of(assign, klass=any(n.startswith("self.") for n in names))
    for node in ast.walk(scope):
        if isinstance(node, ast.Return | ast.Yield) and node.value is not None and _holds(node.value, names):
            return True  # handed to the caller (alone, or to the object returned: `return Driver(conn)`)
        if isinstance(node, ast.withitem) and dotted(node.context_expr) in names:
            return True  # `with conn:` later
        if isinstance(node, ast.Assign) and node is not assign and dotted(node.value) in names:
            for target in node.targets:
                held = dotted(target.value if isinstance(target, ast.Subscript) else target) or ""
                if "." in held and _owner_closes(ctx, node, held):
                    return True  # `self.conn = conn`, `self._connections[url] = conn`: the object owns it
        if isinstance(node, ast.Try) and node.finalbody:
            for stmt in node.finalbody:
                if any(dotted(n) in names for n in ast.walk(stmt) if isinstance(n, ast.Name | ast.Attribute)):
                    return True
    return False


def _holds(expr: ast.expr, names: set[str]) -> bool:
    """`conn`, `(conn, pid)`, `{"conn": conn}`, `Driver(conn)`: the value is, holds or wraps the connection."""
    if dotted(expr) in names:
        return True
    if isinstance(expr, ast.Tuple | ast.List | ast.Set):
        return any(_holds(e, names) for e in expr.elts)
    if isinstance(expr, ast.Dict):
        return any(_holds(v, names) for v in expr.values)
    return _wraps(expr, names)


def _closed_next(ctx: FileContext, assign: ast.AST, names: set[str]) -> bool:
    """The statement after the assignment closes the connection (`name.close()`)."""
    parent = ctx.parents.get(assign)
    for field in ("body", "orelse", "finalbody"):
        block = getattr(parent, field, None)
        if isinstance(block, list) and assign in block:
            at = block.index(assign)
            after = block[at + 1] if at + 1 < len(block) else None
            return isinstance(after, ast.Expr) and _is_close(after.value, names)
    return False


def _is_close(expr: ast.AST, names: set[str]) -> bool:
    return (isinstance(expr, ast.Call) and isinstance(expr.func, ast.Attribute) and expr.func.attr == "close"
            and dotted(expr.func.value) in names)


def _owner_closes(ctx: FileContext, at: ast.AST, held: str) -> bool:
    """The object an attribute belongs to closes what it holds: `self.x` in its class, another object's
    attribute (`app.db`, `g.db`) in the module: `held.close()`, a loop over it (or its `.values()`) closing each,
    or Flask's teardown, `db = g.pop("db")` then `db.close()`."""
    scope = ctx.scope_of(at, klass=True) if held.startswith("self.") else ctx.tree
    owner, _, attr = held.rpartition(".")
    for node in ast.walk(scope):
        if _is_close(node, {held}):
            return True
        if isinstance(node, ast.For | ast.AsyncFor) and isinstance(node.target, ast.Name):
            it = node.iter
            if isinstance(it, ast.Call) and isinstance(it.func, ast.Attribute) and it.func.attr == "values":
                it = it.func.value
            if dotted(it) == held and any(_is_close(n, {node.target.id}) for s in node.body for n in ast.walk(s)):
                return True
        if isinstance(node, ast.Assign) and isinstance(node.value, ast.Call) and len(node.targets) == 1 \
                and isinstance(node.targets[0], ast.Name) and _takes(node.value, owner, attr):
            taken = {node.targets[0].id}
            if any(_is_close(n, taken) for n in ast.walk(ctx.scope_of(node))):
                return True
    return False


def _takes(call: ast.Call, owner: str, attr: str) -> bool:
    """`owner.pop("attr", ...)` or `getattr(owner, "attr", ...)`."""
    args = call.args
    if isinstance(call.func, ast.Attribute) and call.func.attr == "pop" and dotted(call.func.value) == owner:
        return bool(args) and isinstance(args[0], ast.Constant) and args[0].value == attr
    return (isinstance(call.func, ast.Name) and call.func.id == "getattr" and len(args) >= 2
            and dotted(args[0]) == owner and isinstance(args[1], ast.Constant) and args[1].value == attr)
