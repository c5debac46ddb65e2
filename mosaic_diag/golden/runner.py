"""Run golden cases against a target: bounded concurrency, timeouts, backoff, repeats."""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

from mosaic_diag.golden.assertions import REGEX_TIMEOUT, check_answer, check_latency, percentile
from mosaic_diag.golden.cases import Case
from mosaic_diag.golden.report import Attempt, CaseResult, Explanation, GoldenReport
from mosaic_diag.golden.targets import Answer, AppTimeoutError, Target
from mosaic_diag.platform.redact import redact_cut, redact_text

EXCERPT_CHARS = 2000
PROVIDER_HEADER = "X-Mosaic-LLM-Provider"  # tells the app which LLM provider to use (no failover)
PROVIDERS = ("openai", "anthropic")


class ResponseCache(Protocol):
    """Answers kept by request (golden --cache): `get` None when not cached."""

    def get(self, key: str) -> Answer | None: ...

    def put(self, key: str, answer: Answer) -> None: ...


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
    providers: tuple[str | None, ...] = (None,)  # a provider matrix: each case once per provider
    provider_header: str = PROVIDER_HEADER
    cache: ResponseCache | None = None
    pass_rate: float | None = None  # the suite passes when the weighted pass rate reaches it
    spent: float = 0.0  # seconds of the global timeout already used (starting the app)
    regex_timeout: float = REGEX_TIMEOUT  # seconds one regex assertion may search one answer (a case's wins)

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


def request_key(target: str, case: Case, headers: dict[str, str]) -> str:
    """What identifies a request for the response cache: target, method, path, query, headers, body."""
    import hashlib
    import json

    blob = json.dumps([target, case.method, case.path, sorted(case.query), sorted(headers.items()), case.json],
                      sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()


def _provider_failures(provider: str | None, answer: Answer) -> tuple[str, ...]:
    """With a provider matrix: a 2xx answer must come from the provider asked for (a failover is
    visible, not a pass)."""
    import json

    if provider is None or not 200 <= answer.status < 300:
        return ()
    try:
        data = json.loads(answer.body)
    except (ValueError, RecursionError):  # not JSON (or nested past the parser): no provider said
        return ()
    answered = data.get("provider") if isinstance(data, dict) else None
    if answered is not None and answered != provider:
        return (f"provider: answered by {answered}, not {provider} (the app failed over)",)
    return ()


def _attempt(case: Case, target: Target, options: RunOptions, clock: Clock,
             deadline: float, provider: str | None = None) -> _Outcome:
    if clock.monotonic() >= deadline:
        return _Outcome(Attempt(None, 0.0, error="not run: the global timeout was reached"), None)
    timeout = min(case.timeout or options.timeout, max(0.01, deadline - clock.monotonic()))
    headers = dict(case.headers)
    if provider is not None:
        headers[options.provider_header] = provider
    key = request_key(target.name, case, headers) if options.cache is not None else ""
    retries = 0
    while True:
        start = clock.monotonic()
        cached = options.cache.get(key) if options.cache is not None else None
        try:
            answer = cached or _call_with_timeout(lambda: target.send(
                case.method, case.path, json=case.json, headers=headers,
                params=dict(case.query), timeout=timeout), timeout)
        except Exception as exc:  # transport errors and timeouts are the case's result
            return _Outcome(Attempt(None, (clock.monotonic() - start) * 1000,
                                    error=_error_text(exc, timeout), retries=retries), None)
        if options.cache is not None and cached is None and 200 <= answer.status < 300:
            options.cache.put(key, answer)
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
        failures = check_answer(case.expect, answer.status, answer.body, where=f"{case.file}:{case.line}",
                                regex_timeout=case.regex_timeout or options.regex_timeout
                                ) + _provider_failures(provider, answer)
        # a failure quotes the answer (a schema error whole): redacted here, for every report and the state
        failures = tuple(redact_text(f) for f in failures)
        excerpt = redact_cut(answer.body, EXCERPT_CHARS)
        return _Outcome(Attempt(answer.status, latency, failures, None, excerpt, retries),
                        answer.body)


def _aggregate(case: Case, outcomes: Sequence[_Outcome], options: RunOptions,
               provider: str | None = None) -> CaseResult:
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
        case_id=case.id if provider is None else f"{case.id}[{provider}]", file=case.file, line=case.line,
        tags=case.tags, outcome=outcome, ok=ok, weight=case.weight,
        passes=passes, runs=runs, min_pass=required, failures=tuple(failures),
        latency_p50_ms=percentile(latencies, 50), latency_p95_ms=percentile(latencies, 95),
        attempts=attempts, explanation=explanation,
    )


def run_cases(cases: Sequence[Case], target: Target, options: RunOptions,
              clock: Clock | None = None,
              on_progress: Callable[[int, int], None] | None = None) -> GoldenReport:
    """Run every case `options.repeat` times (per provider of `options.providers`) against a started
    target (see `open_target`). Each request runs in a daemon thread: at the global timeout the run
    returns at once, whatever is still in flight (reported as not finished).

    `on_progress(done, total)` is called (from this thread) as runs finish: runs done, runs in all."""
    clock = clock or SystemClock()
    started_at = clock.now().isoformat()
    t0 = clock.monotonic()
    deadline = t0 + max(0.0, options.global_timeout - options.spent)
    work = [(case, provider, i) for case in cases for provider in options.providers for i in range(options.repeat)]
    results: dict[tuple[str, str | None, int], _Outcome] = {}
    done: queue.Queue[tuple[tuple[str, str | None, int], _Outcome]] = queue.Queue()

    def one(case: Case, provider: str | None, i: int) -> None:
        try:
            outcome = _attempt(case, target, options, clock, deadline, provider)
        except Exception as exc:  # noqa: BLE001 - a harness bug is this case's error, not a crash of the run
            outcome = _Outcome(Attempt(None, 0.0, error=redact_text(f"{type(exc).__name__}: {exc}")), None)
        done.put(((case.id, provider, i), outcome))

    queued = iter(work)
    running = 0
    if on_progress is not None:
        on_progress(0, len(work))
    while len(results) < len(work):
        while running < max(1, options.concurrency):
            item = next(queued, None)
            if item is None:
                break
            threading.Thread(target=one, args=item, daemon=True, name="golden-case").start()
            running += 1
        remaining = deadline - clock.monotonic()
        if remaining <= 0:
            break
        try:
            key, outcome = done.get(timeout=remaining)
        except queue.Empty:
            break
        results[key] = outcome
        running -= 1
        if on_progress is not None:
            on_progress(len(results), len(work))
    late = Attempt(None, 0.0, error=f"not finished: the global timeout "
                                    f"({options.global_timeout:g}s) was reached")
    out = []
    for case in cases:
        for provider in options.providers:
            outcomes = [results.get((case.id, provider, i), _Outcome(late, None)) for i in range(options.repeat)]
            out.append(_aggregate(case, outcomes, options, provider))
    return GoldenReport(target=target.name, started_at=started_at,
                        duration_ms=(clock.monotonic() - t0) * 1000, results=tuple(out),
                        pass_rate_min=options.pass_rate)
