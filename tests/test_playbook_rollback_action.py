"""The playbook `rollback` action hands over to the rollback planner: a plan, never a push.

Real git: a bare deploy remote and a clone with commits (tests/test_manifest_support.py), deploys
recorded with `mosaic-diag manifest record`, and a loopback webhook for `alert_ops`.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from tests.test_manifest_support import deploy_repo, git, set_git_env


@pytest.fixture
def repo(tmp_path, monkeypatch):
    set_git_env(monkeypatch)
    return deploy_repo(tmp_path)


@pytest.fixture
def webhook():
    posts: list[dict] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802 - http.server's name
            posts.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
            self.send_response(200)
            self.end_headers()

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/hook", posts
    server.shutdown()


def run(cwd, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith(("MOSAIC_DIAG_", "DATABASE_URL"))}
    return subprocess.run([sys.executable, "-m", "mosaic_diag", *args], cwd=cwd, env={**base, **env},
                          capture_output=True, text=True, timeout=120)


def test_rollback_action_plans_and_never_pushes(repo, tmp_path, webhook):
    url, posts = webhook
    c = repo.commits
    for sha in (c["c4"], c["c5"]):
        assert run(repo.work, "manifest", "record", sha).returncode == 0
    incident = tmp_path / "incident.json"
    incident.write_text(json.dumps({"label": "RENDER_RESTART_LOOP", "count": 3, "stage": "runtime"}))
    remote_before = git(repo.remote, "for-each-ref")

    r = run(repo.work, "playbook", "run", "--context", str(incident), "--format", "json")
    assert r.returncode == 0, r.stderr
    plan = json.loads(r.stdout)
    step = next(a for a in plan["actions"] if a["action"] == "rollback")
    assert step["would_run"] and step["reason"] == "count 3 >= 3"
    assert "--previous --strategy revert" in step["description"]
    assert plan["executed"] == [] and posts == []

    r = run(repo.work, "playbook", "run", "--context", str(incident), "--execute", "--yes", "--format", "json",
            MOSAIC_DIAG_WEBHOOK_URL=url)
    assert r.returncode == 0, r.stdout + r.stderr
    executed = {o["action"]: o for o in json.loads(r.stdout)["executed"]}
    assert executed["rollback"]["ok"], executed["rollback"]
    assert "dry run; nothing changed" in executed["rollback"]["detail"]
    assert c["c4"][:7] in executed["rollback"]["detail"]  # the previous recorded good deploy
    assert len(posts) == 1 and "restarting in a loop" in json.dumps(posts[0])
    assert git(repo.remote, "for-each-ref") == remote_before
    audit = [json.loads(line) for line in (repo.work / ".mosaic-diag" / "audit.log").read_text().splitlines()]
    assert [a["action"] for a in audit if a.get("playbook") == "render-restart-loop"] == [
        "alert_ops", "open_incident", "rollback"]


def test_rollback_action_outside_a_git_repository(tmp_path):
    incident = tmp_path / "incident.json"
    incident.write_text(json.dumps({"label": "RENDER_RESTART_LOOP", "count": 5}))
    r = run(tmp_path, "playbook", "run", "--context", str(incident), "--execute", "--yes", "--no-gather",
            "--format", "json")
    assert "Traceback" not in r.stderr
    executed = {o["action"]: o for o in json.loads(r.stdout)["executed"]}
    assert executed["rollback"]["ok"] is False and "rollback plan failed" in executed["rollback"]["detail"]
    assert r.returncode == 1
