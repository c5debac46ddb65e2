"""MD006 swallowed-exception."""

from __future__ import annotations

import ast
from collections.abc import Iterator

from mosaic_diag.lint.context import FileContext, call_name, dotted
from mosaic_diag.lint.model import Hit, Rule

_BROAD = frozenset({"Exception", "BaseException", "builtins.Exception", "builtins.BaseException"})
_LOG_METHODS = frozenset({"debug", "info", "warning", "warn", "error", "exception", "critical", "fatal",
                          "log", "print_exc", "print_exception", "capture_exception", "capture_message"})
# not errors to report: the optional-import idiom, and the ways a program is asked to stop
# (and a non-blocking call that would block, or a call a signal cut short: nothing happened, try again)
_QUIET_OK = frozenset({"ImportError", "ModuleNotFoundError", "KeyboardInterrupt", "SystemExit", "BrokenPipeError",
                       "GeneratorExit", "StopIteration", "StopAsyncIteration", "asyncio.CancelledError",
                       "BlockingIOError", "InterruptedError", "queue.Empty", "queue.Full", "asyncio.QueueEmpty",
                       "asyncio.QueueFull", "Queue.Empty", "Queue.Full"})  # (`Queue`: Python 2's, in import shims)
# calls that read the exception being handled: a body that prints or keeps their result uses the error
_READS_CURRENT = frozenset({"traceback.format_exc", "traceback.format_exception", "traceback.format_exception_only",
                            "sys.exc_info", "sys.exception"})
_EXITS = frozenset({"sys.exit", "exit", "quit", "builtins.exit", "builtins.quit"})
_SUPPRESS = frozenset({"contextlib.suppress", "contextlib.AsyncExitStack.suppress"})
_TIMEOUTS = frozenset({"TimeoutError", "builtins.TimeoutError", "asyncio.TimeoutError"})


class SwallowedException(Rule):
    """An `except` that swallows the error without logging or re-raising it.

    The framework: "Don't swallow exceptions without logging" — a silent failure is one
    that no log, alert or triage can ever see. Flagged: a bare `except:` or `except
    Exception` / `BaseException` whose body neither raises (nor stops the program with a failure
    status: `sys.exit(1)`, `sys.exit("message")`, `os._exit(n)`; nor fails the test: `self.fail(...)`,
    `pytest.fail(...)`), nor logs (`logger.*`, `logging.*`,
    `traceback.print_exc`, `warnings.warn`, `print`, a helper handed a logger or a level:
    `log_with_context(logger, logging.DEBUG, ...)`), nor uses the caught
    exception (`except Exception as e: errors.append(e)` passes it on, and so does a body that reads it
    through `traceback.format_exc()` / `sys.exc_info()`); any `except`
    whose body is only `pass` / `...` / `continue`; and `with contextlib.suppress(X):` for the
    same exceptions (it is `except X: pass`: ruff's SIM105 rewrite does not hide the finding).
    Not swallowing: `ImportError` (the optional-import idiom), and `KeyboardInterrupt`,
    `SystemExit`, `BrokenPipeError`, `GeneratorExit`, `StopIteration`, `CancelledError` (a
    program asked to stop), `BlockingIOError` and `InterruptedError`, `queue.Empty` / `queue.Full`,
    `asyncio.QueueEmpty` / `asyncio.QueueFull` (nothing happened: try again; names resolved through the imports,
    `from queue import Empty`), and `suppress(TimeoutError)` around
    a lone wait for an event (`await asyncio.wait_for(stop.wait(), 5)`: a timed sleep a stop cuts short), or
    `except TimeoutError: pass` after a `try` that starts with one and awaits nothing else.
    Nor is an exception the code expects: the `try`'s `else:` fails (`raise AssertionError(...)`, `assert False`,
    `self.fail(...)`: the error was the point), or the handler names the very class its `try` raises itself
    (`try: raise SchemaError("x")` / `except SchemaError: pass`; a broad handler still swallows the rest).
    A broad `except` that only returns a value (`except Exception: return False` in a probe) still swallows:
    the answer says that it failed, never why (a bug, a refused password, a timeout all read "no"); a probe
    catches the errors it expects (`except psycopg2.OperationalError: return False`, not flagged) or logs.
    """

    code = "MD006"
    name = "swallowed-exception"

    def check(self, ctx: FileContext) -> Iterator[Hit]:
        for node in ctx.calls if "suppress" in ctx.source else ():
            if ctx.qualified(node.func) in _SUPPRESS:
                names = frozenset(n for n in (ctx.qualified(a) for a in node.args) if n)
                if names and not names <= _QUIET_OK and not any(isinstance(a, ast.Starred) for a in node.args) \
                        and not (names <= _TIMEOUTS and _timed_wait(ctx, node)):
                    shown = ", ".join(ast.unparse(a) for a in node.args)
                    caught = shown if len(node.args) == 1 else f"({shown})"
                    yield Hit(node, f"`suppress({shown})` swallows the error (it is `except {caught}: pass`): "
                                    "log it or re-raise")
        for handler in ctx.handlers:
            names = _caught(ctx, handler.type)
            only_pass = all(isinstance(s, ast.Pass | ast.Continue) or (isinstance(s, ast.Expr)
                                                                         and isinstance(s.value, ast.Constant))
                            for s in handler.body)
            broad = handler.type is None or bool(names & _BROAD)
            if only_pass and not (names and names <= _QUIET_OK):
                if not _expected(ctx, handler, names) and not _timed_wait_handler(ctx, handler, names):
                    yield Hit(handler, f"`{_shown(handler)}: {_body_word(handler)}` swallows the error: log it or "
                                       "re-raise")
            elif broad and not _handles(ctx, handler) and not _expected(ctx, handler, names):
                yield Hit(handler, f"`{_shown(handler)}` swallows the error without logging or re-raising")


