"""The dataclasses' methods compiled once and kept across runs (`platform.codecache`): a class made from the kept code
has the very methods `dataclasses` makes without it (their code, annotations and behaviour), in a later process as in
this one; a damaged, foreign or stale entry is compiled afresh, never trusted; the CLI keeps what a run compiled and
a second run reads it and prints the same report."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import zlib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

# Two modules of dataclasses of every kind, one with postponed annotations and one without: the texts `dataclasses`
# writes (and the __future__ flags their code is compiled with) differ between them.
CLASSES = '''
import dataclasses
from dataclasses import InitVar, KW_ONLY, dataclass, field
from typing import ClassVar

@dataclass(frozen=True, order=True)
class Frozen:
    a: int
    b: str = "x"
    c: tuple[int, ...] = ()
    d: list[int] = field(default_factory=list, compare=False, repr=False)

@dataclass(slots=True, unsafe_hash=True)
class Slotted:
    a: int
    b: "float | None" = None
    k: ClassVar[int] = 3

@dataclass(kw_only=True, eq=False)
class KwOnly:
    a: int
    b: int = 2

@dataclass
class WithPost:
    a: int
    _: KW_ONLY
    scale: InitVar[int] = 1
    seen: list[str] = field(default_factory=list)
    def __post_init__(self, scale):
        self.a *= scale
'''

CHECK = r"""
import dataclasses, importlib.util, json, sys, types
from mosaic_diag.platform import codecache

def make(name, text):
    module = types.ModuleType(name)
    sys.modules[name] = module
    exec(compile(text, name + ".py", "exec", dont_inherit=True), module.__dict__)
    return module

def methods(cls):
    return {n: f for n, f in vars(cls).items() if isinstance(f, types.FunctionType) and n.startswith("__")
            and n != "__post_init__"}

def shown(annotations):  # (by repr: InitVar[int] is a new object, equal to no other, each time it is written)
    return {k: repr(v) for k, v in annotations.items()}

def same(mine, theirs):
    a, b = methods(mine), methods(theirs)
    return sorted(a) == sorted(b) and all(
        a[n].__code__ == b[n].__code__ and shown(a[n].__annotations__) == shown(b[n].__annotations__)
        and a[n].__defaults__ == b[n].__defaults__ and a[n].__kwdefaults__ == b[n].__kwdefaults__
        and a[n].__qualname__ == b[n].__qualname__ for n in a)

texts = json.loads(sys.argv[1])
codecache.install()
assert dataclasses.exec is codecache._exec
kept = [make(f"m{i}", t) for i, t in enumerate(texts)]
del dataclasses.exec  # the plain way, as without the cache
plain = [make(f"p{i}", t) for i, t in enumerate(texts)]
out = []
for mine, theirs in zip(kept, plain):
    for name in ("Frozen", "Slotted", "KwOnly", "WithPost"):
        out.append(same(getattr(mine, name), getattr(theirs, name)))
    f = mine.Frozen(1, "y", (2,), [3])
    out += [repr(f) == "Frozen(a=1, b='y', c=(2,))", f == mine.Frozen(1, "y", (2,), [4]), f < mine.Frozen(2),
            hash(f) == hash(mine.Frozen(1, "y", (2,), [5]))]
    try:
        f.a = 2
    except dataclasses.FrozenInstanceError:
        out.append(True)
    else:
        out.append(False)
    s = mine.Slotted(1)
    out += [not hasattr(s, "__dict__"), hash(s) == hash(mine.Slotted(1)), mine.WithPost(2, scale=3).a == 6,
            mine.KwOnly(a=1) != mine.KwOnly(a=1)]
print(json.dumps({"same": out, "from_bundle": sum(len(v) for v in codecache._used.values()),
                  "new": sum(len(v) for v in codecache._new.values()),
                  "annotations": {k: str(v) for k, v in kept[0].Slotted.__init__.__annotations__.items()}}))
