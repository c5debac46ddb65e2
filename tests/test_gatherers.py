"""Gatherers against real parts: PostgreSQL, a loopback /health, a git repo, DNS; failures as data."""

from __future__ import annotations

import json
import socket
import subprocess
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler
from pathlib import Path

import pytest

from examples.loopback import QuietServer
from examples.pgtemp import SSL_DB, TempPostgres
from mosaic_diag.playbooks import PlaybookSettings, PlaybookStore, gather_and_plan
from mosaic_diag.playbooks.gatherers import GatherContext, run_gatherers
from mosaic_diag.playbooks.model import GatherStep


def gather(name: str, params: dict | None = None, *, env: dict | None = None, root: Path = Path("."),
           **settings: object) -> dict:
    ctx = GatherContext(PlaybookSettings(root=root, env=env or {}, **settings))
    (result,) = run_gatherers((GatherStep(name, params or {}),), ctx)
    return {"ok": result.ok, "error": result.error, **result.facts}


# -- PostgreSQL --------------------------------------------------------------------------------------
def test_postgres_reachable(pg: TempPostgres) -> None:
    facts = gather("postgres", env={"DATABASE_URL": pg.dsn()})
    assert facts["postgres.reachable"] is True and facts["postgres.label"] == ""
    assert facts["postgres.server_version"].startswith("PostgreSQL ")
    assert facts["postgres.ssl"] is False


def test_postgres_failures_are_classified(pg: TempPostgres, refused_port: int) -> None:
    wrong = gather("postgres", env={"DATABASE_URL": pg.dsn(password="wrong-password")})
    assert wrong["ok"] and wrong["postgres.reachable"] is False
    assert wrong["postgres.label"] == "PG_AUTH_FAILED"
    assert "password authentication failed" in wrong["postgres.error"]
    assert "wrong-password" not in json.dumps(wrong)

    no_ssl = gather("postgres", env={"DATABASE_URL": pg.dsn(SSL_DB, sslmode="disable")})
    assert no_ssl["postgres.label"] == "PG_SSL_REQUIRED"
    with_ssl = gather("postgres", env={"DATABASE_URL": pg.dsn(SSL_DB, sslmode="require")})
    assert with_ssl["postgres.reachable"] is True and with_ssl["postgres.ssl"] is True

    refused = gather("postgres", env={"DATABASE_URL": pg.dsn(port=refused_port)})
    assert refused["postgres.label"] == "PG_CONNECTION_FAILED"

    unset = gather("postgres", env={})
    assert unset["postgres.label"] == "ENV_VAR_MISSING"


def test_database_url_facts_and_redaction() -> None:
    url = "postgresql://mosaic:hunter2@dpg-abc123-a.oregon-postgres.render.com:5432/mosaic?sslmode=require"
    facts = gather("database_url", env={"DATABASE_URL": url})
    assert facts["database_url.scheme"] == "postgresql" and facts["database_url.sslmode"] == "require"
    assert facts["database_url.render_public"] and not facts["database_url.render_internal"]
    assert facts["database_url.ssl"] and facts["database_url.valid"]
    assert facts["database_url.redacted"] == \
        "postgresql://mosaic:***@dpg-abc123-a.oregon-postgres.render.com:5432/mosaic?sslmode=require"
    bad = gather("database_url", env={"DATABASE_URL": "postgresql://u:p@host:notaport/db"})
    assert bad["database_url.valid"] is False and "port" in bad["database_url.problem"]
    internal = gather("database_url", env={"DATABASE_URL": "postgresql://u:p@dpg-abc123-a/db"})
    assert internal["database_url.render_internal"] and internal["database_url.sslmode"] == ""


def test_a_malformed_dsn_never_shows_its_password(pg: TempPostgres) -> None:
    """libpq quotes a DSN it cannot parse; without `scheme://` only the DSN itself tells where its password is."""
    secret = "hunter2-hunter2"
    env = {"DATABASE_URL": f"postgres//mosaic:{secret}@{pg.host}:{pg.port}/mosaic"}  # the scheme's ':' forgotten
    facts = {**gather("postgres", env=env), **gather("database_url", env=env)}
    assert facts["postgres.reachable"] is False and "invalid dsn" in facts["postgres.error"]
    assert facts["database_url.valid"] is False and "invalid dsn" in facts["database_url.problem"]
    assert "mosaic:***@" in facts["database_url.redacted"]
    assert secret not in json.dumps(facts)


