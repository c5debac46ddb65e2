"""What the rules know about one parsed file: parents, scopes, imports, which names hold
connections, and the SQL text passed to `execute` / `executemany` / `mogrify` / SQLAlchemy `text()`, or to
the module's own functions and methods that pass a parameter on to those (`query_db(query, args)`,
`self.query(sql)`, `db.query(sql)`: judged where the SQL is written; wrappers in another module are not
followed: each file is linted alone).

Names are resolved through the module's imports (`from psycopg2 import pool` makes `pool.X` mean
`psycopg2.pool.X`), so a connection is known by what made it: `psycopg2.connect()`, a psycopg2
pool's `getconn()` or a configured factory (`lint.conn_factories`, default `get_conn`) give a
psycopg2 connection; `psycopg.connect()` / a `psycopg_pool` pool a psycopg 3 one; `sqlite3.connect()`
a SQLite one; `asyncpg.connect()` / `asyncpg.create_pool()`, an asyncpg pool's `acquire()` (`async with
pool.acquire() as conn`), a parameter or attribute annotated `asyncpg.Connection` / `asyncpg.Pool` (in a string or
a union too) an asyncpg one, whose `fetch` / `fetchrow` / `fetchval` / ... send SQL with `$1` placeholders (those
names are read as SQL only on such a receiver); another database's driver (`OTHER_DRIVERS`:
`mysql.connector.connect()`, `duckdb.connect()`...) one whose SQL is not PostgreSQL's (pyodbc: PostgreSQL's through
ODBC when its connection string names it), and so does
a SQLAlchemy engine whose URL in the code names another database (`create_engine("sqlite:///app.db")`); a property
or method of the class (`self.connection`, `self.connect()`) or a module function what its `return`s give,
a test's parameter named after a pytest fixture of the module what the fixture returns or yields; a parameter
annotated with a driver's type (`pymysql.cursors.Cursor`) that type; an object made by a module of the project named
after another database (`from app.query_runner.duckdb import DuckDB`) that database's; `x.cursor()` of either a
cursor of the same kind, `engine.connect()` / `.begin()` of a known engine its connection. The tracking is
flow-insensitive and small on purpose.
"""

from __future__ import annotations

import ast
import itertools
import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, replace
from functools import cached_property
from typing import TYPE_CHECKING

from mosaic_diag.lint.ddl import Table
from mosaic_diag.lint.model import PY_LINE_END, Edit
from mosaic_diag.lint.sqltext import looks_like_sql, template_fields

if TYPE_CHECKING:
    from mosaic_diag.lint.pgsql import SqlAnalysis

PG, PG3, SQLITE = "pg", "pg3", "sqlite"
PG_CURSOR, PG3_CURSOR, SQLITE_CURSOR = "pg-cursor", "pg3-cursor", "sqlite-cursor"
PG_POOL, PG3_POOL = "pg-pool", "pg3-pool"
CONNECTIONS = frozenset({PG, PG3})
_PG_KINDS = frozenset({PG, PG3, PG_CURSOR, PG3_CURSOR})
SQLITE_KINDS = frozenset({SQLITE, SQLITE_CURSOR})
EXECUTE_METHODS = frozenset({"execute", "executemany", "mogrify"})
OTHER, OTHER_CURSOR = "other-db", "other-db-cursor"  # another database's driver (MySQL, Snowflake, ...)
# the kinds whose SQL is another database's: never judged as PostgreSQL's (MD005 still is)
NOT_PG_KINDS = frozenset({SQLITE, SQLITE_CURSOR, OTHER, OTHER_CURSOR})
# PostgreSQL through ODBC (pyodbc with a PostgreSQL driver or DSN): PostgreSQL's SQL, with ODBC's `?` placeholders
PG_ODBC, PG_ODBC_CURSOR = "pg-odbc", "pg-odbc-cursor"
QMARK_KINDS = frozenset({PG_ODBC, PG_ODBC_CURSOR})
# an asyncpg connection or pool (a pool runs queries itself and gives connections: the same SQL): PostgreSQL's SQL
# with the server's own `$1` placeholders
ASYNCPG = "asyncpg"
# asyncpg's methods that send their first argument as SQL, beside `execute` / `executemany`: read only on a receiver
# known as asyncpg's (`fetch` is too common a name to take as SQL on any object)
ASYNCPG_METHODS = frozenset({"fetch", "fetchrow", "fetchval", "fetchmany", "prepare", "cursor", "copy_from_query"})
# the kinds whose SQL is judged as PostgreSQL's whatever it looks like
_POSTGRES_KINDS = frozenset({PG, PG3, PG_CURSOR, PG3_CURSOR, ASYNCPG})
# the connection factories of other databases' drivers, by database: what they make runs that database's SQL
OTHER_DRIVERS: dict[str, tuple[str, ...]] = {
    "mysql": ("mysql.connector.connect", "mysql.connector.MySQLConnection", "mysql.connector.aio.connect",
              "pymysql.connect", "pymysql.Connect", "pymysql.connections.Connection", "MySQLdb.connect",
              "MySQLdb.Connect", "MySQLdb.Connection", "mariadb.connect", "aiomysql.connect", "asyncmy.connect"),
    "snowflake": ("snowflake.connector.connect",),
    "duckdb": ("duckdb.connect",),
    "netezza": ("nzpy.connect",),
    "odbc": ("pyodbc.connect",),
    "oracle": ("cx_Oracle.connect", "cx_Oracle.Connection", "oracledb.connect", "oracledb.connect_async"),
    "sqlserver": ("pymssql.connect", "pytds.connect"),
    "clickhouse": ("clickhouse_driver.connect", "clickhouse_driver.dbapi.connect", "clickhouse_connect.get_client"),
    "trino": ("trino.dbapi.connect",),
    "presto": ("prestodb.dbapi.connect",),
    "hive": ("pyhive.hive.connect",),
    "databricks": ("databricks.sql.connect",),
    "db2": ("ibm_db_dbi.connect",),
    "firebird": ("fdb.connect", "firebird.driver.connect"),
    "vertica": ("vertica_python.connect",),
}
_KNOWN_FACTORIES = {
    "psycopg2.connect": PG, "psycopg2.extras.connect": PG,
    "psycopg.connect": PG3, "psycopg.Connection.connect": PG3, "psycopg.AsyncConnection.connect": PG3,
    "sqlite3.connect": SQLITE, "sqlite3.dbapi2.connect": SQLITE, "aiosqlite.connect": SQLITE,
    "asyncpg.connect": ASYNCPG, "asyncpg.connection.connect": ASYNCPG, "asyncpg.create_pool": ASYNCPG,
    "asyncpg.pool.create_pool": ASYNCPG,
    **{factory: OTHER for factories in OTHER_DRIVERS.values() for factory in factories},
}
_FACTORY_NAMES = frozenset(f.rsplit(".", 1)[-1] for f in _KNOWN_FACTORIES)
_CURSOR_OF = {PG: PG_CURSOR, PG3: PG3_CURSOR, SQLITE: SQLITE_CURSOR, OTHER: OTHER_CURSOR, PG_ODBC: PG_ODBC_CURSOR}
# the modules of other databases' drivers (`pymysql`, `pymysql.cursors`, `mysql.connector`...): a type they define
# named like a cursor or a connection (`pymysql.cursors.Cursor`, `duckdb.DuckDBPyConnection`) annotates theirs
_OTHER_MODULES = tuple(sorted({f.rsplit(".", 1)[0] + "." for fs in OTHER_DRIVERS.values() for f in fs}))
# ODBC reaches any database: the connection string says which (`DRIVER={PostgreSQL Unicode}`, `DSN=app-postgres`)
_ODBC_FACTORIES = frozenset(OTHER_DRIVERS["odbc"])
_NAMES_POSTGRES = ("postgres", "pgsql", "psqlodbc")  # (in a connection string, lower-cased)
# SQLAlchemy's engines: the URL's dialect (`sqlite:///app.db`, `duckdb:///:memory:`, `mysql+pymysql://...`) tells
# the database, when the URL is written in the code (an environment variable's default is not what runs)
_ENGINE_FACTORIES = frozenset({"sqlalchemy.create_engine", "sqlalchemy.engine.create_engine",
                               "sqlalchemy.ext.asyncio.create_async_engine", "sqlmodel.create_engine"})
_URL_SCHEME = r"\s*([A-Za-z][\w.+-]*)://"  # (compiled on first use, by `re`)
_ENV_READS = frozenset({"os.environ.get", "os.getenv", "os.environ.setdefault"})
# what an engine, a pool or a connection of a known database gives: a connection to the same database
_SAME_DATABASE = frozenset({"connect", "begin", "raw_connection"})
# a pytest fixture's return annotation: the fixture gives what the generator yields
_YIELDING = frozenset({"Iterator", "Generator", "AsyncIterator", "AsyncGenerator", "Iterable", "AsyncIterable"})
_ANNOTATED = {
    "sqlite3.Connection": SQLITE, "sqlite3.Cursor": SQLITE_CURSOR,
    "psycopg2.extensions.connection": PG, "psycopg2.extensions.cursor": PG_CURSOR,
    "psycopg.Connection": PG3, "psycopg.Cursor": PG3_CURSOR,
    "asyncpg.Connection": ASYNCPG, "asyncpg.connection.Connection": ASYNCPG, "asyncpg.Pool": ASYNCPG,
    "asyncpg.pool.Pool": ASYNCPG, "asyncpg.pool.PoolConnectionProxy": ASYNCPG,
}
# a module of this name imported from another (`from datasette.utils import sqlite3`) is the driver re-exported
_DRIVER_MODULES = frozenset({"sqlite3", "psycopg2", "psycopg", "psycopg_pool", "aiosqlite", "asyncpg"})
_POOL_MODULES = (("psycopg2.pool.", PG_POOL), ("psycopg_pool.", PG3_POOL))
_TEXT_FUNCTIONS = frozenset({"sqlalchemy.text", "sqlalchemy.sql.text", "sqlalchemy.sql.expression.text"})
# the project's own `mosaic-diag: ignore[MD001,MD003]` comment, and flake8/ruff's noqa (bare, or with codes)
_OTHER_LINE_ENDS = "\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029"  # str.splitlines ends lines there, Python does not


def python_lines(source: str) -> list[str]:
    """The lines of `source` as Python numbers them (a form feed or U+2028 does not end a line)."""
    if any(c in source for c in _OTHER_LINE_ENDS):
        lines = PY_LINE_END.split(source)
        return lines[:-1] if lines and not lines[-1] else lines
    return source.splitlines()


_SUPPRESS = re.compile(r"(?:#|--)\s*mosaic-diag:\s*ignore(?:\[(?P<codes>[^\]]*)\])?"
                       r"|(?:#|--)\s*noqa(?::\s*(?P<noqa>[A-Z]+[0-9]+(?:[,\s]+[A-Z]+[0-9]+)*))?", re.IGNORECASE)
