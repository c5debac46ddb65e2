"""Progress on stderr: drawn only on a terminal, for table output, without --quiet; the core's
plain callbacks (bytes of a file, runs of golden cases, checks done).

The terminal is a real pseudo-terminal (the pty module): the command's stderr is its slave end and
what Rich wrote is read from the master end. No timing: Rich draws the bar once more when it stops.
"""

from __future__ import annotations

import gzip
import io
import json
import os
import pty
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from mosaic_diag.checks.model import Check, CheckContext, CheckId, Message
from mosaic_diag.checks.registry import select
from mosaic_diag.checks.runner import run_checks
from mosaic_diag.config import load_config
from mosaic_diag.golden import RunOptions, load_cases, open_target, run_cases
from mosaic_diag.render.progress import progress, progress_wanted
from mosaic_diag.triage import open_triage
from tests.ptyread import read_until_closed

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = ROOT / "examples" / "logs" / "render-sample.log"
BAR = "━".encode()


def run_in_pty(*args: str, cwd: Path | None = None, stdin: bytes | None = None) -> tuple[int, bytes, bytes]:
    """(exit code, stdout, what reached the terminal) of `mosaic-diag ARGS` with stderr on a pty."""
    master, slave = pty.openpty()
    env = {**os.environ, "COLUMNS": "100", "TERM": "xterm-256color"}
    env.pop("NO_COLOR", None)
    proc = subprocess.Popen([sys.executable, "-m", "mosaic_diag", *args],
                            stdin=subprocess.DEVNULL if stdin is None else subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=slave, cwd=cwd, env=env)
    os.close(slave)
    shown: list[bytes] = []
    reader = threading.Thread(target=lambda: shown.append(read_until_closed(master)), daemon=True)
    reader.start()
    out, _ = proc.communicate(stdin, timeout=120)
    reader.join(timeout=30)
    return proc.returncode, out, b"".join(shown)


class _Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_the_decision_table_only_quiet_and_terminal():
    assert progress_wanted("table", False, _Tty())
    assert not progress_wanted("table", True, _Tty())          # --quiet
    for fmt in ("json", "markdown", "html"):
        assert not progress_wanted(fmt, False, _Tty())         # never in machine or file output
    assert not progress_wanted("table", False, io.StringIO())  # CI logs, pipes, files
    master, slave = pty.openpty()
    try:
        with open(slave, "w", closefd=False) as real_tty, open(os.devnull, "w") as null:
            assert progress_wanted("table", False, real_tty)
            assert not progress_wanted("table", False, null)
    finally:
        os.close(master)
        os.close(slave)
    with progress("x", enabled=False) as cb:
        assert cb is None  # the core is handed nothing to call


def test_triage_draws_a_bar_on_a_terminal_and_nowhere_else():
    rc, out, tty = run_in_pty("triage", str(SAMPLE))
    assert rc == 1 and b"Error groups" in out
    assert b"triage render-sample.log" in tty and BAR in tty
    size = SAMPLE.stat().st_size
    assert f"{size / 1000:.1f}/{size / 1000:.1f} kB".encode() in tty  # the whole file was read
    assert b"triage render-sample.log" not in out  # the bar is not part of the report
    rc, out, tty = run_in_pty("triage", "-", stdin=gzip.compress(SAMPLE.read_bytes()))  # a pipe: lines
    assert rc == 1 and b"triage stdin" in tty and b"1,690 lines" in tty
    rc, out, tty = run_in_pty("triage", str(SAMPLE), "--quiet")
    assert rc == 1 and b"Error groups" in out and tty == b""
    for fmt in ("json", "markdown"):
        rc, out, tty = run_in_pty("triage", str(SAMPLE), "--format", fmt)
        assert rc == 1 and tty == b"", fmt
    r = subprocess.run([sys.executable, "-m", "mosaic_diag", "triage", str(SAMPLE)], capture_output=True,
                       timeout=120)
    assert r.returncode == 1 and r.stderr == b""  # not a terminal: nothing on stderr


