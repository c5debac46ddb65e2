"""Manifest: what this deploy would ship (commit, branch, hashes), and a loud dirty-tree warning."""

from __future__ import annotations

import platform
from collections.abc import Iterator

from mosaic_diag.checks.model import Check, CheckContext, CheckId, Message, Skip
from mosaic_diag.errors import DiagError

IDS = (
    CheckId("MD-MANIFEST001", "info", "The deployment manifest of this tree",
            "`mosaic-diag manifest generate` prints it whole; `manifest record` after the deploy"),
    CheckId("MD-MANIFEST002", "warning", "The working tree has uncommitted changes: Render deploys the commit, "
            "not what you tested", "commit or stash the changes, then run predeploy again"),
)


def run(ctx: CheckContext) -> Iterator[Message]:
    from mosaic_diag.manifest import ManifestSettings, generate_manifest

    try:
        manifest = generate_manifest(ctx.root, None, settings=ManifestSettings.from_config(ctx.config),
                                     env=ctx.env, python_version=platform.python_version())
    except DiagError as exc:
        raise Skip(f"no manifest: {exc}") from exc  # not a git repository, no commit yet
    models = ", ".join(f"{k}={v}" for k, v in sorted(manifest.models.items())) or "none pinned"
    yield Message("MD-MANIFEST001",
                  f"commit {manifest.short} on {manifest.branch or 'a detached HEAD'}, "
                  f"{len(manifest.prompts)} prompt file(s), {len(manifest.golden)} golden file(s), "
                  f"schema {(manifest.schema.hash or 'none')[:12]}, models: {models}")
    if manifest.dirty:
        shown = ", ".join(manifest.dirty_paths[:5]) + (" …" if len(manifest.dirty_paths) > 5 else "")
        yield Message("MD-MANIFEST002", f"{len(manifest.dirty_paths)} uncommitted change(s): {shown}")


CHECK = Check("manifest", ("manifest", "git"), IDS, run, "What this deploy ships, and whether the tree is clean.")
