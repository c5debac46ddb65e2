"""The lint configuration of a repository (`[tool.mosaic-diag]` keys `lint.*`), resolved once."""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
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


_GIT_ENV = ("GIT_DIR", "GIT_WORK_TREE", "GIT_COMMON_DIR", "GIT_CEILING_DIRECTORIES", "GIT_DISCOVERY_ACROSS_FILESYSTEM")


def config_root(env: Mapping[str, str]) -> Path:
    """The repository's top level for the current directory, where the config is read: what
    `config.find_root()` (`git rev-parse --show-toplevel`) gives, found as git finds it without
    starting git in the ordinary case (the nearest directory up with a valid `.git` directory or
    `gitdir:` file; the current directory outside a repository). Git itself is asked when its
    environment variables could move the answer, inside a `.git` or bare repository, or when the
    directory belongs to another user (git's `safe.directory`)."""
    here = Path.cwd().resolve()
    if ".git" in here.parts or any(name in env for name in _GIT_ENV) or not hasattr(os, "geteuid"):
        return _git_root(here)
    for path in (here, *here.parents):
        dot = path / ".git"
        if dot.is_dir():
            if not _is_git_dir(dot):
                continue  # git looks further up past a `.git` that is not a repository
        elif dot.is_file():
            if not _is_git_file(dot):
                return here  # git stops there: "not a git repository"
        elif _is_git_dir(path):
            return _git_root(here)  # a bare repository
        else:
            continue
        return path if path.stat().st_uid == os.geteuid() else _git_root(here)
    return here


def _git_root(here: Path) -> Path:
    from mosaic_diag.config import find_root

    return find_root(here)


def _is_git_dir(path: Path) -> bool:
    return (path / "HEAD").is_file() and (path / "refs").is_dir() and (
        (path / "objects").is_dir() or (path / "commondir").is_file())


def _is_git_file(path: Path) -> bool:
    """A `.git` file (worktree, submodule) naming a git directory that exists."""
    try:
        text = path.read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError):
        return False
    if not text.startswith("gitdir:"):
        return False
    target = Path(text.removeprefix("gitdir:").strip())
    target = target if target.is_absolute() else path.parent / target
    return (target / "HEAD").is_file() and ((target / "commondir").is_file() or (target / "objects").is_dir())


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
        found.extend(here / f for f in sorted(filenames)
                     if f == DEFAULT_SCHEMA or (in_migrations and f.endswith(".sql")))
    return tuple(found)


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
        cache_dir=cache_dir or root / ".mosaic-diag" / "lint-cache",
    )
