"""The on-disk cache of loaded YAML: the same data and line numbers as a fresh load, only for what loads,
only in a private directory."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from mosaic_diag.classifier.taxonomy import SHIPPED_RULES
from mosaic_diag.errors import ConfigError
from mosaic_diag.platform import yamlcache
from mosaic_diag.platform.yamlpos import PosDict, PosList, _load_yaml_text, load_yaml_text
from mosaic_diag.playbooks import SHIPPED_DIR


def _shape(obj: object) -> object:
    """Everything a loaded document carries: values, types, order and every line number."""
    if isinstance(obj, PosDict):
        return ("d", obj.line, obj.key_lines, [(k, type(k), _shape(v)) for k, v in obj.items()])
    if isinstance(obj, PosList):
        return ("l", obj.line, obj.item_lines, [_shape(v) for v in obj])
    return (type(obj), obj)


def test_cached_load_is_the_fresh_load(cache: Path) -> None:
    texts = [SHIPPED_RULES.read_text(), *(p.read_text() for p in sorted(SHIPPED_DIR.glob("*.yml"))),
             "a: 1\nb: [1.5, true, null, 'x', !!binary aGk=]\n1: one\n'1': two\nc: {d: [ {e: f} ]}\n"]
    for text in texts:
        fresh = _load_yaml_text(text, "t.yml")
        first = load_yaml_text(text, "t.yml")   # parsed, then cached
        second = load_yaml_text(text, "t.yml")  # from the cache
        assert _shape(first) == _shape(second) == _shape(fresh)
    assert len(list(cache.glob("*.marshal"))) == len(texts)
    assert (os.stat(cache).st_mode & 0o777) == 0o700


def test_an_entry_is_what_is_read(cache: Path) -> None:
    text = "a: 1\n"
    load_yaml_text(text, "t.yml")
    key = yamlcache.key_of(text)
    yamlcache.put(key, _load_yaml_text("a: 2\n", "t.yml"))  # the entry, not the text, answers now
    assert load_yaml_text(text, "t.yml") == {"a": 2}
    (cache / f"{key}.marshal").write_bytes(b"not marshal")  # a broken entry is a miss
    assert load_yaml_text(text, "t.yml") == {"a": 1}


def test_errors_and_constructed_values_are_not_cached(cache: Path) -> None:
    for _ in range(2):
        with pytest.raises(ConfigError, match="invalid YAML"):
            load_yaml_text("a: [1\n", "bad.yml")
        assert str(load_yaml_text("when: 2026-01-02 03:04:05\n", "t.yml")["when"]) == "2026-01-02 03:04:05"
    assert not cache.exists() or not list(cache.glob("*.marshal"))


def test_a_directory_others_may_write_is_not_used(cache: Path) -> None:
    cache.mkdir(mode=0o777)
    os.chmod(cache, 0o777)
    load_yaml_text("a: 1\n", "t.yml")
    assert not list(cache.iterdir())


def test_a_fifo_planted_in_a_directory_others_may_write_is_never_opened(cache: Path, tmp_path: Path) -> None:
    """`MOSAIC_DIAG_CACHE_DIR` naming a directory others may write (documented as not used): an entry was opened
    before that was checked, so a FIFO another user planted under a known key (the keys are the shipped texts'
    hashes, the code bundles' names are fixed) blocked every command at start-up, for ever, waiting for a writer."""
    import subprocess
    import sys

    cache.mkdir()
    os.chmod(cache, 0o777)
    text = SHIPPED_RULES.read_text()
    os.mkfifo(cache / f"{yamlcache.key_of(text)}.marshal")
    code = ("import sys; from mosaic_diag.platform.yamlpos import load_yaml_text; "
            "sys.stdout.write(str(len(load_yaml_text(open(sys.argv[1]).read(), 'rules.yml'))))")
    r = subprocess.run([sys.executable, "-c", code, str(SHIPPED_RULES)], capture_output=True, text=True, timeout=60,
                       env={**os.environ, "MOSAIC_DIAG_CACHE_DIR": str(cache),
                            "PYTHONPATH": str(Path(__file__).resolve().parents[1])}, cwd=tmp_path)
    assert r.returncode == 0 and r.stdout == str(len(load_yaml_text(text, "rules.yml"))), r.stderr


def test_an_empty_setting_turns_the_cache_off(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("MOSAIC_DIAG_CACHE_DIR", "")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert yamlcache.cache_dir() is None
    assert load_yaml_text("a: 1\n", "t.yml") == {"a": 1}
    assert not list(tmp_path.iterdir())


def test_the_cache_stays_bounded_and_keeps_what_is_used(cache: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Past MAX_ENTRIES a write removes the least recently used entries (by mtime; a hit refreshes it)."""
    monkeypatch.setattr(yamlcache, "MAX_ENTRIES", 8)
    texts = [f"n: {i}\n" for i in range(8)]
    for i, text in enumerate(texts):
        load_yaml_text(text, "t.yml")
        os.utime(cache / f"{yamlcache.key_of(text)}.marshal", ns=(i * 10**9, i * 10**9))  # n: 0 is the oldest
    assert load_yaml_text(texts[0], "t.yml") == {"n": 0}  # a hit: now the most recently used
    load_yaml_text("n: 8\n", "t.yml")  # the ninth entry: prune down to 6
    left = {p.name for p in cache.glob("*.marshal")}
    assert len(left) == 6
    kept = {t for t in [*texts, "n: 8\n"] if f"{yamlcache.key_of(t)}.marshal" in left}
    assert kept == {texts[0], *texts[4:], "n: 8\n"}
    assert not list(cache.glob(".*.tmp"))


def test_an_entry_of_another_shape_is_a_miss(cache: Path) -> None:
    key = yamlcache.key_of("a: 1\n")
    yamlcache.put_plain(key, ("x", 1))  # plain data under a YAML text's key: not a loaded document
    assert yamlcache.get(key) is yamlcache.MISS and yamlcache.get_plain(key) == ("x", 1)


def test_plainly_loaded_data_is_cached_too(cache: Path) -> None:
    """l10n loads its catalogs with PyYAML's plain loader (dicts and lists, no line numbers): they are cached as
    they are (each triage imported PyYAML and parsed the severities file again: ~0.1 s); a constructed value
    inside one still is not."""
    from mosaic_diag.classifier import l10n

    for path in (l10n.SEVERITIES_FILE, l10n.DATA_FILE):
        fresh = l10n._load(path)
        key = yamlcache.key_of(path.read_text(encoding="utf-8"))
        kept = yamlcache.get(key)
        assert kept is not yamlcache.MISS, path
        assert kept == fresh and type(kept) is dict and json_shape(kept) == json_shape(fresh)
        assert l10n._load(path) == fresh
    yamlcache.put("k-datetime", {"a": [{"when": __import__("datetime").date(2026, 1, 2)}]})
    assert yamlcache.get("k-datetime") is yamlcache.MISS
    yamlcache.put("k-mixed", {"a": _load_yaml_text("b: 1\n", "t.yml")})  # a positioned mapping inside a plain one
    assert yamlcache.get("k-mixed") is yamlcache.MISS


def json_shape(obj: object) -> object:
    """Values and their types, all the way down."""
    if isinstance(obj, dict):
        return ("d", type(obj), [(k, type(k), json_shape(v)) for k, v in obj.items()])
    if isinstance(obj, list):
        return ("l", type(obj), [json_shape(v) for v in obj])
    return (type(obj), obj)
