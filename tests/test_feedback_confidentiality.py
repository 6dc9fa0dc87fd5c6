"""The reporter's identity through the HTTP API: sealed at rest, revealed only to Front
supervisors (any Front staff for categories other than wrongdoing) with an audited
reason, photos only to the Front, and keys that rotate."""

from __future__ import annotations

import base64
import json
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import msgspec
import pytest
from litestar.testing import AsyncTestClient

from backend.app import create_app
from backend.services.feedback_citizen import contact_summary
from backend.settings import Settings
from tests.conftest import FEEDBACK_KEYS, TokenFor
from tests.test_feedback_citizen import JPEG, PNG, feedback, new_citizen, submit

IDENTITY = {
    "name": "Lê Thị Hoa",
    "phone": "0987654321",
    "address": "Số 7 ngõ 15 Liễu Giai",
    "id_number": "001198012345",
    "email": "hoa.le@example.vn",
}
# What a careless fold, log or copy could leave behind.
TRACES = [*IDENTITY.values(), "Hoa", "Le Thi", "0987", "012345", "Liễu Giai", "Lieu Giai", "hoa.le"]
WRONGDOING = "Có người tự xưng cán bộ phường đòi tiền để giải quyết hồ sơ nhanh."
REASON = {"reason": "Cần liên hệ người phản ánh để xác minh theo đề nghị của cơ quan điều tra."}


async def add_staff(db: asyncpg.Connection, username: str, role: str, kind: str, code: str) -> None:
    user_id = await db.fetchval(
        "insert into users (username, password_hash, display_name) values ($1, 'x', $1) returning id", username
    )
    column = "commune_code" if kind == "commune" else "province_code"
    await db.execute(
        f"insert into user_roles (user_id, role, scope_kind, {column}) values ($1, $2, $3, $4)",
        user_id,
        role,
        kind,
        code,
    )


@pytest.fixture
async def report(client: AsyncTestClient[Any], citizen_headers: dict[str, str]) -> dict[str, Any]:
    """A report of wrongdoing in Ba Đình with the reporter's full identity and a photo."""
    body = feedback(category="wrongdoing_report", body=WRONGDOING, contact=IDENTITY)
    response = await submit(client, citizen_headers, body, [("p.jpg", PNG, "image/jpeg")])
    assert response.status_code == 201, response.text
    item: dict[str, Any] = response.json()
    return item


async def reveal(client: AsyncTestClient[Any], feedback_id: int, headers: dict[str, str]) -> Any:
    return await client.post(f"/v1/front/feedback/{feedback_id}/reveal", json=REASON, headers=headers)


async def test_the_database_holds_no_plaintext_identity(
    client: AsyncTestClient[Any], db: asyncpg.Connection, report: dict[str, Any]
) -> None:
    row = await db.fetchrow("select * from feedback where id = $1", report["id"])
    raw = await db.fetchval("select row_to_json(f)::text from feedback f where id = $1", report["id"])
    sealed = bytes(row["contact_ciphertext"])
    assert row["contact_key_id"] == "test1"
    assert (row["is_anonymous"], row["body"]) == (False, WRONGDOING)
    assert len(sealed) > 12 + 16
    everything = " ".join(
        [
            raw,
            sealed.decode("latin-1"),
            await db.fetchval("select coalesce(string_agg(row_to_json(e)::text, ' '), '') from feedback_events e"),
            await db.fetchval("select coalesce(string_agg(row_to_json(a)::text, ' '), '') from audit_log a"),
            await db.fetchval("select coalesce(string_agg(row_to_json(a)::text, ' '), '') from feedback_attachments a"),
        ]
    )
    for trace in TRACES:
        assert trace.lower() not in everything.lower(), trace
    # Nor does anything the citizen's own app gets back carry it.
    assert all(trace not in json.dumps(report, ensure_ascii=False) for trace in TRACES)


