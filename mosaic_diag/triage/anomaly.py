"""Anomalous error rates: per-label counts per window against an EWMA baseline, judged by a tail probability.

For each label, the count of each window (default 5 minutes) is compared with that label's own
baseline: the exponentially weighted mean `mu` of the windows before it (`mu += a*(x - mu)`, the
framework's EWMA, `a` = `alpha`), and `w2`, the sum of the squared weights of that mean
(`w2 = (1-a)^2 w2 + a^2`, 1 after the first window), so `1/w2` windows are what the baseline is
worth (`(2-a)/a`, 5.7 at 0.3, once the history is long).

A steady error stream is Poisson, and `mu` is itself a noisy estimate of its rate, so a window's
count is judged by its predictive distribution: the rate's posterior from the baseline,
Gamma(shape `mu/w2 + 1/2`, rate `1/w2`) (Jeffreys' prior: a label never seen has a rate that is
small, not zero), mixed over Poisson counts: a negative binomial (the Gamma-Poisson mixture, e.g.
Gelman et al., *Bayesian Data Analysis*, 3rd ed., sect. 2.6). The window's `p_value` is that
distribution's upper tail, P(X >= x). The plain Poisson tail at `mu` ignores the baseline's noise
and alarms 4 to 9 times as often as it says on a simulated calm stream (2 to 30 errors a window).

Many windows are tested, so the threshold is corrected for them (Bonferroni) over a day: a
window alarms when `p_value <= Q(threshold) / windows_per_day`, `Q` the one-sided normal tail, so
a calm label's day of windows all together alarms as rarely as one `threshold`-sigma test
(Q(3) = 0.00135: about once in 740 label-days; p <= 4.7e-6 per 5-minute window). `score` is
that sigma scale: Q(score) = p_value * windows_per_day, and a window alarms when `score >=
threshold`. A window also needs `min_count` errors and the label `min_history` windows of baseline.

The tail is summed in log space from math.lgamma (no scipy), and only for a window whose count is
above its predictive mean and whose own probability is below the limit, so the cost stays per busy window.
"""

from __future__ import annotations

import math
import sys
from collections import Counter, defaultdict
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

PRIOR_SHAPE = 0.5  # Jeffreys' prior for a Poisson rate: the floor of a baseline near zero
MAX_WINDOW_MINUTES = 1440  # a day: the threshold is corrected over a day of windows


@dataclass(frozen=True)
class AnomalySettings:
    """Tuning of the detector (config `anomaly.*`)."""

    window_minutes: int = 5
    alpha: float = 0.3
    threshold: float = 3.0
    min_count: int = 5
    min_history: int = 2

    @property
    def windows_per_day(self) -> float:
        return 1440.0 / self.window_minutes

    def log_p_limit(self) -> float:
        """log of the largest p_value that alarms: Q(threshold) / windows_per_day."""
        return log_normal_sf(self.threshold) - math.log(self.windows_per_day)

    def score(self, log_p: float) -> float:
        """The sigma scale of a p_value: z with Q(z) = p_value * windows_per_day."""
        return normal_isf_log(log_p + math.log(self.windows_per_day))


@dataclass(frozen=True)
class Anomaly:
    """One label whose rate in one window is far above its baseline."""

    label: str
    window_start: datetime
    window_end: datetime
    count: int
    baseline_rate: float  # errors per minute, EWMA before this window
    observed_rate: float  # errors per minute in this window
    score: float  # sigmas: Q(score) = p_value * windows per day; anomalous from `threshold` on
    p_value: float  # P(count >= this one) under the baseline's predictive distribution

    def to_dict(self) -> dict[str, object]:
        return {
            "label": self.label,
            "window_start": self.window_start.isoformat(),
            "window_end": self.window_end.isoformat(),
            "count": self.count,
            "baseline_rate": round(self.baseline_rate, 4),
            "observed_rate": round(self.observed_rate, 4),
            "score": round(self.score, 2),
            "p_value": float(f"{self.p_value:.3g}"),
        }


def log_normal_sf(z: float) -> float:
    """log Q(z), Q the standard normal's upper tail, without underflow far out."""
    if z < 30.0:
        return math.log(0.5 * math.erfc(z / math.sqrt(2.0)))
    # Q(z) = phi(z)/z * (1 - 1/z^2 + 3/z^4 - ...): past 30 the omitted terms are below 1e-7
    t = 1.0 / (z * z)  # (z * z: inf, not an OverflowError, for an absurd threshold)
    return -0.5 * z * z - math.log(z * math.sqrt(2.0 * math.pi)) + math.log1p(-t + 3.0 * t * t)


def normal_isf_log(log_q: float) -> float:
    """z with log Q(z) = log_q (bisection: called for flagged windows only); 0 for log_q >= log(1/2)."""
    if log_q >= math.log(0.5):
        return 0.0
    lo, hi = 0.0, math.sqrt(2.0 * (math.log(0.5) - log_q))  # Q(z) <= e^(-z^2/2) / 2
    for _ in range(64):
        mid = 0.5 * (lo + hi)
        if log_normal_sf(mid) > log_q:
            lo = mid
        else:
            hi = mid
    return 0.5 * (lo + hi)