_SCOPES = (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda, ast.ClassDef, ast.Module)
_COMPOUND = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.If, ast.For, ast.AsyncFor, ast.While,
             ast.With, ast.AsyncWith, ast.Try, ast.Match)
_DYNAMIC = "\x00"  # stands for an interpolated value inside recovered SQL text


_FIELDS: dict[type, tuple[str, ...]] = {ast.Constant: (), ast.Name: (), ast.Pass: (), ast.alias: ()}
_BODY_FIELDS: dict[type, tuple[str, ...]] = {}
_BODIES = frozenset({"body", "orelse", "finalbody", "handlers", "cases"})  # the fields that hold statements
_CALL_WORDS = ("execute", "mogrify", "sqlalchemy", "suppress")  # calls the rules look at (with connections)
_CONNECTION_WORDS = ("connect", "getconn", "cursor", "create_engine", "create_async_engine")  # ways to get one
# a module that imports asyncpg (one that only names it in its text has nothing to track)
_ASYNCPG_IMPORTS = ("import asyncpg", "from asyncpg")
_LEAF_FIELDS = frozenset({"ctx", "id", "attr", "arg", "kind", "type_comment", "level", "module", "is_async",
                          "conversion", "lineno", "col_offset"})


@dataclass(frozen=True)
class SqlText:
    """The SQL text a call receives, as far as it is known statically."""

    text: str          # literal parts; interpolated values appear as \\x00
    dynamic: bool      # built from a non-constant value (f-string, %, +, +=, .format)
    node: ast.expr     # the expression that holds it (the literal, or the variable)
    literal: ast.expr  # the first string literal it came from
    how: str = ""      # "f-string", "% formatting", "+ concatenation", "+=", ".format()" when dynamic
    pieces: tuple[tuple[int, ast.expr], ...] = ()  # (offset in text, literal starting there)
    named: bool = False  # SQLAlchemy text(): `:name` binds
    partial: bool = False  # `+=` pieces from exclusive branches (`if:`/`else:`) folded together: no one run's text
    # the texts it may be, one per run (`A if x else B`, `A or B`, `QUERIES[kind]`, and what is built of them);
    # None: a value not known statically. Empty: just this one. Each site sends one of them: each is judged
    choices: tuple[SqlText | None, ...] = ()


_Binding = ast.Assign | ast.AnnAssign | ast.AugAssign | ast.For | ast.AsyncFor


@dataclass(frozen=True)
class SqlSite:
    """A call that sends SQL to a database, the SQL it sends, and the receiver's kind."""

    call: ast.Call
    sql: SqlText
    kind: str | None


def _module_statements(tree: ast.Module) -> list[ast.stmt]:
    """A module's statements and those nested in its `for` / `with` / `if` / `try` / `while` / `match` (a script's
    loop builds its SQL there), not entering the functions and classes it defines."""
    out: list[ast.stmt] = []
    stack: list[ast.stmt] = list(reversed(tree.body))
    while stack:
        node = stack.pop()
        out.append(node)
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            continue
        inner: list[ast.stmt] = [*getattr(node, "body", ()), *getattr(node, "orelse", ()),
                                 *getattr(node, "finalbody", ())]
        for handler in getattr(node, "handlers", ()):
            inner.extend(handler.body)
        for case in getattr(node, "cases", ()):
            inner.extend(case.body)
        stack.extend(reversed(inner))
    return out


