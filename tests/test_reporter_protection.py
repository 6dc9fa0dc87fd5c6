"""Reporter protection through the API: protection is sticky whatever the category (single
and bulk triage, then reveal), only a Front supervisor in scope recategorises a report of
wrongdoing, and Front roles are the Front's own to grant (then reveal)."""

from __future__ import annotations

from typing import Any

import asyncpg
import pytest
from litestar.testing import AsyncTestClient

from backend.reporter_protection import FrontGrantDecision, FrontGrantFacts, decide_front_grant
from tests.conftest import TokenFor
from tests.test_feedback_citizen import feedback, new_citizen, submit
from tests.test_front_queue import front_user, service_of

REVEAL = {"reason": "Xác minh theo yêu cầu của Ban Thường trực"}


@pytest.mark.parametrize(
    ("role", "scope", "supervises", "sysadmin", "has_supervisor", "expected"),
    [
        ("front_staff", "commune", True, False, False, FrontGrantDecision(True)),
        ("front_supervisor", "province", True, False, True, FrontGrantDecision(True)),
        ("front_staff", "commune", False, False, False, FrontGrantDecision(False)),
        ("front_supervisor", "province", False, True, False, FrontGrantDecision(True, first_of_province=True)),
        ("front_supervisor", "province", False, True, True, FrontGrantDecision(False)),
        ("front_supervisor", "commune", False, True, False, FrontGrantDecision(False)),
        ("front_staff", "province", False, True, False, FrontGrantDecision(False)),
        ("front_supervisor", "province", False, False, False, FrontGrantDecision(False)),
    ],
)
def test_front_grant_rule(
    role: str, scope: str, supervises: bool, sysadmin: bool, has_supervisor: bool, expected: FrontGrantDecision
) -> None:
    assert decide_front_grant(FrontGrantFacts(role, scope, supervises, sysadmin, has_supervisor)) == expected


def test_front_grant_rule_refuses_other_roles() -> None:
    with pytest.raises(ValueError, match="not a Front role"):
        decide_front_grant(FrontGrantFacts("province_admin", "province", True, True, False))


async def _report(client: AsyncTestClient[Any], db: asyncpg.Connection) -> int:
    citizen = await new_citizen(client)
    sent = await submit(
        client,
        citizen,
        feedback(
            category="wrongdoing_report",
            body="Cán bộ đòi tiền mới giải quyết hồ sơ.",
            commune_service_id=await service_of(db),
        ),
    )
    assert sent.status_code == 201, sent.text
    return int(sent.json()["id"])


async def _triage(client: AsyncTestClient[Any], headers: dict[str, str], item: int, body: dict[str, Any]) -> Any:
    version = (await client.get(f"/v1/front/feedback/{item}", headers=headers)).json()["version"]
    return await client.post(
        f"/v1/front/feedback/{item}/triage", json=body, headers={**headers, "if-match": f'"{version}"'}
    )


async def test_protection_is_sticky_and_only_a_supervisor_recategorises(
    client: AsyncTestClient[Any], db: asyncpg.Connection, headers_for: TokenFor
) -> None:
    item = await _report(client, db)
    staff = await headers_for("front.badinh")
    supervisor = await headers_for("front.hanoi")
    assert await db.fetchval("select protected from feedback where id = $1", item) is True

    refused = await _triage(client, staff, item, {"category": "complaint", "reason": "Thực ra là khiếu nại"})
    assert refused.status_code == 403
    assert refused.json()["code"] == "protected_recategorise_forbidden"
    # Other triage by staff still works.
    assert (await _triage(client, staff, item, {"priority": "high"})).status_code == 200

    no_reason = await _triage(client, supervisor, item, {"category": "complaint"})
    assert no_reason.status_code == 422
    blank = await _triage(client, supervisor, item, {"category": "complaint", "reason": "   "})
    assert blank.status_code == 422
    moved = await _triage(client, supervisor, item, {"category": "complaint", "reason": "Nội dung là khiếu nại"})
    assert moved.status_code == 200, moved.text
    assert moved.json()["category"] == "complaint"
    assert await db.fetchval("select protected from feedback where id = $1", item) is True

    # Recategorised, it is still protected: staff without reveal permission get nothing.
    for username in ("front.badinh",):
        response = await client.post(
            f"/v1/front/feedback/{item}/reveal", json=REVEAL, headers=await headers_for(username)
        )
        assert response.status_code == 403, username
        assert response.json()["code"] == "reveal_forbidden"
    for username in ("official.badinh", "chair.badinh", "admin.hanoi"):
        response = await client.post(
            f"/v1/front/feedback/{item}/reveal", json=REVEAL, headers=await headers_for(username)
        )
        assert response.status_code in (403, 404), username
        assert "contact" not in response.json()
    revealed = await client.post(f"/v1/front/feedback/{item}/reveal", json=REVEAL, headers=supervisor)
    assert revealed.status_code == 200, revealed.text
    audit = await db.fetchval(
        "select data from audit_log where action = 'feedback.reveal' and object_id = $1::text", str(item)
    )
    assert audit["protected"] is True and audit["category"] == "complaint"

    # Even a direct write cannot lift it.
    await db.execute("update feedback set protected = false where id = $1", item)
    assert await db.fetchval("select protected from feedback where id = $1", item) is True


