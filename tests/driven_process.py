"""A real program started once and asked for one output after another (IPython running cell after cell, pytest
running session after session), instead of a process per output: the interpreter's and the program's start-up
paid once. The driver script reads a JSON request a line from stdin, does it, and ends what it printed with
`END` and a status word on a line of their own."""

from __future__ import annotations

import json
import os
import re
import selectors
import subprocess
import sys
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

END = "\x1e-end-of-request-"
_ENDED = re.compile(rb"\x1e-end-of-request-(\w+)\n")


class DrivenProcess:
    """`python -c driver *args` in `cwd` with `env`, asked requests one at a time (each answered within
    `timeout` seconds, the whole process's stderr in the failure's message)."""

    def __init__(self, driver: str, args: list[str], *, cwd: Path, env: Mapping[str, str], stderr: Path,
                 timeout: float = 120) -> None:
        self.stderr, self.timeout = stderr, timeout
        with stderr.open("wb") as err:
            self.proc = subprocess.Popen([sys.executable, "-c", driver, *args], cwd=cwd, env=dict(env),
                                         stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=err)

    def ask(self, request: Any) -> tuple[str, str]:
        """What the process printed for `request` (decoded as `subprocess.run(text=True)` decodes) and its status."""
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.write(json.dumps(request).encode() + b"\n")
        self.proc.stdin.flush()
        out, deadline = b"", time.monotonic() + self.timeout
        with selectors.DefaultSelector() as sel:
            sel.register(self.proc.stdout, selectors.EVENT_READ)
            while not (ended := _ENDED.search(out)):
                ready = sel.select(max(0.0, deadline - time.monotonic()))
                chunk = os.read(self.proc.stdout.fileno(), 65536) if ready else b""
                assert chunk, self.said(out)  # (it ended, or it hangs)
                out += chunk
        assert ended.end() == len(out), self.said(out)  # (nothing after the marker: one request at a time)
        text = out[:ended.start()].decode().replace("\r\n", "\n").replace("\r", "\n")
        return text, ended.group(1).decode()

    def said(self, out: bytes = b"") -> str:
        """`out` and the process's stderr, for a failure's message."""
        return out.decode(errors="replace") + "\n--- stderr:\n" + self.stderr.read_text(errors="replace")

    def close(self) -> None:
        """End the process (its stdin closed, it exits)."""
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.close()
        try:
            self.proc.wait(timeout=60)
        finally:
            if self.proc.poll() is None:
                self.proc.kill()
                self.proc.wait(timeout=60)
            self.proc.stdout.close()
