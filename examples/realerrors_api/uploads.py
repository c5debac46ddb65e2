"""Résumé uploads stored under the uploads/ folder."""

from __future__ import annotations

import logging
from pathlib import Path

logger = logging.getLogger("api.uploads")


def read_upload(upload_dir: Path, filename: str) -> bytes:
    with open(upload_dir / filename, "rb") as f:
        return f.read()


def buffer_upload(size: int) -> bytearray:
    """Hold a whole upload in memory (the app does this for résumé parsing)."""
    return bytearray(size)
