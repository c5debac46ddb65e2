"""A small client for the Render API calls a rollback needs (httpx, imported lazily).

- `POST {base}/v1/services/{id}/deploys` with `{"commitId": sha, "clearCache": "do_not_clear"}`
  deploys one commit (it does not turn autodeploy off by itself);
- `POST {base}/v1/services/{id}/rollback` with `{"deployId": id}` rolls back to an earlier deploy;
- `PATCH {base}/v1/services/{id}` with `{"autoDeploy": "no"}` stops the next push from undoing it.

Authentication: `Authorization: Bearer $RENDER_API_KEY` (never printed). Base URL: config
`rollback.render_api_url` (default https://api.render.com); service: config
`rollback.render_service_id` or env `RENDER_SERVICE_ID`. A connection failure or a 5xx is
"unreachable" (exit 3); a 4xx (bad key, unknown service) is a configuration error (exit 2).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from mosaic_diag.errors import ConfigError, UnreachableError
from mosaic_diag.platform.redact import redact_text

DEFAULT_BASE_URL = "https://api.render.com"


@dataclass(frozen=True)
class RenderTarget:
    """Where and as whom to call the Render API."""

    base_url: str
    service_id: str
    api_key: str = field(repr=False)
    clear_cache: bool = False

    def url(self, suffix: str = "") -> str:
        return f"{self.base_url.rstrip('/')}/v1/services/{self.service_id}{suffix}"


def render_target_from(config: Any, env: Mapping[str, str]) -> tuple[RenderTarget | None, list[str]]:
    """The target from config and env, or None and what is missing."""
    base = str(config.get("rollback.render_api_url", DEFAULT_BASE_URL) or DEFAULT_BASE_URL)
    service = env.get("RENDER_SERVICE_ID") or config.get("rollback.render_service_id")
    key = env.get("RENDER_API_KEY")
    missing = [name for name, v in (("RENDER_SERVICE_ID", service), ("RENDER_API_KEY", key)) if not v]
    if missing:
        return None, missing
    return RenderTarget(base, str(service), str(key)), []


class RenderApi:
    """The three calls, each returning the decoded JSON answer."""

    def __init__(self, target: RenderTarget, *, timeout: float = 15.0) -> None:
        self.target = target
        self.timeout = timeout

    def _call(self, method: str, url: str, body: Mapping[str, Any]) -> dict[str, Any]:
        import httpx

        headers = {"Authorization": f"Bearer {self.target.api_key}", "Accept": "application/json"}
        try:
            with httpx.Client(timeout=self.timeout) as client:
                resp = client.request(method, url, json=dict(body), headers=headers)
        except httpx.HTTPError as exc:
            raise UnreachableError(f"Render API {self.target.base_url} unreachable: "
                                   f"{redact_text(str(exc)) or type(exc).__name__}") from exc
        try:
            data = resp.json() if resp.content else {}
        except ValueError:
            data = {"message": resp.text[:200]}
        if resp.status_code >= 400:
            msg = redact_text(str(data.get("message") if isinstance(data, dict) else data) or resp.reason_phrase)
            text = f"Render API {method} {url} answered {resp.status_code}: {msg}"
            raise (UnreachableError(text) if resp.status_code >= 500 else ConfigError(text))
        return data if isinstance(data, dict) else {"data": data}

    def deploy_commit(self, sha: str) -> dict[str, Any]:
        body = {"commitId": sha, "clearCache": "clear" if self.target.clear_cache else "do_not_clear"}
        return self._call("POST", self.target.url("/deploys"), body)

    def rollback_to_deploy(self, deploy_id: str) -> dict[str, Any]:
        return self._call("POST", self.target.url("/rollback"), {"deployId": deploy_id})

    def set_autodeploy(self, enabled: bool) -> dict[str, Any]:
        return self._call("PATCH", self.target.url(), {"autoDeploy": "yes" if enabled else "no"})
