"""Attack round 24: configuration, the predeploy schema check against a hostile live database."""

from __future__ import annotations

import json
import os
from pathlib import Path

import psycopg2

from tests.cli_inproc import run_cli


def _predeploy(repo: Path, dsn: str, *args: str) -> tuple[int, str, str]:
    base = {k: v for k, v in os.environ.items()
            if not k.startswith(("DATABASE_URL", "OPENAI_", "ANTHROPIC_", "CLAUDE_", "MOSAIC_DIAG_"))}
    r = run_cli(["predeploy", "--only", "schema", *args], cwd=repo, env={**base, "DATABASE_URL": dsn},
                replace_env=True)
    assert "Traceback" not in r.stderr, r.stderr
    return r.returncode, r.stdout, r.stderr


def _schema_results(stdout: str) -> list[dict]:
    return next(c for c in json.loads(stdout)["checks"] if c["check"] == "schema")["results"]


def _apply(dsn: str, sql: str) -> None:
    conn = psycopg2.connect(dsn)
    try:
        with conn, conn.cursor() as cursor:
            cursor.execute(sql)
    finally:
        conn.close()


def test_schema_check_names_of_the_live_database_are_shown_escaped(pg_db: str, tmp_path: Path) -> None:
    """A column name the live database holds (anyone with CREATE there chose it) was printed as it is: its newline
    started a line of the report of the attacker's own (a forged `MD-SCHEMA001 ...` in the JUnit file and the
    table), a bidi override or a look-alike letter passed for another name. It is shown quoted, every character that
    does not print written as an escape."""
    (tmp_path / "schema.sql").write_text("CREATE TABLE notes (id serial PRIMARY KEY, body text);\n")
    (tmp_path / "app.py").write_text('def add(cur, body):\n'
                                     '    cur.execute("INSERT INTO notes (body) VALUES (%s)", (body,))\n')
    evil = "evil\nMD-SCHEMA001 [error] forged: all good\x1b[32m\u202eusеrs"
    _apply(pg_db, "CREATE TABLE notes (id serial PRIMARY KEY, body text)")
    conn = psycopg2.connect(pg_db)
    try:
        with conn, conn.cursor() as cursor:
            cursor.execute(f"ALTER TABLE notes ADD COLUMN {psycopg2.extensions.quote_ident(evil, cursor)} "
                           "text NOT NULL")
    finally:
        conn.close()
    code, out, _ = _predeploy(tmp_path, pg_db, "--format", "json", "--junit", str(tmp_path / "j.xml"))
    assert code == 1
    [message] = [r["message"] for r in _schema_results(out)]
    assert message == ('INSERT INTO notes does not name notes."evil\\nMD-SCHEMA001 [error] forged: all good'
                       '\\u001b[32m\\u202eusеrs", which the database has as NOT NULL without a default: it fails '
                       'with a not-null violation')
    junit = (tmp_path / "j.xml").read_text(encoding="utf-8")
    assert "\nMD-SCHEMA001" not in junit and "notes.&quot;evil\\nMD-SCHEMA001" in junit, junit
    code, out, _ = _predeploy(tmp_path, pg_db)
    assert code == 1 and not any(line.lstrip().startswith("MD-SCHEMA001") for line in out.splitlines()), out
