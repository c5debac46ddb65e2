"""tests/isolation.py: what one test leaves behind is put back before the next, and the run's home is its own."""

from __future__ import annotations

import logging
import os
import pwd
import subprocess
import sys
from pathlib import Path

from tests.isolation import kept, loggers_kept, logging_changes, logging_state, process_changes, process_state, put_back


def test_loggers_a_test_changed_or_made_are_put_back(tmp_path: Path) -> None:
    existing = logging.getLogger("isolation.existing")
    before = kept()
    handler = logging.StreamHandler()
    existing.addHandler(handler)
    existing.propagate, existing.disabled = False, True
    existing.setLevel(logging.ERROR)
    made = logging.getLogger(f"isolation.made.{tmp_path.name}")  # a name no test had before
    made.addHandler(handler)
    made.addHandler(logging.NullHandler())
    made.propagate = False
    made.setLevel(logging.INFO)
    logging.disable(logging.CRITICAL)
    changes = logging_changes(before.logging, logging_state())
    assert any(c.startswith("logger 'isolation.existing': level 0 -> 40, propagate True -> False") for c in changes)
    assert any(c.startswith(f"logger 'isolation.made.{tmp_path.name}': propagate True -> False") for c in changes)
    assert "logging.disable(CRITICAL) left on" in changes
    put_back(before)
    assert (existing.level, existing.propagate, existing.disabled) == (logging.NOTSET, True, False)
    assert existing.handlers == []
    # a new logger: propagating and enabled again, its NullHandler and level (as a library sets them on import) kept
    assert made.propagate and [type(h) for h in made.handlers] == [logging.NullHandler] and made.level == logging.INFO
    assert logging.root.manager.disable == before.logging.disable
    assert logging_changes(before.logging, logging_state()) == []
    assert existing.isEnabledFor(logging.WARNING)  # (the cached effective level forgotten)


def test_a_helpers_loggers_are_kept() -> None:
    log = logging.getLogger("isolation.helper")
    log.propagate = True
    with loggers_kept("isolation.helper") as (inside,):
        inside.propagate = False
        inside.addHandler(logging.NullHandler())
    assert log.propagate and log.handlers == []


def test_sys_path_hooks_and_modules_from_a_temp_dir_are_put_back(tmp_path: Path) -> None:
    import importlib

    before = kept()
    (tmp_path / "isolation_app_module.py").write_text("VALUE = 1\n")
    sys.path.insert(0, str(tmp_path))
    importlib.import_module("isolation_app_module")
    sys.excepthook = lambda *exc: None
    put_back(before)
    assert sys.path == before.path and "isolation_app_module" not in sys.modules
    assert sys.excepthook is before.hooks[0]


def test_the_leak_check_names_what_changed(tmp_path: Path) -> None:
    before = process_state()
    os.environ["MOSAIC_DIAG_ISOLATION_PROBE"] = "1"
    cwd = os.getcwd()
    os.chdir(tmp_path)
    try:
        changes = process_changes(before, process_state())
    finally:
        os.chdir(cwd)
        del os.environ["MOSAIC_DIAG_ISOLATION_PROBE"]
    assert "os.environ changed: ['MOSAIC_DIAG_ISOLATION_PROBE']" in changes
    assert f"cwd: {cwd!r} -> {str(tmp_path)!r}" in changes
    assert process_changes(before, process_state()) == []


def test_the_run_has_a_home_of_its_own() -> None:
    """HOME and the XDG directories are the run's: the user cache (YAML cache, signing key) is not the user's."""
    from mosaic_diag.platform.userdir import cache_dir

    home = Path(os.environ["HOME"])
    assert home != Path(pwd.getpwuid(os.getuid()).pw_dir) and home.name.startswith("mosaic-diag-test-home-")
    assert cache_dir() == home / ".cache" / "mosaic-diag"
    assert "MOSAIC_DIAG_CACHE_DIR" not in os.environ


def _child_env() -> dict[str, str]:
    """The environment of a pytest run a test starts on probe tests of its own: without the suite's own switches
    (under MOSAIC_DIAG_LEAK_CHECK=1 the probes, which leave state behind on purpose, failed their teardown, and so
    did the tests that ran them; MOSAIC_TEST_ORDER reordered the probes), and without the installed pytest plugins
    (the probes use none; importing hypothesis's and the others took most of each run's second)."""
    env = {k: v for k, v in os.environ.items() if k not in ("MOSAIC_DIAG_LEAK_CHECK", "MOSAIC_TEST_ORDER")}
    return {**env, "PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1"}


def test_the_run_has_a_terminal_of_its_own(tmp_path: Path) -> None:
    """A suite run from a shell that exports COLUMNS=40, FORCE_COLOR or NO_COLOR: its tests see none of them (the
    CLI's text and Rich's boxes were wrapped at 40 columns, and six tests failed)."""
    (tmp_path / "test_probe.py").write_text(
        "import os\nfrom rich.console import Console\n\n\ndef test_probe():\n"
        "    assert [n for n in ('COLUMNS', 'LINES', 'FORCE_COLOR', 'NO_COLOR') if n in os.environ] == []\n"
        "    console = Console()\n    assert (console.width, console.color_system) == (80, None)\n")
    root = str(Path(__file__).resolve().parent.parent)
    env = {**_child_env(), "COLUMNS": "40", "LINES": "10", "FORCE_COLOR": "1", "NO_COLOR": "1", "PYTHONPATH": root}
    r = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "tests.isolation",
                        "--rootdir", str(tmp_path), str(tmp_path / "test_probe.py")],
                       cwd=root, env=env, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0 and "1 passed" in r.stdout, r.stdout + r.stderr


