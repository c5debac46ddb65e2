"""The code rules: YAML cases per rule (tests/lint_cases/), the framework's patterns, the CLI."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from mosaic_diag.lint.engine import Source, lint_sources, select_rules
from mosaic_diag.lint.pgsql import tables_from_sql
from mosaic_diag.lint.rules import all_rules
from tests.cli_inproc import run_cli

ROOT = Path(__file__).resolve().parent.parent
CASES_DIR = Path(__file__).parent / "lint_cases"


def _cases() -> list[tuple[str, dict, str]]:
    out = []
    for path in sorted(CASES_DIR.glob("*.yml")):
        data = yaml.safe_load(path.read_text())
        for case in data["cases"]:
            schema = case.get("schema", data.get("schema", ""))
            out.append(pytest.param(data["rule"], case, schema, id=f"{data['rule']}-{case['name']}"))
    return out


@pytest.mark.parametrize(("code", "case", "schema"), _cases())
def test_rule_case(code: str, case: dict, schema: str) -> None:
    result = lint_sources([Source(case.get("path", "case.py"), case["code"])], rules=select_rules([code]),
                          tables=tables_from_sql(schema), conn_factories=case.get("conn_factories", ("get_conn",)))
    assert not result.failures
    assert [f"{f.line}:{f.col}" for f in result.findings] == case["expect"]
    assert all(f.code == code for f in result.findings)


def test_every_rule_is_documented_and_has_cases_both_ways() -> None:
    rules = all_rules()
    assert len({r.code for r in rules}) == len(rules) == 8
    for rule in rules:
        assert rule.code.startswith("MD") and rule.name and len((rule.__doc__ or "").split()) > 20
        data = yaml.safe_load((CASES_DIR / f"{rule.code}.yml").read_text())
        expects = [bool(c["expect"]) for c in data["cases"]]
        assert True in expects and False in expects, rule.code


def run(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    """`python -m mosaic_diag ARGS` run in this process (tests/cli_inproc.py: the same entry point and its `lint`
    fast path); `_run_with` and the closed-pipe and import cases keep whole processes."""
    return run_cli(args, cwd=cwd)


BAD = """\
import sqlite3


def wrong(email):
    conn = get_conn()
    cursor = conn.execute("SELECT * FROM users WHERE email = ?", (email,))
    return cursor
