"""Push delivery: the outbox, the real firebase-admin SDK against a local FCM (tests/fcm_server.py),
retries, retired targets, quiet hours, the relay and the arq job."""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import asyncpg
import pytest
from arq.connections import ArqRedis, RedisSettings
from arq.connections import create_pool as create_arq_pool
from firebase_admin import messaging
from redis.asyncio import ConnectionPool

import backend.push
from backend.db import create_pool
from backend.push import FcmPush, LogPush, create_push_provider
from backend.quiet_hours import quiet_until
from backend.services.notifications import (
    MAX_ATTEMPTS,
    Notification,
    deliver_due,
    enqueue_delivery,
    queue_notifications,
    retry_delay,
)
from backend.settings import Settings, SettingsError
from backend.workdays import LOCAL_TZ
from backend.worker import create_worker, deliver_notifications, relay_notifications
from tests.fcm_server import FakeFcm

NO_QUIET_HOURS = ("00:00", "00:00")


def local_at(hour: int, minute: int = 0, days: int = 1) -> datetime:
    """`days` days from today at hh:mm in Hanoi, in UTC: later than any row a test writes,
    so rows are due then."""
    day = datetime.now(LOCAL_TZ).date() + timedelta(days=days)
    return datetime.combine(day, time(hour, minute), LOCAL_TZ).astimezone(UTC)


def new_fid() -> str:
    return "f" + uuid.uuid4().hex[:21]


@pytest.fixture
async def pool(settings: Settings) -> AsyncIterator[asyncpg.Pool]:
    pool = await create_pool(settings)
    yield pool
    await pool.close()


@pytest.fixture
async def fcm(fcm_settings: Settings) -> AsyncIterator[FcmPush]:
    provider = create_push_provider(fcm_settings)
    assert isinstance(provider, FcmPush)
    yield provider
    await provider.close()


async def user_id(db: asyncpg.Connection, username: str = "chair.badinh") -> int:
    found = await db.fetchval("select id from users where username = $1", username)
    assert found is not None
    return int(found)


async def add_device(
    db: asyncpg.Connection,
    owner: int | uuid.UUID,
    *,
    fid: str | None = None,
    token: str | None = None,
    locale: str = "vi",
    platform: str = "android",
    quiet: tuple[str, str] = ("22:00", "06:00"),
) -> int:
    if fid is None and token is None:
        fid = new_fid()
    user, citizen = (owner, None) if isinstance(owner, int) else (None, owner)
    return int(
        await db.fetchval(
            """
            insert into devices (user_id, citizen_id, fid, registration_token, platform, locale, quiet_start, quiet_end)
            values ($1, $2, $3, $4, $5, $6, $7::text::time, $8::text::time)
            returning id
            """,
            user,
            citizen,
            fid,
            token,
            platform,
            locale,
            *quiet,
        )
    )


async def make_alert(db: asyncpg.Connection) -> int:
    """A firing alert on Ba Đình under one of the seeded national rules."""
    return int(
        await db.fetchval(
            """
            insert into alerts (rule_id, indicator, scope_kind, scope_code, commune_code, province_code,
                                state, severity, value, sample_size, pending_since, fired_at)
            select id, indicator, 'commune', '00004', '00004', '01', 'firing', severity, 0.62, 40, now(), now()
            from threshold_rules where deleted_at is null and scope_kind = 'national'
            order by id limit 1
            returning id
            """
        )
    )


def alert_push(alert_id: int, user: int, *, critical: bool = False, key: str | None = None) -> Notification:
    return Notification(
        dedupe_key=key or f"alert:{alert_id}:event:1:user:{user}",
        kind="alert_firing",
        title_vi="Cảnh báo: mức hài lòng thấp",
        body_vi="Phường Ba Đình: 62 % người dân hài lòng (30 ngày)",
        title_en="Alert: low satisfaction",
        body_en="Ba Dinh ward: 62 % of citizens satisfied (30 days)",
        data={"link": f"communepulse://alerts/{alert_id}"},
        user_id=user,
        alert_id=alert_id,
        critical=critical,
    )


