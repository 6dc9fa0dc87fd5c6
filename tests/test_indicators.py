"""Rollups and indicator reads through the HTTP API, against the real PostgreSQL."""

from __future__ import annotations

import random
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import pytest
from litestar.testing import AsyncTestClient

from backend.indicators import processing_bucket, wilson_interval
from backend.services.rollups import ROLLUP_TABLES, rebuild_rollups
from backend.windows import local_day
from tests.conftest import TokenFor
from tests.test_ratings import ago, new_citizen, rate, report, service_id

BIRTH = "1.001193"
MARRIAGE = "1.000894"


async def rate_many(client: AsyncTestClient[Any], sid: int, scores: list[int], **body: Any) -> None:
    """Ratings from as many installs as needed (each may rate 20 a day)."""
    citizen: dict[str, str] = {}
    for index, score in enumerate(scores):
        if index % 20 == 0:
            citizen = await new_citizen(client)
        response = await rate(
            client, citizen, {"commune_service_id": sid, "score": score, "served_at": ago(hours=2), **body}
        )
        assert response.status_code == 201, response.text


async def snapshot(db: asyncpg.Connection) -> dict[str, list[Any]]:
    tables = {}
    for table in ROLLUP_TABLES:
        rows = await db.fetch(f"select * from {table}")
        tables[table] = sorted(tuple(map(str, r.values())) for r in rows)
    return tables


async def test_incremental_rollups_equal_rebuilt_ones(
    client: AsyncTestClient[Any], db: asyncpg.Connection, headers_for: TokenFor
) -> None:
    rng = random.Random(7)
    sid = await service_id(client)
    other = await service_id(client, procedure=MARRIAGE)
    citizen = await new_citizen(client)
    for _ in range(15):
        body: dict[str, Any] = {
            "commune_service_id": rng.choice([sid, other]),
            "score": rng.randint(1, 5),
            "served_at": ago(hours=rng.randint(1, 24 * 20)),
        }
        if rng.random() < 0.5:
            body["dimensions"] = {"attitude": rng.randint(1, 5), "timeliness": rng.randint(1, 5)}
        assert (await rate(client, citizen, body)).status_code == 201
    # Ratings by dossier code, verified later when the completion arrives (updates ratings).
    codes = [f"HS-{uuid.uuid4().hex[:10]}" for _ in range(3)]
    for code in codes:
        report_body = {
            "code": code,
            "commune_code": "00004",
            "procedure_code": BIRTH,
            "status": "processing",
            "received_at": ago(days=4),
            "event_at": ago(days=4),
        }
        await report(client, report_body)
        assert (
            await rate(client, citizen, {"dossier_code": code, "score": 2, "served_at": ago(hours=3)})
        ).status_code == 201
    for index, code in enumerate(codes):
        done = ago(hours=1 + index)
        await report(
            client,
            {
                "code": code,
                "commune_code": "00004",
                "procedure_code": BIRTH,
                "status": "completed",
                "received_at": ago(days=4),
                "completed_at": done,
                "event_at": done,
                "due_at": ago(days=2) if index == 0 else ago(hours=-5),
            },
        )
    # A backdated rotation re-links ratings (updates ratings again).
    admin = await headers_for("admin.hanoi")
    official = await client.post(
        "/v1/communes/00004/officials", json={"full_name": "Lê Văn Tám", "position": "Công chức"}, headers=admin
    )
    rotated = await client.post(
        f"/v1/commune-services/{sid}/rotations",
        json={"official_id": official.json()["id"], "at": ago(days=10)},
        headers=admin,
    )
    assert rotated.status_code in (200, 201), rotated.text

    incremental = await snapshot(db)
    assert incremental["rating_rollups_hourly"], "the triggers wrote rollups"
    assert incremental["dossier_processing_hourly"]
    counts = await rebuild_rollups(db)
    assert counts["rating_rollups_hourly"] == len(incremental["rating_rollups_hourly"])
    assert await snapshot(db) == incremental


async def test_sql_and_python_agree_on_buckets_and_intervals(db: asyncpg.Connection) -> None:
    rng = random.Random(3)
    for _ in range(200):
        seconds = 10 ** rng.uniform(1, 9)
        assert await db.fetchval("select processing_bucket($1)", seconds) == processing_bucket(seconds)
    for successes, n in [(0, 1), (3, 3), (81, 263), (150, 200), (0, 20)]:
        low, high = await db.fetchrow("select wilson_low($1, $2), wilson_high($1, $2)", successes, n)
        expected = wilson_interval(successes, n)
        assert expected is not None
        assert low == pytest.approx(expected[0], abs=1e-12) and high == pytest.approx(expected[1], abs=1e-12)


