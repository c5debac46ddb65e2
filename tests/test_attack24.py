"""Attack round 24: configuration, the predeploy schema check against a hostile live database."""

from __future__ import annotations

import json
import os
import subprocess
from datetime import timedelta
from pathlib import Path
from urllib.parse import urlsplit

import psycopg2
import pytest

from examples.pgtemp import TempPostgres
from tests.cli_inproc import run_cli
from tests.test_predeploy import _apply


def _clean_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items()
            if not k.startswith(("DATABASE_URL", "OPENAI_", "ANTHROPIC_", "CLAUDE_", "MOSAIC_DIAG_"))}


def _predeploy(repo: Path, dsn: str, *args: str) -> tuple[int, str, str]:
    r = run_cli(["predeploy", "--only", "schema", *args], cwd=repo, env={**_clean_env(), "DATABASE_URL": dsn},
                replace_env=True)
    assert "Traceback" not in r.stderr, r.stderr
    return r.returncode, r.stdout, r.stderr


def _schema_results(stdout: str) -> list[dict]:
    return next(c for c in json.loads(stdout)["checks"] if c["check"] == "schema")["results"]


LONG = "order_line_items_with_their_historic_prices_and_discounts_by_region_v2"  # 70 bytes: cut to 63


def test_schema_check_reads_declared_names_as_postgresql_does(pg_db: str, tmp_path: Path) -> None:
    """A name over 63 bytes (the server cuts it), an unquoted non-ASCII capital (the server folds only A-Z: Python's
    lower() made `CAFÉ` `café`, the server has `cafÉ`) were MISSING_TABLE though the tables are there, a deploy
    refused for nothing; a quoted name with `""` or a `'` in it (`"o'brien"`: read as the start of a string, every
    table after it unread) left tables unchecked: `later`, missing, passed the gate."""
    schema = (f'CREATE TABLE {LONG} (id integer);\n'
              'CREATE TABLE CAFÉ (id integer);\n'
              'CREATE TABLE "we""ird" (id integer, "a""b" integer);\n'
              'CREATE TABLE "o\'brien" ("a--b" integer, ÉTÉ text);\n'
              'CREATE TABLE later (id integer);\n')
    (tmp_path / "schema.sql").write_text(schema, encoding="utf-8")
    _apply(pg_db, schema)
    _apply(pg_db, "DROP TABLE later")
    code, out, _ = _predeploy(tmp_path, pg_db, "--format", "json")
    found = [(r["id"], r["message"]) for r in _schema_results(out)]
    assert found == [("MD-SCHEMA001", "MISSING_TABLE later: declared in schema.sql, not in the database")], found
    assert code == 1
    _apply(pg_db, 'ALTER TABLE "o\'brien" DROP COLUMN "a--b"; ALTER TABLE "we""ird" DROP COLUMN "a""b"')
    _apply(pg_db, "CREATE TABLE later (id integer)")
    code, out, _ = _predeploy(tmp_path, pg_db, "--format", "json")
    found = [(r["id"], r["message"]) for r in _schema_results(out)]
    assert found == [("MD-SCHEMA002", 'MISSING_COLUMN "o\'brien"."a--b" (integer): declared, not in the database'),
                     ("MD-SCHEMA002", 'MISSING_COLUMN "we""ird"."a""b" (integer): declared, not in the database')]


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


def test_schema_check_a_table_of_another_role_is_not_missing(pg: TempPostgres, pg_db: str, tmp_path: Path) -> None:
    """information_schema shows a role only the columns it holds a privilege on: a table another role made (and a
    table of no column) was `MISSING_TABLE ...: not in the database`, whose advice, apply the migration, changes
    nothing (CREATE TABLE IF NOT EXISTS finds it there). The table is there; one this role cannot use is said so."""
    (tmp_path / "schema.sql").write_text("CREATE TABLE theirs (id integer, v text);\nCREATE TABLE bare (id integer);\n"
                                         "CREATE TABLE shared (id integer, v text);\n")
    _apply(pg.superuser_dsn(urlsplit(pg_db).path.lstrip("/")),
           "CREATE TABLE theirs (id integer, v text); CREATE TABLE shared (id integer, v bigint);"
           "GRANT SELECT (id) ON shared TO mosaic")
    _apply(pg_db, "CREATE TABLE bare ()")
    code, out, _ = _predeploy(tmp_path, pg_db, "--format", "json")
    found = [(r["id"], r["message"], r["location"]) for r in _schema_results(out)]
    assert found == [
        ("MD-SCHEMA002", "MISSING_COLUMN bare.id (integer): declared, not in the database", "schema.sql:2:1"),
        ("MD-SCHEMA008", "theirs is in the database, owned by postgres, but this role holds no privilege on it: "
                         "every query of the app on it fails (permission denied)", "schema.sql:1:1")], found
    assert code == 1


