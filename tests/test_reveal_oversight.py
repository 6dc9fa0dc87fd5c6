"""Oversight of reveals through the API: the reason must say something, each reveal pushes
a notice to the supervisors one level up and is listed for them with filters, more than
REVEALS_PER_HOUR is refused and flagged, and grants of Front roles are listed too."""

from __future__ import annotations

import asyncio
from typing import Any

import asyncpg
import pytest
from litestar.testing import AsyncTestClient

from backend.reporter_protection import meaningful_reason
from backend.settings import Settings
from tests.conftest import TokenFor
from tests.live_server import client_from, live_server
from tests.test_feedback_citizen import feedback, new_citizen, submit
from tests.test_front_queue import front_user

REVEAL = {"reason": "Xác minh theo yêu cầu của Ban Thường trực"}


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("  Xác minh   theo yêu cầu  ", "Xác minh theo yêu cầu"),
        ("Cần liên hệ lại người gửi", "Cần liên hệ lại người gửi"),
        ("..........", None),
        ("aaaaaaaaaaaa", None),
        ("xem xem xem xem", None),
        ("1234567890", None),
        ("   vì sao   ", None),
        ("Xácminhthôi", None),
    ],
)
def test_meaningful_reason(raw: str, expected: str | None) -> None:
    assert meaningful_reason(raw) == expected


async def _report(client: AsyncTestClient[Any]) -> int:
    sent = await submit(client, await new_citizen(client), feedback(category="wrongdoing_report"))
    assert sent.status_code == 201, sent.text
    return int(sent.json()["id"])


async def _user(db: asyncpg.Connection, username: str) -> int:
    return int(await db.fetchval("select id from users where username = $1", username))


async def test_reveals_are_overseen_one_level_up(
    client: AsyncTestClient[Any], db: asyncpg.Connection, headers_for: TokenFor
) -> None:
    item = await _report(client)
    await front_user(db, "front.sup.badinh", "front_supervisor", "commune", "00004")
    commune_supervisor = await headers_for("front.sup.badinh")
    province = await headers_for("front.hanoi")
    for reason in ("..........", "aaaaaaaaaaaa", "   vì sao   xx  "):
        bad = await client.post(
            f"/v1/front/feedback/{item}/reveal", json={"reason": reason}, headers=commune_supervisor
        )
        assert bad.status_code == 422, reason
    revealed = await client.post(f"/v1/front/feedback/{item}/reveal", json=REVEAL, headers=commune_supervisor)
    assert revealed.status_code == 200, revealed.text
    pushed = await db.fetch("select user_id from notification_outbox where kind = 'reveal_notice'")
    assert [r["user_id"] for r in pushed] == [await _user(db, "front.hanoi")]

    listed = await client.get("/v1/front/oversight/reveals", headers=province)
    assert listed.status_code == 200, listed.text
    [record] = listed.json()["items"]
    assert record["feedback_id"] == item and record["reason"] == REVEAL["reason"]
    assert record["actor_user_id"] == await _user(db, "front.sup.badinh") and record["protected"] is True
    actor = await _user(db, "front.sup.badinh")
    for params, count in (
        ({"commune": "00004"}, 1),
        ({"commune": "00070"}, 0),
        ({"actor": actor}, 1),
        ({"actor": await _user(db, "front.hanoi")}, 0),
        ({"since": "2000-01-01T00:00:00Z", "until": "2000-01-02T00:00:00Z"}, 0),
    ):
        got = await client.get("/v1/front/oversight/reveals", params=params, headers=province)
        assert len(got.json()["items"]) == count, params
    # A commune supervisor does not oversee (their own reveals included); others may not read.
    own = await client.get("/v1/front/oversight/reveals", headers=commune_supervisor)
    assert own.status_code == 200 and own.json()["items"] == []
    for username in ("front.badinh", "official.badinh", "chair.badinh", "admin.hanoi", "sysadmin"):
        refused = await client.get("/v1/front/oversight/reveals", headers=await headers_for(username))
        assert refused.status_code == 403, username


