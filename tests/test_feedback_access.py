"""Who may do what with a report of wrongdoing, over every feedback endpoint, for every role:
the citizen who sent it, another citizen, the official concerned, another official, the
commune's Front staff, another commune's Front staff, the province Front (a supervisor) and
the province admin. The reporter's identity reaches nobody but the revealing supervisor,
and the official concerned learns nothing, not even that the item exists."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import asyncpg
import pytest
from litestar.testing import AsyncTestClient

from backend.security import issue_token
from tests.conftest import JWT_SECRET, TokenFor
from tests.test_feedback_citizen import CONTACT, PNG, feedback, new_citizen, submit
from tests.test_front_queue import front_user, service_of

ROLES = (
    "citizen",
    "other_citizen",
    "official_concerned",
    "other_official",
    "commune_front",
    "other_commune_front",
    "province_front",
    "province_admin",
)
OK = "ok"
IDENTITY = (CONTACT["name"], CONTACT["phone"])


@dataclass
class World:
    headers: dict[str, dict[str, str]]
    feedback_id: int
    attachment_id: int
    forward_id: int
    version: int


async def official_user(db: asyncpg.Connection, username: str, commune: str) -> None:
    """An official with an account (the demo links one official per commune desk)."""
    user_id = await db.fetchval(
        "insert into users (username, password_hash, display_name) values ($1, 'x', $1) returning id", username
    )
    await db.execute(
        "insert into user_roles (user_id, role, scope_kind, commune_code) "
        "values ($1, 'commune_official', 'commune', $2)",
        user_id,
        commune,
    )
    await db.execute(
        "insert into officials (commune_code, full_name, position, user_id) values ($1, $2, 'Công chức', $3)",
        commune,
        username,
        user_id,
    )


@pytest.fixture
async def world(client: AsyncTestClient[Any], db: asyncpg.Connection, headers_for: TokenFor) -> World:
    concerned = await db.fetchval(
        "select o.id from officials o join users u on u.id = o.user_id where u.username = 'official.badinh'"
    )
    citizen = await new_citizen(client)
    sent = await submit(
        client,
        citizen,
        feedback(
            category="wrongdoing_report",
            body="Cán bộ tư pháp đòi tiền mới giải quyết hồ sơ khai sinh.",
            commune_service_id=await service_of(db),
            official_id=concerned,
        ),
        [("anh.png", PNG, "image/png")],
    )
    assert sent.status_code == 201, sent.text
    item = sent.json()
    await official_user(db, "official.other", "00004")
    await front_user(db, "front.hoankiem", "front_staff", "commune", "00070")
    headers = {
        "citizen": citizen,
        "other_citizen": await new_citizen(client),
        "official_concerned": await headers_for("official.badinh"),
        "other_official": await headers_for("official.other"),
        "commune_front": await headers_for("front.badinh"),
        "other_commune_front": await headers_for("front.hoankiem"),
        "province_front": await headers_for("front.hanoi"),
        "province_admin": await headers_for("admin.hanoi"),
    }
    front = headers["commune_front"]
    version = item.get("version", 1)
    for action in ("triage", "review", "forward"):  # a report of wrongdoing is reviewed before it goes
        current = (await client.get(f"/v1/front/feedback/{item['id']}", headers=front)).json()["version"]
        response = await client.post(
            f"/v1/front/feedback/{item['id']}/{action}",
            json={"priority": "high"} if action == "triage" else None,
            headers={**front, "if-match": f'"{current}"'},
        )
        assert response.status_code == 200, response.text
        version = response.json()["version"]
    forward = response.json()["forwards"][-1]
    # The item names the official who holds the service: it goes to the People's Committee.
    assert forward["recipient"] == "commune_committee"
    return World(headers, item["id"], item["attachments"][0]["id"], forward["id"], version)


FRONT_HERE = {"commune_front", "province_front"}
ENDPOINTS: list[tuple[str, str, str, set[str]]] = [
    ("my item", "GET", "/v1/me/feedback/{id}", {"citizen"}),
    ("my list", "GET", "/v1/me/feedback", {"citizen", "other_citizen"}),
    ("queue", "GET", "/v1/front/queue", FRONT_HERE | {"other_commune_front"}),
    ("staff view", "GET", "/v1/front/feedback/{id}", FRONT_HERE),
    ("duplicates", "GET", "/v1/front/feedback/{id}/duplicates", FRONT_HERE),
    ("photo", "GET", "/v1/front/feedback/{id}/attachments/{attachment}", FRONT_HERE),
    ("reveal", "POST", "/v1/front/feedback/{id}/reveal", {"province_front"}),
    ("claim", "POST", "/v1/front/feedback/{id}/claim", FRONT_HERE),
    ("assigned list", "GET", "/v1/assigned-feedback", {"official_concerned", "other_official", "province_admin"}),
    ("assigned item", "GET", "/v1/assigned-feedback/{forward}", set()),
    ("answer", "POST", "/v1/assigned-feedback/{forward}/answer", set()),
    ("report", "GET", "/v1/front/reports/monthly?commune=00004&month=2026-11", FRONT_HERE),
    ("templates", "GET", "/v1/front/templates", FRONT_HERE | {"other_commune_front"}),
    ("indicators", "GET", "/v1/indicators?commune=00004", FRONT_HERE | {"province_admin"}),
]
BODIES = {
    "reveal": {"reason": "Xác minh theo yêu cầu của Ban Thường trực"},
    "answer": {"answer": "Đã xử lý"},
}


@pytest.mark.parametrize(("name", "method", "path", "allowed"), ENDPOINTS, ids=[e[0] for e in ENDPOINTS])
async def test_authorisation_matrix(
    client: AsyncTestClient[Any], world: World, name: str, method: str, path: str, allowed: set[str]
) -> None:
    url = path.format(id=world.feedback_id, attachment=world.attachment_id, forward=world.forward_id)
    outcomes = {}
    for role in ROLES:
        headers = dict(world.headers[role])
        if name == "claim":
            headers["if-match"] = f'"{await version_of(client, world)}"'
        response = await client.request(method, url, headers=headers, json=BODIES.get(name))
        outcomes[role] = OK if 200 <= response.status_code < 300 else response.status_code
        if name == "claim" and outcomes[role] == OK:
            # Let the next role try: hand the lease back.
            released = await client.post(
                f"/v1/front/feedback/{world.feedback_id}/release",
                headers={**world.headers[role], "if-match": f'"{await version_of(client, world)}"'},
            )
            assert released.status_code == 200, released.text
        if not (name == "reveal" and outcomes[role] == OK):
            # Nobody else ever receives the reporter's identity.
            assert not any(part in response.text for part in IDENTITY), (role, response.text)
        if role in ("official_concerned", "other_official", "province_admin") and name == "assigned list":
            # Not forwarded to them: nothing listed, no hint that the item or an identity exists.
            assert response.json()["items"] == []
        if role == "other_commune_front" and name == "queue":
            assert world.feedback_id not in [i["id"] for i in response.json()["items"]]
        if name == "reveal" and outcomes[role] == OK:
            assert response.json()["contact"]["name"] == CONTACT["name"]
    expected = {role: OK if role in allowed else "refused" for role in ROLES}
    seen = {role: o if o == OK else ("refused" if o in (401, 403, 404) else o) for role, o in outcomes.items()}
    assert seen == expected


async def version_of(client: AsyncTestClient[Any], world: World) -> int:
    current = await client.get(f"/v1/front/feedback/{world.feedback_id}", headers=world.headers["commune_front"])
    return int(current.json()["version"])


async def test_the_committee_reads_only_the_redacted_copy(
    client: AsyncTestClient[Any], world: World, headers_for: TokenFor, db: asyncpg.Connection
) -> None:
    chair = await headers_for("chair.badinh")
    listed = await client.get("/v1/assigned-feedback", headers=chair)
    assert [f["id"] for f in listed.json()["items"]] == [world.forward_id]
    item = await client.get(f"/v1/assigned-feedback/{world.forward_id}", headers=chair)
    assert item.status_code == 200, item.text
    # No identity, and nothing that says whether one exists.
    for key in ("contact", "has_contact", "anonymous", "citizen_id", "attachments", "reference"):
        assert key not in item.json(), key
    assert not any(part in item.text for part in IDENTITY)
    # The chair holds no Front role: the item itself and its photo stay out of reach.
    assert (await client.get(f"/v1/front/feedback/{world.feedback_id}", headers=chair)).status_code == 403
    photo = f"/v1/front/feedback/{world.feedback_id}/attachments/{world.attachment_id}"
    assert (await client.get(photo, headers=chair)).status_code == 403
    # The reveal is in the audit log, with its reason and without the identity.
    await client.post(
        f"/v1/front/feedback/{world.feedback_id}/reveal",
        json={"reason": "Xác minh theo yêu cầu"},
        headers=world.headers["province_front"],
    )
    audit = await db.fetchrow(
        "select actor_user_id, reason, data::text as data from audit_log where action = 'feedback.reveal'"
    )
    assert audit["reason"] == "Xác minh theo yêu cầu"
    assert not any(part in audit["data"] for part in IDENTITY)


async def test_tokens_of_no_one_are_refused(client: AsyncTestClient[Any], world: World) -> None:
    forged, _ = issue_token("not-the-secret-" + "x" * 40, "user:1", "staff", 600)
    for path in ("/v1/front/queue", f"/v1/me/feedback/{world.feedback_id}", "/v1/assigned-feedback"):
        assert (await client.get(path)).status_code == 401
        assert (await client.get(path, headers={"authorization": f"Bearer {forged}"})).status_code == 401
    assert JWT_SECRET  # the real secret signs the fixtures' tokens
