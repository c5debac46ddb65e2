"""A loopback Render: a bare git remote whose pushes deploy the example app, and one HTTP API server.

    with LocalRender(tmp_path / "render", env=app_env) as render:
        sha = seed_app_repo(tmp_path / "work", render.remote)   # push -> a deploy ("new_commit")
        render.wait_idle()
        render.live_commit() == sha        # httpx.get(render.app_url + "/health") reports it too
        ... RenderTarget(render.base_url, render.service_id, render.api_key) ...
        ... RenderSettings(api_url=render.base_url, service_id=..., owner_id=..., api_key=...) ...

What it does, as Render does it:

- `remote` is a bare repository; its post-receive hook tells the server about each push (a private
  path and a token, nothing of the ref names reaches a shell) and returns at once. A push to
  `branch`, while autodeploy is "yes", creates a deploy (trigger "new_commit", status "created"
  before the push returns); the deploys run one after another in a background thread.
- A deploy builds: `git archive` of the commit into `workdir/builds/<deploy id>`, then
  `python -m compileall -q .` there (a syntax error is a real build failure) and the
  `fail_next_build()` switch; the build's lines are log entries of type "build" (instance = the
  deploy id), a failed build ends with `==> Exited with status 1 while building your code.` and
  `==> Build failed 😞`, status `build_failed`, and the live deploy goes on serving.
- Then `update_in_progress`: the running app gets SIGTERM, the new one starts under uvicorn on the
  fixed `app_url` port, cwd and first PYTHONPATH entry the build directory, env = `env` (plus PATH,
  HOME, LANG, TMPDIR of this process, and this process's PYTHONPATH after the build directory so
  `mosaic_diag` imports) + `RENDER_GIT_COMMIT` (full sha), `RENDER_SERVICE_ID`, `RENDER=true`,
  `PORT`, `PYTHONUNBUFFERED=1` unless `env` sets it. `health_path` answering 200 within
  `start_timeout` makes it `live` (the previous live one `deactivated`); an app that exits or never
  gets healthy is `update_failed`, after the previous live deploy's build was started again (the
  status changes only once it serves).
- Every line the app prints (stdout and stderr, one pipe) is a log entry (type "app", instance one
  id per process, timestamp when read); Render's own `==> ...` lines of a deploy go with them.
- One API server at `base_url`: `/v1/services/{id}[/deploys[/{id}[/cancel]]|/rollback]` answered
  by a `RenderStandIn` (auth, paging, `fail()` switches, `requests` log) whose API deploys and
  rollbacks run here for real (trigger "api" / "rollback"; a rollback reuses the target deploy's
  build, as Render reuses its artifact; neither turns autodeploy off), and `/v1/logs` answered by a
  `RenderLogsStandIn` over the entries above (an `ownerId` other than `owner_id` is a 400).
  `set_api_down(True)` makes every API request a 503; pushes still deploy.

Timestamps (deploys, logs) are real UTC times, so a client can ask for the logs since a deploy.
Beyond the contract: `api` is the RenderStandIn (its `fail()` switches and `requests` log work as
usual), `logs` the RenderLogsStandIn (`fail_next()`, `requests`), `app_port` the app's port.
Not modelled: a live app that exits on its own is not restarted, and deploys asked for while one
runs wait their turn (none is superseded).
"""

from __future__ import annotations

import copy
import itertools
import json
import os
import queue
import re
import secrets
import shutil
import signal
import subprocess
import sys
import tarfile
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler
from io import BytesIO
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from examples.loopback import QuietServer
from examples.render_logs_standin import RenderLogsStandIn, level_of
from examples.render_standin import HANG_UP, RenderStandIn

