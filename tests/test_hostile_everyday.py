"""Careless operators and attackers on the everyday commands (`triage`, `classify -`), run as real processes:
a stdin that was closed at the start, SIGTERM in the middle of a triage."""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

import pytest

SAMPLE_LOG = Path(__file__).resolve().parents[1] / "examples" / "logs" / "render-sample.log"


def shell(command: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    """`mosaic-diag COMMAND` run by sh (for its redirections: `<&-`)."""
    return subprocess.run(["sh", "-c", f"'{sys.executable}' -m mosaic_diag {command}"], capture_output=True,
                          text=True, cwd=cwd, timeout=120)


@pytest.mark.parametrize("args", [f"triage '{SAMPLE_LOG}'", f"triage '{SAMPLE_LOG}' --top 3", "triage -",
                                  "triage - --format json", "classify -"],
                         ids=["triage-file", "triage-file-typer", "triage-stdin", "triage-stdin-json", "classify"])
def test_a_stdin_closed_at_the_start_is_one_line_or_not_read(tmp_path: Path, args: str) -> None:
    """`cmd <&-`: Python starts with no sys.stdin at all (None): `-` is one line naming it, and a triage of a
    file, which never reads stdin, runs as ever (both were an AttributeError's traceback)."""
    r = shell(f"{args} <&-", tmp_path)
    assert "Traceback" not in r.stderr, r.stderr
    if "-" in args.split():
        assert r.returncode == 2, r.stderr
        assert r.stderr.splitlines() == [
            "mosaic-diag: error: -: stdin is closed: nothing to read (pipe the text in, or give a file)"]
    else:
        assert r.returncode == 1, r.stderr
        assert "error events" in r.stdout


FORGED = "mosaic-diag: 0 error events"


@pytest.mark.parametrize("fmt", ["table", "json", "markdown", "html"])
@pytest.mark.parametrize("several", [False, True], ids=["one-file", "several"])
def test_a_file_name_with_a_newline_or_an_escape_stays_on_its_line_in_every_format(tmp_path: Path, fmt: str,
                                                                                    several: bool) -> None:
    """A log's name is shown as written on the command line, but on one line: a newline (or ESC) in it is
    written `\\n` (`\\u001b`), so the name cannot forge a line of the report nor drive the terminal (the table
    printed `evil`, then `mosaic-diag: 0 error events.log: 1,690 lines` as a line of its own)."""
    name = f"evil\n{FORGED}\x1b[2K.log"
    (tmp_path / name).write_bytes(SAMPLE_LOG.read_bytes())
    names = [name, "other.log"] if several else [name]
    if several:
        (tmp_path / "other.log").write_text("2026-11-28T10:00:00Z INFO started\n")
    r = subprocess.run([sys.executable, "-m", "mosaic_diag", "triage", *names, "--format", fmt,
                        *(["-o", "r.html"] if fmt == "html" else [])], capture_output=True, text=True,
                       cwd=tmp_path, timeout=120)
    assert r.returncode == 1, r.stderr
    out = (tmp_path / "r.html").read_text() if fmt == "html" else r.stdout
    assert "evil" in out
    assert not any(line.lstrip(" #|>*`").startswith(FORGED) for line in out.splitlines() + r.stderr.splitlines())
    assert "\x1b" not in out + r.stderr and "Traceback" not in r.stderr


@pytest.mark.parametrize("sig, sigint", [(signal.SIGINT, signal.SIG_DFL), (signal.SIGTERM, signal.SIG_DFL),
                                         (signal.SIGTERM, signal.SIG_IGN)],
                         ids=["SIGINT", "SIGTERM", "SIGTERM-under-nohup"])
@pytest.mark.parametrize("args", [["--format", "json"], ["--format", "html", "-o", "out/report.html"]],
                         ids=["json-fast-path", "html-report"])
def test_a_signal_in_the_middle_of_a_triage_is_one_line_exit_130_and_no_report_left(
        tmp_path: Path, sig: signal.Signals, sigint: signal.Handlers, args: list[str]) -> None:
    """Ctrl-C, or SIGTERM as a CI cancel sends it, while a triage reads: `interrupted`, exit 130, no report file
    nor its temporary file left (SIGTERM killed the process: no line, exit -15, its temporary file left). The
    child's SIGINT is set as a terminal's foreground job has it (a test runner started in the background ignores
    it, and its children with it), or ignored as under `nohup`, where SIGTERM still stops it with its line (the
    Typer path lost the count of it: a silent exit 130)."""
    (tmp_path / "out").mkdir()
    proc = subprocess.Popen([sys.executable, "-m", "mosaic_diag", "triage", "-", *args], cwd=tmp_path,
                            stdin=subprocess.PIPE, stdout=(tmp_path / "stdout").open("wb"), stderr=subprocess.PIPE,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, sigint))  # noqa: PLW1509 - a signal only
    assert proc.stdin is not None and proc.stderr is not None
    # more than a pipe holds: once written, the triage is running and has read most of it (it waits for the rest)
    proc.stdin.write(SAMPLE_LOG.read_bytes() * 8)
    proc.stdin.flush()
    proc.send_signal(sig)
    proc.stdin.close()  # (the signal goes first: the end of the input comes after it)
    err = proc.stderr.read().decode()
    assert proc.wait(timeout=120) == 130, err
    assert err.splitlines() == ["mosaic-diag: error: interrupted"]
    assert list((tmp_path / "out").iterdir()) == []