async def test_commune_and_service_indicators_with_intervals(
    client: AsyncTestClient[Any], headers_for: TokenFor
) -> None:
    sid = await service_id(client)
    await rate_many(client, sid, [5] * 14 + [2] * 6, dimensions={"attitude": 4})
    chair = await headers_for("chair.badinh")

    commune = await client.get("/v1/indicators", params={"commune": "00004", "window": "7d"}, headers=chair)
    assert commune.status_code == 200, commune.text
    body = commune.json()
    assert body["scope"] == {
        "kind": "commune",
        "commune_code": "00004",
        "province_code": "01",
        "name": "Phường Ba Đình",
    }
    assert body["window"]["spec"] == "7d" and body["window"]["time_zone"] == "Asia/Ho_Chi_Minh"
    values = body["values"]
    satisfaction = values["satisfaction_rate"]
    assert satisfaction["value"] == pytest.approx(0.7) and satisfaction["sample_size"] == 20
    low, high = wilson_interval(14, 20)  # type: ignore[misc]
    assert satisfaction["ci_low"] == pytest.approx(low) and satisfaction["ci_high"] == pytest.approx(high)
    assert values["mean_score"]["value"] == pytest.approx((14 * 5 + 6 * 2) / 20)
    assert values["dimensions"]["attitude"] == {"value": 4.0, "sample_size": 20}
    assert values["volume"] == 20 and values["verified_share"]["value"] == 0
    assert values["on_time_rate"] == {"sample_size": 0}
    assert values["feedback_backlog"] == 0 and values["feedback_overdue"] == 0

    by_service = await client.get("/v1/indicators", params={"service": sid}, headers=chair)
    assert by_service.json()["values"]["volume"] == 20
    assert by_service.json()["scope"]["commune_service_id"] == sid
    # Another commune of the same province has nothing.
    admin = await headers_for("admin.hanoi")
    hoan_kiem = await client.get("/v1/indicators", params={"commune": "00070"}, headers=admin)
    assert hoan_kiem.json()["values"]["volume"] == 0
    province = await client.get("/v1/indicators", params={"province": "01"}, headers=admin)
    assert province.json()["values"]["volume"] == 20
    nation = await client.get("/v1/indicators", headers=await headers_for("sysadmin"))
    assert nation.json()["values"]["volume"] == 20 and nation.json()["scope"]["kind"] == "nation"


async def test_on_time_rate_and_processing_time_from_dossiers(
    client: AsyncTestClient[Any], headers_for: TokenFor
) -> None:
    now = datetime.now(UTC)
    events = []
    for index in range(10):
        received = now - timedelta(days=5)
        done = received + timedelta(hours=10 * (index + 1))
        due = received + timedelta(hours=75)  # seven finish by then, three after
        events.append(
            {
                "code": f"OT-{index}-{uuid.uuid4().hex[:6]}",
                "commune_code": "00004",
                "procedure_code": BIRTH,
                "status": "completed",
                "received_at": received.isoformat(),
                "due_at": due.isoformat(),
                "completed_at": done.isoformat(),
                "event_at": done.isoformat(),
            }
        )
    result = await report(client, *events)
    assert all(r["outcome"] == "created" for r in result["results"])
    chair = await headers_for("chair.badinh")
    values = (await client.get("/v1/indicators", params={"commune": "00004", "window": "7d"}, headers=chair)).json()[
        "values"
    ]
    assert values["on_time_rate"]["value"] == pytest.approx(0.7) and values["on_time_rate"]["sample_size"] == 10
    median = values["processing_median_hours"]
    assert median["sample_size"] == 10
    # True median 55 h; the histogram's estimate stays within a bucket (25 %).
    assert 55 * 0.8 < median["value"] < 55 * 1.25
    assert 90 * 0.8 < values["processing_p90_hours"]["value"] < 100 * 1.25