async def test_bulk_triage_cannot_lift_protection(
    client: AsyncTestClient[Any], db: asyncpg.Connection, headers_for: TokenFor
) -> None:
    first, second = await _report(client, db), await _report(client, db)
    staff = await headers_for("front.badinh")
    response = await client.post(
        "/v1/front/bulk/triage",
        json={"items": [{"id": first}, {"id": second}], "category": "suggestion", "reason": "Gộp loại"},
        headers=staff,
    )
    assert response.status_code == 200, response.text
    results = response.json()["results"]
    assert [r["status"] for r in results] == [403, 403]
    assert {r["problem"]["code"] for r in results} == {"protected_recategorise_forbidden"}
    assert await db.fetchval(
        "select array_agg(distinct category) from feedback where id = any($1::bigint[])", [first, second]
    ) == ["wrongdoing_report"]
    for item in (first, second):
        reveal = await client.post(f"/v1/front/feedback/{item}/reveal", json=REVEAL, headers=staff)
        assert reveal.status_code == 403


NEW = {"display_name": "Nguyễn Văn Mới", "password": "mat-khau-rat-dai"}


async def _create(
    client: AsyncTestClient[Any], headers: dict[str, str], username: str, role: str, kind: str, code: str
) -> Any:
    return await client.post(
        "/v1/users",
        json={**NEW, "username": username, "roles": [{"role": role, "scope_kind": kind, "scope_code": code}]},
        headers=headers,
    )


async def test_separation_of_duties_for_front_roles(
    client: AsyncTestClient[Any], db: asyncpg.Connection, headers_for: TokenFor
) -> None:
    item = await _report(client, db)
    admin = await headers_for("admin.hanoi")
    for role, kind, code in (
        ("front_supervisor", "province", "01"),
        ("front_staff", "commune", "00004"),
        ("front_supervisor", "commune", "00004"),
    ):
        refused = await _create(client, admin, f"x.{role}.{code}", role, kind, code)
        assert refused.status_code == 403, (role, code)
        assert refused.json()["code"] == "front_grant_forbidden"
    # A province admin still manages the People's Committee side.
    assert (await _create(client, admin, "official.new", "commune_official", "commune", "00004")).status_code == 201

    sysadmin = await headers_for("sysadmin")
    # Hà Nội already has a province-wide supervisor: the system admin may not add another.
    again = await _create(client, sysadmin, "front.sup2", "front_supervisor", "province", "01")
    assert again.status_code == 403 and again.json()["code"] == "front_grant_forbidden"
    assert (await _create(client, sysadmin, "front.staff2", "front_staff", "commune", "00004")).status_code == 403

    for username in ("official.badinh", "chair.badinh", "front.badinh"):
        denied = await _create(client, await headers_for(username), "x.denied", "front_staff", "commune", "00004")
        assert denied.status_code == 403, username

    supervisor = await headers_for("front.hanoi")
    created = await _create(client, supervisor, "front.new", "front_staff", "commune", "00004")
    assert created.status_code == 201, created.text
    outside = await _create(client, supervisor, "front.saigon", "front_staff", "province", "79")
    assert outside.status_code == 403 and outside.json()["code"] == "front_grant_forbidden"
    not_front = await _create(client, supervisor, "chair.x", "commune_chair", "commune", "00004")
    assert not_front.status_code == 403 and not_front.json()["code"] == "out_of_scope"
    logged = await db.fetch("select role, province_code, first_of_province from front_role_grants order by id")
    assert [tuple(r) for r in logged] == [("front_staff", "01", False)]

    # Grant then reveal: the new staff account sees the item but cannot reveal it.
    new_staff = await headers_for("front.new")
    assert (await client.get(f"/v1/front/feedback/{item}", headers=new_staff)).status_code == 200
    assert (await client.post(f"/v1/front/feedback/{item}/reveal", json=REVEAL, headers=new_staff)).status_code == 403


async def test_system_admin_bootstraps_a_province_and_existing_supervisors_are_told(
    client: AsyncTestClient[Any], db: asyncpg.Connection, headers_for: TokenFor
) -> None:
    commune = await db.fetchval("select code from communes where province_code = '79' order by code limit 1")
    await front_user(db, "front.sup.commune79", "front_supervisor", "commune", commune)
    sysadmin = await headers_for("sysadmin")
    created = await _create(client, sysadmin, "front.hcm", "front_supervisor", "province", "79")
    assert created.status_code == 201, created.text
    grant = await db.fetchrow("select * from front_role_grants where province_code = '79'")
    assert grant["first_of_province"] is True and grant["role"] == "front_supervisor"
    told = await db.fetch(
        "select u.username from notification_outbox n join users u on u.id = n.user_id "
        "where n.kind = 'front_supervisor_granted'"
    )
    assert [r["username"] for r in told] == ["front.sup.commune79"]
    second = await _create(client, sysadmin, "front.hcm2", "front_supervisor", "province", "79")
    assert second.status_code == 403
    # The province's own supervisor now grants within it.
    hcm = await headers_for("front.hcm")
    assert (await _create(client, hcm, "front.hcm.staff", "front_staff", "commune", commune)).status_code == 201
