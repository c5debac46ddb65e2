"""A FastAPI app with `instrument.Middleware` on a test clock, for tests/test_runtime_edges.py under real uvicorn:
background tasks, a stream that breaks midway, a body whose client hangs up, a failing dependency, a 404,
failover between the providers' stand-in (OPENAI_BASE_URL, ANTHROPIC_BASE_URL)."""

from __future__ import annotations

import os
from collections.abc import Iterator

import anthropic
import openai
from fastapi import BackgroundTasks, Depends, FastAPI, HTTPException, Request
from fastapi.responses import StreamingResponse

from mosaic_diag.runtime import RetryPolicy, failover, health_router, instrument, llm_call


class Clock:
    """The middleware's clock: it moves only when a background task says so."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


clock = Clock()
app = FastAPI()
app.add_middleware(instrument.Middleware, clock=clock)
failing: set[str] = set()  # which of /health's callables raise (POST /health-fails/{section}?on=0|1)


def breaker_states() -> dict[str, str]:
    if "breakers" in failing:
        raise RuntimeError("breaker store postgresql://app:hunter2@db.internal/app refused the connection")
    return {"openai": "closed"}


def extra() -> dict:
    if "extra" in failing:
        raise ValueError("settings unreadable: api_key=sk-live-abcdefghijklmnopqrstuvwx")
    return {"app": {"version": "1.2.3"}}


app.include_router(health_router(breakers=breaker_states, extra=extra))


@app.post("/health-fails/{section}")
async def health_fails(section: str, on: int = 1) -> dict:
    (failing.add if on else failing.discard)(section)
    return {"failing": sorted(failing)}


def failing_dependency() -> None:
    raise RuntimeError("dependency failed")


@app.get("/ok")
async def ok() -> dict:
    return {"ok": True}


@app.get("/dependency")
def dependency(_: None = Depends(failing_dependency)) -> dict:
    return {}


@app.get("/missing")
async def missing() -> dict:
    raise HTTPException(404, "no such item")


@app.get("/background")
def background(tasks: BackgroundTasks) -> dict:
    def work() -> None:
        clock.now += 1000.0  # a long job after the answer was sent

    tasks.add_task(work)
    return {"queued": True}


@app.get("/stream")
def stream() -> StreamingResponse:
    def chunks() -> Iterator[bytes]:
        yield b"first chunk\n"
        raise ConnectionError("upstream stream broke")

    return StreamingResponse(chunks(), media_type="text/plain")


@app.post("/upload")
async def upload(request: Request) -> dict:
    return {"size": len(await request.body())}


oai = openai.OpenAI(api_key="sk-test-key", base_url=os.environ.get("OPENAI_BASE_URL"), max_retries=0, timeout=5)
claude = anthropic.Anthropic(api_key="sk-ant-test", base_url=os.environ.get("ANTHROPIC_BASE_URL"), max_retries=0,
                             timeout=5)
QUICK = RetryPolicy(attempts=1)


@llm_call(provider="openai", policy=QUICK)
def ask_openai(prompt: str) -> str:
    return oai.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": prompt}]
                                       ).choices[0].message.content or ""


@llm_call(provider="anthropic", policy=QUICK)
def ask_claude(prompt: str) -> str:
    return claude.messages.create(model="claude-3-haiku-20240307", max_tokens=50,
                                  messages=[{"role": "user", "content": prompt}]).content[0].text


@app.get("/answer")
def answer(q: str = "hello") -> dict:
    result = failover(ask_openai, ask_claude)(q)
    return {"provider": result.provider}
