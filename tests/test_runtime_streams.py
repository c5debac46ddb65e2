"""Streams under llm_call: the real openai/anthropic clients read server-sent events from the loopback stand-in,
which cuts a stream or sends the provider's error event after its first chunks. A failure mid-way is classified
like a failure before the stream (its label noted once, one retry notice) and counted once by the breaker; a stream
the caller ends early (close, aclose, a cancelled task) counts as nothing, sync or async."""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime, timedelta

import anthropic
import openai
import pytest

from mosaic_diag.runtime import RetryPolicy, breaker, llm_call
from mosaic_diag.runtime.breakers import BreakerOpen
from mosaic_diag.runtime.context import close_labels, open_labels
from mosaic_diag.runtime.retry import SDK_CLIENT_OPTIONS

CHAT = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hello"}]}
MESSAGE = {"model": "claude-3-haiku-20240307", "max_tokens": 50, "messages": [{"role": "user", "content": "hello"}]}
# (provider, stand-in mode, the exception the caller gets, its label)
BROKEN = [("openai", "stream_cut", openai.APIConnectionError, "OPENAI_CONNECTION_ERROR"),
          ("openai", "stream_error", openai.APIError, "OPENAI_SERVER_ERROR"),
          ("anthropic", "stream_cut", anthropic.APIConnectionError, "ANTHROPIC_CONNECTION_ERROR"),
          ("anthropic", "stream_error", anthropic.APIStatusError, "ANTHROPIC_OVERLOADED")]


def words_of(llm, provider: str, b=None, attempts: int = 4):
    """An app's streaming call: the answer's text pieces as the provider streams them."""
    policy = RetryPolicy(attempts=attempts)
    if provider == "openai":
        client = openai.OpenAI(api_key="sk-test-key", base_url=llm.openai_base_url, timeout=5, **SDK_CLIENT_OPTIONS)

        @llm_call(provider="openai", breaker=b, policy=policy, sleep=lambda s: None)
        def words():
            for chunk in client.chat.completions.create(**CHAT, stream=True):
                yield chunk.choices[0].delta.content or ""
    else:
        client = anthropic.Anthropic(api_key="sk-ant-test", base_url=llm.anthropic_base_url, timeout=5,
                                     **SDK_CLIENT_OPTIONS)

        @llm_call(provider="anthropic", breaker=b, policy=policy, sleep=lambda s: None)
        def words():
            for event in client.messages.create(**MESSAGE, stream=True):
                if event.type == "content_block_delta":
                    yield event.delta.text

    return words


def read_until_broken(stream, error: type[BaseException]) -> list[str]:
    got: list[str] = []
    with pytest.raises(error):
        for word in stream:
            got.append(word)
    return got


def notices(caplog) -> list[dict]:
    return [r.mosaic_retry for r in caplog.records if hasattr(r, "mosaic_retry")]


@pytest.mark.parametrize(("provider", "mode", "error", "label"), BROKEN)
def test_a_stream_broken_mid_way_is_classified_and_counted_once(llm, caplog, provider, mode, error, label):
    caplog.set_level(logging.WARNING, logger="mosaic.runtime.retry")
    b = breaker(f"stream-{provider}-{mode}", fail_max=2, register=False)
    words = words_of(llm, provider, b)
    assert "".join(words()).startswith("Thanks for sharing")  # the whole stream: an answer
    llm.set_failure(provider, mode)
    labels, token = open_labels()
    try:
        got = read_until_broken(words(), error)
    finally:
        close_labels(token)
    assert got and len(got) <= 4  # the first chunks reached the caller, then the failure
    assert labels == [label]
    assert [(n["label"], n["reason"], n["attempt"]) for n in notices(caplog)] == [(label, "mid_stream", 1)]
    assert (b.shared_state, b._state_storage.counter) == ("closed", 1)  # counted once, not twice
    read_until_broken(words(), error)
    assert b.shared_state == "open"  # fail_max=2: the second broken stream opens it
    requests = len(llm.requests)
    with pytest.raises(BreakerOpen):
        next(words())
    assert len(llm.requests) == requests  # refused before any request


