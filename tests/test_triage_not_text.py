"""`mosaic-diag triage` on an input that is not a text log (a real ELF binary, random bytes, a PNG) says so in one
line and exits 2, in every format: never "No error events." and exit 0. Among several files the binary one is said
so and the others are reported. Real logs with a few bad bytes are read as before. The real CLI, in this process
(the terminal cases in a whole one)."""

from __future__ import annotations

import json
import random
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.cli_inproc import run_cli

ROOT = Path(__file__).resolve().parent.parent
PNG = ROOT / "docs" / "incident-report.png"
GUARD = 120


def _elf() -> bytes:
    path = Path(shutil.which("ls") or sys.executable).resolve()
    data = path.read_bytes()[:200_000]
    assert data[:4] == b"\x7fELF"
    return data


BINARIES = {
    "elf": _elf,
    "random": lambda: random.Random(20261206).randbytes(200_000),
    "png": lambda: PNG.read_bytes(),
}

LOG = "".join(f"2026-01-01 10:00:{i:02d} INFO app: request {i} served\n" for i in range(20))
ERROR_LOG = LOG + "2026-01-01 10:00:30 ERROR app: psycopg2.OperationalError: connection refused\n"
LINE = r"x\.log: not a text log \(([\d,]+) of ([\d,]+) lines are not text\); nothing was judged"


def triage(*args: str, cwd: Path, stdin: bytes | None = None) -> subprocess.CompletedProcess[str]:
    r = run_cli(["triage", *args, "--no-playbooks"], cwd=cwd, stdin=stdin, text=False)  # (in this process)
    return subprocess.CompletedProcess(r.args, r.returncode, r.stdout.decode(), r.stderr.decode())


def _one_line(stderr: str, name: str = "x.log") -> tuple[int, int]:
    import re

    lines = stderr.splitlines()
    assert len(lines) == 1, stderr
    m = re.fullmatch(r"mosaic-diag: error: " + LINE.replace(r"x\.log", re.escape(name)), lines[0])
    assert m, lines[0]
    bad, total = (int(g.replace(",", "")) for g in m.groups())
    assert bad * 2 > total > 0
    return bad, total


@pytest.mark.parametrize("kind", sorted(BINARIES))
@pytest.mark.parametrize("fmt", ["table", "json", "markdown"])
def test_a_binary_file_is_one_line_and_exit_2_in_every_format(tmp_path: Path, kind: str, fmt: str) -> None:
    (tmp_path / "x.log").write_bytes(BINARIES[kind]())
    r = triage("x.log", "--format", fmt, cwd=tmp_path)
    assert r.returncode == 2, r.stdout + r.stderr
    assert r.stdout == ""
    _one_line(r.stderr)


def test_html_to_a_file_writes_no_file(tmp_path: Path) -> None:
    (tmp_path / "x.log").write_bytes(BINARIES["elf"]())
    r = triage("x.log", "--format", "html", "-o", "report.html", cwd=tmp_path)
    assert r.returncode == 2 and r.stdout == ""
    _one_line(r.stderr)
    assert not (tmp_path / "report.html").exists()


def test_binary_on_stdin_is_named_stdin(tmp_path: Path) -> None:
    r = triage("-", cwd=tmp_path, stdin=BINARIES["random"]())
    assert r.returncode == 2 and r.stdout == ""
    _one_line(r.stderr, "<stdin>")


def test_a_binary_among_logs_is_said_and_the_others_reported(tmp_path: Path) -> None:
    (tmp_path / "x.log").write_bytes(BINARIES["elf"]())
    (tmp_path / "app.log").write_text(ERROR_LOG)
    (tmp_path / "quiet.log").write_text(LOG.replace("10:00:", "09:00:"))
    r = triage("quiet.log", "x.log", "app.log", "--format", "json", cwd=tmp_path)
    assert r.returncode == 1, r.stderr  # the error of app.log is found
    report = json.loads(r.stdout)
    s = report["summary"]
    assert s["not_text_inputs"] == ["x.log"]
    assert [i["input"] for i in s["inputs"] if i.get("not_text")] == ["x.log"]
    assert s["corrupt_lines"] == 0 and s["corrupt_samples"] == []  # the binary's lines are not a log's corrupt lines
    assert any(w.startswith("x.log: not a text log (") for w in s["warnings"])
    assert [e["source"] for e in report["events"]] == ["app.log"]
    assert r.stderr.strip().startswith("x.log: not a text log (") and len(r.stderr.splitlines()) == 1


@pytest.mark.parametrize("fmt", ["table", "markdown", "html"])
def test_a_binary_among_quiet_logs_is_not_an_all_clear(tmp_path: Path, fmt: str) -> None:
    (tmp_path / "x.log").write_bytes(BINARIES["png"]())
    (tmp_path / "quiet.log").write_text(LOG)
    r = triage("quiet.log", "x.log", "--format", fmt, cwd=tmp_path)
    assert r.returncode == 2, r.stderr
    assert "No error events in the text logs; 1 input not judged (not a text log: x.log)." in r.stdout
    assert "No error events.<" not in r.stdout and "\nNo error events.\n" not in r.stdout
    assert "x.log: not a text log (" in r.stdout


