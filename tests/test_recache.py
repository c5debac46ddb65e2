"""Compiled regular expressions kept across runs (`platform.recache`): a pattern built from the kept code is the
pattern `re.compile` makes (flags, groups, names, and what it matches), in a later process as in this one; a
damaged bundle is compiled afresh, never trusted; the CLI keeps what a run compiled and a second run reads it."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

PATTERNS: list[tuple[str | bytes, int]] = [
    (r"(?P<ts>\d{4}-\d\d-\d\d)[ T](?P<time>[\d:.,]+)\s+(?P<level>ERROR|WARNING)\b", 0),
    (r"connection to server at \"(?P<host>[^\"]+)\", port (\d+) failed", re.IGNORECASE | re.MULTILINE),
    (r"""(?x) ^ \s* File \s+ "(?P<file>[^"]+)" , \s+ line \s+ (\d+)  # a frame""", 0),
    (r"(?i)straße|ǅ|\w+ß", 0),  # inline flags and non-ASCII case folding
    (r"[\u0400-\u04ff]+ошибка", re.IGNORECASE),
    (r"^\[(?:\d{1,9})\]\s", re.ASCII | re.DOTALL),
    (rb"\x1b\[[0-9;]*m|(?P<nul>\x00)", 0),
    (rb"(?P<k>[a-z_]+)=(?P<v>\"[^\"]*\"|\S+)", re.IGNORECASE),
    (r"(a|b)?(?(1)c|d)(?=x)(?<!y)", 0),
]
TEXTS = ["2026-11-27 10:00:01,123 ERROR api: boom", 'Connection to server at "db.internal", port 5432 failed',
         '  File "/app/main.py", line 12, in ask', "STRASSE straße ǆ", "ОШИБКА ошибка", "[12] x\ny", "acx", "dx",
         "bc", "k=\"v w\" level=error \x1b[31mred\x1b[0m \x00"]

CHECK = r"""
import json, re, sys
from mosaic_diag.platform import recache
patterns = [(p.encode("latin-1") if b else p, f) for p, b, f in json.loads(sys.argv[1])]
texts = json.loads(sys.argv[2])
out = []
for p, f in patterns:
    mine, theirs = recache.compile(p, f), re.compile(p, f)
    assert mine is not theirs
    row = [mine.flags == theirs.flags, mine.groups == theirs.groups, dict(mine.groupindex) == dict(theirs.groupindex),
           mine.pattern == theirs.pattern]
    for t in texts:
        t = t.encode("latin-1", "replace") if isinstance(p, bytes) else t
        a, b = mine.search(t), theirs.search(t)
        row.append((a.span(), a.groups()) == (b.span(), b.groups()) if a and b else a is None and b is None)
        row.append([m.span() for m in mine.finditer(t)] == [m.span() for m in theirs.finditer(t)])
    out.append(all(row))
kept = recache._loaded()
print(json.dumps({"same": out, "from_bundle": sum((p, f) in kept for p, f in patterns), "new": len(recache._new)}))
recache.save()
"""


def _run(cache: Path) -> dict:
    spec = json.dumps([(p.decode("latin-1") if isinstance(p, bytes) else p, isinstance(p, bytes), f)
                       for p, f in PATTERNS])
    env = {**os.environ, "MOSAIC_DIAG_CACHE_DIR": str(cache)}
    done = subprocess.run([sys.executable, "-c", CHECK, spec, json.dumps(TEXTS)], env=env, capture_output=True,
                          text=True, timeout=120, cwd=ROOT)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def test_a_pattern_from_the_kept_code_is_the_pattern_re_compiles(tmp_path: Path) -> None:
    first = _run(tmp_path / "cache")
    assert first == {"same": [True] * len(PATTERNS), "from_bundle": 0, "new": len(PATTERNS)}
    second = _run(tmp_path / "cache")  # a later process: every pattern from the bundle the first one saved
    assert second == {"same": [True] * len(PATTERNS), "from_bundle": len(PATTERNS), "new": 0}


