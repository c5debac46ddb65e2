"""The audit log: one JSON object a line for every action that changed something."""

from __future__ import annotations

import getpass
import json
import os
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from mosaic_diag.platform.redact import redact_text

DEFAULT_AUDIT_LOG = Path(".mosaic-diag/audit.log")


def _who() -> str:
    try:
        return getpass.getuser()
    except (OSError, KeyError):  # no passwd entry in a container
        return str(os.getuid())


def append_audit(
    path: Path,
    record: Mapping[str, Any],
    *,
    clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    who: str | None = None,
) -> dict[str, Any]:
    """Append `record` with `when` and `who` to the audit log at `path`; return what was written.

    The line is written with a single `write` on a file opened for appending, so concurrent
    writers never interleave partial lines; secrets in string values are redacted. After a line a crash
    cut off (no newline at the end) the record starts a line of its own: the torn text stays, unglued.
    A new log is readable by its owner only (0600), as the state files are: it names who did what and when.
    A log that is a symlink or no regular file is an OSError: nothing is appended.
    """
    entry: dict[str, Any] = {"when": clock().isoformat(), "who": who or _who()}
    entry.update(record)
    line = json.dumps(entry, default=str, sort_keys=False)
    line = redact_text(line)
    path.parent.mkdir(parents=True, exist_ok=True)
    from mosaic_diag.platform.atomic import open_regular, synced

    # never through a symlink (a committed `.mosaic-diag/audit.log -> ~/.bashrc` gets lines appended)
    fd = open_regular(path, os.O_RDWR | os.O_APPEND | os.O_CREAT, what="the audit log")
    with open(fd, "a+b") as fh:
        size = fh.seek(0, os.SEEK_END)
        torn = False
        if size:
            fh.seek(size - 1)
            torn = fh.read(1) != b"\n"
        fh.write((("\n" if torn else "") + line + "\n").encode("utf-8"))
        synced(fh)  # the record is on the disk before the action it announces runs
    return entry