@pytest.mark.parametrize(("provider", "before"), [("openai", "server_error"), ("anthropic", "overloaded")])
def test_a_failure_mid_way_is_counted_as_the_same_failure_before_the_stream(llm, provider, before):
    """The provider's error before the stream and the same error in its error event: one label, one count each."""
    counts = []
    for failure in (before, "stream_error"):
        b = breaker(f"same-{provider}-{failure}", fail_max=5, register=False)
        llm.set_failure(provider, failure, times=1)
        labels, token = open_labels()
        try:
            with pytest.raises(Exception) as info:  # noqa: PT011 - the provider's own, checked below
                list(words_of(llm, provider, b, attempts=1)())
        finally:
            close_labels(token)
        counts.append((labels, b._state_storage.counter))
        assert isinstance(info.value, openai.APIError | anthropic.APIError)
    assert counts[0] == counts[1] and counts[0][1] == 1


def test_a_half_open_trial_that_breaks_mid_stream_opens_the_breaker_again(llm):
    """The stream is the trial: it succeeds when it ends, not when its first chunk arrives."""
    b = breaker("stream-trial", fail_max=1, reset_timeout=60, register=False)
    words = words_of(llm, "openai", b, attempts=1)
    llm.set_failure("openai", "server_error", times=1)
    with pytest.raises(openai.InternalServerError):
        next(words())
    assert b.shared_state == "open"
    b._state_storage.backend.set_opened_at(datetime.now(UTC) - timedelta(minutes=2))  # reset_timeout passed
    llm.set_failure("openai", "stream_cut")
    stream = words()
    next(stream)
    assert b.shared_state == "half-open"  # the trial runs while the stream is read
    read_until_broken(stream, openai.APIConnectionError)
    assert b.shared_state == "open"


def due_trial(b) -> None:
    """The breaker is open and its reset_timeout (60 s) has passed: the next caller makes the trial."""
    b._state_storage.backend.set_state("open")
    b._state_storage.backend.set_opened_at(datetime.now(UTC) - timedelta(minutes=2))


def stored(b) -> tuple[str, int, str | None]:
    row = b._state_storage.backend.get()
    return row.state, row.fail_counter, row.trial_owner


def async_words(llm, b):
    """The app's async streaming call (AsyncOpenAI); with `waiting`/`gate` it stops after its second piece."""
    @llm_call(provider="openai", breaker=b, policy=RetryPolicy(attempts=1))
    async def words(waiting: asyncio.Event | None = None, gate: asyncio.Event | None = None):
        client = openai.AsyncOpenAI(api_key="sk-test-key", base_url=llm.openai_base_url, timeout=5,
                                    **SDK_CLIENT_OPTIONS)
        seen = 0
        async with client:
            async for chunk in await client.chat.completions.create(**CHAT, stream=True):
                yield chunk.choices[0].delta.content or ""
                seen += 1
                if seen == 2 and waiting is not None and gate is not None:
                    waiting.set()
                    await gate.wait()

    return words


def close_sync(llm, b, during: str = "half-open") -> None:
    stream = words_of(llm, "openai", b)()
    assert next(stream) is not None and next(stream) is not None
    assert b.shared_state == during  # a trial runs while the stream is read
    stream.close()  # the app's client went away


def close_async(llm, b, during: str = "half-open") -> None:
    async def main() -> None:
        stream = async_words(llm, b)()
        assert await stream.__anext__() is not None and await stream.__anext__() is not None
        assert b.shared_state == during
        await stream.aclose()

    asyncio.run(main())


def cancel_async(llm, b) -> None:
    async def main() -> None:
        waiting, gate = asyncio.Event(), asyncio.Event()

        async def read() -> None:
            async for _ in async_words(llm, b)(waiting, gate):
                pass

        task = asyncio.create_task(read())
        await asyncio.wait_for(waiting.wait(), 60)  # a liveness bound: the stream waits at its second piece
        assert b.shared_state == "half-open"
        task.cancel()  # the client hung up
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(main())


