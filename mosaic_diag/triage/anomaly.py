"""Anomalous error rates: per-label counts per window against EWMA baselines, judged by tail probabilities.

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

Sustained rises. A rate that triples and stays (a provider degraded) is flagged by one window in few
cases, and the EWMA has followed it a few windows later. So the sums of the last k windows (k in
`spans`: 1, 2, 3, 6) are tested too, each against a slow EWMA (`span_alpha` 0.05: worth 39 windows,
3 hours) as it stood before the first of them, frozen (it has not seen the rise): the sum of k windows
given a rate is Poisson(k rate), so its predictive distribution is the negative binomial of the same
posterior with `q = k w2 / (1 + k w2)` (a scan of windows of fixed lengths, as in Kulldorff's scan
statistic, `p` by the exact tail rather than by simulation). A sum alarms only when its last window
raises the span's excess in standard units, `(S - k m)/sqrt(k)`, above that of the windows before it
(the quiet windows after a burst do not extend it). The alarming windows of a label make one span,
reported once: from the first window of the first test that alarmed (its leading windows not a
standard deviation above the baseline left out) to its last alarming window, a quiet window between two
alarming ones inside it; `count` is the span's total, `score` and `p_value` its best test's.

Overdispersion. A label whose counts vary more than Poisson (rate limits that come in clusters) has
its variance / mean `phi` estimated: an EWMA (`dispersion_alpha` 0.01: about 200 windows; the label's
nature changes slowly) of the squared errors `d` of the slow baseline's predictions (E d^2 =
var (1 + w2)), divided by its weights so far, with a prior of phi = 1 worth 10 windows, leaving out the
windows that alarmed (an incident does not make a label bursty). With phi > 1 each test's negative
binomial is the one of the same mean whose variance is phi times the Poisson one's (the moments
matched); at phi <= 1 it stays the Poisson mixture above.

The false-alarm budget. Many windows are tested, so the threshold is corrected for them (Bonferroni)
over a day: the budget per window is `Q(threshold) / windows_per_day`, `Q` the one-sided normal tail,
split across the tests: `single_share` (1/4) for the framework's one-window test, the rest evenly
across the sustained ones (3/16 each). A calm label's day of windows all together alarms as rarely as
one `threshold`-sigma test (Q(3) = 0.00135: about once in 740 label-days; p <= 1.2e-6 for the
one-window test of a 5-minute window). `score` is that sigma scale: Q(score) = p_value / share *
windows_per_day; anomalous from `threshold` on. A sum also needs `min_count` errors and `min_history`
windows of baseline before its first window.

The tails are summed in log space from math.lgamma (no scipy), and only for a sum above its
predictive mean and whose own probability is below the limit, so the cost stays per busy window
(a run of empty windows folds into the baselines and the dispersion in closed form).
"""

from __future__ import annotations

import math
import sys
from collections import Counter, defaultdict, deque
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

PRIOR_SHAPE = 0.5  # Jeffreys' prior for a Poisson rate: the floor of a baseline near zero
MAX_WINDOW_MINUTES = 1440  # a day: the threshold is corrected over a day of windows


@dataclass(frozen=True)
class AnomalySettings:
    """Tuning of the detector (config `anomaly.*`; the rest: not configurable)."""

    window_minutes: int = 5
    alpha: float = 0.3
    threshold: float = 3.0
    min_count: int = 5
    min_history: int = 2
    spans: tuple[int, ...] = (1, 2, 3, 6)  # windows summed by the sustained tests
    span_alpha: float = 0.05  # the sustained tests' EWMA: worth (2-a)/a = 39 windows
    single_share: float = 0.25  # of the budget for the one-window test; the rest split evenly over `spans`
    dispersion_alpha: float = 0.01  # the EWMA of the counts' dispersion: worth about 200 windows

    @property
    def windows_per_day(self) -> float:
        return 1440.0 / self.window_minutes

    def log_p_limit(self) -> float:
        """log of the day's budget per window: Q(threshold) / windows_per_day (shared by the tests)."""
        return log_normal_sf(self.threshold) - math.log(self.windows_per_day)

    def log_share(self, span: bool) -> float:
        """log of a test's share of the budget (Bonferroni): the one-window test's or one sustained test's."""
        if not self.spans:
            return 0.0
        return math.log((1.0 - self.single_share) / len(self.spans) if span else self.single_share)

    def score(self, log_p: float) -> float:
        """The sigma scale of a (share-adjusted) p_value: z with Q(z) = p_value * windows_per_day."""
        return normal_isf_log(log_p + math.log(self.windows_per_day))


