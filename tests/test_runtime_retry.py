"""The runtime kit's classifier entry and retry policy, with the real openai/anthropic clients
(SDK retries off) against the loopback stand-in; waits go to an injected sleep, never slept."""

from __future__ import annotations

import logging
import threading
import time

import anthropic
import openai
import pytest

from mosaic_diag.runtime import RetryPolicy, classify_exception, llm_call
from mosaic_diag.runtime.retry import SDK_CLIENT_OPTIONS
from mosaic_diag.runtime.verdict import DEFAULT_CACHE, cache_key

CHAT = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hello"}]}
MESSAGE = {"model": "claude-3-haiku-20240307", "max_tokens": 50, "messages": [{"role": "user", "content": "hello"}]}


def openai_client(llm, timeout: float = 5.0) -> openai.OpenAI:
    return openai.OpenAI(api_key="sk-test-key", base_url=llm.openai_base_url, timeout=timeout, **SDK_CLIENT_OPTIONS)


def anthropic_client(llm, timeout: float = 5.0) -> anthropic.Anthropic:
    return anthropic.Anthropic(api_key="sk-ant-test", base_url=llm.anthropic_base_url, timeout=timeout,
                               **SDK_CLIENT_OPTIONS)


class Sleeps(list):
    """An injected sleep: records the waits instead of sleeping."""

    def __call__(self, seconds: float) -> None:
        self.append(seconds)


def ask_openai(llm, sleeps, policy=None, **kw):
    client = openai_client(llm, **kw)

    @llm_call(provider="openai", policy=policy or RetryPolicy(), sleep=sleeps)
    def ask() -> str:
        return client.chat.completions.create(**CHAT).choices[0].message.content

    return ask


def ask_anthropic(llm, sleeps, policy=None, **kw):
    client = anthropic_client(llm, **kw)

    @llm_call(provider="anthropic", policy=policy or RetryPolicy(), sleep=sleeps)
    def ask() -> str:
        return client.messages.create(**MESSAGE).content[0].text

    return ask


def attempts(llm, provider: str) -> int:
    return sum(1 for r in llm.requests if r.provider == provider)


def test_429_with_retry_after_waits_what_the_provider_says_then_succeeds(llm):
    llm.set_failure("openai", "rate_limit", times=2)
    sleeps = Sleeps()
    assert "Thanks for sharing" in ask_openai(llm, sleeps)()
    assert attempts(llm, "openai") == 3
    assert sleeps == [1.0, 1.0]  # the stand-in's retry-after: 1


def test_retry_after_ms_wins_over_retry_after(llm):
    llm.retry_after_ms = 250
    try:
        llm.set_failure("anthropic", "rate_limit", times=1)
        sleeps = Sleeps()
        ask_anthropic(llm, sleeps)()
    finally:
        llm.retry_after_ms = None
    assert sleeps == [0.25]
    assert attempts(llm, "anthropic") == 2


def test_529_without_retry_after_uses_full_jitter_under_the_cap(llm):
    llm.set_failure("anthropic", "overloaded")
    sleeps = Sleeps()
    policy = RetryPolicy(attempts=5, base=0.5, cap=1.5)
    with pytest.raises(anthropic.APIStatusError) as info:
        ask_anthropic(llm, sleeps, policy)()
    assert info.value.status_code == 529
    assert attempts(llm, "anthropic") == 5
    assert len(sleeps) == 4
    for n, wait in enumerate(sleeps, start=1):
        assert 0 <= wait <= min(1.5, 0.5 * 2 ** (n - 1))
    assert len(set(sleeps)) > 1  # jittered, not a fixed schedule


def test_full_jitter_ceilings_with_a_fixed_random(llm):
    llm.set_failure("openai", "server_error")
    sleeps = Sleeps()
    client = openai_client(llm)

    @llm_call(provider="openai", policy=RetryPolicy(attempts=4, base=1.0, cap=3.0), sleep=sleeps, rng=lambda: 1.0)
    def ask() -> None:
        client.chat.completions.create(**CHAT)

    with pytest.raises(openai.InternalServerError):
        ask()
    assert sleeps == [1.0, 2.0, 3.0]
    assert attempts(llm, "openai") == 4


