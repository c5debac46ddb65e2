"""Résumé uploads stored under the uploads/ folder."""

from __future__ import annotations

import logging
from pathlib import Path

logger = logging.getLogger("api.uploads")


def read_upload(upload_dir: Path, filename: str) -> bytes:
    with open(upload_dir / filename, "rb") as f:
        return f.read()
