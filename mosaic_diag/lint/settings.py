"""The lint configuration of a repository (`[tool.mosaic-diag]` keys `lint.*`), resolved once."""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from mosaic_diag.config import Config

DEFAULT_SCHEMA = "schema.sql"
_SEARCH_SKIP = frozenset({".git", ".venv", "venv", "node_modules", "__pycache__", "build", "dist", ".tox",
                          "site-packages", "tests", "test"})


@dataclass(frozen=True)
class LintSettings:
    """What the linter reads from the config: rule choice, connection factories, schema files."""

    select: tuple[str, ...]
    ignore: tuple[str, ...]
    conn_factories: tuple[str, ...]
    schema_files: tuple[Path, ...]
    paths: tuple[str, ...]
    schema_note: str = ""  # why MD007 has no schema, when it has none (said once, never silently)
    cache_dir: Path | None = None  # `lint.cache_dir`, default .mosaic-diag/lint-cache at the repository root
    root: Path | None = None  # the repository (else the config's directory): what `--fix` may write


def _strings(value: object, key: str) -> tuple[str, ...]:
    from mosaic_diag.errors import ConfigError

    if value is None:
        return ()
    if isinstance(value, str):
        return tuple(p.strip() for p in value.split(",") if p.strip())
    if isinstance(value, Iterable) and all(isinstance(v, str) for v in value):
        return tuple(value)
    raise ConfigError(f"{key} must be a list of strings, got {value!r}")


def repo_root(start: Path) -> Path:
    """The repository holding `start` (the nearest directory up with `.git`), else `start`."""
    start = start.resolve()
    for path in (start, *start.parents):
        if (path / ".git").exists():
            return path
    return start


def find_schema(root: Path) -> tuple[Path, ...]:
    """The default schema from the repository root: `schema.sql` there, else the `schema.sql`
    files and the `.sql` files of `migrations/` directories found below it (tests excluded)."""
    if (root / DEFAULT_SCHEMA).is_file():
        return (root / DEFAULT_SCHEMA,)
    found: list[Path] = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if d not in _SEARCH_SKIP and not d.startswith("."))
        here = Path(dirpath)
        in_migrations = "migrations" in here.relative_to(root).parts
        found.extend(here / f for f in sorted(filenames)  # regular files (a link to /dev/zero: read without end)
                     if (f == DEFAULT_SCHEMA or (in_migrations and f.endswith(".sql"))) and (here / f).is_file())
    return tuple(found)


def _not_through_a_link(root: Path, directory: Path) -> Path | None:
    """The cache directory, or None (no cache) when a directory of its path inside the repository is a
    symlink: a repository can commit `.mosaic-diag/lint-cache -> ~/somewhere`, and the cache files would be
    written there (and read back from what the link's author put there)."""
    try:
        inside = Path(os.path.abspath(directory)).relative_to(root)
    except ValueError:  # configured outside the repository: the user's own place
        return directory
    here = root
    for part in inside.parts:
        here = here / part
        if here.is_symlink():
            return None
    return directory


def lint_settings(config: Config, *, select: Iterable[str] = (), ignore: Iterable[str] = ()) -> LintSettings:
    """Config keys `lint.select`, `lint.ignore`, `lint.conn_factories`, `lint.schema` (default:
    `predeploy.schema`, else `schema.sql` or migrations found from the repository root), `lint.paths`;
    flags add to them. A configured schema file that does not exist is a configuration error."""
    from mosaic_diag.errors import ConfigError

    configured = config.get("lint.schema", None) or config.get("predeploy.schema", None)
    note = ""
    root = repo_root(config.root)
    cache_dir = config.path("lint.cache_dir")
    if configured:
        schema_files = tuple(config.root / s for s in _strings(configured, "lint.schema"))
        for path in schema_files:
            if not path.is_file():
                raise ConfigError(f"lint.schema: {path}: no such file (MD007 needs the schema's unique keys)")
    else:
        schema_files = find_schema(root)
        if not schema_files:
            note = (f"MD007: no schema found from {root} (no schema.sql, no migrations/*.sql): set lint.schema; "
                    "INSERTs are judged only against the CREATE TABLE of the linted files")
    flag_select = tuple(select)
    return LintSettings(
        select=flag_select or _strings(config.get("lint.select", []), "lint.select"),
        ignore=_strings(config.get("lint.ignore", []), "lint.ignore") + tuple(ignore),
        conn_factories=_strings(config.get("lint.conn_factories", ["get_conn"]), "lint.conn_factories"),
        schema_files=schema_files,
        paths=_strings(config.get("lint.paths", ["."]), "lint.paths"),
        schema_note=note,
        cache_dir=_not_through_a_link(root, cache_dir or root / ".mosaic-diag" / "lint-cache"),
        root=root,
    )
