"""`mosaic-diag predeploy` against the real PostgreSQL fixture (`pg`, `pg_db`) and the LLM stand-in (`llm`).

Each failure comes from the real libpq / provider client in this run and is labelled by the
shared classifier. A database that cannot be reached is a failed check: exit 1.
"""

from __future__ import annotations

import ast
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.cli_inproc import run_cli

ROOT = Path(__file__).resolve().parent.parent
APP = ROOT / "examples" / "mosaic_app"


def predeploy(repo: Path, env: dict[str, str], *args: str) -> tuple[int, dict]:
    base = {k: v for k, v in os.environ.items()
            if not k.startswith(("DATABASE_URL", "OPENAI_", "ANTHROPIC_", "CLAUDE_", "MOSAIC_DIAG_"))}
    # (in this process, tests/cli_inproc.py: the table, --root and SDK-import cases below run whole processes)
    r = run_cli(["predeploy", "--format", "json", *args], cwd=repo, env={**base, **env}, replace_env=True)
    assert "Traceback" not in r.stderr, r.stderr
    return r.returncode, json.loads(r.stdout)


def results(data: dict, check: str) -> list[dict]:
    return next(c for c in data["checks"] if c["check"] == check)["results"]


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    path = tmp_path / "app"
    shutil.copytree(APP, path, ignore=shutil.ignore_patterns("__pycache__"))
    return path


ADVICE_FIELDS = ("message", "hint", "diagnosis", "recommendation")


def assert_no_unfilled_advice(data: dict) -> None:
    """No result shows a raw `{placeholder}`, a `None` or an empty `(now )`; plan lines only for actions
    that can apply before a deploy (none skipped, none that acts on a running app)."""
    import re

    for check in data["checks"]:
        for r in check["results"]:
            for text in [*(r[f] or "" for f in ADVICE_FIELDS), *r["plan"]]:
                assert not re.search(r"\{[A-Za-z_][\w.]*\}", text), text
                assert "None" not in text and "()" not in text and "(now )" not in text, text
            for line in r["plan"]:
                assert line.startswith("-> ") and line.split()[1].rstrip(":") in {"advise", "alert_ops",
                                                                                  "open_incident"}, line


@pytest.mark.parametrize(("case", "label", "says"), [
    ("wrong_password", "PG_AUTH_FAILED", None),
    ("ssl_only_without_ssl", "PG_SSL_REQUIRED", "Add ?sslmode=require"),
    ("denied_without_ssl", "PG_ACCESS_DENIED", "whatever the encryption"),
    ("denied_default_sslmode", "PG_ACCESS_DENIED", "changing sslmode will not help"),
    ("denied_with_ssl", "PG_ACCESS_DENIED", "changing sslmode will not help"),
    ("unknown_database", "PG_CONNECTION_FAILED", "does not exist: create it or fix the name"),
    ("nothing_listening", "PG_CONNECTION_FAILED", "The server does not answer now"),
    ("unresolvable_host", "PG_NETWORK_UNREACHABLE", "check it for a typo"),
])
def test_database_failures_are_classified(pg, repo: Path, case: str, label: str, says: str | None,
                                          refused_port: int) -> None:
    from examples.pgtemp import DENIED_DB

    dsn = {
        "wrong_password": pg.dsn("mosaic", password="not-the-password"),
        "ssl_only_without_ssl": pg.dsn("mosaic_ssl", sslmode="disable"),
        "denied_without_ssl": pg.dsn(DENIED_DB, sslmode="disable"),  # reads "no encryption": SSL is tried too
        "denied_default_sslmode": pg.dsn(DENIED_DB, sslmode=None),   # libpq's prefer: SSL and plain both refused
        "denied_with_ssl": pg.dsn(DENIED_DB, sslmode="require"),
        "unknown_database": pg.dsn("no_such_db", sslmode="require"),  # over SSL: pg_hba lets it reach the db check
        "nothing_listening": pg.dsn("mosaic", port=refused_port),
        "unresolvable_host": pg.dsn("mosaic", host="db.mosaic-typo.invalid"),
    }[case]
    code, data = predeploy(repo, {"DATABASE_URL": dsn}, "--only", "database", "--timeout", "8")
    assert code == 1
    db = [r for r in results(data, "database") if r["id"] == "MD-DB010"]
    assert [r["label"] for r in db] == [label]
    advice = " ".join(filter(None, [db[0]["recommendation"], *db[0]["plan"]]))
    if says:
        assert says in advice, advice
    if label == "PG_ACCESS_DENIED":
        assert "sslmode=require" not in advice.replace("with sslmode=require", "")  # no SSL advice
    if case == "unknown_database":
        assert "does not answer" not in advice
    if case == "unresolvable_host":  # not a Render host: no Render region / internal host advice
        assert "Render" not in advice and "region" not in advice, advice
    assert_no_unfilled_advice(data)
    assert pg.password not in json.dumps(data)
    schema = next(c for c in data["checks"] if c["check"] == "schema")
    assert schema["status"] == "skipped" and "MD-DB010" in schema["reason"]


