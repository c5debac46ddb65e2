"""OpenAI first, Anthropic on failure: the real clients, honouring OPENAI_BASE_URL/ANTHROPIC_BASE_URL."""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel

from examples.mosaic_app.settings import Settings
from mosaic_diag.runtime import (
    ProvidersFailed,
    RetryPolicy,
    SchemaRejected,
    classify_exception,
    failover,
    llm_call,
    schema_guard,
)
from mosaic_diag.runtime.failovers import Failure
from mosaic_diag.runtime.retry import SDK_CLIENT_OPTIONS

logger = logging.getLogger("api.ai_clients")
HEALTH_PROBE_TIMEOUT = 3.0  # seconds: /health's models list, each way it is asked


class ProviderUnavailable(Exception):
    """No provider could answer; the message has one `module.Type: message` line per provider."""


class AnthropicRefusal(Exception):
    """Anthropic stopped with stop_reason=refusal (its safety filter blocked the answer)."""


@dataclass(frozen=True)
class Completion:
    provider: str
    model: str
    text: str
    latency_ms: float


class MultiProviderLLM:
    """Generate with the runtime kit: each provider call retried by `llm_call` (what the taxonomy
    calls retryable, `1 + LLM_MAX_RETRIES` attempts; the SDKs' own retries off), then `failover` to
    the next provider on a provider-wide error or an open breaker (LLM_BREAKER=memory|postgres).
    Clients are built once (at startup by `warm_up` on a background thread, else on first use) and reused
    (they are thread-safe)."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._clients: dict[str, Any] = {}
        self._locks = {"openai": threading.Lock(), "anthropic": threading.Lock()}  # a client is built once
        self.warming: threading.Thread | None = None
        self._probe: dict[str, tuple[float, bool]] = {}
        policy = RetryPolicy(attempts=1 + max(settings.llm_max_retries, 0), base=0.5, cap=10.0,
                             budget=max(settings.llm_timeout * 2, 30.0))
        self._calls = {
            "openai": llm_call("openai", policy=policy, breaker=self._breaker("openai"))(self._call_openai),
            "anthropic": llm_call("anthropic", policy=policy, breaker=self._breaker("anthropic"))(
                self._call_anthropic),
        }

    def _breaker(self, provider: str) -> Any:
        """A breaker per provider when LLM_BREAKER asks for one: `memory` (this app object) or
        `postgres` (shared by every instance through DATABASE_URL)."""
        kind = self.settings.llm_breaker
        if kind in ("", "off"):
            return None
        from mosaic_diag.runtime import breaker

        storage = self.settings.database_url if kind == "postgres" and self.settings.database_url else "memory"
        return breaker(f"llm-{provider}", storage=storage, fail_max=5, reset_timeout=30.0, register=False)

    def breaker_states(self) -> dict[str, str]:
        """The providers' breakers for /health (none when LLM_BREAKER is off)."""
        found = {}
        for provider, call in self._calls.items():
            breaker = getattr(call, "__mosaic_breaker__", None)
            if breaker is not None:
                found[provider] = breaker.shared_state
        return found

    def _openai(self) -> Any:
        with self._locks["openai"]:
            if "openai" not in self._clients:
                import openai

                self._clients["openai"] = openai.OpenAI(
                    api_key=self.settings.openai_api_key,
                    base_url=self.settings.openai_base_url,
                    timeout=self.settings.llm_timeout,
                    **SDK_CLIENT_OPTIONS,  # max_retries=0: the kit retries
                )
            return self._clients["openai"]

    def _anthropic(self) -> Any:
        with self._locks["anthropic"]:
            if "anthropic" not in self._clients:
                import anthropic

                self._clients["anthropic"] = anthropic.Anthropic(
                    api_key=self.settings.anthropic_api_key,
                    base_url=self.settings.anthropic_base_url,
                    timeout=self.settings.llm_timeout,
                    **SDK_CLIENT_OPTIONS,
                )
            return self._clients["anthropic"]

    def warm_up(self) -> threading.Thread | None:
        """Build the clients of the providers with a key on a background thread started now (at startup):
        importing the SDKs takes about a second of CPU (anthropic's ~0.75 s, openai's ~0.25 s), which then
        delays neither uvicorn's "ready" nor requests that need no provider. A request that needs a client
        meanwhile (`/wimd/ask`) waits for it under the provider's lock: built once; `/health`'s probe does not
        (see `available`)."""
        providers = self.providers()
        if not providers:
            return None
        self.warming = threading.Thread(target=self._build_clients, args=(providers,), daemon=True,
                                        name="mosaic-app-llm-warm-up")
        self.warming.start()
        return self.warming

    def _build_clients(self, providers: list[str]) -> None:
        try:
            for provider in providers:
                self._openai() if provider == "openai" else self._anthropic()
        except Exception:  # the first request that needs the client builds it again and fails with the cause
            logger.warning("Building the AI clients at startup failed", exc_info=True)
            return
        logger.info("AI clients built: %s", ",".join(providers))

    def providers(self) -> list[str]:
        """Providers with a key, in failover order."""
        order = []
        if self.settings.openai_api_key:
            order.append("openai")
        if self.settings.anthropic_api_key:
            order.append("anthropic")
        return order

    def generate(self, system: str, prompt: str, only: str | None = None) -> Completion:
        """Ask the providers in failover order; each failure is logged with its traceback.
        `only` (a test harness's X-Mosaic-LLM-Provider header): that provider, no failover."""
        providers = self.providers()
        if only is not None:
            if only not in ("openai", "anthropic"):
                raise ProviderUnavailable(f"ValueError: unknown provider {only!r} (openai or anthropic)")
            if only not in providers:
                raise ProviderUnavailable(f"ValueError: {only} was asked for but has no API key set")
            providers = [only]
        if not providers:  # let the client say what is missing, as Mosaic does
            logger.warning("No AI provider key set (OPENAI_API_KEY, ANTHROPIC_API_KEY)")
            providers = ["openai"]
        start = time.perf_counter()
        calls = [self._calls[p] for p in providers]
        try:
            if len(calls) == 1:
                try:
                    provider, (model, text) = providers[0], calls[0](system, prompt)
                except Exception as exc:
                    _log_failure(Failure(providers[0], classify_exception(exc).label, exc), None)
                    raise ProviderUnavailable(_describe(exc)) from exc
            else:
                result = failover(*calls, on_failure=_log_failure)(system, prompt)
                provider, (model, text) = result.provider, result.value
        except ProvidersFailed as exc:
            raise ProviderUnavailable("\n".join(_describe(f.exception) for f in exc.failures)) from exc
        except ProviderUnavailable:
            raise
        except Exception as exc:  # not provider-wide (a request of ours): no failover
            raise ProviderUnavailable(_describe(exc)) from exc
        return Completion(provider, model, text, (time.perf_counter() - start) * 1000)

    def _call_openai(self, system: str, prompt: str) -> tuple[str, str]:
        import openai

        model = self.settings.openai_model
        response = self._openai().chat.completions.create(
            model=model,
            messages=[{"role": "system", "content": system}, {"role": "user", "content": prompt}],
            response_format={"type": "json_object"},
            temperature=0.2,
            max_completion_tokens=600,  # openai>=3: max_tokens is deprecated
        )
        choice = response.choices[0]
        if choice.finish_reason == "content_filter":
            raise openai.ContentFilterFinishReasonError(completion=response)
        return response.model or model, choice.message.content or ""

    def _call_anthropic(self, system: str, prompt: str) -> tuple[str, str]:
        model = self.settings.anthropic_model
        response = self._anthropic().messages.create(
            model=model,
            system=system,
            messages=[{"role": "user", "content": prompt}],
            max_tokens=600,  # anthropic>=2 has no sampling knobs (temperature) on create()
        )
        if response.stop_reason == "refusal":
            raise AnthropicRefusal("Anthropic response blocked: stop_reason=refusal")
        text = "".join(block.text for block in response.content if block.type == "text")
        return response.model or model, text

    def available(self, provider: str) -> bool:
        """Whether the provider answers a models list (cached for HEALTH_AI_PROBE_TTL seconds). The list is asked
        for through the standard library, as `mosaic-diag predeploy` checks a key (`mosaic_diag.checks.providers`):
        `/health` never waits for the SDK imports of the warm-up thread (about a second of CPU, more on a small
        instance). Only an answer other than 200 is asked again through the SDK client, for its real exception
        (a rate-limited key is available); while that client is still being built, not waited for: False, not
        cached (the next probe asks again)."""
        key = {"openai": self.settings.openai_api_key,
               "anthropic": self.settings.anthropic_api_key}[provider]
        if not key:
            return False
        now = time.monotonic()
        cached = self._probe.get(provider)
        if cached and now - cached[0] < self.settings.health_probe_ttl:
            return cached[1]
        from mosaic_diag.checks.providers import models_request, refusal

        base_url = self.settings.openai_base_url if provider == "openai" else self.settings.anthropic_base_url
        base, headers, path = models_request(provider, key, base_url)
        refused = refusal(base, headers, [path], HEALTH_PROBE_TIMEOUT)
        if refused is None:
            ok = True
        elif refused[0] == 0:  # no answer at all (refused, timed out): the SDK would get none either
            logger.warning("Health probe: %s is not available: %s", provider, refused[1])
            ok = False
        elif provider not in self._clients and self.warming is not None and self.warming.is_alive():
            logger.warning("Health probe: %s is not available: %s (its client is still being built: not waited for)",
                           provider, refused[1])
            return False
        else:
            ok = self._sdk_probe(provider)
        self._probe[provider] = (now, ok)
        return ok

    def _sdk_probe(self, provider: str) -> bool:
        """The models list through the SDK client: its exception logged (a rate limit is still available)."""
        client = self._openai() if provider == "openai" else self._anthropic()
        try:
            client.with_options(timeout=HEALTH_PROBE_TIMEOUT, max_retries=0).models.list()
        except Exception as exc:
            if _throttled(exc):
                logger.info("Health probe: %s is rate-limited but reachable", provider)
                return True
            logger.warning("Health probe: %s is not available", provider, exc_info=True)
            return False
        return True


