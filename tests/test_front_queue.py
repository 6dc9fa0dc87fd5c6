"""The Front's queue through the HTTP API: scope, filters, search without diacritics, sorting,
pagination, counts per status and likely duplicates."""

from __future__ import annotations

import os
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
from litestar.testing import AsyncTestClient

from tests.conftest import TokenFor

BADINH, HOANKIEM, SAIGON = "00004", "00070", "26740"


async def new_citizen(db: asyncpg.Connection) -> uuid.UUID:
    """An app install, as POST /v1/auth/device-sessions would store it."""
    citizen: uuid.UUID = await db.fetchval(
        "insert into citizen_installs (install_id, secret_hash, platform) values ($1, $2, 'android') returning id",
        f"test-{uuid.uuid4().hex}",
        os.urandom(32),
    )
    return citizen


async def service_of(db: asyncpg.Connection, commune: str = BADINH, procedure: str = "1.001193") -> int:
    return int(
        await db.fetchval(
            "select id from commune_services where commune_code = $1 and procedure_code = $2", commune, procedure
        )
    )


async def new_feedback(
    db: asyncpg.Connection,
    body: str = "Phải chờ đợi quá lâu khi làm thủ tục",
    *,
    commune: str = BADINH,
    category: str = "complaint",
    service: int | None = None,
    official: int | None = None,
    citizen: uuid.UUID | None = None,
    status: str = "received",
    priority: str = "normal",
    created_at: datetime | None = None,
    contact: bool = False,
    due: datetime | None = None,
) -> int:
    """A feedback row as a citizen's submission stores it (contact sealed, never plaintext)."""
    at = created_at or datetime.now(UTC)
    return int(
        await db.fetchval(
            """
            insert into feedback (reference, citizen_id, category, commune_code, commune_service_id, official_id,
                                  status, priority, body, is_anonymous, contact_ciphertext, contact_key_id,
                                  response_due_at, created_at, updated_at)
            values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $14)
            returning id
            """,
            f"GY-TEST-{uuid.uuid4().hex[:10]}",
            citizen,
            category,
            commune,
            service,
            official,
            status,
            priority,
            body,
            not contact,
            os.urandom(60) if contact else None,
            "k1" if contact else None,
            due,
            at,
        )
    )


async def front_user(db: asyncpg.Connection, username: str, role: str, scope_kind: str, code: str) -> None:
    """Another staff account (the demo has Front staff for Ba Đình and Hà Nội only)."""
    user_id = await db.fetchval(
        "insert into users (username, password_hash, display_name) values ($1, 'x', $1) returning id", username
    )
    await db.execute(
        """
        insert into user_roles (user_id, role, scope_kind, province_code, commune_code)
        values ($1, $2, $3, case when $3 = 'province' then $4 end, case when $3 = 'commune' then $4 end)
        """,
        user_id,
        role,
        scope_kind,
        code,
    )


async def queue(client: AsyncTestClient[Any], headers: dict[str, str], **params: Any) -> dict[str, Any]:
    response = await client.get("/v1/front/queue", params=params, headers=headers)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def ids(page: dict[str, Any]) -> list[int]:
    return [item["id"] for item in page["items"]]


async def test_each_staff_sees_the_communes_they_cover(
    client: AsyncTestClient[Any], db: asyncpg.Connection, headers_for: TokenFor, citizen_headers: dict[str, str]
) -> None:
    badinh = await new_feedback(db, commune=BADINH, contact=True)
    hoankiem = await new_feedback(db, commune=HOANKIEM)
    saigon = await new_feedback(db, commune=SAIGON)
    await front_user(db, "front.hoankiem", "front_staff", "commune", HOANKIEM)
    await front_user(db, "front.hcm", "front_staff", "province", "79")

    assert ids(await queue(client, await headers_for("front.badinh"))) == [badinh]
    assert sorted(ids(await queue(client, await headers_for("front.hanoi")))) == [badinh, hoankiem]
    assert ids(await queue(client, await headers_for("front.hoankiem"))) == [hoankiem]
    assert ids(await queue(client, await headers_for("front.hcm"))) == [saigon]

    # Another commune's item does not exist for them, in any read.
    other = await headers_for("front.hoankiem")
    for path in (f"/v1/front/feedback/{badinh}", f"/v1/front/feedback/{badinh}/duplicates"):
        response = await client.get(path, headers=other)
        assert response.status_code == 404, response.text
        assert response.json()["code"] == "feedback_not_found"
    response = await client.get(f"/v1/front/feedback/{badinh}", headers=await headers_for("front.badinh"))
    item = response.json()
    assert item["has_contact"] is True and item["body"]
    assert not {"contact", "contact_ciphertext", "contact_key_id", "citizen_id"} & set(item)

    # Neither officials, chairs, admins nor citizens read the queue.
    for username in ("official.badinh", "chair.badinh", "admin.hanoi"):
        response = await client.get("/v1/front/queue", headers=await headers_for(username))
        assert response.status_code == 403, username
    assert (await client.get("/v1/front/queue", headers=citizen_headers)).status_code == 403
    assert (await client.get("/v1/front/queue")).status_code == 401