UNFINISHED = ("created", "build_in_progress", "update_in_progress")
PUSH_PATH = "/__local_render/push"  # the hook's private path (never under /v1)
ROOT = Path(__file__).resolve().parent.parent
_SHA = re.compile(r"^[0-9a-f]{40}$")
_ZERO = "0" * 40
AUTHOR = {"GIT_AUTHOR_NAME": "Local Render", "GIT_AUTHOR_EMAIL": "local-render@example.invalid",
          "GIT_COMMITTER_NAME": "Local Render", "GIT_COMMITTER_EMAIL": "local-render@example.invalid",
          "GIT_AUTHOR_DATE": "2026-01-01T12:00:00+00:00", "GIT_COMMITTER_DATE": "2026-01-01T12:00:00+00:00"}
_HOOK = '''"""post-receive: tell the local Render about the push (one JSON POST), then return."""
import json, sys, urllib.request
URL = {url!r}
TOKEN = {token!r}
updates = []
for line in sys.stdin:
    parts = line.split()
    if len(parts) == 3:
        updates.append({{"old": parts[0], "new": parts[1], "ref": parts[2]}})
request = urllib.request.Request(URL, data=json.dumps(updates).encode(), method="POST",
                                 headers={{"Content-Type": "application/json", "X-Local-Render-Token": TOKEN}})
try:
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({{}}))
    with opener.open(request, timeout=30) as answer:
        for deploy in json.loads(answer.read() or b"{{}}").get("deploys", []):
            print("local render: deploy " + deploy + " started")
except Exception as exc:
    print("local render: the service did not hear of this push (" + str(exc) + "); nothing deployed",
          file=sys.stderr)
'''


