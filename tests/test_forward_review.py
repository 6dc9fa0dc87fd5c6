"""Review before forward (issue 10, point 8), through the API: a report of wrongdoing leaves
the Front only as a person reviewed its masked copy; an edit cannot put back what the
masking removes; editing the text after the review asks for a new one; the forward carries
exactly the reviewed copy. Sequences with recategorising and revealing, every role."""

from __future__ import annotations

from typing import Any

import asyncpg
import pytest
from litestar.testing import AsyncTestClient

from backend.redaction import EMAIL_MASK, PHONE_MASK, redact
from backend.services.forward_review import reviewed_copy
from tests.conftest import TokenFor
from tests.test_feedback_citizen import feedback, new_citizen, submit
from tests.test_feedback_workflow import act
from tests.test_front_queue import front_user, service_of

REVEAL = {"reason": "Xác minh theo yêu cầu của Ban Thường trực"}
BODY = "Tôi là Nguyễn Văn An, số 0912 345 678, an.nguyen@example.vn. Cán bộ địa chính đòi 5 triệu đồng."


async def _report(client: AsyncTestClient[Any], db: asyncpg.Connection, **overrides: Any) -> int:
    sent = await submit(
        client,
        await new_citizen(client),
        feedback(category="wrongdoing_report", body=BODY, commune_service_id=await service_of(db), **overrides),
    )
    assert sent.status_code == 201, sent.text
    return int(sent.json()["id"])


async def _review(
    client: AsyncTestClient[Any], headers: dict[str, str], item: int, body: dict[str, Any] | None = None
) -> Any:
    version = (await client.get(f"/v1/front/feedback/{item}", headers=headers)).json()["version"]
    return await client.post(
        f"/v1/front/feedback/{item}/review", json=body, headers={**headers, "if-match": f'"{version}"'}
    )


@pytest.mark.parametrize(
    ("edit", "found"),
    [
        ("Liên hệ 0912 345 678 để xác minh.", {"phone": 1}),
        ("Liên hệ ０９１２３４５６７８ để xác minh.", {"phone": 1}),
        ("Số 0912\u200b345\u200b678 trong đơn.", {"phone": 1}),
        ("Thư gửi an.nguyen [at] example [dot] vn.", {"email": 1}),
        ("Thư gửi an.nguyen＠example.vn.", {"email": 1}),
        ("CCCD 001 090 012 345 của người gửi.", {"id_number": 1}),
        ("Tôi là Nguyễn Văn An, người gửi.", {"name": 1}),
        ("Bà Trần Thị Bình chứng kiến.", {"name": 1}),
    ],
)
def test_an_edit_that_identifies_is_refused(edit: str, found: dict[str, int]) -> None:
    with pytest.raises(Exception) as caught:
        reviewed_copy(BODY, edit)
    assert getattr(caught.value, "code", None) == "review_copy_identifies"
    assert caught.value.extensions == {"found": found}  # type: ignore[attr-defined]


def test_the_masked_copy_sent_back_as_an_edit_is_accepted_as_it_is() -> None:
    # Masks hold no digits, no "@" and no capitalised name: an edit that keeps them passes.
    assert reviewed_copy(BODY, redact(BODY)) == (redact(BODY), {"email": 1, "name": 1, "phone": 1})


@pytest.mark.parametrize(
    ("edit", "kept"),
    [
        (None, f"[{PHONE_MASK}]"),
        ("Cán bộ địa chính đòi 5 triệu đồng ngày 12/10/2026.", "Cán bộ địa chính đòi 5 triệu đồng ngày 12/10/2026."),
        ("  Cán bộ đòi tiền\u200b.  ", "Cán bộ đòi tiền."),
        ("Hồ sơ số 000.30.12.H01-261010-0001 bị giữ.", "Hồ sơ số 000.30.12.H01-261010-0001 bị giữ."),
    ],
)
def test_the_copy_a_review_records(edit: str | None, kept: str) -> None:
    copy, masked = reviewed_copy(BODY, edit)
    assert masked == {"email": 1, "name": 1, "phone": 1}
    if edit is None:
        assert PHONE_MASK in copy and EMAIL_MASK in copy and "0912" not in copy
    else:
        assert copy == kept


