"""The methods `dataclasses` writes for each class, compiled once and kept across runs.

`@dataclass` writes the source of `__init__`, `__repr__`, `__eq__`, `__hash__`, `__setattr__`... of each class
and `exec`s it: parsing and compiling those texts was a fifth of a triage's instructions (about 370 texts for
the README sample). `install()` (the CLI calls it first) gives the `dataclasses` module an `exec` of its own
that takes the compiled code of a text seen by an earlier run from the on-disk cache (`yamlcache.get_plain`),
and compiles any other text as `exec` would (`compile(text, "<string>", "exec")` with the calling code's
`__future__` flags, nothing inherited from here): the functions made are the same.

The kept code is keyed on the exact text and flags, one bundle per module (a run loads the code of the modules it
imports only), under a key of the interpreter's exact version, its bytecode magic number and its optimization
level: another Python is another bundle. A bundle is stored with the CRC-32 of its bytes, and anything
unexpected (a damaged or foreign entry) is a miss: the text is compiled afresh. The cache directory is the
user's own (`yamlcache`: owned by the user, written by nobody else), as trusted as Python's own `__pycache__`.
Entries are made in memory as texts are compiled and written by `save()` (the CLI calls it at the end of a
run; nothing else installs the hook)."""

from __future__ import annotations

import builtins
import sys
from types import CodeType, ModuleType
from typing import Any

FORMAT = "exec-code-1"
MAX_CODES = 400  # per module (a few dozen at most for one version of it): past this a save keeps what this run used

_Key = tuple[str, int]  # (source text, the __future__ flags it is compiled with)
_bundles: dict[str, dict[_Key, CodeType]] = {}  # module -> its kept code, loaded at its first exec
_new: dict[str, dict[_Key, CodeType]] = {}  # module -> code compiled afresh in this process, not kept yet
_used: dict[str, set[_Key]] = {}  # module -> what this process took from its bundle
_STAMP: list[str | None] = []
_FUTURE_FLAGS: list[int] = []


def _future_mask() -> int:
    """Every `__future__` compiler flag: what `exec` passes on from the code that calls it."""
    if not _FUTURE_FLAGS:
        import __future__

        mask = 0
        for name in __future__.all_feature_names:
            mask |= getattr(__future__, name).compiler_flag
        _FUTURE_FLAGS.append(mask)
    return _FUTURE_FLAGS[0]


def _stamp() -> str | None:
    """This interpreter's code format (None outside CPython: nothing is kept)."""
    if not _STAMP:
        if sys.implementation.name != "cpython":
            _STAMP.append(None)
        else:
            from importlib.util import MAGIC_NUMBER

            _STAMP.append(f"{FORMAT}\0{sys.version}\0{sys.implementation.cache_tag}\0{MAGIC_NUMBER!r}\0"
                          f"{sys.flags.optimize}")
    return _STAMP[0]


def _key(module: str) -> str | None:
    """The cache key of `module`'s bundle: a file name (no hashlib: `--help` imports none), the stamp's CRC-32 in
    it and the stamp itself in the entry (`_unseal`). A module of an odd name shares the bundle ""."""
    stamp = _stamp()
    if stamp is None:
        return None
    import zlib

    if len(module) > 120 or not all(part.isidentifier() for part in module.split(".")):
        module = ""
    return f"code-{sys.implementation.cache_tag}-{zlib.crc32(stamp.encode()):08x}-{module}"


def _loaded(module: str) -> dict[_Key, CodeType]:
    bundle = _bundles.get(module)
    if bundle is None:
        bundle = _bundles[module] = {}
        key = _key(module)
        if key is not None:
            from mosaic_diag.platform import yamlcache

            bundle.update(_unseal(yamlcache.get_plain(key), _stamp()))
    return bundle


def _unseal(entry: Any, stamp: str | None) -> dict[_Key, CodeType]:
    """The bundle of a cache entry (this interpreter's stamp, the CRC-32 of the marshalled bundle, its bytes), or
    {} when it is not one intact (a damaged byte of code could crash the interpreter: it is never unmarshalled)."""
    import marshal
    import zlib

    try:
        their_stamp, check, blob = entry
        if their_stamp != stamp or type(blob) is not bytes or zlib.crc32(blob) != check:
            return {}
        data = marshal.loads(blob)
    except (TypeError, ValueError, EOFError):
        return {}
    if type(data) is not dict:
        return {}
    for key, code in data.items():
        if type(code) is not CodeType or type(key) is not tuple or len(key) != 2 or type(key[0]) is not str \
                or type(key[1]) is not int:
            return {}
    return data