@dataclass(frozen=True)
class Baseline:
    """A label's baseline before a window: the EWMA `mu` and the squared weights `w2` of its windows."""

    mu: float
    w2: float

    @property
    def shape(self) -> float:
        return self.mu / self.w2 + PRIOR_SHAPE

    @property
    def q(self) -> float:
        """The negative binomial's failure probability: 1 / (1 + windows of baseline)."""
        return self.w2 / (1.0 + self.w2)

    @property
    def mean(self) -> float:
        """The predictive mean count of the window."""
        return self.shape * self.w2

    def log_tail(self, x: int, stop_above: float = math.inf) -> float:
        """log P(X >= x) for the window's count X (negative binomial), x above the predictive mean.

        Summed from the term of x on, relative to it (no underflow). When log P(X = x) alone is
        above `stop_above`, that is returned: a lower bound of the tail, which is above it too.
        """
        r, q = self.shape, self.q
        log_first = math.lgamma(x + r) - math.lgamma(r) - math.lgamma(x + 1.0) + r * math.log1p(-q) + x * math.log(q)
        if log_first > stop_above:
            return log_first
        total = term = 1.0
        k = x
        while True:
            ratio = (k + r) * q / (k + 1.0)  # term k+1 / term k: < 1 above the mean
            term *= ratio
            total += term
            k += 1
            # the ratios decrease (r >= 1) or rise to q (r < 1): the rest is <= term * b / (1 - b)
            bound = max(ratio, q)
            if term * bound <= 1e-15 * total * (1.0 - bound) or k - x > 10_000_000:
                return log_first + math.log(total)

    def alarms(self, x: int, settings: AnomalySettings, log_limit: float) -> float | None:
        """log p_value of a count `x` that is anomalous against this baseline, else None."""
        if x < settings.min_count or x <= self.mean:
            return None
        log_p = self.log_tail(x, stop_above=log_limit)
        return log_p if log_p <= log_limit else None

    def critical_count(self, settings: AnomalySettings, log_limit: float) -> int:
        """The smallest count that alarms (`alarms` is monotone in the count): a live window's trigger."""
        if log_limit == -math.inf:  # (a threshold past 1e154 sigmas: nothing alarms)
            return sys.maxsize
        lo = max(settings.min_count, math.floor(self.mean) + 1)
        if self.alarms(lo, settings, log_limit) is not None:
            return lo
        step = max(1, int(math.sqrt(self.mean + 1.0)))
        hi = lo + step
        while self.alarms(hi, settings, log_limit) is None:
            lo, step = hi, 2 * step
            hi = lo + step
        while hi - lo > 1:  # alarms(lo) is None, alarms(hi) is not
            mid = (lo + hi) // 2
            if self.alarms(mid, settings, log_limit) is None:
                lo = mid
            else:
                hi = mid
        return hi


def fold_empty(mu: float, w2: float, k: int, alpha: float) -> tuple[float, float]:
    """`k` windows without errors folded into the baseline at once: mu b^k, w2 b^2k + a^2 (1 - b^2k)/(1 - b^2)."""
    b = 1.0 - alpha  # (alpha > 0: b < 1)
    b2k = (b * b) ** k
    return mu * b**k, b2k * w2 + alpha * alpha * (1.0 - b2k) / (1.0 - b * b)


def fold(mu: float, w2: float, x: float, alpha: float) -> tuple[float, float]:
    """One window's count `x` folded into the baseline (the framework's EWMA)."""
    b = 1.0 - alpha
    return mu + alpha * (x - mu), b * b * w2 + alpha * alpha


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
        of k empty windows is folded into the baseline in one step (`fold_empty`), and `work`
        counts the steps taken (windows with errors plus runs of empty ones).
        """
        self.work = 0
        if self.first is None or self.last is None:
            return []
        width = settings.window_minutes
        start_w = self.first // width
        a = settings.alpha
        log_limit = settings.log_p_limit()
        found: list[Anomaly] = []
        for label, counts in self.minutes.items():
            windows: Counter[int] = Counter()
            for minute, n in counts.items():
                windows[minute // width] += n
            mu, w2 = 0.0, 1.0
            seen = 0     # windows of baseline folded in so far (from start_w on)
            w = start_w  # the next window not folded in yet
            for busy in sorted(windows):
                if busy > w:
                    # k empty windows (x = 0): never anomalous; the first window of the series
                    # sets mu = x = 0 (w2 = 1) instead of updating it.
                    k = busy - w
                    if seen == 0:
                        k, seen = k - 1, 1
                    mu, w2 = fold_empty(mu, w2, k, a)
                    seen += k
                    self.work += 1
                x = windows[busy]
                self.work += 1
                if seen >= settings.min_history and x >= settings.min_count and x > mu + PRIOR_SHAPE * w2:
                    log_p = Baseline(mu, w2).alarms(x, settings, log_limit)  # (mu + w2/2: the predictive mean)
                    if log_p is not None:
                        begin = datetime.fromtimestamp(busy * width * 60, UTC)
                        found.append(Anomaly(label, begin, begin + timedelta(minutes=width), x, mu / width,
                                             x / width, settings.score(log_p), math.exp(log_p)))
                if seen == 0:
                    mu, w2 = float(x), 1.0
                else:
                    mu, w2 = fold(mu, w2, x, a)
                seen += 1
                w = busy + 1
        # windows after a label's last busy one cannot be anomalous (their counts are 0)
        found.sort(key=lambda a: (a.window_start, -a.score))
        return found
