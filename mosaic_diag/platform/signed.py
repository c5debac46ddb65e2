"""Cache files signed for the user who wrote them.

A cache kept in a repository (the lint caches, `golden --cache`) can be committed or planted there, and
every key it is looked up by (code, settings, contents, requests) is known to whoever writes the repository:
a crafted file could replay any output. Each such file therefore starts with an HMAC of the rest under a
secret of the user's (`KEY_FILE` in the user's own cache directory, `platform.userdir`, never in a
repository); a file this user's runs did not write is not read. No private place for the secret: no cache.
Stdlib only: the lint's warm run imports it.
"""

from __future__ import annotations

import hmac
import os
import stat
from pathlib import Path

KEY_FILE = "cache-key"  # in the user's cache directory: 32 random bytes, the user's alone
_KEY_SIZE = 32
_user_keys: dict[str, bytes | None] = {}  # the user's cache directory -> its key, read once per process


def user_key(path: Path | None = None) -> bytes | None:
    """This user's signing secret: `KEY_FILE` in the user's cache directory (made on first use, mode 0600),
    or None when there is no such place that is the user's alone (then no signed cache is read or written),
    or when that directory is inside the work tree of `path`, the file it would sign (`MOSAIC_DIAG_CACHE_DIR`
    pointing into the repository: a key kept beside the caches is committed with them, and anyone who reads the
    repository could sign a planted one; none is made there). Read once per process and cache directory (a
    process that changes `MOSAIC_DIAG_CACHE_DIR` or `HOME` gets the key of the directory it names now)."""
    from mosaic_diag.platform.userdir import cache_dir

    where = cache_dir()
    if where is None or (path is not None and _inside_work_tree_of(path, where)):
        return None
    name = str(where)
    if name not in _user_keys:
        _user_keys[name] = _read_or_make_key(where)
    return _user_keys[name]


# (a signed file's directory, the cache directory) -> whether the latter is inside the former's work tree
_trees: dict[tuple[str, str], bool] = {}


def _inside_work_tree_of(path: Path, where: Path) -> bool:
    """Whether the user's cache directory `where` is inside the work tree (the nearest directory holding `.git`)
    that holds `path`."""
    folder = os.path.realpath(os.path.dirname(os.path.abspath(path)))
    known = (folder, str(where))
    if known not in _trees:
        key_dir = os.path.realpath(where)
        tree = folder
        while not os.path.lexists(os.path.join(tree, ".git")):
            parent = os.path.dirname(tree)
            if parent == tree:
                tree = ""
                break
            tree = parent
        _trees[known] = bool(tree) and os.path.commonpath((key_dir, tree)) == tree
    return _trees[known]


def _read_or_make_key(where: Path) -> bytes | None:
    from contextlib import suppress

    from mosaic_diag.platform.userdir import is_private

    path = where / KEY_FILE
    try:
        if not os.path.lexists(path):
            where.mkdir(mode=0o700, parents=True, exist_ok=True)
            if not is_private(where):
                return None
            tmp = where / f".{KEY_FILE}.{os.getpid()}.tmp"
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0), 0o600)
            try:
                with os.fdopen(fd, "wb") as fh:
                    fh.write(os.urandom(_KEY_SIZE))
                # never replaces a key another process made meanwhile (that one is read below)
                with suppress(FileExistsError):  # mosaic-diag: ignore[MD006]
                    os.link(tmp, path)
            finally:
                tmp.unlink(missing_ok=True)
        if not is_private(where):
            return None
        fd = os.open(path, _READ_FLAGS)
        with os.fdopen(fd, "rb") as fh:
            st = os.fstat(fd)
            if not stat.S_ISREG(st.st_mode) or st.st_uid != os.getuid() or st.st_mode & 0o077:
                return None
            key = fh.read(_KEY_SIZE + 1)
    except OSError:
        return None
    return key if len(key) == _KEY_SIZE else None


def _mac(key: bytes, path: Path, body: bytes) -> str:
    return hmac.digest(key, path.name.encode() + b"\0" + body, "sha256").hex()


# a symlink is not followed (a committed `cache.json -> /dev/zero` would be read without end), a FIFO not waited on
# (opened for reading it waits for a writer): what is opened is then read only when it is a regular file
_READ_FLAGS = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0)


def read_regular(path: Path) -> str:
    """A file's text: a regular file, not reached through a symlink nor a FIFO waited on (`_READ_FLAGS`). Raises
    OSError or ValueError (not UTF-8)."""
    fd = os.open(path, _READ_FLAGS)
    with os.fdopen(fd, "rb") as fh:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise OSError(f"{path}: not a regular file")
        return fh.read().decode("utf-8")


def read_signed(path: Path) -> str:
    """The text of a file this user's runs wrote (`write_signed`): its first line is the HMAC of the rest
    under `user_key`. Raises OSError (no key, no file: a miss) or ValueError (not signed by this user:
    planted, copied from elsewhere, damaged)."""
    key = user_key(path)
    if key is None:
        raise OSError("no private key for signed caches")
    data = read_regular(path)
    mac, newline, body = data.partition("\n")
    if not newline or not hmac.compare_digest(mac.encode("ascii", "replace"), _mac(key, path, body.encode()).encode()):
        raise ValueError(f"{path}: not written by this user's runs")
    return body


def write_signed(path: Path, text: str) -> None:
    """Write `text` to `path` (atomically) after its HMAC line (`read_signed`). Raises OSError (no key:
    nothing is written)."""
    from mosaic_diag.platform.atomic import write_atomic

    key = user_key(path)
    if key is None:
        raise OSError("no private key for signed caches")
    write_atomic(path, _mac(key, path, text.encode()) + "\n" + text)
