"""Compiled regular expressions kept across runs: `compile(pattern, flags)` is `re.compile` whose work
(parsing the pattern and generating the regex engine's code, done in Python by the `re` module) is kept in
the on-disk cache (`yamlcache.get_plain`), so a later run only hands the kept code to the engine.

A triage of a small log compiles about 200 patterns (the taxonomy's rules, the playbooks' conditions, the
reader's rarer layouts): about 65 ms of a 300 ms run, against 2-3 ms to load them kept and build them.

What is kept is exactly what `re._compiler.compile` passes to `_sre.compile` (the flags, the code, the
groups and their names), under a key of the interpreter's exact version and the engine's `MAGIC` and
`CODESIZE`: another Python is another bundle. The engine validates any code it is given, so a damaged
entry cannot crash the interpreter; anything unexpected falls back to `re.compile`. Outside CPython, or
where `re`'s internals differ, `compile` is `re.compile`. Entries are made in memory as patterns are
compiled and written by `save()` (the CLI calls it at the end of a run; the runtime kit never writes).

A module's patterns that must be plain compiled patterns made at import (the log reader's, tried on every line) are
kept under a group name (`compile(..., group="logs")`): a small bundle of their own, so that importing the module
loads neither the whole bundle nor compiles them (an empty log's triage compiles nothing else). So are the patterns
the log reader's announcer makes from a log's rare bytes (group "announce": the same log, the same patterns)."""

from __future__ import annotations

import re
import sys
from typing import Any, AnyStr

FORMAT = "re-bundle-1"
MAX_PATTERNS = 1000  # about 1.5 MB: past this a save keeps only what this run used (`save`)

_Info = tuple[int, list[int], int, dict[str, int], tuple[str | None, ...]]
_bundle: dict[tuple[Any, int], _Info] | None = None  # loaded at the first compile
_new: dict[tuple[Any, int], _Info] = {}  # compiled afresh in this process, not kept yet
_used: set[tuple[Any, int]] = set()  # taken from the bundle in this process
_KEY: list[str | None] = []
# a named group's kept code, apart from the bundle: the patterns a module compiles at import (the log reader's, tried
# on every line: plain compiled patterns, not LazyPatterns), read from a small bundle of their own rather than the
# whole one (which a run that compiles nothing else, an empty log's triage, need not load)
_groups: dict[str, dict[tuple[Any, int], _Info]] = {}
_groups_new: dict[str, dict[tuple[Any, int], _Info]] = {}
_groups_used: dict[str, set[tuple[Any, int]]] = {}
MAX_GROUP = 200  # a group is a module's own patterns: past this a save keeps those this run used only


_INTERNALS: list[tuple[Any, Any, Any] | None] = []


def _engine() -> Any:
    """The `_sre` module, when this interpreter's `re` is the one this cache knows (CPython's), else None."""
    if not _INTERNALS:
        found = None
        if sys.implementation.name == "cpython":
            from importlib import import_module

            try:
                sre, parser, compiler = (import_module(name) for name in ("_sre", "re._parser", "re._compiler"))
            except ImportError:
                pass
            else:
                if all(hasattr(sre, a) for a in ("compile", "MAGIC", "CODESIZE")) and hasattr(parser, "parse") \
                        and hasattr(compiler, "_code"):
                    found = (sre, parser, compiler)
        _INTERNALS.append(found)
    found = _INTERNALS[0]
    return found[0] if found is not None else None


def _key() -> str | None:
    if not _KEY:
        sre = _engine()
        if sre is None:
            _KEY.append(None)
        else:
            from mosaic_diag.platform.digest import key_hash

            stamp = f"{FORMAT}\0{sys.version}\0{sys.implementation.cache_tag}\0{sre.MAGIC}\0{sre.CODESIZE}"
            _KEY.append(key_hash(stamp.encode()).hexdigest())
    return _KEY[0]


def _group_key(group: str) -> str | None:
    key = _key()
    if key is None:
        return None
    from mosaic_diag.platform.digest import key_hash

    return key_hash(f"{key}\0group\0{group}".encode("utf-8", "surrogatepass")).hexdigest()


def _group(group: str) -> dict[tuple[Any, int], _Info]:
    """The kept code of the patterns of `group` (loaded at its first compile)."""
    bundle = _groups.get(group)
    if bundle is None:
        bundle = _groups[group] = {}
        key = _group_key(group)
        if key is not None:
            from mosaic_diag.platform import yamlcache

            data = yamlcache.get_plain(key)
            if isinstance(data, dict):
                bundle.update(data)
    return bundle


