"""The request middleware under a real uvicorn, on the edges an app meets: background tasks, streams that
break midway, clients that hang up, failing dependencies, 4xx answers."""

from __future__ import annotations

import json
import os
import socket
import sys
import time
from pathlib import Path

import httpx
import pytest

from tests.app_servers import start_uvicorn, stop

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def edges_app(tmp_path, llm):
    log_path = tmp_path / "app.log"
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OPENAI_BASE_URL": llm.openai_base_url,
           "ANTHROPIC_BASE_URL": llm.anthropic_base_url}
    proc, url = start_uvicorn(lambda port: [sys.executable, "-m", "uvicorn", "tests.runtime_edges_app:app", "--port",
                                            str(port), "--no-access-log"], env=env, cwd=ROOT, log_path=log_path)
    yield url, log_path
    stop(proc)


def request_lines(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.startswith('{"timestamp"')]


def wait_for_lines(path: Path, count: int) -> list[dict]:
    deadline = time.monotonic() + 30  # (a liveness bound, not a measured time)
    while len(lines := request_lines(path)) < count and time.monotonic() < deadline:
        time.sleep(0.05)
    return lines


@pytest.mark.slow  # (each test starts the app under uvicorn: 8-15 s)
def test_background_tasks_and_broken_streams_and_4xx(edges_app):
    url, log_path = edges_app
    assert httpx.get(f"{url}/ok").status_code == 200
    assert httpx.get(f"{url}/missing").status_code == 404
    assert httpx.get(f"{url}/dependency").status_code == 500
    assert httpx.get(f"{url}/background").status_code == 200
    with pytest.raises(httpx.RemoteProtocolError):  # the client sees a body cut short
        httpx.get(f"{url}/stream")
    lines = wait_for_lines(log_path, 5)
    by_route = {r["route"]: r for r in lines}
    assert by_route["/background"]["latency_ms"] == 0  # the answer was sent before the job ran
    assert by_route["/missing"]["status"] == 404 and by_route["/missing"]["label"] is None
    assert by_route["/dependency"]["status"] == 500
    assert by_route["/stream"]["status"] == 500 and by_route["/stream"]["label"]
    metrics = httpx.get(f"{url}/health").json()["metrics"]
    assert (metrics["requests_total"], metrics["errors"]) == (5, 2)  # the dependency and the broken stream, once each
    assert metrics["p95_latency_ms"] == 0


def test_a_client_that_hangs_up_mid_upload_is_no_error_of_the_app(edges_app):
    url, log_path = edges_app
    host, port = url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port))) as conn:
        conn.sendall(b"POST /upload HTTP/1.1\r\nHost: app\r\nContent-Type: application/octet-stream\r\n"
                     b"Content-Length: 1000\r\n\r\n" + b"x" * 10)
        conn.recv(0)
    [line] = wait_for_lines(log_path, 1)
    assert line["route"] == "/upload" and line["status"] == 499 and line["label"] is None
    metrics = httpx.get(f"{url}/health").json()["metrics"]
    assert (metrics["requests_total"], metrics["errors"], metrics["labels"]) == (1, 0, {})


def test_failovers_and_both_providers_down_are_visible_in_health(edges_app, llm):
    url, log_path = edges_app
    llm.set_failure("openai", "server_error")
    for _ in range(2):
        answered = httpx.get(f"{url}/answer")
        assert answered.status_code == 200 and answered.json() == {"provider": "anthropic"}
    llm.set_failure("anthropic", "overloaded")
    assert httpx.get(f"{url}/answer").status_code == 500
    lines = wait_for_lines(log_path, 3)
    assert [(r["status"], r["label"]) for r in lines] == [
        (200, "OPENAI_SERVER_ERROR"), (200, "OPENAI_SERVER_ERROR"), (500, "ANTHROPIC_OVERLOADED")]
    body = httpx.get(f"{url}/health").json()
    assert body["metrics"]["labels"] == {"ANTHROPIC_OVERLOADED": 1}
    assert (body["failovers"]["total"], body["failovers"]["exhausted"]) == (3, 1)
    assert body["failovers"]["reasons"] == {"openai OPENAI_SERVER_ERROR -> anthropic": 3,
                                            "anthropic ANTHROPIC_OVERLOADED -> none": 1}