@dataclass(frozen=True)
class Anomaly:
    """One label whose rate over a span of windows (one or more) is far above its baseline."""

    label: str
    window_start: datetime
    window_end: datetime
    count: int  # errors in the whole span
    baseline_rate: float  # errors per minute, the baseline its first alarm was judged by
    observed_rate: float  # errors per minute over the span
    score: float  # sigmas: Q(score) = p_value / share * windows per day; anomalous from `threshold` on
    p_value: float  # P(count >= the tested one) under the baseline's predictive distribution (the span's best test)
    windows: int = 1  # windows in the span

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
            "windows": self.windows,
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
    """What a label's history predicts for the sum of its next `k` windows.

    `mu` and `w2` are an EWMA mean and the sum of its squared weights; `phi` >= 1 the counts' dispersion
    (variance / mean; 1: Poisson).
    """

    mu: float
    w2: float
    phi: float = 1.0
    k: int = 1

    @property
    def mean(self) -> float:
        """The predictive mean of the sum: k (mu + w2/2)."""
        return self.k * (self.mu + PRIOR_SHAPE * self.w2)

    @property
    def q(self) -> float:
        """The negative binomial's failure probability: 1 - mean / variance."""
        kw = self.k * self.w2
        if self.phi <= 1.0:
            return kw / (1.0 + kw)
        return 1.0 - 1.0 / (self.phi * (1.0 + kw))

    @property
    def shape(self) -> float:
        if self.phi <= 1.0:
            return self.mu / self.w2 + PRIOR_SHAPE
        q = self.q
        return self.mean * (1.0 - q) / q

    def log_tail(self, x: int, stop_above: float = math.inf) -> float:
        """log P(X >= x) for the sum X (negative binomial), x above the predictive mean.

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

    def alarms(self, x: int, min_count: int, log_limit: float) -> float | None:
        """log p_value of a sum `x` that is anomalous (at least `min_count`, p <= e^log_limit), else None."""
        if x < min_count or x <= self.mean:
            return None
        log_p = self.log_tail(x, stop_above=log_limit)
        return log_p if log_p <= log_limit else None

    def critical_count(self, min_count: int, log_limit: float) -> int:
        """The smallest sum that alarms (`alarms` is monotone in it): a live window's trigger."""
        if log_limit == -math.inf:  # (a threshold past 1e154 sigmas: nothing alarms)
            return sys.maxsize
        lo = max(min_count, math.floor(self.mean) + 1)
        if self.alarms(lo, min_count, log_limit) is not None:
            return lo
        step = max(1, int(math.sqrt(self.mean * self.phi + 1.0)))
        hi = lo + step
        while self.alarms(hi, min_count, log_limit) is None:
            lo, step = hi, 2 * step
            hi = lo + step
        while hi - lo > 1:  # alarms(lo) is None, alarms(hi) is not
            mid = (lo + hi) // 2
            if self.alarms(mid, min_count, log_limit) is None:
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


class _Ewma:
    """An EWMA mean `mu` and the sum of its squared weights `w2`, windows folded in one at a time or in runs."""

    __slots__ = ("alpha", "mu", "w2")

    def __init__(self, alpha: float) -> None:
        self.alpha, self.mu, self.w2 = alpha, 0.0, 1.0

    def first(self, x: float) -> None:
        self.mu, self.w2 = x, 1.0

    def add(self, x: float) -> None:
        self.mu, self.w2 = fold(self.mu, self.w2, x, self.alpha)

    def add_empty(self, k: int) -> None:
        self.mu, self.w2 = fold_empty(self.mu, self.w2, k, self.alpha)

    @property
    def mean(self) -> float:
        """The predictive mean of a window: mu + w2/2."""
        return self.mu + PRIOR_SHAPE * self.w2


DISPERSION_PRIOR = 10.0  # windows: what the prior of a Poisson stream is worth


