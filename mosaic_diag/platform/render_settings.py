"""Render settings in one place: `[tool.mosaic-diag.render]` (api_url, service_id, owner_id).

The API key comes only from the environment (`RENDER_API_KEY`) and is never printed. The older
`rollback.render_api_url` / `rollback.render_service_id` keys still work as aliases; using one
adds a deprecation note to `notes`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

DEFAULT_API_URL = "https://api.render.com"
ALIASES = {"api_url": "rollback.render_api_url", "service_id": "rollback.render_service_id"}
ENV = {"service_id": "RENDER_SERVICE_ID", "owner_id": "RENDER_OWNER_ID"}


@dataclass(frozen=True)
class RenderSettings:
    """Where Render's API is, which service and workspace (owner) to read, and the key."""

    api_url: str = DEFAULT_API_URL
    service_id: str | None = None
    owner_id: str | None = None
    api_key: str | None = field(default=None, repr=False)
    notes: tuple[str, ...] = ()

    @classmethod
    def from_config(cls, config: Any, env: Mapping[str, str]) -> RenderSettings:
        """Settings from config (`render.*`, aliases `rollback.render_*`) and env (env wins)."""
        get = config.get if config is not None else (lambda key, default=None: default)
        values: dict[str, str | None] = {}
        notes: list[str] = []
        for key in ("api_url", "service_id", "owner_id"):
            value = env.get(ENV[key]) if key in ENV else None
            if not value:
                value = get(f"render.{key}", None)
            if not value and key in ALIASES:
                value = get(ALIASES[key], None)
                if value:
                    notes.append(f"config key {ALIASES[key]} is deprecated: use render.{key}")
            values[key] = str(value).strip() if value else None
        return cls(api_url=(values["api_url"] or DEFAULT_API_URL).rstrip("/"), service_id=values["service_id"],
                   owner_id=values["owner_id"], api_key=env.get("RENDER_API_KEY") or None, notes=tuple(notes))

    def missing(self, *, need_owner: bool = False) -> list[str]:
        """The names of what a call needs and is not set (env names, as a user sets them)."""
        names = []
        if not self.service_id:
            names.append("RENDER_SERVICE_ID (or render.service_id)")
        if need_owner and not self.owner_id:
            names.append("RENDER_OWNER_ID (or render.owner_id)")
        if not self.api_key:
            names.append("RENDER_API_KEY")
        return names


def render_settings_for(config: Any, env: Mapping[str, str], service: str | None = None) -> RenderSettings:
    """The settings a `--render` command reads with (a `--render-service` wins), or a ConfigError
    naming what is missing."""
    from dataclasses import replace

    from mosaic_diag.errors import ConfigError

    settings = RenderSettings.from_config(config, env)
    if service:
        settings = replace(settings, service_id=service)
    missing = settings.missing()
    if missing:
        raise ConfigError(f"--render needs {', '.join(missing)}")
    return settings
