"""Citizens' feedback through the HTTP API: submission with photos, idempotency, validation,
attachment type checks and limits, the citizen's list and timeline, rating and dispute."""

from __future__ import annotations

import hashlib
import io
import json
import re
import uuid
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from litestar.testing import AsyncTestClient
from PIL import Image

import backend.images  # noqa: F401 - registers the HEIF codec with Pillow
from backend.settings import Settings
from tests.conftest import TokenFor


def image_bytes(fmt: str, size: tuple[int, int] = (16, 12), **options: Any) -> bytes:
    """A small real photo, encoded by Pillow (pillow-heif for HEIF)."""
    out = io.BytesIO()
    Image.new("RGB", size, (30, 120, 200)).save(out, fmt, **options)
    return out.getvalue()


JPEG = image_bytes("JPEG")
# Pillow's own encoding of the pixels: re-encoded on upload it comes out byte for byte equal.
PNG = image_bytes("PNG")
HEIC = image_bytes("HEIF")


def stored_bytes(settings: Settings, storage_key: str) -> bytes:
    return (Path(settings.data_dir) / "attachments" / storage_key[:2] / storage_key).read_bytes()


CONTACT = {"name": "Nguyễn Văn An", "phone": "0912345678"}


def feedback(**overrides: Any) -> dict[str, Any]:
    return {
        "category": "complaint",
        "commune_code": "00004",
        "body": "Hồ sơ của tôi đã quá hạn hai tuần nhưng chưa nhận được kết quả.",
        "contact": CONTACT,
        **overrides,
    }


async def submit(
    client: AsyncTestClient[Any],
    headers: dict[str, str],
    body: dict[str, Any] | str,
    photos: list[tuple[str, bytes, str]] | None = None,
    key: str | None = None,
) -> Any:
    files: list[tuple[str, Any]] = [("feedback", (None, body if isinstance(body, str) else json.dumps(body)))]
    files += [("photos", photo) for photo in photos or []]
    return await client.post(
        "/v1/feedback", files=files, headers={**headers, "idempotency-key": key or uuid.uuid4().hex}
    )


async def new_citizen(client: AsyncTestClient[Any]) -> dict[str, str]:
    response = await client.post(
        "/v1/auth/device-sessions", json={"install_id": f"test-{uuid.uuid4().hex}", "platform": "ios"}
    )
    return {"authorization": f"Bearer {response.json()['access_token']}"}


async def service_of(client: AsyncTestClient[Any], commune: str) -> int:
    response = await client.get(f"/v1/communes/{commune}/services", params={"limit": 1})
    return int(response.json()["items"][0]["id"])


async def official_of(db: asyncpg.Connection, commune: str) -> int:
    return int(await db.fetchval("select id from officials where commune_code = $1 order by id limit 1", commune))


async def answer(db: asyncpg.Connection, feedback_id: int, text: str = "UBND phường đã xử lý xong hồ sơ.") -> None:
    """What the Front's workflow does when it accepts an authority's answer."""
    await db.execute(
        "update feedback set status = 'answered', answer = $2, answered_at = now() where id = $1", feedback_id, text
    )
    await db.execute(
        "insert into feedback_events (feedback_id, kind, from_status, to_status, actor_kind, visible_to_citizen) "
        "values ($1, 'accepted', 'forwarded', 'answered', 'system', true)",
        feedback_id,
    )


