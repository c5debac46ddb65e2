"""Request instrumentation: one JSON line per request, and the sliding window /health reads.

    app.add_middleware(instrument.Middleware)            # lines to stderr, the default window

Each line is a JSON log record triage reads: `message` is the request in uvicorn's access shape
(`127.0.0.1:51234 - "GET /wimd/ask HTTP/1.1" 503`, so triage counts it as a request), plus
`route` (the route template), `method`, `status`, `latency_ms` and `label`: the taxonomy label of
the error the request met (an exception that escaped, or what `llm_call`, `failover` and
`schema_guard` classified while serving it), else null. `latency_ms` ends with the response's
last byte (background tasks run after it). A body that breaks after its status was sent (a stream
that fails midway) is logged and counted as a 500, once; a request whose client hung up before the
answer (the body read fails on the disconnect, or the task is cancelled) as a 499, not as an error
of the app. Run uvicorn with `--no-access-log` so a request is not counted twice. The middleware
is plain ASGI (no Starlette base class).
"""

from __future__ import annotations

import asyncio
import bisect
import itertools
import json
import logging
import math
import re
import sys
import threading
import time
from collections import Counter, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, TextIO

from mosaic_diag.runtime.context import close_labels, open_labels
from mosaic_diag.runtime.verdict import classify_exception

WINDOW_SECONDS = 300.0
LOGGER = "mosaic.request"
CLIENT_CLOSED = 499  # nginx's "client closed request": the client hung up before the answer


@dataclass(frozen=True)
class WindowStats:
    """Requests of the window: count, 5xx rate, latency percentiles, the labels of the 5xx requests."""

    requests_total: int
    errors: int
    error_rate: float
    p50_latency_ms: float
    p95_latency_ms: float
    window_seconds: float
    labels: dict[str, int] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"requests_total": self.requests_total, "errors": self.errors,
                "error_rate": round(self.error_rate, 4), "p50_latency_ms": round(self.p50_latency_ms, 1),
                "p95_latency_ms": round(self.p95_latency_ms, 1), "window_seconds": self.window_seconds,
                "labels": dict(self.labels)}


def _percentile(ordered: list[float], q: float) -> float:
    if not ordered:
        return 0.0
    return ordered[max(math.ceil(q * len(ordered)) - 1, 0)]


# The latency histogram of a window: bucket 0 holds latencies up to _LOW ms, bucket i (1 …) those in
# [_LOW·_RATIO^(i-1), _LOW·_RATIO^i); a percentile read from it is its bucket's geometric middle, within
# ±0.5% of the exact value (below 0.01 ms: 0.005). 10^7 ms (2.8 h) and above share the last bucket.
_LOW = 0.01
_RATIO = 1.01
_INV_LOG = 1 / math.log(_RATIO)
_BUCKETS = math.ceil(math.log(1e7 / _LOW) * _INV_LOG) + 2
_MIDDLES = [_LOW / 2] + [_LOW * _RATIO ** (i - 0.5) for i in range(1, _BUCKETS)]
EXACT_UP_TO = 2048  # requests in the window up to which the percentiles are exact (a sort of them)


def _bucket(latency_ms: float) -> int:
    if not latency_ms > _LOW:  # (and NaN)
        return 0
    if latency_ms >= 1e7:  # (and infinity)
        return _BUCKETS - 1
    return min(int(math.log(latency_ms / _LOW) * _INV_LOG) + 1, _BUCKETS - 1)


