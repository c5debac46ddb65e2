"""LLM providers: each key works (a models list through the real client) and each pinned model
exists (a model retrieve); `OPENAI_BASE_URL` / `ANTHROPIC_BASE_URL` are honoured. Failures are
classified by the shared classifier (OPENAI_INVALID_KEY, ANTHROPIC_MODEL_NOT_FOUND, ...)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from mosaic_diag.checks.advice import env_facts
from mosaic_diag.checks.model import Check, CheckContext, CheckId, Message, Skip
from mosaic_diag.errors import ConfigError

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
        raise ConfigError(f"{key} must be a list of model names, got {value!r}")
    return value


def _model_vars(ctx: CheckContext, env_names: tuple[str, ...]) -> dict[str, str]:
    """Which env var pins which model (the playbooks' `env.<NAME>.value`; model names are not secrets)."""
    return {ctx.env[n].strip(): n for n in reversed(env_names) if ctx.env.get(n, "").strip()}


def _first_line(exc: BaseException) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0][:300]


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


def run_openai(ctx: CheckContext) -> Iterator[Message]:
    key = ctx.env.get("OPENAI_API_KEY", "").strip()
    if not key:
        raise Skip("OPENAI_API_KEY is not set (see MD-ENV001)")
    import openai

    client = openai.OpenAI(api_key=key, base_url=ctx.env.get("OPENAI_BASE_URL") or "https://api.openai.com/v1",
                           timeout=ctx.timeout, max_retries=0)
    model_env = ("OPENAI_MODEL", "OPENAI_EMBEDDING_MODEL")
    models = _models(ctx, "predeploy.openai_models", model_env)
    yield from _probe("MD-LLM001", "MD-LLM002", "OpenAI", lambda: client.models.list(),
                      lambda m: client.models.retrieve(m), models, (openai.OpenAIError,),
                      env_facts(ctx.env, KEY_NAMES), _model_vars(ctx, model_env))


def run_anthropic(ctx: CheckContext) -> Iterator[Message]:
    key = (ctx.env.get("ANTHROPIC_API_KEY") or ctx.env.get("CLAUDE_API_KEY") or "").strip()
    if not key:
        raise Skip("neither ANTHROPIC_API_KEY nor CLAUDE_API_KEY is set (see MD-ENV001)")
    import anthropic

    client = anthropic.Anthropic(api_key=key, base_url=ctx.env.get("ANTHROPIC_BASE_URL") or "https://api.anthropic.com",
                                 timeout=ctx.timeout, max_retries=0)
    model_env = ("ANTHROPIC_MODEL",)
    models = _models(ctx, "predeploy.anthropic_models", model_env)
    yield from _probe("MD-LLM003", "MD-LLM004", "Anthropic", lambda: client.models.list(limit=1),
                      lambda m: client.models.retrieve(m), models, (anthropic.AnthropicError,),
                      env_facts(ctx.env, KEY_NAMES), _model_vars(ctx, model_env))


CHECKS = (
    Check("openai", ("providers", "llm", "openai"), OPENAI_IDS, run_openai,
          "The OpenAI key works and the pinned models exist."),
    Check("anthropic", ("providers", "llm", "anthropic"), ANTHROPIC_IDS, run_anthropic,
          "The Anthropic key works and the pinned models exist."),
)
