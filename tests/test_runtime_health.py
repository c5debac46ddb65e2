"""/health and the request middleware of the runtime kit, under a real uvicorn; triage reads the
middleware's lines, and `rollback --auto`'s reader reads the /health payload."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import httpx
import pytest

from mosaic_diag.rollback.budget import read_health
from mosaic_diag.runtime.health import HealthConfig, health_payload, manifest_hash_of
from mosaic_diag.runtime.instrument import RequestWindow, request_line
from tests.app_servers import start_uvicorn, stop

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def kit_app(tmp_path, llm, pg_db):
    log_path = tmp_path / "app.log"
    manifest = tmp_path / "manifest.json"
    manifest.write_text('{"b": 1, "a": 2}')
    env = {**os.environ, "OPENAI_BASE_URL": llm.openai_base_url, "DATABASE_URL": pg_db,
           "MOSAIC_MANIFEST": str(manifest), "PYTHONPATH": str(ROOT)}
    proc, url = start_uvicorn(lambda port: [sys.executable, "-m", "uvicorn", "tests.runtime_app:app", "--port",
                                            str(port), "--no-access-log"], env=env, cwd=ROOT, log_path=log_path)
    yield url, log_path, manifest
    stop(proc)


def request_lines(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.startswith('{"timestamp"')]


def test_health_middleware_and_triage_under_uvicorn(kit_app, llm, tmp_path):
    url, log_path, manifest = kit_app
    assert httpx.get(f"{url}/ok").status_code == 200
    assert httpx.get(f"{url}/items/7").status_code == 200
    assert httpx.get(f"{url}/boom").status_code == 500
    assert httpx.get(f"{url}/ask").status_code == 200
    llm.set_failure("openai", "server_error")
    assert httpx.get(f"{url}/ask").status_code == 503

    health = httpx.get(f"{url}/health")
    assert health.status_code == 200
    body = health.json()
    assert body["status"] == "degraded" and body["ok"] is True  # 2 of 5 requests failed
    assert body["deployment"] == {"git_commit": "feedc0de", "git_commit_full": "feedc0de" * 5,
                                  "manifest_hash": manifest_hash_of(manifest)}
    db = body["checks"]["database"]
    assert db["ok"] is True and db["configured"] is True and db["latency_ms"] >= 0
    assert body["breakers"] == {"openai": "closed"}
    metrics = body["metrics"]
    assert metrics["requests_total"] == 5 and metrics["errors"] == 2 and metrics["error_rate"] == 0.4
    assert 0 < metrics["p50_latency_ms"] <= metrics["p95_latency_ms"]
    assert metrics["labels"] == {"TYPE_MISMATCH": 1, "OPENAI_SERVER_ERROR": 1}

    reading = read_health(f"{url}/health", budget=0.5)  # what `rollback --auto` reads
    assert (reading.error_rate, reading.requests, reading.deployed_commit) == (0.4, 5, "feedc0de" * 5)
    assert dict(reading.labels) == {"TYPE_MISMATCH": 1, "OPENAI_SERVER_ERROR": 1}

    lines = request_lines(log_path)
    assert [(r["route"], r["status"], r["label"]) for r in lines] == [
        ("/ok", 200, None), ("/items/{item}", 200, None), ("/boom", 500, "TYPE_MISMATCH"), ("/ask", 200, None),
        ("/ask", 503, "OPENAI_SERVER_ERROR")]
    assert all(r["latency_ms"] >= 0 and r["logger"] == "mosaic.request" for r in lines)

    r = subprocess.run([sys.executable, "-m", "mosaic_diag", "triage", str(log_path), "--format", "json"],
                       cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert r.returncode == 1, r.stderr
    summary = json.loads(r.stdout)["summary"]
    assert summary["levels"]["access"] == 5  # every request line is a request to triage
    assert summary["labels"] == {"TYPE_MISMATCH": 1, "OPENAI_SERVER_ERROR": 1}  # retry notices are no events
    assert "llm retry notice: provider=openai label=OPENAI_SERVER_ERROR attempt=1/2" in log_path.read_text()


def test_health_is_down_with_503_when_the_database_is_unreachable(refused_port):
    dsn = f"postgresql://mosaic:pw-secret@127.0.0.1:{refused_port}/mosaic"
    code, body = health_payload(database=dsn, commit="abc", breakers=dict, window=RequestWindow())
    assert code == 503 and body["status"] == "down" and body["ok"] is False
    db = body["checks"]["database"]
    assert db["ok"] is False and db["label"] == "PG_CONNECTION_FAILED"  # refused: the server is not there
    assert "pw-secret" not in json.dumps(body)


def test_health_shows_a_failed_database_as_its_label_the_driver_text_goes_to_the_log(refused_port, tmp_path,
                                                                                    caplog, pg_db):
    """/health answers whoever reaches the app: libpq's text names the database's host and port, its socket path,
    its role. The body carries the label; the app's log the redacted text, once for many polls, and the recovery."""
    import logging

    import psycopg2

    sockets = tmp_path / "run-secret-pg"
    sockets.mkdir()
    caplog.set_level(logging.WARNING, logger="mosaic.runtime.health")
    for dsn, detail in ((f"postgresql://mosaic:pw-secret@127.0.0.1:{refused_port}/mosaic", f"port {refused_port}"),
                        (f"host={sockets} user=mosaic password=pw-secret dbname=mosaic", str(sockets))):
        with pytest.raises(psycopg2.OperationalError, match=detail):  # what libpq says of it
            psycopg2.connect(dsn, connect_timeout=3)
        bodies = [health_payload(database=dsn, commit="abc", breakers=dict, window=RequestWindow())[1]
                  for _ in range(3)]
        shown = json.dumps(bodies)
        assert detail not in shown and "pw-secret" not in shown and "mosaic" not in shown
        db = bodies[-1]["checks"]["database"]
        assert set(db) == {"configured", "ok", "label", "latency_ms"} and db["label"] == "PG_CONNECTION_FAILED"
        logged = [r.getMessage() for r in caplog.records if detail in r.getMessage()]
        assert len(logged) == 1 and "PG_CONNECTION_FAILED" in logged[0] and "pw-secret" not in logged[0]
    for _ in range(2):
        assert health_payload(database=pg_db, commit="abc", breakers=dict, window=RequestWindow())[1]["ok"]
    assert sum("passes again" in r.getMessage() for r in caplog.records) == 1


