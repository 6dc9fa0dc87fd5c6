"""Indicator maths and windows: pure, no I/O."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from backend.indicators import (
    BUCKETS,
    Sums,
    bucket_bounds,
    histogram_quantile,
    indicator_values,
    processing_bucket,
    score_mean,
    wilson_interval,
)
from backend.windows import DayOutOfRange, local_day, window_for


@pytest.mark.parametrize(
    ("successes", "n", "low", "high"),
    [
        # Reference values from Wilson (1927) / Newcombe (1998), table I, z = 1.96.
        (81, 263, 0.2553, 0.3662),
        (15, 148, 0.0624, 0.1605),
        (0, 20, 0.0, 0.1611),
        (1, 29, 0.0061, 0.1718),
        (20, 20, 0.8389, 1.0),
        # Three ratings, all bad: the interval still reaches past 50 %.
        (0, 3, 0.0, 0.5615),
    ],
)
def test_wilson_interval_matches_published_values(successes: int, n: int, low: float, high: float) -> None:
    interval = wilson_interval(successes, n)
    assert interval is not None
    assert interval[0] == pytest.approx(low, abs=1e-4)
    assert interval[1] == pytest.approx(high, abs=1e-4)


def test_wilson_interval_narrows_with_more_evidence_and_contains_the_estimate() -> None:
    widths = []
    for n in (10, 100, 1000, 10000):
        low, high = wilson_interval(int(0.7 * n), n)  # type: ignore[misc]
        assert low < 0.7 < high
        widths.append(high - low)
    assert widths == sorted(widths, reverse=True)
    assert wilson_interval(0, 0) is None


def test_score_mean_interval() -> None:
    measure = score_mean([0, 0, 0, 10, 10])
    assert measure.value == pytest.approx(4.5)
    assert measure.sample_size == 20
    assert measure.ci_low is not None and measure.ci_high is not None
    assert 4.2 < measure.ci_low < 4.5 < measure.ci_high < 4.8
    single = score_mean([0, 0, 1, 0, 0])
    assert single.value == 3 and single.ci_low is None
    assert score_mean([0] * 5).value is None


@pytest.mark.parametrize(
    ("seconds", "bucket"),
    [(0, 0), (899.9, 0), (900, 1), (1124.9, 1), (1125, 2), (3600, 7), (86400, 21), (1e12, BUCKETS - 1)],
)
def test_processing_bucket_edges(seconds: float, bucket: int) -> None:
    assert processing_bucket(seconds) == bucket
    low, high = bucket_bounds(bucket)
    assert low <= seconds and (high is None or seconds < high + 1e-6)


def test_histogram_quantile_interpolates_inside_the_bucket() -> None:
    # 100 dossiers spread evenly over 1 000 hours: the estimate stays within a bucket's width.
    samples = [3600 * (i + 1) * 10 for i in range(100)]
    histogram: dict[int, int] = {}
    for s in samples:
        histogram[processing_bucket(s)] = histogram.get(processing_bucket(s), 0) + 1
    median = histogram_quantile(histogram, 0.5)
    p90 = histogram_quantile(histogram, 0.9)
    assert median is not None and p90 is not None
    assert abs(median - 500 * 3600) / (500 * 3600) < 0.1
    assert abs(p90 - 900 * 3600) / (900 * 3600) < 0.1
    assert histogram_quantile({}, 0.5) is None
    assert histogram_quantile({BUCKETS - 1: 3}, 0.5) == bucket_bounds(BUCKETS - 1)[0]


def test_indicator_values_carry_sample_sizes() -> None:
    values = indicator_values(
        Sums(
            ratings=10,
            satisfied=7,
            verified=4,
            score_sum=38,
            score_counts=[1, 1, 1, 3, 4],
            dim_sums=[8, 0, 0, 0, 0],
            dim_counts=[2, 0, 0, 0, 0],
            completed_on_time=9,
            completed_late=1,
            processing={5: 10},
            feedback_backlog=3,
        )
    )
    assert values.satisfaction_rate.value == 0.7 and values.satisfaction_rate.sample_size == 10
    assert values.verified_share.value == 0.4
    assert values.on_time_rate.value == 0.9 and values.on_time_rate.sample_size == 10
    assert values.dimensions.access.value == 4 and values.dimensions.procedure.value is None
    assert values.processing_median_hours.sample_size == 10
    assert values.volume == 10 and values.feedback_backlog == 3 and values.feedback_overdue == 0
    empty = indicator_values(Sums())
    assert empty.satisfaction_rate.value is None and empty.satisfaction_rate.sample_size == 0


@pytest.mark.parametrize(
    ("spec", "now", "first", "last"),
    [
        # 16:59 UTC is 23:59 in Hà Nội; 17:00 UTC is already the next local day.
        ("day", datetime(2026, 3, 1, 16, 59, tzinfo=UTC), date(2026, 3, 1), date(2026, 3, 1)),
        ("day", datetime(2026, 3, 1, 17, 0, tzinfo=UTC), date(2026, 3, 2), date(2026, 3, 2)),
        ("7d", datetime(2026, 3, 1, 17, 0, tzinfo=UTC), date(2026, 2, 24), date(2026, 3, 2)),
        ("30d", datetime(2026, 3, 1, 5, 0, tzinfo=UTC), date(2026, 1, 31), date(2026, 3, 1)),
        ("90d", datetime(2026, 3, 1, 5, 0, tzinfo=UTC), date(2025, 12, 2), date(2026, 3, 1)),
        # Sunday 23:30 local is still in the week that began on Monday the 23rd.
        ("week", datetime(2026, 3, 1, 16, 30, tzinfo=UTC), date(2026, 2, 23), date(2026, 3, 1)),
        ("week", datetime(2026, 3, 1, 17, 30, tzinfo=UTC), date(2026, 3, 2), date(2026, 3, 8)),
        # 31 January 17:00 UTC is 1 February local.
        ("month", datetime(2026, 1, 31, 16, 0, tzinfo=UTC), date(2026, 1, 1), date(2026, 1, 31)),
        ("month", datetime(2026, 1, 31, 17, 0, tzinfo=UTC), date(2026, 2, 1), date(2026, 2, 28)),
        ("month", datetime(2028, 2, 10, 0, 0, tzinfo=UTC), date(2028, 2, 1), date(2028, 2, 29)),
    ],
)
def test_windows_follow_local_days(spec: str, now: datetime, first: date, last: date) -> None:
    window = window_for(spec, now)
    assert (window.first_day, window.last_day) == (first, last)
    # Local midnight in Asia/Ho_Chi_Minh is 17:00 UTC the day before.
    assert window.starts_at == datetime(first.year, first.month, first.day, tzinfo=UTC) - timedelta(hours=7)
    assert local_day(window.ends_at) == date.fromordinal(last.toordinal() + 1)


def test_window_on_a_chosen_day() -> None:
    now = datetime(2026, 11, 24, 3, tzinfo=UTC)
    assert window_for("month", now, on=date(2026, 2, 14)).last_day == date(2026, 2, 28)
    assert window_for("7d", now, on=date(2026, 2, 14)).first_day == date(2026, 2, 8)
    with pytest.raises(ValueError):
        window_for("1y", now)


@pytest.mark.parametrize("on", [date(1, 1, 2), date(1999, 12, 31), date(2100, 1, 1), date(9999, 12, 31)])
def test_windows_refuse_days_outside_the_supported_years(on: date) -> None:
    for spec in ("90d", "month", "week"):
        with pytest.raises(DayOutOfRange):
            window_for(spec, datetime(2026, 11, 24, tzinfo=UTC), on=on)
