"""The playbook `rollback` action hands over to the rollback planner: a plan, never a push.

Real git: a bare deploy remote and a clone with commits (tests/test_manifest_support.py), deploys
recorded with `mosaic-diag manifest record` (in the file store, or in PostgreSQL when DATABASE_URL
is set), and a loopback webhook for `alert_ops`. The remote is compared with `git ls-remote`
before and after: a playbook plans a rollback, it never performs one.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from examples.loopback import SERVE
from tests.cli_inproc import run_cli
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
    threading.Thread(target=server.serve_forever, kwargs=SERVE, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/hook", posts
    server.shutdown()


def run(cwd, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith(("MOSAIC_DIAG_", "DATABASE_URL", "RENDER_"))}
    return run_cli(args, cwd=cwd, env={**base, **env}, replace_env=True)  # (in this process: tests/cli_inproc.py)


def test_rollback_action_plans_and_never_pushes(repo, tmp_path, webhook):
    url, posts = webhook
    c = repo.commits
    for sha in (c["c4"], c["c5"]):
        assert run(repo.work, "manifest", "record", sha).returncode == 0
    incident = tmp_path / "incident.json"
    incident.write_text(json.dumps({"label": "RENDER_RESTART_LOOP", "count": 2, "starts": 6, "stage": "runtime"}))
    remote_before = git(repo.remote, "ls-remote", str(repo.remote))
    assert c["c5"] in remote_before

    r = run(repo.work, "playbook", "run", "--context", str(incident), "--dry-run", "--format", "json")
    assert r.returncode == 0, r.stderr
    plan = json.loads(r.stdout)
    step = next(a for a in plan["actions"] if a["action"] == "rollback")
    assert step["would_run"] and step["reason"] == "starts 6 >= 6"
    assert "--previous --strategy revert" in step["description"]
    # the deploys gatherer read the same store: the dry run names where the rollback would go
    assert f"plan a rollback to {c['c4'][:8]} (the previous good deploy, recorded " in step["description"]
    assert plan["executed"] == [] and posts == []
    assert git(repo.remote, "ls-remote", str(repo.remote)) == remote_before
    assert not (repo.work / ".mosaic-diag" / "audit.log").exists()

    r = run(repo.work, "playbook", "run", "--context", str(incident), "--execute", "--yes", "--format", "json",
            MOSAIC_DIAG_WEBHOOK_URL=url)
    assert r.returncode == 0, r.stdout + r.stderr
    executed = {o["action"]: o for o in json.loads(r.stdout)["executed"]}
    assert executed["rollback"]["ok"], executed["rollback"]
    detail = executed["rollback"]["detail"]
    assert "dry run; nothing changed" in detail
    assert f"deployed: origin/main at {c['c5'][:12]}" in detail
    assert f"target:   {c['c4'][:12]} (previous deploy #1" in detail  # the previous recorded good deploy
    assert "reverts the 1 commit(s)" in detail and "no force" in detail  # the revert strategy
    assert len(posts) == 1 and "restarting in a loop" in json.dumps(posts[0])
    assert git(repo.remote, "ls-remote", str(repo.remote)) == remote_before
    assert git(repo.work, "rev-parse", "HEAD") == c["c5"]  # no revert commit made locally either
    audit = [json.loads(line) for line in (repo.work / ".mosaic-diag" / "audit.log").read_text().splitlines()]
    assert [a["action"] for a in audit if a.get("playbook") == "render-restart-loop" and a["outcome"] != "intent"] == [
        "alert_ops", "open_incident", "rollback"]
    entry = audit[-1]
    assert entry["outcome"] == "ok" and entry["params"] == {"strategy": "revert"} and entry["detail"] == detail


def test_rollback_action_plans_like_the_rollback_command(repo, tmp_path, pg_db):
    """Deploys recorded in PostgreSQL (DATABASE_URL) and a configured deploy branch are honoured."""
    c = repo.commits
    git(repo.work, "push", "-q", "origin", f"{c['c3']}:refs/heads/production")
    env = {"DATABASE_URL": pg_db, "MOSAIC_DIAG_ROLLBACK_BRANCH": "production"}
    for sha in (c["c2"], c["c3"]):
        r = run(repo.work, "manifest", "record", sha, **env)
        assert r.returncode == 0 and "in postgresql table" in r.stdout, r.stdout + r.stderr
    assert not (repo.work / ".mosaic-diag" / "deploys.jsonl").exists()
    incident = tmp_path / "incident.json"
    incident.write_text(json.dumps({"label": "RENDER_RESTART_LOOP", "count": 3, "starts": 9}))
    remote_before = git(repo.remote, "ls-remote", str(repo.remote))

    dry = run(repo.work, "playbook", "run", "--context", str(incident), "--dry-run", "--format", "json", **env)
    assert dry.returncode == 0, dry.stderr
    plan = json.loads(dry.stdout)
    step = next(a for a in plan["actions"] if a["action"] == "rollback")
    assert f"plan a rollback to {c['c2'][:8]} (the previous good deploy" in step["description"]
    assert pg_db.split("@")[0].split(":")[-1] not in dry.stdout  # the DSN's password is never shown

    r = run(repo.work, "playbook", "run", "--context", str(incident), "--execute", "--yes", "--no-gather",
            "--format", "json", **env)
    executed = {o["action"]: o for o in json.loads(r.stdout)["executed"]}
    detail = executed["rollback"]["detail"]
    assert executed["rollback"]["ok"], detail
    assert f"deployed: origin/production at {c['c3'][:12]}" in detail
    assert f"target:   {c['c2'][:12]} (previous deploy #1" in detail
    cmd = run(repo.work, "rollback", "--previous", "--dry-run", "--format", "json", **env)
    assert cmd.returncode == 0, cmd.stdout + cmd.stderr
    planned = json.loads(cmd.stdout)["plan"]
    assert (planned["branch"], planned["deployed"], planned["target"]) == ("production", c["c3"], c["c2"])
    assert git(repo.remote, "ls-remote", str(repo.remote)) == remote_before


def test_rollback_action_outside_a_git_repository(tmp_path):
    incident = tmp_path / "incident.json"
    incident.write_text(json.dumps({"label": "RENDER_RESTART_LOOP", "count": 4, "starts": 12}))
    r = run(tmp_path, "playbook", "run", "--context", str(incident), "--execute", "--yes", "--no-gather",
            "--format", "json")
    assert "Traceback" not in r.stderr
    executed = {o["action"]: o for o in json.loads(r.stdout)["executed"]}
    assert executed["rollback"] == {**executed["rollback"], "ok": False,
                                    "detail": f"rollback plan failed: not a git repository: {tmp_path}"}
    assert r.returncode == 1


def test_rollback_description_names_the_target_only_when_the_facts_carry_it(tmp_path):
    from mosaic_diag.playbooks import PlaybookSettings
    from mosaic_diag.playbooks.actions import describe
    from mosaic_diag.playbooks.conditions import parse
    from mosaic_diag.playbooks.model import Remedy

    step = Remedy("rollback", parse("always", lambda name: True), {"strategy": "reset"})
    settings = PlaybookSettings(root=tmp_path)
    sha = "1a2b3c4d5e6f708192a3b4c5d6e7f8091a2b3c4d"
    named = describe(step, {"deploys.previous_commit": sha, "deploys.previous_at": "2026-11-27T14:02:00+00:00"},
                     settings, "always")
    assert named.summary.startswith("plan a rollback to 1a2b3c4d (the previous good deploy, recorded "
                                    "2026-11-27T14:02:00+00:00) (dry run only; to act: "
                                    "`mosaic-diag rollback --previous --strategy reset`)")
    assert named.payload["target_commit"] == sha
    plain = describe(step, {"deploys.count": 0, "deploys.source": "git"}, settings, "always")
    assert plain.summary.startswith("plan a rollback to the previous good deploy (dry run only")
    assert "target_commit" not in plain.payload


def test_a_malformed_database_url_never_shows_its_password(repo, tmp_path):
    """libpq quotes a malformed DSN in its error: the gatherer, the dry run and `rollback` mask it."""
    secret = "pa55-w0rd-never-shown"
    env = {"DATABASE_URL": f"postgres//mosaic:{secret}@127.0.0.1:5432/mosaic"}  # the scheme's ':' forgotten
    incident = tmp_path / "incident.json"
    incident.write_text(json.dumps({"label": "RENDER_RESTART_LOOP", "count": 3, "starts": 9}))

    dry = run(repo.work, "playbook", "run", "--context", str(incident), "--dry-run", "--format", "json", **env)
    assert dry.returncode == 0, dry.stderr
    assert secret not in dry.stdout + dry.stderr and "Traceback" not in dry.stderr
    plan = json.loads(dry.stdout)
    deploys = next(g for g in plan["gathered"] if g["gatherer"] == "deploys")
    assert deploys["ok"] is False
    assert deploys["error"].startswith("deploy store: not a valid PostgreSQL connection string (DATABASE_URL)")
    assert "mosaic:***@127.0.0.1" in deploys["error"]
    step = next(a for a in plan["actions"] if a["action"] == "rollback")
    assert step["description"].startswith("plan a rollback to the previous good deploy (dry run only")

    cmd = run(repo.work, "rollback", "--previous", "--dry-run", **env)
    assert cmd.returncode == 2, cmd.stdout + cmd.stderr
    assert secret not in cmd.stdout + cmd.stderr and "Traceback" not in cmd.stderr
    assert "not a valid PostgreSQL connection string" in cmd.stderr


def incident_in(repo, tmp_path):
    for sha in (repo.commits["c4"], repo.commits["c5"]):
        assert run(repo.work, "manifest", "record", sha).returncode == 0
    incident = tmp_path / "incident.json"
    incident.write_text(json.dumps({"label": "RENDER_RESTART_LOOP", "count": 2, "starts": 6, "stage": "runtime"}))
    return incident


def test_rollback_action_plans_from_the_top_level_of_a_subdirectory(repo, tmp_path):
    incident = incident_in(repo, tmp_path)
    r = run(repo.work / "prompts", "playbook", "run", "--context", str(incident), "--execute", "--yes",
            "--format", "json")
    executed = {o["action"]: o for o in json.loads(r.stdout)["executed"]}
    assert executed["rollback"]["ok"] and f"target:   {repo.commits['c4'][:12]}" in executed["rollback"]["detail"]
    assert not (repo.work / "prompts" / ".mosaic-diag").exists()


def test_rollback_action_refuses_an_injected_remote(repo, tmp_path):
    incident = incident_in(repo, tmp_path)
    r = run(repo.work, "playbook", "run", "--context", str(incident), "--execute", "--yes", "--format", "json",
            MOSAIC_DIAG_ROLLBACK_REMOTE="--upload-pack=touch pwned;")
    executed = {o["action"]: o for o in json.loads(r.stdout)["executed"]}
    assert not executed["rollback"]["ok"] and "invalid git remote" in executed["rollback"]["detail"]
    assert not (repo.work / "pwned").exists()
    assert git(repo.remote, "rev-parse", "refs/heads/main") == repo.commits["c5"]


CRASHING_APP = '''\
import os
from contextlib import asynccontextmanager

from fastapi import FastAPI


@asynccontextmanager
async def lifespan(app: FastAPI):
    app.state.database_url = os.environ["DATABASE_URL"]
    yield


app = FastAPI(lifespan=lifespan)
'''


@pytest.fixture(scope="module")
def crash_runs(tmp_path_factory) -> list[bytes]:
    """What uvicorn wrote in six runs of an app whose startup fails (DATABASE_URL unset): a crash loop."""
    work = tmp_path_factory.mktemp("crashloop")
    (work / "crashing.py").write_text(CRASHING_APP)
    env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
    runs = []
    for _ in range(6):
        r = subprocess.run([sys.executable, "-m", "uvicorn", "crashing:app", "--port", "0"], cwd=work, env=env,
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=60)
        assert r.returncode == 3 and b"Started server process [" in r.stdout, r.stdout
        assert b"KeyError: 'DATABASE_URL'" in r.stdout and b"Application startup failed. Exiting." in r.stdout
        runs.append(r.stdout)
    return runs


@pytest.mark.parametrize(("runs", "count", "rolls_back"), [(3, 1, False), (5, 1, False), (6, 2, True)])
def test_a_real_crash_loop_rolls_back_when_it_goes_on(tmp_path, crash_runs, runs, count, rolls_back):
    """A loop first seen (3 starts, or 5: one loop and a partial one) alerts and opens an incident; the
    rollback is planned once the loop went on (a second loop: 6 starts), in triage's plan and in `playbook run`."""
    log = tmp_path / "render.log"
    log.write_bytes(b"".join(crash_runs[:runs]))
    r = run(tmp_path, "triage", str(log), "--format", "json")
    assert r.returncode == 1, r.stderr
    [group] = [g for g in json.loads(r.stdout)["groups"] if g["label"] == "RENDER_RESTART_LOOP"]
    starts = 3 * count
    assert (group["count"], group["starts"]) == (count, starts)
    planned = {a["action"]: a for a in group["plan"]["actions"]}
    assert planned["rollback"]["would_run"] is rolls_back
    assert planned["rollback"]["reason"] == (f"starts {starts} >= 6" if rolls_back else f"not: starts {starts} < 6")
    assert planned["open_incident"]["would_run"] and planned["alert_ops"]["would_run"]

    incident = tmp_path / "incident.json"
    incident.write_text(json.dumps({"label": group["label"], "count": group["count"], "starts": group["starts"],
                                    "stage": "runtime"}))
    r = run(tmp_path, "playbook", "run", "--context", str(incident), "--dry-run", "--no-gather", "--format", "json")
    assert r.returncode == 0, r.stderr
    step = next(a for a in json.loads(r.stdout)["actions"] if a["action"] == "rollback")
    assert step["would_run"] is rolls_back and step["reason"] == planned["rollback"]["reason"]
    assert step["description"].startswith("plan a rollback to the previous good deploy (dry run only")


def test_an_incident_context_starts_must_be_a_number(tmp_path):
    incident = tmp_path / "incident.json"
    incident.write_text(json.dumps({"label": "RENDER_RESTART_LOOP", "starts": "six"}))
    r = run(tmp_path, "playbook", "run", "--context", str(incident), "--dry-run", "--no-gather")
    assert r.returncode == 2 and "starts must be a number, got 'six'" in r.stderr, r.stdout + r.stderr