async def outbox(db: asyncpg.Connection, outbox_id: int) -> asyncpg.Record:
    row = await db.fetchrow("select * from notification_outbox where id = $1", outbox_id)
    assert row is not None
    return row


async def deliveries(db: asyncpg.Connection, outbox_id: int) -> list[tuple[int, str, str | None]]:
    rows = await db.fetch(
        "select device_id, outcome, error_code from notification_deliveries where outbox_id = $1 order by id",
        outbox_id,
    )
    return [(r["device_id"], r["outcome"], r["error_code"]) for r in rows]


# -- pure rules -------------------------------------------------------------------------------

DAY = date(2025, 3, 10)


def hanoi(hour: int, minute: int = 0, second: int = 0, days: int = 0) -> datetime:
    return datetime.combine(DAY + timedelta(days=days), time(hour, minute, second), LOCAL_TZ)


@pytest.mark.parametrize(
    ("now", "start", "end", "until"),
    [
        (hanoi(23), time(22), time(6), hanoi(6, days=1)),
        (hanoi(22), time(22), time(6), hanoi(6, days=1)),
        (hanoi(3), time(22), time(6), hanoi(6)),
        (hanoi(0), time(22), time(6), hanoi(6)),
        (hanoi(5, 59, 59), time(22), time(6), hanoi(6)),
        (hanoi(6), time(22), time(6), None),
        (hanoi(21, 59), time(22), time(6), None),
        (hanoi(12), time(22), time(6), None),
        (hanoi(13), time(12), time(14), hanoi(14)),
        (hanoi(14), time(12), time(14), None),
        (hanoi(11, 59), time(12), time(14), None),
        (hanoi(23, 30), time(23), time(0), hanoi(0, days=1)),
        (hanoi(0), time(0), time(6), hanoi(6)),
        (hanoi(3), time(22), time(22), None),
        (hanoi(22), time(22), time(22), None),
    ],
)
def test_quiet_hours(now: datetime, start: time, end: time, until: datetime | None) -> None:
    # Given in UTC, as the worker has it: the window is read in Hanoi time.
    got = quiet_until(now.astimezone(UTC), start, end)
    assert got == until
    if got is not None:
        assert got.tzinfo is UTC


def test_quiet_hours_need_an_aware_time() -> None:
    with pytest.raises(ValueError):
        quiet_until(datetime(2025, 3, 10, 23), time(22), time(6))


@pytest.mark.parametrize(
    ("attempts", "retry_after", "rng", "expected"),
    [
        (1, 120.0, 0.0, 120.0),  # Retry-After is honoured...
        (1, 120.0, 1.0, 132.0),  # ...plus up to 10 % so held-back rows do not return at once
        (5, 7.0, 0.5, 7.35),  # whatever the attempt
        (1, 10.0**7, 0.0, 86400.0),  # a day at most
        (1, None, 1.0, 30.0),
        (1, None, 0.0, 15.0),  # jitter: half to all of the backoff
        (2, None, 1.0, 60.0),
        (4, None, 1.0, 240.0),
        (20, None, 1.0, 3600.0),  # capped at an hour
    ],
)
def test_retry_delay(attempts: int, retry_after: float | None, rng: float, expected: float) -> None:
    assert retry_delay(attempts, retry_after, lambda: rng) == pytest.approx(expected)


def test_fcm_endpoint_setting() -> None:
    with pytest.raises(SettingsError, match=r"^FCM_ENDPOINT: expected a URL"):
        Settings.from_env({"FCM_ENDPOINT": "fcm.googleapis.com"})
    assert Settings.from_env({}).fcm_endpoint == "https://fcm.googleapis.com"


async def test_the_default_endpoint_is_fcms_own(fcm_server: FakeFcm) -> None:
    assert fcm_server.credentials_path
    provider = FcmPush(str(fcm_server.credentials_path), "https://fcm.googleapis.com/")
    try:
        url = provider._service._fcm_url
        assert url == f"https://fcm.googleapis.com/v1/projects/{fcm_server.project_id}/messages:send"
    finally:
        await provider.close()


