"""A built taxonomy kept in the on-disk cache (`classifier.taxcache`): read back, it is the taxonomy the build makes
(every label, rule, condition, regex, type, field order and line); an edited rules file, another name for it, a
damaged or foreign entry is built afresh; a taxonomy with an error is never kept; a hit parses no YAML."""

from __future__ import annotations

import marshal
import os
import zlib
from dataclasses import fields, is_dataclass
from pathlib import Path
from typing import Any

import pytest

from mosaic_diag.classifier import taxcache, taxonomy
from mosaic_diag.classifier.classify import Classifier
from mosaic_diag.classifier.taxonomy import SHIPPED_RULES, Regex, Taxonomy, UserRegex
from mosaic_diag.errors import ConfigError
from mosaic_diag.platform import yamlcache

USER_RULES = """\
sets:
  job_source_hosts: ['my-board']
labels:
  MY_LABEL:
    category: integration
    severity: low
    description: a user's own label
    aliases: [MY_ALIAS]
  PG_AUTH_FAILED:
    severity: critical
rules:
  - id: my-rule
    label: MY_LABEL
    priority: 900
    match:
      - {type: [MyError], message: 'waited (?P<waited>\\d+) of (?P<limit>\\d+)', numbers: 'waited > limit'}
      - {text: 'my-marker-\\d+', level: [error], status: [503, 502], provider: openai}
    unless: {host: 'staging'}
"""


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    where = tmp_path / "cache"
    monkeypatch.setenv("MOSAIC_DIAG_CACHE_DIR", str(where))
    taxonomy._load_keyed.cache_clear()  # (this process's own cache: each load below goes to the disk)
    yield where
    taxonomy._load_keyed.cache_clear()


def _whole(value: Any) -> Any:
    """Everything a built value carries: types, field order and values, a regex's pattern, file, line and state."""
    if isinstance(value, Regex):
        state = (value._user is not None, value.spent) if isinstance(value, UserRegex) else ()
        return (type(value), value.pattern, value.path, value.line, value._compiled is not None, state)
    if is_dataclass(value):
        return (type(value), list(vars(value)), [_whole(getattr(value, f.name)) for f in fields(value)])
    if type(value) in (tuple, list):
        return (type(value), [_whole(v) for v in value])
    if type(value) is dict:
        return (dict, [(k, _whole(v)) for k, v in value.items()])
    if type(value) is frozenset:
        return (frozenset, sorted(value))
    return (type(value), value)


def _user_regexes(tax: Taxonomy) -> list[UserRegex]:
    return [getattr(c, f.name) for r in tax.rules for c in (*r.match, *r.unless) for f in fields(c)
            if type(getattr(c, f.name)) is UserRegex]


def _entry(*paths: Path) -> str:
    texts = taxonomy._texts(paths)
    assert texts is not None
    return taxcache.key_of(paths, texts)


def _load(rules: Path | None = None) -> Taxonomy:
    taxonomy._load_keyed.cache_clear()
    return taxonomy.load_taxonomy(rules)


def test_a_taxonomy_read_back_is_the_taxonomy_the_build_makes(cache: Path) -> None:
    fresh = taxonomy._build((SHIPPED_RULES,))
    entry = _entry(SHIPPED_RULES)
    assert taxcache.get(entry) is None
    first = _load()  # built, then kept
    assert (cache / f"{entry}.marshal").is_file()
    second = _load()  # read back
    assert second is not first and second.rules[0] is not first.rules[0]
    assert _whole(second) == _whole(first) == _whole(fresh)
    assert len(fresh.rules) > 80 and any(c.numbers for r in fresh.rules for c in r.match)
    assert all(type(c.message) is Regex and c.message._compiled is None
               for r in second.rules for c in r.match if c.message is not None)
    # and it labels as the built one does
    texts = ["psycopg2.OperationalError: FATAL:  password authentication failed for user \"app\"",
             "openai.RateLimitError: Error code: 429 - rate limit reached", "nothing known here"]
    assert [Classifier(second).classify_text(t).label for t in texts] == \
        [Classifier(fresh).classify_text(t).label for t in texts]