async def test_series_has_a_point_per_local_day(client: AsyncTestClient[Any], headers_for: TokenFor) -> None:
    sid = await service_id(client)
    citizen = await new_citizen(client)
    for days, score in [(1, 5), (1, 4), (3, 1)]:
        served = datetime.now(UTC) - timedelta(days=days)
        await rate(client, citizen, {"commune_service_id": sid, "score": score, "served_at": served.isoformat()})
    chair = await headers_for("chair.badinh")
    today = local_day(datetime.now(UTC))
    for params in ({"commune": "00004"}, {"service": sid}):
        response = await client.get(
            "/v1/indicators/series",
            params={**params, "from": str(today - timedelta(days=6)), "to": str(today)},
            headers=chair,
        )
        assert response.status_code == 200, response.text
        points = response.json()["points"]
        assert [p["day"] for p in points] == [str(today - timedelta(days=6 - i)) for i in range(7)]
        by_day = {p["day"]: p for p in points}
        one_day_ago = str(local_day(datetime.now(UTC) - timedelta(days=1)))
        assert by_day[one_day_ago]["volume"] == 2 and by_day[one_day_ago]["satisfaction_rate"]["value"] == 1
        assert sum(p["volume"] for p in points) == 3
    too_long = await client.get(
        "/v1/indicators/series", params={"commune": "00004", "from": "2024-01-01", "to": "2026-01-01"}, headers=chair
    )
    assert too_long.status_code == 400 and too_long.json()["code"] == "invalid_period"


async def test_breakdowns_put_the_worst_first_on_evidence(client: AsyncTestClient[Any], headers_for: TokenFor) -> None:
    birth = await service_id(client)
    marriage = await service_id(client, procedure=MARRIAGE)
    # Marriage: 1 rating, all bad. Birth: 30 ratings, half bad. With evidence, birth is worse.
    await rate_many(client, marriage, [1])
    await rate_many(client, birth, [1] * 15 + [5] * 15)
    chair = await headers_for("chair.badinh")
    response = await client.get("/v1/indicators/breakdown", params={"by": "service", "commune": "00004"}, headers=chair)
    assert response.status_code == 200, response.text
    rows = response.json()["rows"]
    assert [r["commune_service_id"] for r in rows[:2]] == [birth, marriage]
    assert rows[-1]["values"]["volume"] == 0  # services without ratings go last
    best = await client.get(
        "/v1/indicators/breakdown",
        params={"by": "service", "commune": "00004", "order": "best", "sort": "volume"},
        headers=chair,
    )
    assert best.json()["rows"][-1]["values"]["volume"] == 0

    officials = await client.get(
        "/v1/indicators/breakdown", params={"by": "official", "commune": "00004"}, headers=chair
    )
    assert sum(r["values"]["volume"] for r in officials.json()["rows"]) == 31

    admin = await headers_for("admin.hanoi")
    communes = await client.get("/v1/indicators/breakdown", params={"by": "commune", "province": "01"}, headers=admin)
    rows = communes.json()["rows"]
    assert rows[0]["commune_code"] == "00004" and rows[0]["values"]["volume"] == 31
    assert len(rows) > 100  # every commune of Hà Nội, with or without data
    wrong = await client.get("/v1/indicators/breakdown", params={"by": "commune", "commune": "00004"}, headers=chair)
    assert wrong.status_code == 400 and wrong.json()["code"] == "invalid_breakdown"


@pytest.mark.parametrize(
    ("username", "params", "status"),
    [
        ("chair.badinh", {"commune": "00004"}, 200),
        ("chair.badinh", {"commune": "00070"}, 403),
        ("chair.badinh", {"province": "01"}, 403),
        ("chair.badinh", {}, 403),
        ("chair.saigon", {"commune": "00004"}, 403),
        ("admin.hanoi", {"commune": "00070"}, 200),
        ("admin.hanoi", {"province": "79"}, 403),
        ("admin.hcm", {"province": "79"}, 200),
        ("sysadmin", {"province": "79"}, 200),
        # A commune official sees their own figures, not the commune's.
        ("official.badinh", {"commune": "00004"}, 403),
        ("chair.badinh", {"commune": "99999"}, 404),
    ],
)
async def test_indicator_scope(
    client: AsyncTestClient[Any], headers_for: TokenFor, username: str, params: dict[str, str], status: int
) -> None:
    response = await client.get("/v1/indicators", params=params, headers=await headers_for(username))
    assert response.status_code == status, response.text


