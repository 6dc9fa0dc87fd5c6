"""Role and scope on every query: a chair of commune A never reads commune B, a province
admin administers only their province."""

from typing import Any

import asyncpg
import pytest
from litestar.testing import AsyncTestClient

from tests.conftest import TokenFor

# (user, commune) -> expected status of GET /v1/communes/{commune}/officials
OFFICIALS_MATRIX = [
    ("chair.badinh", "00004", 200),
    ("chair.badinh", "00070", 403),  # another commune of the same province
    ("chair.badinh", "26740", 403),  # another province
    ("chair.badinh", "99999", 404),
    ("official.badinh", "00004", 200),
    ("official.badinh", "00577", 403),
    ("front.badinh", "00004", 200),
    ("front.badinh", "00070", 403),
    ("front.hanoi", "00070", 200),  # province Front staff cover every commune of Hà Nội
    ("front.hanoi", "26740", 403),
    ("admin.hanoi", "00577", 200),
    ("admin.hanoi", "26740", 403),
    ("admin.hcm", "26740", 200),
    ("admin.hcm", "00004", 403),
    ("sysadmin", "26740", 200),
    ("sysadmin", "00004", 200),
]


@pytest.mark.parametrize(("username", "commune", "status"), OFFICIALS_MATRIX)
async def test_officials_are_scoped(
    client: AsyncTestClient[Any], headers_for: TokenFor, username: str, commune: str, status: int
) -> None:
    response = await client.get(f"/v1/communes/{commune}/officials", headers=await headers_for(username))
    assert response.status_code == status, response.text
    if status == 200:
        assert all(o["commune_code"] == commune for o in response.json()["items"])
    else:
        assert response.json()["code"] == {403: "out_of_scope", 404: "commune_not_found"}[status]


async def test_officials_show_who_holds_which_service_now(client: AsyncTestClient[Any], headers_for: TokenFor) -> None:
    response = await client.get("/v1/communes/00004/officials", headers=await headers_for("chair.badinh"))
    officials = response.json()["items"]
    holders = [o for o in officials if any(s["procedure_code"] == "1.001193" for s in o["services"])]
    assert len(holders) == 1  # one task, one accountable official
    assert holders[0]["position"] == "Công chức Tư pháp - Hộ tịch"
    # The predecessor of the rotation is still listed, holding nothing now.
    assert any(o["position"] == "Công chức Tư pháp - Hộ tịch" and not o["services"] for o in officials)


async def test_a_revoked_role_stops_working_immediately(
    client: AsyncTestClient[Any], headers_for: TokenFor, db: asyncpg.Connection
) -> None:
    headers = await headers_for("chair.badinh")
    assert (await client.get("/v1/communes/00004/officials", headers=headers)).status_code == 200
    await db.execute("delete from user_roles where user_id = (select id from users where username = 'chair.badinh')")
    assert (await client.get("/v1/communes/00004/officials", headers=headers)).status_code == 403


async def test_admin_endpoints_refuse_other_roles(client: AsyncTestClient[Any], headers_for: TokenFor) -> None:
    for username in ("chair.badinh", "official.badinh", "front.hanoi"):
        headers = await headers_for(username)
        for path in ("/v1/users", "/v1/api-keys"):
            response = await client.get(path, headers=headers)
            assert response.status_code == 403, (username, path)
            assert response.json()["code"] == "forbidden_role"


async def test_province_admin_sees_only_their_province_users(
    client: AsyncTestClient[Any], headers_for: TokenFor
) -> None:
    hanoi = await client.get("/v1/users?limit=200", headers=await headers_for("admin.hanoi"))
    names = {u["username"] for u in hanoi.json()["items"]}
    assert {"chair.badinh", "chair.hoankiem", "front.hanoi", "admin.hanoi"} <= names
    assert not names & {"chair.saigon", "admin.hcm", "sysadmin"}
    everyone = await client.get("/v1/users?limit=200", headers=await headers_for("sysadmin"))
    assert {"chair.saigon", "sysadmin", "chair.badinh"} <= {u["username"] for u in everyone.json()["items"]}
    saigon_id = next(u["id"] for u in everyone.json()["items"] if u["username"] == "chair.saigon")
    hidden = await client.get(f"/v1/users/{saigon_id}", headers=await headers_for("admin.hanoi"))
    assert hidden.status_code == 404


async def test_user_list_paginates_and_searches(client: AsyncTestClient[Any], headers_for: TokenFor) -> None:
    headers = await headers_for("sysadmin")
    seen, cursor = [], None
    while True:
        page = (
            await client.get(
                "/v1/users", params={"limit": 3, **({"cursor": cursor} if cursor else {})}, headers=headers
            )
        ).json()
        seen += [u["username"] for u in page["items"]]
        cursor = page.get("next_cursor")
        if not cursor:
            break
    assert len(seen) == len(set(seen)) == 10
    found = await client.get("/v1/users", params={"q": "chu tich ba dinh"}, headers=headers)
    assert [u["username"] for u in found.json()["items"]] == ["chair.badinh"]
    bad_cursor = await client.get("/v1/users", params={"cursor": "%%%"}, headers=headers)
    assert bad_cursor.status_code == 400
    assert bad_cursor.json()["code"] == "invalid_cursor"