# -- the outbox -------------------------------------------------------------------------------


async def test_a_dedupe_key_is_queued_once(db: asyncpg.Connection) -> None:
    alert, chair = await make_alert(db), await user_id(db)
    first = await queue_notifications(db, [alert_push(alert, chair), alert_push(alert, chair)])
    assert len(first) == 1
    assert await queue_notifications(db, [alert_push(alert, chair)]) == []
    other = await queue_notifications(db, [alert_push(alert, chair, key="alert:resolved"), alert_push(alert, chair)])
    assert len(other) == 1 and other != first
    assert await db.fetchval("select count(*) from notification_outbox") == 2


async def test_queueing_runs_in_the_callers_transaction(db: asyncpg.Connection) -> None:
    alert, chair = await make_alert(db), await user_id(db)
    with pytest.raises(RuntimeError):
        async with db.transaction():
            await queue_notifications(db, [alert_push(alert, chair)])
            raise RuntimeError("the alert change failed")
    assert await db.fetchval("select count(*) from notification_outbox") == 0


@pytest.mark.parametrize(
    "change",
    [
        {"user_id": None},  # no recipient
        {"citizen_id": uuid.uuid4()},  # two recipients
        {"data": {"from": "x"}},  # FCM reserves it
        {"data": {"google.x": "y"}},
        {"data": {"n": 1}},  # FCM data values are strings
        {"title_en": ""},
        {"dedupe_key": ""},
    ],
)
async def test_malformed_notifications_are_refused(db: asyncpg.Connection, change: dict[str, Any]) -> None:
    alert, chair = await make_alert(db), await user_id(db)
    fields = {**{f: getattr(alert_push(alert, chair), f) for f in Notification.__struct_fields__}, **change}
    with pytest.raises(ValueError):
        await queue_notifications(db, [Notification(**fields)])


# -- delivery through firebase-admin ----------------------------------------------------------


async def test_delivery_through_the_sdk(
    db: asyncpg.Connection, pool: asyncpg.Pool, fcm: FcmPush, fcm_server: FakeFcm
) -> None:
    alert, chair = await make_alert(db), await user_id(db)
    fid = new_fid()
    token = f"{new_fid()}:APA91b{uuid.uuid4().hex}"
    vi_device = await add_device(db, chair, fid=fid)
    en_device = await add_device(db, chair, token=token, locale="en", platform="ios")
    (outbox_id,) = await queue_notifications(db, [alert_push(alert, chair)])

    report = await deliver_due(pool, fcm, [outbox_id], now=local_at(12))
    assert (report.rows, report.sent, report.finished) == (1, 2, 1)

    (vi,) = fcm_server.sent_to(fid)
    (en,) = fcm_server.sent_to(token)
    assert "token" not in vi and "fid" not in en  # the legacy token went as a token, without a warning
    assert vi["notification"] == {
        "title": "Cảnh báo: mức hài lòng thấp",
        "body": "Phường Ba Đình: 62 % người dân hài lòng (30 ngày)",
    }
    assert en["notification"]["title"] == "Alert: low satisfaction"
    for message in (vi, en):
        assert message["data"] == {
            "link": f"communepulse://alerts/{alert}",
            "alert_id": str(alert),
            "kind": "alert_firing",
            "notification_id": str(outbox_id),
        }
        assert message["android"]["priority"] == "normal"
        assert message["android"]["ttl"] == "86400s"
        assert message["android"]["notification"]["tag"] == f"alert-{alert}"
        assert message["apns"]["headers"]["apns-priority"] == "5"
        assert message["apns"]["headers"]["apns-collapse-id"] == f"alert-{alert}"
        assert int(message["apns"]["headers"]["apns-expiration"]) > datetime.now(UTC).timestamp() + 3600
    assert all(r.authorization and r.authorization.startswith("Bearer fake-access-") for r in fcm_server.requests)
    assert fcm_server.token_requests[0]["iss"] == f"push@{fcm_server.project_id}.iam.gserviceaccount.com"

    row = await outbox(db, outbox_id)
    assert (row["status"], row["attempts"]) == ("delivered", 1) and row["finished_at"] is not None
    stored = await db.fetch(
        "select device_id, outcome, fcm_message_id from notification_deliveries where outbox_id = $1", outbox_id
    )
    assert {r["device_id"] for r in stored} == {vi_device, en_device}
    assert all(r["outcome"] == "sent" and r["fcm_message_id"].startswith("projects/") for r in stored)

    # Delivered means done: running again sends nothing.
    await deliver_due(pool, fcm, [outbox_id], now=local_at(12, 5))
    assert len(fcm_server.messages) == 2


