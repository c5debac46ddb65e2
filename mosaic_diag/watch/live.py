"""Anomalous rates, live: the batch detector of `triage.anomaly` kept incrementally, constant memory.

Per label: the current window's count and the baseline (EWMA mean, squared weights) of the windows
before it, the same updates and test as `RateSeries.detect`. Every label's history starts at the
first window the watch saw (quiet windows count as zero, as in a batch run). A window alarms once,
as soon as its count reaches the smallest count that alarms against its baseline (computed once per
window, when the count first reaches `min_count`), not when it closes. A run of empty windows is
applied in closed form, so a quiet week costs nothing.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from mosaic_diag.triage.anomaly import Anomaly, AnomalySettings, Baseline, fold, fold_empty


@dataclass
class _LabelRate:
    window: int
    count: int = 0
    seen: int = 0  # windows of history before the current one
    mu: float = 0.0
    w2: float = 1.0
    trigger: int | None = None  # the current window's smallest anomalous count, once needed
    alerted: bool = False


class LiveRates:
    """Feed (label, time) as events arrive; get an Anomaly when a window becomes anomalous."""

    def __init__(self, settings: AnomalySettings | None = None) -> None:
        self.settings = settings or AnomalySettings()
        self.log_limit = self.settings.log_p_limit()
        self.labels: dict[str, _LabelRate] = {}
        self.first_window: int | None = None

    def _close(self, st: _LabelRate, x: float) -> None:
        if st.seen == 0:
            st.mu, st.w2 = x, 1.0
        else:
            st.mu, st.w2 = fold(st.mu, st.w2, x, self.settings.alpha)
        st.seen += 1

    def _advance(self, st: _LabelRate, window: int) -> None:
        if window <= st.window:
            return
        self._close(st, float(st.count))
        empty = window - st.window - 1
        if empty:
            if st.seen == 0:  # the first window of the history is an empty one: it sets the mean
                self._close(st, 0.0)
                empty -= 1
            st.mu, st.w2 = fold_empty(st.mu, st.w2, empty, self.settings.alpha)
            st.seen += empty
        st.window, st.count, st.trigger, st.alerted = window, 0, None, False

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
        baseline = Baseline(st.mu, st.w2)
        if st.trigger is None:
            st.trigger = baseline.critical_count(s, self.log_limit)
        if st.count < st.trigger:
            return None
        log_p = baseline.alarms(st.count, s, self.log_limit)  # (not None: counts from the trigger on alarm)
        if log_p is None:
            return None
        st.alerted = True
        begin = datetime.fromtimestamp(window * width * 60, UTC)
        return Anomaly(label, begin, begin + timedelta(minutes=width), st.count, st.mu / width, st.count / width,
                       s.score(log_p), math.exp(log_p))