async def test_filters_and_counts_per_status(
    client: AsyncTestClient[Any], db: asyncpg.Connection, headers_for: TokenFor
) -> None:
    headers = await headers_for("front.hanoi")
    me = await db.fetchval("select id from users where username = 'front.hanoi'")
    service = await service_of(db)
    official = await db.fetchval("select id from officials where commune_code = $1 order by id limit 1", BADINH)
    past = datetime.now(UTC) - timedelta(days=2)
    received = await new_feedback(db, category="complaint", service=service)
    question = await new_feedback(db, category="question", commune=HOANKIEM)
    triaged = await new_feedback(db, category="complaint", status="triaged", official=official)
    late = await new_feedback(db, category="complaint", status="forwarded", due=past)
    on_time = await new_feedback(db, category="suggestion", status="forwarded", due=past + timedelta(days=9))
    closed = await new_feedback(db, category="complaint", status="closed")
    await db.execute("update feedback set assigned_to = $1 where id = any($2::bigint[])", me, [triaged, closed])

    page = await queue(client, headers)
    assert sorted(ids(page)) == sorted([received, question, triaged, late, on_time])
    assert page["counts"] == {
        "received": 2,
        "triaged": 1,
        "forwarded": 2,
        "answered": 0,
        "closed": 1,
        "rejected": 0,
        "merged": 0,
    }
    assert len(ids(await queue(client, headers, status="all"))) == 6
    assert ids(await queue(client, headers, status="closed")) == [closed]

    # Counts keep every filter but the status: the tabs of the filtered view.
    complaints = await queue(client, headers, category="complaint", status="received")
    assert ids(complaints) == [received]
    assert complaints["counts"]["received"] == 1 and complaints["counts"]["forwarded"] == 1
    assert complaints["counts"]["closed"] == 1

    assert ids(await queue(client, headers, commune=HOANKIEM)) == [question]
    assert ids(await queue(client, headers, service=service)) == [received]
    assert ids(await queue(client, headers, official=official)) == [triaged]
    overdue = await queue(client, headers, overdue="true")
    assert ids(overdue) == [late] and overdue["items"][0]["overdue"] is True
    assert late not in ids(await queue(client, headers, overdue="false"))
    assert ids(await queue(client, headers, mine="true")) == [triaged]
    assert ids(await queue(client, headers, mine="true", status="all")) == sorted([triaged, closed])

    response = await client.get("/v1/front/queue", params={"status": "lost"}, headers=headers)
    assert response.status_code == 400
    response = await client.get("/v1/front/queue", params={"cursor": "not-a-cursor"}, headers=headers)
    assert response.status_code == 400 and response.json()["code"] == "invalid_cursor"


async def test_search_ignores_diacritics_and_case(
    client: AsyncTestClient[Any], db: asyncpg.Connection, headers_for: TokenFor
) -> None:
    headers = await headers_for("front.badinh")
    flood = await new_feedback(db, "Đường Phan Đình Phùng bị ngập nước sau mưa lớn")
    marriage = await new_feedback(db, "Thủ tục đăng ký kết hôn phải đi lại nhiều lần")
    assert ids(await queue(client, headers, q="duong ngap")) == [flood]
    assert ids(await queue(client, headers, q="ĐƯỜNG   Ngập NƯỚC")) == [flood]
    assert ids(await queue(client, headers, q="ket hon")) == [marriage]
    assert ids(await queue(client, headers, q="kết hôn ngập")) == []
    assert ids(await queue(client, headers, q="100%_")) == []
    reference = await db.fetchval("select reference from feedback where id = $1", marriage)
    assert ids(await queue(client, headers, q=reference.lower())) == [marriage]


