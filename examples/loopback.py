"""A loopback HTTP server for tests and stand-ins that never prints from its handler threads.

`http.server`'s servers print a traceback to `sys.stderr` when a handler raises (a client that
timed out and hung up, a write to a closed socket). From a daemon thread that outlives its test,
such a traceback lands in whatever stderr is current: another test's capture. `QuietServer` keeps
handler errors in `.errors`, joins its handler threads on `stop()`, and gives slow handlers a
`stopping` event to wait on, so nothing of a test's server outlives the test.

    server = QuietServer.start_on_loopback(Handler)
    ...            # handler: self.server.stopping.wait(delay) instead of time.sleep(delay)
    server.stop()
"""

from __future__ import annotations

import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

# serve_forever() polls for shutdown(): every 0.5 s by default, which each stop (a test's teardown) then waits
SERVE = {"poll_interval": 0.05}


class QuietServer(ThreadingHTTPServer):
    """A threading HTTP server whose handler errors are recorded, not printed, and whose stop() joins."""

    daemon_threads = False  # server_close() joins the handler threads
    block_on_close = True

    def __init__(self, address: tuple[str, int], handler: type[BaseHTTPRequestHandler]) -> None:
        super().__init__(address, handler)
        self.errors: list[str] = []
        self.stopping = threading.Event()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None

    @classmethod
    def start_on_loopback(cls, handler: type[BaseHTTPRequestHandler]) -> QuietServer:
        """A started server on 127.0.0.1 and a free port."""
        server = cls(("127.0.0.1", 0), handler)
        server._thread = threading.Thread(target=server.serve_forever, kwargs=SERVE, name="loopback-server",
                                          daemon=True)
        server._thread.start()
        return server

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"

    def handle_error(self, request: Any, client_address: Any) -> None:
        exc = sys.exc_info()[1]
        if isinstance(exc, ConnectionError):  # the client hung up: nothing to report
            return
        with self._lock:
            self.errors.append(f"{type(exc).__name__}: {exc}")

    def stop(self) -> None:
        """Wake slow handlers, stop serving, and wait for every handler thread to finish."""
        self.stopping.set()
        self.shutdown()
        self.server_close()
        if self._thread is not None:
            self._thread.join(timeout=10)
