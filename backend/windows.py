"""Indicator windows, in Asia/Ho_Chi_Minh local days.

Rolling windows are whole local days ending with today (``7d`` is today and the six days
before it), so every grain of rollup (hourly per service, daily per commune) answers the
same question, and a window changes at local midnight, not every hour. Calendar windows
are the local day, the ISO week (Monday to Sunday) or the month containing a date.
Vietnam keeps no daylight saving time, so every local midnight falls on a UTC hour.

Pure: no I/O.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Literal, get_args

from backend.workdays import LOCAL_TZ

# Days the product has data for, with room on both sides: a window far outside them is a
# mistake in the request (and date arithmetic near year 1 or 9999 would overflow).
SUPPORTED_DAYS = (date(2000, 1, 1), date(2099, 12, 31))

WindowSpec = Literal["7d", "30d", "90d", "day", "week", "month"]
WINDOW_SPECS: tuple[str, ...] = get_args(WindowSpec)
ROLLING_DAYS = {"7d": 7, "30d": 30, "90d": 90}


class DayOutOfRange(ValueError):
    """A day outside SUPPORTED_DAYS."""


def check_day(day: date) -> date:
    if not SUPPORTED_DAYS[0] <= day <= SUPPORTED_DAYS[1]:
        raise DayOutOfRange(f"{day} is outside {SUPPORTED_DAYS[0]}..{SUPPORTED_DAYS[1]}")
    return day


@dataclass(frozen=True)
class Window:
    spec: str
    first_day: date
    last_day: date

    @property
    def starts_at(self) -> datetime:
        return local_midnight(self.first_day)

    @property
    def ends_at(self) -> datetime:
        return local_midnight(self.last_day + timedelta(days=1))

    @property
    def days(self) -> int:
        return (self.last_day - self.first_day).days + 1


def local_midnight(day: date) -> datetime:
    """The UTC instant at which a local day begins."""
    return datetime.combine(day, time(0), LOCAL_TZ).astimezone(UTC)


def local_day(at: datetime) -> date:
    return at.astimezone(LOCAL_TZ).date()


def window_for(spec: str, now: datetime, on: date | None = None) -> Window:
    """The window `spec` ending on (rolling) or containing (calendar) the local day `on`,
    by default today."""
    day = check_day(on if on is not None else local_day(now))
    if spec in ROLLING_DAYS:
        return Window(spec, day - timedelta(days=ROLLING_DAYS[spec] - 1), day)
    if spec == "day":
        return Window(spec, day, day)
    if spec == "week":
        monday = day - timedelta(days=day.weekday())
        return Window(spec, monday, monday + timedelta(days=6))
    if spec == "month":
        first = day.replace(day=1)
        following = (first + timedelta(days=32)).replace(day=1)
        return Window(spec, first, following - timedelta(days=1))
    raise ValueError(f"unknown window {spec!r}")
