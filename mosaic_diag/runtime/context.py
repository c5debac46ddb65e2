"""The labels of the failures met while one request is served, for the request's log line.

`instrument.Middleware` opens a holder per request; `llm_call`, `failover` and `schema_guard` add
the labels they classify. The holder is a mutable list so that FastAPI's thread pool (which runs a
sync endpoint in a copy of the context) still adds to the request's own list.
"""

from __future__ import annotations

from contextvars import ContextVar, Token

_LABELS: ContextVar[list[str] | None] = ContextVar("mosaic_runtime_labels", default=None)


def open_labels() -> tuple[list[str], Token[list[str] | None]]:
    holder: list[str] = []
    return holder, _LABELS.set(holder)


def close_labels(token: Token[list[str] | None]) -> None:
    _LABELS.reset(token)


def note_label(label: str) -> None:
    """Record a label for the current request, if a request is being served."""
    holder = _LABELS.get()
    if holder is not None and len(holder) < 32:
        holder.append(label)


def on_event_loop() -> bool:
    """Whether this thread runs an asyncio event loop right now (a sync call made from a coroutine blocks it)."""
    import asyncio

    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return False
    return True