async def test_sorting_and_cursor_pagination(
    client: AsyncTestClient[Any], db: asyncpg.Connection, headers_for: TokenFor
) -> None:
    headers = await headers_for("front.badinh")
    now = datetime.now(UTC)
    old_low = await new_feedback(db, priority="low", created_at=now - timedelta(days=5))
    old_normal = await new_feedback(db, priority="normal", created_at=now - timedelta(days=4))
    urgent = await new_feedback(db, priority="urgent", created_at=now - timedelta(days=1))
    high = await new_feedback(db, priority="high", created_at=now - timedelta(days=3))
    normal = await new_feedback(db, priority="normal", created_at=now - timedelta(days=2))
    due_soon = await new_feedback(
        db, status="forwarded", created_at=now - timedelta(days=6), due=now + timedelta(days=1)
    )
    due_later = await new_feedback(
        db, status="forwarded", created_at=now - timedelta(days=7), due=now + timedelta(days=3)
    )

    async def walk(sort: str, limit: int = 2) -> list[int]:
        seen: list[int] = []
        cursor = None
        while True:
            params: dict[str, Any] = {"sort": sort, "limit": limit}
            if cursor:
                params["cursor"] = cursor
            page = await queue(client, headers, **params)
            assert len(page["items"]) <= limit
            seen += ids(page)
            cursor = page.get("next_cursor")
            if not cursor:
                return seen

    by_priority = [urgent, high, due_later, due_soon, old_normal, normal, old_low]
    assert await walk("priority") == by_priority
    assert await walk("priority", limit=50) == by_priority
    assert await walk("age", limit=3) == [due_later, due_soon, old_low, old_normal, high, normal, urgent]
    assert await walk("newest") == [urgent, normal, high, old_normal, old_low, due_soon, due_later]
    assert await walk("due") == [due_soon, due_later, old_low, old_normal, high, normal, urgent]


async def test_likely_duplicates(client: AsyncTestClient[Any], db: asyncpg.Connection, headers_for: TokenFor) -> None:
    headers = await headers_for("front.badinh")
    service = await service_of(db)
    other_service = await service_of(db, procedure="1.001022")
    now = datetime.now(UTC)
    original = await new_feedback(
        db, "Cán bộ tư pháp yêu cầu nộp thêm giấy tờ không cần thiết khi đăng ký khai sinh", service=service
    )
    near = await new_feedback(
        db, "Cán bộ tư pháp yêu cầu nộp thêm giấy tờ không cần thiết khi làm khai sinh cho con", service=service
    )
    reworded = await new_feedback(db, "can bo tu phap yeu cau nop them giay to khong can thiet", service=service)
    unrelated = await new_feedback(db, "Đường trước trụ sở bị ngập nước sau mưa", service=service)
    other = await new_feedback(
        db, "Cán bộ tư pháp yêu cầu nộp thêm giấy tờ không cần thiết khi đăng ký khai sinh", service=other_service
    )
    stale = await new_feedback(
        db,
        "Cán bộ tư pháp yêu cầu nộp thêm giấy tờ không cần thiết khi đăng ký khai sinh",
        service=service,
        created_at=now - timedelta(days=60),
    )
    elsewhere = await new_feedback(
        db,
        "Cán bộ tư pháp yêu cầu nộp thêm giấy tờ không cần thiết khi đăng ký khai sinh",
        service=service,
        commune=HOANKIEM,
    )

    response = await client.get(f"/v1/front/feedback/{original}/duplicates", headers=headers)
    assert response.status_code == 200, response.text
    found = response.json()["items"]
    assert {d["item"]["id"] for d in found} == {near, reworded}
    assert 1 >= found[0]["similarity"] >= found[1]["similarity"] >= 0.3
    assert not {unrelated, other, stale, elsewhere} & {d["item"]["id"] for d in found}