def _timed_wait(ctx: FileContext, call: ast.Call) -> bool:
    """`with suppress(TimeoutError): await asyncio.wait_for(stop.wait(), 5)` (or `stop.wait(5)`): a wait for an
    event of at most a while, the idiom of a timed sleep that a stop cuts short; its timeout is the wait's end, not
    an error (pgqueuer's shutdown waits, round 2 of the linter on public code)."""
    item = ctx.parents.get(call)
    stmt = ctx.parents.get(item) if item is not None else None
    if not isinstance(item, ast.withitem) or not isinstance(stmt, ast.With | ast.AsyncWith) or len(stmt.body) != 1:
        return False
    return _waits_for_an_event(ctx, stmt.body[0])


def _timed_wait_handler(ctx: FileContext, handler: ast.ExceptHandler, names: frozenset[str]) -> bool:
    """`try: await asyncio.wait_for(stop.wait(), 5)` / `except asyncio.TimeoutError: pass`: the same timed sleep as
    `_timed_wait`'s, written as a `try` (pgai's worker, round 7); what follows the wait in the `try` awaits nothing
    (so no other call's timeout is caught)."""
    owner = ctx.try_of(handler)
    if not names or not names <= _TIMEOUTS or not isinstance(owner, ast.Try) or not owner.body:
        return False
    rest = owner.body[1:]
    return _waits_for_an_event(ctx, owner.body[0]) and not any(
        isinstance(n, ast.Await | ast.AsyncFor | ast.AsyncWith) for s in rest for n in ast.walk(s))


def _waits_for_an_event(ctx: FileContext, body: ast.stmt) -> bool:
    """`await asyncio.wait_for(event.wait(), timeout)` or `event.wait(timeout)` as a statement."""
    value = body.value if isinstance(body, ast.Expr) else None
    if isinstance(value, ast.Await):
        value = value.value
    if isinstance(value, ast.Call) and ctx.qualified(value.func) == "asyncio.wait_for" and value.args:
        value = value.args[0]
    return isinstance(value, ast.Call) and isinstance(value.func, ast.Attribute) and value.func.attr == "wait"


