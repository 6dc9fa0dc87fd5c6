"""Deactivating and reactivating staff accounts: the last active system admin stays, admins
switch accounts back on within their scope, and both are audited."""

import asyncio
from typing import Any

import asyncpg
from litestar.testing import AsyncTestClient

from backend.seed.demo import DEMO_PASSWORD
from tests.conftest import TokenFor


async def _ids(client: AsyncTestClient[Any], headers: dict[str, str]) -> dict[str, int]:
    users = (await client.get("/v1/users?limit=200", headers=headers)).json()["items"]
    return {u["username"]: u["id"] for u in users}


async def _second_system_admin(client: AsyncTestClient[Any], headers: dict[str, str]) -> int:
    created = await client.post(
        "/v1/users",
        json={
            "username": "sysadmin2",
            "display_name": "Quản trị hệ thống 2",
            "password": "mat-khau-rat-dai-2",
            "roles": [{"role": "system_admin", "scope_kind": "national"}],
        },
        headers=headers,
    )
    assert created.status_code == 201, created.text
    return int(created.json()["id"])


async def _log_in(client: AsyncTestClient[Any], username: str, password: str = DEMO_PASSWORD) -> int:
    response = await client.post("/v1/auth/login", json={"username": username, "password": password})
    return response.status_code


async def test_the_only_system_admin_cannot_deactivate_themselves(
    client: AsyncTestClient[Any], db: asyncpg.Connection, headers_for: TokenFor
) -> None:
    sysadmin = await headers_for("sysadmin")
    own_id = (await _ids(client, sysadmin))["sysadmin"]
    refused = await client.delete(f"/v1/users/{own_id}", headers=sysadmin)
    assert refused.status_code == 409 and refused.json()["code"] == "last_system_admin"
    assert await db.fetchval("select is_active from users where id = $1", own_id) is True
    assert await db.fetchval("select count(*) from audit_log where action = 'user.deactivate'") == 0
    assert (await client.get("/v1/me", headers=sysadmin)).status_code == 200


async def test_admins_deactivate_and_reactivate_each_other_but_one_always_stays(
    client: AsyncTestClient[Any], db: asyncpg.Connection, headers_for: TokenFor
) -> None:
    sysadmin = await headers_for("sysadmin")
    first = (await _ids(client, sysadmin))["sysadmin"]
    second = await _second_system_admin(client, sysadmin)
    other = await headers_for("sysadmin2")

    assert (await client.delete(f"/v1/users/{first}", headers=other)).status_code == 200
    assert await _log_in(client, "sysadmin") == 401
    # Now sysadmin2 is the last one: neither they nor anybody else may switch them off.
    last = await client.delete(f"/v1/users/{second}", headers=other)
    assert last.status_code == 409 and last.json()["code"] == "last_system_admin"

    back = await client.post(f"/v1/users/{first}/reactivate", headers=other)
    assert back.status_code == 200 and back.json()["is_active"] is True
    assert await _log_in(client, "sysadmin") == 200
    # Reactivating an active account is a no-op, not a second audit entry.
    again = await client.post(f"/v1/users/{first}/reactivate", headers=other)
    assert again.status_code == 200 and again.json()["is_active"] is True
    audited = await db.fetch(
        "select action, actor_user_id, object_id from audit_log where object_kind = 'user' "
        "and action in ('user.deactivate', 'user.reactivate') order by id"
    )
    assert [(r["action"], r["actor_user_id"], r["object_id"]) for r in audited] == [
        ("user.deactivate", second, str(first)),
        ("user.reactivate", second, str(first)),
    ]
    # With two again, the second may leave.
    assert (await client.delete(f"/v1/users/{second}", headers=sysadmin)).status_code == 200


async def test_two_admins_switching_each_other_off_at_once_leave_one(
    client: AsyncTestClient[Any], db: asyncpg.Connection, headers_for: TokenFor
) -> None:
    sysadmin = await headers_for("sysadmin")
    first = (await _ids(client, sysadmin))["sysadmin"]
    second = await _second_system_admin(client, sysadmin)
    other = await headers_for("sysadmin2")
    results = await asyncio.gather(
        client.delete(f"/v1/users/{second}", headers=sysadmin),
        client.delete(f"/v1/users/{first}", headers=other),
    )
    statuses = sorted(r.status_code for r in results)
    # The loser is refused by the lock (409) or, if the winner's change was already seen
    # when it authenticated, as a deactivated caller (401).
    assert statuses in ([200, 401], [200, 409]), [r.text for r in results]
    assert await db.fetchval("select count(*) from users where is_active and username like 'sysadmin%'") == 1


async def test_reactivation_is_scoped(client: AsyncTestClient[Any], headers_for: TokenFor) -> None:
    sysadmin, hanoi = await headers_for("sysadmin"), await headers_for("admin.hanoi")
    ids = await _ids(client, sysadmin)
    for username in ("chair.hoankiem", "chair.saigon"):
        assert (await client.delete(f"/v1/users/{ids[username]}", headers=sysadmin)).status_code == 200
    # A Hà Nội admin reactivates a Hà Nội chair, not a Hồ Chí Minh City one.
    assert (await client.post(f"/v1/users/{ids['chair.hoankiem']}/reactivate", headers=hanoi)).status_code == 200
    outside = await client.post(f"/v1/users/{ids['chair.saigon']}/reactivate", headers=hanoi)
    assert outside.status_code == 404
    chair = await client.post(f"/v1/users/{ids['chair.saigon']}/reactivate", headers=await headers_for("chair.badinh"))
    assert chair.status_code == 403 and chair.json()["code"] == "forbidden_role"
    assert await _log_in(client, "chair.hoankiem") == 200
    assert await _log_in(client, "chair.saigon") == 401
    missing = await client.post("/v1/users/999999/reactivate", headers=sysadmin)
    assert missing.status_code == 404