async def test_a_citizen_sends_feedback_with_photos(
    client: AsyncTestClient[Any], citizen_headers: dict[str, str], db: asyncpg.Connection, settings: Settings
) -> None:
    sid = await service_of(client, "00004")
    official = await official_of(db, "00004")
    body = feedback(commune_service_id=sid, official_id=official, body="  Cán bộ hẹn trả kết quả nhưng chưa có.\n ")
    photos = [("a.jpg", JPEG, "image/jpeg"), ("b.heic", HEIC, "image/heic"), ("c.png", PNG, "image/png")]
    response = await submit(client, citizen_headers, body, photos)
    assert response.status_code == 201, response.text
    item = response.json()
    assert re.fullmatch(r"GY-20[0-9]{2}-[0-9]{6}", item["reference"])
    assert item["status"] == "received"
    assert item["body"] == "Cán bộ hẹn trả kết quả nhưng chưa có."  # trimmed
    assert (item["commune_service_id"], item["official"]["id"]) == (sid, official)
    assert (item["anonymous"], item["has_contact"]) == (False, True)
    assert "contact" not in item
    # HEIC is stored as JPEG; every photo is re-encoded from its pixels.
    assert [a["content_type"] for a in item["attachments"]] == ["image/jpeg", "image/jpeg", "image/png"]
    assert [(e["kind"], e["status"]) for e in item["timeline"]] == [("submitted", "received")]
    assert "response_due_at" not in item and "answer" not in item

    rows = await db.fetch(
        "select storage_key, sha256, size_bytes from feedback_attachments where feedback_id = $1 order by position",
        item["id"],
    )
    for row, attachment in zip(rows, item["attachments"], strict=True):
        stored = stored_bytes(settings, row["storage_key"])
        assert len(stored) == row["size_bytes"] == attachment["size_bytes"]
        assert bytes(row["sha256"]) == hashlib.sha256(stored).digest()
        assert Image.open(io.BytesIO(stored)).size == (16, 12)
        assert "jpg" not in row["storage_key"] and "heic" not in row["storage_key"]  # random names


async def test_a_retry_replays_and_a_reused_key_is_refused(
    client: AsyncTestClient[Any], citizen_headers: dict[str, str], db: asyncpg.Connection
) -> None:
    photos = [("a.jpg", JPEG, "image/jpeg")]
    first = await submit(client, citizen_headers, feedback(), photos, key="fb-1")
    assert first.status_code == 201, first.text
    assert "idempotent-replayed" not in first.headers

    again = await submit(client, citizen_headers, feedback(body=" " + feedback()["body"]), photos, key="fb-1")
    assert again.status_code == 200, again.text
    assert again.headers["idempotent-replayed"] == "true"
    assert again.json()["id"] == first.json()["id"]
    assert again.json()["reference"] == first.json()["reference"]

    other_photo = await submit(client, citizen_headers, feedback(), [("a.png", PNG, "image/png")], key="fb-1")
    assert other_photo.status_code == 422
    assert other_photo.json()["code"] == "idempotency_key_reused"
    other_text = await submit(client, citizen_headers, feedback(body="Khác"), photos, key="fb-1")
    assert other_text.json()["code"] == "idempotency_key_reused"

    # The same key from another install is another request.
    other = await submit(client, await new_citizen(client), feedback(), photos, key="fb-1")
    assert other.status_code == 201

    assert await db.fetchval("select count(*) from feedback") == 2
    assert await db.fetchval("select count(*) from feedback_attachments") == 2

    missing = await client.post(
        "/v1/feedback", files=[("feedback", (None, json.dumps(feedback())))], headers=citizen_headers
    )
    assert missing.status_code == 400
    assert missing.json()["code"] == "idempotency_key_required"


async def test_anonymous_or_with_contact(client: AsyncTestClient[Any], citizen_headers: dict[str, str]) -> None:
    anonymous = await submit(client, citizen_headers, feedback(anonymous=True, contact=None))
    assert anonymous.status_code == 201, anonymous.text
    assert (anonymous.json()["anonymous"], anonymous.json()["has_contact"]) == (True, False)

    full = {
        "name": "Trần Thị Bình",
        "phone": "+84 912 345 678",
        "address": "12 Phố Đội Cấn, Ba Đình",
        "id_number": "001203004567",
        "email": "binh@example.vn",
    }
    assert (await submit(client, citizen_headers, feedback(contact=full))).status_code == 201
    only_email = await submit(client, citizen_headers, feedback(contact={"email": "a@b.vn"}))
    assert only_email.status_code == 201

    for body in (
        feedback(anonymous=True),  # anonymous with contact
        feedback(contact=None),  # neither
        feedback(contact={}),
        feedback(contact={"name": "   "}),  # blank only
    ):
        response = await submit(client, citizen_headers, body)
        assert response.status_code == 422, body
        assert response.json()["code"] == "invalid_contact"

    bad_fields = [{"phone": "call me"}, {"id_number": "12345"}, {"email": "no-at-sign"}, {"name": "A\x07B"}]
    for contact in bad_fields:
        response = await submit(client, citizen_headers, feedback(contact=contact))
        assert response.status_code == 422, contact
        assert response.json()["code"] == "validation_failed"


