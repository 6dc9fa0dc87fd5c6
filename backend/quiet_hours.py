"""Quiet hours: a daily local-time window in which non-critical pushes wait.

Pure functions, no I/O. A window is [start, end) in local time; one with start > end
crosses midnight (22:00-06:00), and one with start == end is no window at all.
"""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta, tzinfo

from backend.workdays import LOCAL_TZ

DEFAULT_QUIET_START = time(22, 0)
DEFAULT_QUIET_END = time(6, 0)


def in_quiet_hours(local_time: time, start: time, end: time) -> bool:
    """Whether a local wall-clock time falls inside the window [start, end)."""
    if start == end:
        return False
    if start < end:
        return start <= local_time < end
    return local_time >= start or local_time < end


def quiet_until(now: datetime, start: time, end: time, tz: tzinfo = LOCAL_TZ) -> datetime | None:
    """When the quiet hours that contain `now` end (in UTC), or None when `now` is outside them.

    `now` must be aware; the window is read in `tz` (Asia/Ho_Chi_Minh by default)."""
    if now.tzinfo is None:
        raise ValueError("now must be an aware datetime")
    local = now.astimezone(tz)
    wall = local.time().replace(tzinfo=None)
    if not in_quiet_hours(wall, start, end):
        return None
    end_day = local.date()
    if wall >= end:  # inside a window that crosses midnight, before midnight: it ends tomorrow
        end_day += timedelta(days=1)
    return datetime.combine(end_day, end, tzinfo=tz).astimezone(UTC)