def _instance_name(name: str) -> str:
    """`cls.pool` (in a classmethod) as `self.pool`: the class's attribute, which its instances read too."""
    return "self." + name[4:] if name.startswith("cls.") else name


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
        self.tables: Mapping[str, Table] = tables if tables is not None else {}  # (not tested for truth: lazy)
        self.conn_factories = conn_factories
        self.lines = python_lines(source)
        lowered = source.lower()
        # nothing to track in a file that never names a way to get a connection
        self.may_connect = any(w in lowered for w in _CONNECTION_WORDS) or any(
            f.rsplit(".", 1)[-1].lower() in lowered for f in conn_factories) or any(
            w in lowered for w in _ASYNCPG_IMPORTS)
        self.handlers: list[ast.ExceptHandler] = []  # the `except` clauses, in the order of `nodes`
        # Every node (`nodes`, `calls`, `parents`) is walked only in a file whose calls may matter (a
        # way to get a connection, execute-like methods, SQLAlchemy, `suppress`); elsewhere the
        # rules need the `except` clauses and the imports, which live in statements: walked alone.
        if self.may_connect or any(w in lowered for w in _CALL_WORDS):
            import_nodes = self._walk_all()
        else:
            import_nodes = self._walk_statements()
        self.imports = self._imports(import_nodes)
        if not self.may_connect and "calls" in self.__dict__:  # an object made by a module named after a database
            self.may_connect = self._imports_database_module

    def __getattr__(self, name: str) -> object:
        """`nodes`, `calls`, `parents` of a file whose statements alone were walked: walked now."""
        if name in {"nodes", "calls", "parents"} and "handlers" in self.__dict__:
            self._walk_all()
            return self.__dict__[name]
        raise AttributeError(name)

    def _walk_all(self) -> list[ast.Import | ast.ImportFrom]:
        """Every node, its parent, the calls and `except` clauses among them; returns the imports."""
        self.parents: dict[ast.AST, ast.AST] = {}
        self.nodes: list[ast.AST] = []  # every node, in the order of the file (roughly)
        self.calls: list[ast.Call] = []  # the calls among them, in the same order
        self.handlers = []
        stack: list[ast.AST] = [self.tree]
        parents, nodes, node_type = self.parents, self.nodes, ast.AST
        calls, handlers, call_type, handler_type = self.calls, self.handlers, ast.Call, ast.ExceptHandler
        import_nodes: list[ast.Import | ast.ImportFrom] = []
        while stack:  # ast.walk without its generator overhead, and without the Load/Store contexts
            parent = stack.pop()
            nodes.append(parent)
            kind = type(parent)
            if kind is call_type:
                calls.append(parent)  # type: ignore[arg-type]
            elif kind is handler_type:
                handlers.append(parent)  # type: ignore[arg-type]
            elif kind is ast.Import or kind is ast.ImportFrom:
                import_nodes.append(parent)  # type: ignore[arg-type]
            fields = _FIELDS.get(kind)
            if fields is None:
                fields = _FIELDS[kind] = tuple(f for f in kind._fields if f not in _LEAF_FIELDS)
            for field in fields:
                value = getattr(parent, field, None)
                if isinstance(value, list):
                    for child in value:
                        if isinstance(child, node_type):
                            parents[child] = parent
                            stack.append(child)
                elif isinstance(value, node_type):
                    parents[value] = parent
                    stack.append(value)
        nodes.reverse()
        calls.reverse()
        handlers.reverse()
        return import_nodes

    def _walk_statements(self) -> list[ast.Import | ast.ImportFrom]:
        """The same walk through statement bodies only (no expression holds a statement): the
        `except` clauses in the order `_walk_all` gives them, the `try` of each (`handler_owners`); returns the
        imports."""
        stack: list[ast.AST] = [self.tree]
        handlers, handler_type = self.handlers, ast.ExceptHandler
        import_nodes: list[ast.Import | ast.ImportFrom] = []
        owners: dict[int, ast.AST] = {}
        self.handler_owners = owners  # (a file walked whole has `parents`)
        while stack:
            parent = stack.pop()
            kind = type(parent)
            if kind is handler_type:
                handlers.append(parent)  # type: ignore[arg-type]
            elif kind is ast.Import or kind is ast.ImportFrom:
                import_nodes.append(parent)  # type: ignore[arg-type]
            elif kind is ast.Try or kind is ast.TryStar:
                for handler in parent.handlers:  # type: ignore[attr-defined]
                    owners[id(handler)] = parent
            fields = _BODY_FIELDS.get(kind)
            if fields is None:
                fields = _BODY_FIELDS[kind] = tuple(f for f in kind._fields if f in _BODIES)
            for field in fields:
                stack.extend(getattr(parent, field, None) or ())
        handlers.reverse()
        return import_nodes

    def try_of(self, handler: ast.ExceptHandler) -> ast.AST | None:
        """The `try` statement an `except` clause belongs to."""
        if "parents" in self.__dict__:
            return self.parents.get(handler)
        return self.__dict__.get("handler_owners", {}).get(id(handler))

    # --- suppression -----------------------------------------------------------------------
    @cached_property
    def suppressions(self) -> dict[int, frozenset[str] | None]:
        """line -> codes ignored there (None: every code)."""
        out: dict[int, frozenset[str] | None] = {}
        lowered = self.source.lower()
        if "mosaic-diag" not in lowered and "noqa" not in lowered:
            return out
        for number, text in enumerate(self.lines, 1):
            if "#" not in text and "--" not in text:
                continue
            ignored: set[str] = set()
            every = False  # a comment without codes: every code
            for m in _SUPPRESS.finditer(text):
                codes = m.group("codes") if m.group(0).lstrip("#- \t").lower().startswith("mosaic") else m.group("noqa")
                if codes is None:
                    every = True
                    break
                ignored.update(c.upper() for c in re.split(r"[,\s]+", codes) if c)
            if every or ignored:
                out[number] = None if every else frozenset(ignored)
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

    @staticmethod
    def _imports(import_nodes: list[ast.Import | ast.ImportFrom]) -> dict[str, str]:
        """Local name -> qualified name, from the module's imports (relative ones without dots)."""
        out: dict[str, str] = {}
        for node in sorted(import_nodes, key=lambda n: n.lineno):
            if isinstance(node, ast.Import):
                for a in node.names:
                    if a.asname:
                        out[a.asname] = a.name
                    else:
                        out[a.name.split(".")[0]] = a.name.split(".")[0]
            elif isinstance(node, ast.ImportFrom):
                for a in node.names:
                    if a.name in _DRIVER_MODULES and a.asname in {None, a.name}:
                        out[a.name] = a.name  # `from app.utils import sqlite3`: the driver, re-exported
                        continue
                    out[a.asname or a.name] = f"{node.module}.{a.name}" if node.module else a.name
        return out

    def qualified(self, expr: ast.AST) -> str | None:
        """The dotted name of an expression resolved through the imports (`pg.connect` with
        `import psycopg2 as pg` -> `psycopg2.connect`)."""
        name = dotted(expr)
        if name is None:
            return None
        head, _, rest = name.partition(".")
        base = self.imports.get(head, head)
        return f"{base}.{rest}" if rest else base

    @cached_property
    def default_driver(self) -> str:
        """psycopg 3 when the module imports psycopg / psycopg_pool and not psycopg2, else psycopg2."""
        modules = {q.split(".")[0] for q in self.imports.values()}
        return PG3 if ({"psycopg", "psycopg_pool"} & modules and "psycopg2" not in modules) else PG

    def is_factory(self, call: ast.Call) -> bool:
        """True when the call is a configured connection factory (`lint.conn_factories`)."""
        name = dotted(call.func)
        qual = self.qualified(call.func)
        if name is None or qual is None:
            return False
        if qual in _KNOWN_FACTORIES:
            return False
        return any(qual == f or qual.endswith("." + f) or name == f for f in self.conn_factories)

    def kind_of_value(self, value: ast.AST, at: ast.AST,
                      bindings: dict[tuple[int, str], str] | None = None) -> str | None:
        """The kind an expression evaluates to (connections, cursors, pools of each driver) or None."""
        if not self.may_connect:
            return None
        if isinstance(value, ast.Await):
            value = value.value
        if not isinstance(value, ast.Call):
            name = dotted(value)
            if not name:
                return None
            kind = self.kind_of_name(name, at, bindings) or self._annotated_kind(name, at)
            if kind in {None, OTHER, OTHER_CURSOR}:  # a test's fixture (`pyodbc.Cursor` made for PostgreSQL)
                fixture = self._fixture_kind(name, at, bindings)
                kind = fixture if fixture is not None and (kind is None or fixture in QMARK_KINDS) else kind
            return kind or self._member_kind(value, at, bindings, call=False) or self._from_other_module(value, at)
        qual = self.qualified(value.func) or ""
        if qual in _ODBC_FACTORIES:
            return self._odbc_kind(value, at)
        if qual in _ENGINE_FACTORIES:
            return self._engine_kind(value, at)
        if isinstance(value.func, ast.Name) and value.func.id in self._may_return_connections:
            return self._returns(value.func.id, bindings)
        if isinstance(value.func, ast.Attribute) and (kind := self._member_kind(value.func, at, bindings, call=True)):
            return kind
        if qual in _KNOWN_FACTORIES:
            return _KNOWN_FACTORIES[qual]
        for prefix, kind in _POOL_MODULES:
            if qual.startswith(prefix):
                return kind
        if self.is_factory(value):
            return PG
        last = call_name(value)
        if last == "acquire" and isinstance(value.func, ast.Attribute) and self.imports_asyncpg:
            # `pool.acquire()` (awaited, or `async with pool.acquire() as conn`) of an asyncpg pool: its connection
            return ASYNCPG if self.kind_of_value(value.func.value, at, bindings) == ASYNCPG else None
        if isinstance(value.func, ast.Attribute) and last in _SAME_DATABASE:  # `engine.connect()` of a known engine
            base = self.kind_of_value(value.func.value, at, bindings)
            return base if base in {SQLITE, OTHER, PG_ODBC} else None
        if isinstance(value.func, ast.Attribute) and last in {"getconn", "connection", "cursor"}:
            base = self.kind_of_value(value.func.value, at, bindings)
            if last == "cursor":
                return _CURSOR_OF.get(base or "")
            if base == PG3_POOL or (base is None and last == "getconn" and self.default_driver == PG3):
                return PG3
            if last == "getconn":
                return PG
        return None

    @cached_property
    def connection_call_names(self) -> frozenset[str]:
        """The last names of calls that may make a connection (a cheap filter before resolving)."""
        if not self.may_connect:
            return frozenset()
        names = {"connect", "getconn", "connection"} | {f.rsplit(".", 1)[-1] for f in self.conn_factories}
        names |= {local for local, qual in self.imports.items() if qual.rsplit(".", 1)[-1] in names}
        return frozenset(names | {n for n in self._may_return_connections if self._returns(n) in CONNECTIONS})

    @cached_property
    def _may_return_connections(self) -> frozenset[str]:
        """Module functions worth asking what they return: annotated with a connection type, or
        holding a call that may make one."""
        base = {"connect", "getconn", "connection"} | {f.rsplit(".", 1)[-1] for f in self.conn_factories}
        base |= _FACTORY_NAMES
        base |= {local for local, qual in self.imports.items() if qual.rsplit(".", 1)[-1] in base}
        out = {name for name, func in self.local_functions.items()
               if func.returns is not None and self._annotation_kind(func.returns) is not None}
        for node in self.calls:
            if call_name(node) in base:
                cur = self.parents.get(node)
                while cur is not None and not isinstance(cur, ast.FunctionDef | ast.AsyncFunctionDef):
                    cur = self.parents.get(cur)
                while cur is not None and self.parents.get(cur) is not self.tree:
                    cur = self.parents.get(cur)
                if isinstance(cur, ast.FunctionDef | ast.AsyncFunctionDef):
                    out.add(cur.name)
        return frozenset(out)

    @cached_property
    def local_functions(self) -> dict[str, ast.FunctionDef | ast.AsyncFunctionDef]:
        return {n.name: n for n in self.tree.body if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef)}

    def _returns(self, name: str, bindings: dict[tuple[int, str], str] | None = None) -> str | None:
        """The kind a module function returns: its return annotation, else what its `return`s give."""
        return self._returned_kind(self.local_functions[name], bindings)

    def _returned_kind(self, func: ast.FunctionDef | ast.AsyncFunctionDef,
                       bindings: dict[tuple[int, str], str] | None, *, fixture: bool = False) -> str | None:
        """The kind a function or method returns: its return annotation, else what its `return`s give (a pytest
        fixture: what it yields too, `Iterator[X]` annotating X). An annotation naming only another database's
        type (`pyodbc.Cursor`) gives way to PostgreSQL through ODBC when the body makes that. Asked with the
        bindings still being found (None: all of them, found first), an answer is kept once known."""
        if bindings is None:
            bindings = self.bindings  # (found now, outside the guard below: they ask this too)
        complete = bindings is self.__dict__.get("bindings")
        cache: dict[tuple[int, bool], str | None] = self.__dict__.setdefault("_return_kinds", {})
        key = (id(func), fixture)
        if key in cache:
            return cache[key]
        busy: set[tuple[int, bool]] = self.__dict__.setdefault("_returns_busy", set())
        if key in busy:  # a function returning what another (or itself) returns, in a loop
            return None
        busy.add(key)
        try:
            annotation = _yielded(func.returns) if fixture and func.returns is not None else func.returns
            kind = self._annotation_kind(annotation) if annotation is not None else None
            sent = (ast.Return, ast.Yield) if fixture else ast.Return
            for node in ast.walk(func) if kind in {None, OTHER, OTHER_CURSOR} else ():
                if isinstance(node, sent) and node.value is not None and self.scope_of(node) is func:
                    found = self.kind_of_value(node.value, node, bindings)
                    if found is not None and (kind is None or found in QMARK_KINDS):
                        kind = found
                        break
        finally:
            busy.discard(key)
        if kind is not None or complete:  # (None from bindings still being found: asked again)
            cache[key] = kind
        return kind

    @cached_property
    def _fixtures(self) -> dict[str, ast.FunctionDef | ast.AsyncFunctionDef]:
        """The module's pytest fixtures (`@pytest.fixture`, `@pytest_asyncio.fixture(name=...)`) by the name a test
        asks for them with."""
        out: dict[str, ast.FunctionDef | ast.AsyncFunctionDef] = {}
        for node in self.tree.body:
            if not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                continue
            for decorator in node.decorator_list:
                target = decorator.func if isinstance(decorator, ast.Call) else decorator
                if (self.qualified(target) or "").rsplit(".", 1)[-1] != "fixture":
                    continue
                named = next((k.value.value for k in getattr(decorator, "keywords", ()) if k.arg == "name"
                              and isinstance(k.value, ast.Constant) and isinstance(k.value.value, str)), None)
                out[named or node.name] = node
        return out

    def _fixture_kind(self, name: str, at: ast.AST, bindings: dict[tuple[int, str], str] | None) -> str | None:
        """A parameter named after a pytest fixture of the module (`def test_x(cursor):`): what the fixture returns
        or yields."""
        func = self._fixtures.get(name) if "." not in name else None
        scope = self.scope_of(at) if func is not None else None
        if func is None or not isinstance(scope, ast.FunctionDef | ast.AsyncFunctionDef) or scope is func:
            return None
        if name not in {a.arg for a in (*scope.args.posonlyargs, *scope.args.args, *scope.args.kwonlyargs)}:
            return None
        return self._returned_kind(func, bindings, fixture=True)

    def _from_other_module(self, expr: ast.AST, at: ast.AST) -> str | None:
        """A receiver reached from an object another module of the project makes, when that module is named after
        another database (`runner = DuckDB(...)` with `from redash.query_runner.duckdb import DuckDB`, then
        `runner.con.execute(...)`; `from app.mysql import db`): that database's. Each file is linted alone, so the
        module's name is what is known of the connection it makes."""
        if not self._imports_database_module:
            return None
        root = expr
        while isinstance(root, ast.Attribute):
            root = root.value
        if not isinstance(root, ast.Name):
            return None
        qual = self.imports.get(root.id)
        if qual is None:
            value = self._bound_value(root, at)
            if isinstance(value, ast.Await):
                value = value.value
            qual = self.qualified(value.func) if isinstance(value, ast.Call) else None
        modules = (qual or "").split(".")[1:-1]  # (the package's own name is no database's: `duckdb.connect`)
        return OTHER if any(m.lower() in _OTHER_DIALECTS for m in modules) else None

    @cached_property
    def _imports_database_module(self) -> bool:
        """The module imports from a module named after another database (`from app.duckdb import DuckDB`)."""
        return any(m.lower() in _OTHER_DIALECTS for q in self.imports.values() for m in q.split(".")[1:-1])

    def _odbc_kind(self, call: ast.Call, at: ast.AST) -> str:
        """pyodbc's connection: PostgreSQL's through ODBC when its connection string (a literal, a constant, an
        environment variable's name or default) names PostgreSQL (`DRIVER={PostgreSQL Unicode}`, `DSN=pg`);
        else another database's."""
        exprs = [*call.args[:1], *(k.value for k in call.keywords if k.arg and k.arg.lower() in {"driver", "dsn"})]
        texts = [t for e in exprs for t in self._strings(e, at, env=True) or ()]
        return PG_ODBC if any(w in t.lower() for t in texts for w in _NAMES_POSTGRES) else OTHER

    def _engine_kind(self, call: ast.Call, at: ast.AST) -> str | None:
        """A SQLAlchemy engine whose URL is written in the code: SQLite's (`sqlite:///app.db`) or another
        database's (`duckdb:///:memory:`, `mysql+pymysql://...`); None for PostgreSQL's or a URL not known."""
        arg = call.args[0] if call.args else next((k.value for k in call.keywords if k.arg == "url"), None)
        texts = self._strings(arg, at, env=False) if arg is not None else None
        dialects = set()
        for text in texts or ():
            match = re.match(_URL_SCHEME, text)
            if match is None:
                return None
            dialects.add(match.group(1).split("+")[0].lower())
        if len(dialects) != 1:
            return None
        dialect = dialects.pop()
        return SQLITE if dialect == "sqlite" else OTHER if dialect in _OTHER_DIALECTS else None

    def _strings(self, expr: ast.expr, at: ast.AST, *, env: bool, depth: int = 0) -> list[str] | None:
        """The texts a string expression may be (`\\x00` for a value not known): literals, f-strings, names bound to
        them; None when one of them is not known. `env`: also the name and default of an environment variable
        read (`os.environ.get("PG_DSN", "DSN=pg")`), which say what the deployed value is meant to be."""
        if env and isinstance(expr, ast.Call) and self.qualified(expr.func) in _ENV_READS:
            return [t for a in expr.args for t in self._strings(a, at, env=env, depth=depth + 1) or ()]
        if env and isinstance(expr, ast.Subscript) and self.qualified(expr.value) == "os.environ":
            return self._strings(expr.slice, at, env=env, depth=depth + 1)
        sql = self._sql_text(expr, at, depth=0) if depth < 4 else None
        if sql is None:
            value = self._bound_value(expr, at) if isinstance(expr, ast.Name) and depth < 4 else None
            return None if value is None else self._strings(value, value, env=env, depth=depth + 1)
        options = _options(sql)
        if None in options and not env:
            return None
        return [o.text for o in options if o is not None]

    def _member_kind(self, attr: ast.AST, at: ast.AST, bindings: dict[tuple[int, str], str] | None, *,
                     call: bool) -> str | None:
        """The kind `self.X` gives when X is a property of the enclosing class (`call` False), or `self.X()` /
        `cls.X()` when X is one of its methods (`call` True): what the member's `return`s give (its return
        annotation first). `self.connection` made by `nzpy.connect()` in a property is that connection."""
        if not (isinstance(attr, ast.Attribute) and isinstance(attr.value, ast.Name)
                and attr.value.id in {"self", "cls"}):
            return None
        klass = self.scope_of(at, klass=True)
        if not isinstance(klass, ast.ClassDef):
            return None
        func = next((n for n in reversed(klass.body) if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef)
                     and n.name == attr.attr and _is_property(n) != call), None)
        return None if func is None else self._returned_kind(func, bindings)

    def _annotated_kind(self, name: str, at: ast.AST) -> str | None:
        """The kind of a parameter from its annotation (`conn: sqlite3.Connection`)."""
        scope = self.scope_of(at)
        if not isinstance(scope, ast.FunctionDef | ast.AsyncFunctionDef):
            return None
        args = scope.args
        for arg in (*args.posonlyargs, *args.args, *args.kwonlyargs):
            if arg.arg == name and arg.annotation is not None:
                return self._annotation_kind(arg.annotation)
        return None

    def _annotation_kind(self, expr: ast.expr, depth: int = 0) -> str | None:
        """The kind an annotation names (`psycopg.Connection[DictRow]` too); a name the module also
        assigns (`Connection = psycopg.Connection[...]` in `try:`, imported from psycopg2 in `except
        ImportError:`) only when every binding names the same kind. asyncpg's types are read also in a string
        (`"asyncpg.Connection"`) and in a union of them (`Optional[asyncpg.Connection]`, `asyncpg.Connection |
        asyncpg.Pool`): its connections and pools are mostly known only so."""
        if self.imports_asyncpg and depth < 4:
            if isinstance(expr, ast.Constant) and isinstance(expr.value, str):
                if "asyncpg" not in expr.value and "Connection" not in expr.value and "Pool" not in expr.value:
                    return None
                try:
                    parsed = ast.parse(expr.value.strip(), mode="eval").body
                except SyntaxError:
                    return None
                return ASYNCPG if self._annotation_kind(parsed, depth + 1) == ASYNCPG else None
            members = _union_members(expr)
            if members is not None:
                kinds = {self._annotation_kind(m, depth + 1) for m in members}
                return ASYNCPG if kinds == {ASYNCPG} else None
        if isinstance(expr, ast.Subscript):
            expr = expr.value
        qual = self.qualified(expr) or ""
        kind = _ANNOTATED.get(qual) or (_other_driver_type(qual) if "." in qual else None)
        if not isinstance(expr, ast.Name) or expr.id not in self._module_assigned or depth > 3:
            return kind
        kinds = {self._annotation_kind(v, depth + 1) for v in self._module_assigned[expr.id]}
        if expr.id in self.imports:
            kinds.add(kind)
        return kinds.pop() if len(kinds) == 1 else None

    @cached_property
    def _module_assigned(self) -> dict[str, list[ast.expr]]:
        """Names the module assigns outside functions and classes (in `if` / `try` too) -> the values."""
        out: dict[str, list[ast.expr]] = {}
        stack: list[ast.stmt] = list(self.tree.body)
        while stack:
            node = stack.pop()
            if isinstance(node, ast.Assign | ast.AnnAssign) and node.value is not None:
                targets = node.targets if isinstance(node, ast.Assign) else [node.target]
                for target in targets:
                    if isinstance(target, ast.Name):
                        out.setdefault(target.id, []).append(node.value)
            elif isinstance(node, ast.If | ast.Try | ast.With):
                stack.extend(getattr(node, "body", ()))
                stack.extend(getattr(node, "orelse", ()))
                stack.extend(getattr(node, "finalbody", ()))
                for handler in getattr(node, "handlers", ()):
                    stack.extend(handler.body)
        return out

    @cached_property
    def bindings(self) -> dict[tuple[int, str], str]:
        """(id of scope node, dotted name) -> kind, for every tracked binding in the file."""
        out: dict[tuple[int, str], str] = {}
        if not self.may_connect:
            return out
        pairs: list[tuple[ast.AST, str, ast.AST]] = []
        for node in self.nodes:
            if isinstance(node, ast.Assign) and len(node.targets) == 1:
                pairs.append((node, dotted(node.targets[0]) or "", node.value))
            elif isinstance(node, ast.AnnAssign) and node.value is not None:
                pairs.append((node, dotted(node.target) or "", node.value))
            elif isinstance(node, ast.With | ast.AsyncWith):
                pairs.extend((node, dotted(item.optional_vars) or "", item.context_expr) for item in node.items
                             if item.optional_vars is not None)
        # only what can hold a connection, a cursor or a pool: a call, a name, an await
        pairs = [(n, _instance_name(t), v) for n, t, v in pairs
                 if t and isinstance(v, ast.Call | ast.Name | ast.Attribute | ast.Await)]
        if self.imports_asyncpg:  # `self.pool: asyncpg.Pool = pool`, a class's `pool: asyncpg.Pool`: as annotated
            for node in self.nodes:
                if isinstance(node, ast.AnnAssign) and self._annotation_kind(node.annotation) == ASYNCPG:
                    name = dotted(node.target) or ""
                    if isinstance(node.target, ast.Name) and isinstance(self.parents.get(node), ast.ClassDef):
                        name = f"self.{name}"  # (a class attribute: its instances' `self.pool`)
                    if name:
                        out[(id(self._binding_scope(name, node)), name)] = ASYNCPG
        # two passes so that `cur = conn.cursor()` sees `conn` bound later in the walk order
        for _ in range(2):
            for node, name, value in pairs:
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
        name = _instance_name(name)
        if name.startswith("self."):
            return bindings.get((id(self.scope_of(at, klass=True)), name))
        scope = self.scope_of(at)
        while True:
            kind = bindings.get((id(scope), name))
            if kind is not None or scope is self.tree:
                return kind
            scope = self.scope_of(scope)

    # --- SQL sent to the database ------------------------------------------------------------
    def execute_calls(self) -> Iterator[ast.Call]:
        """Every `X.execute(...)` / `X.executemany(...)` / `X.mogrify(...)` call in the file."""
        if "calls" not in self.__dict__:  # the file names none of them (`_CALL_WORDS`)
            return
        for node in self.calls:
            if isinstance(node.func, ast.Attribute) and node.func.attr in EXECUTE_METHODS:
                yield node

    @cached_property
    def imports_asyncpg(self) -> bool:
        """The module imports asyncpg (or names from it): only then is a receiver known as asyncpg's."""
        return any(q == "asyncpg" or q.startswith("asyncpg.") for q in self.imports.values())

    def is_asyncpg_query(self, node: ast.Call) -> bool:
        """`fetch` / `fetchrow` / `fetchval` / ... (`ASYNCPG_METHODS`) called on a connection or pool known as
        asyncpg's."""
        return (isinstance(node.func, ast.Attribute) and node.func.attr in ASYNCPG_METHODS and self.imports_asyncpg
                and self.receiver_kind(node) == ASYNCPG)

    @cached_property
    def uses_sqlalchemy(self) -> bool:
        return any(q.startswith("sqlalchemy") for q in self.imports.values())

    def is_text_call(self, node: ast.AST) -> bool:
        """SQLAlchemy's `text(...)` (resolved through the imports)."""
        return isinstance(node, ast.Call) and self.qualified(node.func) in _TEXT_FUNCTIONS

    @cached_property
    def sql_sites(self) -> tuple[SqlSite, ...]:
        """Every call that sends SQL whose text is (partly) known: execute-like methods and `text()`."""
        if "calls" not in self.__dict__:  # the file names none of them (`_CALL_WORDS`)
            return ()
        out: list[SqlSite] = []
        wrappers = self.sql_wrappers
        for node in self.calls:
            if isinstance(node.func, ast.Attribute) and (node.func.attr in EXECUTE_METHODS or (
                    node.func.attr in ASYNCPG_METHODS and self.is_asyncpg_query(node))):
                sql = self.sql_of(node)
                if sql is not None:
                    kind = self.receiver_kind(node)
                    out.extend(SqlSite(node, option, kind) for option in _known_options(sql))
            elif wrappers and (wrapper := self._wrapper_called(node)) is not None:
                arg = _argument(node, wrapper.position, wrapper.param)
                sql = self._sql_text(arg, node, depth=0) if arg is not None else None
                if sql is not None:
                    # the receiver inside a method called on another object is not known here
                    own = isinstance(node.func, ast.Name) or (
                        isinstance(node.func, ast.Attribute) and dotted(node.func.value) in {"self", "cls"})
                    kind = self.receiver_kind(wrapper.call) if own else None
                    out.extend(SqlSite(node, option, kind) for option in _known_options(sql))
            elif self.uses_sqlalchemy and self.is_text_call(node):
                sql = self.sql_of(node)
                for option in _known_options(sql) if sql is not None else ():
                    # `text("importance")` given to `order_by()` / `where()`: a fragment of a statement SQLAlchemy
                    # builds, read for SQLite-isms but no statement of its own to parse
                    fragment = not looks_like_sql(option.text)
                    out.append(SqlSite(node, replace(option, named=True, partial=option.partial or fragment), None))
        return tuple(out)

    @cached_property
    def sql_wrappers(self) -> dict[str, _Wrapper]:
        """The module's functions and its classes' methods that pass a parameter on, unchanged, as the SQL of
        an execute-like call or of another such function (`def query_db(query, args=()): cur.execute(query,
        args)`), by name: their callers' SQL is judged where they call them."""
        functions: list[tuple[ast.FunctionDef | ast.AsyncFunctionDef, bool]] = []
        for node in self.tree.body:
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                functions.append((node, False))
            elif isinstance(node, ast.ClassDef):
                functions.extend((n, not any(dotted(d) == "staticmethod" for d in n.decorator_list))
                                 for n in node.body if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef))
        if not functions or "calls" not in self.__dict__:
            return {}
        # the execute-like calls given a bare name: the only places a wrapper can start (most files have none)
        sinks = [c for c in self.calls if isinstance(c.func, ast.Attribute) and (c.func.attr in EXECUTE_METHODS or (
            c.func.attr in ASYNCPG_METHODS and self.is_asyncpg_query(c))) and isinstance(_argument(c, 0, "query"),
                                                                                         ast.Name)]
        if not sinks:
            return {}
        kinds = {id(f): method for f, method in functions}
        sink_ids = {id(c) for c in sinks}
        rebound: set[tuple[int, str]] = set()
        found: dict[str, _Wrapper] = {}
        candidates: list[ast.Call] = sinks
        for _round in range(3):  # a wrapper of a wrapper (`fetch_one(q)` calling `query_db(q)`)
            grown: set[str] = set()
            for call in candidates:
                func = self.scope_of(call)
                if id(func) not in kinds:
                    continue
                assert isinstance(func, ast.FunctionDef | ast.AsyncFunctionDef)
                if func.name in found or func.name in EXECUTE_METHODS or func.name in ASYNCPG_METHODS:
                    continue
                callee = found.get(call_name(call) or "") if id(call) not in sink_ids else None
                arg, sink = ((_argument(call, 0, "query"), call) if callee is None
                             else (_argument(call, callee.position, callee.param), callee.call))
                if not isinstance(arg, ast.Name):
                    continue
                params = [a.arg for a in (*func.args.posonlyargs, *func.args.args)]
                if arg.id in params:
                    position = params.index(arg.id) - (1 if kinds[id(func)] else 0)
                elif arg.id in {a.arg for a in func.args.kwonlyargs}:
                    position = -1
                else:
                    continue
                if (id(func), arg.id) in rebound or self._rebound(arg.id, func):
                    rebound.add((id(func), arg.id))  # (one walk per parameter, however many sites send it)
                    continue
                found[func.name] = _Wrapper(position, arg.id, sink)
                grown.add(func.name)
            if not grown:
                break
            candidates = [c for c in self.calls if call_name(c) in grown]
        return found

    @staticmethod
    def _rebound(name: str, func: ast.AST) -> bool:
        """True when the function (or one nested in it) assigns `name` (`sql = sql.strip()`: no longer the
        caller's text)."""
        return any(isinstance(n, ast.Name) and n.id == name and type(n.ctx) is ast.Store for n in ast.walk(func))

    def _wrapper_called(self, call: ast.Call) -> _Wrapper | None:
        """The module's SQL wrapper a call calls: `query_db(...)`, `self.query(...)`, `db.query(...)`."""
        name = call_name(call)
        wrapper = self.sql_wrappers.get(name or "")
        if wrapper is None or (isinstance(call.func, ast.Name) and name not in self.local_functions):
            return None
        return wrapper

    def postgres_sites(self) -> Iterator[SqlSite]:
        """The SQL sites judged as PostgreSQL: not on a known SQLite connection or cursor nor (receiver unknown)
        in an `if` arm for another database, and either
        on a known PostgreSQL one, in SQLAlchemy `text()`, or a text that starts like SQL (so a
        Cypher or GraphQL string given to some other `.execute` is not judged)."""
        for site in self.sql_sites:
            if site.kind in NOT_PG_KINDS:
                continue
            if site.kind is None and self._sent_elsewhere and self.is_text_call(site.call) and {
                    id(n) for _, n in site.sql.pieces or ((0, site.sql.literal),)} <= self._sent_elsewhere:
                continue  # `text(...)` given to another database's connection (`sqlite_engine.connect().execute(...)`)
            if site.kind not in _POSTGRES_KINDS and self._other_dialect_arm(site.call):
                continue
            if site.kind in _POSTGRES_KINDS or site.sql.named or looks_like_sql(site.sql.text):
                yield site

    def _other_dialect_arm(self, node: ast.AST) -> bool:
        """True when the call lies in the arm of an `if` that runs only for another database (`if "mysql" in
        engine.dialect.name:`, `elif dialect == "sqlite":`): that SQL is written for it, not for PostgreSQL."""
        child, cur = node, self.parents.get(node)
        while cur is not None:
            if isinstance(cur, ast.If) and child in cur.body and _names_other_dialect(cur.test):
                return True
            child, cur = cur, self.parents.get(cur)
        return False

    def receiver_kind(self, call: ast.Call) -> str | None:
        assert isinstance(call.func, ast.Attribute)
        return self.kind_of_value(call.func.value, call)

    def sql_of(self, call: ast.Call) -> SqlText | None:
        """The SQL text of a call's first argument (or `query=` / `sql=` / `text=`), if known."""
        arg: ast.expr | None = call.args[0] if call.args else None
        if arg is None:
            arg = next((k.value for k in call.keywords if k.arg in {"query", "sql", "operation", "text"}), None)
        if arg is None:
            return None
        return self._sql_text(arg, call, depth=0)

    def _sql_text(self, expr: ast.expr, at: ast.AST, depth: int) -> SqlText | None:
        if isinstance(expr, ast.Constant) and isinstance(expr.value, str):
            return SqlText(expr.value, False, expr, expr, pieces=((0, expr),))
        if isinstance(expr, ast.JoinedStr):
            return self._fstring(expr, at, depth)
        if isinstance(expr, ast.BinOp) and isinstance(expr.op, ast.Add):
            left = self._sql_text(expr.left, at, depth)
            right = self._sql_text(expr.right, at, depth)
            if left is None and right is None:
                return None
            return _concat(left, right, expr, "+ concatenation")
        if isinstance(expr, ast.BinOp) and isinstance(expr.op, ast.Mod):
            left = self._sql_text(expr.left, at, depth)
            if left is None:
                return None
            known = self._known_values(expr.right, at, depth)
            if known is not None:  # constants, or names bound to them: the text sent is known
                return _choose([None if o is None else _formatted(o, values, expr)
                                for o in _options(left) for values in known])
            return _each(left, lambda o: replace(o, dynamic=True, node=expr, how="% formatting"))
        if (isinstance(expr, ast.Call) and isinstance(expr.func, ast.Attribute) and expr.func.attr == "format"
                and isinstance(expr.func.value, ast.Constant) and isinstance(expr.func.value.value, str)):
            constant = all(isinstance(a, ast.Constant) or _placeholder_join(a) for a in expr.args) and all(
                isinstance(k.value, ast.Constant) or _placeholder_join(k.value) for k in expr.keywords)
            return SqlText(expr.func.value.value, not constant, expr, expr.func.value,
                           "" if constant else ".format()", ((0, expr.func.value),))
        if isinstance(expr, ast.IfExp):  # `A if x else B`: either may be sent
            return _choose([self._sql_text(expr.body, at, depth), self._sql_text(expr.orelse, at, depth)])
        if isinstance(expr, ast.BoolOp):  # `given or DEFAULT`: any operand; `x and B`: B (else a falsy x)
            values = expr.values if isinstance(expr.op, ast.Or) else expr.values[-1:]
            return _choose([self._sql_text(v, at, depth) for v in values])
        if isinstance(expr, ast.Subscript) and isinstance(expr.slice, ast.Slice) and depth < 4:
            return self._sliced(expr, at, depth)
        if isinstance(expr, ast.Subscript) and depth < 4:  # `QUERIES[kind]`: a constant picked from constants
            chosen = self._picked(expr.value, expr.slice, None, at)
            return None if chosen is None else _choose([self._sql_text(e, e, depth + 1) if e is not None else None
                                                        for e in chosen])
        if isinstance(expr, ast.Call):
            return self._call_text(expr, at, depth)
        if isinstance(expr, ast.Name | ast.Attribute) and depth < 4:
            found = self._value_of(expr, at, depth + 1)
            if found is not None:
                return _each(found, lambda o: replace(o, node=expr))
        return None

    def _fstring(self, expr: ast.JoinedStr, at: ast.AST, depth: int) -> SqlText | None:
        """An f-string: its constant parts, module constants and choices between constants in their places;
        any other value interpolated (dynamic)."""
        slots: list[tuple[str | None, ...]] = []
        for value in expr.values:
            if isinstance(value, ast.Constant) and isinstance(value.value, str):
                slots.append((value.value,))
            elif isinstance(value, ast.FormattedValue) and isinstance(value.value, ast.Constant):
                slots.append((str(value.value.value),))
            elif (isinstance(value, ast.FormattedValue) and value.conversion == -1 and value.format_spec is None
                  and (mark := _placeholder_join(value.value)) is not None):  # `IN ({", ".join("?" * n)})`
                slots.append((mark,))
            elif (isinstance(value, ast.FormattedValue) and depth < 4 and value.conversion == -1
                  and value.format_spec is None and isinstance(value.value, ast.Name | ast.IfExp | ast.BoolOp
                                                               | ast.Subscript)
                  and (known := (self._value_of(value.value, at, depth + 1) if isinstance(value.value, ast.Name)
                                 else self._sql_text(value.value, at, depth + 1))) is not None):
                # a module constant (a table name), or a choice between constants (`{"DESC" if desc else "ASC"}`)
                slots.append(tuple(o.text if o is not None and not o.dynamic else None for o in _options(known)))
            elif (isinstance(value, ast.FormattedValue) and value.conversion == -1 and value.format_spec is None
                  and isinstance(value.value, ast.Name) and (number := self._number_of(value.value, at)) is not None):
                slots.append((str(number),))  # `vector({dimensions})` with `dimensions = 128`
            else:
                slots.append((None,))
        combos = 1
        for slot in slots:
            combos *= len(slot)
        if combos > _MAX_CHOICES:
            slots = [slot[:1] for slot in slots]
        out: list[SqlText | None] = []
        for combo in itertools.product(*slots):
            dynamic = None in combo
            out.append(SqlText("".join(_DYNAMIC if c is None else c for c in combo), dynamic, expr, expr,
                               "f-string" if dynamic else "", ((0, expr),), partial=combos > _MAX_CHOICES))
        return _choose(out)

    def _call_text(self, expr: ast.Call, at: ast.AST, depth: int) -> SqlText | None:
        """The SQL a call returns, when the linter can tell: SQLAlchemy `text()`, `sep.join([...])` of known
        pieces, `textwrap.dedent(...)` / `inspect.cleandoc(...)` and `.strip()` of a known text,
        `QUERIES.get(kind)` from constants."""
        func = expr.func
        if self.uses_sqlalchemy and self.is_text_call(expr):  # execute(text(...))
            return self.sql_of(expr)
        if isinstance(func, ast.Attribute) and not expr.keywords:
            if (func.attr == "join" and isinstance(func.value, ast.Constant) and isinstance(func.value.value, str)
                    and len(expr.args) == 1 and depth < 4):
                return self._joined(func.value, expr.args[0], expr, at, depth)
            if func.attr in {"strip", "lstrip", "rstrip"} and not expr.args:
                inner = self._sql_text(func.value, at, depth)
                return None if inner is None else _each(inner, lambda o: _stripped(o, func.attr, expr))
            if func.attr == "get" and 1 <= len(expr.args) <= 2 and depth < 4:
                chosen = self._picked(func.value, expr.args[0], expr.args[1] if len(expr.args) == 2 else None,
                                      at, mapping=True)
                return None if chosen is None else _choose(
                    [self._sql_text(e, e, depth + 1) if e is not None else None for e in chosen])
        if self.qualified(func) in _DEDENT and len(expr.args) == 1 and not expr.keywords:
            inner = self._sql_text(expr.args[0], at, depth)
            if inner is None:
                return None
            import inspect
            import textwrap

            clean = textwrap.dedent if self.qualified(func) == "textwrap.dedent" else inspect.cleandoc
            # (the text moves within its lines: positions are the call's)
            return _each(inner, lambda o: o if clean(o.text) == o.text else replace(
                o, text=clean(o.text), node=expr, literal=expr, pieces=((0, expr),)))
        return None

    def _joined(self, sep: ast.Constant, arg: ast.expr, expr: ast.Call, at: ast.AST, depth: int) -> SqlText | None:
        """`" ".join([...])` of a list or tuple written out (or a name bound to one): its pieces with the
        separator between them (a piece not known statically is an interpolated value)."""
        items = self._sequence(arg, at)
        if items is None:
            return _placeholder_list(sep, arg, expr)
        parts = [self._sql_text(e, e, depth + 1) for e in items]
        if all(p is None for p in parts):
            return None
        glue = SqlText(str(sep.value), False, sep, sep)
        out = parts[0]
        for part in parts[1:]:
            out = _concat(_concat(out, glue, expr, "str.join()"), part, expr, "str.join()")
        return out

    def _sliced(self, expr: ast.Subscript, at: ast.AST, depth: int) -> SqlText | None:
        """`query[:-1]` of a known text (a trailing comma cut after a loop of `+=`, buku's refresh): the text cut
        where a constant end says (from its start only, so the pieces keep their offsets)."""
        cut = expr.slice
        assert isinstance(cut, ast.Slice)
        end = cut.upper
        if isinstance(end, ast.UnaryOp) and isinstance(end.op, ast.USub) and isinstance(end.operand, ast.Constant) \
                and isinstance(end.operand.value, int):
            end = ast.Constant(-end.operand.value)
        if cut.lower is not None or cut.step is not None or not (
                isinstance(end, ast.Constant) and isinstance(end.value, int) and not isinstance(end.value, bool)):
            return None
        inner = self._sql_text(expr.value, at, depth)
        stop = end.value
        return None if inner is None else _each(inner, lambda o: replace(
            o, text=o.text[:stop], node=expr, pieces=tuple((p, n) for p, n in o.pieces if p < len(o.text[:stop]))))

    def _sequence(self, expr: ast.expr, at: ast.AST) -> list[ast.expr] | None:
        """The items of a list or tuple written out, or of the one a name is bound to (no starred item)."""
        found = expr if isinstance(expr, ast.List | ast.Tuple) else self._bound_literal(expr, at)
        if not isinstance(found, ast.List | ast.Tuple) or any(isinstance(e, ast.Starred) for e in found.elts):
            return None
        return list(found.elts)

    def _picked(self, container: ast.expr, key: ast.expr, default: ast.expr | None, at: ast.AST,
                *, mapping: bool = False) -> list[ast.expr | None] | None:
        """The values `container[key]` (or `container.get(key, default)`) may be, for a dict, list or tuple of
        values written out (or a name bound to one): the one a constant key picks, else any of them (None:
        a value no key of it names, `**other`)."""
        found = container if isinstance(container, ast.Dict | ast.List | ast.Tuple) else self._bound_literal(
            container, at)
        if found is None or (mapping and not isinstance(found, ast.Dict)):
            return None
        if isinstance(found, ast.Dict):
            values: list[ast.expr | None] = list(found.values)
            keys = found.keys
            if isinstance(key, ast.Constant) and all(isinstance(k, ast.Constant) for k in keys):
                hit: list[ast.expr | None] = [v for k, v in zip(keys, found.values, strict=True)
                       if isinstance(k, ast.Constant) and k.value == key.value]
                values = hit[-1:] if hit else [default if mapping else None]
            else:
                values = values + ([default] if mapping else []) + ([None] if None in keys else [])
        else:
            if any(isinstance(e, ast.Starred) for e in found.elts):
                return None
            values = list(found.elts)
            if isinstance(key, ast.Constant) and isinstance(key.value, int) and not isinstance(key.value, bool):
                if not -len(values) <= key.value < len(values):
                    return None
                values = [values[key.value]]
            elif isinstance(key, ast.Slice):
                return None
        return values

    def _bound_literal(self, expr: ast.expr, at: ast.AST) -> ast.Dict | ast.List | ast.Tuple | None:
        """The dict, list or tuple written out that a name (or `self.X` / `Class.X`) is last bound to."""
        value = self._bound_value(expr, at)
        return value if isinstance(value, ast.Dict | ast.List | ast.Tuple) else None

    def _bound_value(self, expr: ast.expr, at: ast.AST) -> ast.expr | None:
        """The value a name (or `self.X` / `Class.X`) is last bound to, as `_value_of` finds names: the function's
        own binding before `at`, else the module's (or the class's)."""
        name = dotted(expr)
        if name is None:
            return None
        if isinstance(expr, ast.Name):
            scope = self.scope_of(at)
            events = [n for n in self._bindings(scope).get(name, ()) if n.lineno < getattr(at, "lineno", 10**9)]
            if not events and scope is not self.tree and not self._local(name, scope):
                events = self._bindings(self.tree).get(name, [])
        else:
            owner, _, attr = name.rpartition(".")
            klass = (self.scope_of(at, klass=True) if owner in {"self", "cls"} else
                     next((n for n in self.tree.body if isinstance(n, ast.ClassDef) and n.name == owner), None))
            if "." in owner or not isinstance(klass, ast.ClassDef):
                return None
            events = self._bindings(klass).get(attr, [])
        if not events or isinstance(events[-1], ast.AugAssign | ast.For | ast.AsyncFor):
            return None
        return events[-1].value

    def _value_of(self, expr: ast.Name | ast.Attribute, at: ast.AST, depth: int) -> SqlText | None:
        """The SQL a name holds at `at`: its last assignment in the same function (then `+=` on it),
        else a module constant; `self.X` / `cls.X` / `Class.X`: a class attribute."""
        name = dotted(expr)
        if name is None:
            return None
        if isinstance(expr, ast.Name):
            scope = self.scope_of(at)
            found = self._fold_assignments(name, scope, getattr(at, "lineno", 10**9), depth)
            if found is None and scope is not self.tree and not self._local(name, scope):
                found = self._fold_assignments(name, self.tree, 10**9, depth)
            return found
        owner, _, attr = name.rpartition(".")
        if "." in owner:
            return None
        klass: ast.AST | None = None
        if owner in {"self", "cls"}:
            klass = self.scope_of(at, klass=True)
        else:
            klass = next((n for n in self.tree.body if isinstance(n, ast.ClassDef) and n.name == owner), None)
        if not isinstance(klass, ast.ClassDef):
            return None
        return self._fold_assignments(attr, klass, 10**9, depth)

    def _number_of(self, expr: ast.Name, at: ast.AST) -> int | float | None:
        """The number a name holds at `at` when its last assignment (as `_value_of` finds it) is a number written
        out (`dimensions = 128`): formatted into SQL it splices nothing the code does not spell."""
        value = self._bound_value(expr, at)
        if isinstance(value, ast.Constant) and isinstance(value.value, int | float) and not isinstance(value.value,
                                                                                                        bool):
            return value.value
        return None

    def _known_values(self, expr: ast.expr, at: ast.AST, depth: int) -> list[tuple[object, ...]] | None:
        """The right side of `sql % args` when each value is known: a constant, a name bound to a constant text
        or number (`role = "dts-role"`; `for schema in ("s4", "d4")`: each), a tuple of them. Each tuple of
        values it may be; None when a value is not known."""
        def one(e: ast.expr) -> list[object] | None:
            if isinstance(e, ast.Constant) and type(e.value) in (str, int, float):
                return [e.value]
            if isinstance(e, ast.Name) and depth < 4:
                number = self._number_of(e, at)
                if number is not None:
                    return [number]
                found = self._value_of(e, at, depth + 1)
                options = _options(found)
                if found is not None and all(o is not None and not o.dynamic and not o.partial for o in options):
                    return [o.text for o in options if o is not None]
            return None

        elts = expr.elts if isinstance(expr, ast.Tuple) else [expr]
        values: list[list[object]] = []
        for e in elts:
            found = one(e)
            if found is None:
                return None
            values.append(found)
        combos = list(itertools.islice(itertools.product(*values), _MAX_CHOICES + 1))
        return combos if len(combos) <= _MAX_CHOICES else None

    def _local(self, name: str, scope: ast.AST) -> bool:
        """True when `name` is a parameter of the function or bound anywhere in it."""
        if isinstance(scope, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda):
            args = scope.args
            if name in {a.arg for a in (*args.posonlyargs, *args.args, *args.kwonlyargs, args.vararg, args.kwarg)
                        if a is not None}:
                return True
        stored = self.__dict__.setdefault("_stored_index", {})
        found = stored.get(id(scope))
        if found is None or found[0] is not scope:
            names = frozenset(n.id for n in ast.walk(scope) if isinstance(n, ast.Name)
                              and isinstance(n.ctx, ast.Store) and self.scope_of(n) is scope)
            stored[id(scope)] = found = (scope, names)
        return name in found[1]

    def _bindings(self, scope: ast.AST) -> dict[str, list[_Binding]]:
        """The assignments to a plain name directly in `scope` (a module's or class's own statements,
        a function's whole body but its nested scopes), by name in line order. Walked once per scope:
        a file that builds its SQL with dozens of `+=` looks names up hundreds of times."""
        index = self.__dict__.setdefault("_binding_index", {})
        found = index.get(id(scope))
        if found is not None and found[0] is scope:
            return found[1]
        events: dict[str, list[_Binding]] = {}
        direct = isinstance(scope, ast.Module | ast.ClassDef)
        nodes: Iterable[ast.AST] = (_module_statements(scope) if isinstance(scope, ast.Module)
                                    else scope.body if direct else ast.walk(scope))  # type: ignore[attr-defined]
        for node in nodes:
            if not isinstance(node, ast.Assign | ast.AnnAssign | ast.AugAssign | ast.For | ast.AsyncFor):
                continue
            if not direct and self.scope_of(node) is not scope:
                continue
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            for name in dict.fromkeys(t.id for t in targets if isinstance(t, ast.Name)):
                events.setdefault(name, []).append(node)
        for nodes in events.values():
            nodes.sort(key=lambda n: n.lineno)
        index[id(scope)] = (scope, events)
        return events

    def _fold_assignments(self, name: str, scope: ast.AST, before: int, depth: int) -> SqlText | None:
        """The last `name = ...` directly in `scope` before line `before`, with the `name += ...`
        that follow it (memoised: the same name is looked up from every site that uses it)."""
        memo = self.__dict__.setdefault("_fold_memo", {})
        key = (name, id(scope), before, depth)
        if key in memo:
            return memo[key]
        memo[key] = result = self._fold_uncached(name, scope, before, depth)
        return result

    def _fold_uncached(self, name: str, scope: ast.AST, before: int, depth: int) -> SqlText | None:
        events = [(n.lineno, n) for n in self._bindings(scope).get(name, ()) if n.lineno < before]
        current: SqlText | None = None
        bound = False  # (current None: not bound yet, or bound to a value not known)
        folded: list[ast.AST] = []  # the events the text is made of
        for _line, node in events:
            if isinstance(node, ast.AugAssign):
                if not isinstance(node.op, ast.Add) or current is None:
                    current = None
                    continue
                current = _concat(current, self._sql_text(node.value, node, depth), node.value, "+=")
                folded.append(node)
                continue
            if isinstance(node, ast.For | ast.AsyncFor):  # `for schema in ("s4", "d4")`: each constant in turn
                items = node.iter.elts if isinstance(node.iter, ast.Tuple | ast.List | ast.Set) else None
                new = _choose([self._sql_text(e, node, depth) if isinstance(e, ast.Constant) else None
                               for e in items]) if items and len(items) <= _MAX_CHOICES else None
            elif node.value is not None:
                new = self._sql_text(node.value, node, depth)
            else:
                continue
            if bound and self._conditional(node, scope, before):  # it may not run: the earlier value or this one
                current = _choose([current, new])
                folded.append(node)
            else:
                current, folded = new, [node]
            bound = True
        if current is not None and len(folded) > 1 and self._exclusive(folded, scope):
            current = _each(current, lambda o: replace(o, partial=True))
        return current

    def _conditional(self, node: ast.AST, scope: ast.AST, before: int) -> bool:
        """True when the statement lies in an `if` / `match` arm, a loop's body or a `try` that does not hold line
        `before` (where the name is read): the run that reaches that line may have skipped it."""
        cur = self.parents.get(node)
        while cur is not None and cur is not scope:
            if isinstance(cur, ast.If | ast.For | ast.AsyncFor | ast.While | ast.Match | ast.Try | ast.TryStar) \
                    and not cur.lineno <= before <= (cur.end_lineno or cur.lineno):
                return True
            cur = self.parents.get(cur)
        return False

    def _exclusive(self, events: list[ast.AST], scope: ast.AST) -> bool:
        """True when two of the statements lie in different arms of one `if` / `match` (so no one run
        executes both: their texts folded together are no SQL that is ever sent)."""
        seen: dict[int, int] = {}  # id(if or match) -> the arm an earlier event lies in
        for node in events:
            arms: dict[int, int] = {}
            child, cur = node, self.parents.get(node)
            while cur is not None and cur is not scope:
                if isinstance(cur, ast.If):
                    arm = 0 if child in cur.body else 1 if child in cur.orelse else -1
                    if arm >= 0:
                        arms[id(cur)] = arm
                elif isinstance(cur, ast.Match) and isinstance(child, ast.match_case):
                    arms[id(cur)] = cur.cases.index(child)
                child, cur = cur, self.parents.get(cur)
            for key, arm in arms.items():
                if seen.setdefault(key, arm) != arm:
                    return True
        return False

    # --- positions -----------------------------------------------------------------------------
    def sql_position(self, sql: SqlText, offset: int) -> tuple[int, int]:
        """Source (line, col) of an offset in a SqlText."""
        line, col, _exact = self.sql_location(sql, offset)
        return line, col

    def sql_location(self, sql: SqlText, offset: int) -> tuple[int, int, bool]:
        """Source (line, col, exact) of an offset in a SqlText: exact inside a string literal piece
        written without escapes (implicitly concatenated pieces each mapped), else the start of the
        literal holding it (exact=False)."""
        pieces = sql.pieces or ((0, sql.literal),)
        start, lit = pieces[0]
        for begin, node in pieces:
            if begin <= offset:
                start, lit = begin, node
        local = offset - start
        line, col = lit.lineno, self._char_col(lit.lineno, lit.col_offset) + 1
        if not isinstance(lit, ast.Constant) or not isinstance(lit.value, str):
            return line, col, False
        segment = self._segment(lit)
        if segment is None:
            return line, col, False
        import io
        import tokenize

        acc = 0
        try:
            tokens = [t for t in tokenize.generate_tokens(io.StringIO(segment).readline) if t.type == tokenize.STRING]
        except (tokenize.TokenError, SyntaxError):
            return line, col, False
        for tok in tokens:
            try:
                value = ast.literal_eval(tok.string)
            except (ValueError, SyntaxError):
                return line, col, False
            if not isinstance(value, str):
                return line, col, False
            tok_line = line + tok.start[0] - 1
            tok_col = (col + tok.start[1]) if tok.start[0] == 1 else tok.start[1] + 1
            if local < acc + len(value) or tok is tokens[-1]:
                m = re.match(r"[rRuU]*('\'\'|\"\"\"|'|\")", tok.string)
                if m is None:
                    return tok_line, tok_col, False
                body = tok.string[m.end(): len(tok.string) - len(m.group(1))]
                if body != value or local - acc > len(value):
                    return tok_line, tok_col, False
                before = tok.string[: m.end() + local - acc]
                nl = before.count("\n")
                if nl == 0:
                    return tok_line, tok_col + len(before), True
                return tok_line + nl, len(before) - before.rfind("\n"), True
            acc += len(value)
        return line, col, False

    def sql_analysis(self, site: SqlSite) -> SqlAnalysis:
        """What PostgreSQL's parser finds in the SQL of a site (cached per text)."""
        from mosaic_diag.lint.pgsql import analyse

        # `:name` binds are the placeholders of every driver but psycopg's (sqlite3's named style,
        # SQLAlchemy, `databases`): neutral unless the receiver is known to be a psycopg one
        # asyncpg: the server's `$1` only (a `:name` or `%s` is no placeholder there)
        named = site.sql.named or site.kind not in _POSTGRES_KINDS
        text, dynamic = site.sql.text, site.sql.dynamic or site.sql.partial
        if "{" in text and not dynamic:
            text, dynamic = self._template(text, site.call)
        # psycopg2 puts the values into the text (a tuple after IN, a literal where the grammar wants one);
        # psycopg 3 binds them on the server, where `$1` stands for them
        client = site.kind in {PG, PG_CURSOR} or (site.kind is None and self.default_driver == PG)
        return analyse(text, dynamic=dynamic, named=named, client_binds=client, qmark=site.kind in QMARK_KINDS,
                       dollar=site.kind == ASYNCPG)

    def _template(self, text: str, at: ast.AST) -> tuple[str, bool]:
        """(text, whether it is a template): SQL whose `str.format` fields (`FROM {powa}.servers`) name nothing
        the call can see is no forgotten `f` prefix (that f-string would raise NameError) but a template that
        something fills before sending (a cursor subclass, a `connection_factory`, a wrapper): the fields become
        identifiers and the text a skeleton. A field naming a variable in scope (`{table}` with a `table`
        parameter) is a forgotten `f` prefix: the text is judged as it is sent, braces and all."""
        fields = template_fields(text)
        if not fields:
            return text, False
        if any(name and self._visible(name, at) for _start, _end, name in fields):
            return text, False
        out = list(text)
        for start, end, _name in fields:
            out[start:end] = list("x" + re.sub(r"[^\n]", " ", text[start + 1: end]))
        return "".join(out), True

    def _visible(self, name: str, at: ast.AST) -> bool:
        """True when `name` is bound where `at` is: in an enclosing function, or in the module."""
        scope = self.scope_of(at)
        while scope is not self.tree:
            if self._local(name, scope):
                return True
            scope = self.scope_of(scope)
        return (name in self._module_assigned or name in self.imports or name in self.local_functions
                or any(isinstance(n, ast.ClassDef) and n.name == name for n in self.tree.body))

    def edit_for(self, sql: SqlText, fix: tuple[int, int, str] | None) -> tuple[Edit, ...]:
        """The source edit of a SQL rewrite, only where the SQL offset maps exactly onto the source
        and the source there reads what the SQL does."""
        if fix is None:
            return ()
        start, end, new = fix
        line, col, exact = self.sql_location(sql, start)
        old = sql.text[start:end]
        if not exact or "\n" in old or not 0 < line <= len(self.lines):
            return ()
        if self._sent_elsewhere & {id(node) for _, node in sql.pieces or ((0, sql.literal),)}:
            return ()  # a constant a SQLite (or other) connection runs too (the fallback): `%s` may be an error there
        if self.lines[line - 1][col - 1: col - 1 + len(old)] != old:
            return ()
        return (Edit(line, col, old, new),)

    @cached_property
    def _sent_elsewhere(self) -> frozenset[int]:
        """The string literals (ids of their nodes) of the SQL a known SQLite (or other database's) connection
        or cursor runs."""
        return frozenset(id(node) for site in self.sql_sites if site.kind in NOT_PG_KINDS
                         for _, node in site.sql.pieces or ((0, site.sql.literal),))

    def _char_col(self, lineno: int, col_offset: int) -> int:
        """The character column of an ast byte offset on a line."""
        text = self.lines[lineno - 1] if 0 < lineno <= len(self.lines) else ""
        return col_offset if text.isascii() else len(text.encode()[:col_offset].decode(errors="replace"))

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