@pytest.mark.parametrize(("case", "says"), [
    ("space_in_password", "whitespace in the password"),
    ("space_in_host", "whitespace in the host"),
    ("no_database", "no database name"),
    ("slash_in_password", "unescaped '/' before the host"),
])
def test_malformed_urls_libpq_accepts_are_flagged_before_connecting(pg, repo: Path, case: str, says: str) -> None:
    good = pg.dsn("mosaic")
    dsn = {"space_in_password": good.replace(f":{pg.password}@", f":{pg.password[:4]} {pg.password[4:]}@"),
           "space_in_host": good.replace("@127.0.0.1:", "@127.0.0.1 :"),
           "no_database": good.replace("/mosaic?", "?"),
           "slash_in_password": good.replace(f":{pg.password}@", f":{pg.password[:4]}/{pg.password[4:]}@")}[case]
    code, data = predeploy(repo, {"DATABASE_URL": dsn}, "--only", "database", "--timeout", "8")
    assert code == 1
    [found] = results(data, "database")
    assert (found["id"], found["label"]) == ("MD-DB002", "PG_URL_MALFORMED")
    assert says in found["message"] and found["recommendation"]
    assert ("whitespace" in found["recommendation"]) == case.startswith("space")
    assert ("names no database" in found["recommendation"]) == (case == "no_database")
    assert_no_unfilled_advice(data)
    assert pg.password[4:] not in json.dumps(data)
    schema = next(c for c in data["checks"] if c["check"] == "schema")
    assert schema["status"] == "skipped" and "MD-DB002" in schema["reason"]


@pytest.mark.parametrize("char", ["#", "?"])
def test_a_hash_or_question_mark_in_the_password_is_what_libpq_reads(char: str) -> None:
    """libpq (psycopg2.extensions.parse_dsn) reads `#` and `?` before the last `@` as part of the password:
    not a malformed URL for the app, so no MD-DB002 (a `/` does split it, see above)."""
    from psycopg2.extensions import parse_dsn

    from mosaic_diag.checks.database import sanity

    dsn = f"postgresql://mosaic:abcd{char}efgh@127.0.0.1:5432/mosaic?sslmode=require"
    assert parse_dsn(dsn)["password"] == f"abcd{char}efgh"
    assert [m.id for m in sanity(dsn) if m.id == "MD-DB002"] == []


def test_ssl_only_database_with_ssl_connects(pg, repo: Path) -> None:
    code, data = predeploy(repo, {"DATABASE_URL": pg.dsn("mosaic_ssl", sslmode="require")}, "--only", "MD-DB010")
    assert results(data, "database") == [] and code == 0


def _apply(dsn: str, sql: str) -> None:
    import psycopg2

    conn = psycopg2.connect(dsn)
    try:
        with conn, conn.cursor() as cursor:
            cursor.execute(sql)
    finally:
        conn.close()


def test_schema_in_step_then_missing_column(pg_db: str, repo: Path) -> None:
    schema = (repo / "schema.sql").read_text()
    _apply(pg_db, schema)
    code, data = predeploy(repo, {"DATABASE_URL": pg_db}, "--only", "db")
    assert code == 0, data
    _apply(pg_db, "ALTER TABLE sessions DROP COLUMN user_data; "
                  "ALTER TABLE ai_requests ALTER COLUMN latency_ms TYPE text")
    code, data = predeploy(repo, {"DATABASE_URL": pg_db}, "--only", "schema")
    assert code == 1
    found = [(r["id"], r["label"], r["location"]) for r in results(data, "schema")]
    assert found == [("MD-SCHEMA003", "TYPE_MISMATCH", "schema.sql:30:1"),
                     ("MD-SCHEMA002", "MISSING_COLUMN", "schema.sql:14:1")]
    (repo / "mosaic-diag.toml").write_text('[predeploy]\nsilence = ["MD-SCHEMA002", "MD-SCHEMA003"]\n')
    code, data = predeploy(repo, {"DATABASE_URL": pg_db}, "--only", "schema")
    assert code == 0 and all(r["silenced"] for r in results(data, "schema"))


