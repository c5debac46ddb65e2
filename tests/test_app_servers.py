"""The test helper that starts an app under uvicorn (tests/app_servers.py): a port taken between finding it free
and the child binding it is another try on another port, never a test talking to someone else's server."""

from __future__ import annotations

import os
import socket
import sys
from pathlib import Path

import httpx
import pytest

from tests import app_servers

APP = '''
async def app(scope, receive, send):
    if scope["type"] != "http":
        return
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/plain")]})
    await send({"type": "http.response.body", "body": b"mine"})
'''


def test_a_taken_port_is_tried_again_elsewhere(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "tiny.py").write_text(APP)
    taken = socket.socket()
    taken.bind(("127.0.0.1", 0))
    taken.listen(1)  # someone else's server on the port the helper is first given
    ports = iter([taken.getsockname()[1]])
    real = app_servers.free_port
    monkeypatch.setattr(app_servers, "free_port", lambda: next(ports, None) or real())
    try:
        proc, url = app_servers.start_uvicorn(
            lambda port: [sys.executable, "-m", "uvicorn", "tiny:app", "--port", str(port)],
            env={**os.environ, "PYTHONPATH": str(tmp_path)}, cwd=tmp_path, log_path=tmp_path / "app.log")
        try:
            assert url != f"http://127.0.0.1:{taken.getsockname()[1]}"
            assert httpx.get(url, timeout=10).text == "mine"
        finally:
            app_servers.stop(proc)
    finally:
        taken.close()
