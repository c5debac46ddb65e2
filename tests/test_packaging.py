"""A built wheel carries what the commands need: the shipped playbooks and the taxonomy rules.

`playbooks/` at the repository top is the one source of the shipped playbooks; pyproject's
package-dir maps the data package `mosaic_diag.shipped_playbooks` onto it, so a wheel holds them as
`mosaic_diag/shipped_playbooks/*.yml`. The wheel is built from a copy of the repository, installed
without dependencies into a fresh virtualenv that sees this interpreter's packages, and its console
script triages the bundled sample from outside the repository. An editable install of the copy reads
the copy's own `playbooks/`.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import site
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = ROOT / "examples" / "logs" / "render-sample.log"
IGNORED = (".git", "bench", "*.egg-info", "__pycache__", ".mosaic-diag", "build", "dist", ".venv", ".pytest_cache",
           ".ruff_cache")


def _setuptools_builds_here() -> bool:
    """Whether pip's --no-build-isolation can use this interpreter's setuptools: it must meet
    build-system.requires (>=68) and make wheels (its own bdist_wheel from 70.1, else `wheel`'s)."""
    try:
        import setuptools
    except ImportError:
        return False
    try:
        version = tuple(int(part) for part in setuptools.__version__.split(".")[:2])
    except ValueError:
        return False
    return version >= (70, 1) or (version >= (68, 0) and importlib.util.find_spec("wheel") is not None)


# pip builds without isolation (offline, with this interpreter's setuptools) when it can; else in
# isolation as `pip install .` does, taking setuptools from the configured index (a local mirror on the
# project's machines, whose interpreter has setuptools 65.5 and no `wheel`, so this works offline there).
BUILD = ["--no-build-isolation", "--no-index"] if _setuptools_builds_here() else []


def _pip(python: Path | str, *args: str, cwd: Path | None = None) -> None:
    r = subprocess.run([str(python), "-m", "pip", "--disable-pip-version-check", *args], cwd=cwd,
                       capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stdout + r.stderr


def _venv(path: Path) -> Path:
    """A virtualenv of its own (no system site-packages) that also sees this interpreter's site-packages,
    after its own, through a .pth file: the wheel's dependencies and pip come from there, offline, and
    `venv/bin/python -m pip` installs into the venv (it runs under the venv's prefix, and never
    uninstalls outside it).

    Not --system-site-packages: a directory named in a .pth file joins sys.path but its own .pth files
    are not run, so this checkout's editable install (an import hook that a .pth file in this
    interpreter's site-packages sets up) stays out of the venv, whatever interpreter runs the tests (a
    venv's --system-site-packages would reach the base installation, not a virtualenv running pytest).
    The tests check `mosaic_diag.__file__`."""
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(path)], check=True, timeout=120)
    python = path / "bin" / "python"
    own = subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
                         capture_output=True, text=True, check=True).stdout.strip()
    ours = [*site.getsitepackages()]
    if site.ENABLE_USER_SITE and os.path.isdir(site.getusersitepackages()):
        ours.append(site.getusersitepackages())
    Path(own, "zz_tested_interpreter.pth").write_text("".join(f"{d}\n" for d in ours if os.path.isdir(d)))
    return python


