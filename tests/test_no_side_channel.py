"""No side channel to the official concerned (issue 10, point 5), through the API for every
role: a report of wrongdoing about an official is filed, triaged, forwarded, answered and
accepted, and falls overdue on the way; each role reads every figure it can at each step.
The official concerned, another official and the chair see no figure move (the chair, as
the authority, sees the forward in its own list, and pushes name the forward only); the
Front and the province count the report from the minute it is filed."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import pytest
from litestar.testing import AsyncTestClient

from backend.services import indicators
from backend.services.evaluator import SWEEP_SQL, evaluate
from backend.services.feedback_deadlines import check_deadlines
from backend.settings import Settings
from backend.windows import local_day
from tests.conftest import TokenFor
from tests.fcm_server import FakeFcm
from tests.test_alerts import register_device, run_worker
from tests.test_feedback_citizen import feedback, new_citizen, submit
from tests.test_feedback_workflow import act
from tests.test_front_queue import front_user, service_of

RESTRICTED = ("official.badinh", "official2.badinh", "chair.badinh")
FULL = ("front.badinh", "frontsup.badinh", "front.hanoi", "admin.hanoi", "sysadmin")


@pytest.mark.parametrize(
    ("name", "sql"),
    [(f"sums-{kind}", sql) for (kind, full), sql in indicators.SUMS_SQL.items() if not full]
    + [(f"breakdown-{by}", sql) for (by, full), sql in indicators.BREAKDOWN_SQL.items() if not full]
    + [("evaluator", SWEEP_SQL)],
)
def test_every_statement_a_chair_reads_counts_the_authority_view(name: str, sql: str) -> None:
    # Pure: the statements behind the chair's figures never count open or protected items.
    assert indicators.OPEN_FEEDBACK not in sql and "status in ('received', 'triaged'" not in sql, name
    if "from feedback " in sql or "from feedback\n" in sql:
        assert "not protected" in sql, name
    if "feedback_rollups_daily" in sql and "where false" not in sql:
        assert "not protected" in sql or "not a.protected" in sql, name


def test_the_front_and_province_view_counts_every_open_item() -> None:
    for (kind, full), sql in indicators.SUMS_SQL.items():
        if full:
            assert indicators.OPEN_FEEDBACK in sql and "not protected" not in sql, kind


def _figures_to_read(official: int, service: int) -> list[tuple[str, dict[str, Any]]]:
    month = local_day(datetime.now(UTC)).strftime("%Y-%m")
    return [
        ("/v1/indicators", {"commune": "00004", "window": "30d"}),
        ("/v1/indicators", {"official": official, "window": "30d"}),
        ("/v1/indicators", {"service": service, "window": "30d"}),
        ("/v1/indicators", {"province": "01", "window": "30d"}),
        ("/v1/indicators", {"window": "30d"}),
        ("/v1/indicators/breakdown", {"by": "official", "commune": "00004"}),
        ("/v1/indicators/breakdown", {"by": "service", "commune": "00004"}),
        ("/v1/indicators/breakdown", {"by": "commune", "province": "01"}),
        ("/v1/front/queue", {"status": "all"}),
        ("/v1/front/reports/monthly", {"commune": "00004", "month": month}),
        ("/v1/alerts", {"state": "open"}),
    ]


def _stable(value: Any) -> Any:
    """A response without the instants that move between two reads."""
    if isinstance(value, dict):
        return {k: _stable(v) for k, v in value.items() if k not in ("computed_at", "generated_at")}
    if isinstance(value, list):
        return [_stable(v) for v in value]
    return value


async def _read_all(
    client: AsyncTestClient[Any], headers: dict[str, str], figures: list[tuple[str, dict[str, Any]]]
) -> dict[str, Any]:
    seen: dict[str, Any] = {}
    for path, params in figures:
        response = await client.get(path, params=params, headers=headers)
        assert response.status_code < 500, response.text
        body = response.json() if response.status_code == 200 else None
        seen[f"{path}?{sorted(params.items())}"] = (response.status_code, _stable(body))
    return seen


async def _snapshot(
    client: AsyncTestClient[Any], headers_for: TokenFor, figures: list[tuple[str, dict[str, Any]]]
) -> dict[str, dict[str, Any]]:
    return {name: await _read_all(client, await headers_for(name), figures) for name in (*RESTRICTED, *FULL)}


def _value(seen: dict[str, Any], path: str, params: dict[str, Any], *keys: str) -> Any:
    status, body = seen[f"{path}?{sorted(params.items())}"]
    assert status == 200, (path, params, status)
    for key in keys:
        body = body[key]
    return body


async def _assigned(client: AsyncTestClient[Any], headers: dict[str, str]) -> list[dict[str, Any]]:
    response = await client.get("/v1/assigned-feedback", params={"status": "all"}, headers=headers)
    assert response.status_code == 200, response.text
    items: list[dict[str, Any]] = response.json()["items"]
    return items


async def test_a_report_of_wrongdoing_moves_no_figure_the_official_concerned_or_the_chair_reads(
    client: AsyncTestClient[Any],
    db: asyncpg.Connection,
    headers_for: TokenFor,
    fcm_settings: Settings,
    fcm_server: FakeFcm,
) -> None:
    concerned = int(
        await db.fetchval(
            "select o.id from officials o join users u on u.id = o.user_id where u.username = 'official.badinh'"
        )
    )
    other = int(
        await db.fetchval(
            "select id from officials where commune_code = '00004' and user_id is null order by id limit 1"
        )
    )
    await front_user(db, "official2.badinh", "commune_official", "commune", "00004")
    await db.execute(
        "update officials set user_id = (select id from users where username = 'official2.badinh') where id = $1", other
    )
    await front_user(db, "frontsup.badinh", "front_supervisor", "commune", "00004")
    service = await service_of(db)
    # The chair watches the commune's open feedback: any count above nothing fires.
    rule = await client.post(
        "/v1/threshold-rules",
        json={
            "indicator": "feedback_backlog",
            "scope_kind": "commune",
            "commune_code": "00004",
            "comparator": "above",
            "value": 0,
            "window": "7d",
            "min_sample": 1,
            "for_seconds": 0,
        },
        headers=await headers_for("admin.hanoi"),
    )
    assert rule.status_code == 201, rule.text

    chair_fid = await register_device(client, await headers_for("chair.badinh"))
    figures = _figures_to_read(concerned, service)
    before = await _snapshot(client, headers_for, figures)
    reporter, bystander = await new_citizen(client), await new_citizen(client)
    sent = await submit(
        client,
        reporter,
        feedback(
            category="wrongdoing_report",
            body="Cán bộ đòi 2 triệu mới nhận hồ sơ, gọi tôi 0912345678.",
            official_id=concerned,
            commune_service_id=service,
        ),
    )
    assert sent.status_code == 201, sent.text
    item = int(sent.json()["id"])
    await evaluate(db)
    filed = await _snapshot(client, headers_for, figures)

    # The official concerned, a colleague and the chair: nothing moved, no alert.
    for name in RESTRICTED:
        assert filed[name] == before[name], name
    # The Front and the province count it at once, each in its own scope.
    commune = ("/v1/indicators", {"commune": "00004", "window": "30d"}, "values", "feedback_backlog")
    official_scope = ("/v1/indicators", {"official": concerned, "window": "30d"}, "values", "feedback_backlog")
    province = ("/v1/indicators", {"province": "01", "window": "30d"}, "values", "feedback_backlog")
    nation = ("/v1/indicators", {"window": "30d"}, "values", "feedback_backlog")
    for name in ("front.badinh", "frontsup.badinh", "front.hanoi", "admin.hanoi", "sysadmin"):
        for path, params, *keys in (commune, official_scope):
            assert _value(filed[name], path, params, *keys) == _value(before[name], path, params, *keys) + 1, name
    for name in ("front.hanoi", "admin.hanoi", "sysadmin"):
        path, params, *keys = province
        assert _value(filed[name], path, params, *keys) == _value(before[name], path, params, *keys) + 1, name
    path, params, *keys = nation
    assert _value(filed["sysadmin"], path, params, *keys) == _value(before["sysadmin"], path, params, *keys) + 1
    queue = ("/v1/front/queue", {"status": "all"}, "counts", "received")
    for name in ("front.badinh", "frontsup.badinh", "front.hanoi"):
        assert _value(filed[name], *queue[:2], *queue[2:]) == _value(before[name], *queue[:2], *queue[2:]) + 1
    # Citizens: the reporter follows the item, nobody else learns of it.
    mine = await client.get("/v1/me/feedback", headers=reporter)
    assert [i["id"] for i in mine.json()["items"]] == [item]
    assert (await client.get("/v1/me/feedback", headers=bystander)).json()["items"] == []
    assert (await client.get("/v1/indicators", params={"commune": "00004"}, headers=reporter)).status_code in (
        401,
        403,
    )

    # Forwarded: to the chair (the official's head), who reads the forward and nothing else.
    front = await headers_for("front.badinh")
    await act(client, front, item, "triage", {"priority": "high"})
    await act(client, front, item, "review")
    forwarded = await act(client, front, item, "forward")
    forward = forwarded["forwards"][-1]
    assert forward["recipient"] == "commune_committee"
    await evaluate(db)
    sent_on = await _snapshot(client, headers_for, figures)
    for name in RESTRICTED:
        assert sent_on[name] == before[name], name
    assert await _assigned(client, await headers_for("official.badinh")) == []
    assert await _assigned(client, await headers_for("official2.badinh")) == []
    [copy] = await _assigned(client, await headers_for("chair.badinh"))
    assert copy["id"] == forward["id"] and "0912345678" not in copy["body"]
    assert "feedback_id" not in copy and "reference" not in copy
    # Its push names the forward: delivered through firebase-admin to the chair's phone, the
    # item's id is in neither the outbox row nor the message.
    chair_id = await db.fetchval("select id from users where username = 'chair.badinh'")
    pushed = await db.fetchrow(
        "select user_id, feedback_id, forward_id from notification_outbox where kind = 'feedback_assigned'"
    )
    assert pushed["user_id"] == chair_id and pushed["feedback_id"] is None and pushed["forward_id"] == forward["id"]
    await run_worker(fcm_settings)
    (message,) = [m for m in fcm_server.sent_to(chair_fid) if m["data"]["kind"] == "feedback_assigned"]
    assert message["data"]["forward_id"] == str(forward["id"]) and "feedback_id" not in message["data"]
    assert message["data"]["link"] == f"communepulse://assigned-feedback/{forward['id']}"
    assert message["apns"]["headers"]["apns-collapse-id"] == f"forward-{forward['id']}"

    # Overdue: the chair is reminded about the forward; the overdue count moves for the Front only.
    await db.execute("update feedback_forwards set due_at = now() - interval '2 hours' where id = $1", forward["id"])
    await db.execute("update feedback set response_due_at = now() - interval '2 hours' where id = $1", item)
    report = await check_deadlines(db, timedelta(days=3))
    assert report.reminded == 1
    reminder = await db.fetchrow("select * from notification_outbox where kind = 'feedback_reminder'")
    reference = sent.json()["reference"]
    assert reminder["user_id"] == chair_id and reminder["feedback_id"] is None
    assert reminder["forward_id"] == forward["id"] and reminder["data"]["forward_id"] == str(forward["id"])
    assert reference not in reminder["body_vi"] + reminder["title_vi"] + reminder["body_en"]
    assert "feedback_id" not in reminder["data"] and reminder["data"]["link"].endswith(
        f"assigned-feedback/{forward['id']}"
    )
    await evaluate(db)  # the national rule watches overdue feedback: still nothing for the chair
    overdue = await _snapshot(client, headers_for, figures)
    for name in RESTRICTED:
        assert overdue[name] == before[name], name
    for name in ("front.badinh", "frontsup.badinh", "admin.hanoi"):
        key = ("/v1/indicators", {"commune": "00004", "window": "30d"}, "values", "feedback_overdue")
        assert _value(overdue[name], *key[:2], *key[2:]) == _value(before[name], *key[:2], *key[2:]) + 1, name

    # Answered and accepted: the answer figures count it for the Front and the province only.
    chair = await headers_for("chair.badinh")
    answered = await client.post(
        f"/v1/assigned-feedback/{forward['id']}/answer", json={"answer": "Đã xác minh, xử lý kỷ luật."}, headers=chair
    )
    assert answered.status_code == 200, answered.text
    await act(client, front, item, "accept")
    await evaluate(db)
    done = await _snapshot(client, headers_for, figures)
    for name in RESTRICTED:
        assert done[name] == before[name], name
    on_time = ("/v1/indicators", {"commune": "00004", "window": "30d"}, "values", "feedback_answered_on_time")
    for name in ("front.badinh", "frontsup.badinh", "front.hanoi", "admin.hanoi", "sysadmin"):
        after_n = _value(done[name], *on_time[:2], *on_time[2:], "sample_size")
        assert after_n == _value(before[name], *on_time[:2], *on_time[2:], "sample_size") + 1, name

    # The control: an ordinary complaint, once forwarded, is the chair's to see and fires the alert.
    complaint = await submit(client, bystander, feedback(body="Phòng một cửa đóng cửa sớm hơn giờ niêm yết."))
    plain = int(complaint.json()["id"])
    await act(client, front, plain, "triage", {"priority": "normal"})
    unforwarded = await _read_all(client, chair, figures)
    assert unforwarded == before["chair.badinh"]
    await act(client, front, plain, "forward")
    await evaluate(db)
    seen = await _read_all(client, chair, figures)
    assert _value(seen, *commune[:2], *commune[2:]) == _value(before["chair.badinh"], *commune[:2], *commune[2:]) + 1
    alerts = _value(seen, "/v1/alerts", {"state": "open"}, "items")
    assert [a["indicator"] for a in alerts] == ["feedback_backlog"]
