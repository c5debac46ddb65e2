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