class RequestWindow:
    """The requests of the last `seconds` (thread-safe; at most `limit`, the oldest dropped). Its counts, errors,
    labels and a latency histogram are kept as requests come and go, so `stats()` (each /health poll) costs no sort
    of the window: the percentiles are exact up to `exact_up_to` requests in the window, above within ±0.5% (the
    histogram's buckets are 1% wide)."""

    def __init__(self, seconds: float = WINDOW_SECONDS, clock: Callable[[], float] = time.monotonic,
                 limit: int = 100_000, exact_up_to: int = EXACT_UP_TO) -> None:
        self.seconds = seconds
        self.exact_up_to = exact_up_to
        self._clock = clock
        self._limit = limit
        self._items: deque[tuple[float, float, int, str | None, int]] = deque()
        self._counts = [0] * _BUCKETS
        self._errors = 0
        self._labels: Counter[str] = Counter()  # the labels of the failed (5xx) requests
        self._lock = threading.Lock()

    def record(self, latency_ms: float, status: int, label: str | None = None) -> None:
        bucket = _bucket(latency_ms)
        with self._lock:
            if len(self._items) >= self._limit:
                self._drop()
            self._items.append((self._clock(), latency_ms, status, label, bucket))
            self._counts[bucket] += 1
            if status >= 500:
                self._errors += 1
                if label:
                    self._labels[label] += 1

    def _drop(self) -> None:
        """The oldest request out of the window and its counts (under the lock)."""
        _, _, status, label, bucket = self._items.popleft()
        self._counts[bucket] -= 1
        if status >= 500:
            self._errors -= 1
            if label:
                self._labels[label] -= 1
                if not self._labels[label]:
                    del self._labels[label]

    def _percentiles(self, total: int) -> tuple[float, float]:
        """(p50, p95) of the window's latencies, nearest rank (under the lock)."""
        if total <= self.exact_up_to:
            ordered = sorted(i[1] for i in self._items)
            return _percentile(ordered, 0.5), _percentile(ordered, 0.95)
        cumulative = list(itertools.accumulate(self._counts))
        p50, p95 = (_MIDDLES[bisect.bisect_left(cumulative, max(math.ceil(q * total), 1))] for q in (0.5, 0.95))
        return p50, p95

    def stats(self) -> WindowStats:
        cutoff = self._clock() - self.seconds
        with self._lock:
            while self._items and self._items[0][0] < cutoff:
                self._drop()
            total, errors = len(self._items), self._errors
            p50, p95 = self._percentiles(total)
            labels = dict(self._labels.most_common(10))  # what the failed requests met
        return WindowStats(total, errors, errors / total if total else 0.0, p50, p95, self.seconds, labels)

    def clear(self) -> None:
        with self._lock:
            self._items.clear()
            self._counts = [0] * _BUCKETS
            self._errors = 0
            self._labels.clear()


DEFAULT_WINDOW = RequestWindow()


class _Stderr(logging.StreamHandler[TextIO]):
    """A handler that writes to `sys.stderr` as it is when a record comes, not as it was when the handler was made
    (an app, a test's capture, may replace it: the lines went on to a stale or closed stream)."""

    def __init__(self) -> None:
        super().__init__(sys.stderr)

    @property
    def stream(self) -> Any:
        return sys.stderr

    @stream.setter
    def stream(self, value: Any) -> None:  # (set by StreamHandler.__init__: always the stderr of the moment)
        pass


def log_sink() -> Callable[[str], None]:
    """The default sink: the logger `mosaic.request` at INFO, given (when it has none) a handler of
    its own that writes the bare line to stderr (the current one, `_Stderr`), and not propagated (so the
    app's log format does not wrap the JSON). A log capture that takes over the app's handlers takes this
    one too."""
    logger = logging.getLogger(LOGGER)
    if not logger.handlers:
        handler = _Stderr()
        handler.setFormatter(logging.Formatter("%(message)s"))
        logger.addHandler(handler)
        logger.propagate = False
        logger.setLevel(logging.INFO)
    return logger.info


# what could end a field of the access shape early: quotes, whitespace, controls (and anything not ASCII)
_UNSAFE = re.compile(rb'[^\x21\x23-\x7e]')