def _describe(exc: BaseException) -> str:
    """`module.Type: message`, one line per provider in the 503's detail."""
    name = f"{type(exc).__module__}.{type(exc).__name__}".removeprefix("builtins.")
    return f"{name}: {exc}"


def _log_failure(failure: Failure, next_provider: str | None) -> None:
    """The app's log of a provider failure, with the traceback (called inside the except block)."""
    if next_provider is not None:
        logger.error("[FAILOVER] %s call failed, trying %s", failure.provider, next_provider, exc_info=True)
    elif failure.label == "BREAKER_OPEN" or classify_exception(failure.exception).provider_wide:
        logger.error("%s call failed; no provider left", failure.provider, exc_info=True)
    else:
        logger.error("%s call failed (%s: no failover, another provider would fail the same)", failure.provider,
                     failure.label, exc_info=True)


def _throttled(exc: Exception) -> bool:
    """A 429 that is a rate limit, not exhausted quota: the provider answered and took the key."""
    return getattr(exc, "status_code", None) == 429 and getattr(exc, "code", None) != "insufficient_quota"


class CoachAnswer(BaseModel):
    """What the system prompt asks the model for (other fields are ignored)."""

    answer: str
    question: str | None = None


def parse_answer(text: str, guard: Any = None, *, provider: str | None = None,
                 prompt_id: str | None = None) -> tuple[dict[str, Any], bool]:
    """The model's answer through the schema guard (a rejected one is dead-lettered), or the raw
    text wrapped as {"answer": text} and False."""
    guard = guard or schema_guard(CoachAnswer)
    try:
        value = guard(text, provider=provider, prompt_id=prompt_id)
    except SchemaRejected as exc:
        logger.warning("Model answer failed its schema (%d chars), dead letter %s; wrapping it", len(text),
                       exc.dead_letter_id)
        return {"answer": text}, False
    return value.model_dump(), True