async def test_a_supervisor_reveals_the_reporter_with_a_reason_and_it_is_audited(
    client: AsyncTestClient[Any], db: asyncpg.Connection, headers_for: TokenFor, report: dict[str, Any]
) -> None:
    supervisor = await headers_for("front.hanoi")  # front_supervisor of province 01
    response = await reveal(client, report["id"], supervisor)
    assert response.status_code == 200, response.text
    revealed = response.json()
    assert revealed["contact"] == IDENTITY
    assert (revealed["reference"], revealed["category"], revealed["anonymous"]) == (
        report["reference"],
        "wrongdoing_report",
        False,
    )
    assert "no-store" in response.headers["cache-control"]

    audit = await db.fetch("select * from audit_log where action = 'feedback.reveal'")
    assert len(audit) == 1
    entry = audit[0]
    user_id = await db.fetchval("select id from users where username = 'front.hanoi'")
    assert (entry["actor_kind"], entry["actor_user_id"]) == ("staff", user_id)
    assert (entry["object_kind"], entry["object_id"]) == ("feedback", str(report["id"]))
    assert entry["reason"] == REASON["reason"]
    assert entry["data"] == {"category": "wrongdoing_report", "protected": True, "had_contact": True}
    for trace in TRACES:
        assert trace not in json.dumps(dict(entry), default=str, ensure_ascii=False), trace

    url = f"/v1/front/feedback/{report['id']}/reveal"
    for bad in ({}, {"reason": "vì sao"}, {"reason": " " * 20 + "\x00"}):
        refused = await client.post(url, json=bad, headers=supervisor)
        assert refused.status_code == 422, bad
    assert await db.fetchval("select count(*) from audit_log where action = 'feedback.reveal'") == 1


@pytest.mark.parametrize(
    ("who", "status", "code"),
    [
        ("front.badinh", 403, "reveal_forbidden"),  # Front staff of the commune, without the permission
        ("front.hoankiem", 404, "feedback_not_found"),  # another commune's Front staff
        ("front.saigon.sup", 404, "feedback_not_found"),  # a supervisor of another province
        ("official.badinh", 403, "forbidden_role"),  # the official concerned
        ("chair.badinh", 403, "forbidden_role"),
        ("admin.hanoi", 403, "forbidden_role"),
        ("sysadmin", 403, "forbidden_role"),
        ("citizen", 403, "forbidden_role"),  # even the reporter's own app: it keeps its copy
        ("other citizen", 403, "forbidden_role"),
    ],
)
async def test_reveal_is_refused_to_everyone_else(
    client: AsyncTestClient[Any],
    db: asyncpg.Connection,
    headers_for: TokenFor,
    citizen_headers: dict[str, str],
    report: dict[str, Any],
    who: str,
    status: int,
    code: str,
) -> None:
    await add_staff(db, "front.hoankiem", "front_staff", "commune", "00070")
    await add_staff(db, "front.saigon.sup", "front_supervisor", "province", "79")
    if who == "citizen":
        headers = citizen_headers
    elif who == "other citizen":
        headers = await new_citizen(client)
    else:
        headers = await headers_for(who)
    response = await reveal(client, report["id"], headers)
    assert (response.status_code, response.json()["code"]) == (status, code)
    assert all(trace not in response.text for trace in TRACES)
    assert await db.fetchval("select count(*) from audit_log where action = 'feedback.reveal'") == 0
    unknown = await reveal(client, 10**9, headers)
    assert unknown.status_code == (404 if status == 403 and code == "reveal_forbidden" else status)


async def test_front_staff_reach_the_author_of_other_feedback_through_an_audited_reveal(
    client: AsyncTestClient[Any], citizen_headers: dict[str, str], db: asyncpg.Connection, headers_for: TokenFor
) -> None:
    complaint = (await submit(client, citizen_headers, feedback(contact={"phone": "0911222333"}))).json()
    response = await reveal(client, complaint["id"], await headers_for("front.badinh"))
    assert response.status_code == 200, response.text
    assert response.json()["contact"] == {"phone": "0911222333"}
    assert await db.fetchval("select count(*) from audit_log where action = 'feedback.reveal'") == 1

    await add_staff(db, "front.hoankiem", "front_staff", "commune", "00070")
    assert (await reveal(client, complaint["id"], await headers_for("front.hoankiem"))).status_code == 404
    assert (await reveal(client, complaint["id"], await headers_for("official.badinh"))).status_code == 403


async def test_an_anonymous_report_has_nothing_to_reveal(
    client: AsyncTestClient[Any], citizen_headers: dict[str, str], db: asyncpg.Connection, headers_for: TokenFor
) -> None:
    body = feedback(category="wrongdoing_report", body=WRONGDOING, anonymous=True, contact=None)
    item = (await submit(client, citizen_headers, body)).json()
    row = await db.fetchrow("select contact_ciphertext, contact_key_id from feedback where id = $1", item["id"])
    assert (row["contact_ciphertext"], row["contact_key_id"]) == (None, None)
    response = await reveal(client, item["id"], await headers_for("front.hanoi"))
    assert response.status_code == 200
    assert response.json()["anonymous"] is True and "contact" not in response.json()
    data = await db.fetchval("select data from audit_log where action = 'feedback.reveal'")
    assert data == {"category": "wrongdoing_report", "protected": True, "had_contact": False}