def test_pool_state_and_degraded_by_breaker(pg_db):
    from psycopg2.pool import ThreadedConnectionPool

    pool = ThreadedConnectionPool(1, 4, pg_db)
    held = pool.getconn()
    try:
        code, body = health_payload(database=pool, commit="abc", breakers=lambda: {"openai": "open"},
                                    window=RequestWindow())
    finally:
        pool.putconn(held)
        pool.closeall()
    assert code == 200 and body["status"] == "degraded" and body["reasons"] == ["breaker openai open"]
    assert body["checks"]["database"]["pool"] == {"max": 4, "min": 1, "in_use": 1, "idle": 0}


def test_window_thresholds_and_percentiles():
    now = [0.0]
    window = RequestWindow(seconds=60, clock=lambda: now[0])
    for ms in range(1, 101):
        window.record(float(ms), 200)
    stats = window.stats()
    assert (stats.p50_latency_ms, stats.p95_latency_ms, stats.error_rate) == (50.0, 95.0, 0.0)
    code, body = health_payload(breakers=dict, window=window, config=HealthConfig(degraded_p95_ms=90))
    assert code == 200 and body["status"] == "degraded" and body["reasons"] == ["p95 95 ms"]
    now[0] = 61.0  # the window slid past every request
    assert window.stats().requests_total == 0
    assert health_payload(breakers=dict, window=window)[1]["status"] == "ok"


def test_a_request_line_is_an_access_record_to_triage(tmp_path):
    from mosaic_diag.logs.lines import parse_line

    line = request_line(client="10.0.0.1:5000", method="POST", path="/wimd/ask", http_version="1.1",
                        route="/wimd/ask", status=503, latency_ms=12.345, label="OPENAI_RATE_LIMIT")
    [parsed] = parse_line(line)
    assert (parsed.shape, parsed.kind, parsed.level, parsed.logger) == ("json", "access", "INFO", "mosaic.request")


def test_the_default_sink_writes_to_the_stderr_of_the_moment():
    """The request lines go to the stderr current when each is written: the sink's handler was bound to the stderr of
    its first use (a test's capture, in the user's own test suite), so every later line went to that one, or to a
    closed file (`--- Logging error ---` on the new stderr)."""
    import contextlib
    import io

    from mosaic_diag.runtime.instrument import LOGGER, log_sink
    from tests.isolation import loggers_kept

    with loggers_kept(LOGGER) as (logger,):
        logger.handlers = []  # as in a new process
        first, second = io.StringIO(), io.StringIO()
        with contextlib.redirect_stderr(first):
            log_sink()("line one")
        first.close()  # (a finished test's capture)
        with contextlib.redirect_stderr(second):
            log_sink()("line two")
    assert second.getvalue() == "line two\n"