def test_a_user_rules_file_is_kept_with_its_own_regexes(cache: Path, tmp_path: Path) -> None:
    rules = tmp_path / "rules.yml"
    rules.write_text(USER_RULES)
    fresh = taxonomy._build((SHIPPED_RULES, rules))
    first = _load(rules)
    assert taxcache.get(_entry(SHIPPED_RULES, rules)) is not None
    second = _load(rules)
    assert _whole(first) == _whole(fresh)
    mine = next(r for r in second.rules if r.id == "my-rule")
    assert type(mine.match[1].text) is UserRegex and mine.match[1].text._user is None  # compiled at first use
    # a shipped regex naming the set the user's file extends is searched as theirs are
    boards = [rx for r in second.rules for c in r.match for rx in (c.host, c.message, c.text)
              if rx is not None and "my-board" in rx.pattern]
    assert boards and all(type(rx) is UserRegex for rx in boards)
    assert second.resolve("my_alias").name == "MY_LABEL" and second.labels["PG_AUTH_FAILED"].severity == "critical"
    for rx in _user_regexes(second):  # what a built one compiles at load, a kept one compiles at first use
        assert rx._user is None
        rx.compile()
    assert _user_regexes(second) and all(rx._user is not None for rx in _user_regexes(fresh))
    assert _whole(second) == _whole(fresh)
    clf = Classifier(second)
    assert clf.classify_text("ERROR my-marker-12 here").label != "MY_LABEL"  # (no 503/502, no openai)
    assert Classifier(second).classify_text("MyError: waited 30 of 10").label == "MY_LABEL"
    assert Classifier(second).classify_text("MyError: waited 3 of 10").label != "MY_LABEL"


def test_an_edited_rules_file_is_built_again(cache: Path, tmp_path: Path) -> None:
    rules = tmp_path / "rules.yml"
    rules.write_text(USER_RULES)
    assert "MY_LABEL" in _load(rules).labels
    # the same length, the same modification time: only the bytes tell
    stat = rules.stat()
    rules.write_text(USER_RULES.replace("MY_LABEL", "MY_LABEX"))
    os.utime(rules, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    edited = _load(rules)
    assert "MY_LABEX" in edited.labels and "MY_LABEL" not in edited.labels
    assert _whole(edited) == _whole(taxonomy._build((SHIPPED_RULES, rules)))
    # a file with an error is never kept: it fails the same way every time
    rules.write_text(USER_RULES.replace("label: MY_LABEL", "label: NO_SUCH_LABEL"))
    for _ in range(2):
        with pytest.raises(ConfigError, match="rules.yml:13: rule my-rule: unknown label 'NO_SUCH_LABEL'"):
            _load(rules)
    assert not (cache / f"{_entry(SHIPPED_RULES, rules)}.marshal").exists()


def test_the_name_of_the_file_is_part_of_the_key(cache: Path, tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    """A rule's `source` is its file as it was named: the same text under another name is another taxonomy."""
    rules = tmp_path / "rules.yml"
    rules.write_text(USER_RULES)
    monkeypatch.chdir(tmp_path)
    here = _load(Path("rules.yml"))
    there = _load(rules)
    assert next(r for r in here.rules if r.id == "my-rule").source == "rules.yml:12"
    assert next(r for r in there.rules if r.id == "my-rule").source == f"{rules}:12"
    assert _entry(SHIPPED_RULES, Path("rules.yml")) != _entry(SHIPPED_RULES, rules)


def test_a_damaged_or_foreign_entry_is_built_afresh(cache: Path) -> None:
    fresh = _whole(taxonomy._build((SHIPPED_RULES,)))
    entry = _entry(SHIPPED_RULES)
    _load()
    check, blob = yamlcache.get_plain(entry)
    at = blob.index(b"PG_AUTH_FAILED")
    forged = blob[:at] + b"X" + blob[at + 1:]  # read as it is, this would be a label `XG_AUTH_FAILED`
    assert "XG_AUTH_FAILED" in taxcache._unpack(marshal.loads(forged)).labels
    other_format = marshal.dumps(("taxonomy-0", [], [], {}, ()))
    wrong_arity = marshal.dumps((taxcache.FORMAT, [("UNKNOWN_ERROR", ("UNKNOWN_ERROR",))], [], {}, ()))
    unknown_field = marshal.dumps((taxcache.FORMAT, [], [("r", "L", 1, [{"colour": "red"}], [], "s")], {}, ()))
    for bad in [(check, forged), (zlib.crc32(other_format), other_format), (zlib.crc32(wrong_arity), wrong_arity),
                (zlib.crc32(unknown_field), unknown_field), (check, blob[:-10]), "not an entry",
                (zlib.crc32(b"\x00"), b"\x00")]:
        yamlcache.put_plain(entry, bad)
        assert taxcache.get(entry) is None
        assert _whole(_load()) == fresh  # built afresh, and kept right again
        kept = taxcache.get(entry)
        assert kept is not None and _whole(kept) == fresh


def test_a_hit_parses_no_yaml(cache: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from mosaic_diag.platform import yamlpos

    fresh = _whole(_load())

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("the kept taxonomy loaded YAML")

    monkeypatch.setattr(yamlpos, "load_yaml_text", refuse)
    monkeypatch.setattr(taxonomy, "load_yaml_text", refuse)
    monkeypatch.setattr(taxonomy, "load_yaml", refuse)
    assert _whole(_load()) == fresh
    monkeypatch.setenv("MOSAIC_DIAG_CACHE_DIR", "")  # no cache: built, so YAML is loaded
    with pytest.raises(AssertionError, match="loaded YAML"):
        _load()
