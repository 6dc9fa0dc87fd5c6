"""Commune services for the rating screen, and their assignments managed by admins in scope."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from litestar.testing import AsyncTestClient

from tests.conftest import TokenFor


def iso(days_ago: float) -> str:
    return (datetime.now(UTC) - timedelta(days=days_ago)).isoformat()


@pytest.mark.parametrize("q", ["ket hon", "KẾT HÔN", "kết hôn", "Ket Hôn"])
async def test_service_search_ignores_diacritics_and_case(client: AsyncTestClient[Any], q: str) -> None:
    response = await client.get("/v1/communes/00004/services", params={"q": q})
    assert response.status_code == 200, response.text
    names = [s["name_vi"] for s in response.json()["items"]]
    assert "Thủ tục đăng ký kết hôn" in names
    assert all("kết hôn" in n for n in names)


@pytest.mark.parametrize("q", ["ba dinh", "BA ĐÌNH", "Ba Đình"])
async def test_commune_search_ignores_diacritics(client: AsyncTestClient[Any], q: str) -> None:
    names = [c["full_name"] for c in (await client.get("/v1/communes", params={"q": q})).json()["items"]]
    assert "Phường Ba Đình" in names


async def test_services_carry_the_accountable_official(client: AsyncTestClient[Any]) -> None:
    items = (await client.get("/v1/communes/00004/services", params={"q": "khai sinh"})).json()["items"]
    birth = next(s for s in items if s["procedure_code"] == "1.001193")
    assert birth["official"]["position"] == "Công chức Tư pháp - Hộ tịch"
    assert birth["lead_agency"] == "UBND Phường Ba Đình"
    assert (birth["statutory_days"], birth["days_kind"]) == (1, "working")
    one = await client.get(f"/v1/commune-services/{birth['id']}")
    assert one.json() == birth


async def test_services_are_paginated_and_unknown_communes_are_404(client: AsyncTestClient[Any]) -> None:
    everything = (await client.get("/v1/communes/00004/services", params={"limit": 200})).json()["items"]
    seen, cursor = [], None
    while True:
        params: dict[str, Any] = {"limit": 7, **({"cursor": cursor} if cursor else {})}
        page = (await client.get("/v1/communes/00004/services", params=params)).json()
        seen += [s["id"] for s in page["items"]]
        cursor = page.get("next_cursor")
        if not cursor:
            break
    assert seen == [s["id"] for s in everything] and len(seen) > 7
    assert (await client.get("/v1/communes/99999/services")).status_code == 404
    # A real commune with no services yet is an empty list, not a 404.
    assert (await client.get("/v1/communes/00008/services")).json()["items"] == []


async def test_admins_in_scope_create_services(client: AsyncTestClient[Any], headers_for: TokenFor) -> None:
    admin = await headers_for("admin.hanoi")
    official = await client.post(
        "/v1/communes/00008/officials",
        json={"full_name": "Phan Thị Hoa", "position": "Công chức Tư pháp - Hộ tịch"},
        headers=admin,
    )
    assert official.status_code == 201, official.text
    body = {
        "procedure_code": "1.001193",
        "lead_agency": "UBND Phường Ngọc Hà",
        "official_id": official.json()["id"],
    }
    created = await client.post("/v1/communes/00008/services", json=body, headers=admin)
    assert created.status_code == 201, created.text
    assert created.json()["official"]["full_name"] == "Phan Thị Hoa"
    again = await client.post("/v1/communes/00008/services", json=body, headers=admin)
    assert again.status_code == 409
    assert again.json()["existing_id"] == created.json()["id"]
    unknown = await client.post(
        "/v1/communes/00008/services", json={**body, "procedure_code": "9.999999"}, headers=admin
    )
    assert unknown.status_code == 422
    # A well-formed code the catalogue lacks is a rule on stored data, not a malformed body.
    assert unknown.json()["code"] == "unknown_procedure"
    assert unknown.json()["messages"]["vi"] and unknown.json()["messages"]["en"]


@pytest.mark.parametrize(
    ("username", "status"),
    [("admin.hanoi", 201), ("sysadmin", 201), ("admin.hcm", 403), ("chair.badinh", 403), ("front.hanoi", 403)],
)
async def test_who_may_create_services(
    client: AsyncTestClient[Any], headers_for: TokenFor, username: str, status: int
) -> None:
    body = {"procedure_code": "1.001193", "lead_agency": "UBND Phường Ngọc Hà"}
    response = await client.post("/v1/communes/00008/services", json=body, headers=await headers_for(username))
    assert response.status_code == status, response.text


async def birth_service(client: AsyncTestClient[Any], commune: str = "00004") -> dict[str, Any]:
    items = (await client.get(f"/v1/communes/{commune}/services", params={"q": "khai sinh"})).json()["items"]
    service: dict[str, Any] = next(s for s in items if s["procedure_code"] == "1.001193")
    return service


@pytest.mark.parametrize(
    ("username", "status"),
    [
        ("chair.badinh", 200),
        ("official.badinh", 200),
        ("front.hanoi", 200),
        ("admin.hanoi", 200),
        ("chair.hoankiem", 403),
        ("admin.hcm", 403),
    ],
)
async def test_assignment_history_is_scoped(
    client: AsyncTestClient[Any], headers_for: TokenFor, username: str, status: int
) -> None:
    service = await birth_service(client)
    response = await client.get(
        f"/v1/commune-services/{service['id']}/assignments", headers=await headers_for(username)
    )
    assert response.status_code == status, response.text
    if status == 200:
        history = response.json()["items"]
        assert len(history) == 2  # the rotation 45 days ago
        assert "valid_until" not in history[0]  # open: null fields are left out
        assert history[1]["valid_until"] == history[0]["valid_from"]
        assert history[0]["official"]["id"] == service["official"]["id"]


async def test_overlapping_assignments_are_refused(client: AsyncTestClient[Any], headers_for: TokenFor) -> None:
    service = await birth_service(client)
    admin = await headers_for("admin.hanoi")
    official = await client.post(
        "/v1/communes/00004/officials", json={"full_name": "Đỗ Minh Khang", "position": "Công chức"}, headers=admin
    )
    overlap = await client.post(
        f"/v1/commune-services/{service['id']}/assignments",
        json={"official_id": official.json()["id"], "valid_from": iso(10), "valid_until": iso(5)},
        headers=admin,
    )
    assert overlap.status_code == 409
    problem = overlap.json()
    assert problem["code"] == "assignment_overlap"
    history = (await client.get(f"/v1/commune-services/{service['id']}/assignments", headers=admin)).json()
    assert problem["existing_id"] == history["items"][0]["id"]


async def test_rotation_refusals(client: AsyncTestClient[Any], headers_for: TokenFor) -> None:
    service = await birth_service(client)
    admin = await headers_for("admin.hanoi")
    path = f"/v1/commune-services/{service['id']}/rotations"
    same = await client.post(path, json={"official_id": service["official"]["id"]}, headers=admin)
    assert same.status_code == 422 and same.json()["code"] == "invalid_assignment"
    elsewhere = await birth_service(client, "00070")
    foreign = await client.post(path, json={"official_id": elsewhere["official"]["id"]}, headers=admin)
    assert foreign.status_code == 422 and "commune" in foreign.json()["messages"]["en"]
    # A refused rotation leaves the current assignment as it was.
    assert (await client.get(f"/v1/commune-services/{service['id']}")).json() == service
    chair = await client.post(path, json={"official_id": 1}, headers=await headers_for("chair.badinh"))
    assert chair.status_code == 403
    other_province = await client.post(path, json={"official_id": 1}, headers=await headers_for("admin.hcm"))
    assert other_province.status_code == 403
    assert other_province.json()["code"] == "out_of_scope"
    missing = await client.post("/v1/commune-services/999999/rotations", json={"official_id": 1}, headers=admin)
    assert missing.status_code == 404


async def test_rotation_now_hands_the_service_over(client: AsyncTestClient[Any], headers_for: TokenFor) -> None:
    service = await birth_service(client)
    admin = await headers_for("admin.hanoi")
    official = await client.post(
        "/v1/communes/00004/officials", json={"full_name": "Vũ Thị Lan", "position": "Công chức"}, headers=admin
    )
    rotated = await client.post(
        f"/v1/commune-services/{service['id']}/rotations", json={"official_id": official.json()["id"]}, headers=admin
    )
    assert rotated.status_code == 201, rotated.text
    body = rotated.json()
    assert body["ended"]["valid_until"] == body["started"]["valid_from"]
    assert "valid_until" not in body["started"]
    now = (await client.get(f"/v1/commune-services/{service['id']}")).json()
    assert now["official"]["full_name"] == "Vũ Thị Lan"
