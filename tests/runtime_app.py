"""A small FastAPI app with the runtime kit, for tests/test_runtime_health.py under real uvicorn:
`python -m uvicorn tests.runtime_app:app --no-access-log` (env: DATABASE_URL, OPENAI_BASE_URL; HEALTH_POOL=1: /health
checks the database through a psycopg2 pool; HEALTH_TIMEOUT: seconds /health's checks may take; DEAD_LETTERS: the
dead-letter store of /guarded, GUARD_STORE_TIMEOUT: how long its letter is waited for; WINDOW_EXACT_UP_TO: requests
up to which /health's percentiles are sorted, not read from the histogram)."""

from __future__ import annotations

import json
import logging
import os

import openai
from fastapi import FastAPI
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from mosaic_diag.runtime import RetryPolicy, SchemaRejected, breaker, health_router, instrument, llm_call, schema_guard

logging.basicConfig(level=logging.INFO, format="%(levelname)s:%(name)s:%(message)s")
app = FastAPI()
window = instrument.RequestWindow(exact_up_to=int(os.environ.get("WINDOW_EXACT_UP_TO", instrument.EXACT_UP_TO)))
app.add_middleware(instrument.Middleware, window=window)
database: object = os.environ.get("DATABASE_URL") or None
if database and os.environ.get("HEALTH_POOL"):
    from psycopg2.pool import ThreadedConnectionPool

    database = ThreadedConnectionPool(1, 4, database)
limits = {"timeout": float(os.environ["HEALTH_TIMEOUT"])} if os.environ.get("HEALTH_TIMEOUT") else {}
app.include_router(health_router(database=database, commit="feedc0de" * 5, window=window, **limits))
client = openai.OpenAI(api_key="sk-test-key", base_url=os.environ.get("OPENAI_BASE_URL"), max_retries=0, timeout=5)
openai_breaker = breaker("openai", fail_max=100)


@llm_call(provider="openai", policy=RetryPolicy(attempts=2, base=0.01, cap=0.01), breaker=openai_breaker)
def ask(prompt: str) -> str:
    return client.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": prompt}]
                                          ).choices[0].message.content or ""


@app.get("/ok")
def ok() -> dict:
    return {"ok": True}


@app.get("/items/{item}")
def item(item: int) -> dict:
    return {"item": item}


@app.get("/boom")
def load_session() -> dict:  # session code: its JSONDecodeError is TYPE_MISMATCH (taxonomy rule 8)
    return json.loads("{\"truncated\": ")


@app.get("/ask")
def ask_route(q: str = "hello") -> JSONResponse:
    try:
        return JSONResponse({"answer": ask(q)})
    except openai.APIError:
        logging.getLogger("app.llm").exception("LLM call failed")
        return JSONResponse({"error": "ai_unavailable"}, status_code=503)


class Answer(BaseModel):
    answer: str


guard = schema_guard(Answer, store=os.environ.get("DEAD_LETTERS") or None,
                     store_timeout=float(os.environ.get("GUARD_STORE_TIMEOUT", "10")))


@app.get("/guarded")
async def guarded(q: str = "{}") -> JSONResponse:
    """`q` through the guard, its letter written off the event loop."""
    try:
        return JSONResponse((await guard.call_async(q)).model_dump())
    except SchemaRejected as exc:
        return JSONResponse({"rejected": True, "dead_letter_id": exc.dead_letter_id}, status_code=422)


@app.get("/sleep")
async def sleep(ms: float = 0.0) -> dict:
    """An answer after `ms` milliseconds (latencies of every size for the window's percentiles)."""
    import asyncio

    await asyncio.sleep(ms / 1000)
    return {"slept_ms": ms}
