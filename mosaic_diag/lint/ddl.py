"""A small parser for the DDL a Mosaic app declares: CREATE TABLE and ALTER TABLE ... ADD COLUMN.

Enough for the schema-drift check (tables, columns, types) and the idempotency lint rule
(which tables have a unique key). It reads PostgreSQL and SQLite spellings; anything it
does not understand inside a table body is skipped, never guessed.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from mosaic_diag.lint.sqltext import IDENT, blank_comments, blank_literals, line_col, normalize_name

_NAME = rf"{IDENT}(?:\.{IDENT})?"
_CREATE = re.compile(
    rf"\bCREATE\s+(?:(?:GLOBAL|LOCAL)\s+)?(?:(?:TEMP|TEMPORARY|UNLOGGED)\s+)?TABLE\s+"
    rf"(?:IF\s+NOT\s+EXISTS\s+)?(?P<name>{_NAME})\s*\(",
    re.IGNORECASE,
)
_ALTER_ADD = re.compile(
    rf"\bALTER\s+TABLE\s+(?:IF\s+EXISTS\s+)?(?:ONLY\s+)?(?P<name>{_NAME})\s+ADD\s+(?:COLUMN\s+)?"
    rf"(?:IF\s+NOT\s+EXISTS\s+)?(?P<col>{IDENT})\s+(?P<rest>[^;]*)",
    re.IGNORECASE,
)
_CONSTRAINT_START = re.compile(r"^(CONSTRAINT|PRIMARY|UNIQUE|FOREIGN|CHECK|EXCLUDE)\b", re.IGNORECASE)
_COLUMN_KEYWORDS = re.compile(
    r"\b(NOT|NULL|PRIMARY|UNIQUE|REFERENCES|DEFAULT|CHECK|CONSTRAINT|GENERATED|COLLATE|AUTOINCREMENT)\b",
    re.IGNORECASE,
)
_GENERATED_TYPES = {"serial", "bigserial", "smallserial", "serial4", "serial8", "serial2"}

# Declared type spelling -> the name information_schema.columns.data_type reports.
_TYPE_ALIASES = {
    "int": "integer", "int4": "integer", "integer": "integer", "serial": "integer", "serial4": "integer",
    "bigint": "bigint", "int8": "bigint", "bigserial": "bigint", "serial8": "bigint",
    "smallint": "smallint", "int2": "smallint", "smallserial": "smallint", "serial2": "smallint",
    "text": "text", "varchar": "character varying", "character varying": "character varying",
    "char": "character", "character": "character", "bpchar": "character",
    "bool": "boolean", "boolean": "boolean",
    "real": "real", "float4": "real", "float8": "double precision", "double precision": "double precision",
    "float": "double precision", "numeric": "numeric", "decimal": "numeric",
    "timestamp": "timestamp without time zone", "timestamp without time zone": "timestamp without time zone",
    "timestamptz": "timestamp with time zone", "timestamp with time zone": "timestamp with time zone",
    "date": "date", "time": "time without time zone", "timetz": "time with time zone",
    "json": "json", "jsonb": "jsonb", "uuid": "uuid", "bytea": "bytea", "blob": "bytea",
    "interval": "interval", "inet": "inet",
}


@dataclass(frozen=True)
class Column:
    """One declared column."""

    name: str
    type: str          # as declared, lower case, without size arguments
    line: int          # 1-based line of the declaration in its source text
    unique: bool = False
    generated: bool = False

    @property
    def data_type(self) -> str:
        """The type as information_schema reports it (unknown types: as declared)."""
        if self.type.endswith("[]"):
            return "ARRAY"
        return _TYPE_ALIASES.get(self.type, self.type)


@dataclass(frozen=True)
class Table:
    """One declared table."""

    name: str
    line: int
    columns: tuple[Column, ...] = ()
    unique_keys: tuple[tuple[str, ...], ...] = field(default=())

    def column(self, name: str) -> Column | None:
        return next((c for c in self.columns if c.name == name), None)

    @property
    def conflict_keys(self) -> tuple[tuple[str, ...], ...]:
        """The unique keys an INSERT can hit (a key made only of generated columns cannot)."""
        generated = {c.name for c in self.columns if c.generated}
        return tuple(key for key in self.unique_keys if not set(key) <= generated)

    @property
    def has_conflict_key(self) -> bool:
        """True when an INSERT can hit a unique key (a generated-only primary key does not count)."""
        return bool(self.conflict_keys)


_QUOTED_NAME = re.compile(r'"(?:[^"]|"")*"?')


def _shape(scan: str) -> str:
    """`scan` with the inside of each quoted name blanked (offsets kept): its commas and parentheses are the name's,
    not the statement's (`"a,b" int` split a column in two; `"a)b"` ended the table's body there)."""
    return _QUOTED_NAME.sub(lambda m: '"' + "_" * (len(m.group()) - 2) + m.group()[-1:] if len(m.group()) > 1
                            else m.group(), scan)


def _split_top_level(body: str, start: int, shape: str | None = None) -> list[tuple[int, str]]:
    """Split a table body on commas outside parentheses (and quoted names, read in `shape`, the body with their
    inside blanked): (offset, item) pairs."""
    items, depth, begin = [], 0, 0
    for i, ch in enumerate(shape if shape is not None else body):
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        elif ch == "," and depth == 0:
            items.append((start + begin, body[begin:i]))
            begin = i + 1
    items.append((start + begin, body[begin:]))
    return items


def _matching_paren(text: str, open_at: int) -> int:
    depth = 0
    for i in range(open_at, len(text)):
        if text[i] == "(":
            depth += 1
        elif text[i] == ")":
            depth -= 1
            if depth == 0:
                return i
    return -1


def _key_columns(item: str) -> tuple[str, ...]:
    m = re.search(r"\(([^)]*)\)", _shape(item))
    if not m:
        return ()
    return tuple(normalize_name(p.strip()) for _, p in _split_top_level(item[m.start(1):m.end(1)], 0, m.group(1)))


def _parse_column(item: str) -> tuple[str, str, bool, bool, bool] | None:
    """(name, type, primary, unique, generated) of a column definition, or None."""
    m = re.match(rf"\s*({IDENT})\s+(.*)", item, re.DOTALL)
    if not m:
        return None
    name, rest = normalize_name(m.group(1)), m.group(2)
    kw = _COLUMN_KEYWORDS.search(rest)
    type_text = rest[: kw.start()] if kw else rest
    type_text = re.sub(r"\([^)]*\)", "", type_text)
    type_name = " ".join(type_text.lower().split())
    tail = rest[kw.start():] if kw else ""
    primary = bool(re.search(r"\bPRIMARY\s+KEY\b", tail, re.IGNORECASE))
    unique = bool(re.search(r"\bUNIQUE\b", tail, re.IGNORECASE))
    generated = (type_name in _GENERATED_TYPES
                 or bool(re.search(r"\bGENERATED\b|\bAUTOINCREMENT\b|\bDEFAULT\s*\(?\s*(?:nextval|gen_random_uuid|"
                                   r"uuidv[47]|uuid_generate_v\w+)\s*\(", tail, re.IGNORECASE)))
    return name, type_name, primary, unique, generated


def parse_ddl(sql: str, *, first_line: int = 1) -> dict[str, Table]:
    """Tables declared in a SQL text (CREATE TABLE, then ALTER TABLE ... ADD COLUMN), by name."""
    text = blank_comments(sql)
    scan = blank_literals(sql)
    tables: dict[str, Table] = {}
    shape = _shape(scan)
    for m in _CREATE.finditer(scan):
        open_at = m.end() - 1
        close_at = _matching_paren(shape, open_at)
        if close_at < 0:
            continue
        name = normalize_name(m.group("name"))
        columns: list[Column] = []
        keys: list[tuple[str, ...]] = []
        for offset, item in _split_top_level(text[open_at + 1: close_at], open_at + 1, shape[open_at + 1: close_at]):
            stripped = item.strip()
            if not stripped:
                continue
            line = line_col(sql, offset + len(item) - len(item.lstrip()))[0] + first_line - 1
            if _CONSTRAINT_START.match(stripped):
                if re.search(r"\b(PRIMARY\s+KEY|UNIQUE)\b", stripped, re.IGNORECASE):
                    keys.append(_key_columns(stripped))
                continue
            parsed = _parse_column(stripped)
            if parsed is None:
                continue
            col_name, type_name, primary, unique, generated = parsed
            columns.append(Column(col_name, type_name, line, unique=primary or unique, generated=generated))
            if primary or unique:
                keys.append((col_name,))
        tables[name] = Table(name, line_col(sql, m.start())[0] + first_line - 1, tuple(columns), tuple(keys))
    for m in _ALTER_ADD.finditer(scan):
        name = normalize_name(m.group("name"))
        table = tables.get(name)
        if table is None:
            continue
        parsed = _parse_column(text[m.start("col"): m.end("rest")])
        if parsed is None or table.column(parsed[0]) is not None:
            continue
        col_name, type_name, primary, unique, generated = parsed
        line = line_col(sql, m.start("col"))[0] + first_line - 1
        col = Column(col_name, type_name, line, unique=primary or unique, generated=generated)
        added_keys = table.unique_keys + (((col_name,),) if col.unique else ())
        tables[name] = Table(table.name, table.line, table.columns + (col,), added_keys)
    return tables
