"""Schema drift: every table, column and type the app declares exists in the live database.

Reads information_schema only (read-only session); the declaration is `predeploy.schema`
(default `schema.sql`): a SQL file, or a Python module whose string constants hold the DDL.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

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
)
DEFAULT_SCHEMA = "schema.sql"
_QUERY = ("SELECT table_name, column_name, data_type FROM information_schema.columns "
          "WHERE table_schema = %s ORDER BY table_name, ordinal_position")


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


def live_columns(conn: object, db_schema: str) -> dict[str, dict[str, str]]:
    with conn.cursor() as cursor:  # type: ignore[attr-defined]
        cursor.execute(_QUERY, (db_schema,))
        rows = cursor.fetchall()
    out: dict[str, dict[str, str]] = {}
    for table, column, data_type in rows:
        out.setdefault(table, {})[column] = data_type
    return out


def drift(tables: dict[str, Table], live: dict[str, dict[str, str]], shown: str,
          facts: Mapping[str, Any] | None = None) -> Iterator[Message]:
    """MISSING_TABLE / MISSING_COLUMN / TYPE_MISMATCH between a declaration and live columns
    (`facts`: what the playbooks may know about the database, passed on with each message)."""
    facts = dict(facts or {})
    for name, table in sorted(tables.items()):
        columns = live.get(name)
        if columns is None:
            yield Message("MD-SCHEMA001", f"MISSING_TABLE {name}: declared in {shown}, not in the database",
                          location=f"{shown}:{table.line}:1", label="MISSING_TABLE", facts=facts)
            continue
        for col in table.columns:
            actual = columns.get(col.name)
            if actual is None:
                yield Message("MD-SCHEMA002", f"MISSING_COLUMN {name}.{col.name} ({col.data_type}): declared, "
                                              "not in the database", location=f"{shown}:{col.line}:1",
                              label="MISSING_COLUMN", facts=facts)
            elif actual != "USER-DEFINED" and actual != col.data_type:
                yield Message("MD-SCHEMA003", f"TYPE_MISMATCH {name}.{col.name}: declared {col.data_type}, "
                                              f"database has {actual}", location=f"{shown}:{col.line}:1",
                              label="TYPE_MISMATCH", facts=facts)


def run(ctx: CheckContext) -> Iterator[Message]:
    configured = ctx.config.get("predeploy.schema", None)
    path = ctx.root / (configured or DEFAULT_SCHEMA)
    shown = str(configured or DEFAULT_SCHEMA)
    if not path.is_file():
        if configured:
            yield Message("MD-SCHEMA004", f"{shown}: no such file (predeploy.schema)")
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
    try:
        live = live_columns(conn, str(ctx.config.get("predeploy.db_schema", "public")))
    finally:
        conn.close()
    yield from drift(tables, live, shown, db_facts(dsn, {"postgres.reachable": True}))


CHECK = Check("schema", ("schema", "database", "db"), IDS, run,
              "The live database has every declared table, column and type.")