def compiled(source: str, flags: int, module: str) -> CodeType:
    """The code of `source` as `compile(source, "<string>", "exec", flags, dont_inherit=True)` makes it, from the
    kept code of `module` (whose dataclass it is) when an earlier run compiled the same text."""
    key = (source, flags)
    try:
        code = _loaded(module).get(key)
    except Exception:  # the cache out of order is no reason for a class not to be made  # mosaic-diag: ignore[MD006]
        code = None
    if code is not None:
        _used.setdefault(module, set()).add(key)
        return code
    code = builtins.compile(source, "<string>", "exec", flags, dont_inherit=True)
    _new.setdefault(module, {})[key] = code
    return code


def _exec(source: Any, globals: Any = None, locals: Any = None, /, **kwargs: Any) -> None:  # noqa: A002
    """`exec` for the `dataclasses` module: a text is compiled through the cache; anything else as `exec` does."""
    if globals is None:  # (the caller's namespace: not the way dataclasses calls it, passed on as it is)
        caller = sys._getframe(1)
        globals, locals = caller.f_globals, caller.f_locals if locals is None else locals
    elif type(source) is str and not kwargs:
        module = globals.get("__name__") if type(globals) is dict else None
        source = compiled(source, sys._getframe(1).f_code.co_flags & _future_mask(),
                          module if type(module) is str else "")
    builtins.exec(source, globals, locals, **kwargs)


def install() -> None:
    """Route the `exec` of `dataclasses` (the methods it writes) through the cache; nothing outside CPython."""
    if _stamp() is None:
        return
    dataclasses = _dataclasses()

    from mosaic_diag.platform import yamlcache  # noqa: F401  (first: what it imports is made without the cache)

    dataclasses.exec = _exec  # type: ignore[attr-defined]


class _LazyInspect(ModuleType):
    """`inspect` as `dataclasses` holds it when it was imported here: the real module imported at the first use of
    one of its names (`dataclasses` uses it for the signature of a class without a docstring, a rare class), put
    in its place in `dataclasses`. Importing `inspect` (and the `dis`, `tokenize` and `linecache` it imports) was a
    twentieth of a small triage's instructions."""

    def __getattr__(self, name: str) -> Any:
        from importlib import import_module

        if sys.modules.get("inspect") is self:  # (asked while `dataclasses` was being imported)
            del sys.modules["inspect"]
        real = import_module("inspect")
        dataclasses = sys.modules.get("dataclasses")
        if dataclasses is not None and getattr(dataclasses, "inspect", None) is self:
            dataclasses.inspect = real  # type: ignore[attr-defined]
        return getattr(real, name)


def _dataclasses() -> ModuleType:
    """The `dataclasses` module, imported (when no one did yet) with `_LazyInspect` as its `inspect`: what stands in
    `sys.modules` for `inspect` while it is imported is taken out right after, so any other import of `inspect` is
    the real one."""
    if "dataclasses" in sys.modules or "inspect" in sys.modules:
        import dataclasses

        return dataclasses
    stand_in = _LazyInspect("inspect")
    sys.modules["inspect"] = stand_in
    try:
        import dataclasses
    finally:
        if sys.modules.get("inspect") is stand_in:
            del sys.modules["inspect"]
    return dataclasses


def save() -> None:
    """Keep the code compiled afresh in this process for later runs (quietly nothing when it cannot be): added to
    its module's kept code, or, when that would pass MAX_CODES, kept with what this run used of it only."""
    if not _new:
        return
    import marshal
    import zlib

    from mosaic_diag.platform import yamlcache

    for module, new in list(_new.items()):
        key = _key(module)
        if key is None:
            return
        bundle = _loaded(module)
        current = _unseal(yamlcache.get_plain(key), _stamp())  # (another run may have saved since this one loaded)
        merged = current or dict(bundle)
        if len(merged) + len(new) > MAX_CODES:
            used = _used.get(module, set())
            merged = {k: bundle[k] for k in used if k in bundle}
        merged.update(new)
        try:
            blob = marshal.dumps(merged)
        except ValueError:  # mosaic-diag: ignore[MD006]  (a constant marshal cannot keep: this module is not kept)
            continue
        yamlcache.put_plain(key, (_stamp(), zlib.crc32(blob), blob))
        bundle.update(new)
        _used.setdefault(module, set()).update(new)
        del _new[module]
