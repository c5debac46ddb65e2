"""A set of playbooks that loaded without a problem, kept in the on-disk cache (`yamlcache.put_plain`): a triage
that wants a plan reads the validated playbooks back instead of loading and validating 23 files again (186
conditions parsed and type-checked: most of a small triage's planning).

An entry is keyed on the set's `files.validation_key` (the files' names and bytes, the shipped taxonomy's bytes,
the validating code), the names the loader gives the files (`store._shown`: relative to the working directory), the
installed PyYAML and the model's classes and fields: what the loader would make of the same inputs. Only a set
loaded against the shipped taxonomy with no problem is kept. It is stored as plain values (marshal) with their CRC-32
and read back into the model's own classes only (a closed list): a damaged entry, or one of another shape, is a miss,
and the set is loaded again."""

from __future__ import annotations

from dataclasses import fields
from typing import Any

from mosaic_diag.platform import yamlcache
from mosaic_diag.platform.digest import key_hash
from mosaic_diag.platform.yamlpos import PosDict, PosList
from mosaic_diag.playbooks import conditions, model

FORMAT = "playbook-store-1"
# every class a loaded playbook is made of, and nothing else: the only classes an entry is read back into
CLASSES: tuple[type, ...] = (model.Playbook, model.Match, model.GatherStep, model.Check, model.Remedy,
                             conditions.Condition, conditions.Const, conditions.Name, conditions.Compare,
                             conditions.Not, conditions.BoolOp, conditions.Truthy, conditions.Fixed)
_FIELDS = tuple(tuple(f.name for f in fields(cls)) for cls in CLASSES)
_INDEX = {cls: i for i, cls in enumerate(CLASSES)}
_SCALARS = (str, int, float, bool, bytes, type(None))


class _NotKept(Exception):
    """A value of a type this cache does not keep."""


def key_of(validation_key: str, shown: list[str]) -> str:
    """The entry of the set with this `validation_key` whose files the loader names `shown`."""
    layout = ";".join(f"{cls.__module__}.{cls.__qualname__}({','.join(names)})"
                      for cls, names in zip(CLASSES, _FIELDS, strict=True))
    h = key_hash(f"{FORMAT}\0{validation_key}\0{yamlcache._yaml_stamp()}\0{layout}\0".encode())
    for name in shown:
        h.update(name.encode("utf-8", "surrogatepass") + b"\0")
    return h.hexdigest()


def _pack(value: Any) -> Any:
    kind = type(value)
    if kind in _SCALARS:
        return value
    if kind is tuple:
        return ("t", [_pack(v) for v in value])
    if kind is list:
        return ("l", [_pack(v) for v in value])
    if kind is dict:
        return ("m", [(_pack(k), _pack(v)) for k, v in value.items()])
    if kind is PosDict:
        return ("pd", value.line, dict(value.key_lines), [(_pack(k), _pack(v)) for k, v in value.items()])
    if kind is PosList:
        return ("pl", value.line, list(value.item_lines), [_pack(v) for v in value])
    index = _INDEX.get(kind)
    if index is None:
        raise _NotKept(kind.__name__)
    return ("o", index, [_pack(getattr(value, name)) for name in _FIELDS[index]])


def _unpack(data: Any) -> Any:
    """What `_pack` made of a value (a value that is not a tuple is a scalar: only `_pack` writes an entry, and its
    bytes are checked). An object is made as its `__init__` makes it: its fields set in order, nothing else run."""
    if type(data) is not tuple:
        return data
    tag = data[0]
    if tag == "o":
        _, index, values = data
        obj: Any = _new(CLASSES[index])
        # (strict: an entry of another layout raises ValueError)
        obj.__dict__.update(zip(_FIELDS[index], [v if type(v) is not tuple else _unpack(v) for v in values],
                                strict=True))
        return obj
    if tag == "t":
        return tuple([v if type(v) is not tuple else _unpack(v) for v in data[1]])
    if tag == "l":
        return [v if type(v) is not tuple else _unpack(v) for v in data[1]]
    if tag == "m":
        return {_unpack(k): _unpack(v) for k, v in data[1]}
    if tag == "pd":
        _, line, key_lines, items = data
        out = PosDict((_unpack(k), _unpack(v)) for k, v in items)
        out.line, out.key_lines = line, dict(key_lines)
        return out
    if tag == "pl":
        _, line, item_lines, items = data
        seq = PosList([v if type(v) is not tuple else _unpack(v) for v in items])
        seq.line, seq.item_lines = line, list(item_lines)
        return seq
    raise ValueError("not an entry")


_new = object.__new__


def get(key: str) -> list[model.Playbook] | None:
    """The playbooks kept under `key`, or None (none kept, or an entry that is not one intact)."""
    playbooks = yamlcache.get_checked(key, _unpack)
    if type(playbooks) is not list or not all(type(pb) is model.Playbook for pb in playbooks):
        return None
    return playbooks


def put(key: str, playbooks: list[model.Playbook]) -> None:
    """Keep `playbooks` under `key`, with the CRC-32 of their bytes (quietly nothing when they cannot be)."""
    try:
        packed = _pack(list(playbooks))
    except (_NotKept, ValueError, RecursionError):
        return
    yamlcache.put_checked(key, packed)
