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