def _imported_from(python: Path, cwd: Path) -> Path:
    r = subprocess.run([str(python), "-c", "import mosaic_diag; print(mosaic_diag.__file__)"], cwd=cwd,
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    return Path(r.stdout.strip()).resolve()


def _triage(command: list[str], log: Path) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MOSAIC_DIAG_")}
    r = subprocess.run([*command, "triage", str(log), "--format", "json"], cwd=log.parent, env=env,
                       capture_output=True, text=True, timeout=180)
    assert r.returncode == 1, r.stderr  # 1: error events were found
    return json.loads(r.stdout)


@pytest.fixture(scope="module")
def source(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of the repository (the working tree as it is, without caches and build output)."""
    dest = tmp_path_factory.mktemp("repo") / "src"
    shutil.copytree(ROOT, dest, symlinks=True, ignore=shutil.ignore_patterns(*IGNORED))
    return dest


@pytest.fixture(scope="module")
def wheel(source: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    dist = tmp_path_factory.mktemp("dist")
    _pip(sys.executable, "wheel", "-q", "--no-deps", *BUILD, "-w", str(dist), str(source))
    (built,) = dist.glob("mosaic_diag-*.whl")
    return built


@pytest.fixture(scope="module")
def outside(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The sample log, copied to a directory outside the repository (nothing there to find playbooks in)."""
    where = tmp_path_factory.mktemp("elsewhere")
    shutil.copy(SAMPLE, where / SAMPLE.name)
    return where / SAMPLE.name


@pytest.fixture(scope="module")
def checkout_run(outside: Path) -> dict:
    """The triage of this checkout (its editable install), to compare with."""
    return _triage([sys.executable, "-m", "mosaic_diag"], outside)


@pytest.mark.slow
def test_wheel_lists_every_playbook_and_the_rules(wheel: Path, source: Path) -> None:
    names = set(zipfile.ZipFile(wheel).namelist())
    shipped = sorted(p.name for p in (source / "playbooks").glob("*.yml"))
    assert shipped
    missing = [n for n in shipped if f"mosaic_diag/shipped_playbooks/{n}" not in names]
    assert not missing, missing
    assert "mosaic_diag/classifier/rules/taxonomy.yml" in names
    assert not [n for n in names if n.startswith("playbooks/")]  # no stray top-level folder
    # the packages are listed by hand in pyproject.toml (package-dir rules out packages.find): a
    # forgotten subpackage shows here
    package = source / "mosaic_diag"
    sources = {p.relative_to(source).as_posix() for p in package.rglob("*")
               if p.suffix in (".py", ".yml") and "__pycache__" not in p.parts}
    assert sorted(sources - names) == []


@pytest.mark.slow
def test_installed_wheel_triages_with_playbook_plans(wheel: Path, outside: Path, checkout_run: dict,
                                                      tmp_path: Path) -> None:
    venv = tmp_path / "venv"
    python = _venv(venv)
    _pip(python, "install", "-q", "--no-deps", "--no-index", "--ignore-installed", str(wheel))

    where = _imported_from(python, outside.parent)
    assert where.is_relative_to(venv.resolve()), where  # the wheel's copy, not this checkout's editable install
    shipped = subprocess.run([str(python), "-c", "from mosaic_diag.playbooks import SHIPPED_DIR; print(SHIPPED_DIR)"],
                             cwd=outside.parent, capture_output=True, text=True, check=True).stdout.strip()
    assert Path(shipped).resolve() == where.parent / "shipped_playbooks"

    got = _triage([str(venv / "bin" / "mosaic-diag")], outside)
    assert got["groups"]
    assert all(g["playbook"] and g["plan"] and g["plan"]["actions"] for g in got["groups"])
    assert all("shipped_playbooks" in g["plan"]["source"] for g in got["groups"])
    assert [g["playbook"] for g in got["groups"]] == [g["playbook"] for g in checkout_run["groups"]]

    listed = subprocess.run([str(venv / "bin" / "mosaic-diag"), "playbook", "list", "--format", "json"],
                            cwd=outside.parent, capture_output=True, text=True, timeout=120)
    assert listed.returncode == 0, listed.stderr
    assert json.loads(listed.stdout)


@pytest.mark.slow
def test_editable_install_reads_the_top_level_playbooks(source: Path, outside: Path, checkout_run: dict,
                                                        tmp_path: Path) -> None:
    venv = tmp_path / "venv"
    python = _venv(venv)
    _pip(python, "install", "-q", "--no-deps", "--ignore-installed", *BUILD, "-e", str(source))

    assert _imported_from(python, outside.parent) == (source / "mosaic_diag" / "__init__.py").resolve()
    shipped = subprocess.run([str(python), "-c", "from mosaic_diag.playbooks import SHIPPED_DIR; print(SHIPPED_DIR)"],
                             cwd=outside.parent, capture_output=True, text=True, check=True).stdout.strip()
    assert Path(shipped).resolve() == (source / "playbooks").resolve()

    got = _triage([str(venv / "bin" / "mosaic-diag")], outside)
    assert all(g["playbook"] and g["plan"] for g in got["groups"])
    assert [g["playbook"] for g in got["groups"]] == [g["playbook"] for g in checkout_run["groups"]]


@pytest.fixture(autouse=True)
def _no_pythonpath(monkeypatch: pytest.MonkeyPatch) -> None:
    """The venvs must import the installed copy, not a checkout named by PYTHONPATH (a worktree's run)."""
    monkeypatch.delenv("PYTHONPATH", raising=False)
