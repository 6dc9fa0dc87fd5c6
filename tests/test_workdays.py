"""The working-day calendar: pure functions over the packaged holidays table."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone
from typing import Literal

import pytest

from backend.workdays import (
    HOLIDAY_YEARS,
    HOLIDAYS,
    LOCAL_TZ,
    add_working_days,
    due_at,
    is_working_day,
    parse_holidays,
)

HEADER = "date,kind,name_vi,name_en,basis\n"


def test_coverage_years() -> None:
    assert HOLIDAY_YEARS == (2025, 2027)


@pytest.mark.parametrize(
    ("day", "expected"),
    [
        (date(2025, 4, 25), True),  # ordinary Friday
        (date(2025, 4, 26), True),  # Saturday worked to make up for Fri 2 May 2025
        (date(2025, 4, 27), False),  # ordinary Sunday
        (date(2025, 5, 2), False),  # swapped Friday
        (date(2025, 9, 1), False),
        (date(2026, 2, 16), False),  # Tết Bính Ngọ
        (date(2026, 2, 23), True),
        (date(2026, 4, 26), False),  # Hùng Kings on a Sunday...
        (date(2026, 4, 27), False),  # ...so the Monday is off instead
        (date(2027, 2, 11), False),  # compensatory Tết day
        (date(2027, 5, 3), False),  # compensatory for 1 May on a Saturday
        (date(2028, 1, 3), True),  # outside the table: weekdays work
        (date(2028, 1, 1), False),  # outside the table: weekends still do not
    ],
)
def test_is_working_day(day: date, expected: bool) -> None:
    assert is_working_day(day) is expected


@pytest.mark.parametrize(
    ("start", "days", "expected"),
    [
        (date(2025, 3, 7), 1, date(2025, 3, 10)),  # Friday + 1 → Monday
        (date(2025, 3, 8), 1, date(2025, 3, 10)),  # received on a Saturday: start never counts
        (date(2025, 3, 10), 5, date(2025, 3, 17)),
        (date(2026, 2, 13), 1, date(2026, 2, 23)),  # across Tết 2026
        (date(2025, 4, 25), 1, date(2025, 4, 26)),  # swapped Saturday counts
        (date(2025, 4, 25), 4, date(2025, 5, 5)),  # Sat 26, Mon 28, Tue 29; 30/4–2/5 off; Mon 5
        (date(2026, 4, 24), 1, date(2026, 4, 28)),  # compensatory Monday skipped
        (date(2026, 8, 31), 1, date(2026, 9, 3)),  # National Day 1–2 Sep 2026
        (date(2027, 2, 4), 1, date(2027, 2, 12)),  # Tết 2027 with compensatory days
        (date(2024, 12, 31), 1, date(2025, 1, 2)),  # into the table from before it
    ],
)
def test_add_working_days(start: date, days: int, expected: date) -> None:
    assert add_working_days(start, days) == expected


@pytest.mark.parametrize(
    ("received_at", "days", "kind", "expected"),
    [
        # Friday 10:00 local → Monday
        (datetime(2025, 3, 7, 3, 0, tzinfo=UTC), 1, "working", datetime(2025, 3, 10, 16, 59, 59, tzinfo=UTC)),
        # 18:30Z Thursday is 01:30 Friday in Vietnam: counts from Friday, so due Monday, not Friday
        (datetime(2026, 3, 5, 18, 30, tzinfo=UTC), 1, "working", datetime(2026, 3, 9, 16, 59, 59, tzinfo=UTC)),
        # 16:59Z is still the same local day (23:59 local)
        (datetime(2026, 3, 5, 16, 59, tzinfo=UTC), 1, "working", datetime(2026, 3, 6, 16, 59, 59, tzinfo=UTC)),
        (datetime(2026, 2, 13, 2, 0, tzinfo=UTC), 1, "working", datetime(2026, 2, 23, 16, 59, 59, tzinfo=UTC)),
        # Calendar days ignore weekends and holidays alike
        (datetime(2026, 2, 13, 2, 0, tzinfo=UTC), 3, "calendar", datetime(2026, 2, 16, 16, 59, 59, tzinfo=UTC)),
        (datetime(2026, 3, 5, 18, 30, tzinfo=UTC), 1, "calendar", datetime(2026, 3, 7, 16, 59, 59, tzinfo=UTC)),
        # Any aware input works; the result is UTC
        (
            datetime(2025, 3, 7, 10, 0, tzinfo=timezone(timedelta(hours=7))),
            1,
            "working",
            datetime(2025, 3, 10, 16, 59, 59, tzinfo=UTC),
        ),
    ],
)
def test_due_at(received_at: datetime, days: int, kind: Literal["working", "calendar"], expected: datetime) -> None:
    result = due_at(received_at, days, kind)
    assert result == expected
    assert result.tzinfo is UTC
    local = result.astimezone(LOCAL_TZ)
    assert (local.hour, local.minute, local.second) == (23, 59, 59)


def test_due_at_boundary_is_on_time() -> None:
    due = due_at(datetime(2025, 3, 7, 3, 0, tzinfo=UTC), 1, "working")
    assert due == datetime(2025, 3, 10, 23, 59, 59, tzinfo=LOCAL_TZ)


@pytest.mark.parametrize("days", [0, -1])
def test_days_must_be_positive(days: int) -> None:
    with pytest.raises(ValueError, match="at least 1"):
        due_at(datetime(2025, 3, 7, 3, 0, tzinfo=UTC), days, "working")
    with pytest.raises(ValueError, match="at least 1"):
        due_at(datetime(2025, 3, 7, 3, 0, tzinfo=UTC), days, "calendar")
    with pytest.raises(ValueError, match="at least 1"):
        add_working_days(date(2025, 3, 7), days)


def test_naive_datetime_rejected() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        due_at(datetime(2025, 3, 7, 10, 0), 1, "working")


def test_unknown_kind_rejected() -> None:
    with pytest.raises(ValueError, match="unknown days kind"):
        due_at(datetime(2025, 3, 7, 3, 0, tzinfo=UTC), 1, "hours")  # type: ignore[arg-type]


def test_every_packaged_row_validates() -> None:
    # The import already validated the table; check the invariants directly too.
    assert HOLIDAYS.days_off
    assert all(day.weekday() < 5 for day in HOLIDAYS.days_off)
    assert all(day.weekday() >= 5 for day in HOLIDAYS.working_days)
    assert not HOLIDAYS.days_off & HOLIDAYS.working_days
    first, last = HOLIDAY_YEARS
    assert all(first <= day.year <= last for day in HOLIDAYS.days_off | HOLIDAYS.working_days)
    for year in range(first, last + 1):
        assert date(year, 1, 1).weekday() >= 5 or date(year, 1, 1) in HOLIDAYS.days_off


@pytest.mark.parametrize(
    ("rows", "message"),
    [
        ("2025-01-04,day_off,x,x,announced\n", "is a weekend"),  # Saturday
        ("2025-01-06,working_day,x,x,announced\n", "is a weekday"),  # Monday
        ("2025-01-01,holiday,x,x,announced\n", "unknown kind"),
        ("2025-01-01,day_off,x,x,rumoured\n", "unknown basis"),
        ("2025-13-01,day_off,x,x,announced\n", "bad date"),
        ("2025-01-01,day_off,,x,announced\n", "missing name"),
        ("2025-01-01,day_off,x,x,announced\n2025-01-01,day_off,x,x,announced\n", "duplicate"),
        ("2025-01-01,day_off,x,x,announced\n2027-01-01,day_off,x,x,statutory\n", r"no days off for \[2026\]"),
        ("", "empty"),
    ],
)
def test_bad_table_rejected(rows: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_holidays(HEADER + rows)


def test_bad_header_rejected() -> None:
    with pytest.raises(ValueError, match="expected columns"):
        parse_holidays("date,kind\n2025-01-01,day_off\n")


def test_good_table_parses() -> None:
    table = parse_holidays(HEADER + "2025-05-02,day_off,x,x,announced\n2025-04-26,working_day,x,x,announced\n")
    assert table.days_off == {date(2025, 5, 2)}
    assert table.working_days == {date(2025, 4, 26)}
    assert table.years == (2025, 2025)
