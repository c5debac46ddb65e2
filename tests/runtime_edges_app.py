"""A FastAPI app with `instrument.Middleware` on a test clock, for tests/test_runtime_edges.py under real uvicorn:
background tasks, a stream that breaks midway, a body whose client hangs up, a failing dependency, a 404."""

from __future__ import annotations

from collections.abc import Iterator

from fastapi import BackgroundTasks, Depends, FastAPI, HTTPException, Request
from fastapi.responses import StreamingResponse

from mosaic_diag.runtime import health_router, instrument


class Clock:
    """The middleware's clock: it moves only when a background task says so."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


clock = Clock()
app = FastAPI()
app.add_middleware(instrument.Middleware, clock=clock)
app.include_router(health_router())


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
