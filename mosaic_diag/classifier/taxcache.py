"""A built taxonomy kept in the on-disk cache (`yamlcache.put_plain`): a triage reads the labels, rules and
conditions back instead of loading the rules files and building 87 rules of 229 conditions again (about a tenth of
a small triage).

An entry is keyed on the exact texts of the rules files (the shipped one and a user's), the names they are given
(in each rule's `source` and in errors), the building code (`taxonomy.py`, `yamlpos.py` and this module: where,
when, how big), the interpreter, the installed PyYAML and, with a user's file, the installed `regex` (which checks
its regexes). Only a taxonomy that was built without error is kept, so a bad file fails the same way every time.
It is stored as plain values (marshal) with their CRC-32 and read back into the taxonomy's own classes only (a
closed list): a damaged entry, or one of another shape, is a miss, and the taxonomy is built again. A rule's regex
comes back uncompiled, as the build leaves it: compiled at first use (a user's regexes, checked by the build that
was kept, by the `regex` engine then too)."""

from __future__ import annotations

import sys
from dataclasses import fields
from pathlib import Path
from typing import Any

from mosaic_diag.classifier.taxonomy import (
    SHIPPED_RULES,
    Comparison,
    Condition,
    Label,
    Regex,
    Rule,
    Taxonomy,
    UserRegex,
)
from mosaic_diag.platform import yamlcache

FORMAT = "taxonomy-2"
# the classes a built taxonomy is made of, and nothing else: the only classes an entry is read back into
CLASSES: tuple[type, ...] = (Taxonomy, Rule, Condition, Label, Comparison, Regex, UserRegex)
_LAYOUT = {Taxonomy: ("labels", "rules", "aliases", "sources"), Rule: ("id", "label", "priority", "match", "unless",
           "source"), Label: tuple(f.name for f in fields(Label)), Comparison: ("left", "op", "right")}
_LABEL = _LAYOUT[Label]
_COMPARISON = _LAYOUT[Comparison]
_CONDITION = {f.name: f.default for f in fields(Condition)}  # (every field has a default: the empty value)
_REGEXES = frozenset(name for name, default in _CONDITION.items() if default is None)  # message, host, text...
# as this module packs them (another layout of the classes: nothing kept, as with a field of a kind unknown here)
_KNOWN = (all(tuple(f.name for f in fields(cls)) == names for cls, names in _LAYOUT.items())
          and {"message", "frame", "host", "frames", "logger", "log", "text"} == _REGEXES)
_SCALARS = (str, int, bool, type(None))
_CODE = tuple(Path(__file__).resolve().parent.parent / part
              for part in ("classifier/taxonomy.py", "classifier/taxcache.py", "platform/yamlpos.py"))


class _NotKept(Exception):
    """A value of a type this cache does not keep."""


def _stamp(module: str) -> str:
    """Which `module` is installed (where, when, how big), without importing it."""
    from importlib.util import find_spec

    try:
        spec = find_spec(module)
        origin = spec.origin if spec is not None else None
        st = Path(origin).stat() if origin else None
    except (ImportError, ValueError, OSError):
        return "-"
    return f"{origin}:{st.st_mtime_ns}:{st.st_size}" if st is not None else "-"


def key_of(paths: tuple[Path, ...], texts: tuple[str, ...]) -> str:
    """The entry of the taxonomy built from the rules files `paths`, whose texts are `texts`."""
    from mosaic_diag.platform.digest import key_hash

    h = key_hash(f"{FORMAT}\0{sys.version}\0{sys.implementation.cache_tag}\0{SHIPPED_RULES}\0".encode(
        "utf-8", "surrogatepass"))
    for code in _CODE:
        try:
            st = code.stat()
        except OSError:
            h.update(f"{code}:-\0".encode("utf-8", "surrogatepass"))
        else:
            h.update(f"{code}:{st.st_mtime_ns}:{st.st_size}\0".encode("utf-8", "surrogatepass"))
    layout = ";".join(f"{cls.__qualname__}({','.join(f.name for f in fields(cls))})" for cls in CLASSES[:5])
    h.update(f"{layout}\0{yamlcache._yaml_stamp()}\0".encode("utf-8", "surrogatepass"))
    if any(path != SHIPPED_RULES for path in paths):
        h.update(f"regex:{_stamp('regex')}\0".encode("utf-8", "surrogatepass"))
    for path, text in zip(paths, texts, strict=True):
        shipped = "shipped" if path == SHIPPED_RULES else "user"
        data = text.encode("utf-8", "surrogatepass")
        h.update(f"{path}\0{shipped}\0{len(data)}\0".encode("utf-8", "surrogatepass"))
        h.update(data)
    return h.hexdigest()


def _strings(value: Any) -> tuple[str, ...]:
    if type(value) is not tuple or not all(type(v) is str for v in value):
        raise _NotKept("not a tuple of strings")
    return value


