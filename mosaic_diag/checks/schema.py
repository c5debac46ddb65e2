"""Schema drift: every table, column and type the app declares exists in the live database, and the
writes the app makes (its INSERTs, read with pglast) are ones the live database accepts.

Reads information_schema and pg_catalog only (read-only session); the declaration is `predeploy.schema`
(default `schema.sql`): a SQL file, or a Python module whose string constants hold the DDL.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mosaic_diag.checks.appsql import ForeignKey, Insert, app_inserts, declared_foreign_keys
from mosaic_diag.checks.model import Check, CheckContext, CheckId, Message, Skip
from mosaic_diag.lint.ddl import Table, parse_ddl

IDS = (
    CheckId("MD-SCHEMA001", "error", "A declared table is missing in the database (MISSING_TABLE)",
            "apply the migration / run the app's init_db against this database before deploying"),
    CheckId("MD-SCHEMA002", "error", "A declared column is missing in the database (MISSING_COLUMN)",
            "add it with ALTER TABLE ... ADD COLUMN IF NOT EXISTS before deploying the code that uses it"),
    CheckId("MD-SCHEMA003", "error", "A column's type differs from the declaration (TYPE_MISMATCH)",
            "migrate the column (ALTER TABLE ... ALTER COLUMN ... TYPE ...) or fix the declaration"),
    CheckId("MD-SCHEMA004", "error", "The schema declaration cannot be read", "set predeploy.schema to the DDL file"),
    CheckId("MD-SCHEMA005", "error", "An INSERT of the app leaves out a column the database has as NOT NULL "
                                     "without a default: every such INSERT fails",
            "give the column a DEFAULT (or make it nullable) in a migration, or name it in the INSERT"),
    CheckId("MD-SCHEMA006", "error", "An INSERT's ON CONFLICT (...) target has no unique index or constraint in "
                                     "the database: the INSERT fails",
            "restore the unique constraint (CREATE UNIQUE INDEX CONCURRENTLY ... then ALTER TABLE ... ADD "
            "CONSTRAINT ... UNIQUE USING INDEX), after removing duplicates"),
    CheckId("MD-SCHEMA007", "warning", "A declared foreign key is missing in the database (orphan rows can appear)",
            "add it with ALTER TABLE ... ADD CONSTRAINT ... FOREIGN KEY ... NOT VALID, then VALIDATE CONSTRAINT"),
    CheckId("MD-SCHEMA008", "error", "A declared table is in the database, but DATABASE_URL's role holds no "
                                     "privilege on it (another role made it)",
            "as its owner, GRANT SELECT, INSERT, UPDATE, DELETE ON the table TO the app's role (or ALTER TABLE ... "
            "OWNER TO it)"),
)
_NOT_NULL = ("SELECT table_name, column_name FROM information_schema.columns WHERE table_schema = %s "
             "AND is_nullable = 'NO' AND column_default IS NULL AND is_identity = 'NO' AND is_generated = 'NEVER'")
_UNIQUE = ("SELECT t.relname, ARRAY(SELECT a.attname::text FROM pg_attribute a WHERE a.attrelid = t.oid "
           "AND a.attnum = ANY(i.indkey)), i.indpred IS NULL AND i.indexprs IS NULL "
           "FROM pg_index i JOIN pg_class t ON t.oid = i.indrelid JOIN pg_namespace n ON n.oid = t.relnamespace "
           "WHERE i.indisunique AND n.nspname = %s")
_FOREIGN = ("SELECT t.relname, ARRAY(SELECT a.attname::text FROM unnest(c.conkey) WITH ORDINALITY k(num, ord) "
            "JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = k.num ORDER BY k.ord), r.relname "
            "FROM pg_constraint c JOIN pg_class t ON t.oid = c.conrelid JOIN pg_class r ON r.oid = c.confrelid "
            "JOIN pg_namespace n ON n.oid = t.relnamespace WHERE c.contype = 'f' AND n.nspname = %s")
DEFAULT_SCHEMA = "schema.sql"
# every table, view and its columns from pg_catalog, which shows them whoever owns them (information_schema shows
# only what this role holds a privilege on: a table made by another role was "not in the database"; so was a table
# of no column), with information_schema's type name where it shows one, and whether this role holds any privilege
_QUERY = ("SELECT c.relname, a.attname, col.data_type, "
          "pg_catalog.has_any_column_privilege(c.oid, 'SELECT, INSERT, UPDATE, REFERENCES'), "
          "pg_catalog.pg_get_userbyid(c.relowner) "
          "FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace "
          "LEFT JOIN pg_catalog.pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped "
          "LEFT JOIN information_schema.columns col ON col.table_schema = n.nspname "
          "AND col.table_name = c.relname AND col.column_name = a.attname "
          "WHERE n.nspname = %s AND c.relkind IN ('r', 'p', 'v', 'm', 'f') ORDER BY c.relname, a.attnum")
_PLAIN = re.compile(r"[a-z_][a-z0-9_$]*\Z")
_ESCAPES = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def sql_name(name: str) -> str:
    """A table or column name (the live database's or the declaration's: anyone's text) as SQL writes it: plain,
    or in double quotes (`"` doubled) with every character that does not print (a line break, an escape, a bidi
    override, a zero-width or no-break space) written as an escape, so that a name cannot forge or hide a line of
    the report, nor pass for a plain look-alike."""
    if _PLAIN.match(name):
        return name
    shown = "".join(ch if ch.isprintable() else _ESCAPES.get(ch, f"\\u{ord(ch):04x}") for ch in name)
    return '"' + shown.replace('"', '""') + '"'


def _names(*names: str) -> str:
    return ", ".join(sql_name(n) for n in names)


def declared(path: Path) -> dict[str, Table]:
    """Tables declared in a .sql file or in the string constants of a .py module."""
    text = path.read_text(encoding="utf-8")
    if path.suffix != ".py":
        return parse_ddl(text)
    tables: dict[str, Table] = {}
    for node in ast.walk(ast.parse(text, filename=str(path))):
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and "CREATE" in node.value.upper():
            tables.update(parse_ddl(node.value, first_line=node.lineno))
    return tables


@dataclass(frozen=True)
class LiveTables:
    """The tables of the live schema: each one's columns with their information_schema type name ("" where this
    role may not see it), and the tables this role holds no privilege on, with their owner."""

    columns: dict[str, dict[str, str]]
    denied: dict[str, str]


def live_columns(conn: object, db_schema: str) -> LiveTables:
    with conn.cursor() as cursor:  # type: ignore[attr-defined]
        cursor.execute(_QUERY, (db_schema,))
        rows = cursor.fetchall()
    out: dict[str, dict[str, str]] = {}
    denied: dict[str, str] = {}
    for table, column, data_type, allowed, owner in rows:
        columns = out.setdefault(table, {})
        if column is not None:
            columns[column] = data_type or ""
        if not allowed:
            denied[table] = owner
    return LiveTables(out, denied)


@dataclass(frozen=True)
class WriteSchema:
    """What the live database enforces on writes: NOT NULL columns without a default, full unique
    indexes (column sets), foreign keys (table, columns, referenced table)."""

    not_null: dict[str, frozenset[str]]
    unique: dict[str, tuple[frozenset[str], ...]]
    foreign: frozenset[tuple[str, tuple[str, ...], str]]


def live_write_schema(conn: object, db_schema: str) -> WriteSchema:
    with conn.cursor() as cursor:  # type: ignore[attr-defined]
        cursor.execute(_NOT_NULL, (db_schema,))
        not_null: dict[str, set[str]] = {}
        for table, column in cursor.fetchall():
            not_null.setdefault(table, set()).add(column)
        cursor.execute(_UNIQUE, (db_schema,))
        unique: dict[str, list[frozenset[str]]] = {}
        for table, columns, full in cursor.fetchall():
            if full:  # a partial or expression index does not answer a plain ON CONFLICT (cols)
                unique.setdefault(table, []).append(frozenset(columns))
        cursor.execute(_FOREIGN, (db_schema,))
        foreign = frozenset((t, tuple(cols), ref) for t, cols, ref in cursor.fetchall())
    return WriteSchema({t: frozenset(c) for t, c in not_null.items()}, {t: tuple(u) for t, u in unique.items()},
                       foreign)


def write_drift(inserts: tuple[Insert, ...], fks: tuple[ForeignKey, ...], live: WriteSchema,
                live_tables: set[str], shown: str, facts: Mapping[str, Any] | None = None) -> Iterator[Message]:
    """The writes the live database will refuse (MD-SCHEMA005/006) and declared foreign keys it lacks
    (MD-SCHEMA007), each at the file:line of the statement or declaration."""
    facts = dict(facts or {})
    seen: set[tuple[str, str]] = set()
    for ins in inserts:
        if ins.table not in live_tables:
            continue
        table = sql_name(ins.table)
        if ins.columns is not None:
            for column in sorted(live.not_null.get(ins.table, frozenset()) - set(ins.columns)):
                if (ins.where, column) not in seen:
                    seen.add((ins.where, column))
                    yield Message("MD-SCHEMA005", f"INSERT INTO {table} does not name {table}.{sql_name(column)}, "
                                                  "which the database has as NOT NULL without a default: it fails "
                                                  "with a not-null violation", location=ins.where, facts=facts)
        if ins.conflict is not None and frozenset(ins.conflict) not in live.unique.get(ins.table, ()):
            target = _names(*ins.conflict)
            if (ins.where, f"({target})") not in seen:
                seen.add((ins.where, f"({target})"))
                yield Message("MD-SCHEMA006", f"INSERT INTO {table} ... ON CONFLICT ({target}): the database "
                                              f"has no unique index or constraint on {table} ({target}), so it "
                                              "fails (no unique or exclusion constraint matching the ON CONFLICT "
                                              "specification)", location=ins.where, facts=facts)
    live_fk = {(t, frozenset(cols), ref) for t, cols, ref in live.foreign}
    for fk in fks:
        if fk.table in live_tables and fk.ref_table in live_tables and \
                (fk.table, frozenset(fk.columns), fk.ref_table) not in live_fk:
            key = f"{sql_name(fk.table)} ({_names(*fk.columns)}) -> {sql_name(fk.ref_table)}"
            yield Message("MD-SCHEMA007", f"foreign key {key} is declared, not in the database",
                          location=f"{shown}:{fk.line}:1", facts=facts)


def drift(tables: dict[str, Table], live: dict[str, dict[str, str]], shown: str,
          facts: Mapping[str, Any] | None = None, denied: Mapping[str, str] | None = None) -> Iterator[Message]:
    """MISSING_TABLE / MISSING_COLUMN / TYPE_MISMATCH between a declaration and live columns (a type "": not
    known), and a declared table this role holds no privilege on (`denied`: table -> owner)
    (`facts`: what the playbooks may know about the database, passed on with each message)."""
    facts = dict(facts or {})
    for name, table in sorted(tables.items()):
        columns = live.get(name)
        if columns is None:
            yield Message("MD-SCHEMA001", f"MISSING_TABLE {sql_name(name)}: declared in {shown}, not in the database",
                          location=f"{shown}:{table.line}:1", label="MISSING_TABLE", facts=facts)
            continue
        if denied and name in denied:
            yield Message("MD-SCHEMA008", f"{sql_name(name)} is in the database, owned by {sql_name(denied[name])}, "
                                          "but this role holds no privilege on it: every query of the app on it fails "
                                          "(permission denied)", location=f"{shown}:{table.line}:1", facts=facts)
        for col in table.columns:
            actual = columns.get(col.name)
            where = f"{sql_name(name)}.{sql_name(col.name)}"
            if actual is None:
                yield Message("MD-SCHEMA002", f"MISSING_COLUMN {where} ({col.data_type}): declared, "
                                              "not in the database", location=f"{shown}:{col.line}:1",
                              label="MISSING_COLUMN", facts=facts)
            elif actual not in ("", "USER-DEFINED") and actual != col.data_type:
                yield Message("MD-SCHEMA003", f"TYPE_MISMATCH {where}: declared {col.data_type}, "
                                              f"database has {actual}", location=f"{shown}:{col.line}:1",
                              label="TYPE_MISMATCH", facts=facts)


def run(ctx: CheckContext) -> Iterator[Message]:
    configured = ctx.config.path("predeploy.schema")
    path = configured or ctx.root / DEFAULT_SCHEMA
    shown = str(ctx.config.get("predeploy.schema", None) or DEFAULT_SCHEMA)
    if not path.is_file():
        if configured:
            what = "is a directory, not a file" if path.is_dir() else "no such file"
            yield Message("MD-SCHEMA004", f"{shown}: {what} (predeploy.schema)")
            return
        raise Skip(f"no schema declaration: {DEFAULT_SCHEMA} not found (set predeploy.schema)")
    try:
        tables = declared(path)
    except (OSError, UnicodeDecodeError, SyntaxError) as exc:
        yield Message("MD-SCHEMA004", f"{shown}: cannot read: {exc}", exc=exc)
        return
    if not tables:
        yield Message("MD-SCHEMA004", f"{shown}: no CREATE TABLE found")
        return
    dsn = ctx.env.get("DATABASE_URL", "").strip()
    if not dsn:
        raise Skip("DATABASE_URL is not set (see MD-DB001)")
    import psycopg2

    from mosaic_diag.checks.database import connect, db_facts, sanity

    if any(m.id == "MD-DB002" for m in sanity(dsn)):
        raise Skip("DATABASE_URL is malformed (see MD-DB002)")

    try:
        conn = connect(dsn, ctx.timeout)
    except psycopg2.Error as exc:
        raise Skip("the database cannot be reached (see MD-DB010)") from exc
    db_schema = str(ctx.config.get("predeploy.db_schema", "public"))
    try:
        live = live_columns(conn, db_schema)
        writes = live_write_schema(conn, db_schema)
    finally:
        conn.close()
    facts = db_facts(dsn, {"postgres.reachable": True})
    yield from drift(tables, live.columns, shown, facts, live.denied)
    patterns = ctx.config.get("predeploy.app_sql", ["**/*.py"])
    if not isinstance(patterns, list) or not all(isinstance(p, str) for p in patterns):
        raise ctx.config.error("predeploy.app_sql", f"must be a list of globs, got {patterns!r}")
    try:
        fks = declared_foreign_keys(path)
    except (OSError, UnicodeDecodeError, SyntaxError):
        fks = ()
    yield from write_drift(app_inserts(ctx.root, patterns), fks, writes, set(live.columns), shown, facts)


CHECK = Check("schema", ("schema", "database", "db"), IDS, run,
              "The live database has every declared table, column and type.")