codecache.save()
"""


def _run(cache: Path) -> dict:
    texts = [CLASSES, "from __future__ import annotations\n" + CLASSES]
    env = {**os.environ, "MOSAIC_DIAG_CACHE_DIR": str(cache)}
    done = subprocess.run([sys.executable, "-c", CHECK, json.dumps(texts)], env=env, capture_output=True, text=True,
                          timeout=120, cwd=ROOT)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def test_a_class_from_the_kept_code_is_the_class_dataclasses_makes(tmp_path: Path) -> None:
    first = _run(tmp_path / "cache")
    assert first["same"] == [True] * len(first["same"]) and first["from_bundle"] == 0 and first["new"] > 20
    # the texts are compiled with the flags of `dataclasses`, not this package's postponed annotations
    assert first["annotations"] == {"a": "<class 'int'>", "b": "float | None", "return": "None"}
    second = _run(tmp_path / "cache")  # a later process: every text from the bundles the first one saved
    assert second == {**first, "from_bundle": first["new"], "new": 0}
    assert sorted(p.name.split("-")[-1] for p in (tmp_path / "cache").glob("code-*")) == ["m0.marshal", "m1.marshal"]


@pytest.fixture
def fresh(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    from mosaic_diag.platform import codecache

    monkeypatch.setenv("MOSAIC_DIAG_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setattr(codecache, "_bundles", {})
    monkeypatch.setattr(codecache, "_new", {})
    monkeypatch.setattr(codecache, "_used", {})
    return tmp_path / "cache"


TEXT = "def __create_fn__():\n def f(x):\n  return x + 1\n return f"


def _made(module: str) -> int:
    from mosaic_diag.platform import codecache

    ns: dict = {}
    exec(codecache.compiled(TEXT, 0, module), {}, ns)
    return ns["__create_fn__"]()(1)


def _code_of(blob: bytes) -> int:
    import marshal

    ns: dict = {}
    exec(marshal.loads(blob)[(TEXT, 0)], {}, ns)
    return ns["__create_fn__"]()(1)


def test_a_damaged_foreign_or_stale_entry_is_compiled_afresh(fresh: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """An entry whose bytes do not match their CRC (a flipped byte of code could crash the interpreter), one of
    another interpreter, or of another shape, is never unmarshalled: the text is compiled and kept right by save()."""
    import marshal

    from mosaic_diag.platform import codecache, yamlcache

    key, stamp = codecache._key("mod"), codecache._stamp()
    assert key is not None and stamp is not None
    evil = compile("def __create_fn__():\n def f(x):\n  return x + 2\n return f", "<string>", "exec")
    blob = marshal.dumps({(TEXT, 0): evil})
    at = blob.index(b"\xe9\x02\x00\x00\x00") + 1  # the constant 2 (marshal's int): 7 makes code that loads, runs
    damaged = blob[:at] + b"\x07" + blob[at + 1:]
    assert _code_of(damaged) == 8  # (what a damaged entry would do if it were read)
    for entry in [(stamp, zlib.crc32(blob), damaged), ("cpython-0.0 another", zlib.crc32(blob), blob),
                  (stamp, zlib.crc32(blob)), {(TEXT, 0): evil}, (stamp, zlib.crc32(b"x"), b"x")]:
        yamlcache.put_plain(key, entry)
        monkeypatch.setattr(codecache, "_bundles", {})
        monkeypatch.setattr(codecache, "_new", {})
        assert _made("mod") == 2  # compiled afresh from the text
        assert set(codecache._new["mod"]) == {(TEXT, 0)}
    # the check holds: the same entry sealed right is read (the entry, not the text, answers then)
    yamlcache.put_plain(key, (stamp, zlib.crc32(blob), blob))
    monkeypatch.setattr(codecache, "_bundles", {})
    monkeypatch.setattr(codecache, "_new", {})
    assert _made("mod") == 3 and codecache._new == {}
    # and save() puts the right code back over a bad entry
    yamlcache.put_plain(key, (stamp, zlib.crc32(blob), damaged))
    monkeypatch.setattr(codecache, "_bundles", {})
    assert _made("mod") == 2
    codecache.save()
    monkeypatch.setattr(codecache, "_bundles", {})
    monkeypatch.setattr(codecache, "_new", {})
    assert codecache._loaded("mod")[(TEXT, 0)] == compile(TEXT, "<string>", "exec", dont_inherit=True)
    assert _made("mod") == 2 and codecache._new == {}


def test_a_bundle_past_its_size_keeps_what_this_run_used(fresh: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from mosaic_diag.platform import codecache

    monkeypatch.setattr(codecache, "MAX_CODES", 3)
    for i in range(3):
        codecache.compiled(f"x = {i}", 0, "mod")
    codecache.save()
    monkeypatch.setattr(codecache, "_bundles", {})
    monkeypatch.setattr(codecache, "_used", {})
    codecache.compiled("x = 1", 0, "mod")  # used from the bundle
    codecache.compiled("x = 9", 0, "mod")  # new: 3 + 1 > MAX_CODES
    codecache.save()
    monkeypatch.setattr(codecache, "_bundles", {})
    assert sorted(codecache._loaded("mod")) == [("x = 1", 0), ("x = 9", 0)]


def test_exec_as_the_builtin_for_what_is_not_a_dataclass_text() -> None:
    from mosaic_diag.platform import codecache

    ns: dict = {}
    codecache._exec("y = 2", {"__name__": "m"}, ns)
    assert ns == {"y": 2}
    g: dict = {}
    codecache._exec(compile("z = 3", "<t>", "exec"), g)
    assert g["z"] == 3
    y = 5  # noqa: F841  (read by the text below, from this frame)
    out: dict = {}
    codecache._exec("out['y'] = y", None)
    assert out == {"y": 5}
    with pytest.raises(SyntaxError):
        codecache._exec("def (:", {"__name__": "m"}, {})


def test_a_triage_keeps_the_dataclasses_code_and_the_next_one_reads_it(tmp_path: Path) -> None:
    """The second run of the same triage compiles none of the kept texts again and prints the same report; with its
    code entries damaged, a third run compiles them afresh and still prints the same report."""
    env = {**os.environ, "MOSAIC_DIAG_CACHE_DIR": str(tmp_path / "cache")}
    log = ROOT / "examples" / "logs" / "render-sample.log"
    count = ("import runpy, sys\n"
             "from mosaic_diag.platform import codecache\n"
             "made = [0]\n"
             "real = compile\n"
             "def counted(*args, **kwargs):\n    made[0] += 1\n    return real(*args, **kwargs)\n"
             "codecache.builtins = type(sys)('b')\n"
             "codecache.builtins.compile, codecache.builtins.exec = counted, exec\n"
             "sys.argv = ['mosaic-diag', 'triage', sys.argv[1], '--format', 'json']\n"
             "hits = [0]\n"
             "real_compiled = codecache.compiled\n"
             "def compiled(*args):\n    before = made[0]\n    code = real_compiled(*args)\n"
             "    hits[0] += made[0] == before\n    return code\n"
             "codecache.compiled = compiled\n"
             "try:\n    runpy.run_module('mosaic_diag', run_name='__main__')\n"
             "finally:\n    print('from the cache:', hits[0], file=sys.stderr)\n"
             "    print('compiled afresh:', made[0], file=sys.stderr)\n")

    def run() -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-c", count, str(log)], env=env, capture_output=True, text=True,
                              timeout=120, cwd=tmp_path)

    runs = [run(), run()]
    entries = sorted((tmp_path / "cache").glob("code-*.marshal"))
    assert entries and any(p.name.endswith("-mosaic_diag.triage.model.marshal") for p in entries)
    for p in entries:
        data = bytearray(p.read_bytes())
        data[-20] ^= 0xFF
        p.write_bytes(bytes(data))
    runs.append(run())
    assert [r.returncode for r in runs] == [1, 1, 1], runs[0].stderr
    assert runs[0].stdout == runs[1].stdout == runs[2].stdout and json.loads(runs[0].stdout)["summary"]["events"] > 0
    made = [int(r.stderr.rsplit("compiled afresh:", 1)[1]) for r in runs]
    kept = [int(r.stderr.rsplit("from the cache:", 1)[1].split()[0]) for r in runs]
    # (the third run reads the playbooks kept by the first: it imports fewer modules than the first)
    assert made[0] > 200 and kept[0] == 0 and made[1] == 0 and kept[1] > 200 and made[2] == kept[1] and kept[2] == 0, \
        (made, kept)


LAZY_INSPECT = r"""
import json, sys
from mosaic_diag.platform import codecache
codecache.install()
import dataclasses
out = {"after_install": "inspect" in sys.modules, "stand_in": type(dataclasses.inspect).__name__}