@pytest.mark.parametrize(
    ("body", "code", "field"),
    [
        (feedback(body="x" * 5001), "validation_failed", "body"),
        (feedback(body=" \n\t "), "validation_failed", "body"),
        (feedback(body="Có ký tự điều khiển \x1b[31m"), "validation_failed", "body"),
        (feedback(body="NUL \x00"), "validation_failed", "body"),
        (feedback(category="gossip"), "validation_failed", "category"),
        (feedback(commune_code="4"), "validation_failed", "commune_code"),
        (feedback(extra=1), "validation_failed", "extra"),
        ({"commune_code": "00004", "body": "x", "contact": CONTACT}, "validation_failed", "category"),
        (feedback(commune_code="99999"), "unknown_commune", None),
    ],
)
async def test_bad_feedback_is_refused(
    client: AsyncTestClient[Any],
    citizen_headers: dict[str, str],
    db: asyncpg.Connection,
    body: dict[str, Any],
    code: str,
    field: str | None,
) -> None:
    response = await submit(client, citizen_headers, body)
    assert response.status_code == 422, response.text
    problem = response.json()
    assert problem["code"] == code
    if field:
        assert problem["errors"][0]["field"] == field
    assert await db.fetchval("select count(*) from feedback") == 0


async def test_text_keeps_line_breaks_and_the_longest_body(
    client: AsyncTestClient[Any], citizen_headers: dict[str, str]
) -> None:
    text = "Dòng một\nDòng hai\tcó tab"
    response = await submit(client, citizen_headers, feedback(body=text))
    assert response.json()["body"] == text
    longest = await submit(client, citizen_headers, feedback(body="ạ" * 5000))
    assert longest.status_code == 201, longest.text


async def test_service_and_official_must_be_of_the_commune(
    client: AsyncTestClient[Any], citizen_headers: dict[str, str], db: asyncpg.Connection
) -> None:
    elsewhere = await service_of(client, "00070")
    wrong_service = await submit(client, citizen_headers, feedback(commune_service_id=elsewhere))
    assert wrong_service.json()["code"] == "feedback_service_mismatch"
    missing_service = await submit(client, citizen_headers, feedback(commune_service_id=10**12))
    assert missing_service.json()["code"] == "feedback_service_mismatch"
    wrong_official = await submit(client, citizen_headers, feedback(official_id=await official_of(db, "00070")))
    assert wrong_official.status_code == 422
    assert wrong_official.json()["code"] == "feedback_official_mismatch"


async def test_malformed_requests_get_clear_problems(
    client: AsyncTestClient[Any], citizen_headers: dict[str, str], headers_for: TokenFor
) -> None:
    not_json = await submit(client, citizen_headers, "{not json")
    assert (not_json.status_code, not_json.json()["code"]) == (400, "malformed_body")
    as_json = await client.post("/v1/feedback", json=feedback(), headers={**citizen_headers, "idempotency-key": "k"})
    assert (as_json.status_code, as_json.json()["code"]) == (415, "unsupported_media_type")
    no_part = await client.post(
        "/v1/feedback",
        files=[("photos", ("a.jpg", JPEG, "image/jpeg"))],
        headers={**citizen_headers, "idempotency-key": "k"},
    )
    assert no_part.status_code in (400, 422), no_part.text
    assert no_part.headers["content-type"].startswith("application/problem+json")

    anonymous = await client.post("/v1/feedback", files=[("feedback", (None, json.dumps(feedback())))])
    assert anonymous.status_code == 401
    staff = await submit(client, await headers_for("front.badinh"), feedback())
    assert (staff.status_code, staff.json()["code"]) == (403, "forbidden_role")