@pytest.mark.parametrize(("provider", "mode", "error"), [
    ("openai", "quota", openai.RateLimitError),
    ("openai", "auth", openai.AuthenticationError),
    ("openai", "model_not_found", openai.NotFoundError),
    ("openai", "context_overflow", openai.BadRequestError),
    ("anthropic", "context_overflow", anthropic.BadRequestError),
    ("anthropic", "model_not_found", anthropic.NotFoundError),
])
def test_what_the_taxonomy_calls_not_retryable_is_tried_once(llm, provider, mode, error):
    llm.set_failure(provider, mode)
    sleeps = Sleeps()
    ask = (ask_openai if provider == "openai" else ask_anthropic)(llm, sleeps)
    with pytest.raises(error):
        ask()
    assert attempts(llm, provider) == 1
    assert sleeps == []


def test_a_timeout_is_retried(llm, caplog):
    llm.set_failure("openai", "slow", delay=1.0, times=1)
    caplog.set_level(logging.WARNING, logger="mosaic.runtime.retry")
    sleeps = Sleeps()
    assert ask_openai(llm, sleeps, timeout=0.3)()  # the second attempt is answered at once
    assert len(sleeps) == 1 and 0 <= sleeps[0] <= 0.5
    assert [r.mosaic_retry["label"] for r in caplog.records if r.name == "mosaic.runtime.retry"] == ["OPENAI_TIMEOUT"]
    deadline = time.monotonic() + 30  # the slow answer is logged when it ends: keep it out of the next test
    while attempts(llm, "openai") < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert attempts(llm, "openai") == 2


def test_the_total_budget_ends_the_retries(llm):
    llm.set_failure("openai", "server_error")
    now = [0.0]
    sleeps: list[float] = []

    def sleep(seconds: float) -> None:
        sleeps.append(seconds)
        now[0] += seconds

    client = openai_client(llm)

    @llm_call(provider="openai", policy=RetryPolicy(attempts=10, base=4.0, cap=4.0, budget=10.0), sleep=sleep,
              clock=lambda: now[0], rng=lambda: 1.0)
    def ask() -> None:
        client.chat.completions.create(**CHAT)

    with pytest.raises(openai.InternalServerError):
        ask()
    assert sleeps == [4.0, 4.0]  # a third wait would end at 12 s > 10 s
    assert attempts(llm, "openai") == 3


def test_a_retry_after_longer_than_the_cap_is_not_waited(llm):
    llm.set_failure("openai", "rate_limit")
    sleeps = Sleeps()
    with pytest.raises(openai.RateLimitError):
        ask_openai(llm, sleeps, RetryPolicy(cap=0.5))()
    assert sleeps == []
    assert attempts(llm, "openai") == 1


def _stop_before_wait(self, retry_state) -> None:  # noqa: ANN001 - tenacity's own signature
    """tenacity 8.2's order (pyproject takes tenacity>=8.2): its `BaseRetrying.iter` asks `stop` before `wait`; 8.3
    and later ask `wait` first. The actions of today's `_post_retry_check_actions`, stop first."""
    if not (self.iter_state.is_explicit_retry or self.iter_state.retry_run_result):
        self._add_action_func(lambda rs: rs.outcome.result())
        return
    if self.after is not None:
        self._add_action_func(self.after)
    self._add_action_func(self._run_stop)
    self._add_action_func(self._run_wait)
    self._add_action_func(self._post_stop_check_actions)


@pytest.mark.parametrize("order", ["wait first (tenacity >= 8.3)", "stop first (tenacity 8.2)"])
@pytest.mark.parametrize("asked", ["86400", "an HTTP date 3 days ahead"])
def test_a_first_retry_after_past_the_cap_is_never_slept_whatever_tenacitys_order(llm, monkeypatch, order, asked):
    """A 429 whose retry-after is a day (or an HTTP date days ahead) ends the retries at once (`cap`), the caller
    fails over. Under tenacity 8.2, which asks `stop` before `wait`, `stop` judged the previous attempt's wait (none
    at the first failure): the first retry-after was slept in full, a request thread asleep for a day."""
    from datetime import UTC, datetime, timedelta
    from email.utils import format_datetime

    import tenacity

    if order.startswith("stop"):
        monkeypatch.setattr(tenacity.BaseRetrying, "_post_retry_check_actions", _stop_before_wait)
    llm.retry_after = asked if asked.isdigit() else format_datetime(datetime.now(UTC) + timedelta(days=3),
                                                                      usegmt=True)
    try:
        llm.set_failure("openai", "rate_limit")
        sleeps = Sleeps()
        with pytest.raises(openai.RateLimitError):
            ask_openai(llm, sleeps)()
    finally:
        llm.retry_after = 1
    assert sleeps == []
    assert attempts(llm, "openai") == 1


