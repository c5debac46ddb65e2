"""Rolling request metrics for /health: requests, error rate, p95 latency, invalid-JSON rate."""

from __future__ import annotations

import math
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

WINDOW_SECONDS = 300.0


@dataclass(frozen=True)
class Snapshot:
    requests_total: int
    error_rate: float
    p95_latency_ms: float
    invalid_json_rate: float

    def to_dict(self) -> dict[str, float | int]:
        return {
            "requests_total": self.requests_total,
            "error_rate": round(self.error_rate, 4),
            "p95_latency_ms": round(self.p95_latency_ms, 1),
            "invalid_json_rate": round(self.invalid_json_rate, 4),
        }


class RollingMetrics:
    """Requests and LLM answers of the last `window` seconds (thread-safe)."""

    def __init__(self, window: float = WINDOW_SECONDS,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.window = window
        self._clock = clock
        self._requests: deque[tuple[float, float, bool]] = deque()  # (t, latency_ms, error)
        self._answers: deque[tuple[float, bool]] = deque()  # (t, json_valid)
        self._lock = threading.Lock()

    def record_request(self, latency_ms: float, status: int) -> None:
        with self._lock:
            self._requests.append((self._clock(), latency_ms, status >= 500))
            self._trim()

    def record_answer(self, json_valid: bool) -> None:
        with self._lock:
            self._answers.append((self._clock(), json_valid))
            self._trim()

    def _trim(self) -> None:
        cutoff = self._clock() - self.window
        for series in (self._requests, self._answers):
            while series and series[0][0] < cutoff:
                series.popleft()

    def snapshot(self) -> Snapshot:
        with self._lock:
            self._trim()
            latencies = sorted(r[1] for r in self._requests)
            errors = sum(1 for r in self._requests if r[2])
            invalid = sum(1 for a in self._answers if not a[1])
            answers = len(self._answers)
        total = len(latencies)
        p95 = latencies[max(math.ceil(0.95 * total) - 1, 0)] if total else 0.0
        return Snapshot(
            requests_total=total,
            error_rate=errors / total if total else 0.0,
            p95_latency_ms=p95,
            invalid_json_rate=invalid / answers if answers else 0.0,
        )