@dataclass(frozen=True)
class _Wrapper:
    """A function that sends one of its parameters as SQL: where that parameter is at a call (-1: keyword only),
    its name, and the execute-like call that sends it."""

    position: int
    param: str
    call: ast.Call


def _argument(call: ast.Call, position: int, param: str) -> ast.expr | None:
    """The argument given to a parameter at a call: by keyword, else by position (a starred one ends the search)."""
    for keyword in call.keywords:
        if keyword.arg == param or (position == 0 and keyword.arg in {"query", "sql", "operation", "text"}
                                    and param in {"query", "sql", "operation", "text"}):
            return keyword.value
    if 0 <= position < len(call.args) and not any(isinstance(a, ast.Starred) for a in call.args[:position + 1]):
        return call.args[position]
    return None


_MAX_CHOICES = 16  # texts a site may send, judged one by one; past this, the first, not judged as a statement
_DEDENT = frozenset({"textwrap.dedent", "inspect.cleandoc"})


# the names of databases other than PostgreSQL as SQLAlchemy's dialects and other libraries' settings spell them
_OTHER_DIALECTS = frozenset({"mysql", "mariadb", "sqlite", "oracle", "mssql", "sqlserver", "sybase", "firebird", "db2",
                             "snowflake", "duckdb", "clickhouse", "trino", "presto", "bigquery", "hive", "sqlite3"})
