"""A small client for the Render API calls a rollback needs (httpx, imported lazily).

- `GET {base}/v1/services/{id}/deploys?limit=N[&cursor=C]` lists deploys newest first, as
  `[{"deploy": {...}, "cursor": "..."}]`; the last item's cursor asks for the next page;
- `GET {base}/v1/services/{id}/deploys/{deployId}` one deploy (`commit.id`, `status`);
- `GET {base}/v1/services/{id}` the service (`autoDeploy`: "yes" or "no");
- `POST {base}/v1/services/{id}/deploys` with `{"commitId": sha, "clearCache": "do_not_clear"}`
  deploys one commit (it does not turn autodeploy off by itself);
- `POST {base}/v1/services/{id}/rollback` with `{"deployId": id}` rolls back to an earlier deploy;
- `PATCH {base}/v1/services/{id}` with `{"autoDeploy": "no"}` stops the next push from undoing it.

Authentication: `Authorization: Bearer $RENDER_API_KEY` (never printed). Base URL: config
`render.api_url` (alias `rollback.render_api_url`; default https://api.render.com); service: env
`RENDER_SERVICE_ID` or config `render.service_id` (alias `rollback.render_service_id`). A connection failure or a 5xx is
"unreachable" (exit 3); a 4xx (bad key, unknown service) is a configuration error (exit 2). A connection that broke
before the answer was read (the server or a proxy on the way closed it, or reset it) is asked again on a new one,
twice at most, for a request that asking twice cannot harm: the reads, and setting autodeploy to a value; never the
POST of a deploy or a rollback (the first may have started one).
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from mosaic_diag.errors import ConfigError, UnreachableError
from mosaic_diag.platform.redact import redact_cut, redact_text

ANSWER_BYTES = 16 << 20  # bytes of one answer read at most
# Seconds before asking again a request whose connection broke before its answer: at once (a new connection is all
# it takes after a closed one), then after a moment (a proxy on the way restarting).
REPEAT_PAUSES = (0.0, 0.5)

DEFAULT_BASE_URL = "https://api.render.com"
# Deploy statuses of a deploy that went live (the one serving, or an earlier one since replaced).
LIVE_STATUSES = ("live", "deactivated")
_DEPLOY_ID = re.compile(r"^[A-Za-z0-9_-]{1,100}$")


def commit_of(deploy: Mapping[str, Any]) -> str | None:
    """The commit a deploy of Render's answer is of (`commit.id`), or None when the answer does not say it as text."""
    commit = deploy.get("commit")
    sha = commit.get("id") if isinstance(commit, dict) else None
    return sha if isinstance(sha, str) else None


def deploy_id_of(deploy: Mapping[str, Any]) -> str | None:
    """A deploy's `id` when it is a Render deploy id (it goes back into a path or a rollback's body), else None."""
    ident = deploy.get("id")
    return ident if isinstance(ident, str) and _DEPLOY_ID.match(ident) else None


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
    """The target from config (`render.*`, or the older `rollback.render_*`) and env, or None and what
    is missing."""
    from mosaic_diag.platform.render_settings import RenderSettings

    settings = RenderSettings.from_config(config, env)
    missing = [name for name, v in (("RENDER_SERVICE_ID", settings.service_id), ("RENDER_API_KEY", settings.api_key))
               if not v]
    if missing or settings.service_id is None or settings.api_key is None:
        return None, missing
    return RenderTarget(settings.api_url, settings.service_id, settings.api_key), []


class OutcomeUnknown(UnreachableError):
    """A request sent whole that got no answer (the connection closed, the read timed out): done or not, not known."""