def test_several_binaries_and_no_log_is_one_line(tmp_path: Path) -> None:
    (tmp_path / "x.log").write_bytes(BINARIES["elf"]())
    (tmp_path / "y.log").write_bytes(BINARIES["random"]())
    r = triage("x.log", "y.log", "--format", "json", cwd=tmp_path)
    assert r.returncode == 2 and r.stdout == ""
    assert len(r.stderr.splitlines()) == 1
    assert "x.log: not a text log (" in r.stderr and "y.log: not a text log (" in r.stderr
    assert r.stderr.rstrip().endswith("nothing was judged")


def _with_bad_bytes(text: str) -> bytes:
    lines = text.encode().splitlines(keepends=True)
    lines[3] = lines[3].replace(b"served", b"served \xff\xfe")  # invalid UTF-8
    lines[7] = lines[7].replace(b"request", b"req\x00uest")     # a NUL byte
    return b"".join(lines)


def test_a_log_with_a_few_bad_bytes_is_read_as_ever(tmp_path: Path) -> None:
    (tmp_path / "x.log").write_bytes(_with_bad_bytes(ERROR_LOG))
    r = triage("x.log", "--format", "json", cwd=tmp_path)
    assert r.returncode == 1, r.stderr
    s = json.loads(r.stdout)["summary"]
    assert s["events"] == 1 and s["corrupt_lines"] == 2
    assert "not_text_inputs" not in s
    quiet = tmp_path / "q.log"
    quiet.write_bytes(_with_bad_bytes(LOG))
    r = triage("q.log", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert "No error events." in r.stdout and "corrupt line 4: invalid UTF-8" in r.stdout


def test_a_legacy_encoded_log_is_text(tmp_path: Path) -> None:
    (tmp_path / "x.log").write_bytes(LOG.replace("served", "servi à café").encode("latin-1"))
    r = triage("x.log", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert "No error events." in r.stdout


def test_a_log_of_mostly_nul_lines_with_an_event_is_a_log(tmp_path: Path) -> None:
    noisy = b"".join(line.replace(b"request", b"req\x00uest") for line in ERROR_LOG.encode().splitlines(True))
    (tmp_path / "x.log").write_bytes(noisy)
    r = triage("x.log", "--format", "json", cwd=tmp_path)
    assert r.returncode == 1, r.stderr
    assert json.loads(r.stdout)["summary"]["events"] == 1


@pytest.mark.parametrize("fmt", ["table", "json", "markdown", "html-file"])
def test_a_binary_among_logs_is_said_once_per_stream(tmp_path: Path, fmt: str) -> None:
    """The table says it among its warnings and stderr does not repeat it; a report for a program or a file
    keeps it in its field and stderr says it once, for the human who ran the command."""
    (tmp_path / "x.log").write_bytes(BINARIES["elf"]())
    (tmp_path / "app.log").write_text(ERROR_LOG)
    args = ("--format", "html", "-o", "report.html") if fmt == "html-file" else ("--format", fmt)
    r = triage("x.log", "app.log", *args, cwd=tmp_path)
    assert r.returncode == 1, r.stderr
    said = "x.log: not a text log ("
    report = (tmp_path / "report.html").read_text() if fmt == "html-file" else r.stdout
    assert report.count(said) == 1, report
    assert r.stderr.count(said) == (0 if fmt == "table" else 1), r.stderr


def _on_a_terminal(args: list[str], cwd: Path, stderr_too: bool) -> tuple[int, str, str]:
    """Run `triage ARGS` with stdout on a pseudo-terminal, stderr on the same one or on a pipe: the exit code,
    what the terminal showed and what the pipe got."""
    import os
    import pty

    from tests.ptyread import read_until_closed

    master, slave = pty.openpty()
    proc = subprocess.Popen([sys.executable, "-m", "mosaic_diag", "triage", *args, "--no-playbooks"], cwd=cwd,
                            stdout=slave, stderr=slave if stderr_too else subprocess.PIPE, stdin=subprocess.DEVNULL,
                            env={**os.environ, "TERM": "dumb", "COLUMNS": "200"})
    os.close(slave)
    terminal = read_until_closed(master)
    err = proc.stderr.read().decode() if proc.stderr is not None else ""
    if proc.stderr is not None:
        proc.stderr.close()
    return proc.wait(timeout=GUARD), terminal.decode().replace("\r", ""), err


@pytest.mark.parametrize("fmt", ["table", "markdown"])
def test_a_binary_among_logs_is_said_once_on_a_terminal(tmp_path: Path, fmt: str) -> None:
    """Markdown (or the table) on the terminal that stderr shows too: the line is said once, in the report; with
    stderr elsewhere (a pipe), Markdown's stderr says it still."""
    (tmp_path / "x.log").write_bytes(BINARIES["elf"]())
    (tmp_path / "app.log").write_text(ERROR_LOG)
    said = "x.log: not a text log ("
    code, shown, _ = _on_a_terminal(["x.log", "app.log", "--format", fmt], tmp_path, stderr_too=True)
    assert code == 1, shown
    assert shown.count(said) == 1, shown
    code, shown, err = _on_a_terminal(["x.log", "app.log", "--format", fmt], tmp_path, stderr_too=False)
    assert code == 1 and shown.count(said) == 1, shown
    assert err.count(said) == (0 if fmt == "table" else 1), err