OTHER_DIALECTS = _OTHER_DIALECTS
_DIALECT_WORDS = ("dialect", "driver", "engine", "backend", "vendor")


def _other_driver_type(qual: str) -> str | None:
    """A type of another database's driver named like a cursor (`pymysql.cursors.DictCursor`, `pyodbc.Cursor`) or a
    connection (`duckdb.DuckDBPyConnection`, `pymysql.connections.Connection`): that database's kind."""
    if not qual.startswith(_OTHER_MODULES):
        return None
    last = qual.rsplit(".", 1)[-1].lower()
    return OTHER_CURSOR if "cursor" in last else OTHER if "connection" in last else None


def _union_members(expr: ast.expr) -> list[ast.expr] | None:
    """The types of a union annotation but None (`Optional[X]`, `Union[X, Y]`, `X | Y | None`), else None."""
    if isinstance(expr, ast.BinOp) and isinstance(expr.op, ast.BitOr):
        members = [*(_union_members(expr.left) or [expr.left]), *(_union_members(expr.right) or [expr.right])]
    elif isinstance(expr, ast.Subscript) and (dotted(expr.value) or "").rsplit(".", 1)[-1] in {"Optional", "Union"}:
        members = list(expr.slice.elts) if isinstance(expr.slice, ast.Tuple) else [expr.slice]
    else:
        return None
    return [m for m in members if not (isinstance(m, ast.Constant) and m.value is None)]


