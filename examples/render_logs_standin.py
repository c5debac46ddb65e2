"""A loopback stand-in for Render's log API (`GET /v1/logs`), answering like the real one.

    api = RenderLogsStandIn(key="rnd_test").start()
    api.add_log_lines("srv-1", "inst-a", lines, start=datetime(...))   # one entry a line
    api.fail_next(429, retry_after=1)                                   # then answers normally
    ... RenderSettings(api_url=api.base_url, service_id="srv-1", api_key="rnd_test") ...
    api.stop()

Pages: `limit` entries at most (the stand-in's `page_size` caps it further), oldest first for
`direction=forward`; while more remain, `hasMore` with `nextStartTime` = the next entry's time and
`nextEndTime` = the asked end. Entries are filtered by `resource` and the time window. A wrong key
is a 401, a missing `resource` a 400. Every request is recorded in `requests`.
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

# serve_forever() polls for shutdown(): every 0.5 s by default, which each stop (a test's teardown) then waits
SERVE = {"poll_interval": 0.05}


def _parse(ts: str) -> datetime:
    return datetime.fromisoformat(ts.replace("Z", "+00:00"))


def _fmt(when: datetime) -> str:
    return when.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def level_of(line: str) -> str:
    """The `level` label the stand-in gives a process's line: "error" for an error or a traceback."""
    return "error" if "ERROR" in line or "Traceback" in line else "info"


@dataclass(frozen=True)
class Request:
    """One request the stand-in answered."""

    path: str
    params: dict[str, str]
    status: int


class RenderLogsStandIn:
    """The log API of one Render workspace, on 127.0.0.1."""

    def __init__(self, *, key: str = "rnd_standin_key", page_size: int = 100) -> None:
        self.key = key
        self.page_size = page_size
        self.entries: list[dict[str, Any]] = []
        self.requests: list[Request] = []
        self._failures: list[tuple[int, float | None]] = []
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None
        self._counter = 0

    # -- data ---------------------------------------------------------------------------------
    def add_entry(self, resource: str, instance: str, when: datetime, message: str, *,
                  level: str = "info", kind: str = "app") -> None:
        with self._lock:
            self._counter += 1
            self.entries.append({
                "id": f"log-{self._counter:08d}",
                "timestamp": _fmt(when),
                "message": message,
                "labels": [{"name": "resource", "value": resource}, {"name": "instance", "value": instance},
                           {"name": "type", "value": kind}, {"name": "level", "value": level}],
            })
            self.entries.sort(key=lambda e: (e["timestamp"], e["id"]))

    def add_log_lines(self, resource: str, instance: str, lines: list[str], *, start: datetime,
                      step: timedelta = timedelta(milliseconds=10)) -> None:
        """One entry per line (as Render splits a process's output), `step` apart."""
        for i, line in enumerate(lines):
            self.add_entry(resource, instance, start + i * step, line, level=level_of(line))

    def fail_next(self, status: int, *, retry_after: float | None = None, times: int = 1) -> None:
        """Answer the next `times` requests with `status` (and a retry-after header when given)."""
        with self._lock:
            self._failures.extend([(status, retry_after)] * times)

    # -- server -------------------------------------------------------------------------------
    @property
    def base_url(self) -> str:
        assert self._server is not None, "not started"
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def start(self) -> RenderLogsStandIn:
        standin = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:  # quiet
                return

            def do_GET(self) -> None:  # noqa: N802 - http.server's name
                status, body, headers = standin.handle(self.path, self.headers.get("Authorization", ""))
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                for name, value in headers.items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(data)

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, kwargs=SERVE, daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def handle(self, raw_path: str, auth: str) -> tuple[int, Any, dict[str, str]]:
        """Record one GET and answer it: (status, the JSON body, extra headers). The server's handler
        calls this; a dispatcher serving several stand-ins on one port (examples/local_render.py) too."""
        parts = urlsplit(raw_path)
        params = {k: v[-1] for k, v in parse_qs(parts.query).items()}
        status, body, headers = self._decide(parts.path, params, auth)
        with self._lock:
            self.requests.append(Request(parts.path, params, status))
        return status, body, headers

    def _decide(self, path: str, params: dict[str, str], auth: str) -> tuple[int, Any, dict[str, str]]:
        with self._lock:
            failure = self._failures.pop(0) if self._failures else None
        if failure is not None:
            status, retry_after = failure
            headers = {"retry-after": f"{retry_after:g}"} if retry_after is not None else {}
            return status, {"id": "error", "message": "standin failure"}, headers
        if auth != f"Bearer {self.key}":
            return 401, {"id": "unauthorized", "message": "unauthorized"}, {}
        if path != "/v1/logs":
            return 404, {"id": "not_found", "message": "not found"}, {}
        resource = params.get("resource")
        if not resource:
            return 400, {"id": "invalid", "message": "resource is required"}, {}
        try:
            start = _parse(params["startTime"]) if "startTime" in params else datetime.min.replace(tzinfo=UTC)
            end = _parse(params["endTime"]) if "endTime" in params else datetime.max.replace(tzinfo=UTC)
            limit = min(int(params.get("limit", "20")), self.page_size)
        except ValueError:
            return 400, {"id": "invalid", "message": "invalid startTime, endTime or limit"}, {}
        with self._lock:
            window = [e for e in self.entries
                      if any(lab == {"name": "resource", "value": resource} for lab in e["labels"])
                      and start <= _parse(e["timestamp"]) <= end]
        if params.get("direction", "backward") == "backward":
            window.reverse()
        page, rest = window[:limit], window[limit:]
        body: dict[str, Any] = {"hasMore": bool(rest), "logs": page}
        if rest:
            if params.get("direction", "backward") == "forward":
                body["nextStartTime"], body["nextEndTime"] = rest[0]["timestamp"], _fmt(end)
            else:
                body["nextStartTime"], body["nextEndTime"] = _fmt(start), rest[0]["timestamp"]
        return 200, body, {}
