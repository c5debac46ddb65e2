"""LLM providers: each key works (a models list) and each pinned model exists (a model retrieve);
`OPENAI_BASE_URL` / `ANTHROPIC_BASE_URL` are honoured. The calls go out through plain httpx first;
only when one does not answer 200 is the provider's SDK imported and the calls repeated through the
real client, whose exception the shared classifier labels (OPENAI_INVALID_KEY, ...)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from mosaic_diag.checks.advice import env_facts
from mosaic_diag.checks.model import Check, CheckContext, CheckId, Message, Skip
from mosaic_diag.platform.redact import redact_cut

ANTHROPIC_VERSION = "2023-06-01"  # the API version header the anthropic client sends
KEY_NAMES = ("OPENAI_API_KEY", "ANTHROPIC_API_KEY", "CLAUDE_API_KEY")  # failover needs the other provider's key
OPENAI_IDS = (
    CheckId("MD-LLM001", "error", "The OpenAI API does not accept the key (or cannot be reached)",
            "check OPENAI_API_KEY (and OPENAI_BASE_URL) in the service's environment"),
    CheckId("MD-LLM002", "error", "A pinned OpenAI model is not available to this key",
            "fix the model name (predeploy.openai_models / OPENAI_MODEL) or the project's model access"),
)
ANTHROPIC_IDS = (
    CheckId("MD-LLM003", "error", "The Anthropic API does not accept the key (or cannot be reached)",
            "check ANTHROPIC_API_KEY / CLAUDE_API_KEY (and ANTHROPIC_BASE_URL)"),
    CheckId("MD-LLM004", "error", "A pinned Anthropic model is not available to this key",
            "fix the model name (predeploy.anthropic_models / ANTHROPIC_MODEL)"),
)


def _models(ctx: CheckContext, key: str, env_names: tuple[str, ...]) -> list[str]:
    value = ctx.config.get(key, None)
    if value is None:
        return [ctx.env[n] for n in env_names if ctx.env.get(n, "").strip()]
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ctx.config.error(key, f"must be a list of model names, got {value!r}")
    return value


def _model_vars(ctx: CheckContext, env_names: tuple[str, ...]) -> dict[str, str]:
    """Which env var pins which model (the playbooks' `env.<NAME>.value`; model names are not secrets)."""
    return {ctx.env[n].strip(): n for n in reversed(env_names) if ctx.env.get(n, "").strip()}


def _first_line(exc: BaseException) -> str:
    return redact_cut((str(exc).strip().splitlines() or [type(exc).__name__])[0], 300)


def _probe(key_id: str, model_id: str, provider: str, list_models: Callable[[], Any],
           retrieve: Callable[[str], Any], models: list[str], error_types: tuple[type[BaseException], ...],
           facts: dict[str, Any], model_vars: dict[str, str]) -> Iterator[Message]:
    """Key first (a models list), then each pinned model; `model_vars`: model -> the env var naming it."""
    try:
        list_models()
    except error_types as exc:
        yield Message(key_id, f"{provider} models list failed: {type(exc).__name__}: {_first_line(exc)}", exc=exc,
                      facts=facts)
        return
    for model in models:
        try:
            retrieve(model)
        except error_types as exc:
            named = {f"env.{model_vars[model]}.value": model} if model in model_vars else {}
            yield Message(model_id, f"{provider} model {model!r}: {type(exc).__name__}: {_first_line(exc)}",
                          exc=exc, facts={**facts, **named})


DEFAULT_BASE_URLS = {"openai": "https://api.openai.com/v1", "anthropic": "https://api.anthropic.com"}


def models_request(provider: str, key: str, base_url: str | None = None) -> tuple[str, dict[str, str], str]:
    """(base URL, headers, path) of `provider`'s models list as its SDK asks for it: the key's check."""
    base = base_url or DEFAULT_BASE_URLS[provider]
    if provider == "openai":
        return base, {"Authorization": f"Bearer {key}"}, "/models"
    return base, {"x-api-key": key, "anthropic-version": ANTHROPIC_VERSION}, "/v1/models?limit=1"


def refusal(base_url: str, headers: dict[str, str], paths: list[str], timeout: float) -> tuple[int, str] | None:
    """None when every GET answers 200, through the standard library: the fast path. Importing a
    provider SDK (or even httpx) costs about a second; the SDK is imported only when something
    fails, to repeat the failing call through the real client (its real exception, classified).
    Else the first other answer: its HTTP status (0: none came, refused, timed out or no URL) and a line."""
    import urllib.error
    import urllib.request

    base = base_url.rstrip("/")
    opener = _opener()
    path = ""
    try:
        for path in paths:
            request = urllib.request.Request(base + path, headers={**headers, "Accept": "application/json"})
            with opener.open(request, timeout=timeout) as response:  # noqa: S310 - the provider's URL
                if response.status != 200:
                    return response.status, f"HTTP {response.status} from GET {path}"
    except urllib.error.HTTPError as exc:  # an answer other than 2xx (a 3xx too: no redirect is followed)
        return exc.code, f"HTTP {exc.code} from GET {path}"
    except (urllib.error.URLError, OSError, ValueError) as exc:
        return 0, f"GET {path}: {type(exc).__name__}: {getattr(exc, 'reason', None) or exc}"
    return None


def all_answer(base_url: str, headers: dict[str, str], paths: list[str], timeout: float) -> bool:
    """Whether every GET answers 200 (`refusal`)."""
    return refusal(base_url, headers, paths, timeout) is None


def _opener() -> Any:
    """An opener that follows no redirect: a 3xx is an answer, not a place to go (urllib's redirect
    carries the request's headers, the key's among them, to whatever host the answer names)."""
    import urllib.request

    class NoRedirect(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *args: Any, **kwargs: Any) -> None:
            return None

    return urllib.request.build_opener(NoRedirect)


def sdk_http_client(module: Any, timeout: float) -> Any:
    """The SDK's own httpx client, but never following a redirect: the SDKs follow them, and httpx keeps
    `x-api-key` (it drops only `Authorization`) on the way to another host. A 3xx fails the call."""
    return module.DefaultHttpxClient(follow_redirects=False, timeout=timeout)


def _model_path(prefix: str, model: str) -> str:
    from urllib.parse import quote

    return f"{prefix}/{quote(model, safe=':')}"


def run_openai(ctx: CheckContext) -> Iterator[Message]:
    key = ctx.env.get("OPENAI_API_KEY", "").strip()
    if not key:
        raise Skip("OPENAI_API_KEY is not set (see MD-ENV001)")
    base, headers, listing = models_request("openai", key, ctx.env.get("OPENAI_BASE_URL"))
    model_env = ("OPENAI_MODEL", "OPENAI_EMBEDDING_MODEL")
    models = _models(ctx, "predeploy.openai_models", model_env)
    if all_answer(base, headers, [listing, *(_model_path("/models", m) for m in models)], ctx.timeout):
        return
    import openai

    client = openai.OpenAI(api_key=key, base_url=base, timeout=ctx.timeout, max_retries=0,
                           http_client=sdk_http_client(openai, ctx.timeout))
    yield from _probe("MD-LLM001", "MD-LLM002", "OpenAI", lambda: client.models.list(),
                      lambda m: client.models.retrieve(m), models, (openai.OpenAIError,),
                      env_facts(ctx.env, KEY_NAMES), _model_vars(ctx, model_env))


def run_anthropic(ctx: CheckContext) -> Iterator[Message]:
    key = (ctx.env.get("ANTHROPIC_API_KEY") or ctx.env.get("CLAUDE_API_KEY") or "").strip()
    if not key:
        raise Skip("neither ANTHROPIC_API_KEY nor CLAUDE_API_KEY is set (see MD-ENV001)")
    base, headers, listing = models_request("anthropic", key, ctx.env.get("ANTHROPIC_BASE_URL"))
    model_env = ("ANTHROPIC_MODEL",)
    models = _models(ctx, "predeploy.anthropic_models", model_env)
    if all_answer(base, headers, [listing, *(_model_path("/v1/models", m) for m in models)], ctx.timeout):
        return
    import anthropic

    client = anthropic.Anthropic(api_key=key, base_url=base, timeout=ctx.timeout, max_retries=0,
                                 http_client=sdk_http_client(anthropic, ctx.timeout))
    yield from _probe("MD-LLM003", "MD-LLM004", "Anthropic", lambda: client.models.list(limit=1),
                      lambda m: client.models.retrieve(m), models, (anthropic.AnthropicError,),
                      env_facts(ctx.env, KEY_NAMES), _model_vars(ctx, model_env))


CHECKS = (
    Check("openai", ("providers", "llm", "openai"), OPENAI_IDS, run_openai,
          "The OpenAI key works and the pinned models exist."),
    Check("anthropic", ("providers", "llm", "anthropic"), ANTHROPIC_IDS, run_anthropic,
          "The Anthropic key works and the pinned models exist."),
)
