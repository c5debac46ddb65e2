"""The whole-run cache of `mosaic-diag lint` and the pre-commit hook: a run whose every input is
unchanged (the linter's own code, the options, the settings, the schema and the content of every
file) replays the output of the last such run without parsing a file or importing the rules.

Stdlib only and small on purpose: it is all a warm run imports besides the config. The inputs are
hashed together (content, not modification times, like ruff); the per-file cache of `engine` takes
over when any file changed.

The cache files live in the repository (`.mosaic-diag/lint-cache`, or wherever `lint.cache_dir` says),
where a repository can commit or plant them: every key (the linter's code, the settings, the contents)
is known to whoever writes the repository, so a key alone would let a crafted file replay any output,
hide findings or declare tables the sources do not. Each cache file therefore carries an HMAC under a
secret of the user's (`platform.signed`, in the user's own cache directory, never in a repository): a file
this user's runs did not write is a miss, whatever it holds. No private place for the secret: no cache.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
from collections.abc import Iterable, Sequence
from pathlib import Path

RUN_CACHE_VERSION = "lint-run-1"
RUN_CACHE_FILE = f"{RUN_CACHE_VERSION}.json"
MAX_RUNS = 8  # the outcomes kept: the CLI's formats, the hook's staged sets, other working directories

SKIP_DIRS = frozenset({".git", ".hg", ".venv", "venv", "env", ".env", "node_modules", "__pycache__", ".tox",
                       ".nox", ".mypy_cache", ".ruff_cache", ".pytest_cache", "build", "dist", "site-packages"})

Output = list[tuple[int, str]]  # (1 stdout | 2 stderr, text), in the order they were written

_PACKAGE = Path(__file__).resolve().parent.parent
_OWN_CODE = ("lint", "commands/lint_run.py", "commands/hook.py", "config.py", "errors.py")
_code_digest: str | None = None


def discover(paths: Sequence[Path]) -> list[Path]:
    """The Python and SQL files under `paths` (files given explicitly are taken whatever their name): regular
    files only, a symlink's target included (a link to /dev/zero or a FIFO named `x.py` would be read without
    end)."""
    from mosaic_diag.errors import UsageError, no_such

    found: list[Path] = []
    for path in paths:
        if path.is_file():
            found.append(path)
            continue
        if not path.exists():
            raise no_such(path, "file or directory")
        if not path.is_dir():
            raise UsageError("not a regular file nor a directory (a device, a FIFO, a socket): not read",
                             path=str(path))
        for dirpath, dirnames, filenames in os.walk(path):
            dirnames[:] = sorted(d for d in dirnames if d not in SKIP_DIRS and not d.endswith(".egg-info"))
            found.extend(Path(dirpath) / f for f in sorted(filenames)
                         if f.endswith((".py", ".sql")) and os.path.isfile(os.path.join(dirpath, f)))
    return list(dict.fromkeys(found))  # a file named twice (`lint . app.py`) is one file


def code_digest() -> str:
    """A hash of the linter itself: the content of its modules (the rules included), the Python
    version and where pglast (PostgreSQL's parser) is installed, with its modification time. A
    changed rule file invalidates every cached result."""
    global _code_digest
    if _code_digest is None:
        from mosaic_diag import __version__

        h = hashlib.sha1(usedforsecurity=False)
        h.update(f"{__version__}|{sys.version}|{_pglast_stamp()}".encode())
        for part in _OWN_CODE:
            base = _PACKAGE / part
            files = sorted(base.rglob("*.py")) if base.is_dir() else [base]
            for path in files:
                try:
                    data = path.read_bytes()
                except OSError:  # mosaic-diag: ignore[MD006]
                    continue
                h.update(f"\0{path.relative_to(_PACKAGE)}\0{len(data)}\0".encode())
                h.update(data)
        _code_digest = h.hexdigest()
    return _code_digest


def _pglast_stamp() -> str:
    from importlib.util import find_spec

    try:
        spec = find_spec("pglast")
    except (ImportError, ValueError):
        return "none"
    origin = spec.origin if spec is not None else None
    if not origin:
        return "none"
    try:
        return f"{origin}:{os.stat(origin).st_mtime_ns}"
    except OSError:
        return origin


class RunKey:
    """The inputs of one run, hashed as they are given."""

    def __init__(self, *parts: object) -> None:
        self._h = hashlib.sha1(usedforsecurity=False)
        self.add(RUN_CACHE_VERSION, code_digest(), *parts)

    def add(self, *parts: object) -> None:
        for part in parts:
            data = part if isinstance(part, bytes) else repr(part).encode("utf-8", "surrogatepass")
            self._h.update(b"%d\0" % len(data))
            self._h.update(data)

    def add_files(self, paths: Iterable[Path]) -> None:
        """Each file's path and content; a file that cannot be read gives its error (the run raises)."""
        for path in paths:
            try:
                self.add(str(path), path.read_bytes())
            except OSError as exc:
                self.add(str(path), f"unreadable: {exc}")

    def hexdigest(self) -> str:
        return self._h.hexdigest()


class RunCache:
    """The outcomes of the last runs (exit code and output), by run key, in one signed JSON file."""

    def __init__(self, directory: Path) -> None:
        self.path = directory / RUN_CACHE_FILE
        self.runs: dict[str, dict[str, object]] = {}
        try:
            data = json.loads(read_signed(self.path))
        except (OSError, ValueError):
            return
        if isinstance(data, dict) and data.get("version") == RUN_CACHE_VERSION and isinstance(data.get("runs"),
                                                                                               dict):
            self.runs = data["runs"]

    def get(self, key: str) -> tuple[int, Output] | None:
        entry = self.runs.get(key)
        if not isinstance(entry, dict):
            return None
        try:
            code, output = entry["code"], [(int(s), str(t)) for s, t in entry["output"]]  # type: ignore[attr-defined]
        except (KeyError, TypeError, ValueError):
            return None
        return (code, output) if isinstance(code, int) else None

    def put(self, key: str, code: int, output: Output) -> None:
        """Keep this outcome (the newest MAX_RUNS are kept); a cache that cannot be written is no error."""
        self.runs.pop(key, None)
        self.runs[key] = {"code": code, "output": output}
        while len(self.runs) > MAX_RUNS:
            self.runs.pop(next(iter(self.runs)))
        try:
            write_signed(self.path, json.dumps({"version": RUN_CACHE_VERSION, "runs": self.runs}))
        except OSError as exc:
            import logging

            logging.getLogger(__name__).debug("lint run cache not written: %s", exc)


def read_signed(path: Path) -> str:
    """A lint cache file's text, if this user's runs wrote it (`platform.signed.read_signed`). Raises OSError
    (a miss) or ValueError (not signed by this user)."""
    from mosaic_diag.platform.signed import read_signed as read

    return read(path)


def write_signed(path: Path, text: str) -> None:
    """Write a lint cache file signed for this user, the cache directory prepared. Raises OSError."""
    from mosaic_diag.platform.signed import write_signed as write

    prepare_cache_dir(path.parent)
    write(path, text)


def prepare_cache_dir(directory: Path) -> None:
    """Make the cache directory, with a `.gitignore` of `*` when it has none (a symlink in its place, even
    one that names nothing yet, is never written through). Raises OSError."""
    from mosaic_diag.platform.atomic import write_atomic

    directory.mkdir(parents=True, exist_ok=True)
    ignore = directory / ".gitignore"
    if not os.path.lexists(ignore):
        write_atomic(ignore, "# written by mosaic-diag lint\n*\n")


def replay(output: Output) -> None:
    """Write a recorded output to stdout / stderr, in its order."""
    for stream, text in output:
        (sys.stdout if stream == 1 else sys.stderr).write(text)
