"""The OpenAI and Anthropic calls Mosaic makes (chat, structured answers), through the real clients."""

from __future__ import annotations

import logging
from typing import Any

logger = logging.getLogger("api.ai_clients")


class AnthropicRefusal(RuntimeError):
    """Claude answered with stop_reason "refusal"."""


def openai_client(base_url: str, *, api_key: str | None = None, timeout: float = 10.0) -> Any:
    import openai

    return openai.OpenAI(api_key=api_key, base_url=base_url, max_retries=0, timeout=timeout)


def anthropic_client(base_url: str, *, api_key: str | None = None, timeout: float = 10.0) -> Any:
    import anthropic

    return anthropic.Anthropic(api_key=api_key, base_url=base_url, max_retries=0, timeout=timeout)


def ask_openai(client: Any, prompt: str, *, model: str = "gpt-4") -> str:
    response = client.chat.completions.create(
        model=model, messages=[{"role": "user", "content": prompt}] if prompt else [], max_tokens=300)
    return response.choices[0].message.content or ""


def ask_openai_guarded(client: Any, prompt: str, *, model: str = "gpt-4") -> Any:
    """An answer checked by the runtime kit's schema guard (a JSON object with `answer`)."""
    from pydantic import BaseModel

    from mosaic_diag.runtime import schema_guard

    class CoachAnswer(BaseModel):
        answer: str

    text = ask_openai(client, prompt, model=model)
    return schema_guard(CoachAnswer, provider="openai")(text)


def ask_openai_structured(client: Any, prompt: str, *, model: str = "gpt-4o-mini") -> Any:
    completion = client.chat.completions.parse(model=model, messages=[{"role": "user", "content": prompt}])
    return completion.choices[0].message.parsed


def ask_anthropic(client: Any, prompt: str, *, model: str = "claude-3-5-sonnet-latest") -> str:
    response = client.messages.create(model=model, max_tokens=300, messages=[{"role": "user", "content": prompt}])
    if response.stop_reason == "refusal":
        raise AnthropicRefusal(f"Anthropic response blocked by the safety filter: stop_reason={response.stop_reason}")
    return "".join(block.text for block in response.content if block.type == "text")
