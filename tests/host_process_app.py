"""An app that sets up its process the way apps do (logging by `dictConfig`, a warnings filter, its own loggers),
notes the process-wide state (`tests.hoststate`), then imports and uses every part of the runtime kit, for
tests/test_runtime_host_process.py under real uvicorn: `GET /host-state` answers what the kit changed since.

`python -m uvicorn tests.host_process_app:app --no-access-log` (env: DATABASE_URL, the breaker's and /health's
PostgreSQL; DEAD_LETTERS, the guard's store; GUARD_STORE_TIMEOUT and STORE_EXIT_WAIT, its waits; OPENAI_BASE_URL and
ANTHROPIC_BASE_URL, the LLM stand-in's; MOSAIC_DIAG_CACHE_DIR, a fresh cache: the redactor imports its detectors)."""

from __future__ import annotations

import contextlib
import logging
import logging.config
import os
import warnings
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from typing import Any

import anthropic
import openai
from fastapi import FastAPI
from fastapi.responses import JSONResponse
from pydantic import BaseModel

# the app's own set-up: before the kit is imported
logging.config.dictConfig({
    "version": 1, "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain", "stream": "ext://sys.stderr"}},
    "loggers": {"app": {"level": "INFO"},
                "app.audit": {"level": "WARNING", "handlers": ["console"], "propagate": False},
                "mosaic": {"level": "INFO"}, "httpx": {"level": "WARNING"},
                "detect-secrets": {"level": "WARNING"}},  # (a library the app quiets: the kit imports it later)
    "root": {"level": "INFO", "handlers": ["console"]},
})
warnings.simplefilter("default")
# what the framework sets up on its own, imported before the note (else it would count as the kit's): FastAPI's exit
# hook (registered at the first lifespan, where it exists), and the thread pool module of the event loop's default
# executor (its exit hook; the app's async HTTP client resolves names on that executor)
import concurrent.futures.thread  # noqa: E402,F401

with contextlib.suppress(ImportError):
    import fastapi.telemetry._runtime  # noqa: F401

from tests.hoststate import changes, snapshot  # noqa: E402

BEFORE = snapshot()

from mosaic_diag.runtime import (  # noqa: E402
    BreakerOpen,
    ProvidersFailed,
    RetryPolicy,
    SchemaRejected,
    breaker,
    breaker_states,
    classify_exception,
    failover,
    health_router,
    instrument,
    llm_call,
    open_dead_letters,
    safe_output,
    schema_guard,
    storethread,
    truncate,
)
from mosaic_diag.runtime.verdict import warm_up  # noqa: E402

# how long the exit waits for a dead letter stuck on a database that stopped answering (the kit's 5 s; the test's
# subject is that the exit comes, not when: an exit a thread held would not come at all)
storethread.EXIT_WAIT = float(os.environ.get("STORE_EXIT_WAIT", storethread.EXIT_WAIT))

log = logging.getLogger("app")


@asynccontextmanager
async def lifespan(_: FastAPI) -> AsyncIterator[None]:
    warm_up()
    yield


app = FastAPI(lifespan=lifespan)
app.add_middleware(instrument.Middleware)


def broken_extra() -> dict[str, Any]:
    raise RuntimeError("the app's extra check broke")


app.include_router(health_router(database=os.environ["DATABASE_URL"], commit="feedc0de" * 5, breakers=breaker_states,
                                 extra=broken_extra if os.environ.get("BROKEN_EXTRA") else None))

FAST = RetryPolicy(attempts=2, base=0.01, cap=0.01)
oai = openai.OpenAI(api_key="sk-test-key", base_url=os.environ["OPENAI_BASE_URL"], max_retries=0, timeout=10)
aoai = openai.AsyncOpenAI(api_key="sk-test-key", base_url=os.environ["OPENAI_BASE_URL"], max_retries=0, timeout=10)
claude = anthropic.Anthropic(api_key="sk-ant-test-key", base_url=os.environ["ANTHROPIC_BASE_URL"], max_retries=0,
                             timeout=10)
openai_breaker = breaker("openai", fail_max=2)                                    # memory
shared_breaker = breaker("openai-shared", storage=os.environ["DATABASE_URL"], fail_max=2)  # PostgreSQL, async


@llm_call(provider="openai", policy=FAST, breaker=openai_breaker)
def ask_openai(prompt: str) -> str:
    return oai.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": prompt}]
                                       ).choices[0].message.content or ""


@llm_call(provider="anthropic", policy=FAST)
def ask_claude(prompt: str) -> str:
    reply = claude.messages.create(model="claude-3-haiku-20240307", max_tokens=64,
                                   messages=[{"role": "user", "content": prompt}])
    return "".join(getattr(block, "text", "") for block in reply.content)