def test_the_triage_callback_counts_bytes_of_the_file(tmp_path):
    data = SAMPLE.read_bytes()
    calls: list[tuple[int, int | None]] = []
    with open_triage(str(SAMPLE), on_progress=lambda d, t: calls.append((d, t))) as s:
        for _ in s.events:
            pass
        s.finish()
    assert calls and calls[-1] == (len(data), len(data))
    gz = tmp_path / "sample.log.gz"
    gz.write_bytes(gzip.compress(data * 50))
    calls.clear()
    with open_triage(str(gz), on_progress=lambda d, t: calls.append((d, t))) as s:
        for _ in s.events:
            pass
        report = s.finish()
    size = gz.stat().st_size  # compressed bytes of compressed bytes, not the text inside
    assert calls[-1] == (size, size) and report.summary["lines"] == 50 * data.count(b"\n")
    assert [d for d, _ in calls] == sorted(d for d, _ in calls)
    calls.clear()
    with open_triage("-", stdin=io.BytesIO(data), on_progress=lambda d, t: calls.append((d, t))) as s:
        for _ in s.events:
            pass
    assert calls[-1] == (data.count(b"\n"), None)  # a pipe has no size: lines read


class _Answer(BaseHTTPRequestHandler):
    def log_message(self, *args):
        return

    def do_GET(self):
        body = json.dumps({"a": 1}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


@pytest.fixture
def app_url():
    srv = ThreadingHTTPServer(("127.0.0.1", 0), _Answer)
    srv.daemon_threads = True
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{srv.server_address[1]}"
    srv.shutdown()
    srv.server_close()


@pytest.fixture
def cases_file(tmp_path) -> Path:
    path = tmp_path / "cases.yml"
    path.write_text("defaults:\n  expect:\n    json_path: {$.a: {equals: 1}}\ncases:\n"
                    + "".join(f"  - {{id: case{i}, path: /c{i}}}\n" for i in range(6)))
    return path


def test_golden_runs_tick_off(app_url, cases_file, tmp_path):
    calls: list[tuple[int, int]] = []
    target = open_target(url=app_url)
    try:
        report = run_cases(load_cases([cases_file]), target, RunOptions(repeat=2, explain=False),
                           on_progress=lambda d, t: calls.append((d, t)))
    finally:
        target.close()
    assert report.exit_code == 0
    assert calls[0] == (0, 12) and calls[-1] == (12, 12)
    assert [d for d, _ in calls] == sorted(d for d, _ in calls)
    rc, out, tty = run_in_pty("golden", "--url", app_url, "--cases", str(cases_file), "--state-dir",
                              str(tmp_path / "st"))
    assert rc == 0 and b"6 passed" in out
    assert b"golden" in tty and b"6/6" in tty and BAR in tty
    rc, out, tty = run_in_pty("golden", "--url", app_url, "--cases", str(cases_file), "--state-dir",
                              str(tmp_path / "st"), "-q")
    assert rc == 0 and tty == b""


def test_checks_done_are_reported(tmp_path):
    checks = tuple(Check(f"c{i}", ("t",), (CheckId(f"MD-T00{i}", "warning", "w"),),
                         lambda _ctx, i=i: [Message(f"MD-T00{i}", f"note {i}")]) for i in range(3))
    calls: list[tuple[int, int]] = []
    ctx = CheckContext(root=tmp_path, env={}, config=load_config(tmp_path, {}), timeout=5.0)
    report = run_checks(select(checks), ctx, on_progress=lambda d, t: calls.append((d, t)))
    assert len(report.outcomes) == 3
    assert calls == [(1, 3), (2, 3), (3, 3)]


def test_predeploy_draws_checks_done(tmp_path):
    rc, out, tty = run_in_pty("predeploy", "--root", str(tmp_path), "--only", "lint,prompts")
    assert rc in (0, 1) and b"wall time" in out
    assert b"predeploy checks" in tty and b"2/2" in tty and BAR in tty
    rc, out, tty = run_in_pty("predeploy", "--root", str(tmp_path), "--only", "lint,prompts", "--format", "json")
    assert len(json.loads(out)["checks"]) == 2 and tty == b""