class _Dispersion:
    """A label's counts' variance / mean, from an EWMA (`alpha`, long: the dispersion is the label's nature) of
    the squared errors `d` of the slow baseline's predictions: E d^2 = var (1 + w2). The EWMA of squares is
    divided by its weights so far (`weight`: 1 - (1-alpha)^n). A window that alarms is left out (an incident
    does not make a label bursty for hours after it); a run of empty windows folds in closed form."""

    __slots__ = ("alpha", "sq", "weight")

    def __init__(self, alpha: float) -> None:
        self.alpha, self.sq, self.weight = alpha, 0.0, 0.0

    def phi(self, slow: _Ewma) -> float:
        """var / mean, at least 1 (Poisson). A prior of phi = 1 worth `DISPERSION_PRIOR` windows, fading as they
        would, keeps a label's first windows from calling it bursty on one burst."""
        mean = slow.mean
        if mean <= 0.0:
            return 1.0
        expected = (1.0 + slow.w2) * mean  # E d^2 of a Poisson stream
        prior = DISPERSION_PRIOR * self.alpha * (1.0 - self.weight)  # (1 - weight = (1 - alpha)^n)
        return max(1.0, (self.sq + prior * expected) / (self.weight + prior) / expected)

    def add(self, x: float, slow: _Ewma) -> None:
        d = x - slow.mu
        a = self.alpha
        self.sq += a * (d * d - self.sq)
        self.weight += a * (1.0 - self.weight)

    def add_empty(self, k: int, slow: _Ewma) -> None:
        """k windows of 0 before which the slow mean is mu (times b = 1 - slow.alpha per window):
        sq_k = c^k sq + a mu^2 sum_j<k c^(k-1-j) b^2j, c = 1 - a."""
        a = self.alpha
        c, b2 = 1.0 - a, (1.0 - slow.alpha) ** 2
        ck = c**k
        geometric = k * c ** (k - 1) if abs(c - b2) < 1e-12 else (ck - b2**k) / (c - b2)
        self.sq = ck * self.sq + a * slow.mu * slow.mu * geometric
        self.weight = 1.0 - ck * (1.0 - self.weight)


class SpanTest:
    """One test of the current window: the sum of its last `k` windows against `base`, `prev` counted before it.

    The current window must raise the span's excess in standard units, (S - k m) / sqrt(k) with m the baseline's
    mean of a window, above that of the k-1 windows before it: `min_x`, the smallest such count. A burst's
    quiet windows after it do not extend it, a sustained rise does (a dip below half its excess does not).
    """

    __slots__ = ("base", "k", "log_limit", "log_share", "min_x", "prev")  # (no dataclass: one less at start-up)

    def __init__(self, k: int, base: Baseline, prev: int, log_share: float, log_limit: float, min_x: int = 1) -> None:
        self.k, self.base, self.prev, self.log_share, self.log_limit, self.min_x = (k, base, prev, log_share,
                                                                                     log_limit, min_x)

    def alarms(self, x: int, min_count: int) -> float | None:
        if x < self.min_x:
            return None
        return self.base.alarms(self.prev + x, min_count, self.log_limit)

    def trigger(self, min_count: int) -> int:
        """The smallest count of the current window that alarms (sys.maxsize: none)."""
        total = self.base.critical_count(min_count, self.log_limit)
        return total if total == sys.maxsize else max(self.min_x, total - self.prev)


def raising(m: float, k: int, prev: int) -> int:
    """The smallest count x with (prev + x - k m) / sqrt(k) > (prev - (k-1) m) / sqrt(k-1), m the mean of a window."""
    need = m + (prev - (k - 1) * m) * (math.sqrt(k / (k - 1.0)) - 1.0)
    return max(1, math.floor(need) + 1)