def _caught(ctx: FileContext, expr: ast.expr | None) -> frozenset[str]:
    """The names an `except` catches, resolved through the imports (`from queue import Empty`: `queue.Empty`)."""
    if expr is None:
        return frozenset()
    elts = expr.elts if isinstance(expr, ast.Tuple) else [expr]
    return frozenset(n.removeprefix("builtins.") for n in (ctx.qualified(e) for e in elts) if n)


def _shown(handler: ast.ExceptHandler) -> str:
    """`except KeyError`, `except` (a bare one: not `except `)."""
    return f"except {ast.unparse(handler.type)}" if handler.type is not None else "except"


def _body_word(handler: ast.ExceptHandler) -> str:
    """What the body of a handler that does nothing is: `pass`, `continue`, `...` (a docstring: `pass`)."""
    first = handler.body[0]
    if isinstance(first, ast.Continue) or any(isinstance(s, ast.Continue) for s in handler.body):
        return "continue"
    if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant) and first.value.value is Ellipsis \
            and len(handler.body) == 1:
        return "..."
    return "pass"


def _expected(ctx: FileContext, handler: ast.ExceptHandler, names: frozenset[str]) -> bool:
    """The exception is what the code expects: the `try`'s `else:` fails outright (the call was meant to raise), or the
    `try` raises the handled class itself and the handler is not broad (sqlalchemy-utils' `_expect_failing_update`,
    pgsync's and databases' tests, round 5)."""
    owner = ctx.try_of(handler)
    if not isinstance(owner, ast.Try | ast.TryStar):
        return False
    for stmt in owner.orelse:  # (a statement of its own: a raise under an `if` checks what the call gave)
        if isinstance(stmt, ast.Raise) or (isinstance(stmt, ast.Assert) and isinstance(stmt.test, ast.Constant)
                                           and not stmt.test.value):
            return True
        if isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Call) and _fails_test(ctx, stmt.value):
            return True
    if not names or names & _BROAD:
        return False
    for node in _statements(owner.body):
        if isinstance(node, ast.Raise) and node.exc is not None:
            exc = node.exc.func if isinstance(node.exc, ast.Call) else node.exc
            if (ctx.qualified(exc) or "").removeprefix("builtins.") in names:
                return True
    return False


_NESTED = ("body", "orelse", "finalbody", "handlers", "cases")  # the fields that hold statements (and clauses)
_NESTED_OF: dict[type, tuple[str, ...]] = {}  # by node type, those of its fields
_DEFINITIONS = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)


def _statements(body: list[ast.stmt]) -> Iterator[ast.AST]:
    """Some statements and those nested in them (a `raise` is one: no expression is walked), not entering the
    functions and classes they define."""
    stack: list[ast.AST] = list(body)
    while stack:
        node = stack.pop()
        yield node
        fields = _NESTED_OF.get(type(node))
        if fields is None:
            fields = _NESTED_OF[type(node)] = tuple(f for f in _NESTED if f in type(node)._fields)
        if fields and not isinstance(node, _DEFINITIONS):
            for field in fields:
                stack.extend(getattr(node, field))


def _ends_program(ctx: FileContext, call: ast.Call) -> bool:
    """`sys.exit(1)`, `sys.exit("message")`, `os._exit(2)`, `exit(1)`: the program stops with a failure
    status (SystemExit is raised; `sys.exit()` / `sys.exit(0)` report success and hide the error)."""
    name = ctx.qualified(call.func) or dotted(call.func)
    if name == "os._exit":
        return True
    if name not in _EXITS or not call.args:
        return False
    status = call.args[0]
    return not (isinstance(status, ast.Constant) and status.value in (0, None, False))


def _fails_test(ctx: FileContext, call: ast.Call) -> bool:
    """`self.fail("...")` (unittest) or `pytest.fail("...")`: the test fails, with the message (a skip does not
    fail: it hides the error)."""
    return dotted(call.func) == "self.fail" or ctx.qualified(call.func) == "pytest.fail"