def _field(text: str | bytes) -> str:
    """`text` (bytes as the client sent them, or text) as one field of the access shape: its quotes, whitespace,
    controls and non-ASCII bytes percent-encoded (uvicorn's access log writes `"` as %22), so a request cannot
    forge the `"GET /x HTTP/1.1" 500` that triage and the error budget count."""
    raw = text if isinstance(text, bytes) else text.encode("utf-8", "surrogateescape")
    return _UNSAFE.sub(lambda m: f"%{m.group()[0]:02X}".encode(), raw).decode("ascii")


def request_line(*, client: str, method: str, path: str | bytes, http_version: str, route: str, status: int,
                 latency_ms: float, label: str | None, when: datetime | None = None) -> str:
    """The JSON line of one request (see the module doc); `client`, `method` and `path` may be the request's own
    text (a decoded path, a forwarded client): each stays one field of the message."""
    stamp = (when or datetime.now(UTC)).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    return json.dumps({
        "timestamp": stamp, "level": "INFO", "logger": LOGGER,
        "message": f'{_field(client)} - "{_field(method)} {_field(path)} HTTP/{_field(http_version)}" {status}',
        "route": route, "method": method, "status": status, "latency_ms": round(latency_ms, 2), "label": label,
    }, separators=(",", ":"))


def _is_disconnect(exc: BaseException) -> bool:
    """Whether an exception says the client went away (Starlette's ClientDisconnect, a broken socket)."""
    return type(exc).__name__ in ("ClientDisconnect", "ClientDisconnected") or isinstance(exc, OSError)


class Middleware:
    """ASGI middleware: a JSON line per request and the window of /health (see the module doc).
    The paths in `skip` and below them (`/health/metrics`: a scraper's polls) are neither logged nor counted."""

    def __init__(self, app: Any, *, window: RequestWindow | None = None, sink: Callable[[str], None] | None = None,
                 skip: tuple[str, ...] = ("/health",), clock: Callable[[], float] = time.perf_counter) -> None:
        self.app = app
        self.clock = clock
        self.window = window or DEFAULT_WINDOW
        self.sink = sink or log_sink()
        self.skip = skip

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope.get("type") != "http":
            await self.app(scope, receive, send)
            return
        start = self.clock()
        status = 500
        started = done = disconnected = False
        end: float | None = None
        labels, token = open_labels()

        async def watch_receive() -> dict[str, Any]:
            nonlocal disconnected
            message = await receive()
            if message.get("type") == "http.disconnect":
                disconnected = True
            return message

        async def send_status(message: dict[str, Any]) -> None:
            nonlocal status, started, done, end
            kind = message.get("type")
            if kind == "http.response.start":
                status, started = int(message.get("status", 500)), True
            await send(message)
            if kind == "http.response.body" and not message.get("more_body", False) and not done:
                done, end = True, self.clock()  # the response is complete: background tasks are not its latency

        try:
            await self.app(scope, watch_receive, send_status)
        except BaseException as exc:
            if isinstance(exc, asyncio.CancelledError) or (disconnected and _is_disconnect(exc)):
                if not started:
                    status = CLIENT_CLOSED  # the client went away: no answer was owed, no error of the app
            elif isinstance(exc, Exception):
                labels.append(classify_exception(exc).label)
                if started and not done:
                    status = 500  # the body broke after its status was sent: a failed request, counted once
            raise
        finally:
            close_labels(token)
            latency = ((end if end is not None else self.clock()) - start) * 1000
            path = scope.get("path", "")
            raw = scope.get("raw_path")  # the path as the client sent it (still percent-encoded), as uvicorn logs it
            shown = raw if isinstance(raw, bytes) and raw else path
            if not any(path == skipped or path.startswith(skipped.rstrip("/") + "/") for skipped in self.skip):
                label = labels[-1] if labels else None
                self.window.record(latency, status, label)
                route = getattr(scope.get("route"), "path", None) or path
                client = scope.get("client") or ("-", 0)
                self.sink(request_line(client=f"{client[0]}:{client[1]}", method=scope.get("method", "GET"),
                                       path=shown, http_version=scope.get("http_version", "1.1"), route=route,
                                       status=status, latency_ms=latency, label=label))
