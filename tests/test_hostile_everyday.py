"""Careless operators and attackers on the everyday commands (`triage`, `classify -`), run as real processes:
a stdin that was closed at the start, SIGTERM in the middle of a triage."""

from __future__ import annotations

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
