"""`mosaic-diag deploy` end to end against a local Render (examples/local_render.py): a bare git remote
whose pushes build and run the example app under uvicorn, Render's API (deploys, rollback, autodeploy,
logs) over it, the real PostgreSQL and the LLM provider stand-in. Few tests, each a whole story."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
from pathlib import Path

import httpx
import pytest

from examples.local_render import LocalRender, seed_app_repo
from tests.test_example_app import app_env
from tests.test_manifest_support import GIT_ENV, commit_all, git

ROOT = Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.slow  # (each story deploys three to five times: 20-50 s)
WATCH = ["--watch", "5s", "--poll-interval", "0.2", "--wait-timeout", "180s"]  # (a poll: the wait ends sooner)


class Traffic:
    """A user logging in over and over while the deploys happen (what makes a broken commit visible)."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.stop = threading.Event()
        self.codes: list[int] = []
        self.thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> Traffic:
        creds = {"email": "deploy-test@example.com", "password": "correct horse battery staple"}
        httpx.post(f"{self.url}/auth/register", json=creds, timeout=30)
        self.creds = creds
        self.thread.start()
        return self

    def _run(self) -> None:
        with httpx.Client(timeout=30) as client:
            while not self.stop.is_set():
                try:
                    self.codes.append(client.post(f"{self.url}/auth/login", json=self.creds).status_code)
                except httpx.TransportError:
                    self.codes.append(0)  # the app restarts while it deploys
                self.stop.wait(0.2)

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.thread.join(timeout=60)


@pytest.fixture
def render(tmp_path, pg_db, llm):
    env = {k: v for k, v in app_env(tmp_path, llm, database_url=pg_db).items() if k != "RENDER_GIT_COMMIT"}
    with LocalRender(tmp_path / "render", env={**os.environ, **env}) as local:
        first = seed_app_repo(tmp_path / "work", local.remote)
        local.wait_idle(timeout=180)
        assert local.live_commit() == first, local.log_text()[-3000:]
        yield local, tmp_path / "work", first, env


def cli_env(local: LocalRender, env: dict[str, str], api_url: str | None = None) -> dict[str, str]:
    full = {k: v for k, v in os.environ.items() if not k.startswith(("MOSAIC_DIAG_", "RENDER_"))}
    full.update(GIT_ENV)
    full.update(env, PYTHONPATH=str(ROOT), RENDER_API_KEY=local.api_key,
                RENDER_SERVICE_ID=local.service_id, MOSAIC_DIAG_RENDER_API_URL=api_url or local.base_url,
                MOSAIC_DIAG_ROLLBACK_MIN_REQUESTS="5")
    return full


def run_deploy(local: LocalRender, work: Path, env: dict[str, str], *args: str,
               api_url: str | None = None) -> tuple[subprocess.CompletedProcess[str], dict]:
    r = subprocess.run([sys.executable, "-m", "mosaic_diag", "deploy", "--health-url", f"{local.app_url}/health",
                        "--format", "json", *args], cwd=work, env=cli_env(local, env, api_url), capture_output=True,
                       text=True, timeout=600)
    try:
        return r, json.loads(r.stdout)
    except json.JSONDecodeError:
        raise AssertionError(f"exit {r.returncode}\n{r.stdout}\n{r.stderr}\n{local.log_text()[-3000:]}") from None


def health_commit(local: LocalRender) -> str:
    return httpx.get(f"{local.app_url}/health", timeout=30).json()["deployment"]["git_commit_full"]