def _loaded() -> dict[tuple[Any, int], _Info]:
    global _bundle
    if _bundle is None:
        _bundle = {}
        key = _key()
        if key is not None:
            from mosaic_diag.platform import yamlcache

            data = yamlcache.get_plain(key)
            if isinstance(data, dict):
                _bundle = data
    return _bundle


def loaded() -> bool:
    """Whether this process has loaded the kept patterns (a compile here costs no load of them then)."""
    return _bundle is not None


def compile(pattern: AnyStr, flags: int = 0, group: str = "") -> re.Pattern[AnyStr]:  # noqa: A001 - re.compile's name
    """`re.compile(pattern, flags)`, from the kept code when this pattern was compiled by an earlier run (`group`:
    kept with the other patterns of that name, apart from the bundle)."""
    sre = _engine()
    if sre is None:
        return re.compile(pattern, flags)
    flags = int(flags)
    key = (pattern, flags)
    info = (_group(group) if group else _loaded()).get(key)
    if info is not None:
        try:
            compiled: re.Pattern[AnyStr] = sre.compile(pattern, *info)
        except Exception:  # a damaged or foreign entry: compiled afresh below  # mosaic-diag: ignore[MD006]
            pass
        else:
            if group:
                _groups_used.setdefault(group, set()).add(key)
            else:
                _used.add(key)
            return compiled
    try:
        info = _info(pattern, flags)
        compiled = sre.compile(pattern, *info)
    except re.error:
        raise
    except Exception:  # re's internals not as this module knows them: the plain way  # mosaic-diag: ignore[MD006]
        return re.compile(pattern, flags)
    if group:
        _groups_new.setdefault(group, {})[key] = info
    else:
        _new[key] = info
    return compiled


def _info(pattern: str | bytes, flags: int) -> _Info:
    """What `re._compiler.compile` hands `_sre.compile` after the pattern (Python 3.11-3.13)."""
    internals = _INTERNALS[0]
    assert internals is not None  # (compile() asked _engine() first)
    _, parser, compiler = internals
    parsed = parser.parse(pattern, flags)
    code = [int(c) for c in compiler._code(parsed, flags)]
    groupindex = dict(parsed.state.groupdict)
    indexgroup: list[str | None] = [None] * parsed.state.groups
    for name, i in groupindex.items():
        indexgroup[i] = name
    return int(flags | parsed.state.flags), code, parsed.state.groups - 1, groupindex, tuple(indexgroup)


def save() -> None:
    """Keep the patterns compiled afresh in this process for later runs (quietly nothing when they cannot be):
    added to the kept ones, or, when that would pass MAX_PATTERNS, kept with this run's others only (the bundle
    follows what recent runs use and its load stays a few milliseconds)."""
    _save_groups()
    if not _new:
        return
    key = _key()
    if key is None:
        return
    from mosaic_diag.platform import yamlcache

    bundle = _loaded()
    current = yamlcache.get_plain(key)  # (another run may have saved since this one loaded)
    merged = dict(current) if isinstance(current, dict) else dict(bundle)
    if len(merged) + len(_new) > MAX_PATTERNS:
        merged = {k: bundle[k] for k in _used if k in bundle}
    merged.update(_new)
    yamlcache.put_plain(key, merged)
    bundle.update(_new)
    _used.update(_new)
    _new.clear()


def _save_groups() -> None:
    """Keep the patterns of each group compiled afresh in this process, added to its kept ones (or, past
    MAX_GROUP, with the others this run used of it only)."""
    from mosaic_diag.platform import yamlcache

    for group, new in list(_groups_new.items()):
        key = _group_key(group)
        if key is None or not new:
            continue
        bundle = _group(group)
        current = yamlcache.get_plain(key)  # (another run may have saved since this one loaded)
        merged = dict(current) if isinstance(current, dict) else dict(bundle)
        if len(merged) + len(new) > MAX_GROUP:
            used = _groups_used.get(group, set())
            merged = {k: bundle[k] for k in used if k in bundle}
        merged.update(new)
        yamlcache.put_plain(key, merged)
        bundle.update(new)
        _groups_used.setdefault(group, set()).update(new)
        new.clear()
