"""OpenAI first, Anthropic on failure: the real clients, honouring OPENAI_BASE_URL/ANTHROPIC_BASE_URL."""

from __future__ import annotations

import json
import logging
import threading
import time
from dataclasses import dataclass
from typing import Any

from examples.mosaic_app.settings import Settings

logger = logging.getLogger("api.ai_clients")


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
    """Generate with failover; clients are built lazily and reused (they are thread-safe)."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._clients: dict[str, Any] = {}
        self._lock = threading.Lock()
        self._probe: dict[str, tuple[float, bool]] = {}

    def _openai(self) -> Any:
        with self._lock:
            if "openai" not in self._clients:
                import openai

                self._clients["openai"] = openai.OpenAI(
                    api_key=self.settings.openai_api_key,
                    base_url=self.settings.openai_base_url,
                    timeout=self.settings.llm_timeout,
                    max_retries=self.settings.llm_max_retries,
                )
            return self._clients["openai"]

    def _anthropic(self) -> Any:
        with self._lock:
            if "anthropic" not in self._clients:
                import anthropic

                self._clients["anthropic"] = anthropic.Anthropic(
                    api_key=self.settings.anthropic_api_key,
                    base_url=self.settings.anthropic_base_url,
                    timeout=self.settings.llm_timeout,
                    max_retries=self.settings.llm_max_retries,
                )
            return self._clients["anthropic"]

    def providers(self) -> list[str]:
        """Providers with a key, in failover order."""
        order = []
        if self.settings.openai_api_key:
            order.append("openai")
        if self.settings.anthropic_api_key:
            order.append("anthropic")
        return order

    def generate(self, system: str, prompt: str, only: str | None = None) -> Completion:
        """Ask the first provider; on any error log it with its traceback and fail over.
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
        errors: list[str] = []
        for i, provider in enumerate(providers):
            start = time.perf_counter()
            try:
                if provider == "openai":
                    model, text = self._call_openai(system, prompt)
                else:
                    model, text = self._call_anthropic(system, prompt)
            except Exception as exc:
                name = f"{type(exc).__module__}.{type(exc).__name__}".removeprefix("builtins.")
                errors.append(f"{name}: {exc}")
                if i + 1 < len(providers):
                    logger.error("[FAILOVER] %s call failed, trying %s", provider,
                                 providers[i + 1], exc_info=True)
                else:
                    logger.error("%s call failed; no provider left", provider, exc_info=True)
                continue
            return Completion(provider, model, text, (time.perf_counter() - start) * 1000)
        raise ProviderUnavailable("\n".join(errors))

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
        """Whether the provider answers a models list (cached for HEALTH_AI_PROBE_TTL seconds)."""
        key = {"openai": self.settings.openai_api_key,
               "anthropic": self.settings.anthropic_api_key}[provider]
        if not key:
            return False
        now = time.monotonic()
        cached = self._probe.get(provider)
        if cached and now - cached[0] < self.settings.health_probe_ttl:
            return cached[1]
        client = self._openai() if provider == "openai" else self._anthropic()
        try:
            client.with_options(timeout=3.0, max_retries=0).models.list()
            ok = True
        except Exception as exc:
            ok = _throttled(exc)
            if ok:
                logger.info("Health probe: %s is rate-limited but reachable", provider)
            else:
                logger.warning("Health probe: %s is not available", provider, exc_info=True)
        self._probe[provider] = (now, ok)
        return ok


def _throttled(exc: Exception) -> bool:
    """A 429 that is a rate limit, not exhausted quota: the provider answered and took the key."""
    return getattr(exc, "status_code", None) == 429 and getattr(exc, "code", None) != "insufficient_quota"


def parse_answer(text: str) -> tuple[dict[str, Any], bool]:
    """The model's JSON object, or the raw text wrapped as {"answer": text} and False."""
    cleaned = text.strip()
    if cleaned.startswith("```"):
        cleaned = cleaned.strip("`").removeprefix("json").strip()
    try:
        data = json.loads(cleaned)
    except json.JSONDecodeError:
        logger.warning("Model answer is not valid JSON (%d chars); wrapping it", len(text))
        return {"answer": text}, False
    if not isinstance(data, dict):
        logger.warning("Model answer is JSON but not an object; wrapping it")
        return {"answer": text}, False
    if not isinstance(data.get("answer"), str):
        logger.warning("Model answer is a JSON object without an `answer` string; wrapping it")
        return {"answer": text}, False
    return data, True