async def test_review_then_edit_then_forward_is_refused_until_reviewed_again(
    client: AsyncTestClient[Any], db: asyncpg.Connection, headers_for: TokenFor
) -> None:
    item = await _report(client, db)
    front = await headers_for("front.badinh")
    await act(client, front, item, "triage", {"priority": "high"})
    refused = await act(client, front, item, "forward", expect=409)
    assert refused["code"] == "forward_not_reviewed"
    preview = (await client.get(f"/v1/front/feedback/{item}/forward-preview", headers=front)).json()
    assert preview["review_required"] and preview["problem"]["code"] == "forward_not_reviewed"
    assert preview["masked"] == {"email": 1, "name": 1, "phone": 1} and "0912" not in preview["body"]

    # An edit that puts back the phone number or the e-mail is refused, and nothing is stored.
    version = (await client.get(f"/v1/front/feedback/{item}", headers=front)).json()["version"]
    for edit, found in (
        ("Người gửi: 0912.345.678 — cán bộ đòi tiền.", {"phone": 1}),
        ("Liên hệ an.nguyen (at) example.vn — cán bộ đòi tiền.", {"email": 1}),
    ):
        bad = await _review(client, front, item, {"body": edit})
        assert bad.status_code == 422, bad.text
        assert bad.json()["code"] == "review_copy_identifies" and bad.json()["found"] == found
        assert bad.json()["messages"]["en"].startswith("The edited copy")
    assert await db.fetchval("select count(*) from feedback_reviews") == 0
    assert (await client.get(f"/v1/front/feedback/{item}", headers=front)).json()["version"] == version

    edit = "Cán bộ địa chính đòi 5 triệu đồng mới nhận hồ sơ đất."
    reviewed = await _review(client, front, item, {"body": edit, "reason": "Rút gọn, bỏ phần giới thiệu"})
    assert reviewed.status_code == 200, reviewed.text
    review = reviewed.json()["review"]
    assert review["body"] == edit and review["edited"] is True and review["masked"]["phone"] == 1
    assert reviewed.json()["review_required"] is True

    # The item's text is edited after the review: the review ends, the forward is refused.
    moderated = await act(client, front, item, "moderate", {"body": BODY + " Bổ sung.", "reason": "Bổ sung"})
    assert "review" not in moderated
    assert moderated["events"][-1]["data"]["review_ended"] == review["id"]
    assert (await act(client, front, item, "forward", expect=409))["code"] == "forward_not_reviewed"

    # Reviewed again: a forward with any other text is still refused; as reviewed, it goes.
    second = (await _review(client, front, item)).json()["review"]
    assert second["edited"] is False and "0912" not in second["body"] and "Bổ sung" in second["body"]
    changed = await act(client, front, item, "forward", {"body": "Nội dung khác chưa duyệt."}, expect=409)
    assert changed["code"] == "forward_not_reviewed"
    forwarded = await act(client, front, item, "forward", {"reason": "Chuyển UBND phường"})
    copy = forwarded["forwards"][-1]
    assert copy["redacted_body"] == second["body"] and copy["review_id"] == second["id"]
    [assigned] = (await client.get("/v1/assigned-feedback", headers=await headers_for("chair.badinh"))).json()["items"]
    assert assigned["body"] == second["body"]

    reviews = await db.fetch(
        "select id, superseded_because from feedback_reviews where feedback_id = $1 order by id", item
    )
    assert [(r["id"], r["superseded_because"]) for r in reviews] == [
        (review["id"], "text_edited"),
        (second["id"], None),
    ]
    audited = await db.fetch(
        "select actor_user_id, reason from audit_log where action = 'feedback.reviewed' and object_id = $1::text "
        "order by id",
        str(item),
    )
    staff_id = await db.fetchval("select id from users where username = 'front.badinh'")
    assert [(a["actor_user_id"], a["reason"]) for a in audited] == [
        (staff_id, "Rút gọn, bỏ phần giới thiệu"),
        (staff_id, None),
    ]
    # Forwarded, the item is past review.
    late = await _review(client, front, item)
    assert late.status_code == 409 and late.json()["code"] == "invalid_feedback_transition"


async def test_recategorised_then_forwarded_it_still_needs_review_and_protected_routing(
    client: AsyncTestClient[Any], db: asyncpg.Connection, headers_for: TokenFor
) -> None:
    item = await _report(client, db)
    supervisor = await headers_for("front.hanoi")
    await act(
        client, supervisor, item, "triage", {"category": "complaint", "reason": "Nội dung là khiếu nại hành chính"}
    )
    refused = await act(client, supervisor, item, "forward", expect=409)
    assert refused["code"] == "forward_not_reviewed"
    assert (await _review(client, supervisor, item)).status_code == 200
    forwarded = await act(client, supervisor, item, "forward")
    # Still routed as a report of wrongdoing: the People's Committee, never the service's holder.
    assert forwarded["category"] == "complaint" and forwarded["protected"] is True
    assert forwarded["forwards"][-1]["recipient"] == "commune_committee"
    official = await client.get("/v1/assigned-feedback", headers=await headers_for("official.badinh"))
    assert official.json()["items"] == []


