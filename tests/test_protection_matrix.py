"""Reporter protection, role by role and step by step (issue 10, points 1-4), through the API:
every Front endpoint tried by every role outside the Front; recategorising then revealing by
each Front role; a report that became one in triage; grants by a commune Front supervisor."""

from __future__ import annotations

import re
import uuid
from typing import Any

import asyncpg
from litestar.testing import AsyncTestClient

from tests.conftest import TokenFor
from tests.test_feedback_citizen import feedback, new_citizen, submit
from tests.test_feedback_workflow import act
from tests.test_front_queue import front_user, service_of

REVEAL = {"reason": "Xác minh theo yêu cầu của Ban Thường trực"}
# Templates and the monthly report are not about any reporter: a system admin keeps them.
SYSTEM_ADMIN_KEEPS = ("/v1/front/templates", "/v1/front/reports/")


async def _report(client: AsyncTestClient[Any], db: asyncpg.Connection, category: str = "wrongdoing_report") -> int:
    sent = await submit(
        client,
        await new_citizen(client),
        feedback(
            category=category, body="Cán bộ đòi tiền mới giải quyết hồ sơ.", commune_service_id=await service_of(db)
        ),
        photos=None,
    )
    assert sent.status_code == 201, sent.text
    return int(sent.json()["id"])


def _front_routes(client: AsyncTestClient[Any]) -> list[tuple[str, str]]:
    routes = []
    for route in client.app.routes:
        if route.path.startswith("/v1/front"):
            routes += [(method, route.path) for method in sorted(route.methods) if method not in ("HEAD", "OPTIONS")]
    return routes


async def _state(db: asyncpg.Connection, item: int) -> tuple[Any, ...]:
    return tuple(
        await db.fetchrow(
            """
            select f.version, f.status, f.category, f.protected,
                   (select count(*) from audit_log a where a.action like 'feedback.%') as audited,
                   (select count(*) from feedback_forwards w where w.feedback_id = f.id) as forwards,
                   (select count(*) from feedback_reviews r where r.feedback_id = f.id) as reviews,
                   (select count(*) from feedback_templates) as templates
            from feedback f where f.id = $1
            """,
            item,
        )
    )


async def test_no_role_outside_the_front_reaches_any_front_endpoint(
    client: AsyncTestClient[Any], db: asyncpg.Connection, headers_for: TokenFor
) -> None:
    item = await _report(client, db)
    await front_user(db, "official2.badinh", "commune_official", "commune", "00004")
    template = await db.fetchval("select id from feedback_templates order by id limit 1")
    values = {"feedback_id": item, "attachment_id": 1, "template_id": template}
    routes = _front_routes(client)
    assert len(routes) >= 28  # every action, the queue, oversight, templates, reports, reveal, review
    before = await _state(db, item)
    citizen = await new_citizen(client)
    tried = 0
    for username in ("admin.hanoi", "admin.hcm", "chair.badinh", "official.badinh", "official2.badinh", "sysadmin"):
        headers = await headers_for(username)
        for method, template_path in routes:
            path = re.sub(r"\{(\w+):\w+\}", lambda m: str(values[m[1]]), template_path)
            for who, extra in ((username, headers), ("citizen", citizen)):
                response = await client.request(
                    method,
                    path,
                    json={} if method in ("POST", "PATCH", "PUT") else None,
                    headers={**extra, "if-match": '"1"', "idempotency-key": uuid.uuid4().hex},
                )
                if who == "sysadmin" and template_path.startswith(SYSTEM_ADMIN_KEEPS):
                    assert response.status_code != 403 or method != "GET", (who, method, path)
                    continue
                expected = (401, 403) if who == "citizen" else (403,)
                assert response.status_code in expected, (who, method, path, response.status_code, response.text)
                assert "contact" not in response.text and "Cán bộ đòi tiền" not in response.text, (who, path)
                tried += 1
    assert tried >= 2 * 6 * 26
    assert await _state(db, item) == before


