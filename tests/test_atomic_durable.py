"""What the toolkit writes is on the disk before it says so (fsync): a state file's new text before the rename
that puts it in place, the rename itself, an audit record before the action it announces, a deploy record.
`os.fsync` is watched (it still runs): which file each call synced, and what the state file held then."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from mosaic_diag.manifest.store import FileDeployStore
from mosaic_diag.platform.atomic import write_atomic
from mosaic_diag.platform.audit import append_audit
from tests.test_deploy_store import manifests  # noqa: F401 - the fixture


@pytest.fixture
def synced(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The paths of the files and directories fsync'ed, in order."""
    calls: list[str] = []
    real = os.fsync

    def fsync(fd: int) -> None:
        calls.append(os.readlink(f"/proc/self/fd/{fd}"))
        real(fd)

    monkeypatch.setattr(os, "fsync", fsync)
    return calls


def test_a_replaced_file_is_synced_before_its_rename_and_the_rename_after(tmp_path: Path, synced: list[str]) -> None:
    state = tmp_path / "state.json"
    state.write_text("old\n")
    seen: list[str] = []
    real = os.replace

    def replace(src: str, dst: Path) -> None:
        seen.append(f"rename, {len(synced)} synced")
        real(src, dst)

    with pytest.MonkeyPatch.context() as m:
        m.setattr(os, "replace", replace)
        write_atomic(state, "new\n")
    assert state.read_text() == "new\n"
    (temp, directory) = synced
    assert Path(temp).parent == tmp_path and Path(temp).name.startswith(".state.json.") and temp.endswith(".tmp")
    assert seen == ["rename, 1 synced"]  # the new text on the disk, then the rename, then the directory
    assert directory == str(tmp_path)


def test_an_audit_record_and_a_deploy_record_are_synced(tmp_path: Path, synced: list[str], manifests) -> None:  # noqa: F811
    log = tmp_path / ".mosaic-diag" / "audit.log"
    append_audit(log, {"action": "rollback", "target": "abc"})
    assert synced == [str(log)]
    history = tmp_path / ".mosaic-diag" / "deploys.jsonl"
    FileDeployStore(history).record(manifests["c2"])
    assert synced == [str(log), str(history)]


def test_a_device_named_as_the_output_is_written_without_a_sync(tmp_path: Path, synced: list[str]) -> None:
    """`-o /dev/null`: written as it is (no rename), and no fsync, which a device may refuse."""
    write_atomic(Path("/dev/null"), "report\n", to_device=True)
    assert synced == []
