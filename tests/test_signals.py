"""Commands that handle SIGTERM as Ctrl-C put the process's own handler back when they end."""

from __future__ import annotations

import signal
from pathlib import Path

import pytest


@pytest.mark.parametrize("args", [["rollback", "abc1234"], ["deploy", "--dry-run"]], ids=["rollback", "deploy"])
def test_sigterm_handler_is_put_back_after_an_in_process_command(tmp_path: Path, args: list[str],
                                                                 monkeypatch: pytest.MonkeyPatch,
                                                                 capsys: pytest.CaptureFixture) -> None:
    """`rollback` and `deploy` turn SIGTERM into a KeyboardInterrupt while they run; before, the handler
    stayed installed in the caller's process for good (a pytest worker, an app calling `main`)."""
    from mosaic_diag.cli import main

    def mine(signum: int, frame: object) -> None:  # the caller's own handler
        raise AssertionError("not called")

    monkeypatch.chdir(tmp_path)  # not a git repository: the command fails after installing its handler
    old = signal.signal(signal.SIGTERM, mine)
    try:
        assert main([*args, "--repo", str(tmp_path / "missing")]) == 2
        assert signal.getsignal(signal.SIGTERM) is mine
    finally:
        signal.signal(signal.SIGTERM, old)
    assert "error" in capsys.readouterr().err


@pytest.mark.parametrize("args", [["rollback", "abc1234"], ["deploy", "--dry-run"]], ids=["rollback", "deploy"])
def test_the_entry_point_puts_the_default_sigterm_back_after_an_in_process_command(
        tmp_path: Path, args: list[str], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture) -> None:
    """`entry.main` makes SIGTERM Ctrl-C from its start for the commands that take it so (`SIGTERM_STOPS`): the
    default is back when it returns."""
    from mosaic_diag.entry import main

    monkeypatch.chdir(tmp_path)
    old = signal.signal(signal.SIGTERM, signal.SIG_DFL)
    try:
        assert main([*args, "--repo", str(tmp_path / "missing")]) == 2
        assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL
    finally:
        signal.signal(signal.SIGTERM, old)
    assert "error" in capsys.readouterr().err


def test_the_commands_that_take_sigterm_as_ctrl_c_are_the_entry_points_list() -> None:
    """A command calling `sigterm_as_interrupt` is in `entry.SIGTERM_STOPS` (SIGTERM while its modules load is an
    interruption too), and only those are."""
    import re

    from mosaic_diag.entry import SIGTERM_STOPS

    commands = Path(__file__).resolve().parent.parent / "mosaic_diag" / "commands"
    calling = {p.stem for p in commands.glob("*.py") if re.search(r"^\s+sigterm_as_interrupt\(\)", p.read_text(),
                                                                   re.MULTILINE)}
    assert calling == set(SIGTERM_STOPS)
