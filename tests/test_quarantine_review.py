"""Reviewing held ratings through the API: release counts a rating exactly once, discard
never, a review is final (sequences and concurrent reviews), role and scope are checked,
reasons are validated and audited."""

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
from tests.test_ratings import ago, new_citizen, service_id

REASON = "Đã gọi điện xác minh với người dân, đánh giá là thật"
DISCARD = "Cùng đợt với chiến dịch đánh giá thấp ngày 29/11"


@pytest.fixture
async def client(settings: Settings) -> AsyncIterator[AsyncTestClient[Any]]:
    async with AsyncTestClient(app=create_app(msgspec.structs.replace(settings, campaign_scoring=True))) as c:
        yield c


async def held_ratings(client: AsyncTestClient[Any], db: asyncpg.Connection, sid: int, n: int) -> list[int]:
    """n held ratings of a service: one install sends n + 2 low ratings in one batch; from
    its third on, each is an install burst."""
    install = await new_citizen(client)
    items = [
        {"idempotency_key": uuid.uuid4().hex, "commune_service_id": sid, "score": 1, "served_at": ago(hours=1)}
        for _ in range(n + 2)
    ]
    response = await client.post("/v1/ratings/batch", json={"items": items}, headers=install)
    assert response.status_code == 200, response.text
    ids = [r["rating"]["id"] for r in response.json()["results"]]
    states = await db.fetch("select id, quarantine from ratings where id = any($1::bigint[]) order by id", ids)
    assert [s["quarantine"] for s in states] == [None, None] + ["held"] * n
    return [s["id"] for s in states][2:]


async def volume(client: AsyncTestClient[Any], headers: dict[str, str], sid: int) -> tuple[int, int, int]:
    """(service volume, commune volume, service quarantined) from the indicators."""
    service = await client.get("/v1/indicators", params={"window": "7d", "service": sid}, headers=headers)
    commune = await client.get("/v1/indicators", params={"window": "7d", "commune": "00004"}, headers=headers)
    assert service.status_code == commune.status_code == 200, service.text
    return service.json()["values"]["volume"], commune.json()["values"]["volume"], service.json()["quarantined"]


async def review(
    client: AsyncTestClient[Any], headers: dict[str, str], rating_id: int, action: str, reason: str = REASON
) -> Any:
    return await client.post(f"/v1/quarantine/ratings/{rating_id}/{action}", json={"reason": reason}, headers=headers)


async def rebuilt_equals_incremental(db: asyncpg.Connection) -> None:
    """The rollups the triggers kept equal the rollups rebuilt from the raw ratings."""
    query = "select * from rating_rollups_hourly order by commune_service_id, official_id, hour"
    daily = "select * from commune_rollups_daily order by commune_code, day"
    before = ([tuple(r) for r in await db.fetch(query)], [tuple(r) for r in await db.fetch(daily)])
    await db.execute("select rebuild_rollups()")
    after = ([tuple(r) for r in await db.fetch(query)], [tuple(r) for r in await db.fetch(daily)])
    assert before == after


async def test_release_counts_once_discard_never_and_a_review_is_final(
    client: AsyncTestClient[Any], headers_for: TokenFor, db: asyncpg.Connection
) -> None:
    admin = await headers_for("admin.hanoi")
    sid = await service_id(client)
    first, second, third = await held_ratings(client, db, sid, 3)
    assert await volume(client, admin, sid) == (2, 2, 3)

    released = await review(client, admin, first, "release")
    assert released.status_code == 200, released.text
    body = released.json()
    assert (body["quarantine"], body["review_reason"], body["reasons"]) == (
        "released",
        REASON,
        ["install_burst", "fresh_install"],
    )
    assert await volume(client, admin, sid) == (3, 3, 2)

    # Released again, or discarded after release: refused, nothing moves.
    for action in ("release", "discard"):
        again = await review(client, admin, first, action)
        assert again.status_code == 409 and again.json()["code"] == "rating_not_held", again.text
    assert await volume(client, admin, sid) == (3, 3, 2)

    discarded = await review(client, admin, second, "discard", DISCARD)
    assert discarded.status_code == 200 and discarded.json()["quarantine"] == "discarded"
    assert await volume(client, admin, sid) == (3, 3, 1)
    for action in ("release", "discard"):
        again = await review(client, admin, second, action)
        assert again.status_code == 409 and again.json()["code"] == "rating_not_held"
    assert await volume(client, admin, sid) == (3, 3, 1)
    await rebuilt_equals_incremental(db)
    assert await volume(client, admin, sid) == (3, 3, 1)

    # A rating that was never held is not reviewable either; an unknown one is 404.
    never = await db.fetchval("select id from ratings where quarantine is null order by id limit 1")
    assert (await review(client, admin, never, "discard")).json()["code"] == "rating_not_held"
    assert (await review(client, admin, 2**62, "release")).status_code == 404
    assert await volume(client, admin, sid) == (3, 3, 1)

    audit = await db.fetch(
        "select action, object_id, reason, actor_user_id from audit_log where object_kind = 'rating' order by id"
    )
    admin_id = await db.fetchval("select id from users where username = 'admin.hanoi'")
    assert [(a["action"], a["object_id"], a["reason"], a["actor_user_id"]) for a in audit] == [
        ("rating.release", str(first), REASON, admin_id),
        ("rating.discard", str(second), DISCARD, admin_id),
    ]
    listed = await client.get("/v1/quarantine/ratings", headers=admin)
    assert [item["id"] for item in listed.json()["items"]] == [third]


