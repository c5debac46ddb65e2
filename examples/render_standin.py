"""A loopback stand-in for the parts of Render's REST API that rollback and deploy use.

It answers like https://api-docs.render.com does, on 127.0.0.1 only:

- `GET  /v1/services/{id}`                    the service (`autoDeploy`: "yes" / "no");
- `PATCH /v1/services/{id}`                   `{"autoDeploy": "yes"|"no"}` -> the service;
- `GET  /v1/services/{id}/deploys?limit=&cursor=`  `[{"deploy": {...}, "cursor": "..."}]`, newest
  first; pass the last item's cursor to get the next page (an empty list after the last);
- `GET  /v1/services/{id}/deploys/{deployId}`  one deploy, 404 if unknown;
- `POST /v1/services/{id}/deploys`            `{"commitId": sha, "clearCache": ...}` -> 201, a new deploy
  of that commit (status "created", trigger "api");
- `POST /v1/services/{id}/rollback`           `{"deployId": id}` -> 201, a new deploy of that deploy's
  commit (trigger "rollback"); 404 for an unknown deploy id;
- `POST /v1/services/{id}/deploys/{deployId}/cancel`  cancels an unfinished deploy (409 when finished).

Deploys created through the API start "created" and, with `progress` (e.g. ("build_in_progress",
"live")), move one step along it each time they are read (GET of the deploy or of the list), so a
client that polls sees them build and go live; `set_status()` sets one by hand.

Every request needs `Authorization: Bearer <api_key>` (else 401); another service id is a 404.
A deploy is `{"id", "commit": {"id", "message", "createdAt"}, "status", "trigger", "createdAt",
"updatedAt", "finishedAt"}`; statuses as Render's: created, build_in_progress, update_in_progress,
live, deactivated, build_failed, update_failed, canceled.

Use:

    with RenderStandIn() as render:            # or render = RenderStandIn().start(); render.stop()
        render.add_deploy("a" * 40)            # history, oldest first; the newest "live" one is live
        render.fail("POST", "/rollback", 503)  # the next matching request answers 503 (times=1)
        render.hang_up("GET", "")              # the next one is closed with no answer (a dropped connection)
        ... RenderTarget(render.base_url, render.service_id, render.api_key) ...
        render.requests                        # [{"method", "path", "query", "auth", "body", ...}]

Each instance has its own state and request log (nothing shared between tests). `python -m
examples.render_standin` serves one on a free port until interrupted.
"""

from __future__ import annotations

import copy
import itertools
import json
import threading
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

# serve_forever() polls for shutdown(): every 0.5 s by default, which each stop (a test's teardown) then waits
SERVE = {"poll_interval": 0.05}

# The status `handle()` gives for a request to close the connection on with no answer at all (`hang_up`)
HANG_UP = 0

STATUSES = ("created", "build_in_progress", "update_in_progress", "live", "deactivated", "build_failed",
            "update_failed", "canceled")


@dataclass
class _Failure:
    method: str
    path_suffix: str
    status: int
    times: int
    message: str
    skip: int = 0


