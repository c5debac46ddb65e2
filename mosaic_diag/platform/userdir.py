"""The user's own cache directory, outside any repository: `$MOSAIC_DIAG_CACHE_DIR`, else
`$XDG_CACHE_HOME/mosaic-diag`, else `~/.cache/mosaic-diag` (`MOSAIC_DIAG_CACHE_DIR=` empty: none).
Stdlib only: the lint's warm run imports it."""

from __future__ import annotations

import os
import stat
from pathlib import Path


def cache_dir() -> Path | None:
    """Where the user's caches live, or None when they are turned off."""
    env = os.environ.get("MOSAIC_DIAG_CACHE_DIR")
    if env is not None:
        return Path(env) if env else None
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "mosaic-diag"


def is_private(path: Path) -> bool:
    """True when `path` belongs to this user and nobody else may write to it. Raises OSError."""
    st = os.stat(path)
    return st.st_uid == os.getuid() and not st.st_mode & (stat.S_IWGRP | stat.S_IWOTH)
