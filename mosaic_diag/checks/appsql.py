"""The app's SQL, read with PostgreSQL's own parser (pglast): the INSERTs of its Python files (which
columns they name, which ON CONFLICT target they use) and the foreign keys its DDL declares.

Only string constants are read (the AST, never run): an f-string or a query built at run time is not
seen, and a string that does not parse as SQL is skipped, never guessed.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

_PLACEHOLDER = re.compile(r"%\([A-Za-z_]\w*\)s|%s|\?")
_INSERT = re.compile(r"^\s*(?:WITH\b.*?\)\s*)?INSERT\s+INTO\b", re.IGNORECASE | re.DOTALL)
SKIP_DIRS = frozenset({".git", ".venv", "venv", "env", "node_modules", "__pycache__", "site-packages", "tests",
                       "test", ".mosaic-diag", "build", "dist"})


@dataclass(frozen=True)
class Insert:
    """One INSERT of the app: the table, the columns it names, its ON CONFLICT target columns."""

    table: str
    columns: tuple[str, ...] | None   # None: no column list (every column, in order)
    conflict: tuple[str, ...] | None  # ON CONFLICT (a, b): ("a", "b"); None: no inferred target
    file: str
    line: int

    @property
    def where(self) -> str:
        return f"{self.file}:{self.line}:1"


@dataclass(frozen=True)
class ForeignKey:
    """A declared foreign key: table(columns) -> referenced table(columns)."""

    table: str
    columns: tuple[str, ...]
    ref_table: str
    ref_columns: tuple[str, ...]
    line: int


def _parse(sql: str) -> list[Any] | None:
    from pglast import parse_sql
    from pglast.parser import ParseError

    counter = iter(range(1, 10_000))
    try:
        return list(parse_sql(_PLACEHOLDER.sub(lambda _: f"${next(counter)}", sql)))
    except ParseError:
        return None


def inserts_in(text: str, file: str) -> Iterator[Insert]:
    """The INSERT statements in the string constants of one Python source."""
    try:
        tree = ast.parse(text)
    except SyntaxError:
        return
    for node in ast.walk(tree):
        if not (isinstance(node, ast.Constant) and isinstance(node.value, str) and _INSERT.match(node.value)):
            continue
        for raw in _parse(node.value) or ():
            stmt = raw.stmt
            if type(stmt).__name__ != "InsertStmt":
                continue
            columns = tuple(c.name for c in stmt.cols) if stmt.cols else None
            conflict = None
            clause = stmt.onConflictClause
            if clause is not None and clause.infer is not None and clause.infer.indexElems:
                names = tuple(n for e in clause.infer.indexElems if (n := getattr(e, "name", None)))
                # an expression target (an element without a name): not judged
                conflict = names if len(names) == len(clause.infer.indexElems) else None
            yield Insert(stmt.relation.relname, columns, conflict, file, node.lineno)


def app_inserts(root: Path, patterns: Iterable[str] = ("**/*.py",)) -> tuple[Insert, ...]:
    """Every INSERT in the app's Python files under `root` (not tests, virtualenvs, caches)."""
    seen: set[Path] = set()
    out: list[Insert] = []
    for pattern in patterns:
        for path in sorted(root.glob(pattern)):
            rel = path.relative_to(root)
            if path in seen or not path.is_file() or SKIP_DIRS & set(rel.parts[:-1]):
                continue
            seen.add(path)
            try:
                text = path.read_text(encoding="utf-8")
            except (OSError, UnicodeDecodeError):  # mosaic-diag: ignore[MD006]
                continue
            if "INSERT" in text.upper():
                out.extend(inserts_in(text, rel.as_posix()))
    return tuple(out)


def _names(nodes: Iterable[object] | None) -> tuple[str, ...]:
    return tuple(str(getattr(n, "sval", None) or getattr(n, "str", "")) for n in nodes or ())


def foreign_keys(ddl: str, first_line: int = 1) -> tuple[ForeignKey, ...]:
    """The foreign keys of the CREATE TABLE statements in `ddl` (column and table constraints)."""
    from pglast.enums import ConstrType

    out: list[ForeignKey] = []
    for raw in _parse(ddl) or ():
        stmt = raw.stmt
        if type(stmt).__name__ != "CreateStmt":
            continue
        table = stmt.relation.relname
        for elt in stmt.tableElts or ():
            kind = type(elt).__name__
            pairs = ([(c, (elt.colname,)) for c in elt.constraints or ()] if kind == "ColumnDef"
                     else [(elt, None)] if kind == "Constraint" else [])
            for con, own in pairs:
                if con.contype != ConstrType.CONSTR_FOREIGN:
                    continue
                line = first_line + ddl.count("\n", 0, max(0, con.location or 0))
                out.append(ForeignKey(table, own or _names(con.fk_attrs), con.pktable.relname,
                                      _names(con.pk_attrs), line))
    return tuple(out)


def declared_foreign_keys(path: Path) -> tuple[ForeignKey, ...]:
    """Foreign keys of a .sql file, or of the DDL string constants of a .py module."""
    text = path.read_text(encoding="utf-8")
    if path.suffix != ".py":
        return foreign_keys(text)
    out: list[ForeignKey] = []
    for node in ast.walk(ast.parse(text, filename=str(path))):
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and "CREATE" in node.value.upper():
            out.extend(foreign_keys(node.value, first_line=node.lineno))
    return tuple(out)