def _yielded(annotation: ast.expr) -> ast.expr:
    """What a generator's return annotation says it yields (`Iterator[X]`, `Generator[X, None, None]`: X)."""
    if isinstance(annotation, ast.Subscript) and (dotted(annotation.value) or "").rsplit(".", 1)[-1] in _YIELDING:
        inner = annotation.slice
        return inner.elts[0] if isinstance(inner, ast.Tuple) and inner.elts else inner
    return annotation


def _is_property(func: ast.FunctionDef | ast.AsyncFunctionDef) -> bool:
    """True when a method is read as an attribute: `@property`, `@cached_property` (functools', or a library's
    `memoized_property`); not a setter."""
    for decorator in func.decorator_list:
        name = dotted(decorator) or ""
        if name.rsplit(".", 1)[-1].endswith("property"):
            return True
    return False


def _names_other_dialect(test: ast.expr) -> bool:
    """True when an `if` test holds only for another database: its dialect, driver, engine or backend name
    compared with (`==`, `in`, `is`, `.startswith()`) names of other databases only."""
    if isinstance(test, ast.BoolOp):
        parts = [_names_other_dialect(v) for v in test.values]
        return all(parts) if isinstance(test.op, ast.Or) else any(parts)
    if isinstance(test, ast.Compare) and len(test.ops) == 1 and isinstance(test.ops[0], ast.Eq | ast.In | ast.Is):
        sides = (test.left, test.comparators[0])
    elif (isinstance(test, ast.Call) and isinstance(test.func, ast.Attribute) and test.func.attr == "startswith"
          and len(test.args) == 1 and not test.keywords):
        sides = (test.func.value, test.args[0])
    else:
        return False
    for subject, names in (sides, sides[::-1]):
        label = (dotted(subject) or "").lower()
        if not any(word in label for word in _DIALECT_WORDS):
            continue
        values = names.elts if isinstance(names, ast.Tuple | ast.List | ast.Set) else [names]
        words = [v.value.lower() for v in values if isinstance(v, ast.Constant) and isinstance(v.value, str)]
        if words and len(words) == len(values) and all(w.split("+")[0] in _OTHER_DIALECTS for w in words):
            return True
    return False


