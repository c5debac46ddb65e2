"""The runtime kit and the classifier, used as libraries, leave their host app's process as they found it: its
warnings and logging set-up, hooks, signal handlers, environment, working directory, import path, locale, umask,
limits, exit (no thread of theirs keeps the interpreter from exiting) and the rest `tests.hoststate` compares.

Each in a fresh interpreter, as an app has it: the kit in a real app under a real uvicorn (`tests.host_process_app`)
through every part the README documents and their failure paths; the classifier in a plain script."""

from __future__ import annotations

import json
import os
import secrets
import signal
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from tests.app_servers import start_uvicorn
from tests.pgproxy import Proxy

ROOT = Path(__file__).resolve().parent.parent
# a secret-shaped line (a SendGrid key: one of detect-secrets' detectors), built here so no key sits in the source
SENDGRID = "SG." + "a1b2c3d4e5f6g7h8i9j0kl" + "." + "A1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6Q7r8S9t0U1v"


@pytest.mark.slow
def test_the_runtime_kit_leaves_its_host_apps_process_as_it_found_it(pg, llm, tmp_path):
    """Every part of the kit, working and failing, in an app under uvicorn: the app's `/host-state` compares the
    process with what it was before the kit was imported (what is the kit's by design is said there). It found
    detect-secrets' logger, which the app had configured, reset by the first redaction (and before it, every warning
    of the app sent to `py.warnings`), and the stores' threads left running as threads the interpreter waits for."""
    name = f"hp_{secrets.token_hex(3)}"
    pg.create_database(name)
    proxy = Proxy(pg.port)  # the dead letters' database, to be frozen (a network dropping every packet) at the end
    log_path = tmp_path / "app.log"
    env = {**os.environ, "PYTHONPATH": str(ROOT), "DATABASE_URL": pg.dsn(name),
           "DEAD_LETTERS": pg.dsn(name, port=proxy.port), "GUARD_STORE_TIMEOUT": "1", "STORE_EXIT_WAIT": "0.5",
           "OPENAI_BASE_URL": llm.openai_base_url, "ANTHROPIC_BASE_URL": llm.anthropic_base_url,
           "MOSAIC_DIAG_CACHE_DIR": str(tmp_path / "fresh-cache"), "BROKEN_EXTRA": "1"}
    proc, url = start_uvicorn(lambda port: [sys.executable, "-m", "uvicorn", "tests.host_process_app:app", "--port",
                                            str(port), "--no-access-log"], env=env, cwd=ROOT, log_path=log_path)
    try:
        with httpx.Client(base_url=url, timeout=60) as client:
            def get(path: str, status: int = 200, **params: str) -> dict:
                answer = client.get(path, params=params)
                assert answer.status_code == status, (path, answer.text)
                return answer.json()

            # every part working
            assert get("/ask")["value"] and get("/stream")["value"] and get("/ask-async")["value"]
            assert get("/failover")["value"] == "openai"
            assert get("/guarded", q='{"answer": "fine"}') == {"answer": "fine"}
            shown = get("/safe", text=f"mail key {SENDGRID} for ann@example.com")
            assert SENDGRID not in shown["text"] and "ann@example.com" not in shown["text"], shown
            # and failing: retried and classified, a breaker opening (memory, and PostgreSQL from async calls), a
            # failover, all providers failing, dead letters (async and sync), an endpoint's exception, /health's
            # broken extra check
            llm.set_failure("openai", "server_error")
            assert get("/ask", 503)["label"] == "OPENAI_SERVER_ERROR"
            assert get("/failover")["value"] == "anthropic"
            assert get("/ask", 503)["error"] == "BreakerOpen"
            assert get("/ask-async", 503)["label"] == "OPENAI_SERVER_ERROR"
            get("/ask-async", 503)
            assert get("/ask-async", 503)["error"] == "BreakerOpen"
            llm.set_failure("anthropic", "auth")
            assert get("/failover", 503)["error"] == "ProvidersFailed"
            assert get("/guarded", 422, q='{"answer": 1}')["dead_letter_id"] is not None
            assert get("/guarded-sync", 422, q="not json")["dead_letter_id"] is not None
            assert httpx.get(f"{url}/boom").status_code == 500  # (its own connection: uvicorn closes it after this)
            health = get("/health")
            assert health["status"] == "degraded" and health["breakers"]["openai"] == "open", health
            assert health["extra"]["error"]["type"] == "RuntimeError", health
            assert client.get("/health/metrics").status_code == 200
            assert get("/warn") == {"warned": True}

            changed = get("/host-state")["changes"]
            assert changed == [], "\n".join(changed)

            # a dead letter stuck on a database that stopped answering: the rejection still comes, and the app
            # still exits when it is stopped by Ctrl-C (uvicorn puts back the handler it found and raises the signal
            # again: KeyboardInterrupt, and the interpreter exits on its own, its threads joined; SIGTERM's default
            # action would end the process at once, threads or not)
            proxy.freeze()
            assert get("/guarded", 422, q='{"answer": 2}')["dead_letter_id"] is None
        proc.send_signal(signal.SIGINT)
        code = _exit_code(proc)
        assert code is not None and "Finished server process" in log_path.read_text(), log_path.read_text()[-3000:]
        out = log_path.read_text()
        assert "UserWarning: the app's own warning" in out and "py.warnings" not in out, out
    finally:
        _stop(proc, proxy)


def _exit_code(proc: subprocess.Popen[str]) -> int | None:
    """The child's exit code, or None when it did not exit within a liveness bound (an exit a thread holds never
    comes)."""
    try:
        return proc.wait(timeout=60)
    except subprocess.TimeoutExpired:
        return None


