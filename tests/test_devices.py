"""Push devices through the HTTP API: registration by staff and citizens, re-registration,
moving a target to another owner, deletion and who may touch which device."""

from __future__ import annotations

import uuid
from typing import Any

import asyncpg
import pytest
from litestar.testing import AsyncTestClient

from backend.seed.demo import DEMO_API_KEY
from backend.services.devices import MAX_LIVE_DEVICES
from tests.conftest import TokenFor


def new_fid() -> str:
    return "f" + uuid.uuid4().hex[:21]  # FIDs are 22 characters


def new_token() -> str:
    return f"{new_fid()}:APA91b{uuid.uuid4().hex}{uuid.uuid4().hex}"


async def register(client: AsyncTestClient[Any], headers: dict[str, str], **body: Any) -> Any:
    return await client.post("/v1/me/devices", json={"platform": "android", **body}, headers=headers)


async def test_staff_registers_a_device_by_fid(client: AsyncTestClient[Any], headers_for: TokenFor) -> None:
    chair = await headers_for("chair.badinh")
    fid = new_fid()
    response = await register(client, chair, fid=fid, locale="en", platform="ios")
    assert response.status_code == 201, response.text
    device = response.json()
    assert device["fid"] == fid and "registration_token" not in device
    assert (device["platform"], device["locale"]) == ("ios", "en")
    assert (device["quiet_start"], device["quiet_end"]) == ("22:00", "06:00")

    listed = (await client.get("/v1/me/devices", headers=chair)).json()["items"]
    assert [d["id"] for d in listed] == [device["id"]]


async def test_citizen_registers_a_legacy_registration_token(
    client: AsyncTestClient[Any], citizen_headers: dict[str, str], db: asyncpg.Connection
) -> None:
    token = new_token()
    response = await register(client, citizen_headers, registration_token=token, quiet_start="21:30", quiet_end="07:15")
    assert response.status_code == 201, response.text
    device = response.json()
    assert device["registration_token"] == token and "fid" not in device
    assert (device["locale"], device["quiet_start"], device["quiet_end"]) == ("vi", "21:30", "07:15")
    row = await db.fetchrow("select user_id, citizen_id from devices where id = $1", device["id"])
    assert row["user_id"] is None and row["citizen_id"] is not None


async def test_registering_again_updates_the_same_device(client: AsyncTestClient[Any], headers_for: TokenFor) -> None:
    chair = await headers_for("chair.badinh")
    fid = new_fid()
    first = (await register(client, chair, fid=fid, quiet_start="23:00", quiet_end="05:00")).json()
    again = await register(client, chair, fid=fid, locale="en", platform="ios")
    assert again.status_code == 200, again.text
    updated = again.json()
    assert updated["id"] == first["id"]
    assert (updated["locale"], updated["platform"]) == ("en", "ios")
    # Quiet hours left out are kept, not reset to the defaults.
    assert (updated["quiet_start"], updated["quiet_end"]) == ("23:00", "05:00")
    assert updated["last_seen_at"] >= first["last_seen_at"]
    assert len((await client.get("/v1/me/devices", headers=chair)).json()["items"]) == 1


async def test_nobody_takes_over_a_chairs_push_target(
    client: AsyncTestClient[Any], headers_for: TokenFor, citizen_headers: dict[str, str], db: asyncpg.Connection
) -> None:
    chair, other = await headers_for("chair.badinh"), await headers_for("chair.hoankiem")
    fid = new_fid()
    old = (await register(client, chair, fid=fid)).json()

    # A citizen token that learned the chair's FID tries to take it (and silence the alerts).
    for attempt in (citizen_headers, other):
        refused = await register(client, attempt, fid=fid)
        assert refused.status_code == 409, refused.text
        assert refused.json()["code"] == "device_target_in_use"
        assert (await client.get("/v1/me/devices", headers=attempt)).json()["items"] == []
    assert [d["id"] for d in (await client.get("/v1/me/devices", headers=chair)).json()["items"]] == [old["id"]]
    row = await db.fetchrow("select user_id, citizen_id, retired_at from devices where id = $1", old["id"])
    assert row["retired_at"] is None and row["citizen_id"] is None
    live = await db.fetchval("select count(*) from devices where fid = $1 and retired_at is null", fid)
    assert live == 1

    # The chair logs out on this phone and the app removes the device: now the next account may have it.
    assert (await client.delete("/v1/me/devices", params={"fid": fid}, headers=chair)).status_code == 204
    taken = await register(client, citizen_headers, fid=fid)
    assert taken.status_code == 201, taken.text
    assert (await client.get("/v1/me/devices", headers=chair)).json()["items"] == []


async def test_a_device_is_deleted_only_by_its_owner(
    client: AsyncTestClient[Any], headers_for: TokenFor, db: asyncpg.Connection
) -> None:
    chair, other = await headers_for("chair.badinh"), await headers_for("chair.hoankiem")
    device = (await register(client, chair, fid=new_fid())).json()

    refused = await client.delete(f"/v1/me/devices/{device['id']}", headers=other)
    assert refused.status_code == 404
    assert refused.json()["code"] == "device_not_found"
    assert (await client.delete("/v1/me/devices/999999999", headers=chair)).status_code == 404

    deleted = await client.delete(f"/v1/me/devices/{device['id']}", headers=chair)
    assert deleted.status_code == 204
    assert (await client.get("/v1/me/devices", headers=chair)).json()["items"] == []
    row = await db.fetchrow("select retired_at, retired_reason from devices where id = $1", device["id"])
    assert row["retired_at"] is not None and row["retired_reason"] == "deleted"
    # Deleting again: it is gone.
    assert (await client.delete(f"/v1/me/devices/{device['id']}", headers=chair)).status_code == 404


