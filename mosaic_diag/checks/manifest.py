"""Manifest: what this deploy would ship (commit, branch, hashes), and a loud dirty-tree warning."""

from __future__ import annotations

import platform
from collections.abc import Iterator

from mosaic_diag.checks.model import Check, CheckContext, CheckId, Message, Skip
from mosaic_diag.errors import DiagError, UsageError

IDS = (
    CheckId("MD-MANIFEST001", "info", "The deployment manifest of this tree",
            "`mosaic-diag manifest generate` prints it whole; `manifest record` after the deploy"),
    CheckId("MD-MANIFEST002", "warning", "The working tree has uncommitted changes: Render deploys the commit, "
            "not what you tested", "commit or stash the changes, then run predeploy again"),
    CheckId("MD-MANIFEST003", "error", "The manifest cannot be generated (invalid manifest settings or files)",
            "fix the file named, or the manifest.* settings; `mosaic-diag manifest generate` shows the same error"),
)


def run(ctx: CheckContext) -> Iterator[Message]:
    from mosaic_diag.manifest import ManifestSettings, generate_manifest

    try:
        manifest = generate_manifest(ctx.root, None, settings=ManifestSettings.from_config(ctx.config),
                                     env=ctx.env, python_version=platform.python_version())
    except UsageError as exc:
        raise Skip(f"no manifest: {exc}") from exc  # not a git repository, no commit yet
    except DiagError as exc:
        where = f"{exc.path}:{exc.line}" if exc.path and exc.line else exc.path
        yield Message("MD-MANIFEST003", str(exc).removeprefix(f"{where}: ") if where else str(exc),
                      location=where, exc=exc)
        return
    models = ", ".join(f"{k}={v}" for k, v in sorted(manifest.models.items())) or "none pinned"
    yield Message("MD-MANIFEST001",
                  f"commit {manifest.short} on {manifest.branch or 'a detached HEAD'}, "
                  f"{'dirty' if manifest.dirty else 'clean'} tree, "
                  f"{len(manifest.prompts)} prompt file(s), {len(manifest.golden)} golden file(s), "
                  f"schema {(manifest.schema.hash or 'none')[:12]}, models: {models}")
    if manifest.dirty:
        shown = ", ".join(manifest.dirty_paths[:5]) + (" …" if len(manifest.dirty_paths) > 5 else "")
        yield Message("MD-MANIFEST002", f"{len(manifest.dirty_paths)} uncommitted change(s): {shown}")


CHECK = Check("manifest", ("manifest", "git"), IDS, run, "What this deploy ships, and whether the tree is clean.")