class RenderStandIn:
    """A threaded HTTP server with Render-like state: one service, its deploys, its autodeploy setting."""

    def __init__(self, service_id: str = "srv-test123", api_key: str = "rnd_testkey0123456789abcdef", *,
                 autodeploy: bool = True, max_page: int = 100, progress: tuple[str, ...] = ()) -> None:
        self.service_id = service_id
        self.api_key = api_key
        self.autodeploy = autodeploy
        self.max_page = max_page
        if any(st not in STATUSES for st in progress):
            raise ValueError(f"unknown deploy status in {progress!r}")
        self.progress = tuple(progress)
        self._pending: dict[str, list[str]] = {}  # deploy id -> statuses still ahead of it
        self.deploys: list[dict[str, Any]] = []  # newest first, as the API lists them
        self.requests: list[dict[str, Any]] = []
        self._failures: list[_Failure] = []
        self._lock = threading.Lock()
        self._ids = itertools.count(1)
        self._clock = datetime(2026, 1, 1, tzinfo=UTC)
        self.server: ThreadingHTTPServer | None = None
        self.thread: threading.Thread | None = None
        self.base_url = ""

    # -- lifecycle -----------------------------------------------------------------------------

    def start(self) -> RenderStandIn:
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.server.daemon_threads = True
        self.base_url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs=SERVE, name="render-standin",
                                       daemon=True)
        self.thread.start()
        return self

    def stop(self) -> None:
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()
            self.server = None

    def __enter__(self) -> RenderStandIn:
        return self.start() if self.server is None else self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- state and switches --------------------------------------------------------------------

    def _now(self) -> str:
        self._clock += timedelta(minutes=1)
        return self._clock.isoformat().replace("+00:00", "Z")

    def add_deploy(self, commit: str, status: str = "live", *, trigger: str = "new_commit",
                   message: str = "") -> dict[str, Any]:
        """Add a deploy of `commit` as the newest; a new `live` one deactivates the previous live one."""
        if status not in STATUSES:
            raise ValueError(f"unknown deploy status {status!r}")
        with self._lock:
            return self._new_deploy(commit, status, trigger, message)

    def _new_deploy(self, commit: str, status: str, trigger: str, message: str = "") -> dict[str, Any]:
        if status == "live":
            for d in self.deploys:
                if d["status"] == "live":
                    d["status"] = "deactivated"
        when = self._now()
        deploy = {"id": f"dep-{next(self._ids):04d}{commit[:6]}", "commit": {"id": commit, "message": message,
                                                                              "createdAt": when},
                  "status": status, "trigger": trigger, "createdAt": when, "updatedAt": when,
                  "finishedAt": when if status in ("live", "deactivated", "build_failed", "update_failed",
                                                   "canceled") else None}
        self.deploys.insert(0, deploy)
        return deploy

    def set_status(self, deploy_id: str, status: str) -> dict[str, Any]:
        """Set a deploy's status (a new `live` one deactivates the previous live one)."""
        if status not in STATUSES:
            raise ValueError(f"unknown deploy status {status!r}")
        with self._lock:
            deploy = next(d for d in self.deploys if d["id"] == deploy_id)
            self._set(deploy, status)
            self._pending.pop(deploy_id, None)
            return deploy

    def _set(self, deploy: dict[str, Any], status: str) -> None:
        if status == "live":
            for d in self.deploys:
                if d["status"] == "live" and d is not deploy:
                    d["status"] = "deactivated"
        deploy["status"] = status
        deploy["updatedAt"] = self._now()
        if status in ("live", "build_failed", "update_failed", "canceled"):
            deploy["finishedAt"] = deploy["updatedAt"]

    def _advance(self, deploy: dict[str, Any]) -> None:
        ahead = self._pending.get(deploy["id"])
        if ahead:
            self._set(deploy, ahead.pop(0))

    def fail(self, method: str, path_suffix: str, status: int, *, times: int = 1, skip: int = 0,
             message: str = "") -> None:
        """After `skip` more matching requests, the next `times` requests of `method` to `path_suffix`
        (after the service's base path: "" for the service, "/deploys", "/rollback") answer `status`."""
        with self._lock:
            self._failures.append(_Failure(method.upper(), path_suffix, status, times,
                                           message or ("internal error" if status >= 500 else "bad request"), skip))

    def hang_up(self, method: str, path_suffix: str, *, times: int = 1, skip: int = 0) -> None:
        """As `fail`, but the matching requests (recorded) get no answer: their connection is closed, as a server or
        a proxy on the way closes one it gave up on (httpx: "Server disconnected without sending a response")."""
        self.fail(method, path_suffix, HANG_UP, times=times, skip=skip, message="(no answer)")

    def clear(self) -> None:
        """Forget the request log (state stays)."""
        with self._lock:
            self.requests.clear()

    def calls(self) -> list[tuple[str, str]]:
        """(method, path without query) of every request so far."""
        with self._lock:
            return [(r["method"], r["path"]) for r in self.requests]

    # -- the HTTP side -------------------------------------------------------------------------

    def handle(self, method: str, raw_path: str, auth: str | None, raw_body: bytes,
               content_type: str | None = None) -> tuple[int, Any]:
        """Record one HTTP request and answer it: (status, the JSON answer); status HANG_UP: close the connection
        without an answer. The server's handler calls this; a dispatcher serving several stand-ins on one port
        (examples/local_render.py) too."""
        try:
            body = json.loads(raw_body) if raw_body else None
        except ValueError:
            body = raw_body.decode("utf-8", "replace")
        parts = urlsplit(raw_path)
        query = parse_qs(parts.query)
        with self._lock:
            self.requests.append({"method": method, "path": parts.path, "query": query, "auth": auth,
                                  "body": body, "content_type": content_type})
        return self._answer(method, parts.path, query, auth, body)

    def _answer(self, method: str, path: str, query: dict[str, list[str]], auth: str | None,
                body: Any) -> tuple[int, Any]:
        """(status, a copy of the answer) under the lock: the server's threads never share a half-built state."""
        with self._lock:
            status, answer = self._route(method, path, query, auth, body)
            return status, copy.deepcopy(answer)

    def _route(self, method: str, path: str, query: dict[str, list[str]], auth: str | None,
               body: Any) -> tuple[int, Any]:
        if auth != f"Bearer {self.api_key}":
            return 401, {"id": "unauthorized", "message": "unauthorized"}
        base = f"/v1/services/{self.service_id}"
        if not (path == base or path.startswith(base + "/")):
            return 404, {"id": "not_found", "message": "service not found"}
        rest = path[len(base):]
        for f in self._failures:
            if f.times > 0 and f.method == method and rest == f.path_suffix:
                if f.skip > 0:
                    f.skip -= 1
                    continue
                f.times -= 1
                return f.status, {"id": "error", "message": f.message}
        if rest == "" and method == "GET":
            return 200, self._service()
        if rest == "" and method == "PATCH":
            value = (body or {}).get("autoDeploy") if isinstance(body, dict) else None
            if value not in ("yes", "no"):
                return 400, {"id": "invalid", "message": "autoDeploy must be yes or no"}
            self.autodeploy = value == "yes"
            return 200, self._service()
        if rest == "/deploys" and method == "GET":
            return 200, self._page(query)
        if rest.startswith("/deploys/") and method == "GET":
            found = next((d for d in self.deploys if d["id"] == rest[len("/deploys/"):]), None)
            if found is None:
                return 404, {"id": "not_found", "message": "deploy not found"}
            self._advance(found)
            return 200, found
        if rest.startswith("/deploys/") and rest.endswith("/cancel") and method == "POST":
            found = next((d for d in self.deploys if d["id"] == rest[len("/deploys/"):-len("/cancel")]), None)
            if found is None:
                return 404, {"id": "not_found", "message": "deploy not found"}
            if found["finishedAt"]:
                return 409, {"id": "conflict", "message": f"deploy is {found['status']}"}
            self._pending.pop(found["id"], None)
            self._set(found, "canceled")
            return 200, found
        if rest == "/deploys" and method == "POST":
            commit = body.get("commitId") if isinstance(body, dict) else None
            if not isinstance(commit, str) or not commit:
                return 400, {"id": "invalid", "message": "commitId required"}
            return 201, self._created(commit, "api")
        if rest == "/rollback" and method == "POST":
            wanted = body.get("deployId") if isinstance(body, dict) else None
            old = next((d for d in self.deploys if d["id"] == wanted), None)
            if old is None:
                return 404, {"id": "not_found", "message": "deploy not found"}
            return 201, self._created(old["commit"]["id"], "rollback", old["commit"]["message"])
        return 404, {"id": "not_found", "message": "not found"}

    def _created(self, commit: str, trigger: str, message: str = "") -> dict[str, Any]:
        deploy = self._new_deploy(commit, "created", trigger, message)
        if self.progress:
            self._pending[deploy["id"]] = list(self.progress)
        return dict(deploy)

    def _service(self) -> dict[str, Any]:
        return {"id": self.service_id, "name": "standin", "type": "web_service",
                "autoDeploy": "yes" if self.autodeploy else "no", "branch": "main"}

    def _page(self, query: dict[str, list[str]]) -> list[dict[str, Any]]:
        try:
            limit = max(1, min(int((query.get("limit") or ["20"])[0]), self.max_page))
        except ValueError:
            limit = 20
        cursor = (query.get("cursor") or [None])[0]
        start = 0
        if cursor:
            start = next((i + 1 for i, d in enumerate(self.deploys) if d["id"] == cursor), len(self.deploys))
        page = self.deploys[start:start + limit]
        for d in page:
            self._advance(d)
        return [{"deploy": d, "cursor": d["id"]} for d in page]

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:  # quiet
                pass

            def _handle(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                status, answer = outer.handle(self.command, self.path, self.headers.get("Authorization"), raw,
                                              self.headers.get("Content-Type"))
                if status == HANG_UP:
                    self.close_connection = True
                    return
                data = json.dumps(answer).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = do_PATCH = _handle  # noqa: N815

        return Handler


def main(argv: list[str] | None = None) -> int:
    """Serve a stand-in on a free loopback port until Ctrl-C (`--help` says how)."""
    import argparse
    import time

    parser = argparse.ArgumentParser(prog="python -m examples.render_standin",
                                     description="A loopback stand-in for Render's REST API (deploys, rollback, "
                                                 "autodeploy), on a free port of 127.0.0.1 until Ctrl-C.")
    parser.add_argument("--service-id", default="srv-test123", help="the one service it knows")
    parser.add_argument("--api-key", default="rnd_testkey0123456789abcdef", help="the Bearer key it accepts")
    parser.add_argument("--no-autodeploy", action="store_true", help="start with the service's autodeploy off")
    args = parser.parse_args(argv)
    with RenderStandIn(args.service_id, args.api_key, autodeploy=not args.no_autodeploy) as stand_in:
        print(f"Render API stand-in at {stand_in.base_url} (service {stand_in.service_id}, "
              f"key {stand_in.api_key}); Ctrl-C stops it", flush=True)
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            pass
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