async def test_too_many_reveals_in_an_hour_are_refused_and_flagged(
    client: AsyncTestClient[Any], db: asyncpg.Connection, headers_for: TokenFor
) -> None:
    item = await _report(client)
    await front_user(db, "front.sup.badinh", "front_supervisor", "commune", "00004")
    actor = await _user(db, "front.sup.badinh")
    headers = await headers_for("front.sup.badinh")
    insert = (
        "insert into audit_log (occurred_at, actor_kind, actor_user_id, action, object_kind, object_id, reason) "
        "select now() - $3::text::interval, 'staff', $1, 'feedback.reveal', 'feedback', $2::text, 'Xác minh nhiều lần' "
        "from generate_series(1, $4)"
    )
    # Reveals more than an hour old do not count.
    await db.execute(insert, actor, str(item), "2 hours", 20)
    first = await client.post(f"/v1/front/feedback/{item}/reveal", json=REVEAL, headers=headers)
    assert first.status_code == 200, first.text
    # With nine more, ten in the last hour (the default REVEALS_PER_HOUR): the next is refused.
    await db.execute(insert, actor, str(item), "10 minutes", 9)
    refused = await client.post(f"/v1/front/feedback/{item}/reveal", json=REVEAL, headers=headers)
    assert refused.status_code == 429 and refused.json()["code"] == "reveal_rate_exceeded"
    assert "contact" not in refused.json()
    flags = await client.get("/v1/front/oversight/reveal-flags", headers=await headers_for("front.hanoi"))
    [flag] = flags.json()["items"]
    assert flag["actor_user_id"] == actor and flag["feedback_id"] == item and flag["reveals_in_hour"] == 10
    pushed = await db.fetch("select user_id from notification_outbox where kind = 'reveal_flagged'")
    assert [r["user_id"] for r in pushed] == [await _user(db, "front.hanoi")]
    assert (
        await db.fetchval(
            "select count(*) from audit_log where action = 'feedback.reveal' and actor_user_id = $1", actor
        )
        == 30
    )


async def test_grants_of_front_roles_are_overseen(
    client: AsyncTestClient[Any], db: asyncpg.Connection, headers_for: TokenFor
) -> None:
    created = await client.post(
        "/v1/users",
        json={
            "username": "front.staff.new",
            "display_name": "Cán bộ mới",
            "password": "mat-khau-rat-dai",
            "roles": [{"role": "front_supervisor", "scope_kind": "commune", "scope_code": "00004"}],
        },
        headers=await headers_for("front.hanoi"),
    )
    assert created.status_code == 201, created.text
    grants = await client.get("/v1/front/oversight/grants", headers=await headers_for("front.hanoi"))
    [grant] = grants.json()["items"]
    assert grant["role"] == "front_supervisor" and grant["commune_code"] == "00004"
    assert grant["granted_by"] == await _user(db, "front.hanoi") and grant["first_of_province"] is False
    # Grant then reveal: the new commune supervisor reveals, and the province sees both.
    item = await _report(client)
    revealed = await client.post(
        f"/v1/front/feedback/{item}/reveal", json=REVEAL, headers=await headers_for("front.staff.new")
    )
    assert revealed.status_code == 200, revealed.text
    reveals = await client.get("/v1/front/oversight/reveals", headers=await headers_for("front.hanoi"))
    assert [r["actor_user_id"] for r in reveals.json()["items"]] == [await _user(db, "front.staff.new")]
    assert (await client.get("/v1/front/oversight/grants", headers=await headers_for("admin.hanoi"))).status_code == 403


async def test_concurrent_reveals_never_pass_the_hourly_limit(
    client: AsyncTestClient[Any],
    db: asyncpg.Connection,
    headers_for: TokenFor,
    settings: Settings,
    unused_tcp_port: int,
) -> None:
    # The count and the audit row were not serialised: reveals sent at once all counted the
    # same earlier reveals and all passed.
    item = await _report(client)
    await front_user(db, "front.sup.badinh", "front_supervisor", "commune", "00004")
    actor = await _user(db, "front.sup.badinh")
    headers = await headers_for("front.sup.badinh")
    await db.execute(
        "insert into audit_log (occurred_at, actor_kind, actor_user_id, action, object_kind, object_id, reason) "
        "select now() - interval '10 minutes', 'staff', $1, 'feedback.reveal', 'feedback', $2::text, 'Xác minh' "
        "from generate_series(1, 8)",
        actor,
        str(item),
    )
    async with live_server(settings, unused_tcp_port) as url, client_from(url, "127.0.0.2") as live:
        answers = await asyncio.gather(
            *(live.post(f"/v1/front/feedback/{item}/reveal", json=REVEAL, headers=headers) for _ in range(8))
        )
    assert sorted(a.status_code for a in answers) == [200, 200] + [429] * 6, [a.text for a in answers]
    revealed = await db.fetchval(
        "select count(*) from audit_log where action = 'feedback.reveal' and actor_user_id = $1", actor
    )
    assert revealed == 10