def test_modules_written_under_a_basetemp_outside_the_temp_dir_are_forgotten(tmp_path: Path) -> None:
    """Two tests each write and import an app module of the same name into their `tmp_path`, under a `--basetemp`
    that is not in the system's temporary directory: the second imports its own (the first's was kept, as a module
    from no temporary directory, and the second test read the first's value)."""
    (tmp_path / "system-tmp").mkdir()
    (tmp_path / "test_probe.py").write_text(
        "import importlib\nimport sys\n\nimport pytest\n\n\n@pytest.mark.parametrize('value', [1, 2])\n"
        "def test_probe(tmp_path, value):\n"
        "    (tmp_path / 'isolation_fixed_name.py').write_text(f'VALUE = {value}\\n')\n"
        "    sys.path.insert(0, str(tmp_path))\n"
        "    assert importlib.import_module('isolation_fixed_name').VALUE == value\n")
    root = str(Path(__file__).resolve().parent.parent)
    env = {**_child_env(), "PYTHONPATH": root, "TMPDIR": str(tmp_path / "system-tmp")}
    r = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "tests.isolation",
                        "--rootdir", str(tmp_path), "--basetemp", str(tmp_path / "elsewhere"),
                        str(tmp_path / "test_probe.py")],
                       cwd=root, env=env, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0 and "2 passed" in r.stdout, r.stdout + r.stderr


def test_a_checkout_in_the_temp_dir_keeps_its_own_modules(monkeypatch) -> None:
    """The suite run from a clone in the temporary directory (`git clone … /tmp/ci`): its own modules are no test's
    files and are never forgotten (each `mosaic_diag` module imported lazily in a test was, and imported anew by the
    next: two classes of one name); a module a test wrote in a temporary root still is, in the checkout too."""
    from tests import isolation

    checkout = isolation._CHECKOUT
    monkeypatch.setattr(isolation, "_TEMP_ROOTS", [os.path.join(os.path.dirname(checkout.rstrip(os.sep)), "")])
    import mosaic_diag.cli  # noqa: F401 - a module of the checkout, imported

    assert "mosaic_diag.cli" not in isolation._tmp_modules({"mosaic_diag.cli"})
    assert isolation._test_file(os.path.join(os.path.dirname(checkout.rstrip(os.sep)), "elsewhere", "app.py"),
                                tuple(isolation._TEMP_ROOTS))
    inside = os.path.join(checkout, "tmp", "")  # `--basetemp ./tmp`: the checkout's own folder of test files
    assert isolation._test_file(os.path.join(inside, "test_x0", "app.py"), (inside,))
    assert not isolation._test_file(os.path.join(checkout, "mosaic_diag", "cli.py"), (inside,))


def _collected(tmp_path: Path, order: str | None) -> subprocess.CompletedProcess[str]:
    """`pytest --collect-only -q` of the three probe modules in `tmp_path`, under `MOSAIC_TEST_ORDER=order`."""
    root = str(Path(__file__).resolve().parent.parent)
    env = {**_child_env(), "PYTHONPATH": root}
    if order is not None:
        env["MOSAIC_TEST_ORDER"] = order
    return subprocess.run([sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "no:cacheprovider",
                           "-p", "no:xdist", "--rootdir", str(tmp_path), str(tmp_path)],
                          cwd=root, env=env, capture_output=True, text=True, timeout=120)


def test_the_order_knob_reverses_or_shuffles_modules_and_their_tests(tmp_path: Path) -> None:
    """MOSAIC_TEST_ORDER: unset, the slow module first, the rest as collected; `reverse` and `shuffle:SEED` reorder
    the modules of each part and the tests of each module (the same order for a seed, in every process), each
    module's tests kept together and the slow module still first; a value it cannot read stops the run."""
    (tmp_path / "conftest.py").write_text(
        "from tests.conftest import pytest_collection_modifyitems, pytest_configure  # noqa: F401\n")
    (tmp_path / "test_a.py").write_text("".join(f"def test_a{i}():\n    pass\n\n\n" for i in range(6)))
    (tmp_path / "test_b.py").write_text("".join(f"def test_b{i}():\n    pass\n\n\n" for i in range(6)))
    (tmp_path / "test_c.py").write_text(
        "import pytest\n\n\n@pytest.mark.slow\ndef test_c0():\n    pass\n\n\ndef test_c1():\n    pass\n")
    (tmp_path / "pytest.ini").write_text("[pytest]\nmarkers =\n    slow: slow\n")

    def order(value: str | None) -> list[str]:
        r = _collected(tmp_path, value)
        assert r.returncode == 0, r.stdout + r.stderr
        return [line.split("::")[1] for line in r.stdout.splitlines() if "::" in line]

    a, b = [f"test_a{i}" for i in range(6)], [f"test_b{i}" for i in range(6)]
    assert order(None) == order("default") == ["test_c0", "test_c1", *a, *b]
    assert order("reverse") == ["test_c1", "test_c0", *b[::-1], *a[::-1]]
    shuffled = order("shuffle:7")
    assert shuffled == order("shuffle:7") != order("shuffle:8")
    assert sorted(shuffled[:2]) == ["test_c0", "test_c1"] and sorted(shuffled[2:]) == sorted(a + b)
    assert {tuple(sorted(shuffled[2:8])), tuple(sorted(shuffled[8:]))} == {tuple(a), tuple(b)}  # modules whole
    assert shuffled[2:8] not in (a, b) or shuffled[8:] not in (a, b)
    bad = _collected(tmp_path, "shuffle")
    assert bad.returncode == 4 and "MOSAIC_TEST_ORDER='shuffle': expected" in bad.stderr, bad.stdout + bad.stderr