def test_good_deploy_then_a_bad_one_is_rolled_back(render):
    local, work, first, env = render
    (work / "examples" / "mosaic_app" / "jobs.py").write_text(
        (work / "examples" / "mosaic_app" / "jobs.py").read_text() + "\n# a harmless change\n")
    good = commit_all(work, "a harmless change")
    with Traffic(local.app_url) as traffic:
        r, report = run_deploy(local, work, env, *WATCH)
        assert r.returncode == 0, json.dumps(report, indent=1) + local.log_text()[-3000:]
        assert report["verdict"] == "good" and health_commit(local) == good == local.live_commit()
        assert [s["step"] for s in report["steps"]] == ["preflight", "predeploy", "record", "push", "wait", "watch",
                                                        "verdict"]
        auth = work / "examples" / "mosaic_app" / "auth.py"
        auth.write_text(auth.read_text().replace("SELECT id, email, password_hash FROM users",
                                                 "SELECT id, email, password_digest FROM users"))
        bad = commit_all(work, "read the password digest (the migration is not deployed yet)")
        r, report = run_deploy(local, work, env, *WATCH)
    data = json.dumps(report, indent=1)
    assert r.returncode == 1 and report["verdict"] == "bad", data + local.log_text()[-3000:]
    assert "MISSING_COLUMN" in [e["label"] for e in report["labels"]], data
    watch = next(s for s in report["steps"] if s["step"] == "watch")
    assert watch["details"]["log_source"] == f"render:{local.service_id}"  # read from the logs API
    rollback = next(s for s in report["steps"] if s["step"] == "rollback")
    assert rollback["status"] == "ok", data
    head = git(work, "ls-remote", str(local.remote), "refs/heads/main").split()[0]
    assert git(work, "rev-parse", f"{head}^") == bad  # a revert on top: never forced
    assert git(work, "rev-parse", f"{head}^{{tree}}") == git(work, "rev-parse", f"{good}^{{tree}}")
    assert health_commit(local) == head == local.live_commit()  # the previous code serves again
    assert httpx.post(f"{local.app_url}/auth/login", json=traffic.creds, timeout=30).status_code == 200
    assert 500 in traffic.codes
    triggers = [d["trigger"] for d in local.deploys()[:2]]
    assert triggers == ["new_commit", "new_commit"]  # the bad push, then the revert push, each deployed


def test_a_failed_build_then_renders_own_rollback_then_an_unreachable_api(render):
    local, work, first, env = render
    (work / "examples" / "mosaic_app" / "jobs.py").write_text(
        (work / "examples" / "mosaic_app" / "jobs.py").read_text() + "\n# needs a new wheel\n")
    commit_all(work, "a dependency the build cannot install")
    local.fail_next_build("ERROR: Could not find a version that satisfies the requirement mosaic-wheel==9.9")
    r, report = run_deploy(local, work, env, *WATCH)
    data = json.dumps(report, indent=1)
    assert r.returncode == 1 and report["verdict"] == "bad", data
    wait = next(s for s in report["steps"] if s["step"] == "wait")
    assert wait["status"] == "failed" and wait["details"]["render_status"] == "build_failed", data
    assert "RENDER_DEPLOY_FAILED" in [e["label"] for e in report["labels"]], data
    tail = next(s for s in report["steps"] if s["step"] == "watch")["details"]["log_tail"]
    assert any("mosaic-wheel==9.9" in line for line in tail), tail
    assert "rollback" not in [s["step"] for s in report["steps"]]
    assert health_commit(local) == first == local.live_commit()  # the previous deploy keeps serving
    # Render's own rollback (render-api): the exact earlier commit serves again, autodeploy is left off
    record = subprocess.run([sys.executable, "-m", "mosaic_diag", "manifest", "record", first, "--note", "seed"],
                            cwd=work, env=cli_env(local, env), capture_output=True, text=True, timeout=120)
    assert record.returncode == 0, record.stdout + record.stderr
    auth = work / "examples" / "mosaic_app" / "auth.py"
    auth.write_text(auth.read_text().replace("SELECT id, email, password_hash FROM users",
                                             "SELECT id, email, password_digest FROM users"))
    bad = commit_all(work, "read the password digest")
    with Traffic(local.app_url):
        r, report = run_deploy(local, work, env, *WATCH, "--strategy", "render-api")
    data = json.dumps(report, indent=1)
    assert r.returncode == 1 and report["verdict"] == "bad", data
    assert next(s for s in report["steps"] if s["step"] == "rollback")["status"] == "ok", data
    assert health_commit(local) == first == local.live_commit(), data  # the previous commit itself
    assert local.deploys()[0]["trigger"] == "rollback"
    assert local.api.autodeploy is False  # off, so the next push does not undo it (the report says so)
    assert "autodeploy was on and is now OFF" in report["rollback"]["result"]["message"]
    assert git(work, "ls-remote", str(local.remote), "refs/heads/main").split()[0] == bad  # git untouched
    # the fix, deployed while autodeploy is off: Render is asked to deploy it; judged good, autodeploy is back on
    auth.write_text(auth.read_text().replace("password_digest", "password_hash"))
    fixed = commit_all(work, "read the password hash again")
    r, report = run_deploy(local, work, env, *WATCH, "--resume-autodeploy")
    data = json.dumps(report, indent=1)
    assert r.returncode == 0 and report["verdict"] == "good", data + local.log_text()[-3000:]
    assert health_commit(local) == fixed == local.live_commit() and local.deploys()[0]["trigger"] == "api", data
    assert local.api.autodeploy is True, data
    assert "autodeploy turned back on" in next(s for s in report["steps"] if s["step"] == "verdict")["message"]
    audit = [json.loads(line) for line in (work / ".mosaic-diag" / "audit.log").read_text().splitlines()]
    assert [a["result"] for a in audit if a.get("step") == "autodeploy-on"] == ["started", "done"]
    bad = fixed
    # the API is down: nothing is pushed, exit 3
    (work / "examples" / "mosaic_app" / "jobs.py").write_text(
        (work / "examples" / "mosaic_app" / "jobs.py").read_text() + "\n# once more\n")
    commit_all(work, "once more")
    local.set_api_down(True)
    r, report = run_deploy(local, work, env, *WATCH)
    assert r.returncode == 3 and report["verdict"] == "error", json.dumps(report, indent=1)
    assert [s["step"] for s in report["steps"]] == ["preflight"]
    assert git(work, "ls-remote", str(local.remote), "refs/heads/main").split()[0] == bad
    with socket.socket() as s:  # a closed port, held while the deploy runs: unreachable the other way
        s.bind(("127.0.0.1", 0))
        r, report = run_deploy(local, work, env, *WATCH, api_url=f"http://127.0.0.1:{s.getsockname()[1]}")
    assert r.returncode == 3 and git(work, "ls-remote", str(local.remote), "refs/heads/main").split()[0] == bad
    assert local.api_key not in r.stdout + r.stderr