"""


def test_cli_text_output_and_exit_code(tmp_path: Path) -> None:
    (tmp_path / "api").mkdir()
    (tmp_path / "api" / "bad.py").write_text(BAD)
    (tmp_path / "api" / "good.py").write_text("def ok():\n    with get_conn() as conn:\n        return conn.cursor()\n")
    r = run("lint", "api", cwd=tmp_path)
    assert r.returncode == 1, r.stderr
    lines = r.stdout.splitlines()
    assert lines[:3] == [
        "api/bad.py:5:12: MD001 get_conn() used outside `with`: write `with get_conn() as conn:`",
        "api/bad.py:6:14: MD002 conn.execute() on a psycopg2 connection: use `cursor = conn.cursor()` and "
        "`cursor.execute(...)`",
        "api/bad.py:6:62: MD003 SQLite placeholder `?` in SQL (1x): PostgreSQL (psycopg2) uses %s",
    ]
    assert lines[3] == "3 findings (2 files checked)"


def test_cli_json_select_ignore_and_config(tmp_path: Path) -> None:
    (tmp_path / "bad.py").write_text(BAD)
    r = run("lint", "bad.py", "--format", "json", "--select", "MD001,MD003", cwd=tmp_path)
    data = json.loads(r.stdout)
    assert r.returncode == 1
    assert [f["code"] for f in data["findings"]] == ["MD001", "MD003"]
    assert data["summary"] == {"files": 1, "findings": 2, "unparsable": 0, "by_code": {"MD001": 1, "MD003": 1}}
    (tmp_path / "pyproject.toml").write_text('[tool.mosaic-diag.lint]\nignore = ["MD001", "MD002"]\n')
    r = run("lint", "bad.py", "--format", "json", cwd=tmp_path)
    assert [f["code"] for f in json.loads(r.stdout)["findings"]] == ["MD003"]
    r = run("lint", "bad.py", "--ignore", "MD003", cwd=tmp_path)
    assert r.returncode == 0 and r.stdout == ""
    r = run("lint", "bad.py", "--format", "markdown", "--select", "sqlite-placeholder", cwd=tmp_path)
    assert "| `bad.py:6:62` | MD003 | sqlite-placeholder |" in r.stdout


def test_cli_unparsable_file_is_exit_2_named_with_line(tmp_path: Path) -> None:
    (tmp_path / "broken.py").write_text("x = 1\ndef f(:\n    pass\n")
    (tmp_path / "bad.py").write_text(BAD)
    r = run("lint", ".", cwd=tmp_path)
    assert r.returncode == 2
    assert r.stderr.strip() == "mosaic-diag: error: broken.py:2: cannot parse: invalid syntax"
    assert "bad.py:5:12: MD001" in r.stdout and "Traceback" not in r.stderr


PY312 = '''\
import logging

log = logging.getLogger(__name__)


def report(cur, ts, rows, responses):
    cur.execute(f"SELECT * FROM runs WHERE day = '{ts.strftime("%Y-%m-%d")}'")
    log.info(
        f"Rows: {rows}\\n    Response: {
            list(r["id"] for r in responses) if responses else None
        }"
    )
    try:
        cur.execute("SELECT 1")
    except Exception:
        pass
'''


def test_a_file_in_python_312s_f_string_grammar_is_linted_on_311(tmp_path: Path) -> None:
    """postgres-mcp and pgai (round 7) write 3.12 f-strings: a quote of the f-string's own inside a field, a field
    over lines. The linter on 3.11 reads them (written in 3.11's grammar, lines kept) instead of `cannot parse`."""
    (tmp_path / "py312.py").write_text(PY312)
    r = run("lint", ".", "--no-cache", cwd=tmp_path)
    assert r.returncode == 1, r.stderr
    assert "cannot parse" not in r.stderr
    assert re.findall(r"py312.py:(\d+):\d+: (MD00\d)", r.stdout) == [("7", "MD005"), ("15", "MD006")]


def test_the_312_rewrite_keeps_the_lines_and_reads_as_312_does() -> None:
    import ast

    from mosaic_diag.lint.pep701 import downgrade

    assert downgrade(PY312) is not None and downgrade(PY312).count("\n") == PY312.count("\n")  # type: ignore[union-attr]
    written = downgrade('x = f"{a["b"]} {c.strftime("%Y")!r:>{w}}"\n')
    assert written == 'x = f"{a[\'b\']} {c.strftime(\'%Y\')!r:>{w}}"\n'
    values = ast.parse(written).body[0].value.values  # type: ignore[attr-defined]
    assert [ast.unparse(v.value) for v in values if isinstance(v, ast.FormattedValue)] == ["a['b']", "c.strftime('%Y')"]
    # what 3.11 cannot say stays as written (the file's own error is reported): a backslash or a comment in a
    # field, a third level of quotes; and a file with nothing of 3.12 in it is not rewritten
    for source in ('x = f"{"\\\\n".join(a)}"\n', 'x = f"{a # c\n}"\n', 'x = f"{f"{a["b"]}"}"\n', 'x = f"{a}" + "b"\n'):
        assert downgrade(source) is None, source


def test_cli_a_312_f_string_that_311_cannot_say_is_still_unparsable(tmp_path: Path) -> None:
    (tmp_path / "nested.py").write_text('x = f"{f"{a["b"]}"}"\n')
    r = run("lint", ".", "--no-cache", cwd=tmp_path)
    if sys.version_info < (3, 12):
        assert r.returncode == 2 and "nested.py:1: cannot parse" in r.stderr
    else:
        assert r.returncode == 0


def test_cli_usage_errors(tmp_path: Path) -> None:
    r = run("lint", "--select", "MD999", cwd=tmp_path)
    assert r.returncode == 2 and "unknown rule 'MD999'" in r.stderr
    r = run("lint", "missing_dir", cwd=tmp_path)
    assert r.returncode == 2 and r.stderr.strip() == "mosaic-diag: error: missing_dir: no such file or directory"


def test_example_app_and_the_framework_correct_patterns_are_clean() -> None:
    # (--no-cache: with its cache the run wrote .mosaic-diag/lint-cache into the repository, for the next run there)
    r = run("lint", "examples/mosaic_app", "--format", "json", "--no-cache")
    assert r.returncode == 0, r.stdout
    assert json.loads(r.stdout)["summary"]["files"] >= 8


def test_the_schema_is_parsed_only_for_a_file_with_sql(tmp_path: Path) -> None:
    """pglast (about 40 ms to import) is loaded for the schema only when a linted file holds SQL to judge."""
    (tmp_path / ".git").mkdir()
    (tmp_path / "schema.sql").write_text("CREATE TABLE users (id TEXT PRIMARY KEY, email TEXT UNIQUE);\n")
    (tmp_path / "plain.py").write_text("def add(a: int, b: int) -> int:\n    return a + b\n")
    (tmp_path / "ins.py").write_text('cur.execute("INSERT INTO users (id, email) VALUES (%s, %s)", (1, 2))\n')
    code = ("import sys\nfrom mosaic_diag.entry import main\ncode = main(['lint', '--no-cache', *sys.argv[1:]])\n"
            "print(code, 'pglast' in sys.modules)\n")
    env = {**os.environ, "PYTHONPATH": str(ROOT)}

    def lint(*files: str) -> list[str]:
        r = subprocess.run([sys.executable, "-c", code, *files], capture_output=True, text=True, timeout=60,
                           cwd=tmp_path, env=env)
        return r.stdout.splitlines()

    assert lint("plain.py")[-1] == "0 False"
    out = lint("plain.py", "ins.py")
    assert out[-1] == "1 True" and any("ins.py:1:14: MD007 INSERT INTO users without ON CONFLICT" in line
                                       for line in out)


def test_schema_found_from_the_repo_root_configured_or_said_missing(tmp_path: Path) -> None:
    (tmp_path / ".git").mkdir()  # the repository root
    (tmp_path / "app").mkdir()
    (tmp_path / "app" / "app.py").write_text('cur.execute("INSERT INTO users (id, email) VALUES (%s, %s)", (1, 2))\n')
    r = run("lint", "app.py", "--no-cache", cwd=tmp_path / "app")  # no schema anywhere: said, once
    assert r.returncode == 0 and r.stderr.count("MD007: no schema found") == 1, r.stderr
    (tmp_path / "db" / "migrations").mkdir(parents=True)
    (tmp_path / "db" / "migrations" / "001_users.sql").write_text(
        "CREATE TABLE users (id TEXT PRIMARY KEY);\nCREATE UNIQUE INDEX users_email ON users (email);\n")
    r = run("lint", "app.py", "--no-cache", cwd=tmp_path / "app")  # found from the repository root
    assert r.returncode == 1 and "app.py:1:14: MD007 INSERT INTO users without ON CONFLICT" in r.stdout
    assert "(id), (email)" in r.stdout and r.stderr == ""
    (tmp_path / "app" / "mosaic-diag.toml").write_text('[lint]\nschema = "db/schema.sql"\n')
    r = run("lint", "app.py", cwd=tmp_path / "app")  # configured and missing: a configuration error
    assert r.returncode == 2 and "lint.schema:" in r.stderr and "db/schema.sql: no such file" in r.stderr
    assert "Traceback" not in r.stderr
    (tmp_path / "app" / "db").mkdir()
    (tmp_path / "app" / "db" / "schema.sql").write_text("CREATE TABLE users (id TEXT PRIMARY KEY, email TEXT);\n")
    r = run("lint", "app.py", cwd=tmp_path / "app")
    assert r.returncode == 1 and "the table has unique key(s) (id);" in r.stdout


# flake8's problem matcher as editors and CI use it (VS Code's `problemMatcher` / GitHub Actions' matcher
# JSON): path, line, column, then `CODE message` after `: ` (ruff's and flake8's default format).
FLAKE8_MATCHER = re.compile(r"^(.*):(\d+):(\d+):\s+([A-Z]+\d+)\s+(.*)$")


def test_text_output_is_read_by_flake8s_problem_matcher(tmp_path: Path) -> None:
    (tmp_path / "bad.py").write_text(BAD)
    r = run("lint", "bad.py", cwd=tmp_path)
    findings = [line for line in r.stdout.splitlines() if not line.endswith(("file checked)", "files checked)"))]
    matched = [FLAKE8_MATCHER.match(line) for line in findings]
    assert findings and all(matched), findings
    assert [(m.group(1), m.group(2), m.group(3), m.group(4)) for m in matched] == [
        ("bad.py", "5", "12", "MD001"), ("bad.py", "6", "14", "MD002"), ("bad.py", "6", "62", "MD003")]
    assert matched[0].group(5).startswith("get_conn() used outside `with`")


# --- every SQL finding confirmed by PostgreSQL itself ------------------------------------------------------
SQL_RULES = ("MD003", "MD004", "MD008")
_DRIVER_PLACEHOLDER = re.compile(r"%\([^)]*\)s|%s|(?<![:\w]):[A-Za-z_]\w*")


def _sql_cases() -> list:
    out = []
    for rule in SQL_RULES:
        data = yaml.safe_load((CASES_DIR / f"{rule}.yml").read_text())
        for case in data["cases"]:
            if case["expect"]:
                out.append(pytest.param(rule, data["pg_setup"], case, id=f"{rule}-{case['name']}"))
    return out


def _judged_sql(rule: str, code: str, path: str = "case.py") -> list[tuple[str, bool]]:
    """The SQL texts the linter reported `rule` on, with driver placeholders made NULL (as sent), each with
    whether asyncpg sends it (then as written: `$1` is the server's own placeholder)."""
    import ast

    from mosaic_diag.lint.context import ASYNCPG, FileContext

    if path.endswith(".sql"):  # a `.sql` file's case: the file is the statement
        return [(code, False)]

    ctx = FileContext("case.py", code, ast.parse(code))
    texts = [(site.sql.text, site.kind == ASYNCPG) for site in ctx.postgres_sites()
             if any(p.code == rule for p in ctx.sql_analysis(site).problems)]
    return list(dict.fromkeys((t if dollar else _DRIVER_PLACEHOLDER.sub("NULL", t), dollar) for t, dollar in texts))


def _asyncpg_prepare(dsn: str, sql: str) -> BaseException | None:
    """What real asyncpg raises preparing `sql` on the server (None: it prepares)."""
    import asyncio

    import asyncpg

    async def prepare() -> BaseException | None:
        conn = await asyncpg.connect(dsn)
        try:
            await conn.prepare(sql)
        except asyncpg.PostgresError as exc:
            return exc
        finally:
            await conn.close()
        return None

    return asyncio.run(prepare())


@pytest.mark.parametrize(("rule", "setup", "case"), _sql_cases())
def test_every_sql_finding_fails_on_postgresql_and_its_fix_runs(rule: str, setup: str, case: dict,
                                                                pg_db: str) -> None:
    import psycopg2

    assert case.get("pg_fixed"), f"{rule} {case['name']}: a case with findings names its corrected SQL"
    path = case.get("path", "case.py")
    bad = _judged_sql(rule, case["code"], path)
    assert bad
    findings = lint_sources([Source(path, case["code"])], rules=select_rules([rule])).findings
    conn = psycopg2.connect(pg_db)
    try:
        with conn.cursor() as cur:
            cur.execute(setup)
        conn.commit()
        for sql, dollar in bad:
            if dollar:  # sent by asyncpg: prepared on the server as asyncpg does
                error = _asyncpg_prepare(pg_db, sql)
                assert error is not None, sql
                code, text = getattr(error, "sqlstate", ""), str(error)
            else:
                with conn.cursor() as cur, pytest.raises(psycopg2.Error) as failed:
                    cur.execute(sql)
                conn.rollback()
                code, text = failed.value.pgcode, str(failed.value)
            # a syntax error, or SQLite's datetime() that PostgreSQL does not have: never a missing table
            assert code in {"42601", "42883"}, (sql, code, text)
            if rule == "MD008":  # the linter's message is the server's
                assert any(text.splitlines()[0] in f.message for f in findings), (text, [f.message for f in findings])
        for sql in case["pg_fixed"]:
            if any(dollar for _, dollar in bad):
                assert _asyncpg_prepare(pg_db, sql) is None, sql
            else:
                with conn.cursor() as cur:
                    cur.execute(sql)
                conn.commit()
            fixed_code = f"cursor.execute({sql!r})\n"
            assert lint_sources([Source("fixed.py", fixed_code)], rules=select_rules([rule])).findings == ()
    finally:
        conn.close()


PORTED = '''\
import psycopg2

SCHEMA = """CREATE TABLE notes (id INTEGER PRIMARY KEY AUTOINCREMENT, body TEXT, tags JSONB)"""


def setup(dsn):
    with psycopg2.connect(dsn) as conn:
        cur = conn.cursor()
        cur.execute(SCHEMA)
        cur.execute("INSERT INTO notes (body, tags) VALUES (?, ?)", ("hi", '{"a": 1}'))
        cur.execute("SELECT id FROM notes WHERE tags ? 'a' AND body = ?", ("hi",))
        return cur.fetchall()
'''


def test_fix_and_diff_rewrite_only_the_safe_cases_and_the_result_runs_on_postgresql(tmp_path: Path,
                                                                                    pg_db: str) -> None:
    import runpy

    path = tmp_path / "ported.py"
    path.write_text(PORTED)
    r = run("lint", "ported.py", "--statistics", "--no-cache", cwd=tmp_path)
    assert r.returncode == 1
    assert r.stdout.splitlines() == ["    2\tMD003\t[*] sqlite-placeholder", "    1\tMD004\t[*] sqlite-only-sql"]
    r = run("lint", "ported.py", "--diff", "--no-cache", cwd=tmp_path)
    assert r.returncode == 1 and path.read_text() == PORTED  # --diff changes nothing
    assert "-SCHEMA = \"\"\"CREATE TABLE notes (id INTEGER PRIMARY KEY AUTOINCREMENT" in r.stdout
    assert "+SCHEMA = \"\"\"CREATE TABLE notes (id INTEGER PRIMARY KEY GENERATED BY DEFAULT AS IDENTITY" in r.stdout
    assert "+        cur.execute(\"INSERT INTO notes (body, tags) VALUES (%s, %s)\"" in r.stdout
    with pytest.raises(Exception) as before:  # noqa: B017 - what the original does on PostgreSQL
        runpy.run_path(str(path))["setup"](pg_db)
    assert "AUTOINCREMENT" in str(before.value)
    r = run("lint", "ported.py", "--fix", "--no-cache", cwd=tmp_path)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "fixed 1 finding(s)" not in r.stderr and "fixed 3 finding(s) in ported.py" in r.stderr
    text = path.read_text()
    assert "tags ? 'a' AND body = %s" in text  # the jsonb operator is left alone
    assert runpy.run_path(str(path))["setup"](pg_db) == [(1,)]  # the fixed module runs on PostgreSQL


PSYCOPG3_APP = """\
import psycopg
from psycopg import connect
from psycopg_pool import ConnectionPool


def get_conn(dsn):
    return psycopg.connect(dsn)


def setup(dsn):
    with get_conn(dsn) as conn:
        conn.execute("CREATE TABLE notes (id SERIAL PRIMARY KEY, body TEXT)")
    with connect(dsn) as conn:
        conn.execute("INSERT INTO notes (body) VALUES (%s)", ("hi",))
    with ConnectionPool(dsn, min_size=1, max_size=1) as pool:
        with pool.connection() as conn:
            first = conn.execute("SELECT body FROM notes").fetchall()
        conn = pool.getconn()
        try:
            second = conn.execute("SELECT count(*) FROM notes").fetchall()
        finally:
            pool.putconn(conn)
    return first + second
"""
PSYCOPG2_APP = (PSYCOPG3_APP.replace("import psycopg\n", "import psycopg2 as psycopg\n")
                .replace("from psycopg import", "from psycopg2 import")
                .replace("from psycopg_pool import ConnectionPool",
                         "from psycopg2.pool import SimpleConnectionPool as ConnectionPool"))


def test_psycopg3_connections_execute_and_only_psycopg2_ones_are_md002(tmp_path: Path, pg_db: str) -> None:
    """psycopg 3 connections (`psycopg.connect`, a factory returning one, a psycopg_pool pool's) have `execute`:
    the module lints clean and runs on PostgreSQL; the same code on psycopg2 is MD002 and fails as MD002 says."""
    import runpy

    from mosaic_diag.classifier.classify import Classifier

    (tmp_path / "pg3.py").write_text(PSYCOPG3_APP)
    r = run("lint", "pg3.py", "--no-cache", cwd=tmp_path)
    assert r.returncode == 0 and "MD002" not in r.stdout, r.stdout + r.stderr
    assert runpy.run_path(str(tmp_path / "pg3.py"))["setup"](pg_db) == [("hi",), (1,)]

    (tmp_path / "pg2.py").write_text(PSYCOPG2_APP)
    r = run("lint", "pg2.py", "--no-cache", "--select", "MD002", cwd=tmp_path)
    assert r.returncode == 1
    assert [line.split(": MD002")[0] for line in r.stdout.splitlines() if ": MD002 " in line] == \
        ["pg2.py:12:9", "pg2.py:14:9", "pg2.py:17:21", "pg2.py:20:22"]
    with pytest.raises(AttributeError) as failed:
        runpy.run_path(str(tmp_path / "pg2.py"))["setup"](pg_db)
    assert Classifier.default().classify_exception(failed.value).label == "CONN_MISUSE"


BINDS = """\
import psycopg
import psycopg2


def run2(dsn):
    with psycopg2.connect(dsn) as conn, conn.cursor() as cur:
        cur.execute("CREATE TEMP TABLE t (id int, a int, b int)")
        cur.execute("SELECT * FROM t WHERE id IN %s", ((1, 2),))
        cur.execute("SELECT * FROM t WHERE (a, b) IN %(pairs)s", {"pairs": ((1, 2),)})
        cur.execute("NOTIFY chan, %s", ("payload",))


def run3(dsn, sql, params):
    with psycopg.connect(dsn) as conn:
        conn.execute(sql, params)


def both(dsn):
    run3(dsn, "SELECT 1 WHERE 1 IN %s", ((1, 2),))
    with psycopg.connect(dsn) as conn:
        conn.execute("SELECT 1 WHERE 1 IN %s", ((1, 2),))
        conn.execute("NOTIFY chan, %s", ("payload",))
"""


def test_placeholders_psycopg2_fills_in_parse_and_psycopg3_ones_fail_as_md008_says(tmp_path: Path,
                                                                                    pg_db: str) -> None:
    """psycopg2 writes the values into the text (a tuple after `IN` as a list, a string where NOTIFY wants a
    literal): those statements run and are clean (powa-web, round 3); psycopg 3 binds on the server, where the
    same statements are MD008 (also through `run3`, the module's own wrapper of a psycopg 3 connection) and the
    server says what the finding says."""
    import runpy

    import psycopg

    findings = lint_sources([Source("binds.py", BINDS)], rules=select_rules(["MD008"])).findings
    assert [(f.line, f.col) for f in findings] == [(19, 36), (21, 43), (22, 36)], findings
    path = tmp_path / "binds.py"
    path.write_text(BINDS)
    module = runpy.run_path(str(path))
    module["run2"](pg_db)
    for sql, params in (("SELECT 1 WHERE 1 IN %s", ((1, 2),)), ("NOTIFY chan, %s", ("payload",))):
        with pytest.raises(psycopg.errors.SyntaxError) as failed:
            module["run3"](pg_db, sql, params)
        assert any(str(failed.value).splitlines()[0] in f.message for f in findings), (str(failed.value), findings)


SA_BINDS = """\
import psycopg2
from sqlalchemy import create_engine, text


def ids_in(creator, url, ids):
    engine = create_engine(url, creator=creator)
    with engine.connect() as conn:
        return conn.execute(text("SELECT n FROM generate_series(1, 5) AS n WHERE n IN :ids ORDER BY n"),
                            {"ids": tuple(ids)}).fetchall()
"""


def test_sqlalchemy_in_name_given_a_tuple_parses_on_psycopg2_and_fails_on_psycopg3_as_md008_says(
        tmp_path: Path, pg_db: str) -> None:
    """SQLAlchemy hands `:ids` to psycopg2 as `%(ids)s`, which writes a tuple in as a list: `IN :ids` runs and is
    clean (redash's `all_groups_for_query_ids`, round 4); in a module of psycopg 3 (server-side binds) the same
    text is MD008 and the server says what the finding says."""
    import runpy

    import psycopg
    import psycopg2
    import sqlalchemy.exc

    assert lint_sources([Source("sa.py", SA_BINDS)], rules=select_rules(["MD008"])).findings == ()
    path = tmp_path / "sa.py"
    path.write_text(SA_BINDS)
    ids_in = runpy.run_path(str(path))["ids_in"]
    assert ids_in(lambda: psycopg2.connect(pg_db), "postgresql+psycopg2://", [2, 4]) == [(2,), (4,)]

    pg3 = SA_BINDS.replace("import psycopg2\n", "import psycopg\n")
    findings = lint_sources([Source("sa3.py", pg3)], rules=select_rules(["MD008"])).findings
    assert [(f.line, f.col) for f in findings] == [(8, 87)], findings
    with pytest.raises(sqlalchemy.exc.ProgrammingError) as failed:
        ids_in(lambda: psycopg.connect(pg_db), "postgresql+psycopg://", [2, 4])
    assert isinstance(failed.value.orig, psycopg.errors.SyntaxError)
    assert str(failed.value.orig).splitlines()[0] in findings[0].message, (str(failed.value.orig), findings)


ASYNCPG_APP = """\
import asyncpg


async def run(dsn, email):
    pool = await asyncpg.create_pool(dsn, min_size=1, max_size=1)
    try:
        async with pool.acquire() as conn:
            await conn.execute("CREATE TABLE IF NOT EXISTS users "
                               "(id serial PRIMARY KEY, email text UNIQUE, data jsonb)")
            await conn.execute("INSERT INTO users (email, data) VALUES ($1, $2::jsonb) ON CONFLICT (email) DO NOTHING",
                               email, '{"k": 1}')
        rows = await pool.fetch("SELECT id FROM users WHERE data ? 'k' AND id = ANY($1::int[])", [1, 2])
        return await pool.fetchval("SELECT email FROM users WHERE id = ? AND email = ?", rows[0]["id"], email)
    finally:
        await pool.close()
"""


def test_asyncpg_queries_are_read_and_a_qmark_fails_on_asyncpg_as_md003_says_and_its_fix_runs(
        tmp_path: Path, pg_db: str) -> None:
    """asyncpg's `fetch` / `fetchval` on a pool it made are SQL (round 6: RoboDanny's were never read): `$1`,
    `ANY($1::int[])` and the jsonb `?` are right; a SQLite `?` is MD003, real asyncpg rejects it, and `--fix` writes
    `$1`, `$2`, which runs."""
    import asyncio
    import runpy

    import asyncpg

    path = tmp_path / "app.py"
    path.write_text(ASYNCPG_APP)
    r = run("lint", "app.py", "--no-cache", cwd=tmp_path)
    assert r.returncode == 1, r.stdout + r.stderr
    assert [line.split(" SQLite")[0] for line in r.stdout.splitlines() if ": MD" in line] == ["app.py:13:72: MD003"]
    with pytest.raises(asyncpg.PostgresSyntaxError):
        asyncio.run(runpy.run_path(str(path))["run"](pg_db, "a@example.org"))
    r = run("lint", "app.py", "--no-cache", "--fix", cwd=tmp_path)
    assert "WHERE id = $1 AND email = $2" in path.read_text(), path.read_text()
    assert run("lint", "app.py", "--no-cache", cwd=tmp_path).returncode == 0
    assert asyncio.run(runpy.run_path(str(path))["run"](pg_db, "a@example.org")) == "a@example.org"


def test_md002_on_an_awaited_connection_names_it(tmp_path: Path) -> None:
    """`(await get_conn()).execute(...)`: one MD002 naming the awaited call (it was an AttributeError
    traceback: the receiver is an `await`, not a call)."""
    (tmp_path / "a.py").write_text('async def f():\n    (await get_conn()).execute("SELECT 1")\n')
    r = run("lint", "a.py", "--no-cache", "--select", "MD002", cwd=tmp_path)
    assert (r.returncode, r.stderr) == (1, "")
    assert r.stdout.splitlines()[0] == ("a.py:2:5: MD002 (await get_conn()).execute() on a psycopg2 connection: "
                                        "use `cursor = (await get_conn()).cursor()` and `cursor.execute(...)`")


def test_files_are_read_as_python_reads_them_and_fix_keeps_their_bytes(tmp_path: Path) -> None:
    """A PEP 263 `coding:` comment, a BOM, CRLF line ends and a form feed: linted like any file, and
    `--fix` changes only the fixed text (same encoding, BOM, line ends). A file that is not text in its
    encoding is one error of that file: the other files are still linted."""
    query = b'    return conn.execute("SELECT * FROM users WHERE email = ?", (email,))'
    files = {
        "latin.py": b"# -*- coding: latin-1 -*-\nNAME = 'caf\xe9'\n\n\ndef f(conn, email):\n" + query + b"\n",
        "bom.py": b"\xef\xbb\xbfdef f(conn, email):\r\n" + query + b"\r\n",
        "feed.py": b"X = 1\n\x0c\n\ndef f(conn, email):\n" + query + b"\n",
    }
    for name, data in files.items():
        (tmp_path / name).write_bytes(data)
    (tmp_path / "noise.py").write_bytes(b"NAME = 'caf\xe9'\n")  # latin-1 without saying so
    r = run("lint", ".", "--no-cache", "--select", "MD003", cwd=tmp_path)
    assert r.returncode == 2, r.stderr
    assert sorted(r.stdout.splitlines()[:-1]) == [
        "bom.py:2:60: MD003 SQLite placeholder `?` in SQL (1x): PostgreSQL (psycopg2) uses %s",
        "feed.py:5:60: MD003 SQLite placeholder `?` in SQL (1x): PostgreSQL (psycopg2) uses %s",
        "latin.py:6:60: MD003 SQLite placeholder `?` in SQL (1x): PostgreSQL (psycopg2) uses %s"]
    assert "mosaic-diag: error: noise.py:1: cannot parse: not valid utf-8 (byte 0xe9)" in r.stderr
    assert "Traceback" not in r.stderr
    (tmp_path / "noise.py").unlink()
    r = run("lint", ".", "--no-cache", "--select", "MD003", "--fix", cwd=tmp_path)
    assert r.returncode == 0, r.stdout + r.stderr
    for name, data in files.items():
        assert (tmp_path / name).read_bytes() == data.replace(b"= ?", b"= %s"), name
    assert run("lint", ".", "--no-cache", "--select", "MD003", cwd=tmp_path).returncode == 0


def test_sarif_github_and_json_formats(tmp_path: Path) -> None:
    (tmp_path / "bad.py").write_text(BAD)
    r = run("lint", "bad.py", "--format", "sarif", "--no-cache", cwd=tmp_path)
    sarif = json.loads(r.stdout)
    assert r.returncode == 1 and sarif["version"] == "2.1.0"
    driver = sarif["runs"][0]["tool"]["driver"]
    assert [rule["id"] for rule in driver["rules"]] == [f"MD00{i}" for i in range(1, 9)]
    results = sarif["runs"][0]["results"]
    assert [(x["ruleId"], x["locations"][0]["physicalLocation"]["region"]) for x in results] == [
        ("MD001", {"startLine": 5, "startColumn": 12}), ("MD002", {"startLine": 6, "startColumn": 14}),
        ("MD003", {"startLine": 6, "startColumn": 62})]
    assert all(driver["rules"][x["ruleIndex"]]["id"] == x["ruleId"] for x in results)
    r = run("lint", "bad.py", "--format", "github", "--no-cache", cwd=tmp_path)
    assert r.returncode == 1
    assert r.stdout.splitlines()[0] == ("::error file=bad.py,line=5,col=12,title=MD001 conn-outside-with::MD001 "
                                        "get_conn() used outside `with`: write `with get_conn() as conn:`")
    assert "%25s" in r.stdout.splitlines()[2]  # `%s` in the message escaped as GitHub wants
    r = run("lint", "bad.py", "--format", "json", "--no-cache", cwd=tmp_path)
    assert [f["fixable"] for f in json.loads(r.stdout)["findings"]] == [False, False, True]


def test_sql_files_are_judged_and_noqa_in_sql(tmp_path: Path) -> None:
    (tmp_path / "migrations").mkdir()
    (tmp_path / "migrations" / "001.sql").write_text(
        "CREATE TABLE a (id BIGSERIAL PRIMARY KEY);\n"
        "CREATE TABLE b (id INTEGER PRIMARY KEY AUTOINCREMENT);\n"
        "SELECT 1 FROM a WHERE;\n")
    (tmp_path / "migrations" / "002.sql").write_text("PRAGMA foreign_keys = ON; -- noqa: MD004\n")
    r = run("lint", "migrations", "--no-cache", cwd=tmp_path)
    assert r.returncode == 1
    assert r.stdout.splitlines() == [
        "migrations/001.sql:2:40: MD004 SQLite's `AUTOINCREMENT` does not exist in PostgreSQL: use "
        "`GENERATED BY DEFAULT AS IDENTITY` (or BIGSERIAL)",
        "migrations/001.sql:3:22: MD008 PostgreSQL cannot parse this SQL: syntax error at or near \";\"",
        "2 findings (2 files checked)"]  # 002.sql's PRAGMA is silenced by its `-- noqa: MD004`
    r = run("lint", "migrations", "--fix", "--no-cache", cwd=tmp_path)  # AUTOINCREMENT rewritten, MD008 stays
    assert r.returncode == 1 and "MD004" not in r.stdout and "001.sql:3:22: MD008" in r.stdout
    fixed = (tmp_path / "migrations" / "001.sql").read_text()
    assert "b (id INTEGER PRIMARY KEY GENERATED BY DEFAULT AS IDENTITY);" in fixed


def test_the_cache_gives_the_same_result_and_follows_edits(tmp_path: Path) -> None:
    (tmp_path / "bad.py").write_text(BAD)
    cold = run("lint", "bad.py", cwd=tmp_path)
    assert list((tmp_path / ".mosaic-diag" / "lint-cache").glob("*.json"))
    warm = run("lint", "bad.py", cwd=tmp_path)
    assert cold.stdout == warm.stdout and warm.returncode == 1 and "MD003" in warm.stdout
    (tmp_path / "bad.py").write_text(BAD.replace("= ?", "= %s"))
    edited = run("lint", "bad.py", cwd=tmp_path)
    assert "MD003" not in edited.stdout and "MD001" in edited.stdout
    r = run("lint", "bad.py", "--ignore", "MD001", cwd=tmp_path)  # other rules: not the cached answer
    assert "MD001" not in r.stdout and "MD002" in r.stdout


def test_the_cache_forgets_files_that_are_gone(tmp_path: Path) -> None:
    (tmp_path / "bad.py").write_text(BAD)
    (tmp_path / "old.py").write_text(BAD)
    run("lint", "bad.py", "old.py", cwd=tmp_path)
    from mosaic_diag.lint.runcache import read_signed

    cache = next(p for p in (tmp_path / ".mosaic-diag" / "lint-cache").glob("*.json") if "run" not in p.name)
    assert set(json.loads(read_signed(cache))["files"]) == {"bad.py", "old.py"}
    (tmp_path / "old.py").unlink()  # renamed away
    (tmp_path / "bad.py").write_text(BAD + "\n")
    r = run("lint", ".", cwd=tmp_path)
    assert r.returncode == 1 and "old.py" not in r.stdout
    assert set(json.loads(read_signed(cache))["files"]) == {"bad.py"}


def test_help_and_wrong_options_go_through_typer(tmp_path: Path) -> None:
    r = run("lint", "--help", cwd=tmp_path)
    assert r.returncode == 0 and "--statistics" in r.stdout and "--require-schema" in r.stdout
    r = run("lint", "--bogus", cwd=tmp_path)
    assert r.returncode == 2 and "No such option: --bogus" in r.stderr and "Traceback" not in r.stderr
    r = run("lint", "--format", "xml", cwd=tmp_path)
    assert r.returncode == 2 and "xml" in r.stderr


# --- the caches and the parallel run (issue 15, part 6) ---------------------------------------------------
def _run_with(package_root: Path, *args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    """`mosaic-diag lint` with the package imported from `package_root` (a copy that a test may edit)."""
    env = {**os.environ, "PYTHONPATH": str(package_root)}
    return subprocess.run([sys.executable, "-m", "mosaic_diag", "lint", *args], capture_output=True, text=True,
                          timeout=60, cwd=cwd, env=env)


def test_the_run_cache_is_invalidated_by_a_file_a_rule_file_the_schema_and_the_config(tmp_path: Path) -> None:
    package = tmp_path / "pkg"
    shutil.copytree(ROOT / "mosaic_diag", package / "mosaic_diag", ignore=shutil.ignore_patterns("__pycache__"))
    app = tmp_path / "app"
    app.mkdir()
    (app / ".git").mkdir()
    (app / "bad.py").write_text(BAD)
    (app / "schema.sql").write_text("CREATE TABLE users (id TEXT PRIMARY KEY, email TEXT);\n")
    first = _run_with(package, "bad.py", cwd=app)
    assert first.returncode == 1 and "bad.py:6:62: MD003" in first.stdout
    assert (app / ".mosaic-diag" / "lint-cache" / "lint-run-1.json").is_file()
    assert _run_with(package, "bad.py", cwd=app).stdout == first.stdout  # replayed
    # a changed rule file: the run and every file's cached findings are thrown away
    rule = package / "mosaic_diag" / "lint" / "rules" / "MD003_sqlite_placeholder.py"
    rule.write_text(rule.read_text().replace("SQLite placeholder `?` in SQL", "Edited placeholder message"))
    edited_rule = _run_with(package, "bad.py", cwd=app)
    assert "bad.py:6:62: MD003 Edited placeholder message" in edited_rule.stdout, edited_rule.stdout
    # a changed file
    (app / "bad.py").write_text(BAD.replace("= ?", "= %s"))
    edited = _run_with(package, "bad.py", cwd=app)
    assert "MD003" not in edited.stdout and "MD001" in edited.stdout
    # a changed schema: MD007 judges the INSERT against the table's unique keys of the moment
    (app / "ins.py").write_text('def add(cur):\n    cur.execute("INSERT INTO users (id) VALUES (%s)", (1,))\n')
    assert "ins.py:2:18: MD007" in _run_with(package, "ins.py", cwd=app).stdout
    (app / "schema.sql").write_text("CREATE TABLE users (id TEXT, email TEXT);\n")
    assert "MD007" not in _run_with(package, "ins.py", cwd=app).stdout
    # a changed configuration, and a changed format: not the cached answer
    (app / "mosaic-diag.toml").write_text('[lint]\nignore = ["MD007"]\n')
    assert _run_with(package, "ins.py", cwd=app).returncode == 0
    report = json.loads(_run_with(package, "bad.py", "--format", "json", cwd=app).stdout)
    assert {f["code"] for f in report["findings"]} == {"MD001", "MD002"}


def test_a_warm_run_replays_warnings_and_errors_in_order(tmp_path: Path) -> None:
    (tmp_path / ".git").mkdir()
    (tmp_path / "ins.py").write_text('cur.execute("INSERT INTO users (id) VALUES (%s)", (1,))\n')
    (tmp_path / "broken.py").write_text("x = (\n")
    cold = run("lint", ".", cwd=tmp_path)
    warm = run("lint", ".", cwd=tmp_path)
    assert cold.returncode == warm.returncode == 2
    assert (cold.stdout, cold.stderr) == (warm.stdout, warm.stderr)
    assert "MD007: no schema found" in warm.stderr and "broken.py:1: cannot parse" in warm.stderr
    strict = run("lint", ".", "--require-schema", cwd=tmp_path)  # another option: not the cached answer
    assert strict.returncode == 2 and "MD007 cannot judge INSERT INTO users (ins.py:1)" in strict.stderr


def test_the_config_root_is_the_one_git_gives(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from mosaic_diag.config import config_root, find_root

    def git(cwd: Path, *args: str) -> None:
        subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True, timeout=60)

    real = tmp_path / "real"
    (real / "a" / "b").mkdir(parents=True)
    git(real, "init", "-q")
    git(real, "-c", "user.email=a@b", "-c", "user.name=t", "commit", "-q", "--allow-empty", "-m", "init")
    git(real, "worktree", "add", "-q", str(tmp_path / "wt"))
    (tmp_path / "wt" / "sub").mkdir()
    (real / "a" / "fake" / ".git").mkdir(parents=True)  # not a repository: git looks further up
    (tmp_path / "bogus").mkdir()
    (tmp_path / "bogus" / ".git").write_text("gitdir: /nonexistent\n")  # git stops: not a repository
    (tmp_path / "outside").mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
    for where in (real, real / "a" / "b", real / "a" / "fake", tmp_path / "wt" / "sub", tmp_path / "bogus",
                  tmp_path / "outside"):
        monkeypatch.chdir(where)
        assert config_root(env) == find_root(where), where


def forked_vs_alone() -> None:
    """Lint the same sources with forked workers and in one process; raise if they differ. Run in a
    fresh process (the test below): forking is refused in a process with other threads, and the test
    session has server threads."""
    from mosaic_diag.lint import engine

    assert engine._can_fork(), "fork() refused in the child"
    engine._workers_wanted = lambda: 2  # whatever the load of the machine
    files = engine.discover([ROOT / "mosaic_diag", ROOT / "examples", ROOT / "tests" / "realworld"])
    # workers start before the CREATE TABLEs are read, on files without the word INSERT: one they
    # meet all the same is judged by this process (ins.py, the biggest file, is the first a worker takes)
    planted = [Source("ddl.py", 'DDL = """CREATE TABLE planted (id TEXT PRIMARY KEY, n INT)"""\n'),
               Source("ins.py", 'def add(cur):\n    cur.execute("INS" "ERT INTO planted (id) VALUES (%s)", (1,))\n'
                                + "# padding\n" * 8000),
               Source("other.py", 'def add(cur):\n    cur.execute("INSERT INTO nowhere (id) VALUES (%s)", (1,))\n')]
    sources = [*planted, *engine.read_sources(files)[0]]
    assert sum(len(s.text) for s in sources) > engine.PARALLEL_MIN_BYTES
    tables = engine.schema_tables([ROOT / "examples" / "mosaic_app" / "schema.sql"])
    forked = lint_sources(sources, tables=tables)
    engine.PARALLEL_MIN_BYTES = 10**12
    alone = lint_sources(sources, tables=tables)
    assert forked == alone and forked.findings
    assert [(f.path, f.line, f.code) for f in forked.findings if f.path == "ins.py"] == [("ins.py", 2, "MD007")]
    assert "other.py:2: nowhere" in forked.unknown_tables
    print("same findings:", len(forked.findings))


@pytest.mark.skipif(not hasattr(os, "fork") or sys.platform in {"darwin", "win32"}, reason="no fork() here")
def test_forked_workers_give_the_findings_of_one_process() -> None:
    r = subprocess.run([sys.executable, "-c", "from tests.test_lint import forked_vs_alone; forked_vs_alone()"],
                       cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0 and r.stdout.startswith("same findings: "), r.stdout + r.stderr


def test_the_project_passes_its_own_rules() -> None:
    """mosaic_diag/ itself keeps the rules it enforces: every finding is fixed, or silenced with
    `# mosaic-diag: ignore[CODE]` where the code means it (a fallback that returns, a handle passed on)."""
    r = run("lint", "mosaic_diag", "--no-cache", cwd=ROOT)
    assert r.returncode == 0, r.stdout + r.stderr


def test_fix_writes_through_a_symlink_once_and_keeps_it_a_symlink(tmp_path: Path) -> None:
    """A repository file that is a symlink (to a shared module): --fix rewrites the file it points to, once
    (the same file reached by both names), and the link stays a link."""
    (tmp_path / "real.py").write_text('def f(cur, i):\n    cur.execute("SELECT name FROM users WHERE id = ?", (i,))\n')
    (tmp_path / "link.py").symlink_to("real.py")
    r = run("lint", ".", "--no-cache", "--select", "MD003", "--fix", cwd=tmp_path)
    assert r.returncode == 0, r.stdout + r.stderr
    assert (tmp_path / "link.py").is_symlink() and os.readlink(tmp_path / "link.py") == "real.py"
    assert (tmp_path / "real.py").read_text().count("id = %s") == 1
    assert r.stderr.count("fixed 1 finding(s)") == 1, r.stderr


def test_the_project_passes_its_own_code_rules(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture) -> None:
    """The toolkit's own package follows the rules it enforces (a merge once brought a PRAGMA and an f-string
    ALTER on an untyped connection that only the linter saw)."""
    from mosaic_diag.cli import main

    monkeypatch.chdir(ROOT)
    code = main(["lint", "mosaic_diag", "--no-cache"])
    assert code == 0, capsys.readouterr().out


def test_statistics_mark_a_rule_that_fix_rewrites_only_in_part(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                                capsys: pytest.CaptureFixture) -> None:
    """ruff's marks: `[*]` every finding of the rule rewritten by --fix, `[~]` some (MD004's AUTOINCREMENT is,
    its INSERT OR IGNORE is not: the whole rule said `[*]` before), none when no finding is."""
    from mosaic_diag.cli import main

    (tmp_path / ".git").mkdir()
    (tmp_path / "app.py").write_text(
        "import sqlite3\n\n\ndef setup(path):\n    conn = sqlite3.connect(path)\n"
        "    with get_conn() as pg:\n"
        "        cur = pg.cursor()\n"
        "        cur.execute(\"CREATE TABLE t (id INTEGER PRIMARY KEY AUTOINCREMENT, v TEXT)\")\n"
        "        cur.execute(\"INSERT OR IGNORE INTO t (v) VALUES (%s)\", ('a',))\n"
        "        cur.execute(\"SELECT v FROM t WHERE id = ?\", (1,))\n"
        "    try:\n        conn.close()\n    except Exception:\n        pass\n")
    monkeypatch.chdir(tmp_path)
    capsys.readouterr()
    assert main(["lint", "app.py", "--statistics", "--no-cache"]) == 1
    rows = capsys.readouterr().out.splitlines()
    assert "    2\tMD004\t[~] sqlite-only-sql" in rows, rows
    assert "    1\tMD003\t[*] sqlite-placeholder" in rows, rows
    assert "    1\tMD006\tswallowed-exception" in rows, rows


def test_swallowed_exception_messages_show_the_handler_as_written() -> None:
    """A bare `except:` was shown as "`except : pass`" / "`except ` swallows", and a `continue` body as `pass`."""
    code = ("for item in items:\n"
            "    try:\n        work(item)\n    except:\n        pass\n"
            "    try:\n        work(item)\n    except:\n        result = None\n"
            "    try:\n        work(item)\n    except KeyError:\n        continue\n")
    found = lint_sources([Source("case.py", code)], rules=select_rules(["MD006"])).findings
    assert [f.message for f in found] == [
        "`except: pass` swallows the error: log it or re-raise",
        "`except` swallows the error without logging or re-raising",
        "`except KeyError: continue` swallows the error: log it or re-raise",
    ]


def test_insert_without_on_conflict_names_only_the_keys_an_insert_can_hit() -> None:
    """A SERIAL primary key was listed with the real key ("unique key(s) (id), (email)")."""
    schema = "CREATE TABLE users (id SERIAL PRIMARY KEY, email TEXT UNIQUE, name TEXT);\n"
    code = 'cur.execute("INSERT INTO users (email, name) VALUES (%s, %s)", (e, n))\n'
    found = lint_sources([Source("case.py", code)], rules=select_rules(["MD007"]),
                         tables=tables_from_sql(schema)).findings
    assert [f.message for f in found] == [
        "INSERT INTO users without ON CONFLICT: the table has unique key(s) (email); "
        "add `ON CONFLICT (...) DO NOTHING` or `DO UPDATE`"]


def test_a_table_a_file_creates_itself_is_the_one_its_inserts_meet(pg_db: str) -> None:
    """Round 4 (aiopg, 26 findings): each test file makes its own `tbl (id int)`; an example elsewhere makes a `tbl`
    with a primary key, and every INSERT of the tests was judged against that one. The file's own table now
    wins over the other files' (the schema's still over both), and a file that creates none still meets the
    others'. The tables run on PostgreSQL: the test's INSERT twice is no duplicate key, the example's is."""
    import psycopg2

    example = ('cur.execute(\'CREATE TABLE tbl ("MyIDField" INTEGER NOT NULL, name TEXT, '
               'PRIMARY KEY ("MyIDField"))\')\n'
               'cur.execute("INSERT INTO tbl (name) VALUES (%s)", ("a",))\n')
    own = ('cur.execute("CREATE TABLE tbl (id int, name varchar(255))")\n'
           'cur.execute("INSERT INTO tbl VALUES (1, %s)", ("a",))\n')
    other = 'cur.execute("INSERT INTO tbl VALUES (1)")\n'
    sources = [Source("examples/named.py", example), Source("tests/test_tx.py", own), Source("tests/other.py", other)]
    found = lint_sources(sources, rules=select_rules(["MD007"]), cache_dir=None).findings
    assert [(f.path, f.line) for f in found] == [("examples/named.py", 2), ("tests/other.py", 1)]
    schema = tables_from_sql("CREATE TABLE tbl (id int PRIMARY KEY);")
    found = lint_sources(sources, rules=select_rules(["MD007"]), tables=schema, cache_dir=None).findings
    assert [f.path for f in found] == ["examples/named.py", "tests/other.py", "tests/test_tx.py"]
    conn = psycopg2.connect(pg_db)
    try:
        with conn.cursor() as cur:
            cur.execute("CREATE TEMP TABLE tbl (id int, name varchar(255))")
            cur.execute("INSERT INTO tbl VALUES (1, 'a')")
            cur.execute("INSERT INTO tbl VALUES (1, 'a')")
            cur.execute("DROP TABLE tbl")
            cur.execute('CREATE TEMP TABLE tbl ("MyIDField" INTEGER NOT NULL, name TEXT, PRIMARY KEY ("MyIDField"))')
            cur.execute('INSERT INTO tbl VALUES (1, \'a\')')
            with pytest.raises(psycopg2.errors.UniqueViolation):
                cur.execute('INSERT INTO tbl VALUES (1, \'a\')')
    finally:
        conn.rollback()
        conn.close()
