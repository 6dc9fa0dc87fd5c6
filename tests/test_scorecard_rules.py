"""Scorecard rules, table-tested. Every expected figure below is worked by hand in the comment
beside it (z = 1.96, z² = 3.8415), not copied from the code's output."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from backend.scorecard_rules import (
    Component,
    band,
    composite,
    decree_progress,
    expected_rate,
    first_working_day,
    freezes_at,
    mean_interval,
    parse_period,
    parse_weights,
    periods_containing,
    previous_month,
    processing_component,
    processing_credit,
    progress_component,
    rank_intervals,
    rate_component,
    working_day_index,
    working_days_between,
)


@pytest.mark.parametrize(
    ("on_time", "late", "expected"),
    [
        (10, 0, 100.0),  # nothing late: full points
        (3, 1, 93.75),  # (3 + 0.75) / 4 = 0.9375
        (0, 4, 75.0),  # every product late: each keeps 75 %
        (1, 1, 87.5),  # (1 + 0.75) / 2
        (7, 3, 92.5),  # (7 + 2.25) / 10
        (0, 0, None),  # no products: no progress figure at all
    ],
)
def test_decree_progress_costs_a_quarter_per_late_product(on_time: int, late: int, expected: float | None) -> None:
    assert decree_progress(on_time, late) == expected


@pytest.mark.parametrize(
    ("score", "expected"),
    [
        (100.0, "excellent"),
        (90.0, "excellent"),  # 90 and up
        (89.999, "good"),
        (70.0, "good"),  # 70 to under 90
        (69.99, "completed"),
        (50.0, "completed"),  # 50 to under 70
        (49.99, "not_completed"),
        (0.0, "not_completed"),
    ],
)
def test_bands_follow_the_decree(score: float, expected: str) -> None:
    assert band(score) == expected


def test_progress_interval_maps_the_late_share() -> None:
    # 1 late of 4: Wilson of 1/4: centre 0.25 + 3.8415/8 = 0.73019, spread 1.96·√(0.046875 + 0.060023) = 0.64082,
    # denominator 1 + 3.8415/4 = 1.96036 → late share in [0.04559, 0.69936];
    # progress = 100·(1 − 0.25·share) → [100·(1 − 0.17484), 100·(1 − 0.01140)] = [82.52, 98.86]; score 93.75.
    c = progress_component(3, 1, minimum=4)
    assert c.status == "ok" and c.sample_size == 4 and c.score == 93.75
    assert c.ci_low == pytest.approx(82.516, abs=0.01) and c.ci_high == pytest.approx(98.860, abs=0.01)
    assert progress_component(3, 1, minimum=5).status == "insufficient"
    assert progress_component(0, 0, minimum=1).status == "not_applicable"


def test_rate_component_is_a_wilson_rate_in_points() -> None:
    # 0 of 3 satisfied: Wilson [0, 3.8415/(3 + 3.8415)·...] — upper 0.5615 → 56.15 points, not a certain zero.
    c = rate_component("satisfaction", 0, 3, minimum=10)
    assert c.status == "insufficient" and c.score == 0.0
    assert c.ci_low == pytest.approx(0.0, abs=1e-9) and c.ci_high == pytest.approx(56.15, abs=0.01)
    # 9 of 10: upper bound 0.98212, lower 0.59585.
    c = rate_component("satisfaction", 9, 10, minimum=10)
    assert c.status == "ok" and c.score == 90.0
    assert (c.ci_low, c.ci_high) == (pytest.approx(59.585, abs=0.01), pytest.approx(98.212, abs=0.01))


@pytest.mark.parametrize(
    ("taken", "statutory", "credit"),
    [
        (0, 5, 1.0),  # same day
        (5, 5, 1.0),  # on the last statutory day
        (6, 4, 0.5),  # used 1.5 of the time: 2 − 1.5
        (10, 5, 0.0),  # twice the time: nothing
        (30, 5, 0.0),  # never below zero
        (13, 10, 0.7),  # 2 − 1.3
    ],
)
def test_processing_credit(taken: int, statutory: int, credit: float) -> None:
    assert processing_credit(taken, statutory) == pytest.approx(credit)


def test_mean_interval_and_processing_component() -> None:
    # credits 1, 1, 0.5, 0.5: mean 0.75, variance (2.5 − 4·0.5625)/3 = 0.08333, se √(0.08333/4) = 0.14434,
    # half 1.96·0.14434 = 0.28290 → [0.46710, 1.03290] clamped to [0.46710, 1].
    assert mean_interval(4, 3.0, 2.5, 0.0, 1.0) == (pytest.approx(0.46710, abs=1e-4), 1.0)
    assert mean_interval(1, 1.0, 1.0, 0.0, 1.0) is None
    c = processing_component(4, 3.0, 2.5, minimum=3)
    assert c.status == "ok" and c.score == 75.0 and c.ci_low == pytest.approx(46.71, abs=0.01) and c.ci_high == 100.0
    assert processing_component(0, 0.0, 0.0, minimum=3).status == "not_applicable"


W = (("progress", 40.0), ("processing", 10.0), ("satisfaction", 30.0), ("feedback", 20.0))


def test_composite_weighted_mean_of_components_with_data() -> None:
    parts = [
        Component("progress", "ok", 20, 92.5, 85.0, 97.0),
        Component("processing", "ok", 20, 80.0, 70.0, 90.0),
        Component("satisfaction", "ok", 40, 75.0, 60.0, 85.0),
        Component("feedback", "ok", 4, 50.0, 15.0, 85.0),
    ]
    # (40·92.5 + 10·80 + 30·75 + 20·50) / 100 = (3700 + 800 + 2250 + 1000) / 100 = 77.5 → good
    # low (40·85 + 10·70 + 30·60 + 20·15) / 100 = (3400 + 700 + 1800 + 300) / 100 = 62
    # high (40·97 + 10·90 + 30·85 + 20·85) / 100 = (3880 + 900 + 2550 + 1700) / 100 = 90.3
    c = composite(parts, W, 0.5)
    assert c.status == "ok" and c.score == pytest.approx(77.5) and c.band == "good"
    assert c.ci_low == pytest.approx(62.0) and c.ci_high == pytest.approx(90.3) and c.weight_share == 1.0


def test_composite_drops_components_without_enough_data() -> None:
    parts = [
        Component("progress", "ok", 20, 100.0, 90.0, 100.0),
        Component("processing", "ok", 20, 90.0, 80.0, 100.0),
        Component("satisfaction", "insufficient", 3, 0.0, 0.0, 56.0),  # 3 ratings judge nobody
        Component("feedback", "not_applicable", 0),
    ]
    # progress and processing carry 50 of 100: (40·100 + 10·90) / 50 = 98 → excellent
    c = composite(parts, W, 0.5)
    assert c.status == "ok" and c.score == pytest.approx(98.0) and c.band == "excellent" and c.weight_share == 0.5
    # the same with a 60 % minimum share: insufficient data, no score, no band
    c = composite(parts, W, 0.6)
    assert c.status == "insufficient" and c.score is None and c.band is None
    assert composite([Component("progress", "not_applicable", 0)], W, 0.0).status == "insufficient"


def test_standardisation_uses_the_units_own_mix() -> None:
    province = {"land": (60, 100), "copies": (99, 100)}  # land 60 % on time, copies 99 %
    # a land desk: 10 land dossiers, 0 copies → expected 0.60; a copy desk: 0.99
    assert expected_rate({"land": 10}, province) == pytest.approx(0.60)
    assert expected_rate({"copies": 30}, province) == pytest.approx(0.99)
    # mixed: (10·0.60 + 30·0.99) / 40 = (6 + 29.7) / 40 = 0.8925
    assert expected_rate({"land": 10, "copies": 30}, province) == pytest.approx(0.8925)
    # a procedure the province has no figure for drops out; nothing left → None
    assert expected_rate({"land": 10, "birth": 5}, province) == pytest.approx(0.60)
    assert expected_rate({"birth": 5}, province) is None


def test_ranks_are_intervals_where_figures_overlap() -> None:
    items = [("a", 90.0, 98.0), ("b", 85.0, 95.0), ("c", 40.0, 60.0), ("d", 55.0, 70.0)]
    # a and b overlap: both 1–2; c and d overlap: both 3–4
    assert rank_intervals(items) == {"a": (1, 2), "b": (1, 2), "c": (3, 4), "d": (3, 4)}
    # disjoint intervals: exact ranks
    assert rank_intervals([("x", 10.0, 20.0), ("y", 30.0, 40.0)]) == {"x": (2, 2), "y": (1, 1)}


@pytest.mark.parametrize(
    ("text", "kind", "start", "end", "label"),
    [
        ("2026-10", "month", date(2026, 10, 1), date(2026, 11, 1), "2026-10"),
        ("2026-12", "month", date(2026, 12, 1), date(2027, 1, 1), "2026-12"),
        ("2026-Q4", "quarter", date(2026, 10, 1), date(2027, 1, 1), "2026-Q4"),
        ("2026-q1", "quarter", date(2026, 1, 1), date(2026, 4, 1), "2026-Q1"),
    ],
)
def test_parse_period(text: str, kind: str, start: date, end: date, label: str) -> None:
    period = parse_period(text)
    assert (period.kind, period.start, period.end, period.label) == (kind, start, end, label)


@pytest.mark.parametrize("text", ["2026", "2026-13", "2026-00", "2026-Q5", "26-10", "2026-1", "x", "9999-01", ""])
def test_parse_period_refuses(text: str) -> None:
    with pytest.raises(ValueError):
        parse_period(text)


def test_periods_in_vietnam_time() -> None:
    period = parse_period("2026-11")
    # local midnight 1 Nov is 17:00 UTC on 31 Oct (UTC+7)
    assert period.start_utc == datetime(2026, 10, 31, 17, tzinfo=UTC)
    assert period.end_utc == datetime(2026, 11, 30, 17, tzinfo=UTC)
    month, quarter = periods_containing(date(2026, 11, 29))
    assert (month.label, quarter.label) == ("2026-11", "2026-Q4")
    assert previous_month(date(2026, 1, 15)).label == "2025-12"
    # frozen 5 days after the end: local midnight of 6 Dec = 17:00 UTC on 5 Dec
    assert freezes_at(period, 5) == datetime(2026, 12, 5, 17, tzinfo=UTC)


@pytest.mark.parametrize(
    ("start", "end", "days"),
    [
        # Friday 2 Oct 2026 → Monday 5 Oct: one working day (the weekend skipped)
        (datetime(2026, 10, 2, 2, tzinfo=UTC), datetime(2026, 10, 5, 2, tzinfo=UTC), 1),
        # same local day
        (datetime(2026, 10, 5, 1, tzinfo=UTC), datetime(2026, 10, 5, 9, tzinfo=UTC), 0),
        # 31 Aug 2026 (Mon) → 3 Sep (Thu): 1 and 2 Sep are National Day → only the 3rd counts
        (datetime(2026, 8, 31, 2, tzinfo=UTC), datetime(2026, 9, 3, 2, tzinfo=UTC), 1),
        # 18:00 UTC on 4 Oct is 01:00 local on Monday 5 Oct: counts from Monday, not Sunday
        (datetime(2026, 10, 4, 18, tzinfo=UTC), datetime(2026, 10, 6, 2, tzinfo=UTC), 1),
    ],
)
def test_working_days_between(start: datetime, end: datetime, days: int) -> None:
    assert working_days_between(start, end) == days


def test_first_working_day_of_month() -> None:
    assert first_working_day(2026, 11) == date(2026, 11, 2)  # 1 Nov 2026 is a Sunday
    assert first_working_day(2026, 9) == date(2026, 9, 3)  # 1–2 Sep National Day
    assert first_working_day(2026, 10) == date(2026, 10, 1)  # a Thursday


def test_parse_weights() -> None:
    assert parse_weights("progress=40, satisfaction=30") == (("progress", 40.0), ("satisfaction", 30.0))
    for bad in ("speed=10", "progress=x", "progress=-1", "progress=0", "progress=1,progress=2", "progress"):
        with pytest.raises(ValueError):
            parse_weights(bad)


def test_working_day_index_agrees_with_counting() -> None:
    # Mon 31 Aug .. Mon 7 Sep 2026: 1-2 Sep National Day, 5-6 Sep weekend →
    # working: 31 Aug, 3, 4, 7 Sep → cumulative 1,1,1,2,3,3,3,4
    index = working_day_index(date(2026, 8, 31), date(2026, 9, 7))
    assert index == [1, 1, 1, 2, 3, 3, 3, 4]
    start = datetime(2026, 8, 31, 2, tzinfo=UTC)
    for i in range(8):
        end = datetime.combine(date(2026, 8, 31) + timedelta(days=i), datetime.min.time(), tzinfo=UTC).replace(hour=2)
        assert index[i] - index[0] == working_days_between(start, end)