async def test_reveal_after_review_by_each_front_role(
    client: AsyncTestClient[Any], db: asyncpg.Connection, headers_for: TokenFor
) -> None:
    item = await _report(client, db)
    await front_user(db, "frontsup.badinh", "front_supervisor", "commune", "00004")
    await front_user(db, "frontstaff.hanoi", "front_staff", "province", "01")
    await front_user(db, "front.hoankiem", "front_staff", "commune", "00070")
    front = await headers_for("front.badinh")
    await act(client, front, item, "triage", {"priority": "high"})
    assert (await _review(client, front, item)).status_code == 200
    for username, status in (
        ("front.badinh", 403),
        ("frontstaff.hanoi", 403),
        ("front.hoankiem", 404),
        ("official.badinh", 403),
        ("chair.badinh", 403),
        ("admin.hanoi", 403),
        ("sysadmin", 403),
        ("frontsup.badinh", 200),
        ("front.hanoi", 200),
    ):
        response = await client.post(
            f"/v1/front/feedback/{item}/reveal", json=REVEAL, headers=await headers_for(username)
        )
        assert response.status_code == status, (username, response.text)
        assert ("contact" in response.json()) == (status == 200), username
    assert await db.fetchval("select count(*) from audit_log where action = 'feedback.reveal'") == 2


async def test_who_may_review(client: AsyncTestClient[Any], db: asyncpg.Connection, headers_for: TokenFor) -> None:
    item = await _report(client, db)
    await front_user(db, "front.hoankiem", "front_staff", "commune", "00070")
    for username, status in (
        ("official.badinh", 403),
        ("chair.badinh", 403),
        ("admin.hanoi", 403),
        ("sysadmin", 403),
        ("front.hoankiem", 404),
    ):
        response = await client.post(
            f"/v1/front/feedback/{item}/review", json={}, headers={**await headers_for(username), "if-match": '"1"'}
        )
        assert response.status_code == status, username
    citizen = await new_citizen(client)
    assert (await client.post(f"/v1/front/feedback/{item}/review", json={}, headers=citizen)).status_code in (401, 403)
    front = await headers_for("front.badinh")
    missing = await client.post(f"/v1/front/feedback/{item}/review", json={}, headers=front)
    assert missing.status_code == 428 and missing.json()["code"] == "if_match_required"
    stale = await client.post(f"/v1/front/feedback/{item}/review", json={}, headers={**front, "if-match": '"99"'})
    assert stale.status_code == 412 and stale.json()["code"] == "version_mismatch"
    blank = await _review(client, front, item, {"body": "   "})
    assert blank.status_code == 422
    # Reviewing twice: one review in force, the later one.
    first = (await _review(client, front, item)).json()["review"]
    again = (await _review(client, await headers_for("front.hanoi"), item, {"body": "Cán bộ đòi tiền."})).json()
    assert again["review"]["id"] != first["id"] and again["review"]["body"] == "Cán bộ đòi tiền."
    assert await db.fetchval("select count(*) from feedback_reviews where superseded_at is null") == 1


async def test_an_ordinary_item_forwards_without_review_or_with_its_reviewed_copy(
    client: AsyncTestClient[Any], db: asyncpg.Connection, headers_for: TokenFor
) -> None:
    front = await headers_for("front.badinh")
    items = []
    for _ in range(2):
        sent = await submit(client, await new_citizen(client), feedback(body=BODY))
        items.append(int(sent.json()["id"]))
        await act(client, front, items[-1], "triage", {"priority": "normal"})
    plain = await act(client, front, items[0], "forward")
    assert plain["review_required"] is False and plain["forwards"][-1].get("review_id") is None
    assert "0912" not in plain["forwards"][-1]["redacted_body"]
    reviewed = (await _review(client, front, items[1], {"body": "Cán bộ địa chính đòi tiền."})).json()["review"]
    sent_on = await act(client, front, items[1], "forward")
    assert sent_on["forwards"][-1]["redacted_body"] == "Cán bộ địa chính đòi tiền."
    assert sent_on["forwards"][-1]["review_id"] == reviewed["id"]


async def test_a_copy_that_grows_past_its_limit_once_normalised_is_a_clear_problem(
    client: AsyncTestClient[Any], db: asyncpg.Connection, headers_for: TokenFor
) -> None:
    # One Arabic ligature is 18 letters after NFKC: 2,000 of them pass the 5,000-character
    # limit as sent and make a 36,000-character copy.
    sent = await submit(client, await new_citizen(client), feedback(category="wrongdoing_report", body="ﷺ" * 2000))
    assert sent.status_code == 201, sent.text
    item = int(sent.json()["id"])
    front = await headers_for("front.badinh")
    for body in (None, {"body": "ﷺ" * 400}):
        refused = await _review(client, front, item, body)
        assert refused.status_code == 422, refused.text
        assert refused.json()["code"] == "validation_failed" and refused.json()["errors"][0]["field"] == "body"
    assert await db.fetchval("select count(*) from feedback_reviews") == 0
    fine = await _review(client, front, item, {"body": "Nội dung tố cáo đã được Mặt trận tóm tắt."})
    assert fine.status_code == 200, fine.text
