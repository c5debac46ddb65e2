"""Retry on tenacity, driven by the taxonomy: only labels marked `retryable` are retried.

    @llm_call(provider="openai")
    def ask(prompt): return client.chat.completions.create(...)   # client built with max_retries=0

The wait before retry n is the provider's `retry-after-ms` / `retry-after` header when the
exception's response carries one, else full jitter: uniform(0, min(cap, base * 2**(n-1))). A
`retry-after` longer than `cap`, or a wait that would pass the total `budget`, ends the retries
(the caller fails over instead of sleeping). Each failed attempt logs one WARNING record on the
logger `mosaic.runtime.retry` (provider, label, attempt, delay): triage counts it as a warning, a
retry notice, never as an error event. The SDKs retry on their own (openai and anthropic: twice);
build the clients with `max_retries=0` (`SDK_CLIENT_OPTIONS`) so the two do not multiply.
"""

from __future__ import annotations

import contextlib
import functools
import inspect
import logging
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from typing import Any, TypeVar

from mosaic_diag.runtime.context import note_label, on_event_loop
from mosaic_diag.runtime.verdict import Verdict, classify_exception

T = TypeVar("T")
logger = logging.getLogger("mosaic.runtime.retry")

SDK_CLIENT_OPTIONS: dict[str, Any] = {"max_retries": 0}
"""Pass to `openai.OpenAI(**SDK_CLIENT_OPTIONS, ...)` / `anthropic.Anthropic(...)`: the kit retries."""


@dataclass(frozen=True)
class RetryPolicy:
    """How often and how long to retry a retryable failure."""

    attempts: int = 4              # attempts in all, the first one included
    base: float = 0.5              # seconds: the jitter ceiling of the first retry
    cap: float = 20.0              # seconds: the longest single wait (jitter ceiling, retry-after limit)
    budget: float = 60.0           # seconds: attempts and waits together
    honour_retry_after: bool = True

    def __post_init__(self) -> None:
        if self.attempts < 1 or self.base < 0 or self.cap < 0 or self.budget < 0:
            raise ValueError("RetryPolicy: attempts >= 1 and non-negative base, cap, budget")

    def ceiling(self, retry_number: int) -> float:
        """The full-jitter ceiling of the n-th retry (1-based)."""
        return min(self.cap, self.base * 2 ** (retry_number - 1))


def retry_after(exc: BaseException, now: Callable[[], float] = time.time) -> float | None:
    """Seconds the provider asked to wait: `retry-after-ms`, else `retry-after` (seconds or an HTTP
    date) of the exception's response; None without one."""
    response = getattr(exc, "response", None)
    headers = getattr(response, "headers", None)
    if headers is None:
        return None
    raw_ms = headers.get("retry-after-ms")
    if raw_ms is not None:
        try:
            value = float(raw_ms) / 1000
            if value >= 0:
                return value
        except ValueError:  # mosaic-diag: ignore[MD006]
            pass
    raw = headers.get("retry-after")
    if raw is None:
        return None
    try:
        value = float(raw)
        return value if value >= 0 else None
    except ValueError:  # mosaic-diag: ignore[MD006]
        pass
    try:
        return max(0.0, parsedate_to_datetime(raw).timestamp() - now())
    except (TypeError, ValueError, IndexError):
        return None


@dataclass(frozen=True)
class Attempt:
    """One failed attempt, as logged."""

    provider: str
    label: str
    attempt: int
    attempts: int
    delay: float | None          # None: no retry follows
    retry_after: float | None
    reason: str  # retrying | not_retryable | attempts_exhausted | budget_exhausted | retry_after_too_long
    #              | mid_stream (a stream failed after its first item: never retried)

    def to_dict(self) -> dict[str, Any]:
        return {"provider": self.provider, "label": self.label, "attempt": self.attempt,
                "attempts": self.attempts, "delay": None if self.delay is None else round(self.delay, 3),
                "retry_after": self.retry_after, "reason": self.reason}


