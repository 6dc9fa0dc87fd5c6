"""The Front's workflow through the HTTP API: an item's whole life from the citizen's
submission to closing and reopening, every invalid transition, If-Match, the lease, merge,
bulk actions, the redacted copy and what the authority may read, and the pushes."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, timedelta
from typing import Any

import asyncpg
import pytest
from litestar.testing import AsyncTestClient

from backend import workdays
from backend.redaction import EMAIL_MASK, ID_MASK, PHONE_MASK
from tests.conftest import TokenFor
from tests.test_feedback_citizen import feedback, new_citizen, submit
from tests.test_feedback_states import EXPECTED, STATUS_ORDER
from tests.test_front_queue import BADINH, HOANKIEM, front_user, new_feedback, service_of
from tests.test_front_queue import new_citizen as citizen_row

Headers = dict[str, str]


async def act(
    client: AsyncTestClient[Any],
    headers: Headers,
    feedback_id: int,
    action: str,
    body: dict[str, Any] | None = None,
    *,
    version: int | str | None = None,
    expect: int = 200,
) -> dict[str, Any]:
    """POST an action with If-Match (the current version unless given)."""
    if version is None:
        response = await client.get(f"/v1/front/feedback/{feedback_id}", headers=headers)
        version = response.json()["version"] if response.status_code == 200 else 1
    response = await client.post(
        f"/v1/front/feedback/{feedback_id}/{action}",
        json=body,
        headers={**headers, "if-match": f'"{version}"' if isinstance(version, int) else version},
    )
    assert response.status_code == expect, response.text
    result: dict[str, Any] = response.json()
    return result


async def outbox(db: asyncpg.Connection, feedback_id: int | None = None) -> list[tuple[str, Any, Any]]:
    rows = await db.fetch(
        "select kind, user_id, citizen_id from notification_outbox "
        "where $1::bigint is null or feedback_id = $1 "
        "or forward_id in (select w.id from feedback_forwards w where w.feedback_id = $1) order by id",
        feedback_id,
    )
    return [(r["kind"], r["user_id"], r["citizen_id"]) for r in rows]


async def user_id(db: asyncpg.Connection, username: str) -> int:
    return int(await db.fetchval("select id from users where username = $1", username))


async def citizen_of(db: asyncpg.Connection, feedback_id: int) -> uuid.UUID:
    citizen: uuid.UUID = await db.fetchval("select citizen_id from feedback where id = $1", feedback_id)
    return citizen


SECRET_BODY = (
    "Cán bộ tư pháp đòi 500.000 đồng mới giải quyết hồ sơ. Gọi tôi 0912 345 678 hoặc "
    "+84 987 654 321, CCCD 001090012345, thư an.nguyen@example.vn."
)


async def test_the_full_life_of_an_item(
    client: AsyncTestClient[Any], db: asyncpg.Connection, headers_for: TokenFor, citizen_headers: Headers
) -> None:
    justice = await service_of(db)
    submitted = await submit(
        client,
        citizen_headers,
        # A complaint goes to the official holding the service (a report of wrongdoing would
        # not: tests/test_reporter_protection.py).
        feedback(category="complaint", body=SECRET_BODY, commune_service_id=justice),
    )
    assert submitted.status_code == 201, submitted.text
    item_id = submitted.json()["id"]
    citizen = await citizen_of(db, item_id)
    front = await headers_for("front.badinh")
    official = await headers_for("official.badinh")
    official_user = await user_id(db, "official.badinh")

    queued = (await client.get("/v1/front/queue", headers=front)).json()
    assert [i["id"] for i in queued["items"]] == [item_id] and queued["items"][0]["status"] == "received"

    claimed = await act(client, front, item_id, "claim")
    assert claimed["lease_holder"] == await user_id(db, "front.badinh")
    triaged = await act(client, front, item_id, "triage", {"priority": "urgent", "reason": "Tố giác tiêu cực"})
    assert (triaged["status"], triaged["priority"]) == ("triaged", "urgent")
    assert await outbox(db, item_id) == [("feedback_accepted", None, citizen)]

    forwarded = await act(client, front, item_id, "forward", {"reason": "Chuyển cán bộ phụ trách"})
    assert forwarded["status"] == "forwarded"
    [copy] = forwarded["forwards"]
    expected_due = workdays.due_at(datetime.fromisoformat(copy["created_at"]), 30, "working")
    assert datetime.fromisoformat(copy["due_at"]) == expected_due
    assert datetime.fromisoformat(forwarded["response_due_at"]) == expected_due
    assert copy["recipient"] == "official" and copy["status"] == "open"
    for secret in ("0912 345 678", "987 654 321", "001090012345", "an.nguyen@example.vn"):
        assert secret not in copy["redacted_body"]
    assert {PHONE_MASK, ID_MASK, EMAIL_MASK} <= {
        m for m in (PHONE_MASK, ID_MASK, EMAIL_MASK) if m in copy["redacted_body"]
    }
    assert "500.000 đồng" in copy["redacted_body"]
    assert await outbox(db, item_id) == [
        ("feedback_accepted", None, citizen),
        ("feedback_assigned", official_user, None),
        ("feedback_forwarded", None, citizen),
    ]

    # The authority reads the redacted copy only: no reference, no contact, no photos.
    listed = await client.get("/v1/assigned-feedback", headers=official)
    assert listed.status_code == 200, listed.text
    [assigned] = listed.json()["items"]
    assert assigned["id"] == copy["id"] and assigned["body"] == copy["redacted_body"]
    assert assigned["category"] == "complaint" and assigned["commune_service_id"] == justice
    text = listed.text
    for secret in ("Nguyễn Văn An", "0912345678", "0912 345 678", "reference", "GY-", "contact", "attachment"):
        assert secret not in text, secret
    assert (await client.get("/v1/assigned-feedback", headers=await headers_for("chair.badinh"))).json() == {
        "items": []
    }

    due = date.fromisoformat(assigned["due_at"][:10]) + timedelta(days=7)
    extended = await client.post(
        f"/v1/assigned-feedback/{assigned['id']}/extension",
        json={"due_date": due.isoformat(), "reason": "Cần xác minh thêm"},
        headers=official,
    )
    assert extended.status_code == 200, extended.text
    assert extended.json()["due_at"][:10] == due.isoformat()
    answered = await client.post(
        f"/v1/assigned-feedback/{assigned['id']}/answer", json={"answer": "Đã kiểm tra"}, headers=official
    )
    assert answered.status_code == 200 and answered.json()["status"] == "answered"

    sent_back = await act(client, front, item_id, "send-back", {"reason": "Chưa nêu kết quả xử lý"})
    assert sent_back["forwards"][0]["status"] == "sent_back" and sent_back["status"] == "forwarded"
    again = await client.get(f"/v1/assigned-feedback/{assigned['id']}", headers=official)
    assert again.json()["sent_back_reason"] == "Chưa nêu kết quả xử lý"
    await client.post(
        f"/v1/assigned-feedback/{assigned['id']}/answer",
        json={"answer": "Đã xác minh, kỷ luật cán bộ vi phạm và trả lại tiền cho công dân."},
        headers=official,
    )
    accepted = await act(client, front, item_id, "accept")
    assert accepted["status"] == "answered"
    assert accepted["answer"] == "Đã xác minh, kỷ luật cán bộ vi phạm và trả lại tiền cho công dân."

    mine = (await client.get(f"/v1/me/feedback/{item_id}", headers=citizen_headers)).json()
    assert mine["status"] == "answered" and mine["answer"] == accepted["answer"]

    closed = await act(client, front, item_id, "close", {"reason": "Công dân hài lòng"})
    assert closed["status"] == "closed" and closed.get("lease_holder") is None
    reopened = await act(client, front, item_id, "reopen", {"reason": "Công dân khiếu nại lại"})
    assert reopened["status"] == "triaged" and reopened.get("answer") is None

    kinds = [(e["kind"], e["actor_kind"]) for e in reopened["events"] if e["kind"] != "submitted"]
    assert kinds == [
        ("claimed", "staff"),
        ("triaged", "staff"),
        ("forwarded", "staff"),
        ("extended", "official"),
        ("authority_answered", "official"),
        ("sent_back", "staff"),
        ("authority_answered", "official"),
        ("accepted", "staff"),
        ("closed", "staff"),
        ("reopened", "staff"),
    ]
    assert reopened["events"][-1]["data"]["previous_answer"] == accepted["answer"]
    assert [k for k, _, c in await outbox(db, item_id) if c == citizen] == [
        "feedback_accepted",
        "feedback_forwarded",
        "feedback_extended",
        "feedback_answered",
    ]
    assert [k for k, u, _ in await outbox(db, item_id) if u == official_user] == [
        "feedback_assigned",
        "feedback_assigned",  # the answer sent back
    ]


ACTION_BODIES: dict[str, tuple[str, dict[str, Any] | None]] = {
    "claim": ("claim", None),
    "release": ("release", None),
    "assign": ("assign", {"user_id": 0}),
    "triage": ("triage", {"priority": "high"}),
    "merge": ("merge", {"into_id": 0}),
    "reject": ("reject", {"grounds": "spam", "reason": "Quảng cáo"}),
    "moderate": ("moderate", {"body": "Nội dung đã biên tập", "reason": "Bỏ lời lẽ xúc phạm"}),
    "review": ("review", None),
    "forward": ("forward", None),
    "accept": ("accept", None),
    "send_back": ("send-back", {"reason": "Chưa đủ"}),
    "close": ("close", None),
    "reopen": ("reopen", {"reason": "Công dân khiếu nại lại"}),
}


async def test_every_invalid_transition_is_a_409(
    client: AsyncTestClient[Any], db: asyncpg.Connection, headers_for: TokenFor
) -> None:
    front = await headers_for("front.badinh")
    colleague = await user_id(db, "front.hanoi")
    original = await new_feedback(db, status="triaged")
    checked = 0
    for action, (path, body) in ACTION_BODIES.items():
        for status, expected in zip(STATUS_ORDER, EXPECTED[action], strict=True):
            item = await new_feedback(db, status="received" if status == "merged" else status)
            if status == "merged":
                await db.execute(
                    "update feedback set status = 'merged', merged_into_id = $2 where id = $1", item, original
                )
            payload = dict(body) if body else None
            if payload and "user_id" in payload:
                payload["user_id"] = colleague
            if payload and "into_id" in payload:
                payload["into_id"] = original
            response = await client.post(
                f"/v1/front/feedback/{item}/{path}", json=payload, headers={**front, "if-match": '"1"'}
            )
            if expected == ".":
                assert response.status_code == 409, (action, status, response.text)
                problem = response.json()
                assert problem["code"] == "invalid_feedback_transition"
                assert (problem["current_status"], problem["action"]) == (status, action)
                checked += 1
            else:
                assert response.json().get("code") != "invalid_feedback_transition", (action, status)
    assert checked == sum(row.count(".") for action, row in EXPECTED.items() if action in ACTION_BODIES)


async def test_if_match_is_required_and_checked(
    client: AsyncTestClient[Any], db: asyncpg.Connection, headers_for: TokenFor
) -> None:
    front = await headers_for("front.badinh")
    item = await new_feedback(db)
    response = await client.post(f"/v1/front/feedback/{item}/triage", json={"priority": "high"}, headers=front)
    assert response.status_code == 428 and response.json()["code"] == "if_match_required"
    await act(client, front, item, "triage", {"priority": "high"}, version='W/"1"')
    stale = await act(client, front, item, "triage", {"priority": "low"}, version=1, expect=412)
    assert stale["code"] == "version_mismatch" and stale["current_version"] == 2
    bad = await act(client, front, item, "triage", {"priority": "low"}, version="soon", expect=400)
    assert bad["code"] == "invalid_parameter"
    assert await db.fetchval("select priority from feedback where id = $1", item) == "high"
    # A stale write changes nothing and records nothing.
    assert await db.fetchval("select count(*) from feedback_events where feedback_id = $1", item) == 1


async def test_the_lease(client: AsyncTestClient[Any], db: asyncpg.Connection, headers_for: TokenFor) -> None:
    await front_user(db, "front.badinh2", "front_staff", "commune", BADINH)
    holder, colleague = await headers_for("front.badinh"), await headers_for("front.badinh2")
    supervisor = await headers_for("front.hanoi")
    item = await new_feedback(db)
    claimed = await act(client, holder, item, "claim")
    expires = datetime.fromisoformat(claimed["lease_expires_at"])
    assert timedelta(minutes=14) < expires - datetime.now(UTC) <= timedelta(minutes=15)

    for action, body in (("claim", None), ("triage", {"priority": "high"}), ("release", None)):
        problem = await act(client, colleague, item, action, body, expect=409)
        assert problem["code"] == "feedback_leased" and problem["lease_expires_at"]
    # A supervisor needs to say so, with a reason.
    await act(client, supervisor, item, "claim", expect=409)
    await act(client, supervisor, item, "claim", {"break_lease": True}, expect=422)
    await act(client, colleague, item, "claim", {"break_lease": True, "reason": "Tôi làm"}, expect=409)
    broken = await act(client, supervisor, item, "claim", {"break_lease": True, "reason": "Cán bộ nghỉ ốm"})
    assert broken["lease_holder"] == await user_id(db, "front.hanoi")
    assert broken["events"][-1]["kind"] == "lease_broken" and broken["events"][-1]["reason"] == "Cán bộ nghỉ ốm"
    await act(client, holder, item, "triage", {"priority": "high"}, expect=409)

    # An expired lease blocks nobody.
    await db.execute("update feedback set lease_expires_at = now() - interval '1 second' where id = $1", item)
    listed = (await client.get("/v1/front/queue", headers=colleague)).json()["items"][0]
    assert "lease_holder" not in listed
    mine = await act(client, colleague, item, "claim")
    assert mine["lease_holder"] == await user_id(db, "front.badinh2")
    released = await act(client, colleague, item, "release")
    assert "lease_holder" not in released
    await act(client, holder, item, "triage", {"priority": "high"})


async def test_merge_and_the_duplicates_citizen_follows(
    client: AsyncTestClient[Any], db: asyncpg.Connection, headers_for: TokenFor
) -> None:
    front = await headers_for("front.badinh")
    first, second = await citizen_row(db), await citizen_row(db)
    original = await new_feedback(db, status="triaged", citizen=first)
    duplicate = await new_feedback(db, citizen=second)
    earlier = await new_feedback(db, status="received")
    elsewhere = await new_feedback(db, commune=HOANKIEM)
    rejected = await new_feedback(db, status="rejected")

    for target in (duplicate, elsewhere, rejected, 10**9):
        problem = await act(client, front, duplicate, "merge", {"into_id": target}, expect=422)
        assert problem["code"] == "invalid_merge"
    await db.execute("update feedback set status = 'merged', merged_into_id = $2 where id = $1", earlier, duplicate)

    merged = await act(client, front, duplicate, "merge", {"into_id": original, "reason": "Trùng nội dung"})
    assert (merged["status"], merged["merged_into_id"]) == ("merged", original)
    # Items merged into the duplicate now follow the original too.
    assert await db.fetchval("select merged_into_id from feedback where id = $1", earlier) == original
    detail = (await client.get(f"/v1/front/feedback/{original}", headers=front)).json()
    assert detail["merged_ids"] == sorted([earlier, duplicate])
    assert detail["events"][-1]["kind"] == "duplicate_merged"

    # The original's progress reaches the duplicate's citizen.
    await act(client, front, original, "reject", {"grounds": "out_of_scope", "reason": "Thuộc thẩm quyền tòa án"})
    pushed = {(kind, c) for kind, _, c in await outbox(db) if kind == "feedback_rejected"}
    assert pushed == {("feedback_rejected", first), ("feedback_rejected", second)}
    await act(client, front, duplicate, "reopen", {"reason": "x"}, expect=409)


async def test_reject_moderate_assign_and_triage_checks(
    client: AsyncTestClient[Any], db: asyncpg.Connection, headers_for: TokenFor
) -> None:
    front = await headers_for("front.badinh")
    citizen = await citizen_row(db)
    item = await new_feedback(db, "Ông X ở số 5 phố Y nói bậy", citizen=citizen)

    moderated = await act(client, front, item, "moderate", {"body": "Nội dung đã lược bỏ", "reason": "Xúc phạm"})
    assert moderated["body"] == "Nội dung đã lược bỏ"
    assert moderated["events"][-1]["data"]["previous_body"] == "Ông X ở số 5 phố Y nói bậy"
    queue = (await client.get("/v1/front/queue", params={"q": "luoc bo"}, headers=front)).json()
    assert [i["id"] for i in queue["items"]] == [item]

    problem = await act(client, front, item, "assign", {"user_id": await user_id(db, "official.badinh")}, expect=422)
    assert problem["code"] == "invalid_assignee"
    await front_user(db, "front.hoankiem", "front_staff", "commune", HOANKIEM)
    await act(client, front, item, "assign", {"user_id": await user_id(db, "front.hoankiem")}, expect=422)
    assigned = await act(client, front, item, "assign", {"user_id": await user_id(db, "front.hanoi")})
    assert assigned["assigned_name"] == "Cán bộ Mặt trận Thành phố Hà Nội"

    other_service = await service_of(db, commune=HOANKIEM)
    problem = await act(client, front, item, "triage", {"commune_service_id": other_service}, expect=422)
    assert problem["code"] == "feedback_link_mismatch"
    other_official = await db.fetchval("select id from officials where commune_code = $1 limit 1", HOANKIEM)
    await act(client, front, item, "triage", {"official_id": other_official}, expect=422)

    rejected = await act(client, front, item, "reject", {"grounds": "spam", "reason": "Nội dung quảng cáo"})
    assert rejected["status"] == "rejected" and rejected["reject_reason"] == "Nội dung quảng cáo"
    assert await outbox(db, item) == [("feedback_rejected", None, citizen)]
    await act(client, front, item, "reject", {"grounds": "spam"}, expect=422)


async def test_bulk_actions_answer_per_item(
    client: AsyncTestClient[Any], db: asyncpg.Connection, headers_for: TokenFor
) -> None:
    front = await headers_for("front.badinh")
    fine, stale, forwarded = (
        await new_feedback(db),
        await new_feedback(db),
        await new_feedback(db, status="forwarded"),
    )
    elsewhere = await new_feedback(db, commune=HOANKIEM)
    await db.execute("update feedback set version = 3 where id = $1", stale)
    response = await client.post(
        "/v1/front/bulk/triage",
        json={
            "items": [{"id": fine, "version": 1}, {"id": stale, "version": 1}, {"id": forwarded}, {"id": elsewhere}],
            "priority": "high",
            "category": "question",
        },
        headers=front,
    )
    assert response.status_code == 200, response.text
    results = response.json()["results"]
    assert [(r["id"], r["status"]) for r in results] == [(fine, 200), (stale, 412), (forwarded, 409), (elsewhere, 404)]
    assert results[0]["item"]["status"] == "triaged" and results[0]["item"]["category"] == "question"
    assert [r["problem"]["code"] for r in results[1:]] == [
        "version_mismatch",
        "invalid_feedback_transition",
        "feedback_not_found",
    ]
    assert await db.fetchval("select status from feedback where id = $1", stale) == "received"

    response = await client.post(
        "/v1/front/bulk/assign",
        json={"items": [{"id": fine}, {"id": stale}], "user_id": await user_id(db, "chair.badinh")},
        headers=front,
    )
    assert {r["problem"]["code"] for r in response.json()["results"]} == {"invalid_assignee"}
    response = await client.post(
        "/v1/front/bulk/assign",
        json={"items": [{"id": fine}, {"id": stale}], "user_id": await user_id(db, "front.badinh")},
        headers=front,
    )
    assert [r["status"] for r in response.json()["results"]] == [200, 200]

    citizen = await citizen_row(db)
    spam = [await new_feedback(db, "Mua bán sim số đẹp", citizen=citizen) for _ in range(3)]
    response = await client.post(
        "/v1/front/bulk/reject",
        json={"items": [{"id": i} for i in spam], "grounds": "spam", "reason": "Quảng cáo"},
        headers=front,
    )
    assert [r["status"] for r in response.json()["results"]] == [200, 200, 200]
    assert len([k for k, _, c in await outbox(db) if k == "feedback_rejected" and c == citizen]) == 3
    too_many = await client.post(
        "/v1/front/bulk/reject",
        json={"items": [{"id": 1}] * 101, "grounds": "spam", "reason": "x"},
        headers=front,
    )
    assert too_many.status_code == 422


async def forward_item(
    client: AsyncTestClient[Any], db: asyncpg.Connection, front: Headers, **item: Any
) -> tuple[int, dict[str, Any]]:
    feedback_id = await new_feedback(db, status="triaged", **item)
    forwarded = await act(client, front, feedback_id, "forward")
    return feedback_id, forwarded["forwards"][-1]


async def test_the_authority_reads_only_its_forwards(
    client: AsyncTestClient[Any], db: asyncpg.Connection, headers_for: TokenFor, citizen_headers: Headers
) -> None:
    front = await headers_for("front.badinh")
    # No service: the commune's People's Committee (its chairs) answers.
    _, committee = await forward_item(client, db, front, body="Đèn đường hỏng, gọi 0987654321", contact=True)
    assert committee["recipient"] == "commune_committee"
    assert committee["redacted_body"] == f"Đèn đường hỏng, gọi {PHONE_MASK}"
    # The justice service's holder has an account (official.badinh).
    _, to_official = await forward_item(client, db, front, service=await service_of(db))
    # A service whose holder has no account goes to the committee too.
    police = await db.fetchval(
        "select cs.id from commune_services cs join procedures p on p.code = cs.procedure_code "
        "where cs.commune_code = $1 and p.field_en = 'Residence registration and management' limit 1",
        BADINH,
    )
    _, unlinked = await forward_item(client, db, front, service=police)
    assert unlinked["recipient"] == "commune_committee"

    async def visible(username: str) -> set[int]:
        response = await client.get(
            "/v1/assigned-feedback", params={"status": "all"}, headers=await headers_for(username)
        )
        assert response.status_code == 200, response.text
        return {i["id"] for i in response.json()["items"]}

    assert await visible("chair.badinh") == {committee["id"], unlinked["id"]}
    assert await visible("official.badinh") == {to_official["id"]}
    assert await visible("chair.hoankiem") == set()
    for username in ("official.badinh", "chair.hoankiem"):
        response = await client.get(f"/v1/assigned-feedback/{committee['id']}", headers=await headers_for(username))
        assert response.status_code == 404 and response.json()["code"] == "forward_not_found"
        response = await client.post(
            f"/v1/assigned-feedback/{committee['id']}/answer", json={"answer": "x"}, headers=await headers_for(username)
        )
        assert response.status_code == 404
    for headers in (front, await headers_for("front.hanoi"), citizen_headers):
        assert (await client.get("/v1/assigned-feedback", headers=headers)).status_code == 403
    # The province's People's Committee side reads only forwards addressed to it (about chairs).
    assert await visible("admin.hanoi") == set()
    detail = (
        await client.get(f"/v1/assigned-feedback/{committee['id']}", headers=await headers_for("chair.badinh"))
    ).json()
    assert not {"has_contact", "anonymous", "contact", "contact_summary", "reference", "attachments"} & set(detail)

    # One extension, after the deadline and within FEEDBACK_MAX_EXTENSION working days.
    chair = await headers_for("chair.badinh")
    due = date.fromisoformat(detail["due_at"][:10])
    for bad in (due, due + timedelta(days=60)):
        response = await client.post(
            f"/v1/assigned-feedback/{committee['id']}/extension",
            json={"due_date": bad.isoformat(), "reason": "Cần thêm thời gian"},
            headers=chair,
        )
        assert response.status_code == 422 and response.json()["code"] == "invalid_extension", bad
    path = f"/v1/assigned-feedback/{committee['id']}/extension"
    good = {"due_date": (due + timedelta(days=10)).isoformat(), "reason": "Cần thêm thời gian"}
    assert (await client.post(path, json=good, headers=chair)).status_code == 200
    assert (await client.post(path, json=good, headers=chair)).status_code == 422

    # Answered, it waits for the Front; a second answer is refused until sent back.
    answer = f"/v1/assigned-feedback/{committee['id']}/answer"
    assert (await client.post(answer, json={"answer": "Đã sửa"}, headers=chair)).status_code == 200
    response = await client.post(answer, json={"answer": "Đã sửa xong"}, headers=chair)
    assert response.status_code == 409 and response.json()["code"] == "forward_closed"


async def test_accept_needs_an_answer_and_forward_needs_an_authority(
    client: AsyncTestClient[Any], db: asyncpg.Connection, headers_for: TokenFor
) -> None:
    front = await headers_for("front.badinh")
    item, _ = await forward_item(client, db, front)
    problem = await act(client, front, item, "accept", expect=409)
    assert problem["code"] == "forward_not_answered"
    await act(client, front, item, "send-back", {"reason": "x"}, expect=409)

    # A commune with no chair account and no service holder: nobody to forward to.
    lonely = await new_feedback(db, status="triaged", commune="00577")
    await db.execute("delete from user_roles where role = 'commune_chair' and commune_code = '00577'")
    problem = await act(client, await headers_for("front.hanoi"), lonely, "forward", expect=409)
    assert problem["code"] == "no_accountable_authority"


@pytest.mark.parametrize("category", ["question", "complaint"])
async def test_the_deadline_follows_the_category(
    client: AsyncTestClient[Any], db: asyncpg.Connection, headers_for: TokenFor, category: str
) -> None:
    front = await headers_for("front.badinh")
    _, copy = await forward_item(client, db, front, category=category)
    days = {"question": 10, "complaint": 30}[category]
    created = datetime.fromisoformat(copy["created_at"])
    assert datetime.fromisoformat(copy["due_at"]) == workdays.due_at(created, days, "working")


async def test_a_citizen_submission_then_the_other_citizen_sees_nothing(
    client: AsyncTestClient[Any], db: asyncpg.Connection, headers_for: TokenFor, citizen_headers: Headers
) -> None:
    item = (await submit(client, citizen_headers, feedback())).json()
    other = await new_citizen(client)
    assert (await client.get(f"/v1/me/feedback/{item['id']}", headers=other)).status_code == 404
    for path in (f"/v1/front/feedback/{item['id']}", "/v1/front/queue"):
        assert (await client.get(path, headers=citizen_headers)).status_code == 403
    response = await client.post(
        f"/v1/front/feedback/{item['id']}/triage", json={}, headers={**citizen_headers, "if-match": '"1"'}
    )
    assert response.status_code == 403