def test_schema_check_writes_nothing(pg_db: str, repo: Path) -> None:
    code, data = predeploy(repo, {"DATABASE_URL": pg_db}, "--only", "schema")
    assert code == 1 and {r["label"] for r in results(data, "schema")} == {"MISSING_TABLE"}
    import psycopg2

    conn = psycopg2.connect(pg_db)
    try:
        with conn.cursor() as cursor:
            cursor.execute("SELECT count(*) FROM information_schema.tables WHERE table_schema = 'public'")
            assert cursor.fetchone() == (0,)
    finally:
        conn.close()


def _llm_env(llm) -> dict[str, str]:
    return {"OPENAI_API_KEY": "sk-test-key", "ANTHROPIC_API_KEY": "sk-ant-test-key",
            "OPENAI_BASE_URL": llm.openai_base_url, "ANTHROPIC_BASE_URL": llm.anthropic_base_url,
            "OPENAI_MODEL": "gpt-4o-mini", "ANTHROPIC_MODEL": "claude-3-5-sonnet-latest"}


def test_providers_pass_against_the_stand_in(llm, repo: Path) -> None:
    code, data = predeploy(repo, _llm_env(llm), "--only", "providers", "--timeout", "60")  # a busy box
    assert code == 0, data
    paths = {r["path"] for r in llm.requests}
    assert "/v1/models" in paths and "/v1/models/gpt-4o-mini" in paths


@pytest.mark.parametrize(("provider", "mode", "env", "expect"), [
    ("openai", None, {"OPENAI_API_KEY": "bad-key"}, ("MD-LLM001", "OPENAI_INVALID_KEY")),
    ("anthropic", None, {"ANTHROPIC_API_KEY": "bad-key"}, ("MD-LLM003", "ANTHROPIC_INVALID_KEY")),
    ("openai", None, {"OPENAI_MODEL": "gpt-nope"}, ("MD-LLM002", "OPENAI_MODEL_NOT_FOUND")),
    ("anthropic", None, {"ANTHROPIC_MODEL": "claude-nope"}, ("MD-LLM004", "ANTHROPIC_MODEL_NOT_FOUND")),
    ("openai", "server_error", {}, ("MD-LLM001", "OPENAI_SERVER_ERROR")),
])
def test_provider_failures_are_classified(llm, repo: Path, provider: str, mode: str | None,
                                          env: dict[str, str], expect: tuple[str, str]) -> None:
    if mode:
        llm.set_failure(provider, mode)
    code, data = predeploy(repo, {**_llm_env(llm), **env}, "--only", provider, "--timeout", "60")
    assert code == 1
    [failure] = results(data, provider)
    assert (failure["id"], failure["label"]) == expect
    assert failure["playbook"]
    if mode != "server_error":  # a transient error's steps (retry, alert on a rate) act on a running app
        assert failure["plan"] or failure["recommendation"]
    assert_no_unfilled_advice(data)
    if expect[1].endswith("MODEL_NOT_FOUND"):  # the plan's advice names the pinned model (env.*_MODEL.value)
        model = env.get("OPENAI_MODEL") or env["ANTHROPIC_MODEL"]
        assert any(line.startswith("-> advise") and f"({model})" in line for line in failure["plan"]), failure
    assert "bad-key" not in json.dumps(data)


def test_junit_file_and_wall_time(pg_db: str, repo: Path, tmp_path: Path) -> None:
    junit = tmp_path / "out" / "predeploy.xml"
    code, data = predeploy(repo, {"DATABASE_URL": pg_db}, "--only", "db,prompts", "--junit", str(junit))
    assert code == 1 and data["summary"]["wall_time"] > 0
    text = junit.read_text()
    assert 'name="schema"' in text and "MISSING_TABLE" in text and "<failure" in text


