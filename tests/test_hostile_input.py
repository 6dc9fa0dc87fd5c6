"""Crafted input gets a 4xx problem, never a 500: one regression test per class, through the
HTTP API (cursors out of range, times near year 1, bidi overrides and C1 controls in text)."""

from __future__ import annotations

import base64
import json
from typing import Any

import msgspec
import pytest
from litestar.testing import AsyncTestClient

from backend.json_body import json_depth_exceeds
from tests.test_feedback_citizen import feedback
from tests.test_ratings import ago, rate, service_id


def cursor_of(*key: Any) -> str:
    return base64.urlsafe_b64encode(msgspec.json.encode(list(key))).decode().rstrip("=")


@pytest.mark.parametrize("key", [[2**63], [-(2**63) - 1], [10**30], ["x" * 2000]])
async def test_cursors_out_of_range_are_a_400(
    client: AsyncTestClient[Any], citizen_headers: dict[str, str], key: list[Any]
) -> None:
    response = await client.get("/v1/me/ratings", params={"cursor": cursor_of(*key)}, headers=citizen_headers)
    assert response.status_code == 400, response.text
    assert response.json()["code"] in ("invalid_cursor", "invalid_parameter")  # too long for the query


@pytest.mark.parametrize("served_at", ["0001-01-01T00:00:00Z", "9999-12-31T23:59:59Z"])
async def test_service_times_at_the_ends_of_the_calendar_are_a_4xx(
    client: AsyncTestClient[Any], citizen_headers: dict[str, str], served_at: str
) -> None:
    sid = await service_id(client)
    response = await rate(client, citizen_headers, {"commune_service_id": sid, "score": 3, "served_at": served_at})
    assert 400 <= response.status_code < 500, response.text


async def test_a_batch_with_a_hostile_time_answers_per_item(
    client: AsyncTestClient[Any], citizen_headers: dict[str, str]
) -> None:
    sid = await service_id(client)
    items = [
        {"idempotency_key": "h-1", "commune_service_id": sid, "score": 4, "served_at": ago(hours=2)},
        {"idempotency_key": "h-2", "commune_service_id": sid, "score": 4, "served_at": "0001-01-01T00:00:00Z"},
        {"idempotency_key": "h-3", "commune_service_id": sid, "score": 4, "served_at": ago(hours=3)},
    ]
    for _ in range(2):  # the retry gets the same per-item answer, the good items replayed
        response = await client.post("/v1/ratings/batch", json={"items": items}, headers=citizen_headers)
        assert response.status_code == 200, response.text
        statuses = [r["status"] for r in response.json()["results"]]
        assert statuses[1] == 422 and statuses[0] in (200, 201) and statuses[2] in (200, 201)


@pytest.mark.parametrize("hostile", ["\u202egnp.exe", "ok\u2066hidden\u2069", "a\u0085b", "a\x9bb"])
async def test_bidi_overrides_and_c1_controls_are_refused_in_text(
    client: AsyncTestClient[Any], citizen_headers: dict[str, str], hostile: str
) -> None:
    sid = await service_id(client)
    body = {"commune_service_id": sid, "score": 2, "served_at": ago(hours=1), "comment": hostile}
    response = await rate(client, citizen_headers, body)
    assert response.status_code == 422, response.text
    assert response.json()["errors"][0]["field"] == "comment"


async def test_vietnamese_combining_marks_stay(client: AsyncTestClient[Any], citizen_headers: dict[str, str]) -> None:
    sid = await service_id(client)
    decomposed = "Ca\u0301n bo\u0323\u0302 nhie\u0323\u0302t ti\u0300nh\nCảm ơn"
    body = {"commune_service_id": sid, "score": 5, "served_at": ago(hours=1), "comment": decomposed}
    response = await rate(client, citizen_headers, body)
    assert response.status_code == 201, response.text
    assert response.json()["comment"] == decomposed


@pytest.mark.parametrize("depth", [1000, 100_000])
async def test_json_nested_too_deep_is_a_400(
    client: AsyncTestClient[Any], citizen_headers: dict[str, str], depth: int
) -> None:
    deep = ("[" * depth + "]" * depth).encode()
    body = b'{"items": [{"idempotency_key": "d-1", "score": 3, "dimensions": ' + deep + b"}]}"
    for path in ("/v1/ratings", "/v1/ratings/batch"):
        response = await client.post(
            path,
            content=body,
            headers={**citizen_headers, "content-type": "application/json", "idempotency-key": "d-1"},
        )
        assert response.status_code == 400, response.text
        assert response.json()["code"] == "malformed_body"