def test_env_presence_and_redacted_values() -> None:
    env = {"OPENAI_API_KEY": "sk-proj-abcdefghijklmnopqrstuvwxyz", "DATABASE_URL": "postgresql://u:pw1234@h/db",
           "EMPTY": ""}
    facts = gather("env", {"names": ["OPENAI_API_KEY", "DATABASE_URL", "EMPTY", "ABSENT"]}, env=env)
    assert facts["env.OPENAI_API_KEY.set"] and facts["env.OPENAI_API_KEY.value"] == "***SET***"
    assert facts["env.DATABASE_URL.value"] == "postgresql://u:***@h/db"
    assert facts["env.EMPTY.set"] is False and facts["env.ABSENT.set"] is False
    assert "pw1234" not in json.dumps(facts) and "abcdefghij" not in json.dumps(facts)


# -- network ------------------------------------------------------------------------------------------
def test_network_internal_host_does_not_resolve_here() -> None:
    facts = gather("network", env={"DATABASE_URL": "postgresql://u:p@dpg-abc123-a/db"})
    assert facts["ok"] and facts["network.internal_host"] is True and facts["network.public_host"] is False
    assert facts["network.resolvable"] is False and facts["network.on_render"] is False
    local = gather("network", {"host": "localhost"}, env={"RENDER": "true"})
    assert local["network.resolvable"] is True and local["network.on_render"] is True
    assert any(a in ("127.0.0.1", "::1") for a in local["network.addresses"])


# -- /health -------------------------------------------------------------------------------------------
class App:
    """A loopback app answering /health like the example Mosaic app (optionally slowly)."""

    def __init__(self, body: dict, status: int = 200, delay: float = 0.0) -> None:
        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802
                self.server.stopping.wait(delay)  # type: ignore[attr-defined]  # cut short by stop()
                self.server.paths.append(self.path)  # type: ignore[attr-defined]
                data = json.dumps(body).encode()
                self.send_response(status if self.path.partition("?")[0] == "/health" else 404)
                self.send_header("Content-Type", "application/json")
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: object) -> None:
                pass

        self.server = QuietServer.start_on_loopback(Handler)  # a hung-up client prints no traceback
        self.server.paths = []  # type: ignore[attr-defined]  # the paths asked for, with their queries
        self.url = self.server.url

    def stop(self) -> None:
        self.server.stop()


@pytest.fixture
def app() -> Iterator[App]:
    server = App({"ok": True, "database": {"connected": False, "type": "sqlite", "fallback_active": True},
                  "ai": {"openai_available": True, "anthropic_available": False},
                  "deployment": {"git_commit": "abcdef12"}})
    yield server
    server.stop()


def test_health_reads_the_apps_report(app: App) -> None:
    facts = gather("health", {"url": app.url})
    assert facts["health.url"] == app.url + "/health"
    assert facts["health.ok"] is True and facts["health.status"] == 200
    assert facts["health.fallback_active"] is True and facts["health.database_type"] == "sqlite"
    assert facts["health.anthropic_available"] is False and facts["health.git_commit"] == "abcdef12"


def test_a_health_url_with_a_query_asks_for_health_with_that_query(app: App) -> None:
    """`health: https://app/?token=…` (a gateway's token in the query): /health was appended to the end of the
    text, the query's, so the app's / was asked with the token spoiled (`/?token=abc/health`: a 404, the app
    reported unhealthy)."""
    facts = gather("health", {"url": app.url + "/?token=abc"})
    assert app.server.paths == ["/health?token=abc"]  # type: ignore[attr-defined]
    assert facts["health.status"] == 200 and facts["health.ok"] is True


