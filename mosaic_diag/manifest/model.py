"""The deployment manifest as a value: frozen, deterministic JSON (sorted keys)."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mosaic_diag.errors import ConfigError, UsageError

MANIFEST_VERSION = 1
COMMIT_SHA = re.compile(r"(?:[0-9a-f]{40}|[0-9a-f]{64})")  # a full object name (SHA-1 or SHA-256 repositories)
_HASH = re.compile(r"[0-9a-f]{64}")  # a file's sha256 as `generate` writes it


def full_sha(value: object) -> bool:
    """`value` is a full commit id, lower-case hex, as git and `manifest generate` write it (not a ref: `main~1`,
    `HEAD`, which would resolve to whatever they name when read back)."""
    return isinstance(value, str) and COMMIT_SHA.fullmatch(value) is not None


def _files(value: object, what: str) -> dict[str, str]:
    """A manifest's {path: sha256} map, checked: a path relative to the repository (no `..`, not absolute, no
    control characters) and a hex hash, as `generate` writes them; ValueError naming what is wrong."""
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise ValueError(f"{what} is not an object of path: hash")
    out: dict[str, str] = {}
    for path, digest in value.items():
        parts = str(path).replace("\\", "/").split("/")
        if not path or str(path).startswith("/") or ".." in parts or any(ord(c) < 32 or ord(c) == 127 for c in path):
            raise ValueError(f"{what}: {str(path)[:80]!r} is not a path inside the repository")
        if not isinstance(digest, str) or not _HASH.fullmatch(digest):
            raise ValueError(f"{what}: the hash of {str(path)[:80]!r} is not a sha256 in hex")
        out[str(path)] = digest
    return out


def _mapping(value: object, what: str) -> Mapping[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise ValueError(f"{what} is not an object")
    return value


@dataclass(frozen=True)
class SchemaInfo:
    """The schema declaration's hash (and the live database's, when one was asked)."""

    source: tuple[str, ...] = ()
    hash: str | None = None
    live_hash: str | None = None
    live_tables: int | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"source": list(self.source), "hash": self.hash,
                "live": None if self.live_hash is None else {"hash": self.live_hash, "tables": self.live_tables}}


@dataclass(frozen=True)
class Manifest:
    """What one commit (or working tree) deploys."""

    commit: str
    branch: str | None
    dirty: bool
    dirty_paths: tuple[str, ...]
    python_runtime: str
    python_declared: str | None
    dependencies: Mapping[str, str]
    prompts: Mapping[str, str]
    golden: Mapping[str, str]
    golden_set_hash: str | None
    models: Mapping[str, str]
    schema: SchemaInfo
    feature_flags: Mapping[str, Any]
    flags_source: str | None
    generated_at: str
    ref: str | None = None
    extra: Mapping[str, Any] = field(default_factory=dict)

    @property
    def short(self) -> str:
        return self.commit[:12]

    def to_dict(self) -> dict[str, Any]:
        return {
            "manifest_version": MANIFEST_VERSION,
            "git": {"commit": self.commit, "branch": self.branch, "ref": self.ref, "dirty": self.dirty,
                    "dirty_paths": list(self.dirty_paths)},
            "python": {"runtime": self.python_runtime, "declared": self.python_declared},
            "dependencies": dict(self.dependencies),
            "prompts": dict(self.prompts),
            "golden": {"files": dict(self.golden), "set_hash": self.golden_set_hash},
            "models": dict(self.models),
            "schema": self.schema.to_dict(),
            "feature_flags": {"source": self.flags_source, "values": dict(self.feature_flags)},
            "generated_at": self.generated_at,
        }

    def to_json(self) -> str:
        """Deterministic JSON: sorted keys, two-space indent, trailing newline."""
        return json.dumps(self.to_dict(), sort_keys=True, indent=2) + "\n"

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], *, where: str = "manifest") -> Manifest:
        """A manifest as `generate` writes it; a ConfigError naming what is not (a hand edit, a truncation, a
        forgery): the commit a full hex id, every file a path inside the repository with a sha256."""
        try:
            git = _mapping(data.get("git"), "git")
            if not full_sha(git.get("commit")):
                raise ValueError(f"git.commit {str(git.get('commit'))[:80]!r} is not a full commit id (40 or 64 hex "
                                 "digits)")
            schema = _mapping(data.get("schema"), "schema")
            live = _mapping(schema.get("live"), "schema.live")
            golden = _mapping(data.get("golden"), "golden")
            flags = _mapping(data.get("feature_flags"), "feature_flags")
            python = _mapping(data.get("python"), "python")
            tables = live.get("tables")
            if tables is not None and (not isinstance(tables, int) or isinstance(tables, bool)):
                raise ValueError("schema.live.tables is not a number")
            return cls(
                commit=str(git["commit"]), branch=_text(git.get("branch"), "git.branch"),
                ref=_text(git.get("ref"), "git.ref"), dirty=bool(git.get("dirty", False)),
                dirty_paths=tuple(str(p) for p in _list(git.get("dirty_paths"), "git.dirty_paths")),
                python_runtime=str(python.get("runtime", "")),
                python_declared=_text(python.get("declared"), "python.declared"),
                dependencies=_files(data.get("dependencies"), "dependencies"),
                prompts=_files(data.get("prompts"), "prompts"),
                golden=_files(golden.get("files"), "golden.files"),
                golden_set_hash=_text(golden.get("set_hash"), "golden.set_hash"),
                models={str(k): str(v) for k, v in _mapping(data.get("models"), "models").items()},
                schema=SchemaInfo(tuple(str(p) for p in _list(schema.get("source"), "schema.source")),
                                  _text(schema.get("hash"), "schema.hash"), _text(live.get("hash"), "schema.live.hash"),
                                  tables),
                feature_flags=dict(_mapping(flags.get("values"), "feature_flags.values")),
                flags_source=_text(flags.get("source"), "feature_flags.source"),
                generated_at=str(data.get("generated_at", "")),
            )
        except (KeyError, TypeError, AttributeError, ValueError) as exc:
            raise ConfigError(f"not a mosaic-diag manifest ({exc})", path=where) from exc


def _text(value: object, what: str) -> str | None:
    if value is not None and not isinstance(value, str):
        raise ValueError(f"{what} is not text")
    return value


def _list(value: object, what: str) -> list[Any]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise ValueError(f"{what} is not a list")
    return value


def load_manifest(path: Path) -> Manifest:
    """A manifest JSON file written by `manifest generate`: a regular file (a FIFO waited for a writer for ever, a
    link to /dev/zero was read until memory ran out) of at most platform.atomic's STATE_BYTES, UTF-8 text."""
    from mosaic_diag.platform.atomic import read_state

    try:
        raw = read_state(path)
    except FileNotFoundError as exc:
        raise UsageError(f"no such manifest file: {path}") from exc
    except OSError as exc:
        raise UsageError(f"cannot read manifest: {exc.strerror or exc}", path=str(path)) from exc
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise UsageError(f"cannot read manifest: not UTF-8 text ({exc.reason})", path=str(path),
                         line=raw.count(b"\n", 0, exc.start) + 1) from exc
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ConfigError(f"invalid JSON: {exc.msg}", path=str(path), line=exc.lineno) from exc
    except RecursionError as exc:
        raise ConfigError("invalid JSON: nested too deeply", path=str(path)) from exc
    if not isinstance(data, Mapping):
        raise ConfigError("a manifest must be a JSON object", path=str(path), line=1)
    return Manifest.from_dict(data, where=str(path))
