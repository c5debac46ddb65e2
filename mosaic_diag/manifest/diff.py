"""What changed between two manifests, with what it means for a deploy or a rollback."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from mosaic_diag.manifest.model import Manifest

SEVERITIES = ("critical", "high", "medium", "low")


@dataclass(frozen=True)
class Finding:
    """One meaningful difference: a code, a severity and a sentence."""

    code: str
    severity: str
    message: str
    paths: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {"code": self.code, "severity": self.severity, "message": self.message, "paths": list(self.paths)}


@dataclass(frozen=True)
class ManifestDiff:
    """The findings between an old and a new manifest (most severe first)."""

    old_commit: str
    new_commit: str
    findings: tuple[Finding, ...]

    @property
    def schema_changed(self) -> bool:
        return any(f.code == "schema_changed" for f in self.findings)

    def worst(self) -> str | None:
        return min((f.severity for f in self.findings), key=SEVERITIES.index, default=None)

    def to_dict(self) -> dict[str, Any]:
        return {"old_commit": self.old_commit, "new_commit": self.new_commit,
                "findings": [f.to_dict() for f in self.findings]}


def _changed(old: Mapping[str, Any], new: Mapping[str, Any]) -> tuple[list[str], list[str], list[str]]:
    """(changed, added, removed) keys."""
    changed = sorted(k for k in old.keys() & new.keys() if old[k] != new[k])
    return changed, sorted(new.keys() - old.keys()), sorted(old.keys() - new.keys())


def _names(paths: list[str]) -> str:
    shown = ", ".join(p.rsplit("/", 1)[-1] for p in paths[:5])
    return shown + (f" and {len(paths) - 5} more" if len(paths) > 5 else "")


def diff_manifests(old: Manifest, new: Manifest) -> ManifestDiff:
    """Compare `old` (e.g. deployed) with `new` (e.g. the candidate or rollback target)."""
    out: list[Finding] = []
    if new.dirty:
        out.append(Finding("dirty_tree", "high", f"dirty tree: {len(new.dirty_paths)} uncommitted change(s) "
                           "are not part of what would deploy", new.dirty_paths))
    if old.dirty:
        out.append(Finding("dirty_tree", "high", f"dirty tree: the old manifest had {len(old.dirty_paths)} "
                           "uncommitted change(s)", old.dirty_paths))
    if old.commit != new.commit:
        out.append(Finding("commit_changed", "low", f"commit {old.commit[:12]} -> {new.commit[:12]}"))

    if old.schema.hash != new.schema.hash:
        out.append(Finding("schema_changed", "critical", "schema changed: a rollback will not undo the database "
                           f"({_names(sorted(set(old.schema.source) | set(new.schema.source))) or 'declaration'})",
                           tuple(sorted(set(old.schema.source) | set(new.schema.source)))))
    if old.schema.live_hash and new.schema.live_hash and old.schema.live_hash != new.schema.live_hash:
        out.append(Finding("live_schema_changed", "high", "the live database schema differs between the two"))

    for key in sorted(old.models.keys() | new.models.keys()):
        before, after = old.models.get(key), new.models.get(key)
        if before != after:
            out.append(Finding("model_pin_changed", "high",
                               f"model pin changed: {key} {before or '(none)'} -> {after or '(none)'}"))

    p_changed, p_added, p_removed = _changed(old.prompts, new.prompts)
    prompts = p_changed + p_added + p_removed
    golden_changed = old.golden_set_hash != new.golden_set_hash
    for path in prompts:
        verb = "changed" if path in p_changed else "added" if path in p_added else "removed"
        name = path.rsplit("/", 1)[-1]
        if golden_changed:
            out.append(Finding("prompt_changed", "medium", f"prompt {name} {verb}; the golden set changed too",
                               (path,)))
        else:
            out.append(Finding("prompt_changed_golden_unchanged", "high",
                               f"prompt {name} {verb} but the golden set did not", (path,)))
    if golden_changed and not prompts:
        g = sorted(set(_changed(old.golden, new.golden)[0]) | (old.golden.keys() ^ new.golden.keys()))
        out.append(Finding("golden_changed", "low", f"golden set changed: {_names(g)}", tuple(g)))

    d_changed, d_added, d_removed = _changed(old.dependencies, new.dependencies)
    deps = d_changed + d_added + d_removed
    if deps:
        out.append(Finding("dependencies_changed", "medium", f"dependencies changed: {_names(deps)}", tuple(deps)))
    if (old.python_declared, old.python_runtime) != (new.python_declared, new.python_runtime):
        before = old.python_declared or old.python_runtime
        after = new.python_declared or new.python_runtime
        if before != after:
            out.append(Finding("python_changed", "medium", f"python version changed: {before} -> {after}"))

    for key in sorted(old.feature_flags.keys() | new.feature_flags.keys()):
        before, after = old.feature_flags.get(key, "(unset)"), new.feature_flags.get(key, "(unset)")
        if before != after:
            out.append(Finding("feature_flag_changed", "medium", f"feature flag {key}: {before} -> {after}"))

    out.sort(key=lambda f: SEVERITIES.index(f.severity))
    return ManifestDiff(old.commit, new.commit, tuple(out))