async def test_province_admin_creates_users_only_inside_their_province(
    client: AsyncTestClient[Any], headers_for: TokenFor
) -> None:
    headers = await headers_for("admin.hanoi")
    new_user = {"username": "official.hoankiem", "display_name": "Trần Thị Lan", "password": "mat-khau-rat-dai"}
    created = await client.post(
        "/v1/users",
        json={**new_user, "roles": [{"role": "commune_official", "scope_kind": "commune", "scope_code": "00070"}]},
        headers=headers,
    )
    assert created.status_code == 201, created.text
    assert created.json()["roles"][0]["scope_name"] == "Phường Hoàn Kiếm"
    login = await client.post("/v1/auth/login", json={"username": "official.hoankiem", "password": "mat-khau-rat-dai"})
    assert login.status_code == 200

    outside = await client.post(
        "/v1/users",
        json={
            **new_user,
            "username": "x.saigon",
            "roles": [{"role": "commune_chair", "scope_kind": "commune", "scope_code": "26740"}],
        },
        headers=headers,
    )
    assert outside.status_code == 403
    assert outside.json()["code"] == "out_of_scope"
    escalate = await client.post(
        "/v1/users",
        json={**new_user, "username": "x.root", "roles": [{"role": "system_admin", "scope_kind": "national"}]},
        headers=headers,
    )
    assert escalate.status_code == 403
    duplicate = await client.post(
        "/v1/users",
        json={**new_user, "roles": [{"role": "commune_official", "scope_kind": "commune", "scope_code": "00070"}]},
        headers=headers,
    )
    assert duplicate.status_code == 409
    assert duplicate.json()["code"] == "username_taken"


@pytest.mark.parametrize(
    ("grant", "code"),
    [
        ({"role": "commune_chair", "scope_kind": "province", "scope_code": "01"}, "invalid_scope"),
        ({"role": "commune_chair", "scope_kind": "commune", "scope_code": "01"}, "invalid_scope"),
        ({"role": "commune_chair", "scope_kind": "commune", "scope_code": "1"}, "validation_failed"),
        ({"role": "commune_chair", "scope_kind": "commune", "scope_code": "99999"}, "invalid_scope"),
        ({"role": "emperor", "scope_kind": "national"}, "validation_failed"),
    ],
)
async def test_malformed_grants_are_refused(
    client: AsyncTestClient[Any], headers_for: TokenFor, grant: dict[str, str], code: str
) -> None:
    response = await client.post(
        "/v1/users",
        json={"username": "someone", "display_name": "Ai đó", "password": "mat-khau-rat-dai", "roles": [grant]},
        headers=await headers_for("sysadmin"),
    )
    assert response.status_code == 422
    assert response.json()["code"] == code


async def test_deactivation_is_scoped_and_ends_sessions(client: AsyncTestClient[Any], headers_for: TokenFor) -> None:
    admin = await headers_for("admin.hanoi")
    users = (await client.get("/v1/users?limit=200", headers=await headers_for("sysadmin"))).json()["items"]
    ids = {u["username"]: u["id"] for u in users}
    session = (
        await client.post("/v1/auth/login", json={"username": "chair.hoankiem", "password": "pulse-demo-2026"})
    ).json()
    done = await client.delete(f"/v1/users/{ids['chair.hoankiem']}", headers=admin)
    assert done.status_code == 200
    assert done.json()["is_active"] is False
    refresh = await client.post("/v1/auth/refresh", json={"refresh_token": session["refresh_token"]})
    assert refresh.status_code == 401
    # front.hanoi holds a province-wide role in Hà Nội: admin.hanoi covers it; sysadmin it does not.
    assert (await client.delete(f"/v1/users/{ids['sysadmin']}", headers=admin)).status_code == 404
    assert (await client.delete(f"/v1/users/{ids['chair.saigon']}", headers=admin)).status_code == 404


async def test_api_keys_are_scoped_and_shown_once(client: AsyncTestClient[Any], headers_for: TokenFor) -> None:
    admin = await headers_for("admin.hanoi")
    created = await client.post(
        "/v1/api-keys",
        json={"name": "Một cửa phường Hoàn Kiếm", "scope_kind": "commune", "scope_code": "00070"},
        headers=admin,
    )
    assert created.status_code == 201, created.text
    key = created.json()["key"]
    whoami = await client.get("/v1/integrations/whoami", headers={"x-api-key": key})
    assert whoami.json()["scope_code"] == "00070"
    listed = (await client.get("/v1/api-keys", headers=admin)).json()["items"]
    assert {k["scope_code"] for k in listed} == {"00004", "00070"}
    assert all("key" not in k for k in listed)
    assert (await client.get("/v1/api-keys", headers=await headers_for("admin.hcm"))).json()["items"] == []

    outside = await client.post(
        "/v1/api-keys", json={"name": "x", "scope_kind": "province", "scope_code": "79"}, headers=admin
    )
    assert outside.status_code == 403
    national = await client.post("/v1/api-keys", json={"name": "x", "scope_kind": "national"}, headers=admin)
    assert national.status_code == 403

    key_id = created.json()["api_key"]["id"]
    assert (await client.delete(f"/v1/api-keys/{key_id}", headers=await headers_for("admin.hcm"))).status_code == 404
    revoked = await client.delete(f"/v1/api-keys/{key_id}", headers=admin)
    assert revoked.json()["revoked_at"]
    assert (await client.get("/v1/integrations/whoami", headers={"x-api-key": key})).status_code == 401
