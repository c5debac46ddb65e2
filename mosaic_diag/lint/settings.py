"""The lint configuration of a repository (`[tool.mosaic-diag]` keys `lint.*`), resolved once."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from mosaic_diag.config import Config

DEFAULT_SCHEMA = "schema.sql"


@dataclass(frozen=True)
class LintSettings:
    """What the linter reads from the config: rule choice, connection factories, schema files."""

    select: tuple[str, ...]
    ignore: tuple[str, ...]
    conn_factories: tuple[str, ...]
    schema_files: tuple[Path, ...]
    paths: tuple[str, ...]


def _strings(value: object, key: str) -> tuple[str, ...]:
    from mosaic_diag.errors import ConfigError

    if value is None:
        return ()
    if isinstance(value, str):
        return tuple(p.strip() for p in value.split(",") if p.strip())
    if isinstance(value, Iterable) and all(isinstance(v, str) for v in value):
        return tuple(value)
    raise ConfigError(f"{key} must be a list of strings, got {value!r}")


def lint_settings(config: Config, *, select: Iterable[str] = (), ignore: Iterable[str] = ()) -> LintSettings:
    """Config keys `lint.select`, `lint.ignore`, `lint.conn_factories`, `lint.schema`
    (default: `predeploy.schema`, default `schema.sql`), `lint.paths`; flags add to them."""
    schema = config.get("lint.schema", None) or config.get("predeploy.schema", DEFAULT_SCHEMA)
    schema_files = tuple(config.root / s for s in _strings(schema, "lint.schema"))
    flag_select = tuple(select)
    return LintSettings(
        select=flag_select or _strings(config.get("lint.select", []), "lint.select"),
        ignore=_strings(config.get("lint.ignore", []), "lint.ignore") + tuple(ignore),
        conn_factories=_strings(config.get("lint.conn_factories", ["get_conn"]), "lint.conn_factories"),
        schema_files=schema_files,
        paths=_strings(config.get("lint.paths", ["."]), "lint.paths"),
    )