def test_health_reads_the_runtime_kits_report(pg: TempPostgres) -> None:
    """The body of `mosaic_diag.runtime`'s own /health (a real pool on the test server, a breaker
    open, failed requests in the window): its status, reasons, database check, pool, breakers and
    metrics become facts; with the wrong password the check's label comes through."""
    from psycopg2.pool import ThreadedConnectionPool

    from mosaic_diag.runtime.health import health_payload
    from mosaic_diag.runtime.instrument import RequestWindow

    window = RequestWindow()
    for status in (200, 200, 500, 200):
        window.record(12.0, status, "OPENAI_RATE_LIMIT" if status == 500 else None)
    pool = ThreadedConnectionPool(1, 3, pg.dsn())
    held = pool.getconn()
    try:
        code, body = health_payload(database=pool, commit="0123456789abcdef0123", manifest_hash="m-1",
                                    breakers=lambda: {"openai": "open", "anthropic": "closed"}, window=window)
    finally:
        pool.putconn(held)
        pool.closeall()
    served = App(body, status=code)
    try:
        facts = gather("health", {"url": served.url})
    finally:
        served.stop()
    assert facts["health.ok"] is True and facts["health.state"] == "degraded"
    assert facts["health.reasons"] == body["reasons"] == ["breaker openai open"]
    assert facts["health.database_connected"] is True and facts["health.database_latency_ms"] >= 0
    assert (facts["health.pool_in_use"], facts["health.pool_max"]) == (1, 3)
    assert facts["health.breakers_open"] == ["openai"]
    assert (facts["health.error_rate"], facts["health.requests_total"]) == (0.25, 4)
    assert (facts["health.git_commit"], facts["health.manifest_hash"]) == ("0123456789abcdef0123", "m-1")

    code, body = health_payload(database=pg.dsn(password="wrong-password"), breakers=dict, window=RequestWindow())
    served = App(body, status=code)
    try:
        facts = gather("health", {"url": served.url})
    finally:
        served.stop()
    assert facts["health.status"] == 503 and facts["health.ok"] is False and facts["health.state"] == "down"
    assert facts["health.database_connected"] is False and facts["health.database_label"] == "PG_AUTH_FAILED"


def test_health_with_a_nan_rate_gives_no_facts_from_its_body() -> None:
    """`"error_rate": NaN` (Python's json writes it; JSON.parse refuses it) would be a fact no condition is
    ever true of (`health.error_rate > 0.05` silently false): the body is not JSON, so its facts are unknown."""
    served = App({"ok": True, "metrics": {"error_rate": float("nan"), "requests_total": 10}})
    try:
        facts = gather("health", {"url": served.url})
    finally:
        served.stop()
    assert facts["health.reachable"] is True and "health.error_rate" not in facts
    assert "health.requests_total" not in facts


def test_health_unreachable_and_timeout_are_data() -> None:
    with socket.socket() as s:  # (held while gathering: it refuses, and no other server can take it)
        s.bind(("127.0.0.1", 0))
        down = gather("health", {"url": f"http://127.0.0.1:{s.getsockname()[1]}/health"})
    assert down["ok"] and down["health.reachable"] is False and down["health.error"]
    slow = App({"ok": True}, delay=120.0)  # (cut short by stop())
    try:
        start = time.perf_counter()
        facts = gather("health", {"url": slow.url, "timeout": 0.5})
        assert time.perf_counter() - start < 60  # a liveness bound: the gatherer gave up, it did not wait 120 s
    finally:
        slow.stop()
    assert facts["health.reachable"] is False or facts["ok"] is False
    assert "timed out" in (facts.get("health.error") or facts["error"] or "")
    missing = gather("health")
    assert missing["ok"] is False and "no health URL" in missing["error"]


# -- git and deploys -----------------------------------------------------------------------------------
def git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True, text=True).stdout.strip()


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    work = tmp_path / "work"
    work.mkdir()
    git(work, "init", "-q", "-b", "main")
    git(work, "config", "user.email", "t@example.com")
    git(work, "config", "user.name", "T")
    for n in (1, 2):
        (work / "app.py").write_text(f"VERSION = {n}\n")
        git(work, "add", "app.py")
        git(work, "commit", "-q", "-m", f"release {n}")
    return work


def test_git_state_and_recent_deploys(repo: Path) -> None:
    facts = gather("git", root=repo)
    assert facts["git.available"] and facts["git.branch"] == "main" and facts["git.dirty"] is False
    assert facts["git.head"] == git(repo, "rev-parse", "HEAD") and facts["git.subject"] == "release 2"
    (repo / "app.py").write_text("VERSION = 3\n")
    assert gather("git", root=repo)["git.dirty"] is True
    deploys = gather("deploys", {"limit": 5}, root=repo)
    assert deploys["deploys.source"] == "git" and deploys["deploys.count"] == 2
    assert deploys["deploys.recent"][0].endswith("release 2")
    nowhere = gather("git", root=repo.parent)
    assert nowhere["git.available"] is False and nowhere["git.error"]


def _record(repo: Path, store, *refs: str, status: str = "deployed") -> list[str]:
    from mosaic_diag.manifest import generate_manifest

    shas = []
    for ref in refs:
        m = generate_manifest(repo, ref, python_version="3.11.7")
        store.record(m, status=status)
        shas.append(m.commit)
    return shas


