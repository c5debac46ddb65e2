"""Deploy history: the file store and the PostgreSQL store (real server via the `pg_db` fixture)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from mosaic_diag.errors import ConfigError, UnreachableError
from mosaic_diag.manifest import generate_manifest
from mosaic_diag.manifest.store import FileDeployStore, PostgresDeployStore, open_store, previous_deploy
from tests.test_manifest_support import deploy_repo, set_git_env


@pytest.fixture
def manifests(tmp_path, monkeypatch):
    set_git_env(monkeypatch)
    repo = deploy_repo(tmp_path)
    return {name: generate_manifest(repo.work, sha, python_version="3.11.9") for name, sha in repo.commits.items()}


class TickClock:
    """A clock that moves one minute per call (records get distinct, ordered times)."""

    def __init__(self) -> None:
        self.now = datetime(2025, 6, 1, 12, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        self.now += timedelta(minutes=1)
        return self.now


def exercise(store, manifests) -> None:
    assert store.history() == []
    for name in ("c2", "c4", "c5"):
        store.record(manifests[name], note="deploy with password=hunter2secret")
    history = store.history()
    assert [r.commit for r in history] == [manifests[n].commit for n in ("c5", "c4", "c2")]
    assert history[0].note == "deploy with password=***"
    assert history[0].manifest["git"]["commit"] == manifests["c5"].commit
    assert previous_deploy(history, manifests["c5"].commit).commit == manifests["c4"].commit
    store.record(manifests["c4"], status="bad", note="rolled back")
    assert previous_deploy(store.history(), manifests["c5"].commit).commit == manifests["c2"].commit
    assert [r.commit for r in store.history(limit=2)] == [manifests["c4"].commit, manifests["c5"].commit]
    with pytest.raises(ConfigError, match="unknown deploy status 'great'"):
        store.record(manifests["c2"], status="great")


def test_file_store(manifests, tmp_path):
    path = tmp_path / "state" / "deploys.jsonl"
    exercise(FileDeployStore(path, TickClock()), manifests)
    lines = path.read_text().splitlines()
    assert len(lines) == 4 and json.loads(lines[0])["status"] == "deployed"
    path.write_text(path.read_text() + "{not json\n")
    with pytest.raises(ConfigError, match=r"deploys.jsonl:5: bad deploy record"):
        FileDeployStore(path).history()


def test_open_store_picks_the_backend(tmp_path):
    assert isinstance(open_store(tmp_path), FileDeployStore)
    assert open_store(tmp_path).path == tmp_path / ".mosaic-diag" / "deploys.jsonl"
    store = open_store(tmp_path, database_url="postgresql://u:sekret@127.0.0.1:1/db")
    assert isinstance(store, PostgresDeployStore) and "sekret" not in store.description


def test_postgres_store(manifests, pg_db):
    exercise(PostgresDeployStore(pg_db, TickClock()), manifests)
    again = PostgresDeployStore(pg_db)  # the table exists: creating it again is a no-op
    assert len(again.history()) == 4


def test_postgres_store_unreachable(manifests, refused_port):
    store = PostgresDeployStore(f"postgresql://mosaic:pw@127.0.0.1:{refused_port}/mosaic")
    with pytest.raises(UnreachableError, match=r"deploy store postgresql://mosaic:\*\*\*@127.0.0.1:\d+/mosaic "
                                               "unreachable"):
        store.record(manifests["c5"])


def _record_many(path: str, manifest_json: str, n: int) -> None:
    from mosaic_diag.manifest.model import Manifest

    store = FileDeployStore(Path(path))
    manifest = Manifest.from_dict(json.loads(manifest_json))
    for _ in range(n):
        store.record(manifest, status="deployed")


def test_concurrent_writers_of_the_file_store_get_distinct_ids(manifests, tmp_path) -> None:
    import multiprocessing

    path = tmp_path / "deploys.jsonl"
    doc = json.dumps(manifests["c5"].to_dict())
    ctx = multiprocessing.get_context("fork")
    procs = [ctx.Process(target=_record_many, args=(str(path), doc, 25)) for _ in range(4)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
        assert p.exitcode == 0
    ids = [r.id for r in FileDeployStore(path).history()]
    assert len(ids) == 100 and sorted(ids) == list(range(1, 101))


def test_a_record_cut_off_by_an_interrupted_write_is_not_glued_to_the_next(manifests, tmp_path) -> None:
    path = tmp_path / "deploys.jsonl"
    store = FileDeployStore(path, TickClock())
    store.record(manifests["c2"])
    whole = path.read_text()
    path.write_text(whole + whole[: len(whole) // 2])  # the process died half-way through its write
    assert [r.commit for r in store.history()] == [manifests["c2"].commit]  # the torn tail is no record
    store.record(manifests["c4"])
    assert [r.commit for r in store.history()] == [manifests["c4"].commit, manifests["c2"].commit]
    assert path.read_text().count("\n") == 2 and path.read_text().endswith("\n")


def test_a_store_file_with_bytes_that_are_not_utf8_is_one_line_naming_file_and_line(manifests, tmp_path, capsys,
                                                                                     monkeypatch) -> None:
    from mosaic_diag.cli import main

    monkeypatch.delenv("DATABASE_URL", raising=False)

    path = tmp_path / ".mosaic-diag" / "deploys.jsonl"
    FileDeployStore(path, TickClock()).record(manifests["c2"])
    with open(path, "ab") as fh:
        fh.write(b'{"id": 2, "note": "\xff\xfe"}\n')
    with pytest.raises(ConfigError, match=r"deploys\.jsonl:2: bad deploy record: not UTF-8"):
        FileDeployStore(path).history()
    capsys.readouterr()
    assert main(["manifest", "history", "--repo", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "deploys.jsonl:2: bad deploy record: not UTF-8" in err


def test_superseded_and_unjudged_deploys_are_never_rollback_targets_nor_bad(manifests, tmp_path):
    """A deploy replaced before it was judged, or never seen serving, says nothing about its commit: `--previous`
    skips it (it never served as judged good), and it does not mark the commit bad (a later good deploy of it
    counts)."""
    store = FileDeployStore(tmp_path / "deploys.jsonl", TickClock())
    store.record(manifests["c2"], status="deployed")
    store.record(manifests["c4"], status="superseded", note="replaced by c5 before it was judged")
    store.record(manifests["c5"], status="unjudged", note="not seen serving within --wait-timeout")
    assert [r.status for r in store.history()] == ["unjudged", "superseded", "deployed"]
    assert previous_deploy(store.history(), None).commit == manifests["c2"].commit
    store.record(manifests["c4"], status="deployed", note="deployed again, judged good")
    assert previous_deploy(store.history(), manifests["c5"].commit).commit == manifests["c4"].commit


def test_the_history_file_is_never_appended_through_a_symlink_nor_to_a_fifo(manifests, tmp_path) -> None:
    """A committed `.mosaic-diag/deploys.jsonl -> ~/.bashrc` had every `manifest record` / deploy append a JSON
    line to the link's target (and a dangling link created it); a FIFO there hung the write."""
    import os

    victim = tmp_path / "bashrc"
    victim.write_text("export PATH=/usr/bin\n")
    store_dir = tmp_path / "clone" / ".mosaic-diag"
    store_dir.mkdir(parents=True)
    (store_dir / "deploys.jsonl").symlink_to(victim)
    with pytest.raises(OSError, match="is a symlink: the deploy history is written where it is named"):
        FileDeployStore(store_dir / "deploys.jsonl", TickClock()).record(manifests["c2"])
    assert victim.read_text() == "export PATH=/usr/bin\n"
    (store_dir / "deploys.jsonl").unlink()
    (store_dir / "deploys.jsonl").symlink_to(tmp_path / "created-by-the-link")
    with pytest.raises(OSError, match="is a symlink"):
        FileDeployStore(store_dir / "deploys.jsonl", TickClock()).record(manifests["c2"])
    assert not (tmp_path / "created-by-the-link").exists()
    (store_dir / "deploys.jsonl").unlink()
    os.mkfifo(store_dir / "deploys.jsonl")
    with pytest.raises(OSError, match="not a regular file"):
        FileDeployStore(store_dir / "deploys.jsonl", TickClock()).record(manifests["c2"])


def test_a_record_after_a_torn_last_line_drops_it(manifests, tmp_path) -> None:
    """The torn tail is found by reading the open file itself (the store no longer reopens it by name)."""
    path = tmp_path / "deploys.jsonl"
    store = FileDeployStore(path, TickClock())
    store.record(manifests["c2"])
    with open(path, "ab") as fh:
        fh.write(b'{"id": 2, "commit": "abc')  # a crash mid-write, over 64 KiB of file in front of it
    store.record(manifests["c4"])
    lines = path.read_bytes().split(b"\n")
    assert lines[-1] == b"" and len(lines) == 3 and all(json.loads(x) for x in lines[:2])