@llm_call(provider="openai", policy=FAST, breaker=shared_breaker)
async def ask_openai_async(prompt: str) -> str:
    reply = await aoai.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": prompt}])
    return reply.choices[0].message.content or ""


@llm_call(provider="openai", policy=FAST, breaker=openai_breaker)
def stream_openai(prompt: str) -> Iterator[str]:
    for chunk in oai.chat.completions.create(model="gpt-4o-mini", stream=True,
                                             messages=[{"role": "user", "content": prompt}]):
        yield (chunk.choices[0].delta.content or "") if chunk.choices else ""


class Answer(BaseModel):
    answer: str


guard = schema_guard(Answer, store=open_dead_letters(os.environ["DEAD_LETTERS"]),
                     store_timeout=float(os.environ.get("GUARD_STORE_TIMEOUT", "10")))


def outcome(call: Any, *args: Any) -> JSONResponse:
    """What a call of the kit came to: its answer, or the exception's class and label."""
    try:
        value = call(*args)
    except (openai.APIError, anthropic.APIError, BreakerOpen, ProvidersFailed) as exc:
        log.warning("the call failed: %s", type(exc).__name__)
        return JSONResponse({"error": type(exc).__name__, "label": classify_exception(exc).label}, status_code=503)
    return JSONResponse({"value": value if isinstance(value, str) else repr(value)})


@app.get("/ask")
def ask_route(q: str = "hello") -> JSONResponse:
    return outcome(ask_openai, q)


@app.get("/stream")
def stream_route(q: str = "hello") -> JSONResponse:
    return outcome(lambda prompt: "".join(stream_openai(prompt)), q)


@app.get("/failover")
def failover_route(q: str = "hello") -> JSONResponse:
    return outcome(lambda prompt: failover(ask_openai, ask_claude)(truncate(prompt, 6000).text).provider, q)


@app.get("/ask-async")
async def ask_async_route(q: str = "hello") -> JSONResponse:
    try:
        return JSONResponse({"value": await ask_openai_async(q)})
    except (openai.APIError, BreakerOpen) as exc:
        return JSONResponse({"error": type(exc).__name__, "label": classify_exception(exc).label}, status_code=503)


@app.get("/guarded")
async def guarded(q: str = "{}") -> JSONResponse:
    try:
        return JSONResponse((await guard.call_async(q, provider="openai")).model_dump())
    except SchemaRejected as exc:
        return JSONResponse({"rejected": exc.label, "dead_letter_id": exc.dead_letter_id}, status_code=422)


@app.get("/guarded-sync")
def guarded_sync(q: str = "{}") -> JSONResponse:
    try:
        return JSONResponse(guard(q, provider="openai").model_dump())
    except SchemaRejected as exc:
        return JSONResponse({"rejected": exc.label, "dead_letter_id": exc.dead_letter_id}, status_code=422)


@app.get("/safe")
def safe(text: str) -> dict[str, Any]:
    shown = safe_output(text)
    return {"text": shown.text, "removed": sorted(shown.removed)}


@app.get("/boom")
def boom() -> dict[str, Any]:
    import json

    return json.loads('{"truncated": ')


@app.get("/warn")
def warn() -> dict[str, Any]:
    """A warning of the app's own, after all the above: where it goes is the app's warnings setup."""
    warnings.warn("the app's own warning", UserWarning, stacklevel=1)
    return {"warned": True}


@app.get("/host-state")
def host_state() -> dict[str, Any]:
    """What the kit changed of the process since it was imported: the request log's logger `mosaic.request` set up
    by `instrument.Middleware` is by design (README, "`instrument.Middleware`": one JSON line per request on stderr,
    logger `mosaic.request`; its handler and `propagate=False` keep the app's format from wrapping the line).
    Not the kit's: uvicorn's signal handlers (installed after it imported the app), the framework's thread pool
    (anyio's, running the sync endpoints) and the event loop's default executor (`asyncio_N`: the loop's
    `getaddrinfo` for the app's async HTTP client). One exit hook is the kit's, by design: the calls given to its
    stores' threads (daemons) waited for at most `storethread.EXIT_WAIT` seconds at exit (README, "Schema guard")."""
    now = snapshot()
    import uvicorn

    served = {name: handler for name, handler in now["signal handlers"].items()
              if isinstance(getattr(handler, "__self__", None), uvicorn.Server)}
    before = {**BEFORE, "signal handlers": {**BEFORE["signal handlers"], **served}}
    return {"changes": changes(before, now, allowed_loggers=frozenset({"mosaic.request"}),
                               allowed_threads=("AnyIO worker thread", "asyncio_"), allowed_atexit=1)}