def test_deploys_from_the_file_store_name_the_previous_good_deploy(repo: Path) -> None:
    from mosaic_diag.manifest.store import configured_store

    store = configured_store(repo, {})
    first, second = _record(repo, store, "HEAD~1", "HEAD")
    facts = gather("deploys", {"limit": 1}, root=repo)
    assert facts["ok"] and facts["deploys.source"] == "store" and facts["deploys.count"] == 2
    assert (facts["deploys.last_commit"], facts["deploys.previous_commit"]) == (second, first)
    assert len(facts["deploys.recent"]) == 1 and facts["deploys.recent"][0].startswith(second[:8])
    _record(repo, store, "HEAD~1", status="bad")  # a commit marked bad is never a target
    assert "deploys.previous_commit" not in gather("deploys", root=repo)


def test_deploys_from_the_postgresql_store_rollback_uses(repo: Path, pg_db: str, pg: TempPostgres) -> None:
    import psycopg2

    from mosaic_diag.manifest.store import TABLE, PostgresDeployStore

    env = {"DATABASE_URL": pg_db}
    empty = gather("deploys", env=env, root=repo)  # no table yet: git log, and nothing created
    assert empty["ok"] and empty["deploys.source"] == "git" and empty["deploys.count"] == 2
    with psycopg2.connect(pg_db) as conn, conn.cursor() as cur:
        cur.execute("SELECT to_regclass(%s)", (TABLE,))
        assert cur.fetchone() == (None,)
    first, second = _record(repo, PostgresDeployStore(pg_db), "HEAD~1", "HEAD")
    (repo / ".mosaic-diag").mkdir()
    (repo / ".mosaic-diag" / "deploys.jsonl").write_text("")  # the file store is not read when DATABASE_URL is set
    facts = gather("deploys", env=env, root=repo)
    assert facts["deploys.source"] == "store" and facts["deploys.count"] == 2
    assert (facts["deploys.last_commit"], facts["deploys.previous_commit"]) == (second, first)

    wrong = pg.dsn(pg_db.rsplit("/", 1)[1].split("?")[0], password="not-the-password-42")
    failed = gather("deploys", env={"DATABASE_URL": wrong}, root=repo)
    assert failed["ok"] is False and "unreachable" in failed["error"]
    assert "not-the-password-42" not in json.dumps(failed)



def test_deploys_store_failures_are_one_line_without_the_password(repo: Path, pg: TempPostgres,
                                                                  refused_port: int) -> None:
    """Refused, keyword-form and malformed DATABASE_URLs: a failure fact, never the password, no git fallback."""
    secret = "not-the-password-42"
    cases = ((pg.dsn(password=secret, port=refused_port), "unreachable: connection to server at"),
             (f"host=127.0.0.1 port={refused_port} password={secret} dbname=mosaic", "unreachable"),
             # the scheme's ':' forgotten: libpq quotes the whole DSN in its error, redact_text sees no URL
             (f"postgres//mosaic:{secret}@{pg.host}:{pg.port}/mosaic", "not a valid PostgreSQL connection string"))
    for dsn, why in cases:
        facts = gather("deploys", env={"DATABASE_URL": dsn}, root=repo)
        assert facts["ok"] is False and why in facts["deploys.error"], facts
        assert "\n" not in facts["deploys.error"] and secret not in json.dumps(facts)
        assert "deploys.count" not in facts and "deploys.source" not in facts


def test_deploys_from_postgresql_stop_within_the_gatherer_timeout(repo: Path) -> None:
    """A server that accepts and never answers: the store's own connect timeout fires inside the gatherer's."""
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)  # the kernel completes the handshake; nobody ever answers the startup packet
        dsn = f"postgresql://mosaic:pw-1234@127.0.0.1:{silent.getsockname()[1]}/mosaic?sslmode=disable"
        start = time.perf_counter()
        facts = gather("deploys", {"timeout": 2.5}, env={"DATABASE_URL": dsn}, root=repo)
        elapsed = time.perf_counter() - start
    assert facts["ok"] is False, facts
    assert "unreachable" in facts["deploys.error"] and "timeout expired" in facts["deploys.error"], facts
    assert "timed out after" not in facts["deploys.error"]  # the store's timeout, not the gatherer's
    assert elapsed < 60  # (a liveness bound only)
    assert "pw-1234" not in json.dumps(facts)