def test_under_tenacity_82s_order_the_budget_judges_the_wait_that_follows(llm, monkeypatch):
    """The budget is judged with the wait about to be slept, not the one before it (stop asked first, tenacity 8.2):
    a retry-after of 4 s under a budget of 3 s is not waited."""
    import tenacity

    monkeypatch.setattr(tenacity.BaseRetrying, "_post_retry_check_actions", _stop_before_wait)
    llm.retry_after = 4
    try:
        llm.set_failure("openai", "rate_limit")
        sleeps = Sleeps()
        with pytest.raises(openai.RateLimitError):
            ask_openai(llm, sleeps, RetryPolicy(cap=10.0, budget=3.0))()
    finally:
        llm.retry_after = 1
    assert sleeps == []


def test_each_attempt_logs_one_structured_retry_notice(llm, caplog):
    llm.set_failure("openai", "rate_limit", times=2)
    caplog.set_level(logging.WARNING, logger="mosaic.runtime.retry")
    ask_openai(llm, Sleeps())()
    records = [r for r in caplog.records if r.name == "mosaic.runtime.retry"]
    assert [r.mosaic_retry["attempt"] for r in records] == [1, 2]
    assert {r.mosaic_retry["label"] for r in records} == {"OPENAI_RATE_LIMIT"}
    assert [r.mosaic_retry["delay"] for r in records] == [1.0, 1.0]
    assert all(r.levelno == logging.WARNING for r in records)
    assert "label=OPENAI_RATE_LIMIT attempt=1/4 delay=1.000s" in records[0].getMessage()


def test_a_final_failure_is_logged_with_its_reason(llm, caplog):
    llm.set_failure("openai", "quota")
    caplog.set_level(logging.WARNING, logger="mosaic.runtime.retry")
    with pytest.raises(openai.RateLimitError):
        ask_openai(llm, Sleeps())()
    [record] = [r for r in caplog.records if r.name == "mosaic.runtime.retry"]
    assert record.mosaic_retry["reason"] == "not_retryable"
    assert record.mosaic_retry["label"] == "OPENAI_QUOTA_EXCEEDED"


def test_classify_exception_is_cached_across_request_ids(llm):
    client = openai_client(llm)
    llm.set_failure("openai", "rate_limit")
    errors = []
    for _ in range(2):
        try:
            client.chat.completions.create(**CHAT)
        except openai.RateLimitError as exc:
            errors.append(exc)
    assert cache_key(errors[0]) == cache_key(errors[1])
    DEFAULT_CACHE.clear()
    first = classify_exception(errors[0])
    second = classify_exception(errors[1])
    assert first is second
    assert (DEFAULT_CACHE.misses, DEFAULT_CACHE.hits) == (1, 1)
    assert first.label == "OPENAI_RATE_LIMIT" and first.retryable and first.provider_wide and first.status == 429


def test_cache_keys_differ_by_status_and_type(llm):
    client = openai_client(llm)
    found = {}
    for mode in ("server_error", "overloaded", "quota"):
        llm.set_failure("openai", mode)
        try:
            client.chat.completions.create(**CHAT)
        except openai.APIStatusError as exc:
            found[mode] = exc
    assert len({cache_key(e) for e in found.values()}) == 3
    assert classify_exception(found["quota"]).label == "OPENAI_QUOTA_EXCEEDED"
    assert not classify_exception(found["quota"]).retryable


def test_async_provider_calls_are_retried_without_blocking(llm):
    import asyncio

    from mosaic_diag.runtime import failover

    llm.set_failure("openai", "rate_limit", times=1)
    llm.set_failure("anthropic", "overloaded")
    waits: list[float] = []

    async def record(seconds: float) -> None:
        waits.append(seconds)

    oc = openai.AsyncOpenAI(api_key="sk-test-key", base_url=llm.openai_base_url, timeout=5, **SDK_CLIENT_OPTIONS)
    ac = anthropic.AsyncAnthropic(api_key="sk-ant-test", base_url=llm.anthropic_base_url, timeout=5,
                                  **SDK_CLIENT_OPTIONS)

    @llm_call(provider="anthropic", policy=RetryPolicy(attempts=2), sleep=record)
    async def ask_claude() -> str:
        return (await ac.messages.create(**MESSAGE)).content[0].text

    @llm_call(provider="openai", sleep=record)
    async def ask() -> str:
        return (await oc.chat.completions.create(**CHAT)).choices[0].message.content

    @llm_call(provider="openai", policy=RetryPolicy(attempts=1), sleep=record)
    async def ask_once() -> str:
        return (await oc.chat.completions.create(**CHAT)).choices[0].message.content

    async def main():
        first = await ask()
        llm.set_failure("openai", "server_error")
        with pytest.raises(anthropic.APIStatusError):
            await ask_claude()
        counts = (attempts(llm, "openai"), attempts(llm, "anthropic"))
        llm.set_failure("anthropic", None)
        return first, counts, await failover(ask_once, ask_claude)()

    first, counts, result = asyncio.run(main())
    assert "Thanks for sharing" in first
    assert waits[0] == 1.0 and len(waits) == 2 and 0 <= waits[1] <= 0.5
    assert counts == (2, 2)
    assert result.provider == "anthropic" and [f.label for f in result.failures] == ["OPENAI_SERVER_ERROR"]