async def test_attachment_types_come_from_the_bytes(
    client: AsyncTestClient[Any], citizen_headers: dict[str, str], db: asyncpg.Connection, settings: Settings
) -> None:
    # A PNG declared as JPEG is stored as what it is.
    relabelled = await submit(client, citizen_headers, feedback(), [("photo.jpg", PNG, "image/jpeg")])
    assert relabelled.status_code == 201, relabelled.text
    assert relabelled.json()["attachments"][0]["content_type"] == "image/png"

    spoofed = [
        ("evil.jpg", b"<html><script>alert(1)</script></html>", "image/jpeg"),
        ("evil.png", b"%PDF-1.7\n" + b"\x00" * 100, "image/png"),
        ("evil.heic", b"\x00\x00\x00\x18ftypavif\x00\x00\x00\x00mif1avif" + b"\x00" * 32, "image/heic"),  # AVIF
        ("truncated.png", b"\x89PNG\r\n\x1a\n", "image/png"),
        ("empty.jpg", b"", "image/jpeg"),
        ("script.sh", b"#!/bin/sh\nrm -rf /\n", "image/jpeg"),
    ]
    for photo in spoofed:
        response = await submit(client, citizen_headers, feedback(), [("photos", JPEG, "image/jpeg"), photo])
        assert response.status_code == 415, photo[0]
        problem = response.json()
        assert problem["code"] == "attachment_type_not_allowed"
        assert problem["attachment_index"] == 1
        assert problem["messages"]["vi"] and problem["messages"]["en"]
    assert await db.fetchval("select count(*) from feedback") == 1
    stored = [p for p in (Path(settings.data_dir) / "attachments").rglob("*") if p.is_file()]
    assert len(stored) == 1  # nothing left behind by the refused requests


async def test_attachment_count_and_size_limits(
    client: AsyncTestClient[Any], citizen_headers: dict[str, str], db: asyncpg.Connection
) -> None:
    five = [(f"{i}.jpg", JPEG, "image/jpeg") for i in range(5)]
    assert (await submit(client, citizen_headers, feedback(), five)).status_code == 201

    six = await submit(client, citizen_headers, feedback(), [*five, ("6.jpg", JPEG, "image/jpeg")])
    assert (six.status_code, six.json()["code"]) == (422, "too_many_attachments")

    big = JPEG[:-2] + b"\x00" * (5 * 1024 * 1024 + 1 - len(JPEG)) + b"\xff\xd9"
    assert len(big) == 5 * 1024 * 1024 + 1
    too_big = await submit(client, citizen_headers, feedback(), [("big.jpg", big, "image/jpeg")])
    assert (too_big.status_code, too_big.json()["code"]) == (413, "attachment_too_large")

    exactly = big[:-3] + b"\xff\xd9"
    assert len(exactly) == 5 * 1024 * 1024
    assert (await submit(client, citizen_headers, feedback(), [("max.jpg", exactly, "image/jpeg")])).status_code == 201

    whole = await submit(client, citizen_headers, feedback(), [(f"{i}.jpg", big, "image/jpeg") for i in range(6)])
    assert (whole.status_code, whole.json()["code"]) == (413, "request_too_large")
    assert await db.fetchval("select count(*) from feedback") == 2


async def test_the_citizen_lists_only_their_own_feedback(
    client: AsyncTestClient[Any], citizen_headers: dict[str, str]
) -> None:
    ids = []
    for n in range(3):
        response = await submit(client, citizen_headers, feedback(body=f"Góp ý số {n}", category="suggestion"))
        ids.append(response.json()["id"])
    other = await new_citizen(client)
    theirs = (await submit(client, other, feedback(body="Của người khác"))).json()["id"]

    first = await client.get("/v1/me/feedback", params={"limit": 2}, headers=citizen_headers)
    assert first.status_code == 200, first.text
    page = first.json()
    assert [i["id"] for i in page["items"]] == [ids[2], ids[1]]
    assert page["items"][0]["excerpt"] == "Góp ý số 2"
    assert page["items"][0]["status"] == "received" and page["items"][0]["has_answer"] is False
    second = await client.get(
        "/v1/me/feedback", params={"limit": 2, "cursor": page["next_cursor"]}, headers=citizen_headers
    )
    assert [i["id"] for i in second.json()["items"]] == [ids[0]]
    assert "next_cursor" not in second.json()

    assert [i["id"] for i in (await client.get("/v1/me/feedback", headers=other)).json()["items"]] == [theirs]
    foreign = await client.get(f"/v1/me/feedback/{theirs}", headers=citizen_headers)
    assert (foreign.status_code, foreign.json()["code"]) == (404, "feedback_not_found")
    assert (await client.get("/v1/me/feedback/999999", headers=citizen_headers)).status_code == 404
    bad_cursor = await client.get("/v1/me/feedback", params={"cursor": "!!"}, headers=citizen_headers)
    assert bad_cursor.status_code == 400