def test_the_git_gatherer_obeys_no_bare_repository_a_project_ships(tmp_path: Path) -> None:
    """A playbook's `git: {path: vendor/x}` naming a bare repository committed in the project, whose config sets
    core.worktree and a core.fsmonitor command: `git status` ran that command, from a dry run. Now git uses
    no bare repository found implicitly and runs no fsmonitor."""
    def run(*args: str, cwd: Path = tmp_path) -> None:
        subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True, timeout=60)

    run("init", "-q", ".")
    run("-c", "user.email=a@b", "-c", "user.name=a", "commit", "-q", "--allow-empty", "-m", "i")
    run("clone", "-q", "--bare", ".", "vendor/evil")
    marker = tmp_path / "fsmonitor-ran"
    evil = tmp_path / "vendor" / "evil"
    run("config", "core.bare", "false", cwd=evil)
    run("config", "core.worktree", str(tmp_path), cwd=evil)
    run("config", "core.fsmonitor", f"touch {marker}; false", cwd=evil)
    facts = gather("git", {"path": "vendor/evil"}, root=tmp_path)
    assert not marker.exists()
    assert facts["git.available"] is False and "bare repository" in facts["git.error"], facts
    own = gather("git", {}, root=tmp_path)  # the project's own repository: as before
    assert own["git.available"] is True and len(own["git.head"]) == 40


# -- log tail and prompt files -------------------------------------------------------------------------
def test_log_tail_and_prompts_read_regular_files_a_line_at_most_64k_at_a_time(tmp_path: Path) -> None:
    """A playbook's `log_tail: {file: /dev/zero}` (one endless line: memory until the timeout) or a FIFO is
    a failed gatherer at once; a file of one huge line is read a bounded piece at a time."""
    import os
    import sys

    os.mkfifo(tmp_path / "fifo.log")
    prompts = tmp_path / "prompts"
    prompts.mkdir()
    (prompts / "prompts.csv").symlink_to("/dev/zero")
    (prompts / "ps101_steps.json").symlink_to("/dev/zero")
    code = ("import json, sys; from tests.test_gatherers import gather; "
            "print(json.dumps([gather('log_tail', {'file': f}) for f in sys.argv[1:]] + "
            f"[gather('prompts', {{'dir': {str(prompts)!r}}})]))")
    r = subprocess.run([sys.executable, "-c", code, "/dev/zero", str(tmp_path / "fifo.log")], capture_output=True,
                       text=True, timeout=120, cwd=Path(__file__).resolve().parent.parent,
                       preexec_fn=lambda: __import__("resource").setrlimit(
                           __import__("resource").RLIMIT_AS, (2 << 30, 2 << 30)))
    zero, fifo, prompt_files = json.loads(r.stdout)
    assert prompt_files["prompts.csv_problem"] == f"OSError: {prompts / 'prompts.csv'}: not a regular file"
    assert prompt_files["prompts.steps_problem"] == f"OSError: {prompts / 'ps101_steps.json'}: not a regular file"
    assert (zero["ok"], zero["error"]) == (False, "cannot read /dev/zero: not a regular file"), zero
    assert (fifo["ok"], fifo["error"]) == (False, f"cannot read {tmp_path / 'fifo.log'}: not a regular file")
    long = tmp_path / "long.log"
    long.write_text("x" * 3_000_000 + "\nERROR: after the long line\nINFO: ok\n")
    facts = gather("log_tail", {"file": str(long), "lines": 10})
    assert facts["log.lines"] == 3 and facts["log.last_error"] == "ERROR: after the long line"


def test_log_tail_and_prompts(tmp_path: Path) -> None:
    log = tmp_path / "app.log"
    log.write_text("INFO: started\nERROR:api.storage:Database init failed password=hunter22\n"
                   "Traceback (most recent call last):\nINFO: ok\n")
    facts = gather("log_tail", {"lines": 2}, log_file=log)
    assert facts["log.lines"] == 2 and facts["log.error_lines"] == 1
    assert facts["log.last_error"] == "Traceback (most recent call last):"
    whole = gather("log_tail", {"lines": 10, "file": str(log)})
    assert whole["log.lines"] == 4 and whole["log.error_lines"] == 2
    first_two = tmp_path / "head.log"
    first_two.write_text("".join(log.read_text().splitlines(keepends=True)[:2]))
    assert gather("log_tail", log_file=first_two)["log.last_error"] == \
        "ERROR:api.storage:Database init failed password=***"
    assert gather("log_tail")["ok"] is False

    prompts = tmp_path / "prompts"
    prompts.mkdir()
    (prompts / "prompts.csv").write_text('prompt,response\n"unclosed,quote\n')
    (prompts / "ps101_steps.json").write_text('[{"step": 1},]')
    bad = gather("prompts", {"dir": str(prompts)})
    assert bad["prompts.csv_valid"] is False and "Error" in bad["prompts.csv_problem"]
    assert bad["prompts.steps_valid"] is False and "JSONDecodeError" in bad["prompts.steps_problem"]
    good = gather("prompts", {"dir": str(Path("examples/mosaic_app/prompts").resolve())})
    assert good["prompts.csv_valid"] and good["prompts.csv_rows"] > 0 and good["prompts.steps_count"] >= 10


