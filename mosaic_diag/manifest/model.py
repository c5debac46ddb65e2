"""The deployment manifest as a value: frozen, deterministic JSON (sorted keys)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mosaic_diag.errors import ConfigError, UsageError

MANIFEST_VERSION = 1


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
        try:
            git = data["git"]
            schema = data.get("schema") or {}
            live = schema.get("live") or {}
            golden = data.get("golden") or {}
            flags = data.get("feature_flags") or {}
            return cls(
                commit=str(git["commit"]), branch=git.get("branch"), ref=git.get("ref"),
                dirty=bool(git.get("dirty", False)), dirty_paths=tuple(str(p) for p in git.get("dirty_paths") or ()),
                python_runtime=str((data.get("python") or {}).get("runtime", "")),
                python_declared=(data.get("python") or {}).get("declared"),
                dependencies=dict(data.get("dependencies") or {}), prompts=dict(data.get("prompts") or {}),
                golden=dict(golden.get("files") or {}), golden_set_hash=golden.get("set_hash"),
                models=dict(data.get("models") or {}),
                schema=SchemaInfo(tuple(schema.get("source") or ()), schema.get("hash"), live.get("hash"),
                                  live.get("tables")),
                feature_flags=dict(flags.get("values") or {}), flags_source=flags.get("source"),
                generated_at=str(data.get("generated_at", "")),
            )
        except (KeyError, TypeError, AttributeError) as exc:
            raise ConfigError(f"not a mosaic-diag manifest (missing or bad {exc})", path=where) from exc


def load_manifest(path: Path) -> Manifest:
    """A manifest JSON file written by `manifest generate`."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError as exc:
        raise UsageError(f"no such manifest file: {path}") from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"cannot read manifest: {exc}", path=str(path)) from exc
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ConfigError(f"invalid JSON: {exc.msg}", path=str(path), line=exc.lineno) from exc
    if not isinstance(data, Mapping):
        raise ConfigError("a manifest must be a JSON object", path=str(path), line=1)
    return Manifest.from_dict(data, where=str(path))
