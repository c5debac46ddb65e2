"""What the rules know about one parsed file: parents, scopes, which names hold connections,
and the SQL text passed to `.execute` / `.executemany`.

The connection tracking is flow-insensitive and deliberately small: a name (or `self.attr`)
bound from `get_conn()` (`x = get_conn()` or `with get_conn() as x`), `psycopg2.connect()`
or `pool.getconn()` holds a PostgreSQL connection; from `sqlite3.connect()`, a SQLite one;
`x.cursor()` of either holds a cursor of the same kind.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from functools import cached_property

from mosaic_diag.lint.ddl import Table

PG, SQLITE = "pg", "sqlite"
PG_CURSOR, SQLITE_CURSOR = "pg-cursor", "sqlite-cursor"
EXECUTE_METHODS = frozenset({"execute", "executemany"})
# `# mosaic-diag: ignore[MD001,MD003]` (the project's own) and flake8/ruff's `# noqa` / `# noqa: MD001, MD003`
_SUPPRESS = re.compile(r"#\s*mosaic-diag:\s*ignore(?:\[(?P<codes>[^\]]*)\])?"
                       r"|#\s*noqa(?::\s*(?P<noqa>[A-Z]+[0-9]+(?:[,\s]+[A-Z]+[0-9]+)*))?", re.IGNORECASE)
_SCOPES = (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda, ast.ClassDef, ast.Module)
_COMPOUND = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.If, ast.For, ast.AsyncFor, ast.While,
             ast.With, ast.AsyncWith, ast.Try, ast.Match)
_DYNAMIC = "\x00"  # stands for an interpolated value inside recovered SQL text


@dataclass(frozen=True)
class SqlText:
    """The SQL text an execute call receives, as far as it is known statically."""

    text: str          # literal parts; interpolated values appear as \\x00
    dynamic: bool      # built from a non-constant value (f-string, %, +, .format)
    node: ast.expr     # the expression that holds it (the literal, or the variable)
    literal: ast.expr  # the string literal it came from (same as node unless via a variable)
    how: str = ""      # "f-string", "% formatting", "+ concatenation", ".format()" when dynamic


def dotted(expr: ast.AST) -> str | None:
    """`a.b.c` for a Name/Attribute chain, else None."""
    parts: list[str] = []
    while isinstance(expr, ast.Attribute):
        parts.append(expr.attr)
        expr = expr.value
    if isinstance(expr, ast.Name):
        parts.append(expr.id)
        return ".".join(reversed(parts))
    return None


def call_name(call: ast.Call) -> str | None:
    """The last name of the called function: `get_conn` for `storage.get_conn()`."""
    func = call.func
    if isinstance(func, ast.Name):
        return func.id
    if isinstance(func, ast.Attribute):
        return func.attr
    return None


class FileContext:
    """One parsed file and the facts the rules share."""

    def __init__(self, path: str, source: str, tree: ast.Module, *,
                 tables: Mapping[str, Table] | None = None,
                 conn_factories: frozenset[str] = frozenset({"get_conn"})) -> None:
        self.path = path
        self.source = source
        self.tree = tree
        self.tables: Mapping[str, Table] = tables or {}
        self.conn_factories = conn_factories
        self.lines = source.splitlines()
        self.parents: dict[ast.AST, ast.AST] = {}
        self.nodes: list[ast.AST] = []
        for parent in ast.walk(tree):
            self.nodes.append(parent)
            for child in ast.iter_child_nodes(parent):
                self.parents[child] = parent
        self._sqlite_connect = self._sqlite_connect_names()

    # --- suppression -----------------------------------------------------------------------
    @cached_property
    def suppressions(self) -> dict[int, frozenset[str] | None]:
        """line -> codes ignored there (None: every code)."""
        out: dict[int, frozenset[str] | None] = {}
        lowered = self.source.lower()
        if "mosaic-diag" not in lowered and "noqa" not in lowered:
            return out
        for number, text in enumerate(self.lines, 1):
            if "#" not in text:
                continue
            ignored: set[str] | None = set()
            for m in _SUPPRESS.finditer(text):
                codes = m.group("codes") if m.group(0).lstrip("# \t").lower().startswith("mosaic") else m.group("noqa")
                if codes is None:
                    ignored = None
                    break
                ignored.update(c.upper() for c in re.split(r"[,\s]+", codes) if c)
            if ignored is None or ignored:
                out[number] = None if ignored is None else frozenset(ignored)
        return out

    def suppressed(self, code: str, first: int, last: int) -> bool:
        """True when a comment on any line first..last ignores `code`."""
        for line in range(first, last + 1):
            if line in self.suppressions:
                codes = self.suppressions[line]
                if codes is None or code in codes:
                    return True
        return False

    def statement_span(self, node: ast.AST) -> tuple[int, int]:
        """Lines where a suppression comment applies to a finding at `node`: the whole simple
        statement holding an expression (a call over several lines), else the node's first line."""
        first = getattr(node, "lineno", 1)
        if not isinstance(node, ast.expr):
            return first, first
        cur: ast.AST | None = node
        while cur is not None and not isinstance(cur, ast.stmt):
            cur = self.parents.get(cur)
        if cur is None or isinstance(cur, _COMPOUND):
            return first, getattr(node, "end_lineno", None) or first
        return cur.lineno, cur.end_lineno or cur.lineno

    # --- scopes and bindings ---------------------------------------------------------------
    def scope_of(self, node: ast.AST, *, klass: bool = False) -> ast.AST:
        """The nearest enclosing function (or class when `klass`), else the module."""
        cur = self.parents.get(node)
        while cur is not None:
            if klass and isinstance(cur, ast.ClassDef):
                return cur
            if not klass and isinstance(cur, _SCOPES) and not isinstance(cur, ast.ClassDef):
                return cur
            cur = self.parents.get(cur)
        return self.tree

    def _sqlite_connect_names(self) -> frozenset[str]:
        names = {"sqlite3.connect"}
        for node in self.nodes:
            if isinstance(node, ast.ImportFrom) and node.module == "sqlite3":
                names.update(a.asname or a.name for a in node.names if a.name == "connect")
            elif isinstance(node, ast.Import):
                names.update(f"{a.asname}.connect" for a in node.names if a.name == "sqlite3" and a.asname)
        return frozenset(names)

    def kind_of_value(self, value: ast.AST, at: ast.AST,
                      bindings: dict[tuple[int, str], str] | None = None) -> str | None:
        """The connection kind an expression evaluates to (pg, sqlite, their cursors) or None."""
        if isinstance(value, ast.Await):
            value = value.value
        if not isinstance(value, ast.Call):
            name = dotted(value)
            return self.kind_of_name(name, at, bindings) if name else None
        func_name = dotted(value.func) or ""
        last = call_name(value)
        if last in self.conn_factories or func_name in {"psycopg2.connect", "psycopg.connect"} or last == "getconn":
            return PG
        if func_name in self._sqlite_connect:
            return SQLITE
        if last == "cursor" and isinstance(value.func, ast.Attribute):
            base = self.kind_of_value(value.func.value, at, bindings)
            if base == PG:
                return PG_CURSOR
            if base == SQLITE:
                return SQLITE_CURSOR
        return None

    @cached_property
    def bindings(self) -> dict[tuple[int, str], str]:
        """(id of scope node, dotted name) -> kind, for every tracked binding in the file."""
        out: dict[tuple[int, str], str] = {}
        # two passes so that `cur = conn.cursor()` sees `conn` bound later in the walk order
        for _ in range(2):
            for node in self.nodes:
                pairs: list[tuple[ast.AST, ast.AST]] = []
                if isinstance(node, ast.Assign) and len(node.targets) == 1:
                    pairs.append((node.targets[0], node.value))
                elif isinstance(node, ast.AnnAssign) and node.value is not None:
                    pairs.append((node.target, node.value))
                elif isinstance(node, ast.With | ast.AsyncWith):
                    pairs.extend((item.optional_vars, item.context_expr) for item in node.items
                                 if item.optional_vars is not None)
                for target, value in pairs:
                    name = dotted(target)
                    if name is None:
                        continue
                    kind = self.kind_of_value(value, node, out)
                    if kind is not None:
                        out[(id(self._binding_scope(name, node)), name)] = kind
        return out

    def _binding_scope(self, name: str, node: ast.AST) -> ast.AST:
        return self.scope_of(node, klass=True) if name.startswith("self.") else self.scope_of(node)

    def kind_of_name(self, name: str, at: ast.AST,
                     bindings: dict[tuple[int, str], str] | None = None) -> str | None:
        """The kind bound to `name` as seen from node `at` (its function, then the module)."""
        bindings = self.bindings if bindings is None else bindings
        if name.startswith("self."):
            return bindings.get((id(self.scope_of(at, klass=True)), name))
        scope = self.scope_of(at)
        while True:
            kind = bindings.get((id(scope), name))
            if kind is not None or scope is self.tree:
                return kind
            scope = self.scope_of(scope)

    # --- execute calls and their SQL ---------------------------------------------------------
    def execute_calls(self) -> Iterator[ast.Call]:
        """Every `X.execute(...)` / `X.executemany(...)` call in the file."""
        for node in self.nodes:
            if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                    and node.func.attr in EXECUTE_METHODS):
                yield node

    def postgres_sql(self) -> Iterator[SqlText]:
        """The known SQL of every execute call that is not on a `sqlite3` connection or cursor."""
        for call in self.execute_calls():
            if self.receiver_kind(call) in {SQLITE, SQLITE_CURSOR}:
                continue
            sql = self.sql_of(call)
            if sql is not None:
                yield sql

    def receiver_kind(self, call: ast.Call) -> str | None:
        assert isinstance(call.func, ast.Attribute)
        return self.kind_of_value(call.func.value, call)

    def sql_of(self, call: ast.Call) -> SqlText | None:
        """The SQL text of an execute call's first argument (or `query=` / `sql=`), if known."""
        arg: ast.expr | None = call.args[0] if call.args else None
        if arg is None:
            arg = next((k.value for k in call.keywords if k.arg in {"query", "sql", "operation"}), None)
        if arg is None:
            return None
        return self._sql_text(arg, call, depth=0)

    def _sql_text(self, expr: ast.expr, at: ast.AST, depth: int) -> SqlText | None:
        if isinstance(expr, ast.Constant) and isinstance(expr.value, str):
            return SqlText(expr.value, False, expr, expr)
        if isinstance(expr, ast.JoinedStr):
            parts, dynamic = [], False
            for value in expr.values:
                if isinstance(value, ast.Constant) and isinstance(value.value, str):
                    parts.append(value.value)
                elif isinstance(value, ast.FormattedValue) and isinstance(value.value, ast.Constant):
                    parts.append(str(value.value.value))
                else:
                    parts.append(_DYNAMIC)
                    dynamic = True
            return SqlText("".join(parts), dynamic, expr, expr, "f-string" if dynamic else "")
        if isinstance(expr, ast.BinOp) and isinstance(expr.op, ast.Add):
            left = self._sql_text(expr.left, at, depth)
            right = self._sql_text(expr.right, at, depth)
            if left is None and right is None:
                return None
            text = (left.text if left else _DYNAMIC) + (right.text if right else _DYNAMIC)
            dynamic = left is None or right is None or left.dynamic or right.dynamic
            literal = (left or right).literal  # type: ignore[union-attr]
            how = next((p.how for p in (left, right) if p and p.how), "+ concatenation" if dynamic else "")
            return SqlText(text, dynamic, expr, literal, how)
        if isinstance(expr, ast.BinOp) and isinstance(expr.op, ast.Mod):
            left = self._sql_text(expr.left, at, depth)
            if left is None:
                return None
            constant = isinstance(expr.right, ast.Constant) or (
                isinstance(expr.right, ast.Tuple) and all(isinstance(e, ast.Constant) for e in expr.right.elts))
            return SqlText(left.text, True if not constant else left.dynamic, expr, left.literal,
                           "% formatting" if not constant else left.how)
        if (isinstance(expr, ast.Call) and isinstance(expr.func, ast.Attribute) and expr.func.attr == "format"
                and isinstance(expr.func.value, ast.Constant) and isinstance(expr.func.value.value, str)):
            constant = all(isinstance(a, ast.Constant) for a in expr.args) and all(
                isinstance(k.value, ast.Constant) for k in expr.keywords)
            return SqlText(expr.func.value.value, not constant, expr, expr.func.value,
                           "" if constant else ".format()")
        if isinstance(expr, ast.Name) and depth < 3:
            value = self._last_assignment(expr.id, at)
            if value is not None:
                found = self._sql_text(value, value, depth + 1)
                if found is not None:
                    return SqlText(found.text, found.dynamic, expr, found.literal, found.how)
        return None

    def _last_assignment(self, name: str, at: ast.AST) -> ast.expr | None:
        """The value last assigned to a plain name in the same scope before node `at`."""
        scope = self.scope_of(at)
        line = getattr(at, "lineno", 10**9)
        best: ast.Assign | ast.AnnAssign | None = None
        for node in ast.walk(scope):
            if not isinstance(node, ast.Assign | ast.AnnAssign) or node.lineno >= line:
                continue
            if self.scope_of(node) is not scope or node.value is None:
                continue
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            if any(isinstance(t, ast.Name) and t.id == name for t in targets) and (
                    best is None or node.lineno > best.lineno):
                best = node
        return best.value if best is not None else None

    def sql_position(self, sql: SqlText, offset: int) -> tuple[int, int]:
        """Source (line, col) of an offset in a SqlText: exact inside a single literal written
        without escapes (one-line or triple-quoted), else the start of the literal."""
        lit = sql.literal
        line, col = lit.lineno, lit.col_offset + 1
        segment = self._segment(lit)
        if segment is None or not isinstance(lit, ast.Constant) or not isinstance(lit.value, str):
            return line, col
        m = re.match(r"[rRuU]?('\'\'|\"\"\"|'|\")", segment)
        if m is None or offset > len(lit.value):
            return line, col
        quote = m.group(1)
        body = segment[m.end(): len(segment) - len(quote)]
        if body != lit.value or not segment.endswith(quote):
            return line, col
        before = segment[: m.end() + offset]
        nl = before.count("\n")
        if nl == 0:
            return line, col + len(before)
        return line + nl, len(before) - before.rfind("\n")

    def _segment(self, node: ast.AST) -> str | None:
        """The source text of a node (columns are UTF-8 byte offsets in the ast)."""
        end_line, end_col = getattr(node, "end_lineno", None), getattr(node, "end_col_offset", None)
        if end_line is None or end_col is None:
            return None
        rows = [r.encode() for r in self.lines[node.lineno - 1: end_line]]  # type: ignore[attr-defined]
        if not rows:
            return None
        if len(rows) == 1:
            return rows[0][node.col_offset: end_col].decode(errors="replace")  # type: ignore[attr-defined]
        rows[0] = rows[0][node.col_offset:]  # type: ignore[attr-defined]
        rows[-1] = rows[-1][:end_col]
        return b"\n".join(rows).decode(errors="replace")
