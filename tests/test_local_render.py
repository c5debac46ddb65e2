"""The local Render (examples/local_render.py): real git pushes to its bare remote deploy the example app
under uvicorn, read back through the real Render clients (RenderApi, RenderLogs, `triage --render`)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from examples.local_render import LocalRender, git_env, seed_app_repo
from mosaic_diag.errors import UnreachableError
from mosaic_diag.platform.render_api import RenderApi, RenderTarget
from mosaic_diag.platform.render_logs import RenderLogs
from mosaic_diag.platform.render_settings import RenderSettings
from tests.test_example_app import app_env

ROOT = Path(__file__).resolve().parent.parent
WAIT = 180  # seconds a deploy may take on a loaded machine (a few starts of the app)


def push(work: Path, change: str, message: str, *, append_to: str = "examples/mosaic_app/main.py",
         replace: bool = False) -> str:
    """Append `change` to a file of the work repo (or replace its text), commit it and push the branch;
    the new sha."""
    path = work / append_to
    path.write_text(change if replace else path.read_text(encoding="utf-8") + change, encoding="utf-8")
    for args in (["commit", "-q", "-am", message], ["push", "-q", "origin", "main"]):
        subprocess.run(["git", *args], cwd=work, env=git_env(), check=True, capture_output=True, timeout=120)
    return subprocess.run(["git", "rev-parse", "HEAD"], cwd=work, env=git_env(), check=True, capture_output=True,
                          text=True).stdout.strip()


def health(render: LocalRender) -> dict:
    r = httpx.get(render.app_url + "/health", timeout=10, trust_env=False)
    assert r.status_code == 200, r.text
    return r.json()


def api_of(render: LocalRender) -> RenderApi:
    return RenderApi(RenderTarget(render.base_url, render.service_id, render.api_key), timeout=30)


def entries(render: LocalRender, since: datetime) -> list[dict]:
    settings = RenderSettings(api_url=render.base_url, service_id=render.service_id, owner_id=render.owner_id,
                              api_key=render.api_key)
    return list(RenderLogs(settings, since, datetime.now(UTC) + timedelta(minutes=1)).entries())


def labels(entry: dict) -> dict[str, str]:
    return {lab["name"]: lab["value"] for lab in entry["labels"]}


@pytest.fixture
def render_pg(tmp_path: Path, pg_db: str, llm) -> Iterator[LocalRender]:
    env = app_env(tmp_path, llm, database_url=pg_db)
    del env["RENDER_GIT_COMMIT"]  # the local Render sets it
    with LocalRender(tmp_path / "render", env=env) as render:
        yield render


@pytest.mark.slow
def test_pushes_deploy_a_syntax_error_fails_the_build_and_a_rollback_serves_the_old_commit(
        render_pg: LocalRender, tmp_path: Path, llm) -> None:
    render, since = render_pg, datetime.now(UTC) - timedelta(seconds=5)
    work = tmp_path / "work"
    first = seed_app_repo(work, render.remote)
    render.wait_idle(WAIT)
    assert render.live_commit() == first, render.log_text()
    got = health(render)
    assert got["deployment"]["git_commit_full"] == first and got["database"]["type"] == "postgresql"
    api = api_of(render)
    (only,) = list(api.iter_deploys())
    assert (only["commit"]["id"], only["status"], only["trigger"]) == (first, "live", "new_commit")
    assert only["commit"]["message"] == "The Mosaic example app" and api.autodeploy_enabled()

    second = push(work, "\n# a second release\n", "Second release")
    render.wait_idle(WAIT)
    assert health(render)["deployment"]["git_commit_full"] == second
    assert [(d["commit"]["id"], d["status"]) for d in api.iter_deploys(page_size=1)] == [
        (second, "live"), (first, "deactivated")]

    broken = push(work, "\ndef broken(:\n", "Broken release")
    render.wait_idle(WAIT)
    assert [d["status"] for d in render.deploys()] == ["build_failed", "live", "deactivated"]
    assert render.live_commit() == second and health(render)["deployment"]["git_commit_full"] == second
    build = [e["message"] for e in entries(render, since) if labels(e)["type"] == "build"
             and labels(e)["instance"] == render.deploys()[0]["id"]]
    assert f"==> Checking out commit {broken} in branch main" in build
    assert any("SyntaxError" in line for line in build), build
    assert build[-3:-1] == ["==> Exited with status 1 while building your code.", "==> Build failed 😞"]

    first_deploy = api.find_deploy_of(first)
    assert first_deploy is not None and first_deploy["status"] == "deactivated"
    rolled = api.rollback_to_deploy(first_deploy["id"])
    render.wait_idle(WAIT)
    assert health(render)["deployment"]["git_commit_full"] == first
    assert api.get_deploy(rolled["id"])["status"] == "live" and rolled["trigger"] == "rollback"
    assert render.live_commit() == first and api.autodeploy_enabled()  # an API rollback leaves autodeploy on

    # the app's own output: a failover logs a traceback, which comes back whole through the API
    llm.set_failure("openai", "rate_limit")
    ask = httpx.post(render.app_url + "/wimd/ask", json={"prompt": "I feel stuck in my career"}, timeout=60,
                     trust_env=False)
    assert ask.status_code == 200 and ask.json()["provider"] == "anthropic"
    deadline = time.monotonic() + WAIT  # the app's lines are read as it writes them: wait for its request line
    while True:
        logs = entries(render, since)
        if any('"route":"/wimd/ask"' in e["message"] for e in logs):
            break
        assert time.monotonic() < deadline, render.log_text()
        time.sleep(0.2)
    failover = next(i for i, e in enumerate(logs) if "[FAILOVER] openai call failed" in e["message"])
    instance = labels(logs[failover])["instance"]
    tail = [e["message"] for e in logs[failover:] if labels(e)["instance"] == instance]
    assert tail[1] == "Traceback (most recent call last):", "\n".join(tail)
    assert any(m.startswith("openai.RateLimitError: Error code: 429") for m in tail), "\n".join(tail)
    assert len({labels(e)["instance"] for e in logs if labels(e)["type"] == "app"}) == 3  # one per app started

    env = {k: v for k, v in os.environ.items() if not k.startswith(("MOSAIC_DIAG_", "RENDER_"))}
    env |= {"RENDER_API_KEY": render.api_key, "RENDER_SERVICE_ID": render.service_id,
            "MOSAIC_DIAG_RENDER_API_URL": render.base_url}
    triage = subprocess.run([sys.executable, "-m", "mosaic_diag", "triage", "--render", "--since", "30m",
                             "--format", "json", "--no-playbooks"], cwd=tmp_path, env=env, capture_output=True,
                            text=True, timeout=120)
    assert triage.returncode == 1, triage.stderr
    found = {e["label"] for e in json.loads(triage.stdout)["events"]}
    assert {"OPENAI_RATE_LIMIT", "RENDER_DEPLOY_FAILED"} <= found, found


@pytest.mark.slow
def test_autodeploy_api_deploys_a_crashing_app_and_the_api_down(tmp_path: Path) -> None:
    env = app_env(tmp_path)
    del env["RENDER_GIT_COMMIT"]
    work = tmp_path / "work"
    with LocalRender(tmp_path / "render", env=env, autodeploy=False, service_id="srv-other0002",
                     start_timeout=90) as render:
        api = api_of(render)
        first = seed_app_repo(work, render.remote)
        render.wait_idle(WAIT)
        assert render.deploys() == [] and not api.autodeploy_enabled()  # the push was heard: nothing deployed

        created = api.deploy_commit(first)
        assert created["trigger"] == "api"
        render.wait_idle(WAIT)
        assert render.live_commit() == first and health(render)["deployment"]["git_commit_full"] == first
        api.set_autodeploy(True)

        # an app that dies at startup: update_failed, and the previous deploy serves again
        main_py = (work / "examples/mosaic_app/main.py").read_text(encoding="utf-8")
        crash = push(work, '\nraise RuntimeError("release 2 cannot start")\n', "Crash at import")
        render.wait_idle(WAIT)
        assert [(d["commit"]["id"], d["status"]) for d in render.deploys()] == [(crash, "update_failed"),
                                                                                 (first, "live")]
        assert health(render)["deployment"]["git_commit_full"] == first
        text = render.log_text()
        assert "RuntimeError: release 2 cannot start" in text and "while running your code." in text

        render.fail_next_build("ERROR: the build machine is out of disk")
        told = push(work, main_py, "Told to fail (the crash undone)", replace=True)
        render.wait_idle(WAIT)
        assert render.deploys()[0]["commit"]["id"] == told and render.deploys()[0]["status"] == "build_failed"
        lines = render.log_text().splitlines()
        assert any(line.endswith("] ERROR: the build machine is out of disk") for line in lines)

        render.set_api_down(True)
        for path in (f"/v1/services/{render.service_id}", f"/v1/logs?resource={render.service_id}"):
            r = httpx.get(render.base_url + path, headers={"Authorization": f"Bearer {render.api_key}"},
                          trust_env=False)
            assert r.status_code == 503
        with pytest.raises(UnreachableError):
            api.get_service()
        later = push(work, "\n# pushed while the API is down\n", "During the outage")
        render.wait_idle(WAIT)
        assert render.live_commit() == later and health(render)["deployment"]["git_commit_full"] == later
        render.set_api_down(False)
        assert next(api.iter_deploys())["commit"]["id"] == later
        assert httpx.get(render.base_url + f"/v1/services/{render.service_id}", trust_env=False).status_code == 401
