"""Run golden cases against a target: bounded concurrency, timeouts, backoff, repeats."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

from mosaic_diag.golden.assertions import check_answer, check_latency, percentile
from mosaic_diag.golden.cases import Case
from mosaic_diag.golden.report import Attempt, CaseResult, Explanation, GoldenReport
from mosaic_diag.golden.targets import Answer, AppTimeoutError, Target
from mosaic_diag.platform.redact import redact_text

EXCERPT_CHARS = 2000


@dataclass(frozen=True)
class RunOptions:
    """How to run: `timeout` per request, `global_timeout` for the whole run (seconds)."""

    concurrency: int = 4
    timeout: float = 30.0
    global_timeout: float = 600.0
    repeat: int = 1
    min_pass: int | None = None  # None: every repeat must pass
    retries: int = 2  # extra tries of one request answered 429/5xx
    backoff_base: float = 0.5
    backoff_max: float = 8.0
    probe_path: str = "/health"
    explain: bool = True

    @property
    def required_passes(self) -> int:
        return self.repeat if self.min_pass is None else self.min_pass


class Clock(Protocol):
    def monotonic(self) -> float: ...

    def sleep(self, seconds: float) -> None: ...

    def now(self) -> datetime: ...


class SystemClock:
    """The real clock."""

    def monotonic(self) -> float:
        return time.monotonic()

    def sleep(self, seconds: float) -> None:
        time.sleep(seconds)

    def now(self) -> datetime:
        return datetime.now(UTC)


@dataclass(frozen=True)
class _Outcome:
    attempt: Attempt
    body: str | None


def _call_with_timeout(fn: Callable[[], Answer], timeout: float) -> Answer:
    """Run `fn` in a thread; TimeoutError if it has not answered within `timeout` seconds."""
    box: dict[str, Any] = {}

    def run() -> None:
        try:
            box["value"] = fn()
        except BaseException as exc:  # handed to the caller below
            box["error"] = exc

    worker = threading.Thread(target=run, daemon=True, name="golden-request")
    worker.start()
    worker.join(timeout)
    if worker.is_alive():
        raise AppTimeoutError(timeout)
    if "error" in box:
        raise box["error"]
    return box["value"]


def _retry_after(headers: Any) -> float | None:
    value = headers.get("retry-after") if headers else None
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None


def _error_text(exc: BaseException, timeout: float) -> str:
    name = f"{type(exc).__module__}.{type(exc).__name__}".removeprefix("builtins.")
    if isinstance(exc, TimeoutError) or type(exc).__name__.endswith("Timeout"):  # APP_TIMEOUT by the classifier
        return f"timeout: the app did not answer within {timeout:g}s ({name})"
    return redact_text(f"{name}: {exc}")


def _attempt(case: Case, target: Target, options: RunOptions, clock: Clock,
             deadline: float) -> _Outcome:
    if clock.monotonic() >= deadline:
        return _Outcome(Attempt(None, 0.0, error="not run: the global timeout was reached"), None)
    timeout = case.timeout or options.timeout
    retries = 0
    while True:
        start = clock.monotonic()
        try:
            answer = _call_with_timeout(lambda: target.send(
                case.method, case.path, json=case.json, headers=dict(case.headers),
                params=dict(case.query), timeout=timeout), timeout)
        except Exception as exc:  # transport errors and timeouts are the case's result
            return _Outcome(Attempt(None, (clock.monotonic() - start) * 1000,
                                    error=_error_text(exc, timeout), retries=retries), None)
        latency = (clock.monotonic() - start) * 1000
        expected = case.expect.status or ()
        retryable = (answer.status == 429 or answer.status >= 500) and answer.status not in expected
        if retryable and retries < options.retries:
            delay = _retry_after(answer.headers)
            if delay is None:
                delay = options.backoff_base * 2**retries
            delay = min(delay, options.backoff_max)
            if clock.monotonic() + delay < deadline:
                clock.sleep(delay)
                retries += 1
                continue
        failures = check_answer(case.expect, answer.status, answer.body)
        excerpt = redact_text(answer.body[:EXCERPT_CHARS])
        return _Outcome(Attempt(answer.status, latency, failures, None, excerpt, retries),
                        answer.body)


def _aggregate(case: Case, outcomes: Sequence[_Outcome], options: RunOptions) -> CaseResult:
    attempts = tuple(o.attempt for o in outcomes)
    latencies = [a.latency_ms for a in attempts if a.status is not None]
    latency_failures = check_latency(case.expect, latencies)
    passes = sum(1 for a in attempts if a.ok)
    runs = len(attempts)
    if passes == runs and not latency_failures:
        outcome = "pass"
    elif passes and not latency_failures:
        outcome = "flaky"
    elif all(a.error for a in attempts):
        outcome = "error"
    else:
        outcome = "fail"
    required = min(options.required_passes, runs)
    ok = passes >= required and not latency_failures
    failures: list[str] = []
    for a in attempts:
        for msg in ((a.error,) if a.error else a.failures):
            if msg not in failures:
                failures.append(msg)
    failures += latency_failures
    explanation: Explanation | None = None
    if not ok and options.explain:
        from mosaic_diag.golden.explain import explain

        failed = [o for o in outcomes if not o.attempt.ok]
        if failed:
            explanation = explain(failed[-1].attempt, failed[-1].body)
    return CaseResult(
        case_id=case.id, file=case.file, line=case.line, tags=case.tags, outcome=outcome, ok=ok,
        passes=passes, runs=runs, min_pass=required, failures=tuple(failures),
        latency_p50_ms=percentile(latencies, 50), latency_p95_ms=percentile(latencies, 95),
        attempts=attempts, explanation=explanation,
    )


def run_cases(cases: Sequence[Case], target: Target, options: RunOptions,
              clock: Clock | None = None) -> GoldenReport:
    """Run every case `options.repeat` times against a started target (see `open_target`)."""
    clock = clock or SystemClock()
    started_at = clock.now().isoformat()
    t0 = clock.monotonic()
    deadline = t0 + options.global_timeout
    work = [(case, i) for case in cases for i in range(options.repeat)]
    results: dict[tuple[str, int], _Outcome] = {}
    pool = ThreadPoolExecutor(max_workers=max(1, options.concurrency), thread_name_prefix="golden")
    futures: dict[Future[_Outcome], tuple[str, int]] = {
        pool.submit(_attempt, case, target, options, clock, deadline): (case.id, i)
        for case, i in work
    }
    pending = set(futures)
    try:
        while pending:
            remaining = deadline - clock.monotonic()
            if remaining <= 0:
                break
            done, pending = wait(pending, timeout=remaining, return_when=FIRST_COMPLETED)
            for fut in done:
                results[futures[fut]] = fut.result()
    finally:
        pool.shutdown(wait=not pending, cancel_futures=True)
    late = Attempt(None, 0.0, error=f"not finished: the global timeout "
                                    f"({options.global_timeout:g}s) was reached")
    out = []
    for case in cases:
        outcomes = [results.get((case.id, i), _Outcome(late, None)) for i in range(options.repeat)]
        out.append(_aggregate(case, outcomes, options))
    return GoldenReport(target=target.name, started_at=started_at,
                        duration_ms=(clock.monotonic() - t0) * 1000, results=tuple(out))