# -- a shipped playbook end to end ---------------------------------------------------------------------
def test_pg_network_playbook_diagnoses_the_internal_host(tmp_path: Path) -> None:
    pb = PlaybookStore.load().match("PG_NETWORK_UNREACHABLE")
    env = {"DATABASE_URL": "postgresql://mosaic:pw@dpg-abc123-a/mosaic"}
    plan = gather_and_plan(pb, {"stage": "startup", "rate_5m": 0.5}, PlaybookSettings(root=tmp_path, env=env))
    by_name = {f.name: f for f in plan.findings}
    assert by_name["host-resolves"].failed and by_name["internal-host-off-render"].failed
    assert by_name["internal-host-off-render"].verdict.reason == \
        "network.internal_host is true and network.on_render is false"
    assert by_name["same-region"].failed  # postgres.reachable false: the real connection attempt failed
    actions = {a.action: a for a in plan.actions}
    assert actions["fallback_sqlite"].would_run and actions["alert_ops"].would_run
    assert {g.gatherer for g in plan.gathered} == {"env", "database_url", "network", "postgres"}


def test_pg_ssl_playbook_with_a_real_server(pg: TempPostgres, tmp_path: Path) -> None:
    pb = PlaybookStore.load().match("PG_SSL_REQUIRED")
    env = {"DATABASE_URL": pg.dsn(SSL_DB, sslmode="disable")}
    plan = gather_and_plan(pb, {"stage": "startup"}, PlaybookSettings(root=tmp_path, env=env))
    by_name = {f.name: f for f in plan.findings}
    # the gatherer tried sslmode=require after the `no encryption` rejection: it connects, so the
    # finding is the sslmode, not "still failing"
    assert plan.facts["postgres.ssl_connects"] is True
    assert by_name["sslmode"].failed and not by_name["connects"].failed
    advise = next(a for a in plan.actions if a.action == "advise")
    assert advise.would_run and advise.verdict.reason == "database_url.sslmode 'disable' in ['', 'disable', " \
                                                         "'allow', 'prefer']"
    fixed = gather_and_plan(pb, {"stage": "startup"}, PlaybookSettings(
        root=tmp_path, env={"DATABASE_URL": pg.dsn(SSL_DB, sslmode="require")}))
    assert not any(f.failed for f in fixed.findings)


def test_pool_exhausted_playbook_reads_the_pool_from_health(pg: TempPostgres, tmp_path: Path) -> None:
    """Every connection of a real pool handed out: the kit's /health says so (503, PG_POOL_EXHAUSTED) and
    the shipped PG_POOL_EXHAUSTED playbook's `pool-has-room` check fails, while `database-up` is not
    blamed (a full pool says nothing about the database); with a connection free both pass."""
    from psycopg2.pool import ThreadedConnectionPool

    from mosaic_diag.runtime.health import health_payload
    from mosaic_diag.runtime.instrument import RequestWindow

    pb = PlaybookStore.load().match("PG_POOL_EXHAUSTED")
    pool = ThreadedConnectionPool(1, 2, pg.dsn())
    held = [pool.getconn()]
    try:
        room = health_payload(database=pool, breakers=dict, window=RequestWindow())
        held.append(pool.getconn())
        full = health_payload(database=pool, breakers=dict, window=RequestWindow())
    finally:
        for conn in held:
            pool.putconn(conn)
        pool.closeall()
    assert full[0] == 503 and full[1]["checks"]["database"]["label"] == "PG_POOL_EXHAUSTED"
    for (code, body), exhausted in ((room, False), (full, True)):
        served = App(body, status=code)
        try:
            plan = gather_and_plan(pb, {"stage": "runtime", "count_5m": 1},
                                   PlaybookSettings(root=tmp_path, env={}, health_url=served.url))
        finally:
            served.stop()
        by_name = {f.name: f for f in plan.findings}
        assert by_name["pool-has-room"].failed is exhausted
        assert not by_name["database-up"].failed
        assert ("health.database_connected" in plan.facts) is not exhausted
