"""Vietnam's working-day calendar for public offices, used to turn a procedure's statutory
processing time into a dossier's due time.

The calendar is Monday–Friday, adjusted by backend/data/holidays.csv
(``date,kind,name_vi,name_en,basis``):

* ``day_off`` — a weekday on which offices are closed: a statutory holiday (Labour Code 2019
  art. 112), a compensatory day off for a holiday that fell on a weekend, or a day the
  government swapped off;
* ``working_day`` — a Saturday or Sunday worked to make up for such a swap.

``basis`` is ``announced`` when the government had fixed the days when the row was written, and
``statutory`` when the row was derived from the Labour Code rules alone; statutory rows should be
checked against the Prime Minister's annual notice, which may add swaps.

The table covers ``HOLIDAY_YEARS`` and MUST be extended every year (before the new year begins,
once the government announces the next year's Tết and swaps). Outside that range weekends still
count as days off but holidays are unknown, so a due time there may come too early by the
holidays the table lacks.

Everything here is pure: the table is read once at import, and a malformed table fails the import
rather than silently producing wrong deadlines.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Literal
from zoneinfo import ZoneInfo

__all__ = [
    "HOLIDAYS",
    "HOLIDAY_YEARS",
    "LOCAL_TZ",
    "HolidayTable",
    "add_working_days",
    "due_at",
    "is_working_day",
    "parse_holidays",
]

LOCAL_TZ = ZoneInfo("Asia/Ho_Chi_Minh")

# Same layout as backend/seed/reference.py, so the wheel ships it alongside the other reference data.
HOLIDAYS_CSV = Path(__file__).resolve().parent / "data" / "holidays.csv"

_COLUMNS = ("date", "kind", "name_vi", "name_en", "basis")
_KINDS = frozenset({"day_off", "working_day"})
_BASES = frozenset({"announced", "statutory"})
# 23:59:59 rather than midnight of the next day, so the due date shown to citizens is the statutory one.
_END_OF_DAY = time(23, 59, 59)


@dataclass(frozen=True, slots=True)
class HolidayTable:
    days_off: frozenset[date]
    working_days: frozenset[date]
    years: tuple[int, int]


def _is_weekend(day: date) -> bool:
    return day.weekday() >= 5


def parse_holidays(text: str) -> HolidayTable:
    """Parse and validate the holidays table; raise ValueError naming the first bad row."""
    reader = csv.DictReader(io.StringIO(text))
    if tuple(reader.fieldnames or ()) != _COLUMNS:
        raise ValueError(f"holidays table: expected columns {','.join(_COLUMNS)}, got {reader.fieldnames}")
    days_off: set[date] = set()
    working_days: set[date] = set()
    for line, row in enumerate(reader, start=2):
        where = f"holidays table line {line}"
        try:
            day = date.fromisoformat(row["date"])
        except (TypeError, ValueError) as exc:
            raise ValueError(f"{where}: bad date {row['date']!r}") from exc
        kind, basis = row["kind"], row["basis"]
        if kind not in _KINDS:
            raise ValueError(f"{where}: unknown kind {kind!r}")
        if basis not in _BASES:
            raise ValueError(f"{where}: unknown basis {basis!r}")
        if not (row["name_vi"] or "").strip() or not (row["name_en"] or "").strip():
            raise ValueError(f"{where}: missing name")
        if day in days_off or day in working_days:
            raise ValueError(f"{where}: duplicate date {day}")
        # A row that restates the default (a weekday working, a weekend off) is a typo for another date.
        if kind == "day_off":
            if _is_weekend(day):
                raise ValueError(f"{where}: day_off {day} is a weekend; list the compensatory weekday instead")
            days_off.add(day)
        else:
            if not _is_weekend(day):
                raise ValueError(f"{where}: working_day {day} is a weekday")
            working_days.add(day)
    dates = days_off | working_days
    if not dates:
        raise ValueError("holidays table is empty")
    first, last = min(dates).year, max(dates).year
    # A year with no rows would silently be treated as having no holidays at all.
    missing = sorted(set(range(first, last + 1)) - {day.year for day in days_off})
    if missing:
        raise ValueError(f"holidays table: no days off for {missing}")
    return HolidayTable(frozenset(days_off), frozenset(working_days), (first, last))


with HOLIDAYS_CSV.open(encoding="utf-8", newline="") as _handle:
    HOLIDAYS = parse_holidays(_handle.read())

HOLIDAY_YEARS: tuple[int, int] = HOLIDAYS.years


def is_working_day(day: date) -> bool:
    """Whether public offices are open on ``day`` (outside HOLIDAY_YEARS: Monday–Friday)."""
    if _is_weekend(day):
        return day in HOLIDAYS.working_days
    return day not in HOLIDAYS.days_off


def add_working_days(start: date, days: int) -> date:
    """The ``days``-th working day after ``start``.

    ``start`` itself never counts, whether or not it is a working day: one-stop-shop receipts
    count from the day after receipt (received Friday, 1 working day → Monday).
    """
    if days < 1:
        raise ValueError(f"days must be at least 1, got {days}")
    day = start
    remaining = days
    while remaining:
        day += timedelta(days=1)
        if is_working_day(day):
            remaining -= 1
    return day


def due_at(received_at: datetime, days: int, kind: Literal["working", "calendar"]) -> datetime:
    """When a dossier received at ``received_at`` is due: 23:59:59 Vietnam time on the due date, in UTC.

    The due date counts from the local (Asia/Ho_Chi_Minh) date of receipt, because a dossier
    handed in at 01:30 local is received that day even though it is still the previous day in UTC.
    A dossier completed at or before the returned instant is on time.
    """
    if received_at.tzinfo is None or received_at.utcoffset() is None:
        raise ValueError("received_at must be timezone-aware")
    if days < 1:
        raise ValueError(f"days must be at least 1, got {days}")
    received_on = received_at.astimezone(LOCAL_TZ).date()
    if kind == "working":
        due_on = add_working_days(received_on, days)
    elif kind == "calendar":
        due_on = received_on + timedelta(days=days)
    else:
        raise ValueError(f"unknown days kind {kind!r}")
    return datetime.combine(due_on, _END_OF_DAY, tzinfo=LOCAL_TZ).astimezone(UTC)
