"""An on-disk cache of loaded YAML (`yamlpos.load_yaml_text`): the taxonomy and the playbooks are read on
every triage, and parsing them (and importing PyYAML) is a good part of a run's start-up.

An entry is keyed on the text itself (`digest.key_hash`), the cache format and the installed PyYAML; it holds the
loaded mappings and sequences with their line numbers, in `marshal` form (plain values only: a text with
a timestamp or another constructed value is not cached). Only what loaded without error is cached, so a
bad file fails the same way every time. The directory keeps at most MAX_ENTRIES entries: a write that
goes past it removes the least recently used (by modification time, which a hit refreshes). The directory
is `$MOSAIC_DIAG_CACHE_DIR`, else `$XDG_CACHE_HOME/mosaic-diag`, else `~/.cache/mosaic-diag`; it is used
only when it belongs to the user and nobody else may write to it (made so when it is created);
`MOSAIC_DIAG_CACHE_DIR=` (empty) turns the cache off. Entries are written atomically and any entry that
cannot be read is a miss. Other start-up work keeps its plain results there too (`get_plain`, `put_plain`:
the redactor's secret detectors, the shipped playbooks' validation), under keys of their own."""

from __future__ import annotations

import marshal
import os
import stat
import zlib
from collections.abc import Callable
from contextlib import suppress
from functools import lru_cache
from pathlib import Path
from typing import Any

from mosaic_diag.platform.userdir import cache_dir
from mosaic_diag.platform.userdir import is_private as _private
from mosaic_diag.platform.yamlpos import PosDict, PosList

FORMAT = "yamlpos-1"  # the cache's own format and yamlpos's limits: a change makes every key new
MISS = object()
MAX_ENTRIES = 256  # the shipped taxonomy and playbooks are about 20 texts; edits and other checkouts add more
_PLAIN = (str, int, float, bool, bytes, type(None))
# an entry is a regular file: a link is not followed, a FIFO not waited on (opened for reading, it waits for a writer)
_READ_FLAGS = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0)


class _NotPlain(Exception):
    """A value marshal would not keep as it is (a datetime)."""


@lru_cache(maxsize=1)
def _yaml_stamp() -> str:
    """Which PyYAML is installed (where, when, how big), without importing it."""
    from importlib.util import find_spec

    try:
        spec = find_spec("yaml")
        origin = spec.origin if spec is not None else None
        st = os.stat(origin) if origin else None
    except (ImportError, ValueError, OSError):
        return "-"
    return f"{origin}:{st.st_mtime_ns}:{st.st_size}" if st is not None else "-"


def key_of(text: str) -> str:
    from mosaic_diag.platform.digest import key_hash  # (here: `get_plain` alone, `--help`'s, needs none)

    h = key_hash(f"{FORMAT}\0{_yaml_stamp()}\0".encode())
    h.update(text.encode("utf-8", "surrogatepass"))
    return h.hexdigest()


def _pack(obj: Any) -> Any:
    if isinstance(obj, PosDict):
        return ("d", obj.line, dict(obj.key_lines), [(k, _pack(v)) for k, v in obj.items()])
    if isinstance(obj, PosList):
        return ("l", obj.line, list(obj.item_lines), [_pack(v) for v in obj])
    if type(obj) in (dict, list):  # a plain loader's data (l10n's catalogs): kept as it is, plain all the way down
        _check_plain(obj)
        return obj
    if type(obj) not in _PLAIN:
        raise _NotPlain
    return obj


def _check_plain(obj: Any) -> None:
    """Raise _NotPlain unless `obj` is plain values in dicts and lists (no positioned node: `_unpack` would not
    look inside)."""
    todo = [obj]
    while todo:
        item = todo.pop()
        kind = type(item)
        if kind is dict:
            todo.extend(item)
            todo.extend(item.values())
        elif kind is list:
            todo.extend(item)
        elif kind not in _PLAIN:
            raise _NotPlain


