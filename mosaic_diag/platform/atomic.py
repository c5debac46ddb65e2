"""Write a file whole or not at all: a temporary file in the same directory, then a rename."""

from __future__ import annotations

import errno
import os
import stat
import tempfile
from pathlib import Path
from typing import BinaryIO


class ChangedMeanwhile(Exception):
    """`write_atomic(..., unchanged=...)`: the file no longer held those bytes; it was left as it is."""


def write_atomic(path: Path, text: str | bytes, *, mode: int | None = None, unchanged: bytes | None = None,
                 to_device: bool = False, owner: tuple[int, int] | None = None) -> None:
    """Replace `path` with `text` atomically (readers see the old or the new file, never half); a str
    is written as UTF-8 (a lone surrogate, which UTF-8 cannot hold, as its `\\udXXXX` escape), bytes as they are.
    With `unchanged`, only if `path` still holds those bytes once the new content is ready (checked just
    before the rename): else ChangedMeanwhile, and the file is left as someone else left it. With `owner` (uid, gid:
    the file replaced is someone else's, or of another group) the new file gets that owner and group, or is not
    written (an OSError): `sudo mosaic-diag lint --fix` made a user's sources root's, which the user could no longer
    save, and a shared repository's file would lose its group.

    An OSError names `path` itself (not the temporary file or a parent), so one line says what failed. With
    `to_device` (an output the user named: `--out /dev/stdout`, `-o /dev/null`), a `path` that is or leads to a
    device or a FIFO is written to as it is: replacing it would put a regular file in its place (as root,
    /dev/null itself). Without it (the toolkit's own state, caches, notes) a symlink is replaced, never followed:
    a committed `.mosaic-diag/x.json -> /dev/sda` must not have JSON written into a disk.
    """
    import stat

    st_mode = stat.S_IFREG
    if to_device:
        try:
            st_mode = os.stat(path).st_mode
        except OSError:  # none yet, or a broken link: written atomically
            st_mode = stat.S_IFREG
    special = not stat.S_ISREG(st_mode) and not stat.S_ISDIR(st_mode)
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
            synced(fh)  # on the disk before the rename: after a power loss the old file or the new, never empty
            made = os.fstat(fh.fileno())
        if owner is not None and owner != (made.st_uid, made.st_gid):
            try:
                os.chown(tmp, *owner)  # (before the chmod: a chown may clear the set-id bits)
            except OSError as exc:
                raise OSError(exc.errno, f"cannot give the new file the owner and group of the old one (uid "
                                         f"{owner[0]}, gid {owner[1]}: {exc.strerror or exc})") from exc
        if mode is not None:
            os.chmod(tmp, mode)
        if unchanged is not None and _content(path) != unchanged:
            raise ChangedMeanwhile(str(path))
        os.replace(tmp, path)
        _sync_dir(path.parent)  # the rename itself
    except OSError as exc:
        Path(tmp).unlink(missing_ok=True)
        raise OSError(exc.errno, f"cannot write ({exc.strerror or exc})", str(path)) from exc
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def synced(fh: BinaryIO) -> None:
    """Flush `fh` and have the kernel put its data on the disk (fsync): what was written survives a power loss
    (a file system that cannot fsync is left at the flush)."""
    fh.flush()
    try:
        os.fsync(fh.fileno())
    except OSError as exc:
        if exc.errno not in (errno.EINVAL, errno.ENOTSUP):  # a file system without fsync; an I/O error is one
            raise


def _sync_dir(directory: Path) -> None:
    """fsync a directory (a rename in it made durable); a file system that cannot is left as it is."""
    try:
        fd = os.open(directory, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError as exc:
        if exc.errno not in (errno.EINVAL, errno.ENOTSUP, errno.EBADF):  # a file system that cannot sync a directory
            raise
    finally:
        os.close(fd)


def _content(path: Path) -> bytes | None:
    try:
        return path.read_bytes()
    except OSError:
        return None


def open_regular(path: Path, flags: int, *, what: str, mode: int = 0o600) -> int:
    """`os.open(path, flags)` of a regular file only, never through a symlink: a committed
    `.mosaic-diag/deploys.jsonl -> ~/.bashrc` would have the toolkit append to (or, dangling, create) the link's
    target, and a FIFO would hang the write. A new file gets `mode`. An OSError names `path` and says which
    `what` (e.g. 'the audit log') is refused."""
    try:
        fd = os.open(path, flags | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0), mode)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise OSError(exc.errno, f"is a symlink: {what} is written where it is named, never through a link",
                          str(path)) from exc
        raise
    if not stat.S_ISREG(os.fstat(fd).st_mode):  # a FIFO, a device
        os.close(fd)
        raise OSError(errno.EINVAL, f"not a regular file ({what})", str(path))
    if hasattr(os, "set_blocking"):
        os.set_blocking(fd, True)
    return fd


STATE_BYTES = 64 * 2**20  # the toolkit's own state files (watch and action state, deploy history) are read to here


def read_state(path: Path, *, limit: int = STATE_BYTES) -> bytes:
    """The bytes of one of the toolkit's own files (its state, kept under `.mosaic-diag/` in the repository) or of
    a file the repository commits for it (a golden case's JSON schema): a regular file of at most `limit` bytes (a
    link to one is followed). A device or a FIFO is refused, not read: a
    committed `.mosaic-diag/watch-state.json -> /dev/zero` was read without end (all memory, until the kernel
    killed the process) and a FIFO waited for a writer for ever. OSError naming `path` (FileNotFoundError when
    there is none), its `strerror` saying what is wrong with it."""
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))  # (a FIFO opened blocking waits for a writer)
    with os.fdopen(fd, "rb") as fh:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise OSError(errno.EINVAL, "not a regular file (a device, a FIFO, a socket): not read", str(path))
        data = fh.read(limit + 1)  # (it may grow while it is read)
    if len(data) > limit:
        raise OSError(errno.EFBIG, f"larger than {limit:,} bytes: not read", str(path))
    return data