@pytest.mark.parametrize(
    ("body", "limit", "deep"),
    [
        (b'{"a": [1, {"b": 2}]}', 3, False),
        (b'{"a": [1, {"b": 2}]}', 2, True),
        (b'{"a": "[[[[[[[[[["}', 2, False),  # brackets in strings do not count
        (b'{"a": "\\"[[[[[[["}', 2, False),  # nor after escaped quotes
        (b"[]" * 100, 1, False),  # many, but side by side
        (b"[" * 5, 4, True),
    ],
)
def test_json_depth(body: bytes, limit: int, deep: bool) -> None:
    assert json_depth_exceeds(body, limit) is deep


def _multipart(part_headers: bytes, payload: bytes) -> tuple[bytes, str]:
    boundary = b"hostileBOUNDARY"
    body = (
        b"--" + boundary + b'\r\nContent-Disposition: form-data; name="feedback"\r\n' + part_headers + b"\r\n"
        b"\r\n" + payload + b"\r\n--" + boundary + b"--\r\n"
    )
    return body, "multipart/form-data; boundary=" + boundary.decode()


@pytest.mark.parametrize(
    ("part_headers", "damage"),
    [
        (b"", b"\xed\xa0\x80"),  # a UTF-16 surrogate written as UTF-8
        (b"", b"\xff\xfe"),  # not UTF-8 at all
        (b"Content-Type: text/plain; charset=no-such-charset", b""),
        (b"Content-Type: text/plain; charset=utf-16", b"\x00\xd8"),  # a lone surrogate in UTF-16
    ],
)
async def test_feedback_parts_that_are_not_text_are_a_400_and_nothing_is_stored(
    client: AsyncTestClient[Any], db: Any, citizen_headers: dict[str, str], part_headers: bytes, damage: bytes
) -> None:
    payload = json.dumps(feedback(), ensure_ascii=False).encode()
    if b"utf-16" in part_headers:
        payload = payload.decode().encode("utf-16-le")
    payload = payload[:40] + damage + payload[40:]
    body, content_type = _multipart(part_headers, payload)
    headers = {**citizen_headers, "idempotency-key": "hostile-part", "content-type": content_type}
    response = await client.post("/v1/feedback", content=body, headers=headers)
    assert response.status_code == 400, response.text
    assert response.json()["code"] == "malformed_body"
    assert await db.fetchval("select count(*) from feedback") == 0
    # The same key then sends the item as it should have been: stored once.
    good, content_type = _multipart(b"", json.dumps(feedback(), ensure_ascii=False).encode())
    response = await client.post("/v1/feedback", content=good, headers={**headers, "content-type": content_type})
    assert response.status_code == 201, response.text
    assert await db.fetchval("select count(*) from feedback") == 1


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("username", "chair.badinh\n"),  # a look-alike of the chair's account in every audit row
        ("display_name", "Chủ tịch\n"),
        ("phone", "0912345678\n"),
    ],
)
async def test_a_trailing_newline_is_refused_in_single_line_fields(
    client: AsyncTestClient[Any], db: Any, headers_for: Any, field: str, value: str
) -> None:
    """Python's `$` also matches before a final newline: every anchored pattern closes that."""
    body = {
        "username": "official.newline",
        "display_name": "Nguyễn Văn Mới",
        "password": "mat-khau-rat-dai",
        "roles": [{"role": "commune_official", "scope_kind": "commune", "scope_code": "00004"}],
        field: value,
    }
    response = await client.post("/v1/users", json=body, headers=await headers_for("admin.hanoi"))
    assert response.status_code == 422, response.text
    assert response.json()["errors"][0]["field"] == field
    assert (
        await db.fetchval(
            "select count(*) from users where username like 'official.newline%' or username like 'chair.badinh_%'"
        )
        == 0
    )
    # The same body without the newline is accepted: the pattern, not the field, refused it.
    fine = await client.post(
        "/v1/users",
        json={**body, field: value.rstrip("\n")} | ({"username": "official.newline"} if field == "username" else {}),
        headers=await headers_for("admin.hanoi"),
    )
    assert fine.status_code == 201, fine.text


async def test_a_trailing_newline_is_refused_in_codes(
    client: AsyncTestClient[Any], citizen_headers: dict[str, str]
) -> None:
    body = {"commune_code": "00004\n", "procedure_code": "1.001193", "score": 4, "served_at": ago(hours=1)}
    response = await rate(client, citizen_headers, body)
    assert response.status_code == 422, response.text
    assert response.json()["errors"][0]["field"] == "commune_code"
    path = await client.get("/v1/communes/00004%0A/services")
    assert path.status_code == 400, path.text
