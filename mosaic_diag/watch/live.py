"""Anomalous rates, live: the batch detector of `triage.anomaly` kept incrementally, constant memory.

Per label: the current window's count and a `Track` (the baselines of the windows before it and the last
few windows' counts), the same updates, tests and spans as `RateSeries.detect`. Every label's history
starts at the first window the watch saw (quiet windows count as zero, as in a batch run). A window alarms
as soon as its count reaches the smallest count that alarms any of its tests (computed once per window, at
its first error), not when it closes; an anomalous span is reported once, at its first alarming window
(its count and score then are those so far). A run of empty windows is applied in closed form, so a quiet
week costs nothing.
"""

from __future__ import annotations

import math
import sys
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from mosaic_diag.triage.anomaly import Anomaly, AnomalySettings, SpanTest, Track


@dataclass
class _LabelRate:
    track: Track
    count: int = 0
    trigger: int | None = None  # the current window's smallest anomalous count, once needed
    first: SpanTest | None = None  # the test that alarms at that count
    alerted: bool = False


class LiveRates:
    """Feed (label, time) as events arrive; get an Anomaly when a new anomalous span begins."""

    def __init__(self, settings: AnomalySettings | None = None) -> None:
        self.settings = settings or AnomalySettings()
        self.labels: dict[str, _LabelRate] = {}
        self.first_window: int | None = None

    def add(self, label: str, when: datetime) -> Anomaly | None:
        width = self.settings.window_minutes
        window = int(when.timestamp() // 60) // width
        if self.first_window is None:
            self.first_window = window
        st = self.labels.get(label)
        if st is None:
            st = self.labels[label] = _LabelRate(Track(self.settings, min(self.first_window, window)))
        track = st.track
        if window < track.next:
            return None  # a late line from an earlier window: counted in the batch view only
        if window > track.next:
            track.close(st.count, st.alerted)
            track.skip_to(window)
            st.count, st.trigger, st.first, st.alerted = 0, None, None, False
        st.count += 1
        if st.alerted:
            return None
        if st.trigger is None:
            first = track.first_test()
            st.trigger, st.first = first if first is not None else (sys.maxsize, None)
        if st.count < st.trigger:
            return None
        st.alerted = True
        verdict = track.judge(st.count)  # (not None: counts from the trigger on alarm)
        if verdict is None or not track.mark(st.first):
            return None  # (an alarm inside a span already reported)
        adj, log_p, _ = verdict
        start = track.span_start
        count = st.count + sum(c for w, c, *_ in track.recent if w >= start)
        begin = datetime.fromtimestamp(start * width * 60, UTC)
        windows = window - start + 1
        base = st.first.base if st.first is not None else verdict[2].base
        return Anomaly(label, begin, begin + timedelta(minutes=windows * width), count, base.mu / width,
                       count / (windows * width), self.settings.score(adj), math.exp(log_p), windows)
