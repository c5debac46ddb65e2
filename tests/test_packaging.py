"""A built wheel carries what the commands need: the shipped playbooks and the taxonomy rules.

The wheel is built from a copy of the repository (pip, with build isolation, as `pip install .`
does), installed without dependencies into a fresh virtualenv that sees this interpreter's
packages, and its console script triages the bundled sample from outside the repository.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def _copy_repo(dest: Path) -> Path:
    ignore = shutil.ignore_patterns(".git", "bench", "*.egg-info", "__pycache__", ".mosaic-diag", "build", "dist")
    shutil.copytree(ROOT, dest, symlinks=True, ignore=ignore)
    return dest


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    base = tmp_path_factory.mktemp("wheel")
    src = _copy_repo(base / "src")
    r = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(base / "dist"), str(src)],
                       capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stdout + r.stderr
    (built,) = (base / "dist").glob("mosaic_diag-*.whl")
    return built


def test_wheel_lists_every_playbook_and_the_rules(wheel: Path) -> None:
    names = set(zipfile.ZipFile(wheel).namelist())
    shipped = sorted(p.name for p in (ROOT / "playbooks").glob("*.yml"))
    assert shipped and all(f"mosaic_diag/shipped_playbooks/{n}" in names for n in shipped)
    assert "mosaic_diag/rules/taxonomy.yml" in names


@pytest.mark.slow
def test_installed_wheel_triages_with_playbook_plans(wheel: Path, tmp_path: Path) -> None:
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", "--system-site-packages", str(venv)], check=True)
    py = venv / "bin" / "python"
    # this interpreter's pip installs into the venv's prefix (the venv has no pip of its own);
    # --ignore-installed leaves this checkout's editable install alone
    r = subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-index", "--ignore-installed",
                        "--no-warn-script-location", "--prefix", str(venv), str(wheel)],
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stdout + r.stderr
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    log = outside / "render-sample.log"
    shutil.copy(ROOT / "examples" / "logs" / "render-sample.log", log)

    where = subprocess.run([str(py), "-c", "import mosaic_diag; print(mosaic_diag.__file__)"], cwd=outside,
                           capture_output=True, text=True, check=True).stdout.strip()
    assert Path(where).is_relative_to(venv), where  # the wheel's copy, not this checkout's editable install

    # the installed console script, run by the venv's interpreter (pip wrote this interpreter's shebang)
    installed = subprocess.run([str(py), str(venv / "bin" / "mosaic-diag"), "triage", str(log), "--format", "json"],
                               cwd=outside, capture_output=True, text=True, timeout=120)
    editable = subprocess.run([sys.executable, "-m", "mosaic_diag", "triage", str(log), "--format", "json"],
                              cwd=outside, capture_output=True, text=True, timeout=120)
    assert installed.returncode == editable.returncode == 1, installed.stderr
    got, want = json.loads(installed.stdout), json.loads(editable.stdout)
    assert [g["playbook"] for g in got["groups"]] == [g["playbook"] for g in want["groups"]]
    assert all(g["playbook"] and g["plan"]["actions"] for g in got["groups"])
    assert all("shipped_playbooks" in g["plan"]["source"] for g in got["groups"])