@pytest.mark.parametrize("end", [close_sync, close_async, cancel_async], ids=["close", "aclose", "cancel"])
def test_a_stream_the_caller_ends_early_counts_as_nothing_sync_or_async(llm, caplog, end):
    """The real openai client reads the stand-in's stream; the consumer stops at a `yield` (close, aclose, a
    cancelled task). That is no failure (it does not open the breaker) and no answer (it does not close a
    half-open breaker as healthy): the trial is given back, due at once, and the next stream makes it."""
    caplog.set_level(logging.WARNING, logger="mosaic.runtime.retry")
    b = breaker("stream-ended-early", fail_max=1, reset_timeout=60, register=False)
    due_trial(b)
    labels, token = open_labels()
    try:
        end(llm, b)
    finally:
        close_labels(token)
    assert labels == [] and notices(caplog) == []
    assert stored(b) == ("open", 0, None)  # neither closed (an answer) nor counted (a failure)
    assert "".join(words_of(llm, "openai", b)()).startswith("Thanks for sharing")  # due at once: the trial
    assert stored(b) == ("closed", 0, None)


@pytest.mark.parametrize("end", [close_sync, close_async], ids=["close", "aclose"])
def test_a_stream_closed_early_in_a_closed_breaker_does_not_reset_its_failures(llm, end):
    """An answer resets the failure count; a stream closed early is none: the count stays."""
    b = breaker("stream-closed-count", fail_max=3, register=False)
    llm.set_failure("openai", "server_error", times=1)
    with pytest.raises(openai.InternalServerError):
        next(words_of(llm, "openai", b, attempts=1)())
    assert stored(b) == ("closed", 1, None)
    end(llm, b, during="closed")
    assert stored(b) == ("closed", 1, None)


def test_an_async_stream_broken_mid_way_is_classified_once(llm, caplog):
    caplog.set_level(logging.WARNING, logger="mosaic.runtime.retry")
    client = anthropic.AsyncAnthropic(api_key="sk-ant-test", base_url=llm.anthropic_base_url, timeout=5,
                                      **SDK_CLIENT_OPTIONS)

    @llm_call(provider="anthropic")
    async def words():
        async for event in await client.messages.create(**MESSAGE, stream=True):
            if event.type == "content_block_delta":
                yield event.delta.text

    async def read() -> tuple[list[str], list[str]]:
        labels, token = open_labels()
        got: list[str] = []
        try:
            with pytest.raises(anthropic.APIStatusError):
                async for word in words():
                    got.append(word)
        finally:
            close_labels(token)
        return got, labels

    llm.set_failure("anthropic", "stream_error")
    got, labels = asyncio.run(read())
    assert got and labels == ["ANTHROPIC_OVERLOADED"]
    assert [(n["label"], n["reason"]) for n in notices(caplog)] == [("ANTHROPIC_OVERLOADED", "mid_stream")]


@pytest.mark.parametrize("read_to_end", [False, True], ids=["closed", "read"])
def test_a_stream_read_on_other_threads_keeps_its_trial(llm, read_to_end):
    """A sync stream read item by item on other threads (as Starlette's StreamingResponse iterates a sync
    generator in its thread pool): the call, not the thread, holds the trial; its end or its close is counted
    (or not) for it."""
    from concurrent.futures import ThreadPoolExecutor

    b = breaker("stream-threads", fail_max=1, reset_timeout=60, register=False)
    due_trial(b)
    stream = words_of(llm, "openai", b)()
    with ThreadPoolExecutor(2) as pool:
        first = pool.submit(next, stream).result()
        assert first is not None and b.shared_state == "half-open"
        with ThreadPoolExecutor(1) as other:  # another thread than the one that claimed the trial
            if read_to_end:
                rest = other.submit(lambda: "".join(stream)).result()
                assert (first + rest).startswith("Thanks for sharing")
            else:
                other.submit(stream.close).result()
    assert stored(b) == (("closed", 0, None) if read_to_end else ("open", 0, None))
