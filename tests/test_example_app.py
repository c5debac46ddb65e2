"""The example Mosaic app: storage (PostgreSQL and the SQLite fallback), /health metrics,
failover through the real clients against the stand-in, and golden runs against it under a
real uvicorn and in-process."""

from __future__ import annotations

import csv
import json
import logging
import os
import socket
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from examples.mosaic_app.main import create_app
from examples.mosaic_app.metrics import RollingMetrics
from examples.mosaic_app.settings import APP_DIR, Settings
from mosaic_diag.classifier.classify import Classifier
from mosaic_diag.cli import main
from mosaic_diag.golden import load_cases
from mosaic_diag.playbooks import PlaybookStore
from tests.app_servers import start_uvicorn, stop

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def app_env(tmp_path: Path, llm=None, *, database_url: str | None = None,
            anthropic: bool = True) -> dict[str, str]:
    env = {"SQLITE_PATH": str(tmp_path / "fallback.sqlite3"), "LLM_MAX_RETRIES": "0",
           "LLM_TIMEOUT": "10", "HEALTH_AI_PROBE_TTL": "0", "RENDER_GIT_COMMIT": "0123456789abcdef"}
    if database_url:
        env["DATABASE_URL"] = database_url
    if llm is not None:
        env |= {"OPENAI_API_KEY": "sk-test-openai-key-000000", "OPENAI_BASE_URL": llm.openai_base_url}
        if anthropic:
            env |= {"ANTHROPIC_API_KEY": "sk-ant-test-key-000000",
                    "ANTHROPIC_BASE_URL": llm.anthropic_base_url}
    return env


def test_prompt_files_are_valid():
    """The framework's regression tests for the prompt files."""
    steps = json.loads((APP_DIR / "prompts" / "ps101_steps.json").read_text())
    assert isinstance(steps, list) and len(steps) == 10
    assert [s["step"] for s in steps] == list(range(1, 11))
    assert all(s["title"] and isinstance(s["prompts"], list) and s["prompts"] for s in steps)
    with (APP_DIR / "prompts" / "prompts.csv").open(newline="") as f:
        rows = list(csv.DictReader(f))
    assert rows and all(r["prompt"] and r["response"] for r in rows)


def test_rolling_metrics_window_p95_and_invalid_json():
    now = [1000.0]
    m = RollingMetrics(window=300, clock=lambda: now[0])
    for i in range(19):
        m.record_request(10.0 + i, 200)
    m.record_request(900.0, 500)
    m.record_answer(True)
    m.record_answer(False)
    snap = m.snapshot()
    assert (snap.requests_total, snap.error_rate, snap.p95_latency_ms, snap.invalid_json_rate) == (
        20, 0.05, 28.0, 0.5)
    now[0] += 301  # everything ages out of the 5-minute window
    assert m.snapshot().requests_total == 0 and m.snapshot().invalid_json_rate == 0.0


def test_sqlite_fallback_is_logged_and_visible_in_health(tmp_path, caplog, refused_port):
    port = refused_port  # psycopg2 fails for real
    env = app_env(tmp_path, database_url=f"postgresql://mosaic:pw@127.0.0.1:{port}/mosaic")
    with caplog.at_level(logging.INFO), TestClient(create_app(Settings.from_env(env))) as client:
        health = client.get("/health").json()
        assert health["database"] == {"connected": False, "type": "sqlite", "fallback_active": True}
        assert health["deployment"]["git_commit"] == "01234567"
        r = client.post("/auth/register", json={"email": "a@example.com", "password": "longpassword"})
        assert r.status_code == 201
    failed = [r for r in caplog.records if r.name == "api.storage" and r.levelno == logging.ERROR]
    assert failed and failed[0].exc_info is not None
    assert Classifier.default().classify_exception(failed[0].exc_info[1]).label == \
        "PG_CONNECTION_FAILED"
    assert any("Using SQLite fallback" in r.getMessage() for r in caplog.records)