async def test_recategorise_then_reveal_by_each_front_role(
    client: AsyncTestClient[Any], db: asyncpg.Connection, headers_for: TokenFor
) -> None:
    await front_user(db, "frontsup.badinh", "front_supervisor", "commune", "00004")
    await front_user(db, "frontstaff.hanoi", "front_staff", "province", "01")
    await front_user(db, "frontsup.hoankiem", "front_supervisor", "commune", "00070")
    roles = {
        "front.badinh": (403, 403),  # commune Front staff: neither
        "frontstaff.hanoi": (403, 403),  # province Front staff: neither
        "frontsup.hoankiem": (404, 404),  # a supervisor of another commune: the item does not exist
        "frontsup.badinh": (200, 200),  # the commune's supervisor: both
        "front.hanoi": (200, 200),  # the province's supervisor: both
    }
    for username, (recategorise, reveal) in roles.items():
        item = await _report(client, db)
        headers = await headers_for(username)
        version = (await db.fetchval("select version from feedback where id = $1", item)) or 1
        moved = await client.post(
            f"/v1/front/feedback/{item}/triage",
            json={"category": "complaint", "reason": "Nội dung là khiếu nại hành chính"},
            headers={**headers, "if-match": f'"{version}"'},
        )
        assert moved.status_code == recategorise, (username, moved.text)
        if recategorise == 403:
            assert moved.json()["code"] == "protected_recategorise_forbidden"
            # A supervisor moves it; the same person then tries to reveal the recategorised item.
            await act(
                client,
                await headers_for("front.hanoi"),
                item,
                "triage",
                {"category": "complaint", "reason": "Nội dung là khiếu nại hành chính"},
            )
        row = await db.fetchrow("select category, protected from feedback where id = $1", item)
        assert row["protected"] is True, username
        assert row["category"] == ("wrongdoing_report" if recategorise == 404 else "complaint"), username
        revealed = await client.post(f"/v1/front/feedback/{item}/reveal", json=REVEAL, headers=headers)
        assert revealed.status_code == reveal, (username, revealed.text)
        if reveal == 403:
            assert revealed.json()["code"] == "reveal_forbidden"
        if reveal == 200:
            audit = await db.fetchval(
                "select data from audit_log where action = 'feedback.reveal' and object_id = $1::text", str(item)
            )
            assert audit["protected"] is True and audit["category"] == "complaint"
        else:
            assert "contact" not in revealed.json()

    # Bulk: per item, the same rule.
    first, second = await _report(client, db), await _report(client, db)
    bulk = {"items": [{"id": first}, {"id": second}], "category": "question", "reason": "Câu hỏi về thủ tục"}
    for username, status in (("front.badinh", 403), ("frontstaff.hanoi", 403), ("frontsup.badinh", 200)):
        response = await client.post("/v1/front/bulk/triage", json=bulk, headers=await headers_for(username))
        assert response.status_code == 200, response.text
        assert [r["status"] for r in response.json()["results"]] == [status, status], username
    assert await db.fetchval(
        "select bool_and(protected) and bool_and(category = 'question') from feedback where id = any($1::bigint[])",
        [first, second],
    )


async def test_a_complaint_triaged_as_wrongdoing_stays_protected_for_good(
    client: AsyncTestClient[Any], db: asyncpg.Connection, headers_for: TokenFor
) -> None:
    item = await _report(client, db, category="complaint")
    staff = await headers_for("front.badinh")
    # Not protected yet: Front staff in scope may reveal an ordinary item's contact.
    assert (await client.post(f"/v1/front/feedback/{item}/reveal", json=REVEAL, headers=staff)).status_code == 200
    await act(client, staff, item, "triage", {"category": "wrongdoing_report", "reason": "Có dấu hiệu tham nhũng"})
    assert await db.fetchval("select protected from feedback where id = $1", item) is True
    refused = await act(client, staff, item, "triage", {"category": "complaint", "reason": "Nhầm"}, expect=403)
    assert refused["code"] == "protected_recategorise_forbidden"
    assert (await client.post(f"/v1/front/feedback/{item}/reveal", json=REVEAL, headers=staff)).status_code == 403
    # From now on the forward follows the Law on Denunciation and needs a review.
    assert (await act(client, staff, item, "forward", expect=409))["code"] == "forward_not_reviewed"
    await act(client, staff, item, "review")
    forwarded = await act(client, staff, item, "forward")
    assert forwarded["forwards"][-1]["recipient"] == "commune_committee"
    # Reopened and recategorised by a supervisor, still protected: staff still cannot reveal.
    await db.execute("update feedback set status = 'closed' where id = $1", item)
    supervisor = await headers_for("front.hanoi")
    await act(client, supervisor, item, "reopen", {"reason": "Công dân đề nghị xem xét lại"})
    await act(client, supervisor, item, "triage", {"category": "suggestion", "reason": "Là kiến nghị"})
    assert await db.fetchval("select protected from feedback where id = $1", item) is True
    assert (await client.post(f"/v1/front/feedback/{item}/reveal", json=REVEAL, headers=staff)).status_code == 403