def _log(record: Attempt) -> None:
    delay = "none" if record.delay is None else f"{record.delay:.3f}s"
    logger.warning("llm retry notice: provider=%s label=%s attempt=%d/%d delay=%s reason=%s", record.provider,
                   record.label, record.attempt, record.attempts, delay, record.reason,
                   extra={"mosaic_retry": record.to_dict()})


class _Run:
    """The state of one retried call: its start, the verdict and wait of the last failure."""

    __slots__ = ("attempt", "clock", "delay", "planned", "policy", "provider", "rng", "start", "verdict", "wanted")

    def __init__(self, policy: RetryPolicy, provider: str, clock: Callable[[], float],
                 rng: Callable[[], float]) -> None:
        self.policy, self.provider, self.clock, self.rng = policy, provider, clock, rng
        self.start = clock()
        self.verdict: Verdict | None = None
        self.delay = 0.0
        self.wanted: float | None = None
        self.attempt = 1
        self.planned = 0  # the attempt whose wait `delay` and `wanted` are

    def should_retry(self, exc: BaseException) -> bool:
        self.verdict = classify_exception(exc)
        note_label(self.verdict.label)
        if not self.verdict.retryable:
            _log(Attempt(self.provider, self.verdict.label, self.attempt, self.policy.attempts, None, None,
                         "not_retryable"))
        return self.verdict.retryable

    def _plan(self, state: Any) -> None:
        """The wait after attempt `state.attempt_number` (`delay`, and `wanted`: the provider's), worked out once:
        tenacity before 8.3 asks `stop` before `wait`, 8.3 and later `wait` first; `stop` judges the wait that
        would follow this attempt either way (asked first, it judged the previous attempt's: a first retry-after of
        a day, or an HTTP date days away, was slept in full, past `cap` and `budget`)."""
        if self.planned == state.attempt_number:
            return
        self.planned = state.attempt_number
        exc = state.outcome.exception()
        self.wanted = retry_after(exc) if self.policy.honour_retry_after else None
        if self.wanted is not None:
            self.delay = self.wanted
        else:
            self.delay = self.rng() * self.policy.ceiling(state.attempt_number)

    def wait(self, state: Any) -> float:
        self._plan(state)
        return self.delay

    def stop(self, state: Any) -> bool:
        self._plan(state)
        policy, number = self.policy, state.attempt_number
        label = self.verdict.label if self.verdict else "UNKNOWN_ERROR"
        reason = "retrying"
        if number >= policy.attempts:
            reason = "attempts_exhausted"
        elif self.wanted is not None and self.wanted > policy.cap:
            reason = "retry_after_too_long"
        elif self.clock() - self.start + self.delay > policy.budget:
            reason = "budget_exhausted"
        stop = reason != "retrying"
        _log(Attempt(self.provider, label, number, policy.attempts, None if stop else self.delay, self.wanted,
                     reason))
        self.attempt = number + 1
        return stop