def _placeholder_item(expr: ast.expr) -> str | None:
    """One placeholder written as a constant (`"?"`, `"%s"`), or any constant text repeated (a row of them,
    `"(%s, %s)"`; a subquery joined by `UNION ALL`), or asyncpg's numbered one built in an f-string (`f"${i}"`,
    `f"${i + 2}"`): the text one copy stands for, else None."""
    if isinstance(expr, ast.Constant) and isinstance(expr.value, str):
        return expr.value
    if (isinstance(expr, ast.JoinedStr) and len(expr.values) == 2 and isinstance(expr.values[0], ast.Constant)
            and expr.values[0].value == "$" and isinstance(expr.values[1], ast.FormattedValue)
            and isinstance(expr.values[1].value, ast.Name | ast.BinOp | ast.Call)):
        return "$1"
    return None


def _placeholder_join(expr: ast.expr) -> str | None:
    """`", ".join(["?"] * len(ids))`, `",".join("?" * n)`, `", ".join("%s" for _ in rows)`,
    `", ".join(f"${i}" for i in range(2, n))`, `", ".join(["(%s, %s)" for _ in rows])`: copies of one constant
    text, made of no value (the idiom for `IN (...)` and multi-row `VALUES` with one placeholder or row per item):
    the text it repeats, else None."""
    if not (isinstance(expr, ast.Call) and isinstance(expr.func, ast.Attribute) and expr.func.attr == "join"
            and isinstance(expr.func.value, ast.Constant) and isinstance(expr.func.value.value, str)
            and len(expr.args) == 1 and not expr.keywords):
        return None
    arg = expr.args[0]
    if isinstance(arg, ast.BinOp) and isinstance(arg.op, ast.Mult):
        for seq, count in ((arg.left, arg.right), (arg.right, arg.left)):
            if isinstance(count, ast.Constant) and isinstance(count.value, str):
                continue
            if isinstance(seq, ast.List | ast.Tuple) and len(seq.elts) == 1:
                return _placeholder_item(seq.elts[0])
            if isinstance(seq, ast.Constant) and seq.value in {"?"}:  # `",".join("?" * n)`: one character each
                return "?"
        return None
    if isinstance(arg, ast.GeneratorExp | ast.ListComp):
        return _placeholder_item(arg.elt)
    return None