def test_a_damaged_bundle_is_compiled_afresh(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Code the engine refuses (its validator), or an entry of another shape, is never used: the pattern is compiled
    the plain way and matches as it should."""
    from mosaic_diag.platform import recache, yamlcache

    monkeypatch.setenv("MOSAIC_DIAG_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setattr(recache, "_bundle", None)
    monkeypatch.setattr(recache, "_new", {})
    monkeypatch.setattr(recache, "_used", set())
    key = recache._key()
    assert key is not None
    pattern = r"(?P<n>\d+) errors?"
    good = recache._info(pattern, 0)
    yamlcache.put_plain(key, {(pattern, 0): (good[0], [17, 4, 0, 99, 99], good[2], good[3], good[4]),
                              ("x+", 0): ("not", "an", "entry")})
    compiled = recache.compile(pattern, 0)
    assert compiled.search("3 errors here").group("n") == "3"
    assert recache.compile("x+", 0).fullmatch("xxx") is not None
    assert set(recache._new) == {(pattern, 0), ("x+", 0)}  # compiled afresh, to be kept right by save()
    recache.save()
    monkeypatch.setattr(recache, "_bundle", None)
    assert recache._loaded()[(pattern, 0)] == good


def test_a_bad_pattern_raises_as_re_compile_does() -> None:
    from mosaic_diag.platform import recache

    with pytest.raises(re.error, match="missing \\), unterminated subpattern"):
        recache.compile("(unclosed", 0)


def test_a_triage_keeps_its_patterns_and_the_next_one_reads_them(tmp_path: Path) -> None:
    """The second run of the same triage compiles none of the kept patterns again and prints the same report."""
    env = {**os.environ, "MOSAIC_DIAG_CACHE_DIR": str(tmp_path / "cache")}
    log = ROOT / "examples" / "logs" / "render-sample.log"
    count = ("import runpy, sys\n"
             "from mosaic_diag.platform import recache\n"
             "made = [0]\n"
             "real = recache._info\n"
             "def counted(*args):\n    made[0] += 1\n    return real(*args)\n"
             "recache._info = counted\n"
             "sys.argv = ['mosaic-diag', 'triage', sys.argv[1], '--format', 'json']\n"
             "try:\n    runpy.run_module('mosaic_diag', run_name='__main__')\n"
             "finally:\n    print('compiled afresh:', made[0], file=sys.stderr)\n")
    runs = [subprocess.run([sys.executable, "-c", count, str(log)], env=env, capture_output=True, text=True,
                           timeout=120, cwd=tmp_path) for _ in range(2)]
    assert [r.returncode for r in runs] == [1, 1], runs[0].stderr
    assert runs[0].stdout == runs[1].stdout and json.loads(runs[0].stdout)["summary"]["events"] > 0
    made = [int(r.stderr.rsplit("compiled afresh:", 1)[1]) for r in runs]
    assert made[0] > 50 and made[1] == 0, made


GROUP_CHECK = r"""
import json, re, sys
from mosaic_diag.platform import recache
made = [0]
real = recache._info
def counted(*args):
    made[0] += 1
    return real(*args)
recache._info = counted
from mosaic_diag.logs import lines, reader
kept = [v for m in (lines, reader) for v in vars(m).values() if isinstance(v, re.Pattern)]
same = all((p.flags, p.groups, dict(p.groupindex)) == (q.flags, q.groups, dict(q.groupindex))
           for p in kept for q in [re.compile(p.pattern, p.flags)])
line = "2026-11-27T14:07:54.123456Z ERROR:app.db:connection refused"
at_import = made[0]
from mosaic_diag.logs.announce import Announcer
announcer = Announcer({"logfmt": (b"level=error", b"level=fatal"), "heroku": (b"heroku[",), "none": (b"nowhere=",)})
block = b"plain words " * 8000 + b" level=error heroku[web.1]: boom " + b"more words " * 8000
announcer.start(block)
print(json.dumps({"kept": len(kept), "made": at_import, "same": same, "bundle_loaded": recache.loaded(),
                  "match": lines._RENDER_BASIC.match(line).groups(), "announced": sorted(announcer.seen(block)),
                  "announcer_made": made[0] - at_import, "groups": len(announcer.groups)}))
recache.save()
"""


def test_the_log_readers_patterns_are_kept_in_a_group_of_their_own(tmp_path: Path) -> None:
    """The patterns the log reader compiles at import come from a small bundle of their own: a later process compiles
    none of them again and loads no other kept pattern for them (an empty log's triage compiles nothing else)."""
    env = {**os.environ, "MOSAIC_DIAG_CACHE_DIR": str(tmp_path / "cache")}
    runs = []
    for _ in range(2):
        done = subprocess.run([sys.executable, "-c", GROUP_CHECK], env=env, capture_output=True, text=True,
                              timeout=120, cwd=ROOT)
        assert done.returncode == 0, done.stderr
        runs.append(json.loads(done.stdout))
    first, second = runs
    assert first["kept"] >= 17 and first["made"] >= first["kept"] and second["made"] == 0
    assert first["same"] and second["same"] and not first["bundle_loaded"] and not second["bundle_loaded"]
    assert first["match"] == second["match"] == ["2026-11-27T14:07:54.123456Z", "ERROR:app.db:connection refused",
                                                 "ERROR", "app.db", "connection refused"]
    # the announcer's patterns (made from the log's rare bytes: the same log, the same patterns) are kept too
    assert first["announced"] == second["announced"] == ["heroku", "logfmt"]
    assert first["groups"] >= 2 and first["announcer_made"] == first["groups"] and second["announcer_made"] == 0


def test_a_damaged_group_entry_is_compiled_afresh(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from mosaic_diag.platform import recache, yamlcache

    monkeypatch.setenv("MOSAIC_DIAG_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setattr(recache, "_groups", {})
    monkeypatch.setattr(recache, "_groups_new", {})
    key = recache._group_key("test")
    assert key is not None and key != recache._key()
    pattern = r"(?P<n>\d+) errors?"
    good = recache._info(pattern, 0)
    yamlcache.put_plain(key, {(pattern, 0): (good[0], [17, 4, 0, 99, 99], good[2], good[3], good[4])})
    assert recache.compile(pattern, 0, group="test").search("3 errors here").group("n") == "3"
    assert recache._groups_new == {"test": {(pattern, 0): good}}  # compiled afresh, to be kept right by save()
    recache.save()
    monkeypatch.setattr(recache, "_groups", {})
    assert recache._group("test") == {(pattern, 0): good}