async def test_critical_pushes_go_with_high_priority_through_quiet_hours(
    db: asyncpg.Connection, pool: asyncpg.Pool, fcm: FcmPush, fcm_server: FakeFcm
) -> None:
    alert, chair = await make_alert(db), await user_id(db)
    fid = new_fid()
    await add_device(db, chair, fid=fid)
    (outbox_id,) = await queue_notifications(db, [alert_push(alert, chair, critical=True)])
    await deliver_due(pool, fcm, now=local_at(23, 30))
    (message,) = fcm_server.sent_to(fid)
    assert message["android"]["priority"] == "high"
    assert message["apns"]["headers"]["apns-priority"] == "10"
    assert message["apns"]["payload"]["aps"]["sound"] == "default"
    assert message["webpush"]["headers"]["Urgency"] == "high"
    assert (await outbox(db, outbox_id))["status"] == "delivered"


async def test_unregistered_and_invalid_targets_are_retired(
    db: asyncpg.Connection, pool: asyncpg.Pool, fcm: FcmPush, fcm_server: FakeFcm
) -> None:
    alert, chair = await make_alert(db), await user_id(db)
    live_fid, gone_fid, bad_token = new_fid(), new_fid(), f"{new_fid()}:APA91b-bad"
    live = await add_device(db, chair, fid=live_fid)
    gone = await add_device(db, chair, fid=gone_fid)
    bad = await add_device(db, chair, token=bad_token)
    fcm_server.unregister(gone_fid)
    fcm_server.fail_target(bad_token, 400)
    (first,) = await queue_notifications(db, [alert_push(alert, chair)])

    report = await deliver_due(pool, fcm, now=local_at(12))
    assert (report.sent, report.retired) == (1, 2)
    assert sorted(await deliveries(db, first)) == sorted(
        [(live, "sent", None), (gone, "retired", "UNREGISTERED"), (bad, "retired", "INVALID_ARGUMENT")]
    )
    devices = {
        r["id"]: (r["retired_at"] is not None, r["retired_reason"])
        for r in await db.fetch("select id, retired_at, retired_reason from devices")
    }
    assert devices == {live: (False, None), gone: (True, "unregistered"), bad: (True, "invalid_argument")}
    assert (await outbox(db, first))["status"] == "partially_delivered"

    # The next push goes to the live device only.
    (second,) = await queue_notifications(db, [alert_push(alert, chair, key="alert:reminder")])
    await deliver_due(pool, fcm, now=local_at(12, 1))
    assert await deliveries(db, second) == [(live, "sent", None)]
    assert len([r for r in fcm_server.requests if r.message.get("fid") == gone_fid]) == 1
    assert (await outbox(db, second))["status"] == "delivered"


