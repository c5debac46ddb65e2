"""Write a file whole or not at all: a temporary file in the same directory, then a rename."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path


def write_atomic(path: Path, text: str | bytes, *, mode: int | None = None) -> None:
    """Replace `path` with `text` atomically (readers see the old or the new file, never half); a str
    is written as UTF-8 (a lone surrogate, which UTF-8 cannot hold, as its `\\udXXXX` escape), bytes as they are.

    An OSError names `path` itself (not the temporary file or a parent), so one line says what failed. A `path`
    that is a device or a FIFO (`--out /dev/stdout`, `/dev/null`) is written to as it is: replacing it would put a
    regular file in its place (as root, /dev/null itself).
    """
    import stat

    try:
        special = not stat.S_ISREG(os.stat(path).st_mode) and not stat.S_ISDIR(os.stat(path).st_mode)
    except OSError:
        special = False  # (none yet, or a broken link: written atomically)
    if special:
        try:
            with open(path, "wb") as fh:
                fh.write(text.encode("utf-8", "backslashreplace") if isinstance(text, str) else text)
        except OSError as exc:
            raise OSError(exc.errno, f"cannot write ({exc.strerror or exc})", str(path)) from exc
        return
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    except OSError as exc:
        raise OSError(exc.errno, f"cannot write ({exc.strerror or exc})", str(path)) from exc
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(text.encode("utf-8", "backslashreplace") if isinstance(text, str) else text)
        if mode is not None:
            os.chmod(tmp, mode)
        os.replace(tmp, path)
    except OSError as exc:
        Path(tmp).unlink(missing_ok=True)
        raise OSError(exc.errno, f"cannot write ({exc.strerror or exc})", str(path)) from exc
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
