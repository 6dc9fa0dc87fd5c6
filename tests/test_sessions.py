"""Staff sessions: a reused rotated refresh token ends its whole family (audited), logout
ends the session's access tokens at once, token answers are never cached."""

from __future__ import annotations

import asyncio
import re
import time
import uuid
from typing import Any

import asyncpg
from litestar.testing import AsyncTestClient

from backend.security import issue_token
from backend.seed.demo import DEMO_PASSWORD
from tests.conftest import JWT_SECRET, TokenFor


async def log_in(client: AsyncTestClient[Any], username: str = "admin.hanoi") -> dict[str, Any]:
    response = await client.post("/v1/auth/login", json={"username": username, "password": DEMO_PASSWORD})
    assert response.status_code == 200, response.text
    return dict(response.json())


def bearer(session: dict[str, Any]) -> dict[str, str]:
    return {"authorization": f"Bearer {session['access_token']}"}


async def refresh(client: AsyncTestClient[Any], token: str) -> Any:
    return await client.post("/v1/auth/refresh", json={"refresh_token": token})


async def test_reusing_a_rotated_refresh_token_ends_the_whole_family(
    client: AsyncTestClient[Any], db: asyncpg.Connection
) -> None:
    first = await log_in(client)
    elsewhere = await log_in(client)  # another device of the same user: a family of its own
    second = (await refresh(client, first["refresh_token"])).json()
    third = (await refresh(client, second["refresh_token"])).json()
    for session in (first, second, third):
        assert (await client.get("/v1/me", headers=bearer(session))).status_code == 200

    # The thief replays the first (rotated) token: refused, and the family is over for everyone.
    reused = await refresh(client, first["refresh_token"])
    assert reused.status_code == 401 and reused.json()["code"] == "invalid_refresh_token"
    assert (await refresh(client, third["refresh_token"])).status_code == 401
    for session in (first, second, third):
        answer = await client.get("/v1/me", headers=bearer(session))
        assert answer.status_code == 401 and answer.json()["code"] == "invalid_token"
    # The other device's session is untouched.
    assert (await client.get("/v1/me", headers=bearer(elsewhere))).status_code == 200
    assert (await refresh(client, elsewhere["refresh_token"])).status_code == 200

    # Audited (committed although the answer was 401), once however often the token is replayed.
    assert (await refresh(client, first["refresh_token"])).status_code == 401
    audits = await db.fetch(
        "select actor_kind, object_kind, object_id, data from audit_log where action = 'session.refresh_reused'"
    )
    user_id = await db.fetchval("select id from users where username = 'admin.hanoi'")
    assert len(audits) == 1
    assert audits[0]["actor_kind"] == "anonymous" and audits[0]["object_kind"] == "staff_session_family"
    assert audits[0]["data"] == {"user_id": user_id}
    reasons = await db.fetch(
        "select revoked_reason from staff_sessions where family_id = $1::uuid order by created_at",
        audits[0]["object_id"],
    )
    assert [r["revoked_reason"] for r in reasons] == ["rotated", "rotated", "reuse"]


async def test_logout_ends_the_sessions_access_tokens_at_once(
    client: AsyncTestClient[Any], db: asyncpg.Connection
) -> None:
    session = await log_in(client, "chair.badinh")
    rotated = (await refresh(client, session["refresh_token"])).json()
    other = await log_in(client, "chair.badinh")
    assert (await client.get("/v1/me", headers=bearer(rotated))).status_code == 200

    assert (await client.post("/v1/auth/logout", json={"refresh_token": rotated["refresh_token"]})).status_code == 204
    for token in (session, rotated):  # both access tokens of the session, well before they expire
        answer = await client.get("/v1/me", headers=bearer(token))
        assert answer.status_code == 401 and answer.json()["code"] == "invalid_token"
    assert (await refresh(client, rotated["refresh_token"])).status_code == 401
    assert (await client.get("/v1/me", headers=bearer(other))).status_code == 200
    audit = await db.fetchrow("select actor_kind, object_kind from audit_log where action = 'logout'")
    assert tuple(audit) == ("staff", "staff_session_family")
    # Logging out twice changes nothing and is not an error.
    assert (await client.post("/v1/auth/logout", json={"refresh_token": rotated["refresh_token"]})).status_code == 204


async def test_logging_out_with_an_already_rotated_token_ends_the_session(
    client: AsyncTestClient[Any], db: asyncpg.Connection
) -> None:
    # The app's refresh answer was lost (or a thief refreshed first): it still holds the
    # rotated token and logs out with it. That was a silent no-op: the family lived on.
    session = await log_in(client, "chair.badinh")
    rotated = (await refresh(client, session["refresh_token"])).json()
    assert (await client.post("/v1/auth/logout", json={"refresh_token": session["refresh_token"]})).status_code == 204
    for token in (session, rotated):
        answer = await client.get("/v1/me", headers=bearer(token))
        assert answer.status_code == 401 and answer.json()["code"] == "invalid_token"
    assert (await refresh(client, rotated["refresh_token"])).status_code == 401
    # Once more, with either token: nothing new ends, nothing new is audited.
    for token in (session, rotated):
        assert (await client.post("/v1/auth/logout", json={"refresh_token": token["refresh_token"]})).status_code == 204
    assert await db.fetchval("select count(*) from audit_log where action = 'logout'") == 1
    assert await db.fetchval("select count(*) from audit_log where action = 'session.refresh_reused'") == 0


async def register(client: AsyncTestClient[Any], session: dict[str, Any]) -> str:
    fid = f"fid{uuid.uuid4().hex}"
    response = await client.post("/v1/me/devices", json={"fid": fid, "platform": "android"}, headers=bearer(session))
    assert response.status_code == 201, response.text
    return fid


