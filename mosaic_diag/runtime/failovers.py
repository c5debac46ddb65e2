"""Failover from a primary provider to a secondary, decided by the label and the breaker.

    answer = failover(ask_openai, ask_claude)(prompt)
    answer.provider, answer.value

The secondary is asked when the primary's breaker is open or the primary's error is
`provider_wide` in the taxonomy (rate limit after retries, overloaded, 5xx, timeout, connection,
quota, a rejected key). Errors the secondary would share are raised as they are: a context
overflow (truncate instead), filtered content, a bad request of ours. When both fail,
`ProvidersFailed` carries both classified failures.
"""

from __future__ import annotations

import inspect
import logging
import sys
import threading
import time
from collections import Counter, deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from mosaic_diag.runtime.context import note_label
from mosaic_diag.runtime.verdict import classify_exception

T = TypeVar("T")
logger = logging.getLogger("mosaic.runtime.failover")
BREAKER_OPEN = "BREAKER_OPEN"


@dataclass(frozen=True)
class Failure:
    """One provider's classified failure."""

    provider: str
    label: str  # a taxonomy label, or BREAKER_OPEN when the call was not made
    exception: BaseException

    def describe(self) -> str:
        cls = type(self.exception)
        name = f"{cls.__module__}.{cls.__name__}".removeprefix("builtins.")
        return f"{self.provider}: {self.label} ({name}: {self.exception})"


@dataclass(frozen=True)
class FailoverResult(Generic[T]):
    """The answer and the provider that gave it; `failures` are the providers tried before."""

    provider: str
    value: T
    failures: tuple[Failure, ...] = ()

    @property
    def failed_over(self) -> bool:
        return bool(self.failures)


class ProvidersFailed(Exception):
    """Every provider failed; `failures` holds each one's label and exception."""

    def __init__(self, failures: tuple[Failure, ...]) -> None:
        self.failures = failures
        super().__init__("; ".join(f.describe() for f in failures))


class FailoverWindow:
    """The provider failures `failover` moved on from (or ended with) over the last `seconds`, for
    /health: a failover that answers is a 200, so without it a primary that is down stays unseen."""

    def __init__(self, seconds: float = 300.0, clock: Callable[[], float] = time.monotonic,
                 limit: int = 10_000) -> None:
        self.seconds = seconds
        self._clock = clock
        self._items: deque[tuple[float, str, str, str | None]] = deque(maxlen=limit)
        self._lock = threading.Lock()

    def record(self, provider: str, label: str, next_provider: str | None) -> None:
        with self._lock:
            self._items.append((self._clock(), provider, label, next_provider))

    def stats(self) -> dict[str, Any]:
        """`total` failovers made, `exhausted` calls every provider failed, `reasons` by
        "provider LABEL -> next" (next `none`: nobody was left to ask)."""
        cutoff = self._clock() - self.seconds
        with self._lock:
            while self._items and self._items[0][0] < cutoff:
                self._items.popleft()
            items = list(self._items)
        reasons = Counter(f"{provider} {label} -> {following or 'none'}" for _, provider, label, following in items)
        return {"total": sum(1 for i in items if i[3] is not None), "exhausted": sum(1 for i in items if i[3] is None),
                "window_seconds": self.seconds, "reasons": dict(reasons.most_common(10))}

    def clear(self) -> None:
        with self._lock:
            self._items.clear()


DEFAULT_FAILOVERS = FailoverWindow()


def provider_name(fn: Callable[..., Any]) -> str:
    """`llm_call(provider=...)`'s name, else the function's name."""
    return str(getattr(fn, "__mosaic_provider__", None) or getattr(fn, "__name__", "provider"))


def breaker_open(exc: BaseException) -> bool:
    """Whether the exception says a breaker refused the call (pybreaker's CircuitBreakerError)."""
    module = sys.modules.get("pybreaker")
    return module is not None and isinstance(exc, module.CircuitBreakerError)


def should_fail_over(exc: BaseException) -> tuple[bool, str]:
    """(fail over?, label): yes for an open breaker and for provider-wide labels."""
    if breaker_open(exc):
        return True, BREAKER_OPEN
    verdict = classify_exception(exc)
    return verdict.provider_wide, verdict.label


def failover(*providers: Callable[..., T], on_failure: Callable[[Failure, str | None], None] | None = None,
             window: FailoverWindow | None = None) -> Callable[..., FailoverResult[T]]:
    """Call the providers in order (see the module doc); each is usually an `llm_call` function.
    With an `async def` among them the result is an async function (await it).
    `on_failure(failure, next_provider)` is called for each failure (next_provider None: nobody else
    is asked) inside the `except` block, so it can log with `exc_info=True`; without it a failover is
    logged as a WARNING on `mosaic.runtime.failover`. Each failover, and each call that every provider
    failed, is counted in `window` (the one /health reads by default)."""
    if len(providers) < 2:
        raise ValueError("failover needs at least two providers")

    def failed(index: int, exc: Exception, failures: list[Failure]) -> None:
        """Record a provider's failure; raise unless the next provider is to be asked."""
        name = provider_name(providers[index])
        move_on, label = should_fail_over(exc)
        note_label(label)
        failure = Failure(name, label, exc)
        failures.append(failure)
        last = index + 1 == len(providers)
        following = None if last or not move_on else provider_name(providers[index + 1])
        if on_failure is not None:
            on_failure(failure, following)
        if not move_on and len(failures) == 1:
            raise exc
        (window or DEFAULT_FAILOVERS).record(name, label, following)
        if following is None:
            raise ProvidersFailed(tuple(failures)) from exc
        if on_failure is None:
            logger.warning("failover: provider=%s label=%s next=%s", name, label, following,
                           extra={"mosaic_failover": {"provider": name, "label": label, "next": following}})

    if any(inspect.iscoroutinefunction(fn) for fn in providers):
        async def call_async(*args: Any, **kwargs: Any) -> FailoverResult[Any]:
            failures: list[Failure] = []
            for index, fn in enumerate(providers):
                try:
                    value = fn(*args, **kwargs)
                    if inspect.isawaitable(value):
                        value = await value
                except Exception as exc:
                    failed(index, exc, failures)
                    continue
                return FailoverResult(provider_name(fn), value, tuple(failures))
            raise AssertionError("unreachable")

        return call_async  # type: ignore[return-value]

    def call(*args: Any, **kwargs: Any) -> FailoverResult[T]:
        failures: list[Failure] = []
        for index, fn in enumerate(providers):
            try:
                value = fn(*args, **kwargs)
            except Exception as exc:
                failed(index, exc, failures)
                continue
            return FailoverResult(provider_name(fn), value, tuple(failures))
        raise AssertionError("unreachable")

    return call