async def test_quota_exceeded_is_retried_after_retry_after_and_delivered_once(
    db: asyncpg.Connection, pool: asyncpg.Pool, fcm: FcmPush, fcm_server: FakeFcm
) -> None:
    alert, chair = await make_alert(db), await user_id(db)
    fid = new_fid()
    device = await add_device(db, chair, fid=fid)
    (outbox_id,) = await queue_notifications(db, [alert_push(alert, chair)])
    fcm_server.fail_next(429, retry_after=120)

    now = local_at(12)
    report = await deliver_due(pool, fcm, now=now)
    assert report.retried == 1
    row = await outbox(db, outbox_id)
    assert (row["status"], row["attempts"]) == ("pending", 1)
    assert "QUOTA_EXCEEDED" in row["last_error"]
    assert now + timedelta(seconds=120) <= row["next_attempt_at"] <= now + timedelta(seconds=132)
    assert await deliveries(db, outbox_id) == [(device, "retry", "QUOTA_EXCEEDED")]

    # Not before FCM said so...
    assert (await deliver_due(pool, fcm, now=now + timedelta(seconds=60))).rows == 0
    # ...then once.
    await deliver_due(pool, fcm, now=row["next_attempt_at"])
    assert len(fcm_server.sent_to(fid)) == 1
    row = await outbox(db, outbox_id)
    assert (row["status"], row["attempts"]) == ("delivered", 2)
    assert await deliveries(db, outbox_id) == [(device, "retry", "QUOTA_EXCEEDED"), (device, "sent", None)]


async def test_unavailable_is_retried_with_backoff_by_the_outbox_not_inside_the_sdk(
    db: asyncpg.Connection, pool: asyncpg.Pool, fcm: FcmPush, fcm_server: FakeFcm
) -> None:
    alert, chair = await make_alert(db), await user_id(db)
    fid = new_fid()
    await add_device(db, chair, fid=fid)
    (outbox_id,) = await queue_notifications(db, [alert_push(alert, chair)])
    fcm_server.fail_next(503)

    now = local_at(12)
    await deliver_due(pool, fcm, now=now)
    # One request: the SDK's own retries (which would hold a thread, sleeping) are off.
    assert [r.status for r in fcm_server.requests] == [503]
    row = await outbox(db, outbox_id)
    assert row["status"] == "pending"
    assert now + timedelta(seconds=15) <= row["next_attempt_at"] <= now + timedelta(seconds=30)

    await deliver_due(pool, fcm, now=row["next_attempt_at"])
    assert [r.status for r in fcm_server.requests] == [503, 200]
    assert (await outbox(db, outbox_id))["status"] == "delivered"


async def test_transient_failures_give_up_after_the_last_attempt(
    db: asyncpg.Connection, pool: asyncpg.Pool, fcm: FcmPush, fcm_server: FakeFcm
) -> None:
    alert, chair = await make_alert(db), await user_id(db)
    await add_device(db, chair)
    (outbox_id,) = await queue_notifications(db, [alert_push(alert, chair)])
    fcm_server.fail_next(500, n=MAX_ATTEMPTS + 5)

    now = local_at(12)
    for _ in range(MAX_ATTEMPTS + 2):
        await deliver_due(pool, fcm, now=now)
        now = max(now, (await outbox(db, outbox_id))["next_attempt_at"]) + timedelta(seconds=1)
    row = await outbox(db, outbox_id)
    assert (row["status"], row["attempts"]) == ("failed", MAX_ATTEMPTS)
    assert "INTERNAL" in row["last_error"] and row["finished_at"] is not None
    assert len(fcm_server.requests) == MAX_ATTEMPTS