async def test_an_official_reads_their_own_figures_only(
    client: AsyncTestClient[Any], db: asyncpg.Connection, headers_for: TokenFor, citizen_headers: dict[str, str]
) -> None:
    mine = await db.fetchval(
        "select o.id from officials o join users u on u.id = o.user_id where u.username = 'official.badinh'"
    )
    other = await db.fetchval("select id from officials where commune_code = '00004' and id <> $1 limit 1", mine)
    official = await headers_for("official.badinh")
    assert (await client.get("/v1/indicators", params={"official": mine}, headers=official)).status_code == 200
    assert (await client.get("/v1/indicators", params={"official": other}, headers=official)).status_code == 403
    assert (await client.get("/v1/indicators", headers=citizen_headers)).status_code in (401, 403)
    assert (await client.get("/v1/indicators")).status_code == 401


async def add_feedback(
    db: asyncpg.Connection, *, hours_to_answer: float, due_in_hours: float, rating: int | None
) -> int:
    """An answered feedback item, written as the workflow leaves it."""
    created = datetime.now(UTC) - timedelta(days=2)
    item_id: int = await db.fetchval(
        """
        insert into feedback (reference, category, commune_code, status, body, is_anonymous, created_at,
                              response_due_at, answered_at, answer, answer_rating)
        values ($1, 'complaint', '00004', 'answered', 'Thủ tục chậm', true, $2, $3, $4, 'Đã xử lý', $5)
        returning id
        """,
        f"T-{uuid.uuid4().hex[:10]}",
        created,
        created + timedelta(hours=due_in_hours),
        created + timedelta(hours=hours_to_answer),
        rating,
    )
    return item_id


async def test_answers_to_feedback_feed_the_indicators(
    client: AsyncTestClient[Any], db: asyncpg.Connection, headers_for: TokenFor
) -> None:
    await add_feedback(db, hours_to_answer=10, due_in_hours=24, rating=5)
    await add_feedback(db, hours_to_answer=20, due_in_hours=24, rating=4)
    late = await add_feedback(db, hours_to_answer=30, due_in_hours=24, rating=None)
    # Rated later, and reopened items leave the figures when their answer is withdrawn.
    await db.execute("update feedback set answer_rating = 1 where id = $1", late)
    reopened = await add_feedback(db, hours_to_answer=5, due_in_hours=24, rating=None)
    await db.execute("update feedback set status = 'triaged', answered_at = null where id = $1", reopened)

    chair = await headers_for("chair.badinh")
    values = (await client.get("/v1/indicators", params={"commune": "00004", "window": "7d"}, headers=chair)).json()[
        "values"
    ]
    assert values["feedback_answered_on_time"]["value"] == pytest.approx(2 / 3)
    assert values["feedback_answered_on_time"]["sample_size"] == 3
    assert values["feedback_answer_satisfaction"]["value"] == pytest.approx(2 / 3)
    assert 20 * 0.8 < values["feedback_answer_median_hours"]["value"] < 20 * 1.25
    # The reopened one is open again, but not forwarded: the Front counts it, the chair not yet.
    assert values["feedback_backlog"] == 0
    front = await client.get(
        "/v1/indicators", params={"commune": "00004", "window": "7d"}, headers=await headers_for("front.badinh")
    )
    assert front.json()["values"]["feedback_backlog"] == 1
    incremental = await snapshot(db)
    await rebuild_rollups(db)
    assert await snapshot(db) == incremental
    province = await client.get(
        "/v1/indicators/breakdown",
        params={"by": "commune", "province": "01", "sort": "feedback_answered_on_time"},
        headers=await headers_for("admin.hanoi"),
    )
    assert province.json()["rows"][0]["commune_code"] == "00004"


@pytest.mark.parametrize(
    ("path", "params"),
    [
        ("/v1/indicators", {"commune": "00004", "window": "month", "on": "9999-12-31"}),
        ("/v1/indicators", {"province": "01", "window": "90d", "on": "0001-01-02"}),
        ("/v1/indicators/series", {"commune": "00004", "to": "0001-01-05"}),
        ("/v1/indicators/breakdown", {"by": "service", "commune": "00004", "on": "9999-12-31"}),
    ],
)
async def test_days_far_outside_the_data_are_a_clear_problem(
    client: AsyncTestClient[Any], headers_for: TokenFor, path: str, params: dict[str, str]
) -> None:
    response = await client.get(path, params=params, headers=await headers_for("sysadmin"))
    assert response.status_code == 400, response.text
    assert response.json()["code"] == "invalid_period"