class RenderApi:
    """The calls, each returning the decoded JSON answer."""

    def __init__(self, target: RenderTarget, *, timeout: float = 15.0,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        self.target = target
        self.timeout = timeout
        self.sleep = sleep

    def _call(self, method: str, url: str, body: Mapping[str, Any] | None,
              params: Mapping[str, Any] | None = None, *, repeatable: bool | None = None) -> Any:
        """The decoded answer of one request. `repeatable` (default: a GET): asked again when its connection broke
        before the answer (REPEAT_PAUSES), as asking twice changes nothing."""
        import httpx

        from mosaic_diag.platform.httpjson import NotJson, loads_strict, read_limited
        from mosaic_diag.platform.render_settings import refuse_redirect

        headers = {"Authorization": f"Bearer {self.target.api_key}", "Accept": "application/json"}
        pauses = list(REPEAT_PAUSES if (method == "GET" if repeatable is None else repeatable) else ())
        while True:
            try:
                with httpx.Client(timeout=self.timeout) as client, client.stream(
                        method, url, json=dict(body) if body is not None else None,
                        params=dict(params) if params else None, headers=headers) as resp:
                    refuse_redirect(resp, f"Render API {method} {url}")
                    raw = read_limited(resp, ANSWER_BYTES)  # an answer is not trusted to end, nor to be shallow
                break
            except (httpx.RemoteProtocolError, httpx.ReadError, httpx.WriteError) as exc:  # the connection broke
                if not pauses:
                    raise self._unreachable(exc, sent=not isinstance(exc, httpx.WriteError)) from exc
                self.sleep(pauses.pop(0))
            except httpx.HTTPError as exc:
                raise self._unreachable(exc, sent=isinstance(exc, httpx.ReadTimeout)) from exc
            except NotJson as exc:
                raise UnreachableError(f"Render API {method} {url} answered past its bound: {exc}") from None
        try:
            data = loads_strict(raw) if raw else {}
        except NotJson:
            data = {"message": redact_cut(raw.decode("utf-8", "replace"), 200)}
        if resp.status_code >= 400:
            msg = redact_text(str(data.get("message") if isinstance(data, dict) else data) or resp.reason_phrase)
            text = f"Render API {method} {url} answered {resp.status_code}: {msg}"
            raise (UnreachableError(text) if resp.status_code >= 500 else ConfigError(text))
        return data

    def _unreachable(self, exc: Exception, *, sent: bool = False) -> UnreachableError:
        """Exit 3 naming the API and httpx's words (redacted); an OutcomeUnknown when the request was sent whole
        and no answer came (the connection closed or the read timed out): Render may have done what it asked."""
        text = f"Render API {self.target.base_url} unreachable: {redact_text(str(exc)) or type(exc).__name__}"
        return OutcomeUnknown(text) if sent else UnreachableError(text)

    def _object(self, method: str, url: str, body: Mapping[str, Any] | None = None, *,
                repeatable: bool | None = None) -> dict[str, Any]:
        data = self._call(method, url, body, repeatable=repeatable)
        return data if isinstance(data, dict) else {"data": data}

    def get_service(self) -> dict[str, Any]:
        return self._object("GET", self.target.url())

    def autodeploy_enabled(self) -> bool:
        """Whether the service redeploys on every push (`autoDeploy` "yes")."""
        return str(self.get_service().get("autoDeploy", "yes")).lower() == "yes"

    def get_deploy(self, deploy_id: str) -> dict[str, Any]:
        if not _DEPLOY_ID.match(deploy_id):
            raise ConfigError(f"not a Render deploy id: {deploy_id!r}")
        return self._object("GET", self.target.url(f"/deploys/{deploy_id}"))

    def iter_deploys(self, *, page_size: int = 20, max_pages: int = 50) -> Iterator[dict[str, Any]]:
        """Every deploy of the service, newest first, page by page (`cursor` paging)."""
        cursor: str | None = None
        for _ in range(max_pages):
            params: dict[str, Any] = {"limit": page_size}
            if cursor:
                params["cursor"] = cursor
            page = self._call("GET", self.target.url("/deploys"), None, params)
            if not isinstance(page, list) or not page:
                return
            for item in page:
                deploy = item.get("deploy") if isinstance(item, dict) else None
                if isinstance(deploy, dict):
                    yield deploy
            last = page[-1].get("cursor") if isinstance(page[-1], dict) else None
            if not last or last == cursor or len(page) < page_size:
                return
            cursor = str(last)

    def find_deploy_of(self, sha: str) -> dict[str, Any] | None:
        """The newest deploy of commit `sha` that went live (`live` or `deactivated`) and has a deploy id to roll
        back to, or None."""
        for deploy in self.iter_deploys():
            if commit_of(deploy) == sha and deploy.get("status") in LIVE_STATUSES and deploy_id_of(deploy):
                return deploy
        return None

    def deploy_commit(self, sha: str) -> dict[str, Any]:
        body = {"commitId": sha, "clearCache": "clear" if self.target.clear_cache else "do_not_clear"}
        return self._object("POST", self.target.url("/deploys"), body)

    def rollback_to_deploy(self, deploy_id: str) -> dict[str, Any]:
        return self._object("POST", self.target.url("/rollback"), {"deployId": deploy_id})

    def set_autodeploy(self, enabled: bool) -> dict[str, Any]:
        # (a value set, not a change: asked twice, it is set once)
        return self._object("PATCH", self.target.url(), {"autoDeploy": "yes" if enabled else "no"}, repeatable=True)