def llm_call(provider: str, *, policy: RetryPolicy | None = None, breaker: Any = None,
             sleep: Callable[[float], None] = time.sleep, clock: Callable[[], float] = time.monotonic,
             rng: Callable[[], float] = random.random) -> Callable[[Callable[..., T]], Callable[..., T]]:
    """Decorate a provider call: retry what the taxonomy calls retryable (see the module doc), inside
    `breaker` when given (a breaker counts the call's final outcome, once). A generator function (a
    stream: sync or async) is retried until it yields its first item; a failure after that reaches
    the caller as it is (what was delivered cannot be taken back), classified like any other (its
    label noted, one retry notice with reason `mid_stream`). Under a breaker a stream is one call from
    its opening to its end: a failure mid-way counts as a failure before it would (once); a stream the
    caller closes early (`close`, `aclose`, a cancelled task) counts as nothing, neither an answer nor a
    failure, and gives back a half-open trial it held. An `async def` call (or async stream) goes through
    the breaker's `calling_async`: the same circuit, counted the same way, as sync calls of the same
    breaker. The wrapped function carries `provider` as `__mosaic_provider__` (failover names the
    provider that answered with it).
    `sleep`, `clock` and `rng` are for tests."""
    import tenacity

    chosen = policy or RetryPolicy()

    def retrying(fn: Callable[..., T]) -> Callable[..., T]:
        warned: list[bool] = []

        def sync_sleep(seconds: float) -> None:
            if seconds > 0 and not warned and on_event_loop():
                warned.append(True)
                logger.warning("llm_call: provider=%s: %s is a sync call waiting %.3f s between attempts on the "
                               "event loop's thread, which stops every other request meanwhile: make it an "
                               "`async def` call, or the endpoint a plain `def` (run in the thread pool)",
                               provider, getattr(fn, "__qualname__", "the call"), seconds)
            sleep(seconds)

        @functools.wraps(fn)  # what a breaker's listeners are given as `func` (the app's function)
        def retried(*args: Any, **kwargs: Any) -> T:
            run = _Run(chosen, provider, clock, rng)
            try:  # the happy path costs one call: tenacity takes over at the first failure
                return fn(*args, **kwargs)
            except Exception as exc:
                first: Exception | None = exc

            def attempt() -> T:
                nonlocal first
                if first is not None:  # attempt 1 already ran: its failure goes through the policy
                    failed, first = first, None
                    raise failed
                return fn(*args, **kwargs)

            retrying = tenacity.Retrying(
                retry=tenacity.retry_if_exception(run.should_retry), wait=run.wait, stop=run.stop,
                sleep=sync_sleep, reraise=True)
            return retrying(attempt)

        return retried

    def decorate(fn: Callable[..., T]) -> Callable[..., T]:
        if breaker is not None and not hasattr(breaker, "calling_async") and (
                inspect.iscoroutinefunction(fn) or inspect.isasyncgenfunction(fn)):
            raise TypeError(f"llm_call: {type(breaker).__name__} has no calling_async: guard an async call with "
                            "mosaic_diag.runtime.breaker(...)")
        if inspect.isgeneratorfunction(fn):  # a stream: retried until its first item, never after
            opened = retrying(_first_item(fn))

            @functools.wraps(fn)
            def delivered(*args: Any, **kwargs: Any) -> Any:
                yield from _delivered(opened, provider, chosen, args, kwargs)

            @functools.wraps(fn)
            def stream(*args: Any, **kwargs: Any) -> Any:
                if breaker is None:
                    yield from delivered(*args, **kwargs)
                else:  # the breaker's call spans the stream: its outcome is the stream's end
                    yield from breaker.call(delivered, *args, **kwargs)

            stream.__mosaic_provider__ = provider  # type: ignore[attr-defined]
            stream.__mosaic_breaker__ = breaker  # type: ignore[attr-defined]
            return stream
        if inspect.isasyncgenfunction(fn):
            async_opened = _decorate_async(_first_item_async(fn), provider, chosen, sleep, clock, rng)

            @functools.wraps(fn)
            async def async_stream(*args: Any, **kwargs: Any) -> Any:
                # under a breaker the stream is one call from its opening to its end, as a sync stream
                async with (contextlib.nullcontext() if breaker is None
                            else breaker.calling_async(fn, *args, **kwargs)):
                    tries = [0]
                    started, first, rest = await async_opened(tries, *args, **kwargs)
                    if not started:
                        return
                    yield first
                    try:
                        async for item in rest:
                            yield item
                    except Exception as exc:
                        _broken(provider, chosen, tries[0], exc)
                        raise

            async_stream.__mosaic_provider__ = provider  # type: ignore[attr-defined]
            async_stream.__mosaic_breaker__ = breaker  # type: ignore[attr-defined]
            return async_stream
        if inspect.iscoroutinefunction(fn):
            async_retried = _decorate_async(fn, provider, chosen, sleep, clock, rng)
            if breaker is None:
                return async_retried

            @functools.wraps(fn)
            async def async_guarded(*args: Any, **kwargs: Any) -> Any:
                async with breaker.calling_async(async_retried, *args, **kwargs):
                    return await async_retried(*args, **kwargs)

            async_guarded.__mosaic_provider__ = provider  # type: ignore[attr-defined]
            async_guarded.__mosaic_breaker__ = breaker  # type: ignore[attr-defined]
            return async_guarded  # type: ignore[return-value]

        retried = retrying(fn)
        call = retried if breaker is None else functools.partial(breaker.call, retried)

        @functools.wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> T:
            return call(*args, **kwargs)

        wrapper.__mosaic_provider__ = provider  # type: ignore[attr-defined]
        wrapper.__mosaic_breaker__ = breaker  # type: ignore[attr-defined]
        return wrapper

    return decorate