async def test_batches_hold_at_most_max_batch_messages(
    db: asyncpg.Connection,
    pool: asyncpg.Pool,
    fcm: FcmPush,
    fcm_server: FakeFcm,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    alert, chair = await make_alert(db), await user_id(db)
    for _ in range(5):
        await add_device(db, chair)
    (outbox_id,) = await queue_notifications(db, [alert_push(alert, chair)])
    sizes: list[int] = []
    real_send_each = messaging.send_each

    def counting_send_each(messages: list[messaging.Message], **kwargs: Any) -> messaging.BatchResponse:
        sizes.append(len(messages))
        return real_send_each(messages, **kwargs)

    monkeypatch.setattr(backend.push, "MAX_BATCH", 2)
    monkeypatch.setattr(messaging, "send_each", counting_send_each)
    await deliver_due(pool, fcm, now=local_at(12))
    assert sizes == [2, 2, 1]
    assert len(fcm_server.messages) == 5
    assert (await outbox(db, outbox_id))["status"] == "delivered"


async def test_workers_side_by_side_push_each_row_once(pool: asyncpg.Pool, db: asyncpg.Connection) -> None:
    alert, chair = await make_alert(db), await user_id(db)
    await add_device(db, chair, quiet=NO_QUIET_HOURS)
    ids = await queue_notifications(db, [alert_push(alert, chair, key=f"alert:many:{i}") for i in range(60)])
    first, second = LogPush(), LogPush()
    now = local_at(12)
    await asyncio.gather(
        deliver_due(pool, first, ids[:30], now=now, limit=7), deliver_due(pool, second, ids[30:], now=now, limit=7)
    )
    sent = sorted(int(m.data["notification_id"]) for m in [*first.sent, *second.sent])
    assert sent == ids
    assert await db.fetchval("select count(*) from notification_outbox where status = 'delivered'") == 60


# -- quiet hours, recipients, the log provider --------------------------------------------------


async def test_quiet_hours_defer_non_critical_pushes_per_device(pool: asyncpg.Pool, db: asyncpg.Connection) -> None:
    alert, chair = await make_alert(db), await user_id(db)
    sleeping = await add_device(db, chair)  # 22:00-06:00
    awake = await add_device(db, chair, quiet=NO_QUIET_HOURS)
    (outbox_id,) = await queue_notifications(db, [alert_push(alert, chair)])
    log_push = LogPush()

    report = await deliver_due(pool, log_push, now=local_at(23))
    assert (report.sent, report.deferred) == (1, 1)
    assert [m.device_id for m in log_push.sent] == [awake]
    row = await outbox(db, outbox_id)
    assert row["status"] == "pending" and row["next_attempt_at"] == local_at(6, days=2)

    assert (await deliver_due(pool, log_push, now=local_at(5, 59, days=2))).rows == 0
    await deliver_due(pool, log_push, now=local_at(6, days=2))
    assert [m.device_id for m in log_push.sent] == [awake, sleeping]
    assert (await outbox(db, outbox_id))["status"] == "delivered"
    assert sorted(await deliveries(db, outbox_id)) == sorted([(awake, "logged", None), (sleeping, "logged", None)])


async def test_citizens_get_pushes_in_their_language(pool: asyncpg.Pool, db: asyncpg.Connection) -> None:
    citizen = await db.fetchval(
        "insert into citizen_installs (install_id, secret_hash, platform) values ('push-test-1', '\\x00', 'ios') "
        "returning id"
    )
    await add_device(db, citizen, locale="en", quiet=NO_QUIET_HOURS)
    push = Notification(
        dedupe_key="feedback:test:answered",
        kind="feedback_answered",
        title_vi="Ý kiến của bạn đã được trả lời",
        body_vi="Xem câu trả lời trong ứng dụng",
        title_en="Your feedback has been answered",
        body_en="See the answer in the app",
        data={"link": "communepulse://feedback/MT-1"},
        citizen_id=citizen,
    )
    (outbox_id,) = await queue_notifications(db, [push])
    log_push = LogPush()
    await deliver_due(pool, log_push, now=local_at(12))
    (message,) = log_push.sent
    assert message.title == "Your feedback has been answered"
    assert message.data == {
        "link": "communepulse://feedback/MT-1",
        "kind": "feedback_answered",
        "notification_id": str(outbox_id),
    }
    assert (await outbox(db, outbox_id))["status"] == "delivered"


async def test_nobody_to_push_to(pool: asyncpg.Pool, db: asyncpg.Connection) -> None:
    alert, chair, other = await make_alert(db), await user_id(db), await user_id(db, "chair.hoankiem")
    await add_device(db, other, quiet=NO_QUIET_HOURS)
    await add_device(db, chair, quiet=NO_QUIET_HOURS)
    await db.execute("update users set is_active = false where id = $1", other)
    ids = await queue_notifications(db, [alert_push(alert, other)])  # deactivated
    ids += await queue_notifications(db, [alert_push(alert, await user_id(db, "admin.hanoi"))])  # no device
    log_push = LogPush()
    await deliver_due(pool, log_push, now=local_at(12))
    assert list(log_push.sent) == []
    assert [(await outbox(db, i))["status"] for i in ids] == ["no_target", "no_target"]


async def test_the_log_provider_records_instead_of_sending(
    pool: asyncpg.Pool, db: asyncpg.Connection, caplog: pytest.LogCaptureFixture
) -> None:
    alert, chair = await make_alert(db), await user_id(db)
    device = await add_device(db, chair, locale="en", quiet=NO_QUIET_HOURS)
    (outbox_id,) = await queue_notifications(db, [alert_push(alert, chair)])
    with caplog.at_level(logging.INFO, logger="backend.push"):
        await deliver_due(pool, LogPush(), now=local_at(12))
    (record,) = [r for r in caplog.records if r.name == "backend.push"]
    assert record.getMessage() == "push not sent (PUSH_PROVIDER=log)"
    assert record.__dict__["push_title"] == "Alert: low satisfaction"
    assert await deliveries(db, outbox_id) == [(device, "logged", None)]
    assert (await outbox(db, outbox_id))["status"] == "delivered"


# -- the relay and the worker -------------------------------------------------------------------


async def test_the_relay_delivers_what_no_job_was_enqueued_for(
    settings: Settings,
    pool: asyncpg.Pool,
    db: asyncpg.Connection,
    unused_tcp_port: int,
    caplog: pytest.LogCaptureFixture,
) -> None:
    alert, chair = await make_alert(db), await user_id(db)
    device = await add_device(db, chair, quiet=NO_QUIET_HOURS)
    ids = await queue_notifications(db, [alert_push(alert, chair)])

    # Redis is down when the alert commits: the enqueue is lost, quietly.
    dead = ArqRedis(ConnectionPool.from_url(f"redis://127.0.0.1:{unused_tcp_port}/0", socket_connect_timeout=0.5))
    try:
        with caplog.at_level(logging.WARNING, logger="backend.services.notifications"):
            await enqueue_delivery(dead, ids)
    finally:
        await dead.aclose()
        await dead.connection_pool.disconnect()
    assert any("relay" in r.getMessage() for r in caplog.records)

    log_push = LogPush()
    report = await relay_notifications({"pool": pool, "push": log_push, "settings": settings})
    assert report["sent"] == 1
    assert await deliveries(db, ids[0]) == [(device, "logged", None)]
    # And the job, arriving late after all, finds nothing left to do.
    again = await deliver_notifications({"pool": pool, "push": log_push, "settings": settings}, ids)
    assert again["rows"] == 0 and len(log_push.sent) == 1


async def test_the_worker_delivers_an_enqueued_push_through_fcm(
    fcm_settings: Settings, db: asyncpg.Connection, fcm_server: FakeFcm
) -> None:
    alert, chair = await make_alert(db), await user_id(db)
    fid = new_fid()
    await add_device(db, chair, fid=fid, quiet=NO_QUIET_HOURS)
    ids = await queue_notifications(db, [alert_push(alert, chair)])
    assert fcm_settings.redis_url
    redis = await create_arq_pool(
        RedisSettings.from_dsn(fcm_settings.redis_url), default_queue_name=fcm_settings.queue_name
    )
    try:
        await enqueue_delivery(redis, ids)
        worker = create_worker(fcm_settings, handle_signals=False, burst=True)
        try:
            await worker.async_run()
        finally:
            await worker.close()
    finally:
        await redis.aclose()
        await redis.connection_pool.disconnect()
    assert len(fcm_server.sent_to(fid)) == 1
    assert (await outbox(db, ids[0]))["status"] == "delivered"