@pytest.mark.parametrize(
    ("who", "status"),
    [
        ("front.badinh", 200),
        ("front.hanoi", 200),
        ("front.hoankiem", 404),
        ("official.badinh", 403),
        ("chair.badinh", 403),
        ("admin.hanoi", 403),
        ("citizen", 403),
    ],
)
async def test_photos_are_served_only_to_the_front_in_scope(
    client: AsyncTestClient[Any],
    db: asyncpg.Connection,
    headers_for: TokenFor,
    citizen_headers: dict[str, str],
    report: dict[str, Any],
    who: str,
    status: int,
) -> None:
    await add_staff(db, "front.hoankiem", "front_staff", "commune", "00070")
    headers = citizen_headers if who == "citizen" else await headers_for(who)
    attachment = report["attachments"][0]["id"]
    url = f"/v1/front/feedback/{report['id']}/attachments/{attachment}"
    response = await client.get(url, headers=headers)
    assert response.status_code == status, response.text
    if status == 200:
        assert response.content == PNG
        assert response.headers["content-type"] == "image/png"  # what the bytes are, not what was declared
        assert response.headers["x-content-type-options"] == "nosniff"
        assert "no-store" in response.headers["cache-control"]
        assert report["reference"] in response.headers["content-disposition"]
    else:
        assert response.headers["content-type"].startswith("application/problem+json")
    if who == "front.badinh":
        other = (await submit(client, citizen_headers, feedback(), [("a.jpg", JPEG, "image/jpeg")])).json()
        # An attachment is found only under its own item.
        crossed = await client.get(f"/v1/front/feedback/{other['id']}/attachments/{attachment}", headers=headers)
        assert (crossed.status_code, crossed.json()["code"]) == (404, "attachment_not_found")
    assert (await client.get(url)).status_code == 401


@pytest.fixture
async def rotated(settings: Settings) -> AsyncIterator[AsyncTestClient[Any]]:
    """The app after a rotation: a new current key, the old one still listed."""
    new_key = ("test2", base64.b64encode(b"n" * 32).decode())
    rotated = msgspec.structs.replace(settings, feedback_keys=(new_key, *FEEDBACK_KEYS), feedback_key_id="test2")
    async with AsyncTestClient(app=create_app(rotated)) as test_client:
        yield test_client


async def test_rotated_keys_still_open_older_items(
    client: AsyncTestClient[Any],
    rotated: AsyncTestClient[Any],
    db: asyncpg.Connection,
    headers_for: TokenFor,
    citizen_headers: dict[str, str],
    report: dict[str, Any],
) -> None:
    supervisor = await headers_for("front.hanoi")
    old = await reveal(rotated, report["id"], supervisor)
    assert old.status_code == 200, old.text
    assert old.json()["contact"] == IDENTITY

    body = feedback(category="wrongdoing_report", body=WRONGDOING, contact={"name": "Phạm Minh"})
    newer = (await submit(rotated, citizen_headers, body)).json()
    assert await db.fetchval("select contact_key_id from feedback where id = $1", newer["id"]) == "test2"
    assert (await reveal(rotated, newer["id"], supervisor)).json()["contact"] == {"name": "Phạm Minh"}

    # A process that lacks the new key cannot open the newer item: a clear 503, not a 500.
    missing = await reveal(client, newer["id"], supervisor)
    assert (missing.status_code, missing.json()["code"]) == (503, "service_unavailable")


async def test_a_sealed_contact_opens_only_on_its_own_item(
    client: AsyncTestClient[Any],
    db: asyncpg.Connection,
    headers_for: TokenFor,
    citizen_headers: dict[str, str],
    report: dict[str, Any],
) -> None:
    other = (await submit(client, citizen_headers, feedback(category="wrongdoing_report"))).json()
    await db.execute(
        "update feedback set contact_ciphertext = (select contact_ciphertext from feedback where id = $1) "
        "where id = $2",
        report["id"],
        other["id"],
    )
    response = await reveal(client, other["id"], await headers_for("front.hanoi"))
    assert response.status_code == 503
    assert all(trace not in response.text for trace in TRACES)


def test_staff_views_say_at_most_whether_contact_exists() -> None:
    front = contact_summary(category="wrongdoing_report", is_anonymous=False, has_contact=True, audience="front")
    assert front == {"anonymous": False, "has_contact": True}
    for category in ("wrongdoing_report", "complaint"):
        assert contact_summary(category=category, is_anonymous=False, has_contact=True, audience="authority") is None