def test_a_database_failure_carries_its_playbook_and_recommendation(pg, repo: Path) -> None:
    from mosaic_diag.playbooks import PlaybookStore

    dsn = pg.dsn("mosaic", password="rotated-elsewhere")
    code, data = predeploy(repo, {"DATABASE_URL": dsn}, "--only", "database", "--timeout", "8")
    assert code == 1
    [failure] = [r for r in results(data, "database") if r["id"] == "MD-DB010"]
    playbook = PlaybookStore.load(None).match("PG_AUTH_FAILED")
    assert failure["label"] == "PG_AUTH_FAILED"
    assert failure["playbook"] == playbook.id
    credentials = next(c for c in playbook.checks if c.fail_label == "PG_AUTH_FAILED")
    assert failure["recommendation"] == credentials.recommendation
    # the dry-run plan: only the steps that apply before a deploy (judged with stage=predeploy)
    assert [line.split()[1].rstrip(":") for line in failure["plan"]] == ["alert_ops"]
    assert {"alert_ops", "fallback_sqlite"} <= {step.action for step in playbook.remediate}
    alert = failure["plan"][0]
    assert alert.startswith("-> ") and "(predeploy)" in alert  # `when: always`; {stage} filled in
    assert_no_unfilled_advice(data)
    assert "rotated-elsewhere" not in json.dumps(data)
    # the table shows the same advice
    base = {k: v for k, v in os.environ.items() if not k.startswith(("DATABASE_URL", "MOSAIC_DIAG_"))}
    r = subprocess.run([sys.executable, "-m", "mosaic_diag", "predeploy", "--only", "database", "--timeout", "8"],
                       cwd=repo, env={**base, "DATABASE_URL": dsn, "COLUMNS": "250"},
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 1 and "Traceback" not in r.stderr, r.stderr
    for text in (f"playbook {playbook.id}", "label PG_AUTH_FAILED (critical)", credentials.recommendation[:40],
                 "plan -> alert_ops"):  # (the table folds long cells)
        assert text in r.stdout, r.stdout
    assert "rotated-elsewhere" not in r.stdout


def test_manifest_check_shows_the_commit_and_warns_on_a_dirty_tree(repo: Path) -> None:
    env = {"GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.com", "GIT_COMMITTER_NAME": "t",
           "GIT_COMMITTER_EMAIL": "t@example.com", "HOME": str(repo)}
    code, data = predeploy(repo, env, "--only", "manifest")
    assert results(data, "manifest") == [] and "not a git repository" in json.dumps(data)
    for args in (["init", "-q", "-b", "main"], ["add", "-A"], ["commit", "-qm", "first"]):
        subprocess.run(["git", *args], cwd=repo, env={**os.environ, **env}, check=True)
    head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=repo, capture_output=True, text=True).stdout.strip()
    code, data = predeploy(repo, env, "--only", "manifest")
    assert code == 0
    [info] = results(data, "manifest")
    assert info["id"] == "MD-MANIFEST001" and f"commit {head[:12]} on main, clean tree" in info["message"]
    assert info["level"] == "info"
    (repo / "schema.sql").write_text((repo / "schema.sql").read_text() + "\n-- edited\n")
    code, data = predeploy(repo, env, "--only", "manifest", "--fail-level", "warning")
    assert code == 1
    info, dirty = results(data, "manifest")
    assert info["id"] == "MD-MANIFEST001" and f"commit {head[:12]} on main, dirty tree" in info["message"]
    assert dirty["id"] == "MD-MANIFEST002" and dirty["level"] == "warning"
    assert "1 uncommitted change(s): schema.sql" in dirty["message"] and "commit" in dirty["hint"]
    code, data = predeploy(repo, env, "--only", "manifest")  # a warning does not fail the default gate
    assert code == 0
    # from a subdirectory, the repository's top level is checked (its prompt files were "no such file")
    code, data = predeploy(repo / "prompts", env, "--only", "prompts,manifest")
    assert code == 0 and results(data, "prompts") == [], data
    assert f"commit {head[:12]} on main" in results(data, "manifest")[0]["message"]


@pytest.mark.parametrize("kind", ["missing", "file"])
def test_root_must_be_a_directory(repo: Path, kind: str) -> None:
    root = repo / "no-such-dir" if kind == "missing" else repo / "schema.sql"
    r = subprocess.run([sys.executable, "-m", "mosaic_diag", "predeploy", "--root", str(root)],
                       cwd=repo, capture_output=True, text=True, timeout=60)
    assert r.returncode == 2 and "Traceback" not in r.stderr and r.stdout == ""
    [line] = r.stderr.strip().splitlines()
    assert str(root) in line and ("no such directory" if kind == "missing" else "not a directory") in line