async def test_the_timeline_shows_only_what_the_citizen_may_see(
    client: AsyncTestClient[Any], citizen_headers: dict[str, str], db: asyncpg.Connection, headers_for: TokenFor
) -> None:
    item = (await submit(client, citizen_headers, feedback())).json()
    staff = await db.fetchval("select id from users where username = 'front.badinh'")
    events = [
        ("triaged", "received", "triaged", "Chuyển cán bộ Hùng xử lý, lưu ý người này hay khiếu nại", True, {}),
        ("note", None, None, "Ghi chú nội bộ: nghi trùng với GY-2026-000001", False, {}),
        ("forwarded", "triaged", "forwarded", "Gửi ông Trưởng phòng", True, {"due_at": "2026-12-01T10:00:00+00:00"}),
        ("extended", "forwarded", "forwarded", "Cần xác minh thêm", True, {"due_at": "2026-12-10T10:00:00+00:00"}),
    ]
    for kind, before, after, reason, visible, data in events:
        await db.execute(
            "insert into feedback_events (feedback_id, kind, from_status, to_status, actor_kind, actor_user_id, "
            "reason, data, visible_to_citizen) values ($1, $2, $3, $4, 'staff', $5, $6, $7, $8)",
            item["id"],
            kind,
            before,
            after,
            staff,
            reason,
            data,
            visible,
        )
    await db.execute(
        "update feedback set status = 'forwarded', response_due_at = '2026-12-10T10:00:00+00' where id = $1",
        item["id"],
    )
    response = await client.get(f"/v1/me/feedback/{item['id']}", headers=citizen_headers)
    detail = response.json()
    assert [(e["kind"], e.get("status")) for e in detail["timeline"]] == [
        ("submitted", "received"),
        ("triaged", "triaged"),
        ("forwarded", "forwarded"),
        ("extended", "forwarded"),
    ]
    assert [e.get("due_at") for e in detail["timeline"]][2:] == ["2026-12-01T10:00:00Z", "2026-12-10T10:00:00Z"]
    assert detail["response_due_at"] == "2026-12-10T10:00:00Z"
    text = response.text
    for secret in ("Hùng", "nội bộ", "Trưởng phòng", "xác minh", "front.badinh", "Mặt trận phường", str(staff)):
        assert secret not in text, secret

    await db.execute(
        "update feedback set status = 'rejected', reject_reason = 'Nội dung không thuộc thẩm quyền' where id = $1",
        item["id"],
    )
    await db.execute(
        "insert into feedback_events (feedback_id, kind, from_status, to_status, actor_kind, actor_user_id, reason, "
        "visible_to_citizen) values ($1, 'rejected', 'forwarded', 'rejected', 'staff', $2, $3, true)",
        item["id"],
        staff,
        "Nội dung không thuộc thẩm quyền",
    )
    rejected = (await client.get(f"/v1/me/feedback/{item['id']}", headers=citizen_headers)).json()
    assert rejected["reject_reason"] == "Nội dung không thuộc thẩm quyền"
    assert rejected["timeline"][-1] == {
        "kind": "rejected",
        "status": "rejected",
        "at": rejected["timeline"][-1]["at"],
        "reason": "Nội dung không thuộc thẩm quyền",
    }


async def test_a_merged_item_follows_its_original(
    client: AsyncTestClient[Any], citizen_headers: dict[str, str], db: asyncpg.Connection
) -> None:
    original = (await submit(client, await new_citizen(client), feedback())).json()
    duplicate = (await submit(client, citizen_headers, feedback(body="Trùng nội dung"))).json()
    await answer(db, original["id"], "Đã trả kết quả")
    await db.execute(
        "update feedback set status = 'merged', merged_into_id = $2 where id = $1", duplicate["id"], original["id"]
    )
    detail = (await client.get(f"/v1/me/feedback/{duplicate['id']}", headers=citizen_headers)).json()
    assert detail["status"] == "merged"
    assert detail["merged_into"]["reference"] == original["reference"]
    assert (detail["merged_into"]["status"], detail["merged_into"]["answer"]) == ("answered", "Đã trả kết quả")