CRASH_LATER = '''

_health_served = {"n": 0}


@app.middleware("http")
async def _crash_on_the_fourth_health_check(request, call_next):  # noqa: ANN001, ANN201 - the test's crash
    """Serves /health with the new commit (Render's check, the deploy's wait, a first look of the watch), then
    the worker dies, as a native library crash kills a process a minute after it came up."""
    if request.url.path == "/health":
        _health_served["n"] += 1
        if _health_served["n"] >= 4:
            import logging
            import os

            try:
                raise MemoryError("libvips: out of memory while resizing an avatar")
            except MemoryError:
                logging.getLogger("mosaic.worker").critical("worker crashed", exc_info=True)
            logging.shutdown()
            os._exit(1)
    return await call_next(request)
'''


def test_an_app_that_crashes_after_it_reported_the_new_commit_is_rolled_back_once(render):
    """/health reports the new commit, then the app dies (Render does not restart it here): judged bad on the
    dead /health, rolled back once through a revert push that then serves; nothing judges the rollback again."""
    local, work, first, env = render
    record = subprocess.run([sys.executable, "-m", "mosaic_diag", "manifest", "record", first, "--note", "seed"],
                            cwd=work, env=cli_env(local, env), capture_output=True, text=True, timeout=120)
    assert record.returncode == 0, record.stdout + record.stderr
    main = work / "examples" / "mosaic_app" / "main.py"
    main.write_text(main.read_text() + CRASH_LATER)
    crashing = commit_all(work, "resize avatars with libvips")
    # (the crash comes with the watch's second look at /health, a poll interval in: the rest of the watch reads a
    # dead /health to its end, whatever its length)
    r, report = run_deploy(local, work, env, "--watch", "10s", "--poll-interval", "1s", "--wait-timeout", "180s")
    data = json.dumps(report, indent=1)
    assert r.returncode == 1 and report["verdict"] == "bad", data + local.log_text()[-3000:]
    wait = next(s for s in report["steps"] if s["step"] == "wait")
    assert wait["status"] == "ok" and crashing[:12] in wait["message"], data
    assert "could not be read at the end of the watch" in report["reason"], data
    rollback = next(s for s in report["steps"] if s["step"] == "rollback")
    assert rollback["status"] == "ok", data + local.log_text()[-3000:]
    head = git(work, "ls-remote", str(local.remote), "refs/heads/main").split()[0]
    assert git(work, "rev-parse", f"{head}^") == crashing
    assert git(work, "rev-parse", f"{head}^{{tree}}") == git(work, "rev-parse", f"{first}^{{tree}}")
    assert health_commit(local) == head == local.live_commit()
    audit = [json.loads(line) for line in (work / ".mosaic-diag" / "audit.log").read_text().splitlines()]
    assert [a["result"] for a in audit if a.get("action") == "rollback"] == ["started", "done"]  # once
    assert [d["trigger"] for d in local.deploys()[:2]] == ["new_commit", "new_commit"]
    assert [s["step"] for s in report["steps"]].count("rollback") == 1