def test_schema_drift_that_breaks_writes(pg_db: str, repo: Path) -> None:
    """Drift psql shows to break every write: an added NOT NULL column without a default, a dropped
    UNIQUE that `ON CONFLICT (email)` needs, a dropped foreign key; each reported at the statement."""
    import psycopg2

    from mosaic_diag.checks.appsql import app_inserts

    _apply(pg_db, (repo / "schema.sql").read_text())
    code, data = predeploy(repo, {"DATABASE_URL": pg_db}, "--only", "schema")
    assert code == 0 and results(data, "schema") == [], data
    _apply(pg_db, "ALTER TABLE users ADD COLUMN nickname text NOT NULL; "
                  "ALTER TABLE users ADD COLUMN plan text NOT NULL DEFAULT 'free'; "   # has a default: fine
                  "ALTER TABLE users DROP CONSTRAINT users_email_key; "
                  "CREATE UNIQUE INDEX users_email_partial ON users (email) WHERE email <> ''; "  # partial: no use
                  "ALTER TABLE sessions DROP CONSTRAINT sessions_user_id_fkey")
    code, data = predeploy(repo, {"DATABASE_URL": pg_db}, "--only", "schema")
    assert code == 1
    register = next(i for i in app_inserts(repo) if i.table == "users")
    assert register.where == "auth.py:65:1" and register.conflict == ("email",)
    found = [(r["id"], r["level"], r["location"]) for r in results(data, "schema")]
    assert found == [("MD-SCHEMA005", "error", "auth.py:65:1"), ("MD-SCHEMA006", "error", "auth.py:65:1"),
                     ("MD-SCHEMA007", "warning", "schema.sql:13:1")]
    messages = [r["message"] for r in results(data, "schema")]
    assert "users.nickname" in messages[0] and "plan" not in messages[0]
    assert "ON CONFLICT (email)" in messages[1] and "sessions (user_id) -> users" in messages[2]
    # the diagnosis holds: the app's own statement fails on this database as reported
    sql = next(c.value for c in ast.walk(ast.parse((repo / "auth.py").read_text()))
               if isinstance(c, ast.Constant) and getattr(c, "lineno", None) == 65)
    row = ("u1", "a@example.com", "h", "2026-01-01")
    conn = psycopg2.connect(pg_db)
    try:
        with pytest.raises(psycopg2.errors.InvalidColumnReference), conn.cursor() as cursor:
            cursor.execute(sql, row)
        conn.rollback()
        _apply(pg_db, "CREATE UNIQUE INDEX users_email ON users (email)")
        with pytest.raises(psycopg2.errors.NotNullViolation), conn.cursor() as cursor:
            cursor.execute(sql, row)
    finally:
        conn.close()
    code, data = predeploy(repo, {"DATABASE_URL": pg_db}, "--only", "schema")
    assert [r["id"] for r in results(data, "schema")] == ["MD-SCHEMA005", "MD-SCHEMA007"]


@pytest.mark.slow
def test_providers_import_their_sdk_only_when_a_call_fails(llm, repo: Path) -> None:
    """The key and model calls go out through the standard library; a provider SDK (a second to
    import) is loaded only to repeat a failing call through the real client."""
    script = ("import json, os, sys\nfrom pathlib import Path\nfrom mosaic_diag.checks.predeploy import predeploy\n"
              "report = predeploy(Path(sys.argv[1]), dict(os.environ), only=['providers'], timeout=60)\n"
              "print(json.dumps([[r.label for o in report.outcomes for r in o.results],"
              " 'openai' in sys.modules, 'anthropic' in sys.modules]))\n")

    def run(env: dict[str, str]) -> list:
        base = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "ANTHROPIC_", "MOSAIC_DIAG_"))}
        r = subprocess.run([sys.executable, "-c", script, str(repo)], env={**base, **_llm_env(llm), **env},
                           capture_output=True, text=True, timeout=120)
        assert r.returncode == 0, r.stderr
        return json.loads(r.stdout)

    assert run({}) == [[], False, False]
    assert run({"OPENAI_API_KEY": "bad-key"}) == [["OPENAI_INVALID_KEY"], True, False]
    assert run({"ANTHROPIC_MODEL": "claude-nope"}) == [["ANTHROPIC_MODEL_NOT_FOUND"], False, True]


def test_the_table_says_each_playbooks_advice_once(repo: Path) -> None:
    """Three missing settings share one playbook: the table names it in each row and its advice and plan
    follow the table once, for all three."""
    base = {k: v for k, v in os.environ.items()
            if not k.startswith(("DATABASE_URL", "OPENAI", "ANTHROPIC", "CLAUDE", "MOSAIC_DIAG_"))}
    r = subprocess.run([sys.executable, "-m", "mosaic_diag", "predeploy", "--only", "settings"],
                       cwd=repo, env={**base, "COLUMNS": "200"}, capture_output=True, text=True, timeout=60)
    assert r.returncode == 1 and "Traceback" not in r.stderr, r.stderr
    assert r.stdout.count("label ENV_VAR_MISSING (critical), playbook env-var-missing") == 3, r.stdout
    assert r.stdout.count("playbook env-var-missing for MD-ENV001 (3 results): label ENV_VAR_MISSING") == 1
    assert r.stdout.count("Set OPENAI_API_KEY in the Render environment group") == 1
    assert r.stdout.count("plan -> advise") == 1


