"""EWMA anomaly detection over per-label rate series (timestamps are the test's clock)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from mosaic_diag.triage.anomaly import AnomalySettings, RateSeries

T0 = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)


def series(counts_per_window: list[int], label: str = "OPENAI_RATE_LIMIT", width: int = 5) -> RateSeries:
    rs = RateSeries()
    rs.observe(T0)
    rs.observe(T0 + timedelta(minutes=width * len(counts_per_window) - 1))
    for w, n in enumerate(counts_per_window):
        for i in range(n):
            rs.add(label, T0 + timedelta(minutes=w * width, seconds=i % 290))
    return rs


def test_burst_above_baseline_is_flagged_with_real_sigma():
    rs = series([2, 3, 2, 3, 2, 30, 2])
    found = rs.detect(AnomalySettings())
    assert [a.count for a in found] == [30]
    a = found[0]
    assert a.window_start == T0 + timedelta(minutes=25)
    assert a.window_end == T0 + timedelta(minutes=30)
    assert 0.3 < a.baseline_rate < 0.6
    assert a.observed_rate == 6.0
    assert a.score > 3


def test_steady_high_rate_is_not_an_anomaly():
    assert series([20, 22, 19, 21, 20, 23, 20]).detect(AnomalySettings()) == []


def test_min_count_keeps_a_single_error_from_alarming():
    assert series([0, 0, 0, 0, 1, 0]).detect(AnomalySettings()) == []
    assert series([0, 0, 0, 0, 4, 0]).detect(AnomalySettings(min_count=5)) == []
    assert len(series([0, 0, 0, 0, 6, 0]).detect(AnomalySettings(min_count=5))) == 1


def test_no_history_no_alarm():
    assert series([40]).detect(AnomalySettings()) == []


def test_peak_sliding_window():
    rs = RateSeries()
    for minute in (0, 1, 2, 10, 10, 11):
        rs.add("X", T0 + timedelta(minutes=minute))
    assert rs.peak("X", 1) == 2
    assert rs.peak("X", 5) == 3
    assert rs.peak("X", 15) == 6
    assert rs.peak("Y", 5) == 0


def _walk(counts: dict[int, int], first: int, last: int, s: AnomalySettings) -> list[tuple[int, int, float]]:
    """The EWMA walked over every window (the definition the closed form must equal)."""
    mu = var = 0.0
    out = []
    for seen, w in enumerate(range(first, last + 1)):
        x = float(counts.get(w, 0))
        if seen >= s.min_history and x >= s.min_count:
            sigma = max(var ** 0.5, mu ** 0.5, 1.0)
            score = (x - mu) / sigma
            if score >= s.threshold:
                out.append((w, int(x), round(score, 9)))
        if seen == 0:
            mu = x
        else:
            diff = x - mu
            mu += s.alpha * diff
            var = (1 - s.alpha) * (var + s.alpha * diff * diff)
    return out


def test_quiet_stretches_fold_into_the_ewma_exactly():
    import random

    rnd = random.Random(7)
    s = AnomalySettings(min_count=3)
    for _ in range(40):
        rs = RateSeries()
        counts: dict[int, int] = {}
        first = rnd.randrange(0, 5)
        rs.observe(T0 + timedelta(minutes=5 * first))
        for _ in range(rnd.randrange(1, 30)):
            w = rnd.randrange(first, first + 80)
            n = rnd.choice((1, 1, 2, 5, 12, 30))
            counts[w] = counts.get(w, 0) + n
            for i in range(n):
                rs.add("X", T0 + timedelta(minutes=5 * w, seconds=i % 290))
        last = max(counts) + rnd.randrange(0, 10)
        rs.observe(T0 + timedelta(minutes=5 * last))
        base = int(T0.timestamp() // 60) // 5
        got = [(int(a.window_start.timestamp() // 60) // 5 - base, a.count, round(a.score, 9))
               for a in rs.detect(s)]
        assert got == _walk(counts, first, last, s)


def test_cost_grows_with_events_not_with_the_time_spanned():
    """200 errors whose timestamps span 50 years: the detector takes steps per busy window, not
    one per 5-minute window of the 50 years (5 million of them)."""
    rs = RateSeries()
    start = datetime(1976, 1, 1, tzinfo=UTC)
    for i in range(200):
        rs.add("X" if i % 2 else "Y", start + timedelta(days=i * 91, seconds=i))
    rs.observe(start + timedelta(days=365 * 50))
    rs.detect(AnomalySettings())
    assert 0 < rs.work <= 2 * 200 + 2
