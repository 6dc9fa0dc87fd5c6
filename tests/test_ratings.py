"""Citizens' ratings through the HTTP API: linking, verification, idempotency, one rating
per dossier, batches, limits."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import msgspec
import pytest
from litestar.testing import AsyncTestClient

from backend.app import create_app
from backend.security import issue_token
from backend.seed.demo import DEMO_API_KEY
from backend.settings import Settings
from tests.conftest import JWT_SECRET, TokenFor

BIRTH = "1.001193"  # Ba Đình's justice desk: its official rotated 45 days before the demo
API_KEY = {"x-api-key": DEMO_API_KEY}


def ago(**delta: float) -> str:
    return (datetime.now(UTC) - timedelta(**delta)).isoformat()


async def rate(
    client: AsyncTestClient[Any], headers: dict[str, str], body: dict[str, Any], key: str | None = None
) -> Any:
    return await client.post("/v1/ratings", json=body, headers={**headers, "idempotency-key": key or uuid.uuid4().hex})


async def service_id(client: AsyncTestClient[Any], commune: str = "00004", procedure: str = BIRTH) -> int:
    response = await client.get(f"/v1/communes/{commune}/services", params={"limit": 200})
    return next(s["id"] for s in response.json()["items"] if s["procedure_code"] == procedure)


async def new_citizen(client: AsyncTestClient[Any]) -> dict[str, str]:
    response = await client.post(
        "/v1/auth/device-sessions", json={"install_id": f"test-{uuid.uuid4().hex}", "platform": "ios"}
    )
    return {"authorization": f"Bearer {response.json()['access_token']}"}


async def report(client: AsyncTestClient[Any], *events: dict[str, Any]) -> Any:
    response = await client.post("/v1/integrations/dossiers", json={"dossiers": list(events)}, headers=API_KEY)
    assert response.status_code == 200, response.text
    return response.json()


def rating_code(result: Any, index: int = 0) -> str:
    """The rating code the one-stop shop got for a new dossier (printed on the receipt)."""
    code = result["results"][index]["rating_code"]
    assert isinstance(code, str) and len(code) == 8
    return code


def completed(code: str, done: str, **extra: Any) -> dict[str, Any]:
    return {
        "code": code,
        "commune_code": "00004",
        "procedure_code": BIRTH,
        "status": "completed",
        "received_at": ago(days=3),
        "completed_at": done,
        "event_at": done,
        **extra,
    }


async def test_rating_links_to_whoever_held_the_service_at_the_time(
    client: AsyncTestClient[Any], citizen_headers: dict[str, str], headers_for: TokenFor
) -> None:
    sid = await service_id(client)
    before = await rate(client, citizen_headers, {"commune_service_id": sid, "score": 4, "served_at": ago(days=3)})
    assert before.status_code == 201, before.text
    old_official = before.json()["official"]

    admin = await headers_for("admin.hanoi")
    created = await client.post(
        "/v1/communes/00004/officials",
        json={"full_name": "Trịnh Thu Hằng", "position": "Công chức Tư pháp - Hộ tịch"},
        headers=admin,
    )
    assert created.status_code == 201, created.text
    rotation = await client.post(
        f"/v1/commune-services/{sid}/rotations",
        json={"official_id": created.json()["id"], "at": ago(days=2), "note": "Luân chuyển cán bộ"},
        headers=admin,
    )
    assert rotation.status_code == 201, rotation.text
    assert rotation.json()["ended"]["official"]["id"] == old_official["id"]

    after = await rate(client, citizen_headers, {"commune_service_id": sid, "score": 2, "served_at": ago(days=1)})
    earlier = await rate(client, citizen_headers, {"commune_service_id": sid, "score": 5, "served_at": ago(days=4)})
    assert after.json()["official"]["full_name"] == "Trịnh Thu Hằng"
    assert earlier.json()["official"]["id"] == old_official["id"]  # not whoever holds it today
    assert after.json()["verified"] is False


async def test_backdated_rotation_relinks_the_ratings_it_covers(
    client: AsyncTestClient[Any], citizen_headers: dict[str, str], headers_for: TokenFor, db: asyncpg.Connection
) -> None:
    sid = await service_id(client)
    rating = await rate(client, citizen_headers, {"commune_service_id": sid, "score": 3, "served_at": ago(days=1)})
    admin = await headers_for("admin.hanoi")
    new = await client.post(
        "/v1/communes/00004/officials", json={"full_name": "Lý Văn Tâm", "position": "Công chức"}, headers=admin
    )
    rotation = await client.post(
        f"/v1/commune-services/{sid}/rotations",
        json={"official_id": new.json()["id"], "at": ago(days=2)},
        headers=admin,
    )
    assert rotation.json()["relinked_ratings"] == 1
    linked = await db.fetchval("select official_id from ratings where id = $1", rating.json()["id"])
    assert linked == new.json()["id"]


async def test_verified_only_with_a_completed_dossier_of_that_service(
    client: AsyncTestClient[Any], citizen_headers: dict[str, str]
) -> None:
    done = ago(days=1)
    receipt = rating_code(await report(client, completed("BD-2026-000101", done)))
    verified = await rate(
        client, citizen_headers, {"dossier_code": " bd-2026-000101 ", "rating_code": receipt.lower(), "score": 5}
    )
    assert verified.status_code == 201, verified.text
    body = verified.json()
    assert body["verified"] is True
    assert body["dossier_code"] == "BD-2026-000101"
    assert body["procedure_code"] == BIRTH and body["commune_code"] == "00004"
    assert datetime.fromisoformat(body["served_at"]) == datetime.fromisoformat(done)  # the completion time
    assert body["official"] is not None

    # A dossier the one-stop shop has not reported has no code to prove: stored, not verified,
    # and its completion does not verify it either.
    sid = await service_id(client)
    pending = await rate(
        client,
        citizen_headers,
        {"commune_service_id": sid, "dossier_code": "BD-2026-000102", "score": 2, "served_at": ago(hours=5)},
    )
    assert pending.status_code == 201, pending.text
    assert pending.json()["verified"] is False
    result = await report(client, completed("BD-2026-000102", ago(hours=6)))
    assert result["verified_ratings"] == 0
    mine = (await client.get("/v1/me/ratings", headers=citizen_headers)).json()["items"]
    assert {r["dossier_code"]: r["verified"] for r in mine} == {"BD-2026-000101": True, "BD-2026-000102": False}

    # A dossier of another service than the one named is refused, plainly.
    other = await service_id(client, procedure="1.000894")
    mismatch = await rate(
        client, citizen_headers, {"commune_service_id": other, "dossier_code": "BD-2026-000101", "score": 4}
    )
    assert mismatch.status_code == 422
    assert mismatch.json()["code"] == "dossier_service_mismatch"


async def test_a_dossier_only_rating_needs_a_known_dossier(
    client: AsyncTestClient[Any], citizen_headers: dict[str, str]
) -> None:
    response = await rate(client, citizen_headers, {"dossier_code": "NOPE-0001", "score": 4, "served_at": ago(hours=1)})
    assert response.status_code == 422
    assert response.json()["code"] == "unknown_dossier"


async def test_idempotent_replay_and_conflict(
    client: AsyncTestClient[Any], citizen_headers: dict[str, str], db: asyncpg.Connection
) -> None:
    sid = await service_id(client)
    body = {"commune_service_id": sid, "score": 4, "comment": "  Cán bộ nhiệt tình.  ", "served_at": ago(hours=2)}
    first = await rate(client, citizen_headers, body, key="phone-queue-0001")
    assert first.status_code == 201, first.text
    assert first.json()["comment"] == "Cán bộ nhiệt tình."
    assert "idempotent-replayed" not in first.headers

    again = await rate(client, citizen_headers, {**body, "channel": "app"}, key="phone-queue-0001")
    assert again.status_code == 201
    assert again.headers["idempotent-replayed"] == "true"
    assert again.json() == first.json()

    changed = await rate(client, citizen_headers, {**body, "score": 1}, key="phone-queue-0001")
    assert changed.status_code == 422
    assert changed.json()["code"] == "idempotency_key_reused"

    # Another install may use the same key for its own rating.
    other = await rate(client, await new_citizen(client), body, key="phone-queue-0001")
    assert other.status_code == 201 and other.json()["id"] != first.json()["id"]
    assert await db.fetchval("select count(*) from ratings where idempotency_key = 'phone-queue-0001'") == 2

    missing = await client.post("/v1/ratings", json=body, headers=citizen_headers)
    assert missing.status_code == 400
    assert missing.json()["code"] == "idempotency_key_required"
    bad = await rate(client, citizen_headers, body, key="has spaces")
    assert bad.json()["code"] == "idempotency_key_required"


async def test_concurrent_retries_store_one_row(
    client: AsyncTestClient[Any], citizen_headers: dict[str, str], db: asyncpg.Connection
) -> None:
    sid = await service_id(client)
    body = {"commune_service_id": sid, "score": 5, "served_at": ago(hours=1)}
    responses = await asyncio.gather(*(rate(client, citizen_headers, body, key="same-key") for _ in range(12)))
    assert {r.status_code for r in responses} == {201}
    assert len({r.json()["id"] for r in responses}) == 1
    assert sum("idempotent-replayed" not in r.headers for r in responses) == 1
    assert await db.fetchval("select count(*) from ratings where idempotency_key = 'same-key'") == 1


async def test_concurrent_ratings_are_all_stored(client: AsyncTestClient[Any], db: asyncpg.Connection) -> None:
    sid = await service_id(client)
    citizens = [await new_citizen(client) for _ in range(5)]
    jobs = [
        rate(client, citizens[i % 5], {"commune_service_id": sid, "score": 1 + i % 5, "served_at": ago(hours=i)})
        for i in range(15)
    ]
    responses = await asyncio.gather(*jobs)
    assert [r.status_code for r in responses] == [201] * 15
    assert len({r.json()["id"] for r in responses}) == 15
    assert await db.fetchval("select count(*) from ratings") == 15


async def test_one_rating_per_dossier(client: AsyncTestClient[Any], citizen_headers: dict[str, str]) -> None:
    receipt = rating_code(await report(client, completed("BD-2026-000201", ago(days=1))))
    first = await rate(client, citizen_headers, {"dossier_code": "BD-2026-000201", "rating_code": receipt, "score": 5})
    assert first.json()["verified"] is True
    second = await rate(
        client, await new_citizen(client), {"dossier_code": "bd-2026-000201", "rating_code": receipt, "score": 1}
    )
    assert second.status_code == 409
    problem = second.json()
    assert problem["code"] == "rating_exists"
    assert "existing_id" not in problem  # never another install's rating


@pytest.mark.parametrize(
    ("served", "code"),
    [(timedelta(hours=-2), "served_at_in_future"), (timedelta(days=31), "served_at_too_old")],
)
async def test_service_time_window(
    client: AsyncTestClient[Any], citizen_headers: dict[str, str], served: timedelta, code: str
) -> None:
    sid = await service_id(client)
    when = (datetime.now(UTC) - served).isoformat()
    response = await rate(client, citizen_headers, {"commune_service_id": sid, "score": 3, "served_at": when})
    assert response.status_code == 422
    assert response.json()["code"] == code


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        ({"score": 4, "served_at": "2026-01-01T00:00:00Z"}, 422, "service_reference_required"),
        ({"commune_code": "00004", "score": 4}, 422, "service_reference_required"),
        ({"commune_service_id": 99999999, "score": 4}, 422, "unknown_service"),
        ({"commune_code": "00004", "procedure_code": "9.999999", "score": 4}, 422, "unknown_service"),
        ({"commune_service_id": 1, "commune_code": "26740", "score": 4}, 422, "unknown_service"),
        ({"commune_service_id": 1, "score": 6}, 422, "validation_failed"),
        ({"commune_service_id": 1, "score": 4, "comment": "x" * 2001}, 422, "validation_failed"),
        ({"commune_service_id": 1, "score": 4, "comment": "bell\x07"}, 422, "validation_failed"),
        ({"commune_service_id": 1, "score": 4, "served_at": "2026-11-20T10:00:00"}, 422, "validation_failed"),
        ({"commune_service_id": 1, "score": 4, "dimensions": {"speed": 3}}, 422, "validation_failed"),
    ],
)
async def test_bad_ratings_get_clear_problems(
    client: AsyncTestClient[Any], citizen_headers: dict[str, str], body: dict[str, Any], status: int, code: str
) -> None:
    response = await rate(client, citizen_headers, body)
    assert response.status_code == status, response.text
    assert response.json()["code"] == code
    assert response.headers["content-type"].startswith("application/problem+json")


async def test_ratings_by_commune_and_procedure_with_dimensions(
    client: AsyncTestClient[Any], citizen_headers: dict[str, str]
) -> None:
    body = {
        "commune_code": "00070",
        "procedure_code": "1.000894",
        "score": 4,
        "dimensions": {"access": 5, "attitude": 4, "timeliness": 3},
        "channel": "kiosk",
        "served_at": ago(hours=3),
        "rated_at": ago(hours=2),
    }
    response = await rate(client, citizen_headers, body)
    assert response.status_code == 201, response.text
    rating = response.json()
    assert rating["commune_name"] == "Phường Hoàn Kiếm"
    assert rating["procedure_name"] == "Thủ tục đăng ký kết hôn"
    assert rating["dimensions"] == {"access": 5, "attitude": 4, "timeliness": 3}
    assert rating["channel"] == "kiosk"


async def test_only_citizens_rate(client: AsyncTestClient[Any], headers_for: TokenFor) -> None:
    body = {"commune_service_id": 1, "score": 4, "served_at": ago(hours=1)}
    staff = await rate(client, await headers_for("chair.badinh"), body)
    assert staff.status_code == 403
    machine = await rate(client, API_KEY, body)
    assert machine.status_code == 403
    nobody = await rate(client, {}, body)
    assert nobody.status_code == 401
    # The batch runs the same guard (its handler hands guards itself, not a copy).
    item = {**body, "idempotency_key": "only-citizens-1"}
    for headers, status in ((await headers_for("chair.badinh"), 403), (API_KEY, 403), ({}, 401)):
        refused = await client.post("/v1/ratings/batch", json={"items": [item]}, headers=headers)
        assert refused.status_code == status, headers


async def test_batch_of_queued_ratings_with_good_and_bad_items(
    client: AsyncTestClient[Any], citizen_headers: dict[str, str], db: asyncpg.Connection
) -> None:
    sid = await service_id(client)
    receipt = rating_code(await report(client, completed("BD-2026-000301", ago(days=2))))
    items = [
        {"idempotency_key": "q-1", "commune_service_id": sid, "score": 5, "served_at": ago(days=2)},
        {"idempotency_key": "q-2", "commune_service_id": sid, "score": 9, "served_at": ago(days=2)},
        {"idempotency_key": "q-3", "commune_service_id": 99999999, "score": 3, "served_at": ago(days=1)},
        {"idempotency_key": "q-4", "dossier_code": "BD-2026-000301", "rating_code": receipt, "score": 4},
        {"idempotency_key": "q-5", "dossier_code": "BD-2026-000301", "rating_code": receipt, "score": 2},
        {"idempotency_key": "q-1", "commune_service_id": sid, "score": 5, "served_at": ago(days=2)},
        {"commune_service_id": sid, "score": 5},
        "not an object",
        {"idempotency_key": "q-9", "commune_service_id": sid, "score": 1, "served_at": ago(hours=1)},
    ]
    # Item 6 repeats item 1 exactly (the phone sent it twice): a replay of the same rating.
    items[5]["served_at"] = items[0]["served_at"]
    response = await client.post("/v1/ratings/batch", json={"items": items}, headers=citizen_headers)
    assert response.status_code == 200, response.text
    results = response.json()["results"]
    assert [r["index"] for r in results] == list(range(len(items)))
    statuses = [r["status"] for r in results]
    assert statuses == [201, 422, 422, 201, 409, 200, 422, 422, 201]
    assert results[1]["problem"]["errors"][0]["field"] == "score"
    assert results[2]["problem"]["code"] == "unknown_service"
    assert results[3]["rating"]["verified"] is True
    assert results[4]["problem"]["code"] == "rating_exists"
    assert results[5]["rating"]["id"] == results[0]["rating"]["id"]
    assert results[6]["problem"]["errors"][0]["field"] == "idempotency_key"
    assert await db.fetchval("select count(*) from ratings") == 3

    # A phone that queued one rating many times: stored once, every copy answered.
    copies = [{**items[8], "idempotency_key": "q-many"} for _ in range(7)]
    repeated = await client.post("/v1/ratings/batch", json={"items": copies}, headers=citizen_headers)
    assert [r["status"] for r in repeated.json()["results"]] == [201] + [200] * 6
    assert await db.fetchval("select count(*) from ratings") == 4

    # The phone retries the whole batch: nothing new is stored.
    retry = await client.post("/v1/ratings/batch", json={"items": items}, headers=citizen_headers)
    assert [r["status"] for r in retry.json()["results"]] == [200, 422, 422, 200, 409, 200, 422, 422, 200]
    assert await db.fetchval("select count(*) from ratings") == 4


async def test_batch_size_is_limited(client: AsyncTestClient[Any], citizen_headers: dict[str, str]) -> None:
    items = [{"idempotency_key": f"k{i}", "commune_service_id": 1, "score": 4} for i in range(101)]
    response = await client.post("/v1/ratings/batch", json={"items": items}, headers=citizen_headers)
    assert response.status_code == 422


@pytest.fixture
async def limited_client(settings: Settings) -> AsyncIterator[AsyncTestClient[Any]]:
    limited = msgspec.structs.replace(settings, rating_daily_limit=3)
    async with AsyncTestClient(app=create_app(limited)) as test_client:
        yield test_client


async def test_daily_limit_per_install(limited_client: AsyncTestClient[Any]) -> None:
    client = limited_client
    citizen = await new_citizen(client)
    sid = await service_id(client)
    bodies = [{"commune_service_id": sid, "score": 4, "served_at": ago(hours=i + 1)} for i in range(4)]
    statuses = [(await rate(client, citizen, body, key=f"day-{i}")).status_code for i, body in enumerate(bodies)]
    assert statuses == [201, 201, 201, 429]
    refused = await rate(client, citizen, {"commune_service_id": sid, "score": 4, "served_at": ago(hours=9)})
    assert refused.json()["code"] == "rating_limit_reached"
    assert 0 < int(refused.headers["retry-after"]) <= 86400
    # A retry of a stored rating is not a new one: it is still answered.
    replay = await rate(client, citizen, bodies[0], key="day-0")
    assert replay.status_code == 201
    assert replay.headers["idempotent-replayed"] == "true"
    # Another install is not affected.
    other = await rate(
        client, await new_citizen(client), {"commune_service_id": sid, "score": 4, "served_at": ago(hours=1)}
    )
    assert other.status_code == 201


async def test_my_ratings_are_mine_and_paginated(client: AsyncTestClient[Any], citizen_headers: dict[str, str]) -> None:
    sid = await service_id(client)
    ids = []
    for i in range(5):
        body = {"commune_service_id": sid, "score": 1 + i, "served_at": ago(hours=i + 1)}
        ids.append((await rate(client, citizen_headers, body)).json()["id"])
    await rate(client, await new_citizen(client), {"commune_service_id": sid, "score": 3, "served_at": ago(hours=1)})

    seen, cursor = [], None
    while True:
        params: dict[str, Any] = {"limit": 2, **({"cursor": cursor} if cursor else {})}
        page = (await client.get("/v1/me/ratings", params=params, headers=citizen_headers)).json()
        seen += [r["id"] for r in page["items"]]
        cursor = page.get("next_cursor")
        if not cursor:
            break
    assert seen == sorted(ids, reverse=True)


async def test_blocked_and_unknown_installs_cannot_rate(
    client: AsyncTestClient[Any], citizen_headers: dict[str, str], db: asyncpg.Connection
) -> None:
    sid = await service_id(client)
    body = {"commune_service_id": sid, "score": 1, "served_at": ago(hours=1)}
    me = (await client.get("/v1/me", headers=citizen_headers)).json()
    await db.execute("update citizen_installs set blocked_at = now() where id = $1", uuid.UUID(me["citizen_id"]))
    blocked = await rate(client, citizen_headers, body)
    assert blocked.status_code == 403
    assert blocked.json()["code"] == "install_blocked"

    # A well-signed token of an install the database does not know (e.g. restored from a backup).
    token, _ = issue_token(JWT_SECRET, f"citizen:{uuid.uuid4()}", "citizen", 600)
    ghost = await rate(client, {"authorization": f"Bearer {token}"}, body)
    assert ghost.status_code == 401
    assert await db.fetchval("select count(*) from ratings") == 0


async def test_a_dossier_still_in_progress_gives_an_unverified_rating(
    client: AsyncTestClient[Any], citizen_headers: dict[str, str], db: asyncpg.Connection
) -> None:
    received = {
        "code": "BD-2026-000401",
        "commune_code": "00004",
        "procedure_code": BIRTH,
        "status": "processing",
        "received_at": ago(days=2),
        "event_at": ago(days=2),
    }
    receipt = rating_code(await report(client, received))
    early = await rate(
        client,
        citizen_headers,
        {"dossier_code": "BD-2026-000401", "rating_code": receipt, "score": 2, "served_at": ago(days=2)},
    )
    assert early.status_code == 201, early.text
    assert early.json()["verified"] is False
    assert await db.fetchval("select dossier_id is not null from ratings where id = $1", early.json()["id"])
    done = ago(hours=3)
    result = await report(client, {**received, "status": "completed", "completed_at": done, "event_at": done})
    assert result["verified_ratings"] == 1
    row = await db.fetchrow("select verified, served_at from ratings where id = $1", early.json()["id"])
    assert row["verified"] and row["served_at"] == datetime.fromisoformat(done)