def test_postgres_storage_auth_and_progress(tmp_path, pg_db):
    with TestClient(create_app(Settings.from_env(app_env(tmp_path, database_url=pg_db)))) as client:
        health = client.get("/health").json()
        assert health["database"] == {"connected": True, "type": "postgresql",
                                      "fallback_active": False}
        creds = {"email": "coach@example.com", "password": "correct-horse-battery"}
        first = client.post("/auth/register", json=creds)
        again = client.post("/auth/register", json=creds)  # idempotent: ON CONFLICT
        assert (first.status_code, again.status_code) == (201, 200)
        assert first.json()["user_id"] == again.json()["user_id"]
        assert client.post("/auth/login", json={**creds, "password": "wrong-password"}).status_code == 401
        session = client.post("/auth/login", json=creds).json()["session_id"]
        h = {"x-session-id": session}
        assert client.get("/ps101/progress", headers=h).json()["step"] == 1
        r = client.post("/ps101/progress", json={"step": 1, "answer": "I am stuck"}, headers=h)
        assert r.json()["step"] == 2 and client.get("/ps101/progress", headers=h).json()["step"] == 2
        metrics = client.get("/health").json()["metrics"]
        assert metrics["requests_total"] == 7 and metrics["error_rate"] == 0.0


def test_ask_fails_over_to_anthropic_and_logs_the_traceback(tmp_path, llm, caplog):
    settings = Settings.from_env(app_env(tmp_path, llm))
    with TestClient(create_app(settings)) as client:
        ok = client.post("/wimd/ask", json={"prompt": "I feel stuck in my career"}).json()
        assert ok["provider"] == "openai" and ok["answer"] and ok["ps101"]["step"] == 1
        llm.set_failure("openai", "rate_limit")
        with caplog.at_level(logging.ERROR, logger="api.ai_clients"):
            over = client.post("/wimd/ask", json={"prompt": "I feel stuck in my career"})
        assert over.status_code == 200 and over.json()["provider"] == "anthropic"
        record = next(r for r in caplog.records if "[FAILOVER]" in r.getMessage())
        assert Classifier.default().classify_exception(record.exc_info[1]).label == "OPENAI_RATE_LIMIT"
        llm.set_failure("all", "rate_limit")
        down = client.post("/wimd/ask", json={"prompt": "Help me find a job"})
        assert down.status_code == 503 and "429" in down.json()["detail"]
        health = client.get("/health").json()
        assert health["metrics"]["error_rate"] > 0 and health["ai"]["openai_available"] is True
        llm.set_failure("openai", "quota")  # 429 too, but no answer will come: not available
        assert client.get("/health").json()["ai"]["openai_available"] is False


def test_golden_in_process_passes_then_names_the_rate_limit(tmp_path, llm, monkeypatch, capsys):
    for key, value in app_env(tmp_path, llm, anthropic=False).items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("ANTHROPIC_API_KEY", raising=False)
    monkeypatch.delenv("CLAUDE_API_KEY", raising=False)
    args = ["golden", "--app", "examples.mosaic_app.main:app", "--cases", str(ROOT / "golden"),
            "--state-dir", str(tmp_path / "state"), "--retries", "0", "--format", "json"]
    assert main(args) == 0, capsys.readouterr().out
    assert json.loads(capsys.readouterr().out)["summary"]["not_ok"] == 0
    llm.set_failure("openai", "rate_limit")
    assert main([*args, "-t", "framework", "--junit", str(tmp_path / "g.xml")]) == 1
    report = json.loads(capsys.readouterr().out)
    failed = {c["id"]: c for c in report["cases"] if not c["ok"]}
    assert set(failed) == {"framework-stuck-in-career", "framework-find-a-job"}
    c = failed["framework-stuck-in-career"]
    assert c["failures"][0] == "status: got 503, want 200"
    assert c["classification"]["label"] == "OPENAI_RATE_LIMIT"
    playbook = PlaybookStore.load(None).match("OPENAI_RATE_LIMIT")
    assert playbook is not None and c["classification"]["playbook"] == playbook.id
    names = {tc.get("name") for tc in ET.parse(tmp_path / "g.xml").iter("testcase")
             if tc.find("failure") is not None}
    assert names == set(failed)


