"""Loaded playbooks kept in the on-disk cache (`playbooks.storecache`): a store read back is the store the loader makes
(every playbook, condition, parameter, type and line number); an edited file, another working directory, a damaged or
foreign entry is loaded afresh; a set with a problem is never kept; a hit loads no file and imports no loader."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import zlib
from pathlib import Path
from typing import Any

import pytest

from mosaic_diag.platform import yamlcache
from mosaic_diag.playbooks import SHIPPED_DIR, PlaybookError, PlaybookStore, storecache
from mosaic_diag.playbooks.files import validation_key
from mosaic_diag.playbooks.store import _store_key

ROOT = Path(__file__).resolve().parent.parent


def _whole(value: Any) -> Any:
    """Everything a loaded value carries: types, values, field order and the YAML line numbers (`_pack` spells them
    out), and each object's attributes as `__init__` sets them."""
    if hasattr(value, "__dataclass_fields__"):
        return (type(value), list(vars(value)), _whole(storecache._pack(value)))
    return value


def _fresh(target: Path) -> PlaybookStore:
    return PlaybookStore.load(target)  # (no key: never the cache)


def test_a_store_read_back_is_the_store_the_loader_makes(cache: Path) -> None:
    key = validation_key(SHIPPED_DIR)
    assert key is not None
    fresh = _fresh(SHIPPED_DIR)
    entry = _store_key(key, SHIPPED_DIR)
    assert entry is not None and storecache.get(entry) is None
    first = PlaybookStore.load(None, key=key)  # loaded, then kept
    assert (cache / f"{entry}.marshal").is_file()
    second = PlaybookStore.load(None, key=key)  # read back
    assert second.playbooks is not first.playbooks
    assert first.playbooks == second.playbooks == fresh.playbooks and len(fresh) > 40
    assert [_whole(pb) for pb in second] == [_whole(pb) for pb in fresh]
    for kept, made in zip(second, fresh, strict=True):
        for a, b in zip(kept.remediate, made.remediate, strict=True):
            assert vars(a) == vars(b) and list(vars(a.when)) == list(vars(b.when))
            assert type(a.params) is type(b.params) and a.params is not b.params
    assert (second.directory, second.taxonomy) == (fresh.directory, fresh.taxonomy)
    facts = {"count": 3, "count_5m": 3, "rate_5m": 0.6, "stage": "runtime"}
    assert [pb.plan(facts).to_dict() for pb in second] == [pb.plan(facts).to_dict() for pb in fresh]


def test_an_edited_file_is_loaded_again(cache: Path, tmp_path: Path) -> None:
    books = tmp_path / "books"
    shutil.copytree(SHIPPED_DIR, books)
    key = validation_key(books)
    assert key is not None
    assert PlaybookStore.load(books, key=key).get("upload-path-missing") is not None
    uploads = books / "uploads.yml"
    text = uploads.read_text(encoding="utf-8")
    # the same length, the same modification time: only the bytes tell
    stat = uploads.stat()
    uploads.write_text(text.replace("id: upload-path-missing", "id: upload-path-gone_"), encoding="utf-8")
    os.utime(uploads, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    edited = validation_key(books)
    assert edited is not None and edited != key
    store = PlaybookStore.load(books, key=edited)
    assert store.get("upload-path-missing") is None and store.get("upload-path-gone_") is not None
    assert store.playbooks == _fresh(books).playbooks
    # a problem is never kept: the set fails the same way every time
    uploads.write_text(text.replace("when: always", 'when: "count_5m >"', 1), encoding="utf-8")
    broken = validation_key(books)
    assert broken is not None
    for _ in range(2):
        with pytest.raises(PlaybookError, match="uploads.yml:10"):
            PlaybookStore.load(books, key=broken)
    entry = _store_key(broken, books)
    assert entry is not None and not (cache / f"{entry}.marshal").exists()


def test_the_names_the_loader_gives_the_files_are_part_of_the_key(cache: Path, tmp_path: Path,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    """A playbook's `source` is its file as the loader shows it, relative to the working directory when under it."""
    books = tmp_path / "books"
    shutil.copytree(SHIPPED_DIR, books)
    key = validation_key(books)
    assert key is not None
    monkeypatch.chdir(tmp_path)
    here = PlaybookStore.load(books, key=key)
    assert here.playbooks[0].source.startswith("books/")
    monkeypatch.chdir(ROOT)
    there = PlaybookStore.load(books, key=key)
    assert there.playbooks[0].source.startswith(str(books)) and there.playbooks == _fresh(books).playbooks


def test_a_damaged_or_foreign_entry_is_loaded_afresh(cache: Path) -> None:
    import marshal

    key = validation_key(SHIPPED_DIR)
    assert key is not None
    fresh = _fresh(SHIPPED_DIR)
    entry = _store_key(key, SHIPPED_DIR)
    assert entry is not None
    PlaybookStore.load(None, key=key)
    check, blob = yamlcache.get_plain(entry)
    at = blob.index(b"upload-path-missing")
    forged = blob[:at] + b"U" + blob[at + 1:]  # read as it is, this would be a playbook `Upload-path-missing`
    assert [pb.id for pb in storecache._unpack(marshal.loads(forged))].count("Upload-path-missing") == 1
    other_class = marshal.dumps(("o", 99, []))
    wrong_arity = marshal.dumps(["x", ("o", 0, ["only-an-id"])])
    for bad in [(check, forged), (zlib.crc32(other_class), other_class), (zlib.crc32(wrong_arity), wrong_arity),
                (check, blob[:-10]), "not an entry", (zlib.crc32(b"\x00"), b"\x00")]:
        yamlcache.put_plain(entry, bad)
        assert storecache.get(entry) is None
        store = PlaybookStore.load(None, key=key)
        assert store.playbooks == fresh.playbooks  # loaded afresh, and kept right again
        assert storecache.get(entry) == list(fresh.playbooks)


def test_a_hit_reads_no_playbook_file(cache: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from mosaic_diag.playbooks import loader

    key = validation_key(SHIPPED_DIR)
    assert key is not None
    PlaybookStore.load(None, key=key)

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("the cached store loaded a file")

    monkeypatch.setattr(loader, "load_file", refuse)
    assert len(PlaybookStore.load(None, key=key)) > 40
    with pytest.raises(AssertionError, match="loaded a file"):
        PlaybookStore.load(None)  # (no key: loaded, as ever)


def test_a_triage_plans_from_the_kept_store_without_the_loader(tmp_path: Path) -> None:
    env = {**os.environ, "MOSAIC_DIAG_CACHE_DIR": str(tmp_path / "cache"), "PYTHONPATH": str(ROOT)}
    code = ("import sys\nfrom mosaic_diag.plans import playbook_planner\n"
            "plan = playbook_planner()('UPLOAD_PATH_MISSING', {'count': 1, 'stage': 'runtime'})\n"
            "print('mosaic_diag.playbooks.loader' in sys.modules, plan[0], len(str(plan[1])))\n")
    runs = [subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120,
                           check=True).stdout.split() for _ in range(3)]
    # the first run validates (the loader) and keeps the set; the next ones read it back
    assert [r[0] for r in runs] == ["True", "False", "False"] and len({tuple(r[1:]) for r in runs}) == 1, runs