def test_schema_check_reads_the_catalog_whatever_the_search_path(pg_db: str, tmp_path: Path) -> None:
    """The database's own search_path (its owner's `ALTER DATABASE ... SET search_path = public, pg_catalog`) put a
    view `public.pg_index` before the catalog's: it claimed a unique index on notes (body), and the INSERT ... ON
    CONFLICT (body) that fails in production passed the gate. The check reads the catalog itself."""
    (tmp_path / "schema.sql").write_text("CREATE TABLE notes (id serial PRIMARY KEY, body text);\n")
    (tmp_path / "app.py").write_text('def add(cur, body):\n    cur.execute("INSERT INTO notes (body) VALUES (%s) '
                                     'ON CONFLICT (body) DO NOTHING", (body,))\n')
    _apply(pg_db, "CREATE TABLE notes (id serial PRIMARY KEY, body text);"
                  "CREATE VIEW public.pg_index AS SELECT 'notes'::regclass::oid AS indrelid, true AS indisunique, "
                  "'2'::int2vector AS indkey, NULL::pg_node_tree AS indpred, NULL::pg_node_tree AS indexprs;"
                  f"ALTER DATABASE {urlsplit(pg_db).path.lstrip('/')} SET search_path = public, pg_catalog")
    code, out, _ = _predeploy(tmp_path, pg_db, "--format", "json")
    assert [(r["id"], r["location"]) for r in _schema_results(out)] == [("MD-SCHEMA006", "app.py:2:1")], out
    assert code == 1


@pytest.mark.parametrize(("value", "said"), [
    ('"a\\u0000b"', "must be a path, got 'a\\x00b'"),
    ('""', "is empty: give a path (default .mosaic-diag/audit.log) or leave the setting out")])
def test_playbook_state_paths_are_checked_like_every_path(tmp_path: Path, value: str, said: str) -> None:
    """`audit_log` / `playbooks.*` paths were `Path(value)`: a NUL was a ValueError traceback at --execute (after
    the plan was shown), an empty one the repository's own directory (`Is a directory` at the first write). They
    are read as every path setting is: a one-line error at the config's line, exit 2, nothing written."""
    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True)
    (tmp_path / "pyproject.toml").write_text(f"[tool.mosaic-diag]\naudit_log = {value}\n")
    r = run_cli(["playbook", "run", "SQLITE_FALLBACK_ACTIVE", "--yes", "--execute"], cwd=tmp_path, env=_clean_env(),
                replace_env=True)
    assert r.returncode == 2 and "Traceback" not in r.stderr, r.stderr
    assert r.stderr.strip().splitlines() == [f"mosaic-diag: error: {tmp_path / 'pyproject.toml'}:2: audit_log {said}"]
    assert sorted(p.name for p in tmp_path.iterdir()) == [".git", "pyproject.toml"]


def test_deploy_store_path_with_a_nul_is_a_config_error(tmp_path: Path) -> None:
    """`deploy_store = "a\\u0000b"`: `manifest history` ended in a ValueError traceback."""
    (tmp_path / "mosaic-diag.toml").write_text('deploy_store = "a\\u0000b"\n')
    r = run_cli(["manifest", "history"], cwd=tmp_path, env=_clean_env(), replace_env=True)
    assert r.returncode == 2 and "Traceback" not in r.stderr, r.stderr
    assert r.stderr.strip().splitlines() == [
        f"mosaic-diag: error: {tmp_path / 'mosaic-diag.toml'}:1: deploy_store must be a path, got 'a\\x00b'"]