def _unpack(obj: Any) -> Any:
    if type(obj) is not tuple:
        return obj
    kind, line, lines, items = obj
    if kind == "d":
        out = PosDict()
        out.line, out.key_lines = line, lines
        for k, v in items:
            out[k] = _unpack(v)
        return out
    seq = PosList(_unpack(v) for v in items)
    seq.line, seq.item_lines = line, lines
    return seq


def get(key: str) -> Any:
    """The data cached under `key`, or MISS."""
    data = get_plain(key)
    if data is MISS:
        return MISS
    try:
        return _unpack(data)
    except (ValueError, TypeError):  # an entry of another shape: a miss
        return MISS


def get_plain(key: str) -> Any:
    """The plain data (`put_plain`) cached under `key`, or MISS."""
    where = cache_dir()
    if where is None:
        return MISS
    try:
        if not _private(where):  # first: a FIFO planted under a known key in a directory others write blocked `open`
            return MISS
        fd = os.open(where / f"{key}.marshal", _READ_FLAGS)
        with open(fd, "rb") as f:
            st = os.fstat(fd)
            if st.st_uid != os.getuid() or not stat.S_ISREG(st.st_mode):
                return MISS
            stored_key, data = marshal.loads(f.read())
            if stored_key != key:
                return MISS
            with suppress(OSError):  # mosaic-diag: ignore[MD006]
                os.utime(f.fileno())  # recently used: the last to be pruned
        return data
    except (OSError, EOFError, ValueError, TypeError):
        return MISS


def put(key: str, data: Any) -> None:
    """Cache `data` under `key` (quietly nothing when it cannot be)."""
    try:
        packed = _pack(data)
    except (_NotPlain, RecursionError):
        return
    put_plain(key, packed)


def put_plain(key: str, data: Any) -> None:
    """Cache `data`, values marshal keeps as they are (str, numbers, tuples, lists, dicts), under `key`
    (quietly nothing when it cannot be)."""
    where = cache_dir()
    if where is None:
        return
    try:
        blob = marshal.dumps((key, data))
    except (ValueError, RecursionError):
        return
    try:
        where.mkdir(mode=0o700, parents=True, exist_ok=True)
        if not _private(where):
            return
        tmp = where / f".{key}.{os.getpid()}.tmp"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(blob)
            os.replace(tmp, where / f"{key}.marshal")
        except OSError:
            tmp.unlink(missing_ok=True)
            return
        prune(where, MAX_ENTRIES)
    except OSError:
        return


def prune(where: Path, keep: int) -> int:
    """Remove the least recently used entries of the cache directory `where` beyond `keep`, down to
    three quarters of it (so that the next writes do not prune again at once); returns how many."""
    entries: list[tuple[int, str]] = []
    with os.scandir(where) as it:
        for entry in it:
            if entry.name.endswith(".marshal"):
                try:
                    entries.append((entry.stat().st_mtime_ns, entry.path))
                except OSError:  # mosaic-diag: ignore[MD006]
                    continue
    if len(entries) <= keep:
        return 0
    entries.sort()
    removed = 0
    for _, path in entries[: len(entries) - keep * 3 // 4]:
        try:
            os.unlink(path)
            removed += 1
        except OSError:  # mosaic-diag: ignore[MD006]
            continue
    return removed


def get_checked(key: str, build: Callable[[Any], Any] | None = None) -> Any:
    """The plain data `put_checked` kept under `key` (made into objects by `build`), or MISS (none kept, or not
    intact: the CRC-32 of its bytes is checked before they are unmarshalled; data `build` cannot take)."""
    entry = get_plain(key)
    try:
        check, blob = entry
        if type(blob) is not bytes or zlib.crc32(blob) != check:
            return MISS
        data = marshal.loads(blob)
        return build(data) if build is not None else data
    except (ValueError, TypeError, IndexError, EOFError, RecursionError):
        return MISS


def put_checked(key: str, data: Any) -> None:
    """Keep plain `data` under `key` with the CRC-32 of its bytes (quietly nothing when it cannot be)."""
    try:
        blob = marshal.dumps(data)
    except (ValueError, RecursionError):
        return
    put_plain(key, (zlib.crc32(blob), blob))