def _utcnow() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def git_env() -> dict[str, str]:
    """This process's env without GIT_* variables or the user's git config (nothing of it leaks in)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
    return env | {"GIT_CONFIG_NOSYSTEM": "1", "GIT_CONFIG_GLOBAL": os.devnull, "GIT_TERMINAL_PROMPT": "0"}


def _git(*args: str, cwd: Path | None = None, env: Mapping[str, str] | None = None,
         check: bool = True, timeout: float = 60) -> subprocess.CompletedProcess[bytes]:
    done = subprocess.run(["git", *args], cwd=cwd, env={**git_env(), **(env or {})}, capture_output=True,
                          timeout=timeout)
    if check and done.returncode != 0:
        raise RuntimeError(f"git {' '.join(args[:2])} failed: {done.stderr.decode('utf-8', 'replace').strip()}")
    return done


def _check_branch(branch: str) -> str:
    if _git("check-ref-format", "--branch", branch, check=False).returncode != 0 or branch.startswith("-"):
        raise ValueError(f"not a branch name: {branch!r}")
    return branch


@dataclass
class _App:
    """One app process: its instance id, deploy, reader thread."""

    proc: subprocess.Popen[bytes]
    instance: str
    deploy_id: str
    reader: threading.Thread


@dataclass
class _Job:
    deploy_id: str
    commit: str
    artifact: Path | None = None  # a rollback reuses this build


@dataclass
class _Switches:
    fail_build: list[str] = field(default_factory=list)


class _DeployApi(RenderStandIn):
    """RenderStandIn whose API-created deploys (api, rollback) are handed to the LocalRender."""

    def __init__(self, owner: LocalRender, **kw: Any) -> None:
        super().__init__(**kw)
        self.owner = owner
        self._rollback_of: Any = None  # the deployId of the rollback being answered (under the lock)

    def _now(self) -> str:
        return _utcnow()

    def _service(self) -> dict[str, Any]:
        return {"id": self.service_id, "name": "local-render", "type": "web_service", "ownerId": self.owner.owner_id,
                "autoDeploy": "yes" if self.autodeploy else "no", "branch": self.owner.branch,
                "repo": str(self.owner.remote), "serviceDetails": {"url": self.owner.app_url}}

    def _route(self, method: str, path: str, query: dict[str, list[str]], auth: str | None,
               body: Any) -> tuple[int, Any]:
        rest = path[len(f"/v1/services/{self.service_id}"):]
        self._rollback_of = body.get("deployId") if rest == "/rollback" and isinstance(body, dict) else None
        if (rest == "/deploys" and method == "POST" and auth == f"Bearer {self.api_key}"
                and (body is None or (isinstance(body, dict) and not body.get("commitId")))):
            head = self.owner._branch_head()  # Render deploys the branch's latest commit
            if head:
                body = {**(body or {}), "commitId": head}
        return super()._route(method, path, query, auth, body)

    def _created(self, commit: str, trigger: str, message: str = "") -> dict[str, Any]:
        # a rollback reuses the build of the deploy it returns to, as Render reuses its artifact
        artifact = self.owner._artifact(str(self._rollback_of)) if trigger == "rollback" else None
        deploy = super()._created(commit, trigger, message or self.owner._message(commit))
        self.owner._enqueue(_Job(deploy["id"], commit, artifact))
        return deploy


class LocalRender:
    """A loopback Render: a bare git remote whose pushes deploy the example app, and one HTTP API server."""

    def __init__(self, workdir: Path, *, env: Mapping[str, str], branch: str = "main",
                 service_id: str = "srv-local0001", api_key: str = "rnd_localkey0123456789abcdef",
                 owner_id: str = "tea-local0001", autodeploy: bool = True,
                 app: str = "examples.mosaic_app.main:app", health_path: str = "/health",
                 start_timeout: float = 60.0) -> None:
        self.workdir = Path(workdir)
        self.env = dict(env)
        self.branch = _check_branch(branch)
        self.service_id = service_id
        self.api_key = api_key
        self.owner_id = owner_id
        self.app = app
        self.health_path = health_path
        self.start_timeout = start_timeout
        self.remote = self.workdir / "remote.git"
        self.builds = self.workdir / "builds"
        self.app_port = _free_port()
        self.app_url = f"http://127.0.0.1:{self.app_port}"
        self.base_url = ""
        self.api = _DeployApi(self, service_id=service_id, api_key=api_key, autodeploy=autodeploy)
        self.logs = RenderLogsStandIn(key=api_key)
        self._token = secrets.token_urlsafe(24)
        self._lock = threading.Lock()  # the fields below, and the order of log entries
        self._down = False
        self._switches = _Switches()
        self._jobs: queue.Queue[_Job | None] = queue.Queue()
        self._unfinished = 0  # jobs queued or running
        self._stopping = threading.Event()
        self._app: _App | None = None
        self._readers: list[threading.Thread] = []
        self._instances = itertools.count(1)
        self._last_log = ""
        self._server: QuietServer | None = None
        self._worker: threading.Thread | None = None

    # -- lifecycle -----------------------------------------------------------------------------

    def start(self) -> LocalRender:
        """Create the bare remote with its hook, start the API server and the deploy worker."""
        self.builds.mkdir(parents=True, exist_ok=True)
        if not self.remote.exists():
            _git("init", "--bare", "-q", "-b", self.branch, str(self.remote))
        self._server = QuietServer.start_on_loopback(self._handler())
        self.base_url = self._server.url
        self._write_hook()
        self._worker = threading.Thread(target=self._work, name="local-render-deploys", daemon=True)
        self._worker.start()
        return self

    def stop(self) -> None:
        """Stop the deploys, the app process (SIGTERM, then kill) and the server; join every thread."""
        self._stopping.set()
        if self._worker is not None:
            self._jobs.put(None)
            self._worker.join(timeout=60)
            self._worker = None
        with self._lock:
            app, self._app = self._app, None
        if app is not None:
            self._terminate(app)
        for reader in self._readers:
            reader.join(timeout=10)
        if self._server is not None:
            self._server.stop()
            self._server = None

    def __enter__(self) -> LocalRender:
        return self.start() if self._server is None else self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- what tests read and switch --------------------------------------------------------------

    def deploys(self) -> list[dict[str, Any]]:
        """Every deploy, newest first, as the API lists them."""
        with self.api._lock:
            return copy.deepcopy(self.api.deploys)

    def live_commit(self) -> str | None:
        """The commit of the live deploy (None before one went live)."""
        return next((d["commit"]["id"] for d in self.deploys() if d["status"] == "live"), None)

    def wait_idle(self, timeout: float = 120) -> None:
        """Wait until every deploy asked for is finished (TimeoutError after `timeout` seconds)."""
        deadline = time.monotonic() + timeout
        while True:
            with self._lock:
                busy = self._unfinished
            if not busy and not any(d["status"] in UNFINISHED for d in self.deploys()):
                return
            if time.monotonic() > deadline:
                raise TimeoutError(f"local Render still deploying after {timeout:g}s: "
                                   f"{[(d['id'], d['status']) for d in self.deploys()[:3]]}\n{self.log_text()[-4000:]}")
            time.sleep(0.05)

    def fail_next_build(self, reason: str = "ERROR: the build was told to fail (LocalRender.fail_next_build)") -> None:
        """The next build fails (build_failed); its build log ends with `reason` and Render's lines."""
        with self._lock:
            self._switches.fail_build.append(reason)

    def set_api_down(self, down: bool) -> None:
        """While down, every API request (services, deploys, logs) answers 503; pushes still deploy."""
        with self._lock:
            self._down = down

    def log_text(self) -> str:
        """Every log entry so far (what /v1/logs serves), one line each: time, type, instance, message."""
        with self.logs._lock:
            entries = list(self.logs.entries)
        out = []
        for e in entries:
            labels = {lab["name"]: lab["value"] for lab in e["labels"]}
            out.append(f"{e['timestamp']} [{labels.get('type')} {labels.get('instance')}] {e['message']}")
        return "\n".join(out)

    # -- logs ------------------------------------------------------------------------------------

    def _log(self, instance: str, message: str, *, kind: str = "app", level: str | None = None) -> None:
        with self._lock:  # one clock for every writer: entries of one stream stay in order
            now = max(_utcnow(), self._last_log)
            self._last_log = now
            self.logs.add_entry(self.service_id, instance, datetime.fromisoformat(now.replace("Z", "+00:00")),
                                message, level=level or level_of(message), kind=kind)

    def _read_output(self, proc: subprocess.Popen[bytes], instance: str) -> None:
        assert proc.stdout is not None
        for raw in iter(proc.stdout.readline, b""):
            self._log(instance, raw.decode("utf-8", "replace").rstrip("\r\n"))
        proc.stdout.close()

    # -- git -------------------------------------------------------------------------------------

    def _write_hook(self) -> None:
        hooks = self.remote / "hooks"
        hooks.mkdir(exist_ok=True)
        script = hooks / "local_render_post_receive.py"
        script.write_text(_HOOK.format(url=self.base_url + PUSH_PATH, token=self._token), encoding="utf-8")
        hook = hooks / "post-receive"
        import shlex

        hook.write_text(f"#!/bin/sh\nexec {shlex.quote(sys.executable)} -I {shlex.quote(str(script))}\n",
                        encoding="utf-8")
        hook.chmod(0o755)

    def _message(self, commit: str) -> str:
        if not _SHA.match(commit):
            return ""
        done = _git("-C", str(self.remote), "log", "-1", "--format=%B", "--end-of-options", commit, check=False)
        return done.stdout.decode("utf-8", "replace").strip() if done.returncode == 0 else ""

    def _branch_head(self) -> str | None:
        done = _git("-C", str(self.remote), "rev-parse", "--verify", "-q", "--end-of-options",
                    f"refs/heads/{self.branch}", check=False)
        return done.stdout.decode().strip() if done.returncode == 0 else None

    def _on_push(self, updates: Any) -> list[str]:
        """The hook's report: deploy a push to the branch while autodeploy is on (ids of the deploys)."""
        started = []
        for u in updates if isinstance(updates, list) else []:
            if not isinstance(u, dict) or u.get("ref") != f"refs/heads/{self.branch}":
                continue
            new = str(u.get("new", ""))
            if not _SHA.match(new) or new == _ZERO:
                continue  # a deleted branch deploys nothing
            message = self._message(new)
            with self.api._lock:
                if not self.api.autodeploy:
                    continue
                deploy = self.api._new_deploy(new, "created", "new_commit", message)
            self._enqueue(_Job(deploy["id"], new))
            started.append(deploy["id"])
        return started

    # -- deploys ---------------------------------------------------------------------------------

    def _enqueue(self, job: _Job) -> None:
        with self._lock:
            self._unfinished += 1
        self._jobs.put(job)

    def _artifact(self, deploy_id: str) -> Path | None:
        path = self.builds / deploy_id
        return path if (path / ".built").exists() else None

    def _status(self, deploy_id: str) -> str:
        with self.api._lock:
            return next(d["status"] for d in self.api.deploys if d["id"] == deploy_id)

    def _set(self, deploy_id: str, status: str) -> None:
        self.api.set_status(deploy_id, status)

    def _work(self) -> None:
        while True:
            job = self._jobs.get()
            if job is None:
                return
            try:
                if not self._stopping.is_set():
                    self._deploy(job)
            except Exception as exc:  # a bug here must not hang wait_idle: the deploy fails, visibly
                self._log(job.deploy_id, f"==> Deploy failed: LocalRender error {type(exc).__name__}: {exc}",
                          kind="build", level="error")
                if self._status(job.deploy_id) in UNFINISHED:
                    self._set(job.deploy_id, "update_failed")
            finally:
                with self._lock:
                    self._unfinished -= 1

    def _deploy(self, job: _Job) -> None:
        if self._status(job.deploy_id) == "canceled":
            return
        self._set(job.deploy_id, "build_in_progress")
        build = job.artifact
        if build is None:
            build = self._build(job)
            if build is None:
                self._set(job.deploy_id, "build_failed")
                return
        if self._status(job.deploy_id) == "canceled" or self._stopping.is_set():
            return
        self._set(job.deploy_id, "update_in_progress")
        with self.api._lock:
            previous = next((d for d in self.api.deploys if d["status"] == "live"), None)
        if self._switch(job.deploy_id, job.commit, build):
            self._set(job.deploy_id, "live")
            return
        if self._stopping.is_set():
            return
        if previous is not None and (old := self._artifact(previous["id"])) is not None:
            self._switch(previous["id"], previous["commit"]["id"], old, announce=False)
        self._set(job.deploy_id, "update_failed")

    def _build(self, job: _Job) -> Path | None:
        """Export and compile the commit; the build directory, or None when the build failed."""
        dep = job.deploy_id

        def say(line: str, level: str = "info") -> None:
            self._log(dep, line, kind="build", level=level)

        def failed(status: int = 1) -> None:
            say(f"==> Exited with status {status} while building your code.", "error")
            say("==> Build failed 😞", "error")
            say("==> Common ways to troubleshoot your deploy: https://render.com/docs/troubleshooting-deploys")

        with self._lock:
            told = self._switches.fail_build.pop(0) if self._switches.fail_build else None
        say(f"==> Cloning from {self.remote}")
        say(f"==> Checking out commit {job.commit} in branch {self.branch}")
        target = self.builds / dep
        shutil.rmtree(target, ignore_errors=True)
        target.mkdir(parents=True)
        archive = (_git("-C", str(self.remote), "archive", "--format=tar", "--end-of-options", job.commit,
                        check=False) if _SHA.match(job.commit) else None)
        if archive is None or archive.returncode != 0:
            why = archive.stderr.decode("utf-8", "replace").strip() if archive is not None else "not a commit sha"
            say(f"error: could not check out commit {job.commit}: {why}", "error")
            failed(128)
            return None
        with tarfile.open(fileobj=BytesIO(archive.stdout)) as tar:
            tar.extractall(target, filter="data")
        say("==> Using Python version " + ".".join(map(str, sys.version_info[:3])))
        say("==> Running build command 'python -m compileall -q .'...")
        done = subprocess.run([sys.executable, "-m", "compileall", "-q", "."], cwd=target, capture_output=True,
                              timeout=300, env=self._proc_env(target, job.commit))
        for line in (done.stdout + done.stderr).decode("utf-8", "replace").splitlines():
            say(line)
        if done.returncode != 0:
            failed(done.returncode)
            return None
        if told is not None:
            say(told, "error")
            failed()
            return None
        (target / ".built").write_text(job.commit + "\n", encoding="utf-8")
        say("==> Uploading build...")
        say("==> Build successful 🎉")
        return target

    def _proc_env(self, build: Path, commit: str) -> dict[str, str]:
        env = {k: os.environ[k] for k in ("PATH", "HOME", "LANG", "LC_ALL", "TMPDIR", "SYSTEMROOT")
               if k in os.environ}
        env.update(self.env)
        outer = self.env.get("PYTHONPATH", os.environ.get("PYTHONPATH", ""))
        env["PYTHONPATH"] = os.pathsep.join(p for p in (str(build), outer) if p)
        env.setdefault("PYTHONUNBUFFERED", "1")
        env |= {"RENDER_GIT_COMMIT": commit, "RENDER_SERVICE_ID": self.service_id, "RENDER": "true",
                "PORT": str(self.app_port)}
        return env

    def _switch(self, deploy_id: str, commit: str, build: Path, *, announce: bool = True) -> bool:
        """Stop the running app, start `build` on the app port; True once it answers `health_path` 200."""
        instance = f"{self.service_id}-{next(self._instances):05x}"
        with self._lock:
            old, self._app = self._app, None
        if old is not None:
            self._terminate(old)
        if announce:
            self._log(instance, "==> Deploying...")
        cmd = [sys.executable, "-m", "uvicorn", self.app, "--host", "127.0.0.1", "--port", str(self.app_port),
               "--no-access-log"]
        self._log(instance, f"==> Running 'python -m uvicorn {self.app} --host 127.0.0.1 --port {self.app_port} "
                            "--no-access-log'")
        proc = subprocess.Popen(cmd, cwd=build, env=self._proc_env(build, commit), stdin=subprocess.DEVNULL,
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        reader = threading.Thread(target=self._read_output, args=(proc, instance), daemon=True,
                                  name=f"local-render-{instance}")
        reader.start()
        app = _App(proc, instance, deploy_id, reader)
        with self._lock:
            self._readers.append(reader)
            self._app = app
        healthy, why = self._wait_healthy(proc)
        if healthy:
            if announce:
                self._log(instance, "==> Your service is live 🎉")
            return True
        with self._lock:
            self._app = None
        self._terminate(app)
        self._log(instance, why, level="error")
        return False

    def _wait_healthy(self, proc: subprocess.Popen[bytes]) -> tuple[bool, str]:
        import httpx

        deadline = time.monotonic() + self.start_timeout
        with httpx.Client(timeout=5, trust_env=False) as client:
            while not self._stopping.is_set():
                if proc.poll() is not None:
                    return False, f"==> Exited with status {proc.returncode} while running your code."
                try:
                    if client.get(self.app_url + self.health_path).status_code == 200:
                        return True, ""
                except httpx.HTTPError:
                    pass
                if time.monotonic() > deadline:
                    break
                self._stopping.wait(0.05)
        return False, ("==> Timed out after waiting for internal health check to return a successful response "
                       f"code at: 127.0.0.1:{self.app_port}{self.health_path}")

    def _terminate(self, app: _App) -> None:
        if app.proc.poll() is None:
            app.proc.send_signal(signal.SIGTERM)
            try:
                app.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                app.proc.kill()
                app.proc.wait(timeout=10)
        app.reader.join(timeout=10)

    # -- HTTP --------------------------------------------------------------------------------------

    def _answer(self, method: str, raw_path: str, headers: Any, raw: bytes) -> tuple[int, Any, dict[str, str]]:
        path = urlsplit(raw_path).path
        if path == PUSH_PATH:
            if method != "POST" or not secrets.compare_digest(headers.get("X-Local-Render-Token") or "",
                                                              self._token):
                return 403, {"id": "forbidden", "message": "forbidden"}, {}
            try:
                updates = json.loads(raw or b"[]")
            except ValueError:
                return 400, {"id": "invalid", "message": "not JSON"}, {}
            return 200, {"deploys": self._on_push(updates)}, {}
        with self._lock:
            down = self._down
        if down:
            return 503, {"id": "unavailable", "message": "service unavailable"}, {}
        auth = headers.get("Authorization")
        if path == "/v1/logs":
            if method != "GET":
                return 405, {"id": "method_not_allowed", "message": "GET only"}, {}
            owner = parse_qs(urlsplit(raw_path).query).get("ownerId")
            if owner and owner[-1] != self.owner_id and auth == f"Bearer {self.api_key}":
                return 400, {"id": "invalid", "message": f"unknown ownerId {owner[-1]}"}, {}
            return self.logs.handle(raw_path, auth or "")
        status, answer = self.api.handle(method, raw_path, auth, raw, headers.get("Content-Type"))
        return status, answer, {}

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:  # quiet
                return

            def _handle(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                status, answer, extra = outer._answer(self.command, self.path, self.headers, raw)
                if status == HANG_UP:  # (RenderStandIn.hang_up: the connection closed with no answer)
                    self.close_connection = True
                    return
                data = json.dumps(answer).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                for name, value in extra.items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = do_PATCH = do_DELETE = _handle  # noqa: N815

        return Handler


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def seed_app_repo(work: Path, remote: Path, *, branch: str = "main") -> str:
    """A git work repo at `work` holding the example app as it is deployed (examples/__init__.py,
    examples/mosaic_app/**, a pyproject.toml with a `[tool.mosaic-diag]` table, a .gitignore of
    `.mosaic-diag/`), committed by a fixed author, `remote` added as `origin` and `branch` pushed.
    Returns the commit's sha. The repo's own config names the author, so later commits need nothing."""
    _check_branch(branch)
    work = Path(work)
    work.mkdir(parents=True, exist_ok=True)
    (work / "examples").mkdir(exist_ok=True)
    shutil.copy2(ROOT / "examples" / "__init__.py", work / "examples" / "__init__.py")
    shutil.copytree(ROOT / "examples" / "mosaic_app", work / "examples" / "mosaic_app", dirs_exist_ok=True,
                    ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    (work / "pyproject.toml").write_text(
        '[project]\nname = "mosaic-app"\nversion = "0.1.0"\nrequires-python = ">=3.11"\n\n'
        "[tool.mosaic-diag]\n\n"
        f'[tool.mosaic-diag.rollback]\nremote = "origin"\nbranch = "{branch}"\n\n'
        '[tool.mosaic-diag.predeploy]\nschema = "examples/mosaic_app/schema.sql"\n'
        'ps101_steps = "examples/mosaic_app/prompts/ps101_steps.json"\n'
        'prompts_csv = "examples/mosaic_app/prompts/prompts.csv"\n', encoding="utf-8")
    (work / ".gitignore").write_text(".mosaic-diag/\n__pycache__/\n", encoding="utf-8")
    if not (work / ".git").exists():
        _git("init", "-q", "-b", branch, str(work))
    for key, value in (("user.name", AUTHOR["GIT_AUTHOR_NAME"]), ("user.email", AUTHOR["GIT_AUTHOR_EMAIL"]),
                       ("commit.gpgsign", "false")):
        _git("config", key, value, cwd=work)
    _git("add", "-A", cwd=work)
    _git("commit", "-q", "-m", "The Mosaic example app", cwd=work, env=AUTHOR)
    remotes = _git("remote", cwd=work).stdout.decode().split()
    if "origin" in remotes:
        _git("remote", "set-url", "--end-of-options", "origin", str(remote), cwd=work)
    else:
        _git("remote", "add", "--end-of-options", "origin", str(remote), cwd=work)
    _git("push", "-q", "origin", "--end-of-options", f"refs/heads/{branch}:refs/heads/{branch}", cwd=work,
         timeout=120)
    return _git("rev-parse", "HEAD", cwd=work).stdout.decode().strip()
