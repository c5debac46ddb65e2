"""tests/strict_skips.py: under CI a skipped test fails, naming why it skipped; off CI it stays a skip."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

CASES = '''
import pytest

def test_guarded():
    pytest.skip("localedef is not installed")

@pytest.mark.xfail(reason="known")
def test_known():
    assert False

def test_runs():
    assert True is not False
'''


def _run(tmp_path: Path, **env: str) -> subprocess.CompletedProcess[str]:
    """pytest run on `CASES` with tests/strict_skips.py as its only plugin (the installed ones not loaded: the cases
    use none, and importing them took most of the run's time), under `env`."""
    (tmp_path / "test_cases.py").write_text(CASES)
    base = {k: v for k, v in os.environ.items() if k not in {"CI", "MOSAIC_DIAG_STRICT_SKIPS", "PYTEST_ADDOPTS"}}
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-rfs", "-c", os.devnull, "--rootdir", str(tmp_path),
         "-p", "no:cacheprovider", "-p", "tests.strict_skips", str(tmp_path / "test_cases.py")],
        cwd=tmp_path, env={**base, "PYTHONPATH": str(ROOT), "PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1", **env},
        capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize("env", [{"CI": "true"}, {"MOSAIC_DIAG_STRICT_SKIPS": "1"}])
def test_a_skip_fails_under_ci(tmp_path: Path, env: dict[str, str]) -> None:
    run = _run(tmp_path, **env)
    assert run.returncode == 1, run.stdout + run.stderr
    assert "1 failed, 1 passed, 1 xfailed" in run.stdout
    assert "skipped under CI" in run.stdout and "localedef is not installed" in run.stdout


def test_off_ci_a_skip_stays_a_skip(tmp_path: Path) -> None:
    run = _run(tmp_path, CI="false")
    assert run.returncode == 0, run.stdout + run.stderr
    assert "1 passed, 1 skipped, 1 xfailed" in run.stdout
