"""Campaign detection end to end: ratings through the API with scoring on, the real worker
and threshold sweep, the real firebase-admin SDK talking to a local FCM server."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import msgspec
import pytest
from litestar.testing import AsyncTestClient

from backend.app import create_app
from backend.settings import Settings
from tests.conftest import TokenFor
from tests.fcm_server import FakeFcm
from tests.test_alerts import register_device, run_worker, tight_rule
from tests.test_rating_proof import completed, rating_code
from tests.test_ratings import ago, new_citizen, rate, report, service_id

CAMPAIGN_COMMENT = "Cán bộ thiếu trách nhiệm, hẹn lên hẹn xuống, gây phiền hà cho dân!"


@pytest.fixture
def scoring_settings(fcm_settings: Settings) -> Settings:
    return msgspec.structs.replace(fcm_settings, campaign_scoring=True)


@pytest.fixture
async def client(scoring_settings: Settings) -> AsyncIterator[AsyncTestClient[Any]]:
    async with AsyncTestClient(app=create_app(scoring_settings)) as test_client:
        yield test_client


async def citizens(client: AsyncTestClient[Any], n: int) -> list[dict[str, str]]:
    return [await new_citizen(client) for _ in range(n)]


async def age_installs(db: asyncpg.Connection, days: int = 90) -> None:
    """Every install so far becomes a long-lived one (registered `days` ago)."""
    await db.execute("update citizen_installs set created_at = now() - make_interval(days => $1)", days)


async def indicators(client: AsyncTestClient[Any], headers: dict[str, str], **scope: Any) -> Any:
    response = await client.get("/v1/indicators", params={"window": "7d", **scope}, headers=headers)
    assert response.status_code == 200, response.text
    return response.json()


async def test_a_campaign_is_held_while_genuine_ratings_count_and_no_alert_fires(
    client: AsyncTestClient[Any],
    scoring_settings: Settings,
    fcm_server: FakeFcm,
    headers_for: TokenFor,
    db: asyncpg.Connection,
) -> None:
    chair = await headers_for("chair.badinh")
    await register_device(client, chair)
    await tight_rule(client, headers_for)
    sid = await service_id(client)
    genuine = await citizens(client, 20)
    await age_installs(db)
    campaign = await citizens(client, 50)  # registered just now, rating at once

    genuine_ids: list[int] = []
    campaign_ids: list[int] = []
    sent = 0
    for _ in range(4):
        for n, install in enumerate(campaign):
            body: dict[str, Any] = {"commune_service_id": sid, "score": 1, "served_at": ago(hours=2)}
            if n % 3 == 0:
                body["comment"] = CAMPAIGN_COMMENT
            response = await rate(client, install, body)
            assert response.status_code == 201, response.text
            campaign_ids.append(response.json()["id"])
            sent += 1
            if sent % 10 == 0:  # genuine citizens keep arriving throughout
                citizen = genuine[(sent // 10) % len(genuine)]
                good = await rate(client, citizen, {"commune_service_id": sid, "score": 5, "served_at": ago(hours=1)})
                assert good.status_code == 201, good.text
                genuine_ids.append(good.json()["id"])
    assert len(campaign_ids) == 200 and len(genuine_ids) == 20

    await run_worker(scoring_settings)
    assert fcm_server.messages == []  # no alert pushed to the chair
    assert await db.fetchval("select count(*) from alerts") == 0

    held = await db.fetchval(
        "select count(*) from ratings where id = any($1::bigint[]) and quarantine = 'held'", campaign_ids
    )
    counted_campaign = 200 - held
    # A lone fresh install's first low rating is indistinguishable from a new citizen's: the
    # first few of the wave count, until the wave itself is the evidence.
    assert held >= 195, held
    assert (
        await db.fetchval(
            "select count(*) from ratings where id = any($1::bigint[]) and quarantine is null", genuine_ids
        )
        == 20
    )
    reasons = await db.fetchval(
        "select array_agg(distinct r) from ratings, unnest(quarantine_reasons) r where id = any($1::bigint[])",
        campaign_ids,
    )
    assert set(reasons) == {
        "install_burst",
        "fresh_install",
        "fresh_wave",
        "copied_comment",
        "address_burst",
        "low_run",
    }

    # One address sent them all: it is kept only as a keyed 16-byte digest, never as text.
    digests = await db.fetch("select distinct address_digest from ratings")
    assert [len(r["address_digest"]) for r in digests] == [16]
    assert b"127.0.0.1" not in digests[0]["address_digest"]

    # The genuine ratings count, the held ones do not, and the report says how many are held.
    report = await indicators(client, chair, service=sid)
    assert report["values"]["volume"] == 20 + counted_campaign
    assert report["values"]["satisfaction_rate"]["value"] == pytest.approx(20 / (20 + counted_campaign))
    assert report["quarantined"] == held
    commune = await indicators(client, chair, commune="00004")
    assert commune["values"]["volume"] == 20 + counted_campaign and commune["quarantined"] == held


async def test_a_held_rating_answers_exactly_as_a_counted_one(
    client: AsyncTestClient[Any], db: asyncpg.Connection
) -> None:
    """No oracle: status, headers and body have the same shape whether the rating is held."""
    sid = await service_id(client)
    install = await new_citizen(client)
    body = {"commune_service_id": sid, "score": 1, "served_at": ago(hours=1)}
    keys = [uuid.uuid4().hex for _ in range(3)]
    answers = [await rate(client, install, body, key) for key in keys]  # the third is an install burst
    states = [await db.fetchval("select quarantine from ratings where id = $1", r.json()["id"]) for r in answers]
    assert states == [None, None, "held"]
    counted, held = answers[0], answers[2]
    assert counted.status_code == held.status_code == 201
    assert sorted(counted.headers.keys()) == sorted(held.headers.keys())
    strip = {"id", "created_at"}
    assert {k: v for k, v in counted.json().items() if k not in strip} == {
        k: v for k, v in held.json().items() if k not in strip
    }
    mine = await client.get("/v1/me/ratings", headers=install)
    assert [item["id"] for item in mine.json()["items"]] == [r.json()["id"] for r in reversed(answers)]
    assert len({tuple(sorted(item)) for item in mine.json()["items"]}) == 1
    # A replay of the held one answers as a replay of a counted one.
    replays = [await rate(client, install, body, keys[0]), await rate(client, install, body, keys[2])]
    assert [r.status_code for r in replays] == [201, 201]
    assert [r.headers.get("idempotent-replayed") for r in replays] == ["true", "true"]
    assert [r.json() for r in replays] == [counted.json(), held.json()]


async def test_a_genuine_sudden_drop_is_not_held_and_still_alerts(
    client: AsyncTestClient[Any],
    scoring_settings: Settings,
    fcm_server: FakeFcm,
    headers_for: TokenFor,
    db: asyncpg.Connection,
) -> None:
    """Verified ratings (each with its dossier's rating code) from many long-lived installs,
    all low and all at once, far outside the service's own baseline: that is news, not a
    campaign. Every one counts, and the chair is alerted."""
    chair = await headers_for("chair.badinh")
    await register_device(client, chair)
    await tight_rule(client, headers_for)
    sid = await service_id(client)
    regulars = await citizens(client, 15)
    applicants = await citizens(client, 60)
    await age_installs(db)

    # The baseline: a week of mostly good ratings (served days ago).
    for n in range(30):
        score = 1 if n % 10 == 0 else 5
        body = {"commune_service_id": sid, "score": score, "served_at": ago(days=1 + n % 5)}
        response = await rate(client, regulars[n % 15], body)
        assert response.status_code == 201, response.text
    await run_worker(scoring_settings)
    assert fcm_server.messages == []

    # The drop: sixty applicants of dossiers completed this morning, each with the code from
    # the receipt, rating 1 within minutes, from the office's one network address.
    codes = [f"BD-DROP-{uuid.uuid4().hex[:10].upper()}" for _ in range(60)]
    reported = await report(client, *(completed(code, ago(hours=3)) for code in codes))
    drop_ids = []
    for n, (applicant, code) in enumerate(zip(applicants, codes, strict=True)):
        body = {"dossier_code": code, "rating_code": rating_code(reported, n), "score": 1}
        response = await rate(client, applicant, body)
        assert response.status_code == 201, response.text
        assert response.json()["verified"] is True
        drop_ids.append(response.json()["id"])

    states = await db.fetch("select quarantine, quarantine_reasons from ratings where id = any($1::bigint[])", drop_ids)
    assert [(r["quarantine"], r["quarantine_reasons"]) for r in states] == [(None, None)] * 60
    assert await db.fetchval("select count(*) from ratings where quarantine is not null") == 0

    report_now = await indicators(client, chair, service=sid)
    assert report_now["values"]["volume"] == 90 and report_now["quarantined"] == 0
    await run_worker(scoring_settings)
    satisfaction = [m for m in fcm_server.messages if m["data"].get("indicator") == "satisfaction_rate"]
    assert [m["data"]["kind"] for m in satisfaction] == ["alert_firing"]


async def test_released_ratings_reach_the_thresholds_and_discarded_ones_never(
    client: AsyncTestClient[Any],
    scoring_settings: Settings,
    fcm_server: FakeFcm,
    headers_for: TokenFor,
    db: asyncpg.Connection,
) -> None:
    """Held low ratings move no threshold; discarding them changes nothing; releasing them
    (a reviewer found them genuine) brings them into the indicators and the alert fires."""
    chair, admin = await headers_for("chair.badinh"), await headers_for("admin.hanoi")
    await register_device(client, chair)
    await tight_rule(client, headers_for)
    sid = await service_id(client)
    install = await new_citizen(client)
    items = [
        {"idempotency_key": uuid.uuid4().hex, "commune_service_id": sid, "score": 1, "served_at": ago(hours=1)}
        for _ in range(14)
    ]
    batch = await client.post("/v1/ratings/batch", json={"items": items}, headers=install)
    assert batch.status_code == 200 and [r["status"] for r in batch.json()["results"]] == [201] * 14
    held = [
        r["id"]
        for r in await db.fetch(
            "select id from ratings where quarantine = 'held' and commune_service_id = $1 order by id", sid
        )
    ]
    assert len(held) == 12  # the first two look like one citizen; from the third, a burst
    await run_worker(scoring_settings)
    assert fcm_server.messages == []

    reason = "Người dân xác nhận qua điện thoại, đánh giá là thật"
    for rating_id in held[:4]:
        response = await client.post(
            f"/v1/quarantine/ratings/{rating_id}/discard", json={"reason": reason}, headers=admin
        )
        assert response.status_code == 200, response.text
    await run_worker(scoring_settings)
    assert fcm_server.messages == []
    assert (await indicators(client, chair, service=sid))["values"]["volume"] == 2

    for rating_id in held[4:]:
        response = await client.post(
            f"/v1/quarantine/ratings/{rating_id}/release", json={"reason": reason}, headers=admin
        )
        assert response.status_code == 200, response.text
    report_now = await indicators(client, chair, service=sid)
    assert (report_now["values"]["volume"], report_now["quarantined"]) == (10, 0)
    await run_worker(scoring_settings)
    assert [m["data"]["kind"] for m in fcm_server.messages] == ["alert_firing"]
    assert fcm_server.messages[0]["notification"]["body"].startswith("Tỷ lệ hài lòng 7 ngày: 0%")


async def test_a_campaign_sent_all_at_once_is_held_as_well(
    client: AsyncTestClient[Any], headers_for: TokenFor, db: asyncpg.Connection
) -> None:
    """Sent concurrently, the campaign's ratings go through the group writer's concurrent
    batches (two drainers, activity and rollup rows locked in one order): all stored, held as
    when sent one by one, and the counts agree. (A campaign inside one batch, which the
    measuring SELECT cannot see, is held by the batch's own tally: tests/test_quarantine_review.)"""
    sid = await service_id(client)
    campaign = await citizens(client, 50)
    body = {"commune_service_id": sid, "score": 1, "served_at": ago(hours=2), "comment": CAMPAIGN_COMMENT}
    answers = await asyncio.gather(*(rate(client, install, body) for install in campaign * 4))
    assert [a.status_code for a in answers] == [201] * 200
    ids = [a.json()["id"] for a in answers]
    held = await db.fetchval("select count(*) from ratings where id = any($1::bigint[]) and quarantine = 'held'", ids)
    assert held >= 195, held
    chair = await headers_for("chair.badinh")
    report_now = await indicators(client, chair, service=sid)
    assert (report_now["values"]["volume"], report_now["quarantined"]) == (200 - held, held)
