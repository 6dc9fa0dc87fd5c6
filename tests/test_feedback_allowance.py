"""Each install's daily feedback allowance (items and photo bytes, per Asia/Ho_Chi_Minh day)
through the API: 429 with a stable code and Retry-After to local midnight, concurrent
submissions never share the last slot, a retry of a stored item is always replayed."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime
from typing import Any

import asyncpg
import msgspec
import pytest
from litestar.testing import AsyncTestClient

from backend.app import create_app
from backend.daily_allowance import local_day, over_allowance, seconds_to_local_midnight
from backend.settings import Settings
from tests.test_feedback_citizen import JPEG, PNG, feedback, new_citizen, submit


@pytest.mark.parametrize(
    ("now", "seconds", "day"),
    [
        # 23:59:30 in Hanoi is 16:59:30 UTC: thirty seconds to go, still that day.
        (datetime(2026, 11, 29, 16, 59, 30, tzinfo=UTC), 30, "2026-11-29"),
        # 17:00 UTC is local midnight: a whole day ahead, the next date.
        (datetime(2026, 11, 29, 17, 0, 0, tzinfo=UTC), 86400, "2026-11-30"),
        # 05:00 UTC is noon in Hanoi.
        (datetime(2026, 11, 29, 5, 0, 0, tzinfo=UTC), 43200, "2026-11-29"),
        (datetime(2026, 11, 29, 5, 0, 0, 500000, tzinfo=UTC), 43200, "2026-11-29"),
    ],
)
def test_local_day_and_retry_after(now: datetime, seconds: int, day: str) -> None:
    assert seconds_to_local_midnight(now) == seconds
    assert local_day(now).isoformat() == day


@pytest.mark.parametrize(
    ("items", "photo_bytes", "refused"),
    [(3, 100, False), (4, 100, True), (3, 101, True), (1, 0, False), (0, 0, False)],
)
def test_over_allowance(items: int, photo_bytes: int, refused: bool) -> None:
    assert over_allowance(items, photo_bytes, 3, 100) is refused


@pytest.fixture
async def tight(settings: Settings) -> Any:
    limited = msgspec.structs.replace(settings, feedback_daily_limit=3, feedback_daily_photo_bytes=len(JPEG) * 3)
    async with AsyncTestClient(app=create_app(limited)) as client:
        yield client


def photo(data: bytes = JPEG) -> tuple[str, bytes, str]:
    return ("photo.jpg", data, "image/jpeg")


async def test_items_per_day_are_limited_and_stored_items_still_replay(
    tight: AsyncTestClient[Any], db: asyncpg.Connection
) -> None:
    citizen = await new_citizen(tight)
    keys = [uuid.uuid4().hex for _ in range(4)]
    answers = [await submit(tight, citizen, feedback(body=f"Góp ý số {i}"), key=keys[i]) for i in range(4)]
    assert [a.status_code for a in answers] == [201, 201, 201, 429]
    refused = answers[3]
    assert refused.headers["content-type"].startswith("application/problem+json")
    assert refused.json()["code"] == "feedback_limit_reached"
    assert 0 < int(refused.headers["retry-after"]) <= 86400
    assert int(refused.headers["retry-after"]) == pytest.approx(seconds_to_local_midnight(datetime.now(UTC)), abs=5)
    # Nothing stored is lost: a retry of a stored item is replayed although the day is spent.
    replay = await submit(tight, citizen, feedback(body="Góp ý số 0"), key=keys[0])
    assert replay.status_code == 200 and replay.headers["idempotent-replayed"] == "true"
    assert replay.json()["id"] == answers[0].json()["id"]
    citizen_id = await db.fetchval("select citizen_id from feedback where id = $1", answers[0].json()["id"])
    assert await db.fetchval("select count(*) from feedback where citizen_id = $1", citizen_id) == 3
    usage = await db.fetchrow(
        "select feedback_items, photo_bytes from install_daily_usage where citizen_id = $1", citizen_id
    )
    assert tuple(usage) == (3, 0)
    # Another install has its own allowance.
    assert (await submit(tight, await new_citizen(tight), feedback())).status_code == 201


async def test_photo_bytes_per_day_are_limited(tight: AsyncTestClient[Any], db: asyncpg.Connection) -> None:
    citizen = await new_citizen(tight)
    first = await submit(tight, citizen, feedback(body="Ảnh 1"), [photo(), photo()])
    assert first.status_code == 201, first.text
    # Two more photos would pass the day's bytes: refused before anything is stored.
    over = await submit(tight, citizen, feedback(body="Ảnh 2"), [photo(), photo()])
    assert over.status_code == 429 and over.json()["code"] == "feedback_limit_reached"
    # Without photos, or with what is left, the citizen can still write.
    assert (await submit(tight, citizen, feedback(body="Ảnh 3"), [photo()])).status_code == 201
    assert (await submit(tight, citizen, feedback(body="Không ảnh"), [photo(PNG)])).status_code == 429
    stored = await db.fetchval(
        "select count(*) from feedback_attachments a join feedback f on f.id = a.feedback_id "
        "where f.id = any($1::bigint[])",
        [first.json()["id"]],
    )
    assert stored == 2
    citizen_id = await db.fetchval("select citizen_id from feedback where id = $1", first.json()["id"])
    usage = await db.fetchrow(
        "select feedback_items, photo_bytes from install_daily_usage where citizen_id = $1", citizen_id
    )
    assert tuple(usage) == (2, len(JPEG) * 3)


async def test_concurrent_submissions_never_share_the_last_slot(
    tight: AsyncTestClient[Any], db: asyncpg.Connection
) -> None:
    citizen = await new_citizen(tight)
    answers = await asyncio.gather(*(submit(tight, citizen, feedback(body=f"Cùng lúc {i}")) for i in range(8)))
    assert sorted(a.status_code for a in answers) == [201] * 3 + [429] * 5
    ids = [a.json()["id"] for a in answers if a.status_code == 201]
    citizen_id = await db.fetchval("select citizen_id from feedback where id = $1", ids[0])
    assert await db.fetchval("select count(*) from feedback where citizen_id = $1", citizen_id) == 3
    assert await db.fetchval("select feedback_items from install_daily_usage where citizen_id = $1", citizen_id) == 3


async def test_a_refused_or_invalid_submission_spends_nothing(
    tight: AsyncTestClient[Any], db: asyncpg.Connection
) -> None:
    citizen = await new_citizen(tight)
    bad = await submit(tight, citizen, feedback(commune_code="99999"))
    assert bad.status_code == 422
    assert await db.fetchval("select count(*) from install_daily_usage") == 0
    assert [(await submit(tight, citizen, feedback(body=f"Lần {i}"))).status_code for i in range(3)] == [201] * 3