def test_golden_names_both_providers_when_the_failover_fails(tmp_path, llm, monkeypatch, capsys):
    for key, value in app_env(tmp_path, llm).items():
        monkeypatch.setenv(key, value)
    llm.set_failure("openai", "rate_limit")
    llm.set_failure("anthropic", "overloaded")
    args = ["golden", "--app", "examples.mosaic_app.main:app", "--cases", str(ROOT / "golden"),
            "--state-dir", str(tmp_path / "state"), "--retries", "0", "-k", "framework-stuck-in-career"]
    assert main([*args, "--format", "json", "--junit", str(tmp_path / "g.xml")]) == 1
    (case,) = [c for c in json.loads(capsys.readouterr().out)["cases"] if not c["ok"]]
    got = case["classification"]
    store = PlaybookStore.load(None)
    want = [{"label": name, "playbook": store.match(name).id} for name in ("OPENAI_RATE_LIMIT", "ANTHROPIC_OVERLOADED")]
    assert [{k: ref[k] for k in ("label", "playbook")} for ref in got["labels"]] == want
    assert got["label"] == "OPENAI_RATE_LIMIT" and got["playbook"] == want[0]["playbook"]  # most severe, then first
    assert "anthropic.InternalServerError" in got["explanation"] or "overloaded" in got["explanation"].lower()
    failure = next(tc.find("failure") for tc in ET.parse(tmp_path / "g.xml").iter("testcase")
                   if tc.get("name") == "framework-stuck-in-career")
    assert failure.get("message").endswith("[OPENAI_RATE_LIMIT + ANTHROPIC_OVERLOADED]")
    assert f"ANTHROPIC_OVERLOADED (model, high); playbook: {want[1]['playbook']}" in failure.text
    assert main([*args, "--format", "markdown"]) == 1
    assert "| OPENAI_RATE_LIMIT + ANTHROPIC_OVERLOADED |" in capsys.readouterr().out
    assert main([*args, "--format", "table"]) == 1
    table = capsys.readouterr().out
    assert "OPENAI_RATE_LIMIT (high, model)" in table and "ANTHROPIC_OVERLOADED (high, model)" in table


@pytest.fixture
def uvicorn_app(tmp_path, llm, pg_db):
    env = {**os.environ, **app_env(tmp_path, llm, database_url=pg_db)}
    proc, url = start_uvicorn(lambda port: [sys.executable, "-m", "examples.mosaic_app", "--port", str(port)],
                              env=env, cwd=ROOT, log_path=tmp_path / "app.log")
    yield url, tmp_path / "app.log"
    stop(proc)


@pytest.mark.slow
def test_golden_against_uvicorn_and_a_broken_provider(uvicorn_app, llm, tmp_path):
    url, app_log = uvicorn_app

    def golden(*extra: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "mosaic_diag", "golden", "--url", url,
                               "--state-dir", str(tmp_path / "state"), "--retries", "0", *extra],
                              cwd=ROOT, capture_output=True, text=True, timeout=120)

    r = golden("--format", "json")
    assert r.returncode == 0, r.stdout + r.stderr
    assert json.loads(r.stdout)["summary"]["passed"] == len(load_cases([ROOT / "golden"]))
    bless = subprocess.run([sys.executable, "-m", "mosaic_diag", "golden", "bless", "--baseline",
                            str(tmp_path / "base.json"), "--state-dir", str(tmp_path / "state")],
                           cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert bless.returncode == 0
    llm.set_failure("all", "rate_limit")
    r = golden("--junit", str(tmp_path / "golden.xml"), "--baseline", str(tmp_path / "base.json"))
    assert r.returncode == 1, r.stdout + r.stderr
    assert "framework-stuck-in-career" in r.stdout and "RATE_LIMIT" in r.stdout
    playbook = PlaybookStore.load(None).match("OPENAI_RATE_LIMIT")
    assert f"OPENAI_RATE_LIMIT (high, model) → playbook {playbook.id}" in r.stdout
    failures = {tc.get("name"): tc.find("failure") for tc in
                ET.parse(tmp_path / "golden.xml").iter("testcase")}
    assert failures["framework-stuck-in-career"] is not None
    assert failures["ps101-step-3"] is None  # no LLM involved: still passing
    text = app_log.read_text()
    assert "[FAILOVER] openai call failed, trying anthropic" in text and "Traceback" in text
