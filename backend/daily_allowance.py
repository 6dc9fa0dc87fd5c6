"""What one app install may send per local day (Asia/Ho_Chi_Minh): feedback items and the
photo bytes that come with them (FEEDBACK_DAILY_LIMIT, FEEDBACK_DAILY_PHOTO_BYTES).

The day's usage is a row per install and day, incremented in the submission's transaction
*before* anything is stored, and the decision is taken on the incremented values, so two
concurrent submissions cannot both squeeze into the last slot (the row lock makes them take
turns). A refused or failed submission rolls its increment back with everything else. An
idempotent replay of an item already stored is answered before this is consulted, so a
citizen never loses what was stored.
"""

from __future__ import annotations

import math
import uuid
from datetime import date, datetime, timedelta
from typing import Any

from backend.errors import AppError
from backend.workdays import LOCAL_TZ


def local_day(now: datetime) -> date:
    return now.astimezone(LOCAL_TZ).date()


def seconds_to_local_midnight(now: datetime) -> int:
    """Retry-After for a daily allowance: until the next local day starts (at least 1)."""
    local = now.astimezone(LOCAL_TZ)
    midnight = datetime.combine(local.date() + timedelta(days=1), datetime.min.time(), LOCAL_TZ)
    return max(math.ceil((midnight - local).total_seconds()), 1)


def over_allowance(items: int, photo_bytes: int, item_limit: int, byte_limit: int) -> bool:
    """Usage *including* the submission being decided on, against the day's allowance."""
    return items > item_limit or photo_bytes > byte_limit


USAGE_SQL = """
select feedback_items, photo_bytes from install_daily_usage where citizen_id = $1 and local_day = $2
"""

SPEND_SQL = """
insert into install_daily_usage as u (citizen_id, local_day, feedback_items, photo_bytes)
values ($1, $2, 1, $3)
on conflict (citizen_id, local_day) do update
set feedback_items = u.feedback_items + 1, photo_bytes = u.photo_bytes + excluded.photo_bytes
returning feedback_items, photo_bytes
"""

GIVE_BACK_SQL = """
update install_daily_usage
set feedback_items = greatest(feedback_items - 1, 0), photo_bytes = greatest(photo_bytes - $3, 0)
where citizen_id = $1 and local_day = $2
"""


def _refuse(now: datetime) -> AppError:
    return AppError("feedback_limit_reached", headers={"retry-after": str(seconds_to_local_midnight(now))})


async def check_feedback_room(
    conn: Any, citizen_id: uuid.UUID, photo_bytes: int, item_limit: int, byte_limit: int, now: datetime
) -> None:
    """A read-only early refusal, before photos are decoded and re-encoded (seconds of CPU
    for a full submission); `spend_feedback` decides for good."""
    row = await conn.fetchrow(USAGE_SQL, citizen_id, local_day(now))
    items, used = (row["feedback_items"], row["photo_bytes"]) if row else (0, 0)
    if over_allowance(items + 1, used + photo_bytes, item_limit, byte_limit):
        raise _refuse(now)


async def spend_feedback(
    conn: Any, citizen_id: uuid.UUID, photo_bytes: int, item_limit: int, byte_limit: int, now: datetime
) -> None:
    """Count this submission in the day's usage, then refuse it (429) if that went over."""
    row = await conn.fetchrow(SPEND_SQL, citizen_id, local_day(now), photo_bytes)
    if over_allowance(row["feedback_items"], row["photo_bytes"], item_limit, byte_limit):
        raise _refuse(now)  # the caller's transaction rolls the increment back


async def give_back_feedback(conn: Any, citizen_id: uuid.UUID, photo_bytes: int, now: datetime) -> None:
    """A submission that turned out to be a concurrent replay stored nothing new."""
    await conn.execute(GIVE_BACK_SQL, citizen_id, local_day(now), photo_bytes)
