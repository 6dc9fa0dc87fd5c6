"""Deadlines of forwarded feedback: overdue marking, reminders, escalation by the cron."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import asyncpg

from backend.services.feedback_deadlines import check_deadlines
from backend.settings import Settings
from backend.worker import create_worker

GRACE = timedelta(days=3)


async def forwarded(db: asyncpg.Connection, due: datetime, *, to_official: bool = True) -> int:
    """A forwarded item with its open forward, as the workflow leaves it."""
    item_id: int = await db.fetchval(
        """
        insert into feedback (reference, category, commune_code, status, body, is_anonymous, response_due_at)
        values ($1, 'complaint', '00004', 'forwarded', 'Hồ sơ bị trả lại nhiều lần', true, $2)
        returning id
        """,
        f"T-{uuid.uuid4().hex[:10]}",
        due,
    )
    official = await db.fetchval(
        "select o.id from officials o join users u on u.id = o.user_id where u.username = 'official.badinh'"
    )
    await db.execute(
        """
        insert into feedback_forwards (feedback_id, official_id, commune_code, redacted_body, due_at)
        values ($1, $2, '00004', 'Hồ sơ bị trả lại nhiều lần', $3)
        """,
        item_id,
        official if to_official else None,
        due,
    )
    return item_id


async def pushes(db: asyncpg.Connection) -> list[tuple[str, str]]:
    rows = await db.fetch(
        "select o.kind, u.username from notification_outbox o join users u on u.id = o.user_id order by o.id"
    )
    return [(r["kind"], r["username"]) for r in rows]


async def test_overdue_items_are_marked_and_their_authority_reminded_once_a_day(db: asyncpg.Connection) -> None:
    now = datetime.now(UTC)
    late = await forwarded(db, now - timedelta(hours=2))
    on_time = await forwarded(db, now + timedelta(days=2))
    to_commune = await forwarded(db, now - timedelta(hours=1), to_official=False)

    report = await check_deadlines(db, GRACE, now)
    assert (report.overdue, report.escalated) == (2, 0)
    assert await db.fetchval("select overdue_since from feedback where id = $1", late) == now
    assert await db.fetchval("select overdue_since from feedback where id = $1", on_time) is None
    assert sorted(await pushes(db)) == [("feedback_reminder", "chair.badinh"), ("feedback_reminder", "official.badinh")]
    kinds = await db.fetch("select kind, actor_kind from feedback_events where feedback_id = $1", to_commune)
    assert [(k["kind"], k["actor_kind"]) for k in kinds] == [("overdue", "system")]
    body = await db.fetchval("select body_vi from notification_outbox order by id limit 1")
    assert "quá hạn trả lời" in body

    # Later the same day: nothing new. The next day: one more reminder each.
    again = await check_deadlines(db, GRACE, now + timedelta(minutes=5))
    assert again.outbox_ids == [] and again.overdue == 0
    next_day = await check_deadlines(db, GRACE, now + timedelta(days=1))
    assert len(next_day.outbox_ids) == 2


async def test_the_cron_escalates_items_overdue_past_the_grace_to_the_province_front(
    settings: Settings, db: asyncpg.Connection
) -> None:
    item = await forwarded(db, datetime.now(UTC) - timedelta(days=4))
    worker = create_worker(settings, handle_signals=False, burst=True)
    try:
        await worker.async_run()  # the deadline cron runs at start-up
    finally:
        await worker.close()
    row = await db.fetchrow("select overdue_since, escalated_at from feedback where id = $1", item)
    assert row["overdue_since"] is not None and row["escalated_at"] is not None
    assert ("feedback_escalated", "front.hanoi") in await pushes(db)
    assert ("feedback_reminder", "official.badinh") in await pushes(db)
    events = [r["kind"] for r in await db.fetch("select kind from feedback_events where feedback_id = $1", item)]
    assert events == ["overdue", "escalated"]
    # Escalation happens once.
    assert (await check_deadlines(db, GRACE)).escalated == 0


async def test_a_report_about_the_chair_reminds_the_province_recipient_never_the_chair(db: asyncpg.Connection) -> None:
    now = datetime.now(UTC)
    item = await forwarded(db, now - timedelta(hours=3), to_official=False)
    admin = await db.fetchval("select id from users where username = 'admin.hanoi'")
    # As the workflow leaves a report about a chair: addressed to the province's accounts.
    await db.execute("update feedback set category = 'wrongdoing_report' where id = $1", item)
    await db.execute(
        "update feedback_forwards set recipient_user_ids = $2, category = 'wrongdoing_report' where feedback_id = $1",
        item,
        [admin],
    )
    report = await check_deadlines(db, GRACE, now)
    assert report.reminded == 1
    assert await pushes(db) == [("feedback_reminder", "admin.hanoi")]
    pushed = await db.fetchrow("select feedback_id, forward_id, data, body_vi from notification_outbox")
    forward = await db.fetchval("select id from feedback_forwards where feedback_id = $1", item)
    assert pushed["feedback_id"] is None and pushed["forward_id"] == forward
    assert pushed["data"]["forward_id"] == str(forward) and "feedback_id" not in pushed["data"]
    assert "Tố giác" in pushed["body_vi"] and f"chuyển số {forward}" in pushed["body_vi"]
