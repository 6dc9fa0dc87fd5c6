"""Routing a report of wrongdoing by the Law on Denunciation, through the API: the preview
the Front sees, the forward, who reads it, the refusal when it would reach the official
concerned; and the audited administration it depends on (account links, the provincial
recipient). Plus the pure rule, table-tested."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import pytest
from litestar.testing import AsyncTestClient

from backend.reporter_protection import Route, RoutingFacts, route_forward
from backend.services.feedback_deadlines import check_deadlines
from tests.conftest import TokenFor
from tests.test_feedback_citizen import feedback, new_citizen, submit
from tests.test_feedback_workflow import act
from tests.test_front_queue import service_of

HOLDER, OTHER, CHAIR, PROVINCE = 10, 20, 30, 40


def facts(**overrides: Any) -> RoutingFacts:
    base: dict[str, Any] = {
        "protected": True,
        "holder_official_id": 1,
        "holder_user_id": HOLDER,
        "concerned_official_ids": frozenset({1}),
        "concerned_user_ids": frozenset({HOLDER}),
        "concerned_is_head": False,
        "chair_user_ids": (CHAIR,),
        "province_user_ids": (PROVINCE,),
    }
    return RoutingFacts(**{**base, **overrides})


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        # Ordinary item: the holder answers unless it is about them.
        (
            facts(protected=False, concerned_official_ids=frozenset(), concerned_user_ids=frozenset()),
            Route("official", 1, (HOLDER,)),
        ),
        (facts(protected=False), Route("commune_committee", None, (CHAIR,))),
        (
            facts(protected=False, holder_official_id=None, holder_user_id=None),
            Route("commune_committee", None, (CHAIR,)),
        ),
        # Protected: never the holder, even when the citizen named nobody.
        (
            facts(concerned_official_ids=frozenset(), concerned_user_ids=frozenset()),
            Route("commune_committee", None, (CHAIR,)),
        ),
        (facts(), Route("commune_committee", None, (CHAIR,))),
        # About a chair or vice-chair: the province (configured recipient or its committee).
        (facts(concerned_is_head=True, concerned_user_ids=frozenset({CHAIR})), Route("province", None, (PROVINCE,))),
        # Refused when the recipient is linked to an official concerned.
        (
            facts(concerned_user_ids=frozenset({CHAIR})),
            Route("commune_committee", None, (CHAIR,), refusal="forward_reaches_concerned"),
        ),
        (
            facts(concerned_is_head=True, concerned_user_ids=frozenset({PROVINCE})),
            Route("province", None, (PROVINCE,), refusal="forward_reaches_concerned"),
        ),
        (facts(chair_user_ids=()), Route("commune_committee", None, (), refusal="no_accountable_authority")),
        (
            facts(concerned_is_head=True, province_user_ids=()),
            Route("province", None, (), refusal="no_accountable_authority"),
        ),
        (
            facts(chair_user_ids=(CHAIR, OTHER), concerned_user_ids=frozenset({OTHER})),
            Route("commune_committee", None, (CHAIR, OTHER), refusal="forward_reaches_concerned"),
        ),
    ],
)
def test_route_forward(given: RoutingFacts, expected: Route) -> None:
    assert route_forward(given) == expected


async def _user(db: asyncpg.Connection, username: str) -> int:
    return int(await db.fetchval("select id from users where username = $1", username))


async def _report(client: AsyncTestClient[Any], db: asyncpg.Connection, **overrides: Any) -> int:
    sent = await submit(
        client,
        await new_citizen(client),
        feedback(category="wrongdoing_report", body="Cán bộ đòi tiền mới giải quyết hồ sơ.", **overrides),
    )
    assert sent.status_code == 201, sent.text
    return int(sent.json()["id"])


async def _triaged(client: AsyncTestClient[Any], headers: dict[str, str], item: int) -> None:
    """Triaged, and its masked copy reviewed: what a report of wrongdoing needs to be forwarded."""
    await act(client, headers, item, "triage", {"priority": "high"})
    await act(client, headers, item, "review")


async def _assigned(client: AsyncTestClient[Any], headers: dict[str, str]) -> list[int]:
    response = await client.get("/v1/assigned-feedback", headers=headers)
    assert response.status_code == 200, response.text
    return [i["id"] for i in response.json()["items"]]


async def test_a_report_naming_only_the_service_never_reaches_its_holder(
    client: AsyncTestClient[Any], db: asyncpg.Connection, headers_for: TokenFor
) -> None:
    item = await _report(client, db, commune_service_id=await service_of(db))
    front = await headers_for("front.badinh")
    preview = await client.get(f"/v1/front/feedback/{item}/forward-preview", headers=front)
    assert preview.status_code == 200, preview.text
    assert preview.json()["recipient"] == "commune_committee"
    assert [r["user_id"] for r in preview.json()["recipients"]] == [await _user(db, "chair.badinh")]
    assert preview.json()["problem"]["code"] == "forward_not_reviewed" and preview.json()["review_required"]
    for username, expected in (
        ("front.hanoi", 200),
        ("official.badinh", 403),
        ("chair.badinh", 403),
        ("admin.hanoi", 403),
        ("sysadmin", 403),
    ):
        got = await client.get(f"/v1/front/feedback/{item}/forward-preview", headers=await headers_for(username))
        assert got.status_code == expected, username

    await _triaged(client, front, item)
    assert "problem" not in (await client.get(f"/v1/front/feedback/{item}/forward-preview", headers=front)).json()
    forwarded = await act(client, front, item, "forward")
    assert forwarded["forwards"][-1]["recipient"] == "commune_committee"
    assert await _assigned(client, await headers_for("official.badinh")) == []
    assert await _assigned(client, await headers_for("chair.badinh")) == [forwarded["forwards"][-1]["id"]]
    pushed = await db.fetch("select user_id, data from notification_outbox where kind = 'feedback_assigned'")
    assert [r["user_id"] for r in pushed] == [await _user(db, "chair.badinh")]
    assert "feedback_id" not in pushed[0]["data"] and pushed[0]["data"]["forward_id"] == str(
        forwarded["forwards"][-1]["id"]
    )


async def test_an_official_linked_in_triage_is_never_the_recipient(
    client: AsyncTestClient[Any], db: asyncpg.Connection, headers_for: TokenFor
) -> None:
    item = await _report(client, db)
    front = await headers_for("front.badinh")
    concerned = await db.fetchval(
        "select o.id from officials o join users u on u.id = o.user_id where u.username = 'official.badinh'"
    )
    await act(client, front, item, "triage", {"official_id": concerned, "commune_service_id": await service_of(db)})
    await act(client, front, item, "review")
    forwarded = await act(client, front, item, "forward")
    assert forwarded["forwards"][-1]["recipient"] == "commune_committee"
    assert await _assigned(client, await headers_for("official.badinh")) == []


async def test_a_report_about_the_chair_goes_to_the_province(
    client: AsyncTestClient[Any], db: asyncpg.Connection, headers_for: TokenFor
) -> None:
    admin = await headers_for("admin.hanoi")
    chair_official = await db.fetchval(
        "insert into officials (commune_code, full_name, position) values ('00004', 'Lê Văn Chủ', "
        "'Chủ tịch UBND phường') returning id"
    )
    # Linking an official to an account is an audited API operation, for admins in scope.
    body = {"user_id": await _user(db, "chair.badinh"), "reason": "Chủ tịch nhận nhiệm vụ"}
    for username, expected in (
        ("official.badinh", 403),
        ("chair.badinh", 403),
        ("front.hanoi", 403),
        ("admin.hcm", 404),
    ):
        got = await client.put(
            f"/v1/officials/{chair_official}/account", json=body, headers=await headers_for(username)
        )
        assert got.status_code == expected, username
    linked = await client.put(f"/v1/officials/{chair_official}/account", json=body, headers=admin)
    assert linked.status_code == 200, linked.text
    assert linked.json()["user_id"] == body["user_id"]
    audit = await db.fetchrow("select reason, data from audit_log where action = 'official.account_link'")
    assert audit["reason"] == "Chủ tịch nhận nhiệm vụ" and audit["data"]["previous_user_id"] is None
    taken = await client.put(
        f"/v1/officials/{chair_official}/account",
        json={"user_id": await _user(db, "official.badinh"), "reason": "Nhầm"},
        headers=admin,
    )
    assert taken.status_code == 409 and taken.json()["code"] == "account_already_linked"

    item = await _report(client, db, official_id=chair_official)
    front = await headers_for("front.badinh")
    preview = (await client.get(f"/v1/front/feedback/{item}/forward-preview", headers=front)).json()
    assert preview["recipient"] == "province"
    assert [r["user_id"] for r in preview["recipients"]] == [await _user(db, "admin.hanoi")]

    # A commune account cannot be the provincial recipient.
    wrong = await client.put(
        "/v1/provinces/01/feedback-recipient",
        json={"user_id": await _user(db, "chair.badinh"), "label": "Nhầm", "reason": "Thử"},
        headers=admin,
    )
    assert wrong.status_code == 422 and wrong.json()["code"] == "invalid_feedback_recipient"
    # The chair also holding a province account, configured as recipient: the forward is refused.
    await db.execute(
        "insert into user_roles (user_id, role, scope_kind, province_code) "
        "values ($1, 'province_admin', 'province', '01')",
        await _user(db, "chair.badinh"),
    )
    wrong = await client.put(
        "/v1/provinces/01/feedback-recipient",
        json={"user_id": await _user(db, "chair.badinh"), "label": "Nhầm", "reason": "Thử"},
        headers=admin,
    )
    assert wrong.status_code == 200, wrong.text
    preview = (await client.get(f"/v1/front/feedback/{item}/forward-preview", headers=front)).json()
    assert preview["problem"]["code"] == "forward_reaches_concerned"
    await _triaged(client, front, item)
    refused = await act(client, front, item, "forward", expect=409)
    assert refused["code"] == "forward_reaches_concerned"

    inspector = await db.fetchval(
        "insert into users (username, password_hash, display_name) values ('thanhtra.hanoi', 'x', 'Thanh tra TP') "
        "returning id"
    )
    await db.execute(
        "insert into user_roles (user_id, role, scope_kind, province_code) "
        "values ($1, 'province_admin', 'province', '01')",
        inspector,
    )
    for username, expected in (("admin.hcm", 403), ("official.badinh", 403), ("front.hanoi", 403)):
        got = await client.put(
            "/v1/provinces/01/feedback-recipient",
            json={"user_id": inspector, "label": "Thanh tra", "reason": "Cấu hình"},
            headers=await headers_for(username),
        )
        assert got.status_code == expected, username
    configured = await client.put(
        "/v1/provinces/01/feedback-recipient",
        json={"user_id": inspector, "label": "Thanh tra thành phố", "reason": "Theo quyết định của UBND"},
        headers=admin,
    )
    assert configured.status_code == 200 and configured.json()["label"] == "Thanh tra thành phố"
    read = await client.get("/v1/provinces/01/feedback-recipient", headers=await headers_for("sysadmin"))
    assert read.json()["user_id"] == inspector and read.json()["configured"] is True

    forwarded = await act(client, front, item, "forward")
    forward_id = forwarded["forwards"][-1]["id"]
    assert forwarded["forwards"][-1]["recipient"] == "province"
    assert await _assigned(client, await headers_for("thanhtra.hanoi")) == [forward_id]
    for username in ("chair.badinh", "official.badinh", "admin.hanoi"):
        assert forward_id not in await _assigned(client, await headers_for(username)), username


async def test_an_account_linked_to_the_official_concerned_after_the_forward_never_reads_it(
    client: AsyncTestClient[Any], db: asyncpg.Connection, headers_for: TokenFor
) -> None:
    # Forwarded to the commune's People's Committee, a report is read by whoever holds the
    # chair role *when reading*: the official it is about, given an acting chair's account
    # and linked to it afterwards, read it, was reminded of it and could answer it.
    item = await _report(client, db)
    front, admin, chair = [await headers_for(u) for u in ("front.badinh", "admin.hanoi", "chair.badinh")]
    concerned = await db.fetchval(
        "select o.id from officials o join users u on u.id = o.user_id where u.username = 'official.badinh'"
    )
    await act(client, front, item, "triage", {"official_id": concerned})
    await act(client, front, item, "review")
    forward_id = (await act(client, front, item, "forward"))["forwards"][-1]["id"]

    acting = await client.post(
        "/v1/users",
        json={
            "username": "acting.badinh",
            "display_name": "Quyền Chủ tịch",
            "password": "mat-khau-rat-dai",
            "roles": [{"role": "commune_chair", "scope_kind": "commune", "scope_code": "00004"}],
        },
        headers=admin,
    )
    assert acting.status_code == 201, acting.text
    acting_id = acting.json()["id"]
    for user_id in (None, acting_id):  # the official concerned moves to the acting chair's account
        linked = await client.put(
            f"/v1/officials/{concerned}/account",
            json={"user_id": user_id, "reason": "Điều động làm quyền Chủ tịch"},
            headers=admin,
        )
        assert linked.status_code == 200, linked.text
    acting_headers = await headers_for("acting.badinh")

    assert await _assigned(client, acting_headers) == []
    assert (await client.get(f"/v1/assigned-feedback/{forward_id}", headers=acting_headers)).status_code == 404
    refused = await client.post(
        f"/v1/assigned-feedback/{forward_id}/answer",
        json={"answer": "Không có việc đó, đề nghị đóng lại."},
        headers=acting_headers,
    )
    assert refused.status_code == 404, refused.text
    # The other chair still has it, answers; sent back, only that chair is told.
    assert await _assigned(client, chair) == [forward_id]
    answered = await client.post(
        f"/v1/assigned-feedback/{forward_id}/answer",
        json={"answer": "UBND phường đã xác minh và xử lý cán bộ vi phạm."},
        headers=chair,
    )
    assert answered.status_code == 200, answered.text
    await act(client, front, item, "send-back", {"reason": "Cần nêu rõ hình thức xử lý"})
    told = await db.fetch(
        "select distinct user_id from notification_outbox where forward_id = $1 and user_id is not null", forward_id
    )
    assert {r["user_id"] for r in told} == {await _user(db, "chair.badinh")}
    # Overdue: the reminder goes to the chair alone.
    await db.execute("update feedback_forwards set due_at = now() - interval '1 hour' where id = $1", forward_id)
    report = await check_deadlines(db, timedelta(days=3), datetime.now(UTC))
    assert report.overdue == 1
    reminded = await db.fetch("select user_id from notification_outbox where kind = 'feedback_reminder'")
    assert [r["user_id"] for r in reminded] == [await _user(db, "chair.badinh")]


async def test_a_report_about_the_chair_merged_into_another_item_still_goes_to_the_province(
    client: AsyncTestClient[Any], db: asyncpg.Connection, headers_for: TokenFor
) -> None:
    # The merge protected the original but did not carry who the duplicate was about: the
    # original, a complaint naming nobody, went to the commune's People's Committee, that is,
    # to the chair the merged report was about.
    chair_official = await db.fetchval(
        "insert into officials (commune_code, full_name, position, user_id) values ('00004', 'Lê Văn Chủ', "
        "'Chủ tịch UBND phường', (select id from users where username = 'chair.badinh')) returning id"
    )
    about_chair = await _report(client, db, official_id=chair_official)
    sent = await submit(client, await new_citizen(client), feedback(body="Thủ tục ở phường kéo dài, không ai trả lời."))
    assert sent.status_code == 201, sent.text
    original = int(sent.json()["id"])
    front = await headers_for("front.badinh")
    await act(client, front, about_chair, "merge", {"into_id": original, "reason": "Cùng sự việc"})
    await _triaged(client, front, original)
    preview = (await client.get(f"/v1/front/feedback/{original}/forward-preview", headers=front)).json()
    assert preview["recipient"] == "province", preview
    assert [r["user_id"] for r in preview["recipients"]] == [await _user(db, "admin.hanoi")]
    forward_id = (await act(client, front, original, "forward"))["forwards"][-1]["id"]
    assert await _assigned(client, await headers_for("chair.badinh")) == []
    assert await _assigned(client, await headers_for("admin.hanoi")) == [forward_id]