def test_a_redirecting_provider_url_never_carries_the_key_elsewhere(repo: Path) -> None:
    """OPENAI_BASE_URL / ANTHROPIC_BASE_URL answering 3xx to another host: neither the stdlib fast path nor
    the SDK's repeat sends the key there (urllib and httpx carry `x-api-key`, urllib `Authorization` too)."""
    from http.server import BaseHTTPRequestHandler

    from examples.loopback import QuietServer

    seen: list[dict[str, str]] = []

    class Collector(BaseHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            return

        def do_GET(self) -> None:  # noqa: N802 - http.server's name
            seen.append({k.lower(): v for k, v in self.headers.items()})
            body = b'{"data": [], "id": "gpt-4o-mini", "object": "model"}'
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    collector = QuietServer.start_on_loopback(Collector)
    elsewhere = f"http://localhost:{collector.server_address[1]}"

    class Redirector(BaseHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            return

        def do_GET(self) -> None:  # noqa: N802 - http.server's name
            self.send_response(307)
            self.send_header("Location", elsewhere + self.path)
            self.send_header("Content-Length", "0")
            self.end_headers()

    redirector = QuietServer.start_on_loopback(Redirector)
    try:
        env = {"OPENAI_API_KEY": "sk-redirect-me-0123456789", "ANTHROPIC_API_KEY": "sk-ant-redirect-me-0123456789",
               "OPENAI_BASE_URL": redirector.url + "/v1", "ANTHROPIC_BASE_URL": redirector.url,
               "OPENAI_MODEL": "gpt-4o-mini", "ANTHROPIC_MODEL": "claude-3-5-sonnet-latest"}
        code, data = predeploy(repo, env, "--only", "providers", "--timeout", "60")
    finally:
        redirector.stop()
        collector.stop()
    leaked = [h for h in seen if "redirect-me" in json.dumps(h)]
    assert not leaked, leaked
    assert code == 1, data  # a provider URL that sends us elsewhere is not a working provider
    assert "redirect-me" not in json.dumps(data)
    assert "307" in json.dumps(results(data, "openai"))


@pytest.mark.slow
def test_a_config_value_a_check_cannot_use_is_a_configuration_error(repo: Path) -> None:
    """A value of the wrong type that a check reads was a failed check (`settings check failed: ConfigError: …`,
    exit 1; `schema = 5` a raw TypeError, `openai_models = 5` with no file:line): it is the command's error, one
    line naming the file and line, exit 2, nothing on stdout. A directory where a file is named says so."""
    base = {k: v for k, v in os.environ.items()
            if not k.startswith(("DATABASE_URL", "OPENAI_", "ANTHROPIC_", "CLAUDE_", "MOSAIC_DIAG_"))}
    pyproject = repo / "pyproject.toml"
    for only, setting, says in (
        ("settings", 'required_env = "DATABASE_URL"', "predeploy.required_env must be a list, got 'DATABASE_URL'"),
        ("schema", "schema = 5", "predeploy.schema must be a path, got 5"),
        ("prompts", "ps101_steps = 5", "predeploy.ps101_steps must be a string, got 5"),
        ("prompts", 'prompts_max_field = "x"', "predeploy.prompts_max_field must be a number, got 'x'"),
        ("openai", "openai_models = 5", "predeploy.openai_models must be a list of model names, got 5"),
        ("golden", 'golden_app = "examples.mosaic_app.main:app"\ngolden_cases = 5',
         "predeploy.golden_cases must be a string, got 5"),
        ("golden", "golden_url = 5", "predeploy.golden_url must be a string, got 5"),
    ):
        pyproject.write_text(f"[tool.mosaic-diag.predeploy]\n{setting}\n")
        line = 2 + setting.count("\n")
        r = run_cli(["predeploy", "--only", only, "--format", "json"], cwd=repo,
                    env={**base, "OPENAI_API_KEY": "sk-test"}, replace_env=True)
        assert (r.returncode, r.stdout) == (2, ""), (setting, r.stdout, r.stderr)
        assert r.stderr == f"mosaic-diag: error: {pyproject}:{line}: {says}\n", setting
    pyproject.write_text('[tool.mosaic-diag.predeploy]\nschema = "prompts"\nps101_steps = "prompts"\n')
    code, data = predeploy(repo, {"DATABASE_URL": "postgresql://u:p@127.0.0.1:1/db"}, "--only", "schema,prompts")
    assert code == 1
    assert results(data, "schema")[0]["message"] == "prompts: is a directory, not a file (predeploy.schema)"
    assert results(data, "prompts")[0]["message"] == "prompts: is a directory, not a file"
    for fmt in ("table", "html"):  # the location once, not `prompts: prompts: is a directory`
        r = subprocess.run([sys.executable, "-m", "mosaic_diag", "predeploy", "--only", "prompts", "--format", fmt],
                           cwd=repo, env={**base, "COLUMNS": "200"}, capture_output=True, text=True, timeout=120)
        assert "prompts: is a directory, not a file" in r.stdout and "prompts: prompts:" not in r.stdout, r.stdout


@pytest.mark.slow
def test_a_provider_echoing_a_key_of_no_known_shape_is_redacted_everywhere(repo: Path, tmp_path: Path) -> None:
    """An Azure OpenAI key is 32 hex digits, a gateway's key anything: no detector knows it, and a provider that
    echoed it back in its 401 had it printed in every format and the JUnit file. The secret-named variables'
    values are masked wherever they appear."""
    from http.server import BaseHTTPRequestHandler

    from examples.loopback import QuietServer

    class Echo(BaseHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            return

        def do_GET(self) -> None:  # noqa: N802 - http.server's name
            key = (self.headers.get("x-api-key") or self.headers.get("authorization", "")).removeprefix("Bearer ")
            body = json.dumps({"error": {"message": f"Incorrect API key provided: {key}",
                                         "type": "invalid_request_error", "code": "invalid_api_key"}}).encode()
            self.send_response(401)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    keys = {"OPENAI_API_KEY": "3f9a" * 8, "ANTHROPIC_API_KEY": "gateway.tenant7.Qm9vb2JhcmJheg"}
    echo = QuietServer.start_on_loopback(Echo)
    base = {k: v for k, v in os.environ.items()
            if not k.startswith(("DATABASE_URL", "OPENAI_", "ANTHROPIC_", "CLAUDE_", "MOSAIC_DIAG_"))}
    env = {**base, **keys, "OPENAI_BASE_URL": echo.url + "/v1", "ANTHROPIC_BASE_URL": echo.url, "COLUMNS": "250"}
    junit = tmp_path / "predeploy.xml"
    try:
        for fmt in ("json", "table"):
            r = subprocess.run([sys.executable, "-m", "mosaic_diag", "predeploy", "--only", "providers", "--format",
                                fmt, "--junit", str(junit)], cwd=repo, env=env, capture_output=True, text=True,
                               timeout=120)
            assert r.returncode == 1 and "Incorrect API key provided: ***" in r.stdout, r.stdout + r.stderr
            for text in (r.stdout, r.stderr, junit.read_text()):
                assert not any(key in text for key in keys.values()), (fmt, text)
    finally:
        echo.stop()


def test_a_database_that_never_answers_is_classified_in_time_and_bad_gates_are_refused(repo: Path) -> None:
    """A port that takes the connection and never answers (a black hole): libpq waited the whole check's timeout,
    so the check was MD-TIMEOUT, unclassified; its connect timeout is half the check's. `--timeout nan` made
    every check time out at once, and `--only golden --skip golden` a gate that checked nothing and passed."""
    import socket

    with socket.socket() as hole:
        hole.bind(("127.0.0.1", 0))
        hole.listen(8)  # never accepted: the handshake completes, no byte ever comes back
        dsn = f"postgresql://mosaic:secret-pw-0000@127.0.0.1:{hole.getsockname()[1]}/mosaic"
        code, data = predeploy(repo, {"DATABASE_URL": dsn}, "--only", "database", "--timeout", "6")
    [result] = results(data, "database")
    assert code == 1 and (result["id"], result["label"]) == ("MD-DB010", "PG_NETWORK_UNREACHABLE"), result
    assert "timeout expired" in result["message"] and "secret-pw" not in json.dumps(data)
    bad = "--timeout must be a positive number of seconds (at most 100 years), got"
    for args, says in ((["--timeout", "nan"], f"{bad} nan"), (["--timeout", "inf"], f"{bad} inf"),
                       (["--timeout", "1e300"], f"{bad} 1e+300"),  # (a traceback: a wait past time_t)
                       (["--only", "golden", "--skip", "golden"],
                        "no check left to run: --only / --skip (or predeploy.only / predeploy.skip) leave none")):
        r = run_cli(["predeploy", *args], cwd=repo)
        assert (r.returncode, r.stdout, r.stderr) == (2, "", f"mosaic-diag: error: {says}\n"), args


@pytest.mark.parametrize("columns", [80, 200])
def test_the_table_is_padded_titled_and_its_advice_wraps_under_its_step(repo: Path, columns: int) -> None:
    """The predeploy table alone had no padding at its edges (`│config    │`, a hint touching the border: `with
    `#│`) and lower-case headers among tables titled `Severity`, `Label`; the advice after it went on at the left
    edge when it wrapped, and its verdict said `FAILED: 3 at or above error` (3 what?)."""
    base = {k: v for k, v in os.environ.items()
            if not k.startswith(("DATABASE_URL", "OPENAI", "ANTHROPIC", "CLAUDE", "MOSAIC_DIAG_"))}
    r = subprocess.run([sys.executable, "-m", "mosaic_diag", "predeploy", "--only", "settings,database"],
                       cwd=repo, env={**base, "COLUMNS": str(columns), "NO_COLOR": "1"}, capture_output=True,
                       text=True, timeout=60)
    assert r.returncode == 1 and "Traceback" not in r.stderr, r.stderr
    lines = [line.rstrip() for line in r.stdout.splitlines()]
    assert all(len(line) <= columns for line in lines)
    assert any(line.startswith("┃ Check ") and " ┃ Status " in line and " ┃ Hint " in line for line in lines)
    rows = [line for line in lines if line.startswith("│")]
    assert rows and all(line.startswith("│ ") and line.endswith(" │") for line in rows), rows
    plans = [i for i, line in enumerate(lines) if line.startswith("  plan -> ")]
    assert plans
    after = [lines[i + 1] for i in plans if i + 1 < len(lines) and lines[i + 1].strip()]
    assert all(line.startswith("          ") or line.startswith(("  plan -> ", "playbook ", "FAILED"))
               for line in after), after
    assert any(line.startswith("FAILED: ") and " findings at or above error; wall time " in line for line in lines)


def _prompts_json(repo: Path, *args: str) -> tuple[int, dict]:
    """`predeploy --only prompts --format json` in a process of its own (csv's field limit is the process's)."""
    base = {k: v for k, v in os.environ.items() if not k.startswith(("DATABASE_URL", "MOSAIC_DIAG_"))}
    r = subprocess.run([sys.executable, "-m", "mosaic_diag", "predeploy", "--only", "prompts", "--format", "json",
                        *args], cwd=repo, env={**base, "PYTHONPATH": str(ROOT)}, capture_output=True, text=True,
                       timeout=120)
    assert "Traceback" not in r.stderr, r.stderr
    return r.returncode, json.loads(r.stdout)


def test_a_prompt_longer_than_csvs_own_field_limit_is_an_oversize_field(repo: Path) -> None:
    """A well-formed prompts.csv with a prompt of 200,000 characters was "does not parse" (MD-PROMPT004, an error:
    csv's own limit of 131,072 characters), whatever predeploy.prompts_max_field said. It is MD-PROMPT007 (a
    warning) past prompts_max_field, and nothing within it."""
    table = repo / "prompts" / "prompts.csv"
    table.write_text("prompt,response\n" + "x" * 200_000 + ",fine\nshort,answer\n")
    code, data = _prompts_json(repo)
    assert code == 0, data
    assert [(r["id"], r["level"], r["location"]) for r in results(data, "prompts")] == [
        ("MD-PROMPT007", "warning", "prompts/prompts.csv:2:1")], data
    (repo / "pyproject.toml").write_text("[tool.mosaic-diag.predeploy]\nprompts_max_field = 300000\n")
    code, data = _prompts_json(repo)
    assert (code, results(data, "prompts")) == (0, []), data


def test_prompt_files_nested_too_deep_or_not_utf8_are_findings_at_their_line(repo: Path) -> None:
    """A ps101_steps.json of `[[[[…` 100,000 deep stopped the whole prompts check on a RecursionError ("prompts
    check failed", hint "commit it", prompts.csv never checked); a prompts.csv with a byte that is not UTF-8 named no
    line. Each is its file's finding now, at its line, and the other file is still checked."""
    (repo / "prompts" / "ps101_steps.json").write_text("[" * 100_000 + "]" * 100_000)
    (repo / "prompts" / "prompts.csv").write_bytes(b"\xef\xbb\xbfprompt,response\na,b\nc,\xffd\n")
    code, data = _prompts_json(repo)
    assert code == 1, data
    assert [(r["id"], r["location"], r["message"]) for r in results(data, "prompts")] == [
        ("MD-PROMPT002", "prompts/ps101_steps.json:1:1",
         "prompts/ps101_steps.json: arrays or objects nested too deeply to read"),
        ("MD-PROMPT001", "prompts/prompts.csv:3:3",
         "prompts/prompts.csv: not UTF-8 text: byte 0xff at line 3, column 3 (invalid start byte)")], data