def test_health_and_its_metrics_polls_are_not_requests_of_the_app(edges_app):
    url, log_path = edges_app
    for _ in range(3):
        httpx.get(f"{url}/health/metrics")
        httpx.get(f"{url}/health")
    assert httpx.get(f"{url}/ok").status_code == 200
    assert [r["route"] for r in wait_for_lines(log_path, 1)] == ["/ok"]
    assert httpx.get(f"{url}/health").json()["metrics"]["requests_total"] == 1


def raw_get(url: str, target: str, *headers: str) -> bytes:
    """One GET of `target` exactly as written (no client library normalises it) and the answer's status line."""
    host, port = url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=10) as conn:
        head = "".join(f"{h}\r\n" for h in headers)
        conn.sendall(f"GET {target} HTTP/1.1\r\nHost: app\r\nConnection: close\r\n{head}\r\n".encode("latin-1"))
        return conn.makefile("rb").readline()


def test_a_request_cannot_forge_the_access_shape_that_the_error_budget_counts(edges_app):
    """A path (decoded by the server) or a forwarded client carrying `" 500` must not make the log say 5xx."""
    from datetime import timedelta

    from mosaic_diag.rollback.budget import read_log

    url, log_path = edges_app
    for _ in range(3):
        assert b" 404 " in raw_get(url, "/ok%20HTTP/1.1%22%20500")
        assert b" 200 " in raw_get(url, "/ok", 'X-Forwarded-For: 6.6.6.6 - "GET /x HTTP/1.1" 503 -')
    lines = wait_for_lines(log_path, 6)
    assert sorted(r["status"] for r in lines) == [200, 200, 200, 404, 404, 404]
    reading = read_log(log_path, budget=0.05, window=timedelta(minutes=5))
    assert (reading.requests, reading.server_errors) == (6, 0)
    assert all('"GET /ok%20HTTP/1.1%22%20500 HTTP/1.1" 404' in r["message"] for r in lines if r["status"] == 404)


@pytest.mark.parametrize(("section", "kind", "secret"), [("breakers", "RuntimeError", "hunter2"),
                                                         ("extra", "ValueError", "sk-live-abcdefghijklmnopqrstuvwx")])
def test_a_health_callable_that_raises_is_reported_in_the_document_not_a_500(edges_app, section, kind, secret):
    """`breakers()` or `extra()` of the app raising: /health still answers (200, degraded), that section carries the
    error's type only (its message named the breaker store's host: the app's log has it, redacted), the reason names
    it, the warning is logged once for many polls, and its recovery once; /health/metrics still answers."""
    url, log_path = edges_app
    assert httpx.get(f"{url}/health").json()["status"] == "ok"
    httpx.post(f"{url}/health-fails/{section}", params={"on": 1})
    answers = [httpx.get(f"{url}/health") for _ in range(3)]
    assert {a.status_code for a in answers} == {200}
    body = answers[-1].json()
    assert body["status"] == "degraded" and body["ok"] is True
    assert f"{section}() failed: {kind}" in body["reasons"]
    error = body[section]["error"]
    assert error == {"type": kind} and "db.internal" not in answers[-1].text and secret not in answers[-1].text
    assert httpx.get(f"{url}/health/metrics").status_code in (200, 404)  # (404: prometheus-client not installed)
    httpx.post(f"{url}/health-fails/{section}", params={"on": 0})
    healed = httpx.get(f"{url}/health").json()
    assert healed["status"] == "ok" and "error" not in healed.get(section, {})
    log = log_path.read_text()
    assert secret not in log
    assert log.count(f"{section}() raised {kind}") == 1 and log.count(f"{section}() answers again") == 1
    assert ("db.internal" in log) is (section == "breakers")  # (the detail is the operator's, in the log)