@dataclasses.dataclass
class Documented:
    '''A class with its own docstring.'''
    a: int

out["documented"] = ("inspect" in sys.modules, Documented.__doc__)

@dataclasses.dataclass
class Bare:
    a: int
    b: "str" = "x"

import inspect
out.update(bare=Bare.__doc__, real=dataclasses.inspect is inspect and sys.modules["inspect"] is inspect,
           signature=str(inspect.signature(Bare)), has_getsource=hasattr(inspect, "getsource"))
print(json.dumps(out))
"""


def test_dataclasses_imports_inspect_at_its_first_use_only() -> None:
    """`codecache.install` imports `dataclasses` with a stand-in for `inspect`: a class with a docstring imports
    nothing more; one without gets the docstring `dataclasses` gives it (its signature, from the real `inspect`,
    which is then `dataclasses`' own and everyone's)."""
    done = subprocess.run([sys.executable, "-c", LAZY_INSPECT], capture_output=True, text=True, timeout=120, cwd=ROOT,
                          env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == {
        "after_install": False, "stand_in": "_LazyInspect", "documented": [False, "A class with its own docstring."],
        "bare": "Bare(a: int, b: 'str' = 'x')", "real": True, "signature": "(a: int, b: 'str' = 'x') -> None",
        "has_getsource": True}


def test_a_triage_imports_no_inspect(tmp_path: Path) -> None:
    """Every dataclass a triage makes has a docstring: `dataclasses` never needs `inspect` (nor its `dis`). (The
    second run: the first imports detect-secrets, whose `requests` imports them, to find the patterns it keeps.)"""
    code = ("import runpy, sys\n"
            "sys.argv = ['mosaic-diag', 'triage', sys.argv[1], '--format', 'json']\n"
            "try:\n    runpy.run_module('mosaic_diag', run_name='__main__')\n"
            "finally:\n"
            "    print('imported:', sorted(m for m in ('inspect', 'dis') if m in sys.modules), file=sys.stderr)\n")
    for _ in range(2):
        done = subprocess.run([sys.executable, "-c", code, str(ROOT / "examples" / "logs" / "render-sample.log")],
                              capture_output=True, text=True, timeout=120, cwd=tmp_path,
                              env={**os.environ, "PYTHONPATH": str(ROOT), "MOSAIC_DIAG_CACHE_DIR": str(tmp_path / "c")})
        assert done.returncode == 1 and json.loads(done.stdout)["summary"]["events"] > 0, done.stderr
    assert done.stderr == "imported: []\n"
