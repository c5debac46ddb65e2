"""One deploy or rollback at a time per clone: an exclusive, non-blocking lock on a file in the repository's
git directory (shared by its worktrees; never a file `git status` shows), flock'd: released by the kernel
when its holder exits, however it exits, so never stale. The file says who holds it. Re-entrant within a
process (a deploy's own rollback runs under its lock)."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from mosaic_diag.errors import DiagError, ExitCode

LOCK_NAME = "mosaic-diag-deploy.lock"
_HELD: dict[Path, int] = {}


class Busy(DiagError):
    """Another deploy or rollback holds the checkout's lock: nothing was done."""

    exit_code = ExitCode.FINDINGS


def _holder(path: Path, here: str) -> tuple[str, str]:
    """Where the holder runs (its worktree: a clone's worktrees share the lock; else `here`) and who it is."""
    try:
        info = json.loads(path.read_text(encoding="utf-8") or "{}")
        return str(info.get("root") or here), f"pid {int(info['pid'])}: {info['what']} since {info['since']}"
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return here, "holder unknown"


@contextmanager
def operation_lock(repo: Any, what: str) -> Iterator[None]:
    """Hold the clone's deploy lock (LOCK_NAME in its common git directory) for the block; Busy at once if
    another process holds it. `what` (e.g. 'deploy of 1a2b3c4d5e6f') is written into the file for the next one,
    redacted (a `--remote` URL holding a token is in no git config: the file would keep it in clear)."""
    import fcntl

    from mosaic_diag.platform.redact import redact_text

    root = repo.working_dir
    path = (Path(repo.common_dir) / LOCK_NAME).resolve()
    if _HELD.get(path):
        _HELD[path] += 1
        try:
            yield
        finally:
            _HELD[path] -= 1
        return
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            where, who = _holder(path, str(root))
            raise Busy(f"another deploy or rollback is running from {where} ({who}): nothing was done; "
                       "wait for it to end") from None
        os.ftruncate(fd, 0)
        os.write(fd, json.dumps({"pid": os.getpid(), "what": redact_text(what), "root": str(root),
                                 "since": datetime.now(UTC).isoformat(timespec="seconds")}).encode())
        _HELD[path] = 1
        try:
            yield
        finally:
            del _HELD[path]
    finally:
        os.close(fd)  # (the lock goes with the descriptor)