class Track:
    """One label's baselines walked window by window, and its anomalous spans: what `detect` and the live
    watch share. The one-window test is judged by the framework's EWMA (`alpha`); the sums of the last
    `k` windows (`spans`) by a slower EWMA (`span_alpha`) as it stood before their first window."""

    def __init__(self, settings: AnomalySettings, window: int) -> None:
        self.s = settings
        self.next = window  # the window being counted (not folded in yet)
        self.seen = 0  # windows folded in
        self.fast = _Ewma(settings.alpha)
        self.slow = _Ewma(settings.span_alpha)
        self.disp = _Dispersion(settings.dispersion_alpha)
        depth = max(settings.spans, default=1) - 1
        # the last `depth` windows: (window, count, windows seen before it, the slow baseline's mu, w2, phi before it)
        self.recent: deque[tuple[int, int, int, float, float, float]] = deque(maxlen=max(depth, 1))
        self.depth = depth
        self.spans = sorted(settings.spans)
        self.limit = settings.log_p_limit()
        self.share_one, self.share_span = settings.log_share(False), settings.log_share(True)
        self.last_alarm: int | None = None
        self.span_start = 0

    def close(self, x: int, alarmed: bool = False) -> None:
        """Fold the current window's count in (an alarming one not into the dispersion); the next one is current."""
        if self.depth:
            slow = self.slow
            self.recent.append((self.next, x, self.seen, slow.mu, slow.w2, self.disp.phi(slow)))
        if self.seen == 0:
            self.fast.first(float(x))
            self.slow.first(float(x))
        else:
            if not alarmed:
                self.disp.add(float(x), self.slow)
            self.fast.add(float(x))
            self.slow.add(float(x))
        self.seen += 1
        self.next += 1

    def skip_to(self, window: int) -> None:
        """Fold the empty windows before `window` in (a long run in closed form: constant cost)."""
        gap = window - self.next
        if gap <= 0:
            return
        if self.seen == 0:  # the first window of the series sets the mean to its count
            self.close(0)
            gap -= 1
        bulk = gap - self.depth
        if bulk > 0:
            self.disp.add_empty(bulk, self.slow)
            self.fast.add_empty(bulk)
            self.slow.add_empty(bulk)
            self.seen += bulk
            self.next += bulk
            self.recent.clear()
        while self.next < window:
            self.close(0)

    def slow_baseline(self) -> Baseline:
        return Baseline(self.slow.mu, self.slow.w2, self.disp.phi(self.slow))

    def _specs(self, x: int) -> list[tuple[int, float, float, float, int, bool]]:
        """The current window's tests at count `x` whose sum is above its predictive mean (the others cannot
        alarm; all of them for x = sys.maxsize): (k, mu, w2, phi, prev, sustained), cheap to make."""
        s = self.s
        out = []
        seen = self.seen
        if seen >= s.min_history:
            fast = self.fast
            if x > fast.mu + PRIOR_SHAPE * fast.w2:
                out.append((1, fast.mu, fast.w2, self.disp.phi(self.slow), 0, False))
        recent = self.recent
        n = len(recent) if self.depth else 0
        prev = 0
        ks = self.spans
        j = 0  # windows of `recent` summed into prev
        for k in ks:
            if k == 1:
                if seen >= s.min_history:
                    slow = self.slow
                    if x > slow.mu + PRIOR_SHAPE * slow.w2:
                        out.append((1, slow.mu, slow.w2, self.disp.phi(slow), 0, True))
                continue
            if n < k - 1:
                break
            while j < k - 1:
                j += 1
                prev += recent[n - j][1]
            w, _, before, mu, w2, phi = recent[n - (k - 1)]
            if before < s.min_history or w != self.next - (k - 1):
                continue
            if prev + x > k * (mu + PRIOR_SHAPE * w2):
                out.append((k, mu, w2, phi, prev, True))
        return out

    def _test(self, spec: tuple[int, float, float, float, int, bool]) -> SpanTest:
        k, mu, w2, phi, prev, sustained = spec
        share = self.share_span if sustained else self.share_one
        return SpanTest(k, Baseline(mu, w2, phi, k), prev, share, self.limit + share,
                        raising(mu + PRIOR_SHAPE * w2, k, prev) if k > 1 else 1)

    def tests(self) -> list[SpanTest]:
        """The tests of the current window that its history allows."""
        return [self._test(spec) for spec in self._specs(sys.maxsize)]

    def judge(self, x: int) -> tuple[float, float, SpanTest] | None:
        """The most significant alarming test of the current window at count `x`: (log p / share, log p, test)."""
        best = None
        min_count = self.s.min_count
        for spec in self._specs(x):
            k, mu, w2, _, prev, _ = spec
            if prev + x < min_count or (k > 1 and x < raising(mu + PRIOR_SHAPE * w2, k, prev)):
                continue  # (the cheap checks first: `SpanTest.alarms` makes them again)
            t = self._test(spec)
            log_p = t.alarms(x, min_count)
            if log_p is not None:
                adj = log_p - t.log_share
                if best is None or adj < best[0]:
                    best = (adj, log_p, t)
        return best

    def first_test(self) -> tuple[int, SpanTest] | None:
        """The smallest count that alarms and the test that alarms first (the shortest span on a tie)."""
        best = None
        for t in self.tests():
            x = t.trigger(self.s.min_count)
            if x != sys.maxsize and (best is None or x < best[0]):
                best = (x, t)
        return best

    def extends_span(self, first: SpanTest | None = None) -> bool:
        """Whether an alarm of the current window extends the last span: a quiet window at most between them
        (`SPAN_GAP`), or, given `first`, the window's first alarming test, whose windows reach the span."""
        last = self.last_alarm
        if last is None:
            return False
        return self.next - last <= 1 + SPAN_GAP or (first is not None and self.next - first.k + 1 <= last + 1)

    def mark(self, first: SpanTest | None) -> bool:
        """The current window alarms: True when it opens a new span, which starts at the first window of
        `first`, the window's first alarming test (None: it extends the last span), that is elevated."""
        window = self.next
        if first is None or self.extends_span(first):
            self.last_alarm = window
            return False
        start = window - first.k + 1
        if self.last_alarm is not None:
            start = max(start, self.last_alarm + 1)
        # its leading windows not a standard deviation above the baseline are left out (they are closed: the
        # live watch sees the same counts)
        m = first.base.mean / first.k
        elevated = m + math.sqrt(first.base.phi * m)
        for w, c, *_ in self.recent:
            if w == start and start < window and c <= elevated:
                start += 1
        self.span_start, self.last_alarm = start, window
        return True


