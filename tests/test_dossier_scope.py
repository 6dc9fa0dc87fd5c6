"""A dossier stays in its commune: an event for a stored dossier applies only when the key's
scope covers the dossier's current service as well as the one the event names; versions are
bounded so no event can freeze a dossier."""

from __future__ import annotations

from typing import Any

import asyncpg
from litestar.testing import AsyncTestClient

from schemas.dossiers import DOSSIER_VERSION_MAX
from tests.conftest import TokenFor
from tests.test_dossiers import API_KEY, event, send


async def other_commune_key(client: AsyncTestClient[Any], headers_for: TokenFor) -> dict[str, str]:
    created = await client.post(
        "/v1/api-keys",
        json={"name": "Một cửa xã khác", "scope_kind": "commune", "scope_code": "00070"},
        headers=await headers_for("admin.hanoi"),
    )
    assert created.status_code == 201, created.text
    return {"x-api-key": created.json()["key"]}


async def test_another_communes_key_cannot_move_or_cancel_a_dossier(
    client: AsyncTestClient[Any], db: asyncpg.Connection, headers_for: TokenFor
) -> None:
    assert (await send(client, event("HS-900", "received", "2026-03-02T02:00:00Z", version=1))).json()["created"] == 1
    stranger = await other_commune_key(client, headers_for)
    moved = {**event("HS-900", "cancelled", "2026-03-02T05:00:00Z", version=2), "commune_code": "00070"}
    body = (await send(client, moved, headers=stranger)).json()
    assert body["results"][0]["outcome"] == "rejected"
    assert body["results"][0]["problem"]["code"] == "out_of_scope"
    row = await db.fetchrow(
        "select d.status, d.event_version, s.commune_code from dossiers d"
        " join commune_services s on s.id = d.commune_service_id where d.code = 'HS-900'"
    )
    assert (row["status"], row["event_version"], row["commune_code"]) == ("received", 1, "00004")
    # The owner still moves it on.
    later = event("HS-900", "processing", "2026-03-02T06:00:00Z", version=2)
    assert (await send(client, later)).json()["results"][0]["outcome"] == "updated"


async def test_a_key_cannot_pull_a_dossier_out_of_its_commune_by_its_own_name(
    client: AsyncTestClient[Any], db: asyncpg.Connection, headers_for: TokenFor
) -> None:
    stranger = await other_commune_key(client, headers_for)
    theirs = {**event("HS-901", "received", "2026-03-02T02:00:00Z"), "commune_code": "00070"}
    assert (await send(client, theirs, headers=stranger)).json()["created"] == 1
    # Ba Đình's key names its own service for the other commune's dossier: still out of scope.
    grab = event("HS-901", "cancelled", "2026-03-02T09:00:00Z", version=5)
    body = (await send(client, grab, headers=API_KEY)).json()
    assert body["results"][0]["problem"]["code"] == "out_of_scope"
    assert await db.fetchval("select status from dossiers where code = 'HS-901'") == "received"


async def test_absurd_versions_are_refused_and_cannot_freeze_a_dossier(
    client: AsyncTestClient[Any], db: asyncpg.Connection
) -> None:
    frozen = event("HS-902", "received", "2026-03-02T02:00:00Z", version=2**63 - 1)
    body = (await send(client, frozen)).json()
    assert body["results"][0]["outcome"] == "rejected"
    assert body["results"][0]["problem"]["code"] == "validation_failed"
    assert await db.fetchval("select count(*) from dossiers where code = 'HS-902'") == 0
    top = event("HS-902", "received", "2026-03-02T02:00:00Z", version=DOSSIER_VERSION_MAX)
    assert (await send(client, top)).json()["results"][0]["outcome"] == "created"