def test_a_stream_is_retried_until_its_first_item_then_never(llm):
    """A generator function under llm_call (an app streaming an answer out): a 429 before the first item is
    retried; a failure once items were delivered reaches the caller, with no new request."""
    llm.set_failure("openai", "rate_limit", times=1)
    sleeps = Sleeps()
    client = openai_client(llm)

    @llm_call(provider="openai", sleep=sleeps)
    def words(fail_after: int | None = None):
        text = client.chat.completions.create(**CHAT).choices[0].message.content
        for n, word in enumerate(text.split()):
            if n == fail_after:
                raise ConnectionError("stream broke")
            yield word

    streamed = list(words())
    assert " ".join(streamed).startswith("Thanks for sharing")
    assert attempts(llm, "openai") == 2 and sleeps == [1.0]
    got = []
    with pytest.raises(ConnectionError):
        for word in words(fail_after=2):
            got.append(word)
    assert len(got) == 2 and attempts(llm, "openai") == 3


def test_an_async_stream_is_retried_until_its_first_item(llm):
    import asyncio

    llm.set_failure("anthropic", "overloaded", times=2)
    waits: list[float] = []

    async def record(seconds: float) -> None:
        waits.append(seconds)

    ac = anthropic.AsyncAnthropic(api_key="sk-ant-test", base_url=llm.anthropic_base_url, timeout=5,
                                  **SDK_CLIENT_OPTIONS)

    @llm_call(provider="anthropic", sleep=record)
    async def words():
        for word in (await ac.messages.create(**MESSAGE)).content[0].text.split():
            yield word

    async def main() -> list[str]:
        return [w async for w in words()]

    assert asyncio.run(main())
    assert attempts(llm, "anthropic") == 3 and len(waits) == 2


def test_a_sync_call_that_waits_on_the_event_loop_is_named(llm, caplog):
    """A sync llm_call made from an `async def` endpoint sleeps on the event loop: every request stops meanwhile.
    The first wait says so (once); the same call from a thread is quiet."""
    import asyncio

    caplog.set_level(logging.WARNING, logger="mosaic.runtime.retry")
    ask = ask_openai(llm, Sleeps())

    def warnings() -> list[str]:
        return [r.getMessage() for r in caplog.records if "event loop" in r.getMessage()]

    llm.set_failure("openai", "rate_limit", times=1)
    t = threading.Thread(target=ask)
    t.start()
    t.join(30)
    assert warnings() == [] and attempts(llm, "openai") == 2

    async def endpoint() -> str:
        return ask()

    for _ in range(2):
        llm.set_failure("openai", "rate_limit", times=1)
        assert asyncio.run(endpoint())
    assert attempts(llm, "openai") == 6
    [warning] = warnings()
    assert "ask is a sync call waiting 1.000 s" in warning and "async def" in warning


def test_threads_failing_at_once_load_the_classifier_once():
    """The classifier and taxonomy load at the first failure: 16 threads failing at the same moment load
    them once (under a lock), and all get the same verdict."""
    from mosaic_diag.classifier import Classifier
    from mosaic_diag.classifier.taxonomy import SHIPPED_RULES, _build
    from mosaic_diag.runtime.verdict import VerdictCache

    loads: list[int] = []

    def loader() -> Classifier:
        loads.append(1)
        return Classifier(_build((SHIPPED_RULES,)))  # a real parse, as in a cold process with no cache

    cache = VerdictCache(loader=loader)
    threads = 16
    barrier = threading.Barrier(threads)
    labels: list[str] = []

    def fail() -> None:
        barrier.wait(30)
        labels.append(cache.classify(TimeoutError("The read operation timed out")).label)

    workers = [threading.Thread(target=fail) for _ in range(threads)]
    for t in workers:
        t.start()
    for t in workers:
        t.join(60)
    assert len(labels) == threads and len(set(labels)) == 1
    assert len(loads) == 1
