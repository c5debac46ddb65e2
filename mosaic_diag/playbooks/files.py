"""The playbook files, without the loader: where the shipped set is, which files a directory holds, and
whether a set of files was validated before (so that a triage need not load and validate the playbooks
before it knows that an event wants a plan).

A set that loaded without a problem is remembered in the on-disk cache (`yamlcache.put_plain`) under a key
of the files' names and bytes, the taxonomy's bytes and the loader's own source files (where, when, how
big): any edit of a playbook, the taxonomy or the validating code makes the key new, and the set is
validated again before anything runs."""

from __future__ import annotations

from pathlib import Path

import mosaic_diag
from mosaic_diag.errors import ConfigError, no_such
from mosaic_diag.platform.digest import key_hash

_FORMAT = "playbooks-valid-1"  # a change makes every key new
_PACKAGE = Path(mosaic_diag.__file__).resolve().parent


def _shipped_dir() -> Path:
    """The shipped playbooks. `playbooks/` at the repository top is the one source: from a source
    checkout (an editable install included) it is read there; a wheel carries a copy as the data
    package `mosaic_diag.shipped_playbooks` (pyproject's package-dir maps it onto `playbooks/`).
    Neither there: a path that does not exist, and triage runs without plans."""
    checkout = _PACKAGE.parent
    if (checkout / "pyproject.toml").is_file() and (checkout / "playbooks").is_dir():
        return checkout / "playbooks"
    from importlib.resources import files  # only an installed package gets here

    return Path(str(files(mosaic_diag) / "shipped_playbooks"))


SHIPPED_DIR = _shipped_dir()


def playbook_files(target: Path) -> list[Path]:
    """The YAML files of a directory (sorted by name) or the file itself; ConfigError when missing."""
    if target.is_dir():
        return sorted(p for p in target.iterdir() if p.suffix in (".yml", ".yaml") and p.is_file())
    if target.is_file():
        return [target]
    raise no_such(target, "playbook file or directory", ConfigError)


def _validating_code() -> list[Path]:
    """The source files whose code decides whether a playbook is valid (the loader and what it uses)."""
    return [*sorted((_PACKAGE / "playbooks").glob("*.py")), _PACKAGE / "classifier" / "taxonomy.py",
            _PACKAGE / "platform" / "yamlpos.py", _PACKAGE / "errors.py"]


def validation_key(target: Path) -> str | None:
    """The key under which `target` (a directory or a file of playbooks, validated against the shipped
    taxonomy) is remembered as valid; None when it cannot be told (a missing file: the loader says why)."""
    from mosaic_diag.classifier.taxonomy import SHIPPED_RULES

    h = key_hash(f"{_FORMAT}\0".encode())
    try:
        for code in _validating_code():
            st = code.stat()
            h.update(f"{code}:{st.st_mtime_ns}:{st.st_size}\0".encode("utf-8", "surrogatepass"))
        for path in (SHIPPED_RULES, *playbook_files(target)):
            data = path.read_bytes()
            h.update(f"{path}\0{len(data)}\0".encode("utf-8", "surrogatepass"))
            h.update(data)
    except (OSError, ConfigError):
        return None
    return h.hexdigest()


def known_valid(key: str) -> bool:
    """Whether the set of playbooks with this `validation_key` loaded without a problem before."""
    from mosaic_diag.platform import yamlcache

    return yamlcache.get_plain(key) is True


def remember_valid(key: str) -> None:
    """Remember that the set of playbooks with this `validation_key` loaded without a problem."""
    from mosaic_diag.platform import yamlcache

    yamlcache.put_plain(key, True)
