"""The app of bench/bench_runtime.py: one route calling one provider function, with the kit
(MOSAIC_KIT=1: instrument.Middleware, llm_call, a memory breaker) or without it (MOSAIC_KIT=0)."""

from __future__ import annotations

import os

from fastapi import FastAPI

app = FastAPI()


def answer(prompt: str) -> str:
    return prompt[::-1]


if os.environ.get("MOSAIC_KIT") == "1":
    from mosaic_diag.runtime import breaker, instrument, llm_call

    app.add_middleware(instrument.Middleware)
    answer = llm_call(provider="openai", breaker=breaker("bench"))(answer)


@app.get("/ask")
def ask(q: str = "hello") -> dict:
    return {"answer": answer(q)}