def _placeholder_list(sep: ast.Constant, arg: ast.expr, expr: ast.Call) -> SqlText | None:
    """A `sep.join(...)` that is a list of placeholders (`_placeholder_join`): one of them stands for it, constant
    (`IN (?)` is judged as `IN (?, ?)` would be)."""
    found = _placeholder_join(expr)
    return None if found is None else SqlText(found, False, expr, expr)


def _options(sql: SqlText | None) -> tuple[SqlText | None, ...]:
    """The texts a SqlText may be (None: a value not known statically)."""
    if sql is None:
        return (None,)
    return sql.choices or (sql,)


def _known_options(sql: SqlText) -> list[SqlText]:
    """The texts a site may send that the linter knows, each to be judged."""
    return [o for o in _options(sql) if o is not None]


def _each(sql: SqlText, change: Callable[[SqlText], SqlText]) -> SqlText:
    """`change` applied to each text a SqlText may be."""
    if not sql.choices:
        return change(sql)
    out = _choose([change(o) if o is not None else None for o in sql.choices])
    assert out is not None
    return out


def _choose(options: list[SqlText | None]) -> SqlText | None:
    """One of these texts (None: a value not known statically); None when none is known. The result's own
    fields are the first known text's (dynamic when any is); past `_MAX_CHOICES`, that text alone, partial."""
    flat: list[SqlText | None] = [o for option in options for o in _options(option)]
    known = list({(o.text, o.dynamic, o.how, id(o.literal)): o for o in flat if o is not None}.values())
    if not known:
        return None
    unknown = None in flat
    if len(known) == 1 and not unknown:
        return known[0]
    first = known[0]
    dynamic = any(o.dynamic for o in known)
    how = next((o.how for o in known if o.how), "")
    if len(known) > _MAX_CHOICES:
        return replace(first, dynamic=dynamic, how=how, partial=True, choices=())
    return replace(first, dynamic=dynamic, how=how, choices=(*known, *((None,) if unknown else ())))


def _formatted(sql: SqlText, values: tuple[object, ...], node: ast.expr) -> SqlText:
    """`sql % values` with every value known: the text sent (positions are the expression's once it changes);
    the text as written when the formatting would fail (`%s` kept for the driver: `sql % ()` of a template)."""
    try:
        text = sql.text % values
    except (TypeError, ValueError, KeyError):
        return replace(sql, node=node)
    if text == sql.text:
        return replace(sql, node=node)
    return replace(sql, text=text, node=node, literal=node, pieces=((0, node),))


def _stripped(sql: SqlText, how: str, node: ast.expr) -> SqlText:
    """`sql.strip()` (or `lstrip` / `rstrip`): the pieces move back by what went from the front."""
    text = getattr(sql.text, how)()
    gone = len(sql.text) - len(sql.text.lstrip()) if how != "rstrip" else 0
    return replace(sql, text=text, node=node, pieces=tuple((o - gone, n) for o, n in sql.pieces))


def _concat(left: SqlText | None, right: SqlText | None, node: ast.expr, how: str) -> SqlText:
    """Two pieces of SQL one after the other (a side not known statically is an interpolated value); each
    text either may be with each of the other's."""
    lefts, rights = _options(left), _options(right)
    if len(lefts) * len(rights) > 1:
        if len(lefts) * len(rights) > _MAX_CHOICES:
            merged = _concat_one(lefts[0], rights[0], node, how)
            return replace(merged, partial=True, dynamic=merged.dynamic or any(
                o is None or o.dynamic for o in (*lefts, *rights)))
        out = _choose([_concat_one(a, b, node, how) if a is not None or b is not None else None
                       for a in lefts for b in rights])
        assert out is not None
        return out
    return _concat_one(left, right, node, how)


def _concat_one(left: SqlText | None, right: SqlText | None, node: ast.expr, how: str) -> SqlText:
    ltext = left.text if left else _DYNAMIC
    rtext = right.text if right else _DYNAMIC
    dynamic = left is None or right is None or left.dynamic or right.dynamic
    literal = (left or right).literal  # type: ignore[union-attr]
    pieces = (left.pieces if left else ()) + tuple((o + len(ltext), n) for o, n in (right.pieces if right else ()))
    reason = next((p.how for p in (left, right) if p and p.how), how if dynamic else "")
    partial = any(p is not None and p.partial for p in (left, right))
    return SqlText(ltext + rtext, dynamic, node, literal, reason, pieces, partial=partial)
