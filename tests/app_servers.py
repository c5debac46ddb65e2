"""Start an app under uvicorn in a child process on a free loopback port, for tests: ready only when the child
itself says it listens on that port (another test's server that took the port meanwhile answers the health
check too), and started again on another port when the child could not bind the one found free."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Callable, Mapping
from pathlib import Path

import httpx

from examples.pgtemp import free_port

TRIES = 3


def start_uvicorn(argv: Callable[[int], list[str]], *, env: Mapping[str, str], cwd: Path, log_path: Path,
                  health: str = "/health", deadline_s: float = 60.0) -> tuple[subprocess.Popen[bytes], str]:
    """The running child (`argv(port)`, its output in `log_path`) and its base URL."""
    for attempt in range(TRIES):
        port = free_port()
        with log_path.open("wb") as log:
            proc = subprocess.Popen(argv(port), cwd=cwd, env=dict(env), stdout=log, stderr=subprocess.STDOUT)
        url = f"http://127.0.0.1:{port}"
        listening = f"running on {url}"
        give_up = time.monotonic() + deadline_s  # (a liveness bound, not a measured time)
        while True:
            out = log_path.read_text(encoding="utf-8", errors="replace")
            if proc.poll() is not None:
                if "address already in use" in out.lower() and attempt + 1 < TRIES:
                    break  # the port was taken between finding it free and binding it: another one
                raise RuntimeError(out)
            if listening in out:
                try:
                    httpx.get(url + health, timeout=5)
                    return proc, url
                except httpx.TransportError:
                    pass
            if time.monotonic() > give_up:
                proc.terminate()
                raise RuntimeError(out)
            time.sleep(0.02)  # (a read of a small log file: poll often, the start is what is waited for)
    raise RuntimeError("no port could be bound")  # (not reached: the last try raises with the child's output)


def stop(proc: subprocess.Popen[bytes]) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=10)


def gunicorn_argv(*args: str) -> list[str]:
    """The command line of a real gunicorn with `args`, its control socket off where it has one (25.1 and later:
    `$HOME/.gunicorn/gunicorn.ctl` or `$XDG_RUNTIME_DIR/gunicorn.ctl`, a socket no test uses). Under a HOME in a
    long temporary folder (past the 107 bytes of an AF_UNIX path) it logged `Control server error: AF_UNIX path
    too long`, an error the test had not caused; under the user's XDG_RUNTIME_DIR every gunicorn of a run shared
    one socket path."""
    import gunicorn.config

    off = ["--no-control-socket"] if hasattr(gunicorn.config, "ControlSocketDisable") else []
    return [sys.executable, "-m", "gunicorn", *off, *args]