def test_prometheus_exposition_when_installed():
    from fastapi import FastAPI
    from starlette.testclient import TestClient

    from mosaic_diag.runtime import health_router

    window = RequestWindow()
    window.record(10.0, 200)
    window.record(30.0, 503, "OPENAI_RATE_LIMIT")
    app = FastAPI()
    app.include_router(health_router(commit="abc", breakers=lambda: {"openai": "open"}, window=window))
    with TestClient(app) as client:
        r = client.get("/health/metrics")
    try:
        import prometheus_client  # noqa: F401
    except ImportError:
        assert r.status_code == 404 and "prometheus-client is not installed" in r.text
        return
    assert r.status_code == 200
    assert "mosaic_error_rate 0.5" in r.text and 'mosaic_breaker_open{name="openai"} 1.0' in r.text


class _HostileHealth:
    """A /health that answers what each path names: NaN rates, endless bodies, deep nesting."""

    BODIES = {
        "/nan": b'{"metrics": {"error_rate": NaN, "requests_total": 50}}',
        "/inf-requests": b'{"metrics": {"error_rate": 0.5, "requests_total": 1e400}}',
        "/huge-rate": b'{"metrics": {"error_rate": 1e400, "requests_total": 50}}',
        "/negative": b'{"metrics": {"error_rate": -0.5, "requests_total": 50}}',
        "/deep": b"[" * 100_000 + b"]" * 100_000,
        "/commit-nan": b'{"deployment": {"git_commit_full": "' + b"a" * 40 + b'"}, "x": NaN}',
    }


def _hostile_server():
    from http.server import BaseHTTPRequestHandler

    from examples.loopback import QuietServer

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args: object) -> None:
            return

        def do_GET(self) -> None:  # noqa: N802 - http.server's name
            if self.path == "/endless":  # a body that never ends, chunk after chunk
                self.send_response(200)
                self.send_header("Transfer-Encoding", "chunked")
                self.end_headers()
                frame = b"%x\r\n%s\r\n" % (65536, b" " * 65536)
                try:
                    while not self.server.stopping.is_set():
                        self.wfile.write(frame)
                except (BrokenPipeError, ConnectionResetError):
                    return
                return
            body = _HostileHealth.BODIES[self.path]
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    return QuietServer.start_on_loopback(Handler)


@pytest.mark.parametrize(("path", "says"), [
    ("/nan", "NaN is not JSON"), ("/huge-rate", "not a rate"), ("/negative", "not a rate"),
    ("/deep", "nested too deeply"), ("/endless", "longer than"),
])
def test_a_hostile_health_answer_is_no_verdict_never_within_budget(path: str, says: str) -> None:
    """`rollback --auto` / `deploy`'s reader: a NaN rate compared with the budget was silently 'within
    budget' (and round(NaN) a traceback); an endless body was read into memory; deep nesting a RecursionError.
    Each is now a one-line DiagError: no verdict."""
    from mosaic_diag.errors import DiagError

    srv = _hostile_server()
    try:
        with pytest.raises(DiagError, match=says):
            read_health(srv.url + path, budget=0.01, timeout=30)
        reading = read_health(srv.url + "/inf-requests", budget=0.01, timeout=30)
        assert reading.over_budget is False and reading.requests == 0  # an impossible count is none
    finally:
        srv.stop()


def test_health_commit_reads_only_json_a_client_can_read() -> None:
    from mosaic_diag.deploy.wait import health_commit

    srv = _hostile_server()
    try:
        assert health_commit(srv.url + "/commit-nan", timeout=30) == (None, "NaN is not JSON")
        commit, why = health_commit(srv.url + "/endless", timeout=30)
        assert commit is None and "longer than" in why
    finally:
        srv.stop()


def test_a_sqlalchemy_database_url_is_checked_as_the_same_database(pg_db):
    """`DATABASE_URL=postgresql+psycopg2://...` (what SQLAlchemy apps hold) is the database, not a 503 for ever."""
    code, body = health_payload(database=pg_db.replace("postgresql://", "postgresql+psycopg2://", 1),
                                window=RequestWindow(), breakers=dict)
    assert (code, body["status"], body["checks"]["database"]["ok"]) == (200, "ok", True)