def _stop(proc: subprocess.Popen[str], proxy: Proxy) -> None:
    if proc.poll() is None:
        proc.kill()
        proc.wait(timeout=10)
    proxy.thaw()
    proxy.close()


_SHORT_EXIT = "from mosaic_diag.runtime import storethread\nstorethread.EXIT_WAIT = 0.5  # (not this test's subject)\n"
_STUCK = {
    "dead letter": """
import sys
from pydantic import BaseModel
from mosaic_diag.runtime import SchemaRejected, open_dead_letters, schema_guard

class Answer(BaseModel):
    answer: str

guard = schema_guard(Answer, store=open_dead_letters(sys.argv[1]), store_timeout=0.5)

def letter(text):
    try:
        guard(text, provider="openai")
    except SchemaRejected as exc:
        return exc.dead_letter_id

print(letter('{"answer": 1}') is not None, flush=True)
sys.stdin.readline()
print(letter('{"answer": 2}'), flush=True)
""",
    "breaker step": """
import asyncio, sys
from mosaic_diag.runtime import breaker

shared = breaker("stuck", storage=sys.argv[1])

async def answer():
    return "answered"

async def call(wait):
    try:
        return await asyncio.wait_for(shared.call_async(answer), wait)
    except TimeoutError:
        return "gave up"

print(asyncio.run(call(30)), flush=True)
sys.stdin.readline()
print(asyncio.run(call(0.5)), flush=True)
""",
}


@pytest.mark.parametrize("what", sorted(_STUCK))
def test_a_store_statement_stuck_on_a_database_that_stopped_answering_does_not_hold_the_exit(pg, what):
    """A script (a batch job, a worker) whose dead letter or async breaker step is stuck on the store's thread (the
    network to PostgreSQL drops every packet: no timeout of the server's ends it) still exits when it is done. The
    store's thread was concurrent.futures' ThreadPoolExecutor's, which the interpreter joins at exit: for ever."""
    name = f"hp_{secrets.token_hex(3)}"
    pg.create_database(name)
    proxy = Proxy(pg.port)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    script = _SHORT_EXIT + _STUCK[what]
    proc = subprocess.Popen([sys.executable, "-c", script, pg.dsn(name, port=proxy.port)], cwd=ROOT, env=env,
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None and proc.stdin is not None
        first = proc.stdout.readline().strip()
        assert first in ("True", "answered"), (first, proc.stderr.read() if proc.poll() is not None else "")
        proxy.freeze()
        proc.stdin.write("go\n")
        proc.stdin.flush()
        assert proc.stdout.readline().strip() in ("None", "gave up")
        code = _exit_code(proc)
        assert code == 0, proc.stderr.read() if code is not None else "the interpreter did not exit"
    finally:
        _stop(proc, proxy)


def test_calls_given_to_a_store_thread_are_finished_at_exit(tmp_path):
    """The store's thread is a daemon, and what it was given is still done when the interpreter exits (a letter whose
    waiter gave up or was cancelled), within `EXIT_WAIT`."""
    out = tmp_path / "written"
    script = ("import sys, time\n"
              "from pathlib import Path\n"
              "from mosaic_diag.runtime.storethread import StoreThread\n"
              "def write(text):\n"
              "    time.sleep(0.3)\n"
              "    Path(sys.argv[1]).write_text(text)\n"
              "store = StoreThread('mosaic-test-store')\n"
              "store.submit(write, 'first')\n"
              "store.submit(write, 'second')\n"
              "print(store._thread.daemon)\n")
    done = subprocess.run([sys.executable, "-c", script, str(out)], cwd=ROOT,
                          env={**os.environ, "PYTHONPATH": str(ROOT)}, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "True" and out.read_text() == "second"


_CLASSIFIER_APP = """
import json, logging, logging.config, sys, warnings
import httpx, openai, psycopg2

logging.config.dictConfig({
    "version": 1, "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler", "stream": "ext://sys.stderr"}},
    "loggers": {"app": {"level": "INFO"}, "detect-secrets": {"level": "WARNING"}},
    "root": {"level": "WARNING", "handlers": ["console"]},
})
warnings.simplefilter("default")
from tests.hoststate import changes, snapshot

before = snapshot()
from mosaic_diag.classifier import Classifier

port = int(sys.argv[1])
failures = []
for fail in (lambda: json.loads('{"truncated": '),
             lambda: psycopg2.connect(host="127.0.0.1", port=port, dbname="app", user="app", connect_timeout=5),
             lambda: httpx.get(f"http://127.0.0.1:{port}/", timeout=5),
             lambda: openai.OpenAI(api_key="sk-" + "x" * 40, base_url=f"http://127.0.0.1:{port}/v1",
                                   max_retries=0).models.list()):
    try:
        fail()
    except Exception as exc:
        failures.append(exc)
classifier = Classifier.default()
labels = [classifier.classify_exception(exc).label for exc in failures]
print(json.dumps({"labels": labels, "changes": changes(before, snapshot())}))
"""


def test_the_classifier_used_as_a_library_leaves_the_process_as_it_found_it(refused_port, tmp_path):
    """`Classifier.default().classify_exception` in an app (real failures of json, psycopg2, httpx and openai) on a
    fresh cache: the rules and taxonomy loaded and cached, nothing of the process changed."""
    env = {**os.environ, "PYTHONPATH": str(ROOT), "MOSAIC_DIAG_CACHE_DIR": str(tmp_path / "fresh-cache")}
    done = subprocess.run([sys.executable, "-c", _CLASSIFIER_APP, str(refused_port)], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    found = json.loads(done.stdout)
    assert found["changes"] == [], "\n".join(found["changes"])
    labels = found["labels"]
    assert labels[1::2] == ["PG_CONNECTION_FAILED", "OPENAI_CONNECTION_ERROR"], labels
