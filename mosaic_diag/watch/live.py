"""Anomalous rates, live: the batch detector of `triage.anomaly` kept incrementally, constant memory.

Per label: the current window's count and the EWMA mean / variance of the windows before it, the
same update and score as `RateSeries.detect`. Every label's history starts at the first window
the watch saw (quiet windows count as zero, as in a batch run). A window alarms once, as soon as
its count crosses the threshold, not when it closes. A run of empty windows is applied in closed
form for the mean and stepped for at most `MAX_STEPS` windows for the variance (after that it has
decayed below any threshold), so a quiet week costs nothing.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from mosaic_diag.triage.anomaly import Anomaly, AnomalySettings

MAX_STEPS = 200


@dataclass
class _LabelRate:
    window: int
    count: int = 0
    seen: int = 0  # windows of history before the current one
    mu: float = 0.0
    var: float = 0.0
    alerted: bool = False


class LiveRates:
    """Feed (label, time) as events arrive; get an Anomaly when a window becomes anomalous."""

    def __init__(self, settings: AnomalySettings | None = None) -> None:
        self.settings = settings or AnomalySettings()
        self.labels: dict[str, _LabelRate] = {}
        self.first_window: int | None = None

    def _close(self, st: _LabelRate, x: float) -> None:
        a = self.settings.alpha
        if st.seen == 0:
            st.mu = x
        else:
            diff = x - st.mu
            st.mu += a * diff
            st.var = (1 - a) * (st.var + a * diff * diff)
        st.seen += 1

    def _advance(self, st: _LabelRate, window: int) -> None:
        if window <= st.window:
            return
        self._close(st, float(st.count))
        empty = window - st.window - 1
        for _ in range(min(empty, MAX_STEPS)):
            self._close(st, 0.0)
        if empty > MAX_STEPS:
            st.seen += empty - MAX_STEPS
            st.mu *= (1 - self.settings.alpha) ** (empty - MAX_STEPS)
        st.window, st.count, st.alerted = window, 0, False

    def add(self, label: str, when: datetime) -> Anomaly | None:
        width = self.settings.window_minutes
        window = int(when.timestamp() // 60) // width
        if self.first_window is None:
            self.first_window = window
        st = self.labels.get(label)
        if st is None:
            st = self.labels[label] = _LabelRate(min(self.first_window, window))
        if window < st.window:
            return None  # a late line from an earlier window: counted in the batch view only
        self._advance(st, window)
        st.count += 1
        s = self.settings
        if st.alerted or st.seen < s.min_history or st.count < s.min_count:
            return None
        sigma = max(math.sqrt(st.var), math.sqrt(st.mu), 1.0)
        score = (st.count - st.mu) / sigma
        if score < s.threshold:
            return None
        st.alerted = True
        begin = datetime.fromtimestamp(window * width * 60, UTC)
        return Anomaly(label, begin, begin + timedelta(minutes=width), st.count, st.mu / width, st.count / width,
                       score)
