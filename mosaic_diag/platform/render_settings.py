"""Render settings in one place: `[tool.mosaic-diag.render]` (api_url, service_id, owner_id).

The API key comes only from the environment (`RENDER_API_KEY`) and is never printed. It is sent only to Render's
API (`https://api.render.com`), to a loopback address (a local stand-in), or to a URL the environment names
(`MOSAIC_DIAG_RENDER_API_URL`): a committed config cannot point it at another host. The service and owner ids
are Render ids (letters, digits, `-`, `_`), since they become parts of the API's paths. The older
`rollback.render_api_url` / `rollback.render_service_id` keys still work as aliases; using one
adds a deprecation note to `notes`.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

DEFAULT_API_URL = "https://api.render.com"
ALIASES = {"api_url": "rollback.render_api_url", "service_id": "rollback.render_service_id"}
ENV = {"service_id": "RENDER_SERVICE_ID", "owner_id": "RENDER_OWNER_ID"}
# the variables through which the environment (not a committed file) names the API's URL
API_URL_ENV = ("MOSAIC_DIAG_RENDER_API_URL", "MOSAIC_DIAG_ROLLBACK_RENDER_API_URL")
_RENDER_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,127}")


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
        api_url = (values["api_url"] or DEFAULT_API_URL).rstrip("/")
        named_by_env = any(name in env or name in getattr(config, "env", {}) for name in API_URL_ENV)
        _check(api_url, values["service_id"], values["owner_id"], named_by_env)
        return cls(api_url=api_url, service_id=values["service_id"],
                   owner_id=values["owner_id"], api_key=env.get("RENDER_API_KEY") or None, notes=tuple(notes))

    def missing(self, *, need_owner: bool = False, service_flag: str | None = None) -> list[str]:
        """The names of what a call needs and is not set (env names, as a user sets them; the command's
        flag for the service first when it has one)."""
        names = []
        if not self.service_id:
            names.append(f"{service_flag}, RENDER_SERVICE_ID or render.service_id" if service_flag
                         else "RENDER_SERVICE_ID (or render.service_id)")
        if need_owner and not self.owner_id:
            names.append("RENDER_OWNER_ID (or render.owner_id)")
        if not self.api_key:
            names.append("RENDER_API_KEY")
        return names


def _check(api_url: str, service_id: str | None, owner_id: str | None, named_by_env: bool) -> None:
    """A ConfigError for an API URL the key must not go to, or an id that is no Render id."""
    from mosaic_diag.errors import ConfigError
    from mosaic_diag.platform.httpjson import check_url

    check_url(api_url, "the Render API URL (render.api_url / MOSAIC_DIAG_RENDER_API_URL)")
    if not named_by_env and not trusted_api_url(api_url):
        raise ConfigError(f"render.api_url {_redacted(api_url)} is not Render's API (https://api.render.com) nor a "
                          "loopback address: RENDER_API_KEY is not sent there; to use another host, name it in "
                          "MOSAIC_DIAG_RENDER_API_URL")
    for name, value in (("render.service_id / RENDER_SERVICE_ID", service_id), ("render.owner_id / RENDER_OWNER_ID",
                                                                                 owner_id)):
        if value is not None and not _RENDER_ID.fullmatch(value):
            raise ConfigError(f"{name} {value[:80]!r} is not a Render id (letters, digits, '-', '_')")


def trusted_api_url(url: str) -> bool:
    """Render's own API over https, or any http(s) URL on a loopback address (a local stand-in)."""
    try:
        parts = urlsplit(url)
        host = (parts.hostname or "").lower()
    except ValueError:
        return False
    if parts.scheme == "https" and host == "api.render.com" and parts.username is None:
        return True
    if parts.scheme not in ("http", "https"):
        return False
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _redacted(url: str) -> str:
    from mosaic_diag.platform.redact import redact_text

    return redact_text(url)[:200]


def render_settings_for(config: Any, env: Mapping[str, str], service: str | None = None) -> RenderSettings:
    """The settings a `--render` command reads with (a `--render-service` wins), or a ConfigError
    naming what is missing."""
    from dataclasses import replace

    from mosaic_diag.errors import ConfigError

    settings = RenderSettings.from_config(config, env)
    if service:
        settings = replace(settings, service_id=service)
        _check(settings.api_url, service, None, named_by_env=True)  # (the URL was checked with the config)
    missing = settings.missing(service_flag="--render-service")
    if missing:
        raise ConfigError(f"--render needs {'; '.join(missing)}")
    return settings


def refuse_redirect(resp: Any, what: str) -> None:
    """A ConfigError for a 3xx answer of Render's API: a redirect is never followed (the key goes to `render.api_url`
    only, never to where an answer points), and its empty body is no answer (a rollback's POST was taken as done,
    a page of logs as empty)."""
    if not 300 <= resp.status_code < 400:
        return
    import httpx

    from mosaic_diag.errors import ConfigError

    try:
        target = httpx.URL(resp.headers.get("location", "")).host or "the same host"
    except (httpx.InvalidURL, TypeError, ValueError):
        target = "an invalid URL"
    raise ConfigError(f"{what} answered {resp.status_code}, a redirect to {_redacted(target)}: not followed (the API "
                      "key is sent to render.api_url only); set render.api_url to where the API answers")