@pytest.fixture
def proxied(tmp_path, pg, llm):
    """(start(env) -> base URL, the proxy): the kit's app with its database behind a relay that can freeze."""
    import secrets

    from tests.pgproxy import Proxy

    proxy = Proxy(pg.port)
    name = f"h_{secrets.token_hex(3)}"
    pg.create_database(name)
    procs = []

    def start(**extra: str) -> str:
        env = {**os.environ, "OPENAI_BASE_URL": llm.openai_base_url, "DATABASE_URL": pg.dsn(name, port=proxy.port),
               "DEAD_LETTERS": pg.dsn(name, port=proxy.port), "PYTHONPATH": str(ROOT), **extra}
        proc, url = start_uvicorn(lambda port: [sys.executable, "-m", "uvicorn", "tests.runtime_app:app", "--port",
                                                str(port), "--no-access-log"], env=env, cwd=ROOT,
                                  log_path=tmp_path / "app.log")
        procs.append(proc)
        return url

    yield start, proxy
    proxy.thaw()
    for proc in procs:
        stop(proc)
    proxy.close()


@pytest.mark.slow
def test_a_database_check_that_hangs_is_down_and_the_app_keeps_serving(proxied):
    """A load balancer polling /health while the database stops answering (its pooled connection waits for ever):
    each poll answers 503 within the check's time limit, and the app's own routes are still served."""
    from concurrent.futures import ThreadPoolExecutor

    start, proxy = proxied
    url = start(HEALTH_POOL="1", HEALTH_TIMEOUT="1")
    assert httpx.get(f"{url}/health").json()["status"] == "ok"
    proxy.freeze()
    deadline = time.monotonic() + 30  # (a liveness bound: the database's last result is reused for a second)
    while httpx.get(f"{url}/health", timeout=30).status_code != 503 and time.monotonic() < deadline:
        time.sleep(0.1)
    with ThreadPoolExecutor(60) as pool:  # 60 polls at once: more than the app's 40 threads
        polls = [pool.submit(httpx.get, f"{url}/health", timeout=30) for _ in range(60)]  # (liveness bounds)
        assert httpx.get(f"{url}/ok", timeout=30).status_code == 200
        answers = [p.result() for p in polls]
    assert {a.status_code for a in answers} == {503}
    assert {a.headers.get("cache-control") for a in answers} == {"no-store"}
    body = answers[0].json()
    assert body["status"] == "down" and body["ok"] is False
    assert body["reasons"] == ["health checks did not finish within 1 s"]
    proxy.thaw()  # the database answers again: so does /health
    deadline = time.monotonic() + 30  # (a liveness bound, not a measured time)
    while httpx.get(f"{url}/health", timeout=30).status_code != 200 and time.monotonic() < deadline:
        time.sleep(0.1)
    assert httpx.get(f"{url}/health", timeout=30).json()["status"] == "ok"


def test_a_load_balancer_polling_health_does_not_open_a_connection_per_poll(proxied):
    """50 polls of /health in a row (a load balancer's second): the database check made with the DSN is shared,
    not one new PostgreSQL connection (a server process) per poll."""
    start, proxy = proxied
    url = start()
    with httpx.Client(base_url=url, timeout=30) as client:
        before = proxy.accepted
        answers = [client.get("/health") for _ in range(50)]
    assert {a.status_code for a in answers} == {200}
    assert all(a.json()["checks"]["database"]["ok"] for a in answers)
    assert proxy.accepted - before < 10
    assert {a.headers.get("cache-control") for a in answers} == {"no-store"}  # (no cache serves a past verdict)


def test_a_dead_letter_stuck_in_an_async_endpoint_does_not_stop_the_app(proxied):
    """`await guard.call_async(answer)` in an `async def` endpoint while the dead-letter database stops answering:
    the letter's write waits on the store's thread, and the event loop goes on serving the app's other requests;
    once the database answers again the letter is written and the rejection answered."""
    from concurrent.futures import ThreadPoolExecutor

    start, proxy = proxied
    url = start(GUARD_STORE_TIMEOUT="120")
    first = httpx.get(f"{url}/guarded", params={"q": "{}"}, timeout=30)
    assert first.status_code == 422 and first.json()["dead_letter_id"] is not None  # (the store is connected)
    proxy.freeze()
    with ThreadPoolExecutor(1) as pool:
        pending = pool.submit(httpx.get, f"{url}/guarded", params={"q": '{"answer": 1}'}, timeout=150)
        deadline = time.monotonic() + 30  # (a liveness bound: until the letter's INSERT waits in the relay)
        while not proxy.held and time.monotonic() < deadline:
            time.sleep(0.05)
        assert proxy.held, "the letter's write never reached the database"
        assert httpx.get(f"{url}/ok", timeout=30).status_code == 200  # served while the write is stuck
        assert not pending.done()
        proxy.thaw()
        answer = pending.result()
    assert answer.status_code == 422 and answer.json()["dead_letter_id"] not in (None, first.json()["dead_letter_id"])


