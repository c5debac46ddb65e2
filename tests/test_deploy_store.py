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


GOOD_ROW = {"recorded_at": "2026-12-06T10:00:00+00:00", "commit_sha": "a" * 40, "branch": "main",
            "status": "deployed", "note": None, "manifest": "{}"}
# an older table, or one made by hand: no NOT NULL, times and manifests kept as text
LOOSE_TABLE = """CREATE TABLE mosaic_diag_deploys (id BIGSERIAL PRIMARY KEY, recorded_at TEXT, commit_sha TEXT,
                 branch TEXT, status TEXT, note TEXT, manifest TEXT)"""


def _insert(dsn: str, *rows: dict, table_sql: str | None = None) -> list[int]:
    """Rows written straight into the deploy table (as an older version or a hand would), their ids."""
    import psycopg2

    ids = []
    with psycopg2.connect(dsn) as conn, conn.cursor() as cur:
        if table_sql:
            cur.execute(table_sql)
        for row in rows:
            cur.execute("INSERT INTO mosaic_diag_deploys (recorded_at, commit_sha, branch, status, note, manifest) "
                        "VALUES (%(recorded_at)s, %(commit_sha)s, %(branch)s, %(status)s, %(note)s, %(manifest)s) "
                        "RETURNING id", row)
            ids.append(cur.fetchone()[0])
    conn.close()
    return ids


def _history_cli(dsn: str, cwd: Path):
    from tests.cli_inproc import run_cli

    return run_cli(["manifest", "history", "--repo", str(cwd)], env={"DATABASE_URL": dsn})


@pytest.mark.parametrize(("loose", "row", "reason"), [
    (False, {"commit_sha": "main~1"}, "commit_sha 'main~1' is not a full commit id (40 or 64 hex digits)"),
    (False, {"commit_sha": "abc1234"}, "commit_sha 'abc1234' is not a full commit id (40 or 64 hex digits)"),
    (False, {"status": "Bad"}, "status 'Bad' is not one of pending, deployed, rollback, bad, aborted, superseded, "
                               "unjudged"),
    (False, {"manifest": "[1]"}, "manifest is not a mapping"),
    (True, {"commit_sha": None}, "commit_sha is NULL"),
    (True, {"status": None}, "status is NULL"),
    (True, {"recorded_at": None}, "recorded_at is NULL"),
    (True, {"recorded_at": "yesterday"}, "recorded_at 'yesterday' is not an ISO-8601 time"),
    (True, {"manifest": "{not json"}, "manifest is not JSON"),
], ids=["commit-ref", "commit-short", "status-typed", "manifest-array", "commit-null", "status-null", "time-null",
        "time-garbled", "manifest-garbled"])
def test_a_postgres_row_written_by_hand_or_an_older_version_is_one_line_naming_store_and_row(
        manifests, pg_db, tmp_path, loose: bool, row: dict, reason: str) -> None:
    """A row the store would misread (a short sha or a ref rolled back to as whatever it names now, a hand-typed
    `Bad` taken for a good deploy, an unparsable time ordering an old deploy first) or crash on (`NoneType` has
    no `isoformat`, a JSONDecodeError) is refused as the file store refuses a bad line: one line, exit 2, naming
    the store (password hidden) and the row's id; nothing read from it."""
    store = PostgresDeployStore(pg_db, TickClock())
    if not loose:
        store.record(manifests["c2"])  # (the table as the store makes it)
    _insert(pg_db, GOOD_ROW, table_sql=LOOSE_TABLE if loose else None)
    bad_id = _insert(pg_db, {**GOOD_ROW, **row})[0]
    with pytest.raises(ConfigError) as caught:
        store.history()
    said = str(caught.value)
    assert said == (f"deploy store postgresql table mosaic_diag_deploys at {store.shown_dsn}: row id {bad_id}: bad "
                    f"deploy record: {reason}; fix or delete that row"), said
    r = _history_cli(pg_db, tmp_path)
    assert r.returncode == 2 and r.stdout == "" and r.stderr == f"mosaic-diag: error: {said}\n", r.stderr
    assert ":***@" in r.stderr and "Traceback" not in r.stderr


def test_a_postgres_row_of_an_older_table_with_null_optional_fields_reads(pg_db, tmp_path) -> None:
    """What the file store takes, the table does too: no branch, no note, no manifest (NULL: an empty one), a
    time kept as text; the order stays the newest first."""
    ids = _insert(pg_db, {**GOOD_ROW, "branch": None, "manifest": None},
                  {**GOOD_ROW, "recorded_at": "2026-12-06T11:00:00+00:00", "commit_sha": "b" * 40, "status": "bad"},
                  table_sql=LOOSE_TABLE)
    history = PostgresDeployStore(pg_db).history()
    assert [(r.id, r.commit, r.status, r.branch, r.manifest) for r in history] == [
        (ids[1], "b" * 40, "bad", "main", {}), (ids[0], "a" * 40, "deployed", None, {})]
    assert history[0].recorded_at == "2026-12-06T11:00:00+00:00"
    r = _history_cli(pg_db, tmp_path)
    assert r.returncode == 0 and "b" * 12 in r.stdout, r.stderr


def test_a_file_store_line_with_a_status_no_version_wrote_is_refused_too(tmp_path) -> None:
    """One check for both stores: a hand-typed `Bad` in the file was read as a deploy that is not bad."""
    path = tmp_path / "deploys.jsonl"
    path.write_text(json.dumps({"id": 1, "recorded_at": "2026-12-06T10:00:00+00:00", "commit": "c" * 40,
                                "status": "Bad"}) + "\n")
    with pytest.raises(ConfigError, match=r"deploys\.jsonl:1: bad deploy record: status 'Bad' is not one of pending"):
        FileDeployStore(path).history()