async def test_the_citizen_rates_the_answer_once(
    client: AsyncTestClient[Any], citizen_headers: dict[str, str], db: asyncpg.Connection
) -> None:
    item = (await submit(client, citizen_headers, feedback())).json()
    url = f"/v1/me/feedback/{item['id']}/rating"

    early = await client.post(url, json={"score": 4}, headers={**citizen_headers, "idempotency-key": "r0"})
    assert (early.status_code, early.json()["code"]) == (409, "feedback_not_answered")

    await answer(db, item["id"])
    detail = (await client.get(f"/v1/me/feedback/{item['id']}", headers=citizen_headers)).json()
    assert detail["answer"] == "UBND phường đã xử lý xong hồ sơ."
    assert "answered_at" in detail

    no_key = await client.post(url, json={"score": 4}, headers=citizen_headers)
    assert no_key.json()["code"] == "idempotency_key_required"
    for bad in ({"score": 0}, {"score": 6}, {"score": 2.5}, {}):
        assert (
            await client.post(url, json=bad, headers={**citizen_headers, "idempotency-key": "rx"})
        ).status_code == 422

    rated = await client.post(url, json={"score": 4}, headers={**citizen_headers, "idempotency-key": "r1"})
    assert rated.status_code == 200, rated.text
    assert rated.json()["answer_rating"] == 4
    replay = await client.post(url, json={"score": 4}, headers={**citizen_headers, "idempotency-key": "r1"})
    assert (replay.status_code, replay.headers["idempotent-replayed"]) == (200, "true")
    reused = await client.post(url, json={"score": 2}, headers={**citizen_headers, "idempotency-key": "r1"})
    assert reused.json()["code"] == "idempotency_key_reused"
    again = await client.post(url, json={"score": 2}, headers={**citizen_headers, "idempotency-key": "r2"})
    assert (again.status_code, again.json()["code"]) == (409, "feedback_already_rated")
    assert await db.fetchval("select answer_rating from feedback where id = $1", item["id"]) == 4

    other = await client.post(url, json={"score": 1}, headers={**await new_citizen(client), "idempotency-key": "r3"})
    assert other.status_code == 404


async def test_a_dispute_reopens_an_answered_item(
    client: AsyncTestClient[Any], citizen_headers: dict[str, str], db: asyncpg.Connection
) -> None:
    item = (await submit(client, citizen_headers, feedback())).json()
    url = f"/v1/me/feedback/{item['id']}/dispute"
    reason = {"reason": "Tôi vẫn chưa nhận được kết quả như câu trả lời nói."}

    early = await client.post(url, json=reason, headers={**citizen_headers, "idempotency-key": "d0"})
    assert (early.status_code, early.json()["code"]) == (409, "feedback_not_disputable")

    await answer(db, item["id"])
    rate = f"/v1/me/feedback/{item['id']}/rating"
    await client.post(rate, json={"score": 1}, headers={**citizen_headers, "idempotency-key": "r1"})
    version = await db.fetchval("select version from feedback where id = $1", item["id"])

    blank = await client.post(url, json={"reason": "   "}, headers={**citizen_headers, "idempotency-key": "d1"})
    assert blank.status_code == 422
    disputed = await client.post(url, json=reason, headers={**citizen_headers, "idempotency-key": "d1"})
    assert disputed.status_code == 200, disputed.text
    body = disputed.json()
    assert body["status"] == "triaged"
    assert "answer" not in body and "answer_rating" not in body  # a new answer will be rated anew
    assert body["timeline"][-1]["kind"] == "disputed"
    assert body["timeline"][-1]["reason"] == reason["reason"]
    row = await db.fetchrow("select status, version from feedback where id = $1", item["id"])
    assert (row["status"], row["version"]) == ("triaged", version + 1)

    replay = await client.post(url, json=reason, headers={**citizen_headers, "idempotency-key": "d1"})
    assert (replay.status_code, replay.headers["idempotent-replayed"]) == (200, "true")
    again = await client.post(url, json=reason, headers={**citizen_headers, "idempotency-key": "d2"})
    assert (again.status_code, again.json()["code"]) == (409, "feedback_not_disputable")
    other = await client.post(url, json=reason, headers={**await new_citizen(client), "idempotency-key": "d3"})
    assert other.status_code == 404

    await db.execute("update feedback set status = 'closed' where id = $1", item["id"])
    closed = await client.post(url, json=reason, headers={**citizen_headers, "idempotency-key": "d4"})
    assert closed.json()["status"] == "triaged"