def _nearest_rank(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[max(math.ceil(q * len(ordered)) - 1, 0)]


def _within(reported: float, exact: float, slack: float = 0.0) -> bool:
    """The documented accuracy: ±0.5% of the exact value (0.005 ms below 0.01 ms), plus `slack` (roundings)."""
    return abs(reported - exact) <= max(0.005 * exact, 0.005) + slack + 1e-9


def test_window_percentiles_match_a_sorted_reference_within_the_documented_accuracy():
    """40,000 requests into a window of at most 30,000 (the oldest dropped), then the window sliding: counts, errors
    and labels exact, p50 and p95 from the histogram within ±0.5% of the sorted window's, exact when sorted."""
    import random

    rng = random.Random(3)
    now = [0.0]
    window = RequestWindow(seconds=60, clock=lambda: now[0], limit=30_000)
    exact = RequestWindow(seconds=60, clock=lambda: now[0], limit=30_000, exact_up_to=10**9)
    seen: list[tuple[float, float, int, str | None]] = []
    for i in range(40_000):
        now[0] = i * 0.001
        latency = 0.004 if i % 97 == 0 else rng.lognormvariate(3.0, 1.3) if i % 7 else rng.uniform(900, 5000)
        status, label = (503, "OPENAI_SERVER_ERROR" if i % 3 else "DB_POOL_EXHAUSTED") if i % 41 == 0 else (200, None)
        for w in (window, exact):
            w.record(latency, status, label)
        seen.append((now[0], latency, status, label))
    for slide in (0.0, 40.0, 55.0):  # requests older than 60 s leave the window
        now[0] = 40.0 + slide
        kept = [r for r in seen[-30_000:] if r[0] >= now[0] - 60]
        stats, reference = window.stats(), exact.stats()
        latencies = [r[1] for r in kept]
        errors = [r for r in kept if r[2] >= 500]
        assert (stats.requests_total, stats.errors) == (len(kept), len(errors)) == (reference.requests_total,
                                                                                   reference.errors)
        assert stats.labels == reference.labels == dict(Counter(r[3] for r in errors).most_common(10))
        for q, got, sorted_got in ((0.5, stats.p50_latency_ms, reference.p50_latency_ms),
                                   (0.95, stats.p95_latency_ms, reference.p95_latency_ms)):
            assert sorted_got == _nearest_rank(latencies, q)
            assert _within(got, sorted_got), (q, got, sorted_got)
    window.clear()
    assert window.stats().requests_total == 0 and window.stats().p95_latency_ms == 0.0


def test_health_percentiles_of_real_requests_match_their_logged_latencies(tmp_path):
    """Real requests under uvicorn (latencies of 1 to 30 ms), the window reading its histogram (WINDOW_EXACT_UP_TO=0):
    /health's p50 and p95 are those of the request lines' latencies, within ±0.5% and the roundings (the document's
    0.1 ms, the lines' 0.01 ms)."""
    import random

    log_path = tmp_path / "app.log"
    env = {**os.environ, "PYTHONPATH": str(ROOT), "WINDOW_EXACT_UP_TO": "0"}
    env.pop("DATABASE_URL", None)
    proc, url = start_uvicorn(lambda port: [sys.executable, "-m", "uvicorn", "tests.runtime_app:app", "--port",
                                            str(port), "--no-access-log"], env=env, cwd=ROOT, log_path=log_path)
    try:
        rng = random.Random(5)
        with httpx.Client(base_url=url, timeout=30) as client:
            for _ in range(150):
                assert client.get("/sleep", params={"ms": rng.choice([0, 1, 2, 5, 10, 20, 30])}).status_code == 200
            metrics = client.get("/health").json()["metrics"]
        deadline = time.monotonic() + 30  # (a liveness bound: the lines reach the log file)
        while len(lines := request_lines(log_path)) < 150 and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        stop(proc)
    latencies = [line["latency_ms"] for line in lines if line["route"] == "/sleep"]
    assert metrics["requests_total"] == len(latencies) == 150
    for key, q in (("p50_latency_ms", 0.5), ("p95_latency_ms", 0.95)):
        assert _within(metrics[key], _nearest_rank(latencies, q), slack=0.05 + 0.005), (key, metrics[key])


def test_the_manifest_named_by_the_environment_is_read_as_a_regular_file_only(tmp_path, monkeypatch):
    """MOSAIC_MANIFEST naming a FIFO held every /health request's thread open for a writer (Render's health check
    then timed out); a manifest nested past the JSON decoder raised RecursionError out of /health (a 500). The
    FIFO is no manifest (no hash, no hang), the deep one is hashed by its bytes."""
    import hashlib
    import threading

    fifo = tmp_path / "manifest.json"
    os.mkfifo(fifo)
    got: list[object] = []
    reader = threading.Thread(target=lambda: got.append(manifest_hash_of(fifo)), daemon=True)
    reader.start()
    reader.join(60)
    if reader.is_alive():  # (free the reader before failing)
        with open(fifo, "wb"):
            pass
    assert not reader.is_alive() and got == [None]
    monkeypatch.setenv("MOSAIC_MANIFEST", str(fifo))
    monkeypatch.delenv("MOSAIC_MANIFEST_HASH", raising=False)
    status, body = health_payload(commit="feedc0de")
    assert status == 200 and body["deployment"]["manifest_hash"] is None

    deep = tmp_path / "deep.json"
    deep.write_bytes(b"[" * 100_000 + b"]" * 100_000)
    assert manifest_hash_of(deep) == hashlib.sha256(deep.read_bytes()).hexdigest()[:16]
    monkeypatch.setenv("MOSAIC_MANIFEST", str(deep))
    assert health_payload(commit="feedc0de")[1]["deployment"]["manifest_hash"] == manifest_hash_of(deep)


def test_the_manifest_is_read_once_while_unchanged_and_again_once_replaced(tmp_path, monkeypatch):
    """/health read and parsed MOSAIC_MANIFEST (up to 64 MiB) at every request: a load balancer polling it each
    second read the file each second. It is read once while the file is unchanged (its inode, size, mtime), again
    at the first request after it is replaced (an atomic rename, a new inode) or rewritten in place, and many
    threads asking at once share the one reading."""
    import concurrent.futures
    import hashlib

    from fastapi import FastAPI
    from starlette.testclient import TestClient

    from mosaic_diag.platform import atomic
    from mosaic_diag.runtime import health_router

    reads: list[Path] = []
    real_read = atomic.read_state

    def counted(path: Path, *, limit: int = atomic.STATE_BYTES) -> bytes:  # (the real reading, counted)
        reads.append(Path(path))
        return real_read(path, limit=limit)

    monkeypatch.setattr(atomic, "read_state", counted)
    manifest = tmp_path / "manifest.json"
    manifest.write_text('{"b": [1, 2], "a": 1}')
    monkeypatch.setenv("MOSAIC_MANIFEST", str(manifest))
    monkeypatch.delenv("MOSAIC_MANIFEST_HASH", raising=False)

    def expected(data: object) -> str:
        return hashlib.sha256(json.dumps(data, sort_keys=True, separators=(",", ":")).encode()).hexdigest()[:16]

    app = FastAPI()
    app.include_router(health_router(commit="abc", database_ttl=0))
    with TestClient(app) as client:
        def hashes(n: int) -> set[str]:
            return {client.get("/health").json()["deployment"]["manifest_hash"] for _ in range(n)}

        assert hashes(25) == {expected({"a": 1, "b": [1, 2]})} and reads == [manifest]
        atomic.write_atomic(manifest, '{"a": 2}')  # (a new file renamed over it: another inode)
        assert hashes(25) == {expected({"a": 2})} and reads == [manifest] * 2
        before = manifest.stat()
        with open(manifest, "w") as fh:  # rewritten in place, the same size, its mtime set apart
            fh.write('{"a": 3}')
        os.utime(manifest, ns=(before.st_atime_ns, before.st_mtime_ns + 1_000_000_000))
        assert manifest.stat().st_ino == before.st_ino and manifest.stat().st_size == before.st_size
        assert hashes(25) == {expected({"a": 3})} and reads == [manifest] * 3
        manifest.unlink()
        assert hashes(3) == {None} and len(reads) == 3  # (no file: nothing read, no hash)
        manifest.write_text('{"a": 404}')
        assert hashes(3) == {expected({"a": 404})} and len(reads) == 4
    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(lambda _: health_payload(commit="abc")[1]["deployment"]["manifest_hash"],
                                range(200)))
    assert set(answers) == {expected({"a": 404})} and len(reads) == 4
