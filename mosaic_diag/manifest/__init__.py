"""The deployment manifest: what a commit deploys, how two deploys differ.

    m = generate_manifest(Path("."), "HEAD~1", python_version="3.11.9")
    findings = diff_manifests(old, new).findings
"""

from __future__ import annotations

from mosaic_diag.manifest.diff import Finding, ManifestDiff, diff_manifests
from mosaic_diag.manifest.generate import generate_manifest
from mosaic_diag.manifest.model import Manifest, SchemaInfo, load_manifest
from mosaic_diag.manifest.settings import ManifestSettings

__all__ = ["Finding", "Manifest", "ManifestDiff", "ManifestSettings", "SchemaInfo", "diff_manifests",
           "generate_manifest", "load_manifest"]