def _handles(ctx: FileContext, handler: ast.ExceptHandler) -> bool:
    """Raises, logs, or uses the exception (its bound name, `traceback.format_exc()`, `sys.exc_info()`)
    somewhere in its body."""
    for stmt in handler.body:
        for node in ast.walk(stmt):
            if isinstance(node, ast.Raise):
                return True
            if isinstance(node, ast.Name) and handler.name and node.id == handler.name:
                return True
            if isinstance(node, ast.Call):
                name = call_name(node)
                if name in _LOG_METHODS or name == "print" or dotted(node.func) == "warnings.warn":
                    return True
                if _ends_program(ctx, node) or _fails_test(ctx, node):
                    return True
                if ctx.qualified(node.func) in _READS_CURRENT:
                    return True
                if _reports_through(ctx, node) or _given_a_logger(ctx, node):
                    return True
    return False


_LEVELS = frozenset({"logging.DEBUG", "logging.INFO", "logging.WARNING", "logging.WARN", "logging.ERROR",
                     "logging.CRITICAL", "logging.FATAL"})


def _given_a_logger(ctx: FileContext, call: ast.Call) -> bool:
    """A helper handed a logging level or a logger (`log_with_context(logger, logging.DEBUG, "...")`, pgmq): a call
    that logs, wherever the helper is defined (round 7 of the linter on public code)."""
    for arg in (*call.args, *(k.value for k in call.keywords)):
        if ctx.qualified(arg) in _LEVELS:
            return True
        name = dotted(arg)
        if name is not None and name.rpartition(".")[2].lower().lstrip("_") == "logger":
            return True
    return False


_REPORTS_CURRENT = frozenset({"exception", "print_exc", "print_exception"})  # log methods that read the error


def _reports_through(ctx: FileContext, call: ast.Call) -> bool:
    """A call through the module's own reporting: a module-level alias of a log method (`LOGDBG = LOGGER.debug`,
    buku), or a function of the module or a method of its classes (`log_error(...)`, `self.log_error(...)`) whose
    body reads the error being handled (`traceback.format_exc()`, `sys.exc_info()`, `logger.exception(...)`:
    RoboDanny's `log_error` posts the traceback), round 6 of the linter on public code."""
    func = call.func
    if isinstance(func, ast.Name):
        name = func.id
    elif isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name) and func.value.id in {"self", "cls"}:
        name = "." + func.attr
    else:
        return False
    found = ctx.__dict__.get("_md006_reporters")
    if found is None:
        found = ctx.__dict__["_md006_reporters"] = _reporters(ctx)
    return name in found


def _reporters(ctx: FileContext) -> frozenset[str]:
    """The names `_reports_through` accepts: aliases by name, functions by name, methods as `.name`."""
    out: set[str] = set()
    functions: list[tuple[str, ast.FunctionDef | ast.AsyncFunctionDef]] = []
    for node in ctx.tree.body:
        if isinstance(node, ast.Assign) and isinstance(node.value, ast.Attribute) and \
                node.value.attr in _LOG_METHODS:
            out.update(t.id for t in node.targets if isinstance(t, ast.Name))
        elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            functions.append((node.name, node))
        elif isinstance(node, ast.ClassDef):
            functions.extend(("." + n.name, n) for n in node.body
                             if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef))
    for name, func in functions:
        stack: list[ast.AST] = list(func.body)  # (not its own handlers' bodies: there it reads its own errors)
        while stack:
            inner = stack.pop()
            if isinstance(inner, ast.Call) and (call_name(inner) in _REPORTS_CURRENT
                                                or ctx.qualified(inner.func) in _READS_CURRENT):
                out.add(name)
                break
            if not isinstance(inner, ast.ExceptHandler | ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda
                                  | ast.ClassDef):
                stack.extend(ast.iter_child_nodes(inner))
    return frozenset(out)