async def test_a_commune_front_supervisor_grants_within_its_commune_only(
    client: AsyncTestClient[Any], db: asyncpg.Connection, headers_for: TokenFor
) -> None:
    await front_user(db, "frontsup.badinh", "front_supervisor", "commune", "00004")
    supervisor = await headers_for("frontsup.badinh")
    item = await _report(client, db)

    async def grant(username: str, role: str, kind: str, code: str) -> Any:
        return await client.post(
            "/v1/users",
            json={
                "username": username,
                "display_name": "Cán bộ Mặt trận mới",
                "password": "mat-khau-rat-dai",
                "roles": [{"role": role, "scope_kind": kind, "scope_code": code}],
            },
            headers=supervisor,
        )

    for username, role, kind, code in (
        ("x.other.commune", "front_staff", "commune", "00070"),
        ("x.province", "front_supervisor", "province", "01"),
        ("x.province.staff", "front_staff", "province", "01"),
    ):
        refused = await grant(username, role, kind, code)
        assert refused.status_code == 403, (username, refused.text)
    assert (await grant("new.staff.badinh", "front_staff", "commune", "00004")).status_code == 201
    assert (await grant("new.sup.badinh", "front_supervisor", "commune", "00004")).status_code == 201
    new_staff, new_sup = await headers_for("new.staff.badinh"), await headers_for("new.sup.badinh")
    assert (await client.post(f"/v1/front/feedback/{item}/reveal", json=REVEAL, headers=new_staff)).status_code == 403
    assert (await client.post(f"/v1/front/feedback/{item}/reveal", json=REVEAL, headers=new_sup)).status_code == 200
    # The province's supervisors read both grants and the reveal; the commune's own supervisor
    # reads its own commune's oversight, the province admin none of it.
    province = await headers_for("front.hanoi")
    grants = (await client.get("/v1/front/oversight/grants", headers=province)).json()["items"]
    assert {(g["role"], g.get("commune_code")) for g in grants} >= {
        ("front_staff", "00004"),
        ("front_supervisor", "00004"),
    }
    reveals = (await client.get("/v1/front/oversight/reveals", headers=province)).json()["items"]
    assert [r["feedback_id"] for r in reveals] == [item]
    notices = await db.fetch(
        "select u.username from notification_outbox n join users u on u.id = n.user_id where n.kind = 'reveal_notice'"
    )
    assert "front.hanoi" in {n["username"] for n in notices}
    assert "new.sup.badinh" not in {n["username"] for n in notices}
    assert (
        await client.get("/v1/front/oversight/reveals", headers=await headers_for("admin.hanoi"))
    ).status_code == 403


async def test_a_report_merged_into_an_ordinary_item_protects_it(
    client: AsyncTestClient[Any], db: asyncpg.Connection, headers_for: TokenFor
) -> None:
    holder = await db.fetchval(
        "select o.id from officials o join users u on u.id = o.user_id where u.username = 'official.badinh'"
    )
    original = await _report(client, db, category="complaint")
    duplicate = await _report(client, db)
    front = await headers_for("front.badinh")
    await act(client, front, original, "triage", {"priority": "normal", "official_id": holder})
    before = (await client.get(f"/v1/front/feedback/{original}/forward-preview", headers=front)).json()
    assert before["review_required"] is False and "problem" not in before
    await act(client, front, duplicate, "merge", {"into_id": original, "reason": "Cùng sự việc"})
    merged = (await client.get(f"/v1/front/feedback/{original}", headers=front)).json()
    assert merged["protected"] is True and merged["review_required"] is True
    assert merged["events"][-1]["kind"] == "duplicate_merged" and merged["events"][-1]["data"]["protected"] is True
    # Now routed and reviewed as a report of wrongdoing: never to the official it names.
    assert (await act(client, front, original, "forward", expect=409))["code"] == "forward_not_reviewed"
    await act(client, front, original, "review")
    forwarded = await act(client, front, original, "forward")
    assert forwarded["forwards"][-1]["recipient"] == "commune_committee"
    assert (await client.get("/v1/assigned-feedback", headers=await headers_for("official.badinh"))).json()[
        "items"
    ] == []
    assert (await client.post(f"/v1/front/feedback/{original}/reveal", json=REVEAL, headers=front)).status_code == 403
