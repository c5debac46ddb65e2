"""Benchmark: the runtime kit's overhead. Targets (issue 13): importing the kit < 50 ms beyond its
dependencies; `classify_exception` < 100 µs on a warm cache; the decorators and the middleware
< 100 µs per call / request on the happy path.

Run by hand: `python bench/bench_runtime.py [--requests 2000]`. Figures:
- import: median over 7 child processes of the kit's import after its dependencies were imported
  (and, apart, of loading the classifier and taxonomy, done at the first failure or by `warm_up()`);
- classify_exception: a real openai.RateLimitError from the LLM stand-in, the first (cold) call and
  the mean of 100,000 warm calls (a new exception object with another request id each 1,000 calls);
- decorators: a no-op provider function bare, under `llm_call`, under `llm_call` + a memory breaker,
  under `failover` of two such functions (mean of 100,000 calls each); the same for an `async def`
  function awaited in one event loop (bare, `llm_call`, `llm_call` + memory breaker);
- PostgreSQL breaker (`--postgres`, a throwaway server from examples.pgtemp): a no-op call under
  `llm_call` + a PostgreSQL breaker, sync and async (mean of 2,000 calls each: the round trips, and for
  the async call the hops to the store's thread);
- request window: `RequestWindow.record` per request and `stats()` per /health poll on a full window of
  100,000 requests (`--only-window`: this alone, and on 1,000);
- middleware: a loopback request (httpx, keep-alive) to the same FastAPI app under uvicorn with
  (`instrument.Middleware` + `llm_call` + breaker) and without the kit, alternating, median of each.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
DEPS = "import openai, anthropic, tenacity, pybreaker, fastapi, pydantic, psycopg2"
KIT = ("import mosaic_diag.runtime as r; from mosaic_diag.runtime import llm_call, breaker, failover, schema_guard, "
       "health_router, instrument, classify_exception; from mosaic_diag.runtime import guard, health")


def child_seconds(code: str, before: str = "pass") -> float:
    script = f"import time; {before}; t = time.perf_counter(); {code}; print(time.perf_counter() - t)"
    out = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, check=True,
                         env={**os.environ, "PYTHONPATH": str(ROOT)})
    return float(out.stdout.strip())


def bench_import(runs: int = 7) -> dict[str, float]:
    deps = statistics.median(child_seconds(DEPS) for _ in range(runs))
    kit = statistics.median(child_seconds(KIT, before=DEPS) for _ in range(runs))
    warm = statistics.median(child_seconds("from mosaic_diag.runtime.verdict import warm_up; warm_up()",
                                           before=f"{DEPS}; {KIT}") for _ in range(runs))
    return {"deps_ms": round(deps * 1000, 1), "kit_after_deps_ms": round(kit * 1000, 1),
            "classifier_warm_up_ms": round(warm * 1000, 1)}


def per_call_us(fn, n: int = 100_000) -> float:
    start = time.perf_counter()
    for _ in range(n):
        fn()
    return (time.perf_counter() - start) / n * 1e6


def bench_classify(standin) -> dict[str, float]:
    import openai

    from mosaic_diag.runtime import classify_exception
    from mosaic_diag.runtime.verdict import DEFAULT_CACHE

    client = openai.OpenAI(api_key="sk-bench", base_url=standin.openai_base_url, max_retries=0)
    standin.set_failure("openai", "rate_limit")
    errors = []
    for _ in range(100):
        try:
            client.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}])
        except openai.RateLimitError as exc:
            errors.append(exc)
    DEFAULT_CACHE.clear()
    start = time.perf_counter()
    label = classify_exception(errors[0]).label
    cold = (time.perf_counter() - start) * 1e6
    i = [0]

    def warm() -> None:
        i[0] += 1
        classify_exception(errors[(i[0] // 1000) % len(errors)])

    return {"label": label, "cold_us": round(cold, 1), "warm_us": round(per_call_us(warm), 2),
            "cache_hits": DEFAULT_CACHE.hits, "cache_misses": DEFAULT_CACHE.misses}


def bench_decorators() -> dict[str, float]:
    from mosaic_diag.runtime import breaker, failover, llm_call

    def bare() -> int:
        return 1

    retried = llm_call(provider="openai")(bare)
    guarded = llm_call(provider="openai", breaker=breaker("bench-mem"))(bare)
    both = failover(retried, llm_call(provider="anthropic")(bare))
    base = per_call_us(bare)
    return {"bare_us": round(base, 2), "llm_call_us": round(per_call_us(retried) - base, 2),
            "llm_call_breaker_us": round(per_call_us(guarded) - base, 2),
            "failover_us": round(per_call_us(both) - base, 2)}


def per_await_us(make, n: int = 100_000) -> float:
    import asyncio

    async def loop() -> float:
        start = time.perf_counter()
        for _ in range(n):
            await make()
        return (time.perf_counter() - start) / n * 1e6

    return asyncio.run(loop())


def bench_async_decorators() -> dict[str, float]:
    from mosaic_diag.runtime import breaker, llm_call

    async def bare() -> int:
        return 1

    base = per_await_us(bare)
    return {"async_bare_us": round(base, 2),
            "async_llm_call_us": round(per_await_us(llm_call(provider="openai")(bare)) - base, 2),
            "async_llm_call_breaker_us": round(per_await_us(
                llm_call(provider="openai", breaker=breaker("bench-async-mem"))(bare)) - base, 2)}


def bench_postgres_breaker(n: int = 2000) -> dict[str, float]:
    import tempfile

    from examples.pgtemp import TempPostgres
    from mosaic_diag.runtime import breaker, llm_call

    def bare() -> int:
        return 1

    async def abare() -> int:
        return 1

    with tempfile.TemporaryDirectory() as tmp, TempPostgres(Path(tmp)) as pg:
        dsn = pg.create_database("bench_breaker")
        guarded = llm_call(provider="openai", breaker=breaker("bench-pg", storage=dsn, register=False))(bare)
        aguarded = llm_call(provider="openai", breaker=breaker("bench-pg", storage=dsn, register=False))(abare)
        for _ in range(100):
            guarded()
        sync_us = per_call_us(guarded, n)
        async_us = per_await_us(aguarded, n)
    return {"calls": n, "sync_pg_breaker_us": round(sync_us, 1), "async_pg_breaker_us": round(async_us, 1)}


def bench_middleware(requests: int) -> dict[str, float]:
    import httpx

    from examples.pgtemp import free_port

    servers, urls = [], {}
    try:
        for kit in ("0", "1"):
            port = free_port()
            servers.append(subprocess.Popen(
                [sys.executable, "-m", "uvicorn", "bench.runtime_app:app", "--port", str(port), "--no-access-log",
                 "--log-level", "warning"], cwd=ROOT, env={**os.environ, "MOSAIC_KIT": kit, "PYTHONPATH": str(ROOT)},
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
            urls[kit] = f"http://127.0.0.1:{port}/ask?q=hello"
        times: dict[str, list[float]] = {"0": [], "1": []}
        with httpx.Client() as client:
            for url in urls.values():
                for _ in range(100):
                    try:
                        client.get(url)
                        break
                    except httpx.TransportError:
                        time.sleep(0.1)
                for _ in range(50):
                    client.get(url)
            for _ in range(requests):
                for kit, url in urls.items():
                    start = time.perf_counter()
                    client.get(url).raise_for_status()
                    times[kit].append(time.perf_counter() - start)
    finally:
        for proc in servers:
            proc.terminate()
            proc.wait(10)
    without, with_kit = (statistics.median(times[k]) * 1e6 for k in ("0", "1"))
    return {"requests": requests, "without_kit_us": round(without, 1), "with_kit_us": round(with_kit, 1),
            "overhead_us": round(with_kit - without, 1)}


def bench_window(size: int = 100_000, polls: int = 50) -> dict[str, float]:
    """`RequestWindow.record` per request and `stats()` per /health poll on a window holding `size` requests
    (lognormal latencies, 2% errors), a few new requests between polls as under load."""
    import random

    from mosaic_diag.runtime.instrument import RequestWindow

    rng = random.Random(7)
    window = RequestWindow(limit=size)
    values = [(rng.lognormvariate(3.5, 1.0), 503 if rng.random() < 0.02 else 200) for _ in range(size)]
    start = time.perf_counter()
    for latency, status in values:
        window.record(latency, status, "OPENAI_SERVER_ERROR" if status >= 500 else None)
    record_us = (time.perf_counter() - start) / size * 1e6
    times = []
    for i in range(polls):
        for latency, status in values[i * 20:(i + 1) * 20]:
            window.record(latency, status)
        start = time.perf_counter()
        window.stats()
        times.append(time.perf_counter() - start)
    return {"requests_in_window": size, "record_us": round(record_us, 2),
            "stats_ms_median": round(statistics.median(times) * 1000, 3)}


def main() -> int:
    import json

    from examples.llm_standin import LLMStandIn

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--postgres", action="store_true", help="also time a PostgreSQL breaker (sync, async)")
    parser.add_argument("--only-decorators", action="store_true", help="the decorators' figures only")
    parser.add_argument("--only-window", action="store_true", help="the /health request window's figures only")
    args = parser.parse_args()
    if args.only_window:
        print(json.dumps({"window": bench_window(), "window_1k": bench_window(1000)}), flush=True)
        return 0
    if args.only_decorators:
        print(json.dumps({"decorators": bench_decorators(), "async": bench_async_decorators()}), flush=True)
        if args.postgres:
            print(json.dumps({"postgres_breaker": bench_postgres_breaker()}), flush=True)
        return 0
    print(json.dumps({"import": bench_import()}), flush=True)
    with LLMStandIn() as standin:
        print(json.dumps({"classify_exception": bench_classify(standin)}), flush=True)
    print(json.dumps({"decorators": bench_decorators()}), flush=True)
    print(json.dumps({"async_decorators": bench_async_decorators()}), flush=True)
    if args.postgres:
        print(json.dumps({"postgres_breaker": bench_postgres_breaker()}), flush=True)
    print(json.dumps({"window": bench_window()}), flush=True)
    print(json.dumps({"middleware": bench_middleware(args.requests)}), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