def _pack_regex(value: Any) -> tuple[bool, str, str, int | None]:
    kind = type(value)
    if kind is not Regex and kind is not UserRegex:
        raise _NotKept(kind.__name__)
    return kind is UserRegex, value.pattern, value.path, value.line


def _pack_condition(cond: Condition) -> dict[str, Any]:
    """The fields of `cond` that are not their default (most are: a condition names two or three keys)."""
    if type(cond) is not Condition:
        raise _NotKept(type(cond).__name__)
    out: dict[str, Any] = {}
    for name, default in _CONDITION.items():
        value = getattr(cond, name)
        if value == default and type(value) is type(default):
            continue
        if name in _REGEXES:
            out[name] = _pack_regex(value)
        elif name == "numbers":
            if type(value) is not tuple or not all(type(c) is Comparison for c in value):
                raise _NotKept("numbers")
            out[name] = tuple(tuple(getattr(c, f) for f in _COMPARISON) for c in value)
        elif type(value) is tuple:
            out[name] = _strings(value)
        elif type(value) is frozenset and all(type(v) in _SCALARS for v in value):
            out[name] = value
        else:
            raise _NotKept(name)
    return out


def _pack(taxonomy: Taxonomy) -> Any:
    """`taxonomy` as plain values: its labels' fields, its rules' fields with their conditions' (`_pack_condition`),
    its aliases and sources."""
    if not _KNOWN or type(taxonomy) is not Taxonomy or type(taxonomy.labels) is not dict \
            or type(taxonomy.aliases) is not dict:
        raise _NotKept("taxonomy")
    labels = []
    for name, label in taxonomy.labels.items():
        if type(name) is not str or type(label) is not Label:
            raise _NotKept("label")
        values = tuple(getattr(label, f) for f in _LABEL)
        if not all(type(v) in _SCALARS or type(v) is tuple for v in values):
            raise _NotKept("label")
        _strings(label.aliases)
        labels.append((name, values))
    rules = []
    for rule in taxonomy.rules:
        if type(rule) is not Rule or not all(type(v) in _SCALARS for v in (rule.id, rule.label, rule.priority,
                                                                          rule.source)):
            raise _NotKept("rule")
        rules.append((rule.id, rule.label, rule.priority, [_pack_condition(c) for c in rule.match],
                      [_pack_condition(c) for c in rule.unless], rule.source))
    aliases = taxonomy.aliases
    if not all(type(k) is str and type(v) is str for k, v in aliases.items()):
        raise _NotKept("aliases")
    return (FORMAT, labels, rules, dict(aliases), _strings(taxonomy.sources))


_new = object.__new__


def _made(cls: type, values: dict[str, Any]) -> Any:
    """An object of `cls` as its `__init__` makes it: its fields set in order, nothing else run."""
    obj: Any = _new(cls)
    obj.__dict__.update(values)
    return obj


def _regex(data: Any) -> Regex:
    user, pattern, path, line = data
    if type(pattern) is not str or type(path) is not str or (line is not None and type(line) is not int):
        raise ValueError("not a regex")
    return (UserRegex if user is True else Regex)(pattern, path, line)  # (as the build leaves it: not compiled)


def _condition(data: dict[str, Any]) -> Condition:
    values = dict(_CONDITION)
    for name, value in data.items():
        if name in _REGEXES:
            value = _regex(value)
        elif name == "numbers":
            value = tuple([_made(Comparison, dict(zip(_COMPARISON, c, strict=True))) for c in value])
        elif name not in values:
            raise ValueError("not a condition")
        values[name] = value
    return _made(Condition, values)


def _unpack(data: Any) -> Taxonomy:
    """What `_pack` made of a taxonomy (only `_pack` writes an entry, and its bytes are checked; an entry of another
    shape raises ValueError, TypeError or IndexError)."""
    form, labels, rules, aliases, sources = data
    if form != FORMAT:
        raise ValueError("not an entry")
    return _made(Taxonomy, {
        "labels": {name: _made(Label, dict(zip(_LABEL, values, strict=True))) for name, values in labels},
        "rules": tuple([_made(Rule, {"id": rule_id, "label": label, "priority": priority,
                                     "match": tuple([_condition(c) for c in match]),
                                     "unless": tuple([_condition(c) for c in unless]), "source": source})
                        for rule_id, label, priority, match, unless, source in rules]),
        "aliases": aliases, "sources": sources})


def get(key: str) -> Taxonomy | None:
    """The taxonomy kept under `key`, or None (none kept, or an entry that is not one intact)."""
    taxonomy = yamlcache.get_checked(key, _unpack)
    return taxonomy if type(taxonomy) is Taxonomy else None


def put(key: str, taxonomy: Taxonomy) -> None:
    """Keep `taxonomy` under `key`, with the CRC-32 of its bytes (quietly nothing when it cannot be)."""
    try:
        packed = _pack(taxonomy)
    except (_NotKept, ValueError, RecursionError):
        return
    yamlcache.put_checked(key, packed)
