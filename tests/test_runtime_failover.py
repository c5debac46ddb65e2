"""Failover: label-aware and breaker-aware, with the real clients against the stand-in."""

from __future__ import annotations

import anthropic
import openai
import pytest

from mosaic_diag.runtime import ProvidersFailed, RetryPolicy, breaker, failover, llm_call
from mosaic_diag.runtime.breakers import forget_breakers

CHAT = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hello"}]}
MESSAGE = {"model": "claude-3-haiku-20240307", "max_tokens": 50, "messages": [{"role": "user", "content": "hello"}]}


@pytest.fixture(autouse=True)
def fresh_registry():
    forget_breakers()
    yield
    forget_breakers()


def pair(llm, *, with_breaker: bool = False):
    oc = openai.OpenAI(api_key="sk-test-key", base_url=llm.openai_base_url, max_retries=0, timeout=5)
    ac = anthropic.Anthropic(api_key="sk-ant-test", base_url=llm.anthropic_base_url, max_retries=0, timeout=5)
    sleeps: list[float] = []
    policy = RetryPolicy(attempts=3)
    b = breaker("openai-fo", fail_max=1) if with_breaker else None

    @llm_call(provider="openai", policy=policy, sleep=sleeps.append, breaker=b)
    def ask_openai(prompt: str) -> str:
        choice = oc.chat.completions.create(**{**CHAT, "messages": [{"role": "user", "content": prompt}]}).choices[0]
        if choice.finish_reason == "content_filter":
            raise openai.ContentFilterFinishReasonError()
        return choice.message.content

    @llm_call(provider="anthropic", policy=policy, sleep=sleeps.append)
    def ask_claude(prompt: str) -> str:
        return ac.messages.create(**{**MESSAGE, "messages": [{"role": "user", "content": prompt}]}).content[0].text

    return failover(ask_openai, ask_claude), sleeps, b


def count(llm, provider: str) -> int:
    return sum(1 for r in llm.requests if r.provider == provider)


def test_the_primary_answers(llm):
    ask, _, _ = pair(llm)
    result = ask("hello")
    assert result.provider == "openai" and not result.failed_over
    assert count(llm, "anthropic") == 0


def test_rate_limit_after_retries_fails_over(llm):
    llm.set_failure("openai", "rate_limit")
    ask, sleeps, _ = pair(llm)
    result = ask("hello")
    assert result.provider == "anthropic"
    assert "Thanks for sharing" in result.value
    assert [f.label for f in result.failures] == ["OPENAI_RATE_LIMIT"]
    assert count(llm, "openai") == 3  # the retries ran first
    assert sleeps == [1.0, 1.0]


@pytest.mark.parametrize(("mode", "error", "label"), [
    ("context_overflow", openai.BadRequestError, "OPENAI_CONTEXT_OVERFLOW"),
    ("refusal", openai.ContentFilterFinishReasonError, "OPENAI_CONTENT_FILTERED"),
    ("model_not_found", openai.NotFoundError, "OPENAI_MODEL_NOT_FOUND"),
])
def test_errors_the_secondary_would_share_are_raised(llm, mode, error, label):
    from mosaic_diag.runtime import classify_exception

    llm.set_failure("openai", mode)
    ask, _, _ = pair(llm)
    with pytest.raises(error) as info:
        ask("hello")
    assert classify_exception(info.value).label == label
    assert count(llm, "anthropic") == 0


def test_an_open_breaker_fails_over_without_calling_the_primary(llm):
    llm.set_failure("openai", "server_error")
    ask, _, b = pair(llm, with_breaker=True)
    first = ask("hello")  # 3 attempts, one breaker failure: the breaker opens (fail_max=1)
    assert first.provider == "anthropic" and first.failures[0].label == "OPENAI_SERVER_ERROR"
    assert b.shared_state == "open"
    before = count(llm, "openai")
    second = ask("hello")
    assert second.provider == "anthropic"
    assert [f.label for f in second.failures] == ["BREAKER_OPEN"]
    assert count(llm, "openai") == before


def test_both_failures_are_classified(llm):
    llm.set_failure("openai", "server_error")
    llm.set_failure("anthropic", "overloaded")
    ask, _, _ = pair(llm)
    with pytest.raises(ProvidersFailed) as info:
        ask("hello")
    assert [(f.provider, f.label) for f in info.value.failures] == [
        ("openai", "OPENAI_SERVER_ERROR"), ("anthropic", "ANTHROPIC_OVERLOADED")]
    assert "ANTHROPIC_OVERLOADED" in str(info.value)


def test_a_secondary_bad_request_after_failover_reports_both(llm):
    llm.set_failure("openai", "quota")
    llm.set_failure("anthropic", "context_overflow")
    ask, _, _ = pair(llm)
    with pytest.raises(ProvidersFailed) as info:
        ask("hello")
    assert [f.label for f in info.value.failures] == ["OPENAI_QUOTA_EXCEEDED", "ANTHROPIC_CONTEXT_OVERFLOW"]
    assert count(llm, "openai") == 1  # quota is not retried
