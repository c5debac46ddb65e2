"""The code standards a tool checks: ruff finds nothing and the package type-checks under mypy.

Both read their settings from pyproject.toml ([tool.ruff], [tool.mypy]); a failure prints the tool's own findings.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def _run(args: list[str]) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "NO_COLOR": "1", "MYPY_FORCE_COLOR": "0", "FORCE_COLOR": "0"}
    return subprocess.run([sys.executable, "-m", *args], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=280)


def test_ruff_finds_nothing() -> None:
    done = _run(["ruff", "check", "--no-cache", "--output-format", "concise", "."])
    assert done.returncode == 0, done.stdout + done.stderr
    assert "All checks passed" in done.stdout, done.stdout


@pytest.mark.slow
def test_the_package_type_checks(tmp_path: Path) -> None:
    """`mypy` over every module of mosaic_diag (the count is checked, so that a narrowed `files` setting cannot pass
    by checking less)."""
    done = _run(["mypy", "--cache-dir", str(tmp_path / "mypy-cache"), "--no-color-output"])
    assert done.returncode == 0, done.stdout[-20000:] + done.stderr[-5000:]
    found = re.search(r"Success: no issues found in (\d+) source files", done.stdout)
    assert found, done.stdout
    assert int(found.group(1)) == len(list((ROOT / "mosaic_diag").rglob("*.py"))), done.stdout
