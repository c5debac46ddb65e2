"""Anomalous error rates: per-label counts per window, EWMA of the mean and of the variance.

For each label, the count of each window (default 5 minutes) is compared with that label's
own baseline: the exponentially weighted mean `mu` and variance `var` of the windows before
it (`mu += a*(x-mu)`, `var = (1-a)*(var + a*(x-mu)**2)`). The score is `(x - mu) / sigma`
with `sigma = max(sqrt(var), sqrt(mu), 1)` (a floor so a quiet label's first errors are not
infinitely surprising); a window is anomalous when the score reaches `threshold`, its count
reaches `min_count`, and the label has at least `min_history` windows of baseline.
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta


@dataclass(frozen=True)
class AnomalySettings:
    """Tuning of the detector (config `anomaly.*`)."""

    window_minutes: int = 5
    alpha: float = 0.3
    threshold: float = 3.0
    min_count: int = 5
    min_history: int = 2


@dataclass(frozen=True)
class Anomaly:
    """One label whose rate in one window is far above its baseline."""

    label: str
    window_start: datetime
    window_end: datetime
    count: int
    baseline_rate: float  # errors per minute, EWMA before this window
    observed_rate: float  # errors per minute in this window
    score: float

    def to_dict(self) -> dict[str, object]:
        return {
            "label": self.label,
            "window_start": self.window_start.isoformat(),
            "window_end": self.window_end.isoformat(),
            "count": self.count,
            "baseline_rate": round(self.baseline_rate, 4),
            "observed_rate": round(self.observed_rate, 4),
            "score": round(self.score, 2),
        }


class RateSeries:
    """Per-label counts per minute (constant memory per label and minute)."""

    def __init__(self) -> None:
        self.minutes: dict[str, Counter[int]] = defaultdict(Counter)
        self.first: int | None = None
        self.last: int | None = None
        self.work = 0  # steps of the last `detect` (a measure of its cost)

    def add(self, label: str, ts: datetime) -> int:
        """Count an event of `label` at `ts`; its minute (minutes since the epoch) is returned."""
        minute = int(ts.timestamp() // 60)
        self.minutes[label][minute] += 1
        self._observe(minute)
        return minute

    def observe(self, ts: datetime) -> None:
        """Extend the time range (quiet minutes of the log count as zero errors)."""
        self._observe(int(ts.timestamp() // 60))

    def _observe(self, minute: int) -> None:
        first, last = self.first, self.last
        if first is None or minute < first:
            self.first = minute
        if last is None or minute > last:
            self.last = minute

    def prune_before(self, minute: int) -> None:
        """Forget the counts of minutes before `minute` (a live watch keeps a bounded tail)."""
        for counts in self.minutes.values():
            for old in [m for m in counts if m < minute]:
                del counts[old]

    def peak(self, label: str, minutes: int) -> int:
        """The highest count of `label` in any `minutes`-long sliding window."""
        counts = self.minutes.get(label)
        if not counts:
            return 0
        keys = sorted(counts)
        best = running = 0
        lo = 0
        for hi, minute in enumerate(keys):
            running += counts[minute]
            while keys[lo] <= minute - minutes:
                running -= counts[keys[lo]]
                lo += 1
            best = max(best, running)
            _ = hi
        return best

    def detect(self, settings: AnomalySettings) -> list[Anomaly]:
        """Every anomalous (label, window), oldest first.

        The cost grows with the windows that hold errors, not with the time the log spans: a run
        of k empty windows is folded into the EWMA in one step (closed form, below), and `work`
        counts the steps taken (windows with errors plus runs of empty ones).
        """
        self.work = 0
        if self.first is None or self.last is None:
            return []
        width = settings.window_minutes
        start_w = self.first // width
        a = settings.alpha
        b = 1.0 - a
        found: list[Anomaly] = []
        for label, counts in self.minutes.items():
            windows: Counter[int] = Counter()
            for minute, n in counts.items():
                windows[minute // width] += n
            mu = var = 0.0
            seen = 0     # windows of baseline folded in so far (from start_w on)
            w = start_w  # the next window not folded in yet
            for busy in sorted(windows):
                if busy > w:
                    # k empty windows (x = 0): mu_k = b^k mu, var_k = b^k var + b^k (1 - b^k) mu^2.
                    # An empty window is never anomalous (its score is <= 0); the first window of
                    # the series sets mu = x = 0 instead of updating it.
                    k = busy - w
                    if seen == 0:
                        mu, var, k, seen = 0.0, 0.0, k - 1, 1
                    bk = b ** k
                    var = bk * var + bk * (1.0 - bk) * mu * mu
                    mu *= bk
                    seen += k
                    self.work += 1
                x = float(windows[busy])
                self.work += 1
                if seen >= settings.min_history and x >= settings.min_count:
                    sigma = max(math.sqrt(var), math.sqrt(mu), 1.0)
                    score = (x - mu) / sigma
                    if score >= settings.threshold:
                        begin = datetime.fromtimestamp(busy * width * 60, UTC)
                        found.append(Anomaly(label, begin, begin + timedelta(minutes=width),
                                             int(x), mu / width, x / width, score))
                if seen == 0:
                    mu = x
                else:
                    diff = x - mu
                    mu += a * diff
                    var = b * (var + a * diff * diff)
                seen += 1
                w = busy + 1
        # windows after a label's last busy one cannot be anomalous (their counts are 0)
        found.sort(key=lambda a: (a.window_start, -a.score))
        return found
