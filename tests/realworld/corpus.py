"""Loader for the real-world error corpus (``corpus.yml`` next to this file).

Each entry is an error text pasted by a real user in a public GitHub issue or Q&A page,
with the label the taxonomy specification gives it. See README.md for the fields.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

CORPUS_PATH = Path(__file__).with_name("corpus.yml")
LAYOUTS_PATH = Path(__file__).with_name("layouts.yml")


def read_yaml(path: Path | str) -> Any:
    """The data of the YAML file at `path`, read by libyaml when PyYAML has it (a tenth of the pure-Python reader's
    time on the corpus: 0.16 s against 1.3 s, read by dozens of tests), else by PyYAML's safe loader; the same data."""
    with open(path, encoding="utf-8") as fh:
        return yaml.load(fh, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))  # noqa: S506 - a safe loader

#: The label families used in the corpus (``negative`` = must stay UNKNOWN_ERROR).
FAMILIES: tuple[str, ...] = (
    "postgres",
    "sqlite",
    "env",
    "render",
    "data",
    "openai",
    "anthropic",
    "model",
    "prompt",
    "jobsource",
    "negative",
)

_LABEL = re.compile(r"^[A-Z][A-Z0-9_]*$")
_ID = re.compile(r"^[a-z0-9][a-z0-9-]*$")
_REQUIRED = ("id", "family", "expected", "cut", "source", "text")
_OPTIONAL = ("alternatives",)


class CorpusError(ValueError):
    """The corpus file does not have the documented shape."""


@dataclass(frozen=True)
class Alternative:
    """Another label the specification honestly also allows for an entry, and why."""

    label: str
    reason: str


@dataclass(frozen=True)
class Entry:
    """One real error text and the label the taxonomy gives it."""

    id: str
    family: str
    expected: str
    cut: bool
    source: str
    text: str
    alternatives: tuple[Alternative, ...] = ()

    @property
    def labels(self) -> tuple[str, ...]:
        """The expected label followed by every alternative label."""
        return (self.expected, *(a.label for a in self.alternatives))


def _fail(where: str, message: str) -> CorpusError:
    return CorpusError(f"{where}: {message}")


def _string(raw: dict[str, Any], key: str, where: str) -> str:
    value = raw[key]
    if not isinstance(value, str) or not value.strip():
        raise _fail(where, f"{key!r} must be a non-empty string")
    return value


def _alternatives(raw: Any, where: str) -> tuple[Alternative, ...]:
    if raw is None:
        return ()
    if not isinstance(raw, list) or not raw:
        raise _fail(where, "'alternatives' must be a non-empty list when present")
    out: list[Alternative] = []
    for n, item in enumerate(raw):
        at = f"{where} alternative {n}"
        if not isinstance(item, dict) or set(item) != {"label", "reason"}:
            raise _fail(at, "must be a mapping with exactly 'label' and 'reason'")
        label = _string(item, "label", at)
        if not _LABEL.match(label):
            raise _fail(at, f"label {label!r} is not UPPER_SNAKE_CASE")
        out.append(Alternative(label=label, reason=_string(item, "reason", at)))
    return tuple(out)


def _entry(raw: Any, index: int) -> Entry:
    where = f"entry {index}"
    if not isinstance(raw, dict):
        raise _fail(where, "must be a mapping")
    missing = [k for k in _REQUIRED if k not in raw]
    if missing:
        raise _fail(where, f"missing {', '.join(missing)}")
    unknown = sorted(set(raw) - set(_REQUIRED) - set(_OPTIONAL))
    if unknown:
        raise _fail(where, f"unknown field(s) {', '.join(unknown)}")
    entry_id = _string(raw, "id", where)
    where = f"entry {entry_id!r}"
    if not _ID.match(entry_id):
        raise _fail(where, "id must be a lower-case slug")
    family = _string(raw, "family", where)
    if family not in FAMILIES:
        raise _fail(where, f"unknown family {family!r}")
    expected = _string(raw, "expected", where)
    if not _LABEL.match(expected):
        raise _fail(where, f"expected label {expected!r} is not UPPER_SNAKE_CASE")
    if not isinstance(raw["cut"], bool):
        raise _fail(where, "'cut' must be true or false")
    source = _string(raw, "source", where)
    if not source.startswith(("http://", "https://")):
        raise _fail(where, "'source' must be an http(s) URL")
    alternatives = _alternatives(raw.get("alternatives"), where)
    if expected in {a.label for a in alternatives}:
        raise _fail(where, "an alternative repeats the expected label")
    return Entry(
        id=entry_id,
        family=family,
        expected=expected,
        cut=raw["cut"],
        source=source,
        text=_string(raw, "text", where),
        alternatives=alternatives,
    )


def load_corpus(path: Path | str = CORPUS_PATH) -> list[Entry]:
    """Read and validate the corpus; raise CorpusError when its shape is wrong."""
    data = read_yaml(path)
    if not isinstance(data, list):
        raise CorpusError(f"{path}: the corpus must be a YAML list")
    entries = [_entry(raw, n) for n, raw in enumerate(data)]
    seen: set[str] = set()
    for entry in entries:
        if entry.id in seen:
            raise CorpusError(f"duplicate id {entry.id!r}")
        seen.add(entry.id)
    return entries


def corpus_text(entry_id: str) -> str:
    """The pasted text of the corpus entry `entry_id` (the classifier tests that read a paste no library here makes)."""
    stat = CORPUS_PATH.stat()
    return _texts(stat.st_mtime_ns, stat.st_size)[entry_id]


def layout_text(entry_id: str) -> str:
    """The pasted text of the layouts entry `entry_id` (`layouts.yml`)."""
    stat = LAYOUTS_PATH.stat()
    return _layout_texts(stat.st_mtime_ns, stat.st_size)[entry_id]


@functools.lru_cache(maxsize=2)
def _texts(mtime_ns: int, size: int) -> dict[str, str]:
    """The corpus's texts by id, read once per version of the file (keyed by its time and size)."""
    return {e.id: e.text for e in load_corpus()}


@functools.lru_cache(maxsize=2)
def _layout_texts(mtime_ns: int, size: int) -> dict[str, str]:
    return {str(e["id"]): str(e["text"]) for e in read_yaml(LAYOUTS_PATH)}