async def test_citizens_see_and_delete_only_their_own(
    client: AsyncTestClient[Any], citizen_headers: dict[str, str], headers_for: TokenFor
) -> None:
    chair = await headers_for("chair.badinh")
    staff_device = (await register(client, chair, fid=new_fid())).json()
    mine = (await register(client, citizen_headers, fid=new_fid())).json()
    listed = (await client.get("/v1/me/devices", headers=citizen_headers)).json()["items"]
    assert [d["id"] for d in listed] == [mine["id"]]
    assert (await client.delete(f"/v1/me/devices/{staff_device['id']}", headers=citizen_headers)).status_code == 404
    assert (await client.delete(f"/v1/me/devices/{mine['id']}", headers=citizen_headers)).status_code == 204


@pytest.mark.parametrize(
    ("body", "code", "field"),
    [
        ({}, "device_target_required", None),
        ({"fid": "fAAAAAAAAAAAAAAAAAAAAA", "registration_token": "x" * 40}, "device_target_required", None),
        ({"fid": "short"}, "validation_failed", "fid"),
        ({"fid": "has spaces in it!"}, "validation_failed", "fid"),
        ({"fid": "fAAAAAAAAAAAAAAAAAAAAA", "platform": "symbian"}, "validation_failed", "platform"),
        ({"fid": "fAAAAAAAAAAAAAAAAAAAAA", "locale": "fr"}, "validation_failed", "locale"),
        ({"fid": "fAAAAAAAAAAAAAAAAAAAAA", "quiet_start": "24:00"}, "validation_failed", "quiet_start"),
        ({"fid": "fAAAAAAAAAAAAAAAAAAAAA", "quiet_end": "6:00"}, "validation_failed", "quiet_end"),
        ({"fid": "fAAAAAAAAAAAAAAAAAAAAA", "user_id": 1}, "validation_failed", None),
    ],
)
async def test_bad_registrations_are_problems(
    client: AsyncTestClient[Any], headers_for: TokenFor, body: dict[str, Any], code: str, field: str | None
) -> None:
    response = await register(client, await headers_for("chair.badinh"), **body)
    assert response.status_code == 422, response.text
    problem = response.json()
    assert response.headers["content-type"].startswith("application/problem+json")
    assert problem["code"] == code
    assert problem["messages"]["vi"] and problem["messages"]["en"]
    if field:
        assert any(field in e["field"] for e in problem["errors"])


async def test_callers_that_cannot_have_devices(client: AsyncTestClient[Any]) -> None:
    anonymous = await register(client, {}, fid=new_fid())
    assert anonymous.status_code == 401
    machine = await register(client, {"x-api-key": DEMO_API_KEY}, fid=new_fid())
    assert machine.status_code == 403
    assert machine.json()["code"] == "forbidden_role"


async def test_a_blocked_install_cannot_register(
    client: AsyncTestClient[Any], citizen_headers: dict[str, str], db: asyncpg.Connection
) -> None:
    await register(client, citizen_headers, fid=new_fid())
    await db.execute("update citizen_installs set blocked_at = now()")
    response = await register(client, citizen_headers, fid=new_fid())
    assert response.status_code == 403
    assert response.json()["code"] == "install_blocked"


async def test_old_devices_are_retired_beyond_the_limit(
    client: AsyncTestClient[Any], headers_for: TokenFor, db: asyncpg.Connection
) -> None:
    chair = await headers_for("chair.badinh")
    ids = [(await register(client, chair, fid=new_fid())).json()["id"] for _ in range(MAX_LIVE_DEVICES + 1)]
    listed = [d["id"] for d in (await client.get("/v1/me/devices", headers=chair)).json()["items"]]
    assert sorted(listed) == sorted(ids[1:])
    assert await db.fetchval("select retired_reason from devices where id = $1", ids[0]) == "superseded"


async def test_a_device_is_deleted_by_its_fid_as_the_app_knows_it(
    client: AsyncTestClient[Any], headers_for: TokenFor
) -> None:
    chair, other = await headers_for("chair.badinh"), await headers_for("chair.hoankiem")
    fid = new_fid()
    await register(client, chair, fid=fid)
    assert (await client.delete("/v1/me/devices", params={"fid": fid}, headers=other)).status_code == 404
    neither = await client.delete("/v1/me/devices", headers=chair)
    assert neither.status_code == 422 and neither.json()["code"] == "device_target_required"
    assert (await client.delete("/v1/me/devices", params={"fid": fid}, headers=chair)).status_code == 204
    assert (await client.get("/v1/me/devices", headers=chair)).json()["items"] == []
    assert (await client.delete("/v1/me/devices", params={"fid": fid}, headers=chair)).status_code == 404
    bad = await client.delete("/v1/me/devices", params={"fid": "not a fid!"}, headers=chair)
    assert bad.status_code == 400