async def test_concurrent_reviews_of_one_rating_apply_once(
    client: AsyncTestClient[Any], headers_for: TokenFor, db: asyncpg.Connection
) -> None:
    admin, front = await headers_for("admin.hanoi"), await headers_for("front.badinh")
    sid = await service_id(client)
    held = await held_ratings(client, db, sid, 6)
    answers = await asyncio.gather(
        *(
            review(client, who, rating_id, action)
            for rating_id in held
            for who, action in ((admin, "release"), (front, "release"), (front, "discard"))
        )
    )
    released = 0
    for index, rating_id in enumerate(held):
        trio = answers[3 * index : 3 * index + 3]
        assert sorted(a.status_code for a in trio) == [200, 409, 409], [a.text for a in trio]
        winner = next(a for a in trio if a.status_code == 200).json()["quarantine"]
        assert await db.fetchval("select quarantine from ratings where id = $1", rating_id) == winner
        released += winner == "released"
    assert await db.fetchval("select count(*) from audit_log where object_kind = 'rating'") == 6
    assert await volume(client, admin, sid) == (2 + released, 2 + released, 0)
    await rebuilt_equals_incremental(db)


async def test_reviewers_role_and_scope(
    client: AsyncTestClient[Any], headers_for: TokenFor, db: asyncpg.Connection
) -> None:
    sid = await service_id(client)
    other_sid = await service_id(client, commune="00070")  # Hoàn Kiếm, also Hà Nội
    ba_dinh = await held_ratings(client, db, sid, 2)
    hoan_kiem = await held_ratings(client, db, other_sid, 1)

    async def listed(username: str, **params: Any) -> Any:
        return await client.get("/v1/quarantine/ratings", params=params, headers=await headers_for(username))

    # The Front of Ba Đình sees Ba Đình's; the province's admin and Front see both communes.
    assert [i["id"] for i in (await listed("front.badinh")).json()["items"]] == ba_dinh
    assert [i["id"] for i in (await listed("admin.hanoi")).json()["items"]] == ba_dinh + hoan_kiem
    assert [i["id"] for i in (await listed("front.hanoi")).json()["items"]] == ba_dinh + hoan_kiem
    # Another province sees none of them and cannot review them (404, as if absent).
    assert (await listed("admin.hcm")).json()["items"] == []
    hcm = await review(client, await headers_for("admin.hcm"), ba_dinh[0], "release")
    assert hcm.status_code == 404 and hcm.json()["code"] == "rating_not_found"
    front = await review(client, await headers_for("front.badinh"), hoan_kiem[0], "discard")
    assert front.status_code == 404
    # Commune chairs and officials do not review their own ratings.
    for username in ("chair.badinh", "official.badinh"):
        response = await listed(username)
        assert response.status_code == 403 and response.json()["code"] == "forbidden_role"
        assert (await review(client, await headers_for(username), ba_dinh[0], "release")).status_code == 403
    assert (await client.get("/v1/quarantine/ratings")).status_code == 401
    assert await db.fetchval("select count(*) from ratings where quarantine = 'held'") == 3

    # Filters and pages.
    assert [i["id"] for i in (await listed("admin.hanoi", commune="00070")).json()["items"]] == hoan_kiem
    assert [i["id"] for i in (await listed("admin.hanoi", service=sid)).json()["items"]] == ba_dinh
    official = (await listed("admin.hanoi")).json()["items"][0]["official"]
    by_official = [i["id"] for i in (await listed("admin.hanoi", official=official["id"])).json()["items"]]
    assert by_official == ba_dinh
    first = (await listed("admin.hanoi", limit=2)).json()
    assert [i["id"] for i in first["items"]] == ba_dinh and first["next_cursor"]
    rest = (await listed("admin.hanoi", limit=2, cursor=first["next_cursor"])).json()
    assert [i["id"] for i in rest["items"]] == hoan_kiem and rest.get("next_cursor") is None
    for bad in ({"commune": "4"}, {"service": 0}, {"cursor": "garbage"}, {"limit": 0}):
        response = await listed("admin.hanoi", **bad)
        assert response.status_code == 400, (bad, response.text)
    item = (await listed("admin.hanoi")).json()["items"][0]
    assert (
        item["reasons"] == ["install_burst", "fresh_install"]
        and "citizen_id" not in item
        and "address_digest" not in item
    )


@pytest.mark.parametrize(
    "reason",
    ["", "   ", "ok", "..........", "xem xem xem", "a" * 1001, "Lý do\u202e ẩn ý đảo chiều", None],
)
async def test_a_review_needs_a_reason_that_says_why(
    client: AsyncTestClient[Any], headers_for: TokenFor, db: asyncpg.Connection, reason: str | None
) -> None:
    admin = await headers_for("admin.hanoi")
    sid = await service_id(client)
    (held,) = await held_ratings(client, db, sid, 1)
    response = await client.post(
        f"/v1/quarantine/ratings/{held}/release", json={} if reason is None else {"reason": reason}, headers=admin
    )
    assert response.status_code == 422, response.text
    assert response.json()["code"] == "validation_failed"
    assert await db.fetchval("select quarantine from ratings where id = $1", held) == "held"
    assert await db.fetchval("select count(*) from audit_log where object_kind = 'rating'") == 0
