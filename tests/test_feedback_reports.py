"""The Front's monthly report and answer templates, through the HTTP API."""

from __future__ import annotations

import csv
import io
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import pytest
from litestar.testing import AsyncTestClient

from backend.windows import local_day
from tests.conftest import TokenFor


async def item(
    db: asyncpg.Connection,
    category: str,
    status: str,
    *,
    commune: str = "00004",
    answered_after: float | None = None,
    due_after: float = 48,
    rating: int | None = None,
) -> None:
    created = datetime.now(UTC) - timedelta(hours=60)
    answered = created + timedelta(hours=answered_after) if answered_after is not None else None
    await db.execute(
        """
        insert into feedback (reference, category, commune_code, status, body, is_anonymous, created_at,
                              response_due_at, answered_at, answer, answer_rating)
        values ($1, $2, $3, $4, 'Nội dung', true, $5, $6, $7, $8, $9)
        """,
        f"T-{uuid.uuid4().hex[:10]}",
        category,
        commune,
        status,
        created,
        created + timedelta(hours=due_after),
        answered,
        "Trả lời" if answered else None,
        rating,
    )


def this_month() -> str:
    # Items are made 60 hours ago: use their month, whatever day the tests run.
    return local_day(datetime.now(UTC) - timedelta(hours=60)).strftime("%Y-%m")


async def test_monthly_report_json_and_csv(
    client: AsyncTestClient[Any], db: asyncpg.Connection, headers_for: TokenFor
) -> None:
    await item(db, "complaint", "answered", answered_after=24, rating=5)
    await item(db, "complaint", "closed", answered_after=50, rating=2)
    await item(db, "complaint", "forwarded")
    await item(db, "question", "received")
    await item(db, "complaint", "received", commune="00070")  # another commune of Hà Nội
    front = await headers_for("front.badinh")
    response = await client.get(
        "/v1/front/reports/monthly", params={"commune": "00004", "month": this_month()}, headers=front
    )
    assert response.status_code == 200, response.text
    report = response.json()
    assert report["scope_name"] == "Phường Ba Đình" and report["time_zone"] == "Asia/Ho_Chi_Minh"
    complaint = next(c for c in report["categories"] if c["category"] == "complaint")
    assert complaint["received"] == 3
    assert complaint["by_status"] == {
        "received": 0,
        "triaged": 0,
        "forwarded": 1,
        "answered": 1,
        "closed": 1,
        "rejected": 0,
        "merged": 0,
    }
    assert complaint["answered"] == 2
    assert complaint["answered_on_time"]["value"] == 0.5 and complaint["answered_on_time"]["sample_size"] == 2
    assert complaint["median_hours_to_answer"]["value"] == pytest.approx(37)
    assert complaint["answer_satisfaction"]["value"] == 0.5
    assert report["total"]["received"] == 4

    province = await client.get(
        "/v1/front/reports/monthly",
        params={"province": "01", "month": this_month()},
        headers=await headers_for("front.hanoi"),
    )
    assert province.json()["total"]["received"] == 5

    as_csv = await client.get(
        "/v1/front/reports/monthly", params={"commune": "00004", "month": this_month(), "format": "csv"}, headers=front
    )
    assert as_csv.status_code == 200 and as_csv.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(as_csv.text.lstrip("\ufeff"))))
    assert [r["category"] for r in rows] == [
        "suggestion",
        "complaint",
        "wrongdoing_report",
        "question",
        "praise",
        "all",
    ]
    assert (
        rows[1]["received"] == "3"
        and rows[1]["status_forwarded"] == "1"
        and rows[1]["answered_on_time_share"] == "0.500"
    )


@pytest.mark.parametrize(
    ("username", "params", "status"),
    [
        ("front.badinh", {"commune": "00070"}, 403),
        ("front.badinh", {"province": "01"}, 403),
        ("front.hanoi", {"commune": "00070"}, 200),
        ("front.hanoi", {"province": "79"}, 403),
        ("chair.badinh", {"commune": "00004"}, 403),
        ("admin.hanoi", {"province": "01"}, 403),
        ("front.hanoi", {"commune": "00004", "province": "01"}, 400),
        ("front.hanoi", {"commune": "99999"}, 404),
    ],
)
async def test_monthly_report_scope(
    client: AsyncTestClient[Any], headers_for: TokenFor, username: str, params: dict[str, str], status: int
) -> None:
    response = await client.get(
        "/v1/front/reports/monthly", params={**params, "month": "2026-10"}, headers=await headers_for(username)
    )
    assert response.status_code == status, response.text


async def test_a_bad_month_is_a_clear_problem(client: AsyncTestClient[Any], headers_for: TokenFor) -> None:
    response = await client.get(
        "/v1/front/reports/monthly",
        params={"commune": "00004", "month": "2026-13"},
        headers=await headers_for("front.badinh"),
    )
    assert response.status_code == 400 and response.json()["code"] == "invalid_period"
    for month in ("9999-12", "0001-01"):
        far = await client.get(
            "/v1/front/reports/monthly",
            params={"commune": "00004", "month": month},
            headers=await headers_for("front.badinh"),
        )
        assert far.status_code == 400 and far.json()["code"] == "invalid_period", far.text


async def test_answer_templates_by_scope(client: AsyncTestClient[Any], headers_for: TokenFor) -> None:
    staff, supervisor = await headers_for("front.badinh"), await headers_for("front.hanoi")
    national = (await client.get("/v1/front/templates", params={"category": "complaint"}, headers=staff)).json()
    assert [t["scope_kind"] for t in national["items"]] == ["national"]

    created = await client.post(
        "/v1/front/templates",
        json={"category": "complaint", "title": "Đất đai", "body": "Về thủ tục đất đai, …", "province_code": "01"},
        headers=supervisor,
    )
    assert created.status_code == 201, created.text
    template_id = created.json()["id"]
    mine = (await client.get("/v1/front/templates", params={"category": "complaint"}, headers=staff)).json()["items"]
    assert {t["title"] for t in mine} >= {"Đất đai"}
    # Staff may use templates but not write them; another province's supervisors neither.
    refused = await client.post(
        "/v1/front/templates", json={"category": "praise", "title": "x", "body": "y"}, headers=staff
    )
    assert refused.status_code == 403
    national_by_province = await client.post(
        "/v1/front/templates", json={"category": "praise", "title": "x", "body": "y"}, headers=supervisor
    )
    assert national_by_province.status_code == 403
    changed = await client.patch(
        f"/v1/front/templates/{template_id}", json={"title": "Đất đai (mới)"}, headers=supervisor
    )
    assert changed.status_code == 200 and changed.json()["title"] == "Đất đai (mới)"
    assert (await client.delete(f"/v1/front/templates/{template_id}", headers=supervisor)).status_code == 204
    assert (await client.delete(f"/v1/front/templates/{template_id}", headers=supervisor)).status_code == 404
    assert (await client.get("/v1/front/templates", headers=await headers_for("chair.badinh"))).status_code == 403