async def live(db: asyncpg.Connection, fid: str) -> bool:
    return bool(await db.fetchval("select count(*) from devices where fid = $1 and retired_at is null", fid))


async def test_ending_a_session_retires_the_devices_registered_in_it(
    client: AsyncTestClient[Any], db: asyncpg.Connection
) -> None:
    """A phone that logged out (or whose session ended on a reused refresh token) stops
    receiving the account's pushes; the account's other phones keep theirs, and the same
    phone registers again after the next login."""
    phone, other = await log_in(client, "chair.badinh"), await log_in(client, "chair.badinh")
    phone_fid, other_fid = await register(client, phone), await register(client, other)
    # Rotating the refresh token keeps the session, and the device with it.
    rotated = (await refresh(client, phone["refresh_token"])).json()
    again = await client.post("/v1/me/devices", json={"fid": phone_fid, "platform": "android"}, headers=bearer(rotated))
    assert again.status_code == 200, again.text  # the same device, refreshed
    assert await live(db, phone_fid)

    assert (await client.post("/v1/auth/logout", json={"refresh_token": rotated["refresh_token"]})).status_code == 204
    assert not await live(db, phone_fid) and await live(db, other_fid)
    reason = await db.fetchval("select retired_reason from devices where fid = $1", phone_fid)
    assert reason == "session_ended"
    listed = (await client.get("/v1/me/devices", headers=bearer(other))).json()["items"]
    assert [d["fid"] for d in listed] == [other_fid]

    # The next login on that phone registers it again, live.
    back = await log_in(client, "chair.badinh")
    assert (
        await register(client, back)
        and (
            await client.post("/v1/me/devices", json={"fid": phone_fid, "platform": "android"}, headers=bearer(back))
        ).status_code
        == 201
    )
    assert await live(db, phone_fid)

    # A reused refresh token ends the other session: its device goes with it.
    second = (await refresh(client, other["refresh_token"])).json()
    assert (await refresh(client, other["refresh_token"])).status_code == 401
    assert second and not await live(db, other_fid)
    assert await live(db, phone_fid)


async def test_staff_tokens_without_a_live_session_are_refused(
    client: AsyncTestClient[Any], db: asyncpg.Connection
) -> None:
    user_id = await db.fetchval("select id from users where username = 'chair.badinh'")
    for session in (None, "not-a-uuid"):
        token, _ = issue_token(JWT_SECRET, f"user:{user_id}", "staff", 600, session=session)
        answer = await client.get("/v1/me", headers={"authorization": f"Bearer {token}"})
        assert answer.status_code == 401 and answer.json()["code"] == "invalid_token"
    ended = uuid.uuid4()
    await db.execute(
        "insert into ended_session_families (family_id, user_id, reason) values ($1, $2, 'logout')", ended, user_id
    )
    token, _ = issue_token(JWT_SECRET, f"user:{user_id}", "staff", 600, session=str(ended))
    assert (await client.get("/v1/me", headers={"authorization": f"Bearer {token}"})).status_code == 401


async def test_token_answers_are_not_cached(client: AsyncTestClient[Any]) -> None:
    login = await client.post("/v1/auth/login", json={"username": "chair.badinh", "password": DEMO_PASSWORD})
    rotated = await refresh(client, login.json()["refresh_token"])
    device = await client.post(
        "/v1/auth/device-sessions", json={"install_id": f"no-store-{uuid.uuid4().hex}", "platform": "ios"}
    )
    failed = await client.post("/v1/auth/login", json={"username": "chair.badinh", "password": "wrong"})
    for answer in (login, rotated, device, failed):
        assert answer.headers["cache-control"] == "no-store", answer.request.url


async def test_secrets_shown_once_are_not_cached(client: AsyncTestClient[Any], headers_for: TokenFor) -> None:
    admin = await headers_for("admin.hanoi")
    created = await client.post(
        "/v1/api-keys", json={"name": "Một cửa Hà Nội", "scope_kind": "province", "scope_code": "01"}, headers=admin
    )
    assert created.status_code == 201, created.text
    assert created.headers["cache-control"] == "no-store"
    listed = await client.get("/v1/api-keys", headers=admin)
    assert listed.headers["cache-control"] == "no-store"
    # The docs assets keep their own long caching.
    page = await client.get("/schema/swagger")
    asset = re.findall(r"""["']([^"']+swagger-ui\.css)["']""", page.text)[0]
    assert "no-store" not in (await client.get(asset)).headers["cache-control"]


async def test_the_revocation_check_costs_staff_requests_little(
    client: AsyncTestClient[Any], db: asyncpg.Connection
) -> None:
    """The figure for the README: the family probe against an ended-families table holding
    thousands of rows, inside the staff query that runs anyway. Bounded generously (the
    machine is shared); the point is that it is a primary-key probe, not a scan."""
    user_id = await db.fetchval("select id from users where username = 'chair.badinh'")
    await db.execute(
        "insert into ended_session_families (family_id, user_id, reason) "
        "select gen_random_uuid(), $1, 'logout' from generate_series(1, 20000)",
        user_id,
    )
    await db.execute("analyze ended_session_families")
    plan = "\n".join(
        r[0]
        for r in await db.fetch("explain select 1 from ended_session_families e where e.family_id = $1", uuid.uuid4())
    )
    assert "Index" in plan and "Seq Scan" not in plan, plan
    session = await log_in(client, "chair.badinh")
    started = time.perf_counter()
    answers = await asyncio.gather(*(client.get("/v1/me", headers=bearer(session)) for _ in range(50)))
    elapsed = time.perf_counter() - started
    assert {a.status_code for a in answers} == {200}
    assert elapsed < 10, elapsed
