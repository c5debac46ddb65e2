"""The example app on the runtime kit: breakers in PostgreSQL, failover decisions, dead letters,
the /health shape, through the real clients against the stand-in."""

from __future__ import annotations

import time

import httpx
import psycopg2
import pytest
from starlette.testclient import TestClient

from examples.mosaic_app.main import create_app
from examples.mosaic_app.settings import Settings
from tests.app_servers import stop
from tests.test_example_app import app_env
from tests.test_example_app_warm_up import start_gated_app

ASK = {"prompt": "I feel stuck in my career"}


def query(dsn: str, sql: str) -> list[tuple]:
    with psycopg2.connect(dsn) as conn, conn.cursor() as cur:
        cur.execute(sql)
        rows = cur.fetchall()
    conn.close()
    return rows


def asked(llm, provider: str) -> int:
    return sum(1 for r in llm.requests if r.provider == provider)


def test_the_openai_breaker_opens_in_postgres_and_the_app_fails_over(tmp_path, llm, pg_db):
    env = {**app_env(tmp_path, llm, database_url=pg_db), "LLM_BREAKER": "postgres"}
    with TestClient(create_app(Settings.from_env(env))) as client:
        llm.set_failure("openai", "server_error")
        for _ in range(5):
            r = client.post("/wimd/ask", json=ASK)
            assert r.status_code == 200 and r.json()["provider"] == "anthropic"
        assert query(pg_db, "SELECT name, state FROM mosaic_breakers ORDER BY name") == [
            ("llm-anthropic", "closed"), ("llm-openai", "open")]
        before = asked(llm, "openai")
        r = client.post("/wimd/ask", json=ASK)
        assert r.json()["provider"] == "anthropic" and asked(llm, "openai") == before  # failed fast
        health = client.get("/health")
        assert health.status_code == 200
        body = health.json()
        assert body["status"] == "degraded" and body["breakers"] == {"openai": "open", "anthropic": "closed"}
        assert body["database"]["type"] == "postgresql" and body["checks"]["database"]["ok"] is True
        assert body["deployment"]["git_commit"] == "01234567" and "invalid_json_rate" in body["metrics"]


def test_no_failover_on_a_context_overflow(tmp_path, llm, pg_db):
    with TestClient(create_app(Settings.from_env(app_env(tmp_path, llm, database_url=pg_db)))) as client:
        llm.set_failure("openai", "context_overflow")
        r = client.post("/wimd/ask", json=ASK)
        assert r.status_code == 503 and "context length" in r.json()["detail"]
        assert asked(llm, "anthropic") == 0


def test_retries_follow_llm_max_retries(tmp_path, llm, pg_db):
    env = {**app_env(tmp_path, llm, database_url=pg_db), "LLM_MAX_RETRIES": "1"}
    with TestClient(create_app(Settings.from_env(env))) as client:
        llm.set_failure("anthropic", "overloaded")
        llm.set_failure("openai", "server_error", times=1)  # the retry answers
        r = client.post("/wimd/ask", json=ASK)
        assert r.status_code == 200 and r.json()["provider"] == "openai"
        assert (asked(llm, "openai"), asked(llm, "anthropic")) == (2, 0)


def test_a_malformed_answer_is_dead_lettered(tmp_path, llm, pg_db):
    with TestClient(create_app(Settings.from_env(app_env(tmp_path, llm, database_url=pg_db)))) as client:
        llm.set_failure("openai", "malformed")
        r = client.post("/wimd/ask", json=ASK)
        assert r.status_code == 200 and r.json()["json_valid"] is False
    [(provider, prompt_id, label, model)] = query(
        pg_db, "SELECT provider, prompt_id, label, model FROM mosaic_dead_letters")
    assert (provider, label, model) == ("openai", "MODEL_ANSWER_INVALID", "CoachAnswer")
    assert prompt_id.startswith("ps101-step-")


def test_an_answer_with_personal_data_is_filtered(tmp_path, llm):
    with TestClient(create_app(Settings.from_env(app_env(tmp_path, llm)))) as client:
        r = client.post("/wimd/ask", json={"prompt": "email me at jane.doe@example.com about my career"})
        assert r.status_code == 200
        answer = r.json()["answer"]
        assert "jane.doe@example.com" not in answer and "[email]" in answer  # the stand-in echoes the prompt


def _wait_for(found, what: str, bound: float = 30.0) -> None:
    """Wait until `found()` (a liveness bound, never a measured time)."""
    give_up = time.monotonic() + bound
    while not found():
        assert time.monotonic() < give_up, f"never: {what}"
        time.sleep(0.05)


@pytest.mark.slow
def test_health_does_not_wait_for_the_sdks_and_classifies_a_refusal_once_they_are_built(tmp_path, llm):
    """Under the real uvicorn, the SDK import held on the warm-up thread (a gate in its loader): /health lists the
    models through the standard library and answers at once, both providers available. A provider that refuses
    the list meanwhile reads unavailable (its client is not waited for); once the clients are built, the refusal
    goes through the SDK: a rate limit is still available, a rejected key is not (its exception in the log)."""
    proc, url, gate, record, log = start_gated_app(tmp_path, llm)

    def ai() -> dict:
        answer = httpx.get(url + "/health", timeout=20)  # (a liveness bound: before, /health waited for the gate)
        assert answer.status_code == 200
        return answer.json()["ai"]

    try:
        _wait_for(record.exists, "the warm-up thread importing openai")
        assert ai() == {"openai_available": True, "anthropic_available": True}
        assert not gate.exists() and "AI clients built" not in log.read_text()  # the import is still held
        assert len(record.read_text().splitlines()) == 1  # /health imported no SDK of its own
        llm.set_failure("openai", "rate_limit", endpoint="models")
        assert ai() == {"openai_available": False, "anthropic_available": True}  # not classified yet: not waited
        assert "its client is still being built" in log.read_text()
        gate.touch()
        _wait_for(lambda: "AI clients built: openai,anthropic" in log.read_text(), "the clients built")
        assert ai()["openai_available"] is True  # through the SDK: rate-limited, but it answered
        assert "Health probe: openai is rate-limited but reachable" in log.read_text()
        llm.set_failure("openai", "auth", endpoint="models")
        assert ai()["openai_available"] is False
        assert "openai.AuthenticationError" in log.read_text()  # the SDK's exception, for triage
    finally:
        stop(proc)


def test_an_answer_postgres_cannot_store_is_still_a_rejection_and_a_letter(tmp_path, llm, pg_db):
    """A prompt the model echoes with a NUL (PostgreSQL's text refuses it) into an answer its schema rejects: the
    app answers as for any rejected answer, and the letter is stored with the character escaped."""
    with TestClient(create_app(Settings.from_env(app_env(tmp_path, llm, database_url=pg_db)))) as client:
        llm.set_failure("openai", "prose")
        r = client.post("/wimd/ask", json={"prompt": "I feel stuck\u0000 in my career"})
        assert r.status_code == 200 and r.json()["json_valid"] is False
    [(payload, label)] = query(pg_db, "SELECT payload, label FROM mosaic_dead_letters")
    assert label == "MODEL_ANSWER_INVALID" and "stuck\\u0000 in my career" in payload