SPAN_GAP = 1  # quiet windows an anomalous span may hold between two alarming ones


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
        """Every anomalous span of a label's windows, oldest first.

        The cost grows with the windows that hold errors, not with the time the log spans: a run
        of empty windows is folded into the baseline in one step (`Track.skip_to`), and `work`
        counts the steps taken (windows with errors plus runs of empty ones).
        """
        self.work = 0
        if self.first is None or self.last is None:
            return []
        width = settings.window_minutes
        start_w = self.first // width
        found: list[Anomaly] = []
        for label, counts in self.minutes.items():
            windows: Counter[int] = Counter()
            for minute, n in counts.items():
                windows[minute // width] += n
            track = Track(settings, start_w)
            spans: list[list[float]] = []  # [start, end, log p / share, log p, baseline mean per window]
            for busy in sorted(windows):
                if busy > track.next:
                    track.skip_to(busy)  # empty windows: never anomalous (tests are of busy windows)
                    self.work += 1
                x = windows[busy]
                self.work += 1
                verdict = track.judge(x)
                if verdict is not None:
                    adj, log_p, _ = verdict
                    first = None
                    if not track.extends_span():  # (the window's first alarming test: needed for a new span only)
                        hit = track.first_test()
                        first = hit[1] if hit else verdict[2]
                    if track.mark(first):
                        spans.append([track.span_start, busy, adj, log_p, first.base.mu if first else 0.0])
                    else:
                        span = spans[-1]
                        span[1] = busy
                        if adj < span[2]:
                            span[2], span[3] = adj, log_p
                track.close(x, verdict is not None)
            for start, end, adj, log_p, mu in spans:
                a, b = int(start), int(end)
                total = sum(windows.get(w, 0) for w in range(a, b + 1))
                begin = datetime.fromtimestamp(a * width * 60, UTC)
                minutes = (b - a + 1) * width
                found.append(Anomaly(label, begin, begin + timedelta(minutes=minutes), total, mu / width,
                                     total / minutes, settings.score(adj), math.exp(log_p), b - a + 1))
        # windows after a label's last busy one cannot be anomalous (their counts are 0)
        found.sort(key=lambda a: (a.window_start, -a.score))
        return found