def _delivered(opened: Callable[..., tuple[bool, Any, Any]], provider: str, policy: RetryPolicy,
               args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    """One stream: opened (with retries), then its items; a failure after the first item is classified
    (`_broken`) and raised on. The caller closing it is not classified (GeneratorExit is no Exception)."""
    tries = [0]
    started, first, rest = opened(tries, *args, **kwargs)
    if not started:
        return
    yield first
    try:
        yield from rest
    except Exception as exc:
        _broken(provider, policy, tries[0], exc)
        raise


def _broken(provider: str, policy: RetryPolicy, attempt: int, exc: BaseException) -> None:
    """A stream that failed after its first item: the label noted and logged, once; never retried."""
    label = classify_exception(exc).label
    note_label(label)
    _log(Attempt(provider, label, attempt, policy.attempts, None, None, "mid_stream"))


def _first_item(fn: Callable[..., Any]) -> Callable[..., tuple[bool, Any, Any]]:
    """A generator function as a call that opens the stream: (started, first item, the rest); `tries[0]`
    counts the attempts."""
    def open_stream(tries: list[int], *args: Any, **kwargs: Any) -> tuple[bool, Any, Any]:
        tries[0] += 1
        items = fn(*args, **kwargs)
        try:
            return True, next(items), items
        except StopIteration:
            return False, None, iter(())

    return open_stream


def _first_item_async(fn: Callable[..., Any]) -> Callable[..., Any]:
    """An async generator function as a coroutine that opens the stream: (started, first item, the rest)."""
    async def empty() -> Any:
        return
        yield  # pragma: no cover - makes this an async generator

    async def open_stream(tries: list[int], *args: Any, **kwargs: Any) -> tuple[bool, Any, Any]:
        tries[0] += 1
        items = fn(*args, **kwargs)
        try:
            return True, await items.__anext__(), items
        except StopAsyncIteration:
            return False, None, empty()

    return open_stream


def _decorate_async(fn: Callable[..., Any], provider: str, policy: RetryPolicy, sleep: Callable[[float], Any],
                    clock: Callable[[], float], rng: Callable[[], float]) -> Callable[..., Any]:
    """`llm_call` of an `async def` provider call: the same policy on tenacity's AsyncRetrying."""
    import asyncio

    import tenacity

    async def pause(seconds: float) -> None:
        if sleep is time.sleep:  # the default: do not block the event loop
            await asyncio.sleep(seconds)
            return
        result = sleep(seconds)
        if inspect.isawaitable(result):
            await result

    @functools.wraps(fn)
    async def wrapper(*args: Any, **kwargs: Any) -> Any:
        run = _Run(policy, provider, clock, rng)
        try:
            return await fn(*args, **kwargs)
        except Exception as exc:
            first: Exception | None = exc

        async def attempt() -> Any:
            nonlocal first
            if first is not None:
                failed, first = first, None
                raise failed
            return await fn(*args, **kwargs)

        retrying = tenacity.AsyncRetrying(
            retry=tenacity.retry_if_exception(run.should_retry), wait=run.wait, stop=run.stop, sleep=pause,
            reraise=True)
        return await retrying(attempt)

    wrapper.__mosaic_provider__ = provider  # type: ignore[attr-defined]
    wrapper.__mosaic_breaker__ = None  # type: ignore[attr-defined]
    return wrapper
