"""Alerts end to end: ratings through the API, the real worker (arq on Redis), the real
firebase-admin SDK talking to a local FCM server."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import msgspec
import pytest
import redis.asyncio as aioredis
from litestar.testing import AsyncTestClient

from backend.app import create_app
from backend.evaluation_schedule import dirty_key
from backend.seed.demo import DEMO_PASSWORD
from backend.services.evaluator import evaluate
from backend.settings import Settings
from backend.worker import create_worker
from tests.conftest import TokenFor
from tests.fcm_server import FakeFcm
from tests.test_ratings import ago, new_citizen, rate, service_id


async def run_worker(settings: Settings) -> None:
    """The real worker, in burst mode: startup crons (sweep, relay), then every queued job."""
    worker = create_worker(settings, handle_signals=False, burst=True)
    try:
        await worker.async_run()
    finally:
        await worker.close()


@pytest.fixture
async def fcm_client(fcm_settings: Settings) -> AsyncIterator[AsyncTestClient[Any]]:
    async with AsyncTestClient(app=create_app(fcm_settings)) as test_client:
        yield test_client


async def register_device(client: AsyncTestClient[Any], headers: dict[str, str], locale: str = "vi") -> str:
    fid = f"fid{uuid.uuid4().hex}"
    response = await client.post(
        "/v1/me/devices",
        json={"fid": fid, "platform": "android", "locale": locale, "quiet_start": "00:00", "quiet_end": "00:00"},
        headers=headers,
    )
    assert response.status_code in (200, 201), response.text
    return fid


async def tight_rule(client: AsyncTestClient[Any], headers_for: TokenFor, **change: Any) -> int:
    """A Ba Đình override that judges on ten ratings: below 50 %, back at 60 %."""
    response = await client.post(
        "/v1/threshold-rules",
        json={
            "indicator": "satisfaction_rate",
            "scope_kind": "commune",
            "commune_code": "00004",
            "comparator": "below",
            "value": 0.5,
            "window": "7d",
            "min_sample": 10,
            "hysteresis": 0.1,
            "for_seconds": 0,
            "repeat_seconds": 6 * 3600,
            "escalation_seconds": 24 * 3600,
            **change,
        },
        headers=await headers_for("admin.hanoi"),
    )
    assert response.status_code == 201, response.text
    return int(response.json()["id"])


async def rate_n(client: AsyncTestClient[Any], sid: int, score: int, n: int) -> None:
    citizen: dict[str, str] = {}
    for index in range(n):
        if index % 20 == 0:
            citizen = await new_citizen(client)
        response = await rate(client, citizen, {"commune_service_id": sid, "score": score, "served_at": ago(hours=1)})
        assert response.status_code == 201, response.text


async def outbox_kinds(db: asyncpg.Connection) -> list[tuple[str, str]]:
    rows = await db.fetch(
        "select o.kind, u.username from notification_outbox o join users u on u.id = o.user_id order by o.id"
    )
    return [(r["kind"], r["username"]) for r in rows]


async def test_a_commune_crossing_its_threshold_pushes_once_then_resolves_once(
    fcm_client: AsyncTestClient[Any],
    fcm_settings: Settings,
    fcm_server: FakeFcm,
    headers_for: TokenFor,
    db: asyncpg.Connection,
) -> None:
    client = fcm_client
    chair = await headers_for("chair.badinh")
    fid = await register_device(client, chair)
    await tight_rule(client, headers_for)
    sid = await service_id(client)

    await rate_n(client, sid, 1, 9)  # nine bad ratings: not yet evidence enough
    await run_worker(fcm_settings)
    assert fcm_server.messages == []

    await rate_n(client, sid, 1, 1)
    await asyncio.sleep(0.2)  # the API gathers marks for a moment before telling Redis
    marked = aioredis.from_url(fcm_settings.redis_url)
    try:
        assert await marked.smembers(dirty_key(fcm_settings.redis_key_prefix)) == {b"00004"}
    finally:
        await marked.aclose()
    await run_worker(fcm_settings)

    assert len(fcm_server.messages) == 1
    message = fcm_server.messages[0]
    assert message["fid"] == fid
    assert message["notification"]["title"] == "Cảnh báo: Tỷ lệ hài lòng — Phường Ba Đình"
    body = message["notification"]["body"]
    assert body.startswith("Tỷ lệ hài lòng 7 ngày: 0% (95%: 0%–28%), 10 mẫu, ngưỡng 50%.")
    assert "Cần xem: Thủ tục đăng ký khai sinh" in body
    alert_id = message["data"]["alert_id"]
    assert message["data"] == {
        "alert_id": alert_id,
        "kind": "alert_firing",
        "indicator": "satisfaction_rate",
        "commune_code": "00004",
        "link": f"communepulse://alerts/{alert_id}",
        "notification_id": message["data"]["notification_id"],
    }
    assert message["android"]["priority"] == "normal"

    # Still bad, more ratings: no second push before the repeat interval.
    await rate_n(client, sid, 1, 2)
    await run_worker(fcm_settings)
    assert len(fcm_server.messages) == 1

    detail = await client.get(f"/v1/alerts/{alert_id}", headers=chair)
    assert detail.status_code == 200, detail.text
    alert = detail.json()
    assert alert["alert"]["state"] == "firing" and alert["alert"]["sample_size"] == 12
    fired = alert["fired_with"]
    assert (fired["value"], fired["sample_size"], fired["data"]["threshold"], fired["data"]["window"]) == (
        0,
        10,
        0.5,
        "7d",
    )
    assert fired["data"]["ci_high"] == pytest.approx(0.2775, abs=1e-3)
    assert [e["kind"] for e in alert["timeline"]] == ["fired"]

    acked = await client.post(f"/v1/alerts/{alert_id}/ack", json={"note": "Đang kiểm tra"}, headers=chair)
    assert acked.status_code == 200, acked.text
    assert acked.json()["alert"]["state"] == "acknowledged"
    assert [e["kind"] for e in acked.json()["timeline"]] == ["fired", "acknowledged"]
    # A day later, still bad: acknowledged alerts send no reminders and do not escalate.
    result = await evaluate(db, datetime.now(UTC) + timedelta(hours=30))
    assert result.outbox_ids == []

    # Recovery: 60 % satisfied over the window, past 50 % + 10 % hysteresis.
    await rate_n(client, sid, 5, 18)
    await run_worker(fcm_settings)
    assert len(fcm_server.messages) == 2
    resolved = fcm_server.messages[1]
    assert resolved["notification"]["title"] == "Đã trở lại bình thường: Tỷ lệ hài lòng — Phường Ba Đình"
    assert resolved["data"]["kind"] == "alert_resolved" and resolved["data"]["alert_id"] == alert_id
    await run_worker(fcm_settings)
    assert len(fcm_server.messages) == 2
    final = (await client.get(f"/v1/alerts/{alert_id}", headers=chair)).json()
    assert final["alert"]["state"] == "resolved"
    assert [e["kind"] for e in final["timeline"]] == ["fired", "acknowledged", "resolved"]
    assert (await client.get("/v1/alerts", headers=chair)).json()["items"] == []
    assert len((await client.get("/v1/alerts", params={"state": "resolved"}, headers=chair)).json()["items"]) == 1


async def test_reminders_while_unacknowledged_and_escalation_to_the_province(
    client: AsyncTestClient[Any], headers_for: TokenFor, db: asyncpg.Connection
) -> None:
    await tight_rule(client, headers_for)
    await rate_n(client, await service_id(client), 2, 10)
    now = datetime.now(UTC)
    first = await evaluate(db, now, ["00004"])
    assert first.transitions == {"fired": 1} and len(first.outbox_ids) == 1
    assert await outbox_kinds(db) == [("alert_firing", "chair.badinh")]
    assert (await evaluate(db, now + timedelta(hours=5))).outbox_ids == []
    reminded = await evaluate(db, now + timedelta(hours=7))
    assert reminded.transitions == {"reminded": 1}
    escalated = await evaluate(db, now + timedelta(hours=25))
    assert escalated.transitions == {"escalated": 1, "reminded": 1}
    kinds = await outbox_kinds(db)
    assert kinds[1:] == [
        ("alert_reminder", "chair.badinh"),
        ("alert_escalated", "admin.hanoi"),
        ("alert_reminder", "chair.badinh"),
    ]
    # Escalation happens once.
    assert (await evaluate(db, now + timedelta(hours=32))).transitions == {"reminded": 1}


async def test_a_push_survives_redis_being_down_during_the_breach(
    fcm_settings: Settings,
    fcm_server: FakeFcm,
    headers_for: TokenFor,
    db: asyncpg.Connection,
    unused_tcp_port: int,
) -> None:
    # The API sees Redis stopped: nothing answers on its port.
    down = msgspec.structs.replace(fcm_settings, redis_url=f"redis://127.0.0.1:{unused_tcp_port}/0")
    async with AsyncTestClient(app=create_app(down)) as client:
        fid = await register_device(client, await headers_for("chair.badinh"))
        await tight_rule(client, headers_for)
        await rate_n(client, await service_id(client), 1, 10)  # stored all the same
        await asyncio.sleep(0.2)
    assert await db.fetchval("select count(*) from ratings") == 10
    assert fcm_server.messages == []
    # Redis is back: the worker's sweep finds the breach, and the push goes out once.
    await run_worker(fcm_settings)
    assert [m["fid"] for m in fcm_server.messages] == [fid]
    await run_worker(fcm_settings)
    assert len(fcm_server.messages) == 1


async def test_an_unregistered_device_is_retired_when_the_alert_fires(
    fcm_client: AsyncTestClient[Any],
    fcm_settings: Settings,
    fcm_server: FakeFcm,
    headers_for: TokenFor,
    db: asyncpg.Connection,
) -> None:
    chair = await headers_for("chair.badinh")
    gone = await register_device(fcm_client, chair)
    kept = await register_device(fcm_client, chair, locale="en")
    fcm_server.unregister(gone)
    await tight_rule(fcm_client, headers_for)
    await rate_n(fcm_client, await service_id(fcm_client), 1, 10)
    await run_worker(fcm_settings)
    assert [m["fid"] for m in fcm_server.messages] == [kept]
    assert fcm_server.messages[0]["notification"]["title"] == "Alert: Satisfaction rate — Ba Dinh Ward"
    retired = await db.fetchrow("select retired_at, retired_reason from devices where fid = $1", gone)
    assert retired["retired_at"] is not None
    devices = (await fcm_client.get("/v1/me/devices", headers=chair)).json()
    assert [d["fid"] for d in devices["items"]] == [kept]


async def test_a_phone_that_logged_out_gets_no_push(
    fcm_client: AsyncTestClient[Any],
    fcm_settings: Settings,
    fcm_server: FakeFcm,
    headers_for: TokenFor,
    db: asyncpg.Connection,
) -> None:
    """The chair logs in on two phones and logs out of one (the app had no chance to remove its
    device): the alert reaches the phone still logged in, and only that one."""
    phones = []
    for _ in range(2):
        login = await fcm_client.post("/v1/auth/login", json={"username": "chair.badinh", "password": DEMO_PASSWORD})
        assert login.status_code == 200, login.text
        session = login.json()
        fid = await register_device(fcm_client, {"authorization": f"Bearer {session['access_token']}"})
        phones.append((session, fid))
    (handed_back, old_fid), (kept, kept_fid) = phones
    logout = await fcm_client.post("/v1/auth/logout", json={"refresh_token": handed_back["refresh_token"]})
    assert logout.status_code == 204
    await tight_rule(fcm_client, headers_for)
    await rate_n(fcm_client, await service_id(fcm_client), 1, 10)
    await run_worker(fcm_settings)
    assert [m["fid"] for m in fcm_server.messages] == [kept_fid]
    retired = await db.fetchrow("select retired_at, retired_reason from devices where fid = $1", old_fid)
    assert retired["retired_at"] is not None and retired["retired_reason"] == "session_ended"
    listed = await fcm_client.get("/v1/me/devices", headers={"authorization": f"Bearer {kept['access_token']}"})
    assert [d["fid"] for d in listed.json()["items"]] == [kept_fid]


async def test_alerts_are_scoped_and_handled_by_chairs_and_admins(
    client: AsyncTestClient[Any], headers_for: TokenFor, db: asyncpg.Connection
) -> None:
    rule_id = await tight_rule(client, headers_for)
    await rate_n(client, await service_id(client), 1, 10)
    await evaluate(db, communes=["00004"])
    alert_id = await db.fetchval("select id from alerts")
    for username, status in [
        ("chair.badinh", 200),
        ("front.badinh", 200),
        ("admin.hanoi", 200),
        ("sysadmin", 200),
        ("chair.hoankiem", 404),
        ("admin.hcm", 404),
        ("official.badinh", 403),
    ]:
        response = await client.get(f"/v1/alerts/{alert_id}", headers=await headers_for(username))
        assert response.status_code == status, (username, response.text)
    listed = await client.get("/v1/alerts", headers=await headers_for("chair.hoankiem"))
    assert listed.json()["items"] == []

    front = await client.post(f"/v1/alerts/{alert_id}/ack", headers=await headers_for("front.badinh"))
    assert front.status_code == 403
    chair = await headers_for("chair.badinh")
    past = await client.post(
        f"/v1/alerts/{alert_id}/silence", json={"until": ago(hours=1), "reason": "họp"}, headers=chair
    )
    assert past.status_code == 422 and past.json()["code"] == "invalid_silence"
    until = (datetime.now(UTC) + timedelta(days=2)).isoformat()
    silenced = await client.post(
        f"/v1/alerts/{alert_id}/silence", json={"until": until, "reason": "Đoàn kiểm tra đang làm việc"}, headers=chair
    )
    assert silenced.status_code == 200, silenced.text
    assert silenced.json()["alert"]["silence_reason"] == "Đoàn kiểm tra đang làm việc"
    # Silenced: the reminder due in seven hours is not sent.
    assert (await evaluate(db, datetime.now(UTC) + timedelta(hours=7))).outbox_ids == []
    assert (await client.post(f"/v1/alerts/{alert_id}/ack", headers=chair)).status_code == 200
    again = await client.post(f"/v1/alerts/{alert_id}/ack", headers=chair)
    assert again.status_code == 409 and again.json()["code"] == "invalid_alert_transition"
    audit = await db.fetch("select action from audit_log where object_kind = 'alert' order by id")
    assert [a["action"] for a in audit] == ["alert.silence", "alert.acknowledge"]

    # The override switched off: the alert is withdrawn, without a push.
    off = await client.patch(
        f"/v1/threshold-rules/{rule_id}", json={"enabled": False}, headers=await headers_for("admin.hanoi")
    )
    assert off.status_code == 200, off.text
    withdrawn = await evaluate(db, communes=["00004"])
    assert withdrawn.transitions == {"withdrawn": 1} and withdrawn.outbox_ids == []
    assert await db.fetchval("select state from alerts where id = $1", alert_id) == "resolved"


async def test_three_bad_ratings_page_nobody(client: AsyncTestClient[Any], db: asyncpg.Connection) -> None:
    # The national default (below 80 % over 30 days, at least 20 ratings, judged on the interval).
    await rate_n(client, await service_id(client), 1, 3)
    result = await evaluate(db, communes=["00004"])
    assert result.transitions == {} and await db.fetchval("select count(*) from alerts") == 0


async def test_an_event_driven_evaluation_does_not_queue_behind_a_sweep(
    settings: Settings, db: asyncpg.Connection
) -> None:
    from backend.db import create_pool
    from backend.evaluation_schedule import schedule_evaluation, take_dirty
    from backend.services.evaluator import EVALUATION_LOCK, evaluate_unless_busy
    from backend.worker import evaluate_dirty

    assert settings.redis_url
    redis = aioredis.from_url(settings.redis_url)
    sweep = await asyncpg.connect(settings.database_url)
    pool = await create_pool(settings)
    try:
        await schedule_evaluation(_ArqLike(redis), settings.redis_key_prefix, ["00004"])
        async with sweep.transaction():
            await sweep.execute("select pg_advisory_xact_lock($1)", EVALUATION_LOCK)
            assert await evaluate_unless_busy(db, communes=["00004"]) is None
            ctx = {"redis": _ArqLike(redis), "settings": settings, "pool": pool}
            report = await evaluate_dirty(ctx)
            assert report == {"communes": 1, "deferred": True}
            # Handed on to the next debounced run, not lost.
            assert await take_dirty(redis, settings.redis_key_prefix) == ["00004"]
        assert await evaluate_unless_busy(db, communes=["00004"]) is not None
    finally:
        await pool.close()
        await sweep.close()
        await redis.aclose()


class _ArqLike:
    """Redis with arq's enqueue_job, for calling jobs' helpers without a worker."""

    def __init__(self, redis: Any) -> None:
        self.redis = redis
        self.enqueued: list[str] = []

    def __getattr__(self, name: str) -> Any:
        return getattr(self.redis, name)

    async def enqueue_job(self, name: str, **_: Any) -> None:
        self.enqueued.append(name)


async def test_thresholds_fire_on_the_fronts_answers(
    client: AsyncTestClient[Any], headers_for: TokenFor, db: asyncpg.Connection
) -> None:
    from tests.test_indicators import add_feedback

    created = await client.post(
        "/v1/threshold-rules",
        json={
            "indicator": "feedback_answer_satisfaction",
            "scope_kind": "commune",
            "commune_code": "00004",
            "comparator": "below",
            "value": 0.6,
            "window": "30d",
            "min_sample": 5,
        },
        headers=await headers_for("admin.hanoi"),
    )
    assert created.status_code == 201, created.text
    for _ in range(5):
        await add_feedback(db, hours_to_answer=10, due_in_hours=24, rating=1)
    result = await evaluate(db, communes=["00004"])
    assert result.transitions == {"fired": 1}
    alert = await db.fetchrow("select indicator, value, sample_size from alerts")
    assert (alert["indicator"], alert["value"], alert["sample_size"]) == ("feedback_answer_satisfaction", 0, 5)
    title = await db.fetchval("select title_vi from notification_outbox")
    assert title == "Cảnh báo: Tỷ lệ hài lòng với trả lời — Phường Ba Đình"