def test_a_rule_id_with_a_line_break_is_refused(tmp_path: Path) -> None:
    """A --rules file's rule id was printed as written by `classify --explain` (table and Markdown): its newline put
    a line of the file's own choosing in the explanation (`rule fake.rule (taxonomy.yml:1) -> OK`). An id is one
    line of printable text, else the rules file is refused at the id's line, exit 2."""
    rules = tmp_path / "rules.yml"
    rules.write_text('rules:\n  - id: "x\\u001b[2J\\nrule fake.rule (taxonomy.yml:1) -> OK"\n'
                     '    label: PG_AUTH_FAILED\n    match:\n      message: ["zzzq"]\n')
    r = run_cli(["classify", "zzzq happened", "--explain", "--rules", str(rules)], cwd=tmp_path, env=_clean_env(),
                replace_env=True)
    assert r.returncode == 2 and "fake.rule" not in r.stdout, r.stdout
    assert r.stderr.strip().splitlines() == [
        f"mosaic-diag: error: {rules}:2: rule `id` must be one line of printable text, got "
        "'x\\x1b[2J\\nrule fake.rule (taxonomy.yml:1) -> OK'"], r.stderr


@pytest.mark.parametrize("name", ["MOSAIC_DIAG_ANOMALY_WINDOW_MINUTES", "MOSAIC_DIAG_ANOMALY_ALPHA"])
def test_an_environment_number_that_is_none_is_quoted_cut(tmp_path: Path, name: str) -> None:
    """An integer or number setting from the environment that is not one was quoted whole in its error: 100,000
    digits (past Python's 4,300-digit limit) or a pasted blob were one line of 100 kB. Quoted cut, as a value of the
    config file is."""
    log = tmp_path / "app.log"
    log.write_text("2026-01-01T00:00:00Z ERROR boom\n")
    r = run_cli(["triage", str(log)], cwd=tmp_path, env={**_clean_env(), name: "9" * 100_000 + "x"},
                replace_env=True)
    assert r.returncode == 2 and "Traceback" not in r.stderr
    [line] = r.stderr.strip().splitlines()
    assert line.startswith(f"mosaic-diag: error: {name} must be ") and line.endswith("…'") and len(line) < 600, line


def test_a_render_log_page_of_many_entries_at_one_time_is_read_in_linear_time() -> None:
    """Entries at the time of the last one were kept in a set copied whole for each entry: an answer of 500,000
    entries at one time (a hostile or broken API; a crash loop's burst in one millisecond, smaller) took the read of
    `triage --render` and of the watch about a quarter hour (past this suite's 300 s limit); now a second or so."""
    from mosaic_diag.platform.render_logs import RenderLogs
    from mosaic_diag.platform.render_settings import RenderSettings
    from tests.test_render_logs import KEY, T0, _Hostile

    count = 500_000
    body = ('{"hasMore":false,"logs":[' + ",".join(f'{{"id":{i},"timestamp":"t"}}'
                                                   for i in range(count)) + "]}").encode()
    server = _Hostile(body)
    try:
        logs = RenderLogs(RenderSettings(api_url=server.url, service_id="srv-mosaic", owner_id=None, api_key=KEY),
                          T0, T0 + timedelta(minutes=1))
        assert sum(1 for _ in logs.entries()) == count
    finally:
        server.close()


@pytest.mark.parametrize(("text", "got"), [("[[tool]]\nname = 'x'\n", "an array of tables"), ("tool = 5\n", "int")])
def test_a_pyproject_whose_tool_is_no_table_is_a_config_error(tmp_path: Path, text: str, got: str) -> None:
    """A pyproject.toml whose `tool` is an array of tables or a value (valid TOML) ended every command that reads the
    config with an AttributeError traceback, exit 1; it is a configuration error naming the file, exit 2."""
    (tmp_path / "pyproject.toml").write_text(text)
    log = tmp_path / "app.log"
    log.write_text("2026-01-01T00:00:00Z INFO fine\n")
    r = run_cli(["triage", str(log)], cwd=tmp_path, env=_clean_env(), replace_env=True)
    assert r.returncode == 2 and "Traceback" not in r.stderr, r.stderr
    assert r.stderr.strip().splitlines() == [
        f"mosaic-diag: error: {tmp_path / 'pyproject.toml'}: tool must be a table ([tool.mosaic-diag] is read from "
        f"it), got {got}"]


def test_a_quoted_key_with_a_dot_is_an_unknown_key_not_silence(tmp_path: Path) -> None:
    """`"anomaly.window_minutes" = 0` is one TOML key with a dot in its name: no command reads it, and dotted it
    spelled a known key, so it was neither read nor warned about (0 is out of bounds: the setting was lost without a
    word). It is an unknown key, shown as written, with the key meant."""
    (tmp_path / "pyproject.toml").write_text('[tool.mosaic-diag]\n"anomaly.window_minutes" = 0\n')
    log = tmp_path / "app.log"
    log.write_text("2026-01-01T00:00:00Z INFO fine\n")
    r = run_cli(["triage", str(log)], cwd=tmp_path, env=_clean_env(), replace_env=True)
    assert r.returncode == 0 and "Traceback" not in r.stderr, r.stderr
    assert r.stderr.strip().splitlines() == [
        f"mosaic-diag: warning: {tmp_path / 'pyproject.toml'}:2: unknown configuration key "
        "'\"anomaly.window_minutes\"' (did you mean 'anomaly.window_minutes'?): ignored"], r.stderr


def test_an_action_ledger_table_made_by_someone_else_is_read_not_a_traceback(pg_db: str, tmp_path: Path) -> None:
    """`mosaic_diag_actions` made beforehand by another hand, `done_at` a `timestamp` without zone: the second
    `playbook run --execute` ended in a TypeError traceback (a naive time against an aware one) at the cool-down's
    test, in the middle of handling the incident. The time is read as a time; a value that is none starts afresh,
    said in the action's detail."""
    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True)
    _apply(pg_db, "CREATE TABLE mosaic_diag_actions (key text PRIMARY KEY, done_at timestamp)")
    env = {**_clean_env(), "DATABASE_URL": pg_db}
    argv = ["playbook", "run", "SQLITE_FALLBACK_ACTIVE", "--yes", "--execute"]
    first = run_cli(argv, cwd=tmp_path, env=env, replace_env=True)
    assert "circuit_breaker: ok" in first.stdout, first.stdout + first.stderr
    again = run_cli(argv, cwd=tmp_path, env=env, replace_env=True)
    assert "Traceback" not in again.stderr and again.returncode == first.returncode, again.stderr
    assert "circuit_breaker: skipped: already done at" in again.stdout, again.stdout
    _apply(pg_db, "ALTER TABLE mosaic_diag_actions ALTER COLUMN done_at TYPE text; UPDATE mosaic_diag_actions "
                  "SET done_at = 'garbage'")
    third = run_cli(argv, cwd=tmp_path, env=env, replace_env=True)
    assert "Traceback" not in third.stderr and third.returncode == first.returncode, third.stderr
    assert "circuit_breaker: ok" in third.stdout and "unreadable action state" in third.stdout, third.stdout


def test_a_comma_or_parenthesis_in_a_quoted_name_is_the_name_s(pg_db: str, tmp_path: Path) -> None:
    """The table body was cut at every comma and matched by parentheses, quoted names or not: `"a,b" int` was read as
    two columns (`a`, and a `b` of type `" int`: MISSING_COLUMN for a column that is there) and `"c)d"` ended the
    body, the columns after it unchecked (`e`, missing, passed)."""
    schema = 'CREATE TABLE t ("a,b" int, "c)d" text, e int, UNIQUE ("a,b", e));\n'
    (tmp_path / "schema.sql").write_text(schema, encoding="utf-8")
    _apply(pg_db, schema)
    _apply(pg_db, "ALTER TABLE t DROP COLUMN e")
    code, out, _ = _predeploy(tmp_path, pg_db, "--format", "json")
    found = [(r["id"], r["message"]) for r in _schema_results(out)]
    assert found == [("MD-SCHEMA002", "MISSING_COLUMN t.e (integer): declared, not in the database")], found
    assert code == 1
