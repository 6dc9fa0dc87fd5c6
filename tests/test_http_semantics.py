"""What every path answers regardless of its handler: OPTIONS with the methods the document
lists, and parameter problems that name the parameter."""

from typing import Any

import pytest
from litestar.testing import AsyncTestClient

from backend.cli import openapi_document
from tests.conftest import TokenFor

METHODS = ("get", "post", "put", "patch", "delete")


def _paths() -> list[tuple[str, set[str]]]:
    return [
        (path, {m.upper() for m in item if m in METHODS})
        for path, item in openapi_document()["paths"].items()  # type: ignore[attr-defined]
    ]


def _concrete(path: str) -> str:
    """A request path for a templated one: ids 1, codes of Ba Đình."""
    for name, value in (("code", "00004"), ("commune_code", "00004"), ("province_code", "01")):
        path = path.replace("{" + name + "}", value)
    while "{" in path:
        start = path.index("{")
        path = path[:start] + "1" + path[path.index("}") + 1 :]
    return path


async def test_options_lists_every_method_of_every_path_to_any_caller(client: AsyncTestClient[Any]) -> None:
    wrong = {}
    for path, methods in _paths():
        response = await client.options(_concrete(path))
        allowed = set(response.headers.get("allow", "").split(", "))
        if response.status_code != 204 or allowed != methods | {"OPTIONS"}:
            wrong[path] = (response.status_code, response.headers.get("allow"))
    assert not wrong


async def test_a_missing_required_query_parameter_is_named(client: AsyncTestClient[Any], headers_for: TokenFor) -> None:
    sysadmin = await headers_for("sysadmin")
    missing = await client.get("/v1/indicators/breakdown", headers=sysadmin)
    assert missing.status_code == 400
    problem = missing.json()
    assert problem["code"] == "invalid_parameter"
    assert problem["errors"] == [{"field": "query.by", "message": "The query parameter by is required"}]
    report = await client.get("/v1/front/reports/monthly", headers=await headers_for("front.hanoi"))
    assert report.status_code == 400 and report.json()["errors"][0]["field"] == "query.month"


@pytest.mark.parametrize(
    ("value", "status", "code"),
    [(None, 428, "if_match_required"), ("soon", 400, "invalid_parameter"), ('"1"', 404, "feedback_not_found")],
)
async def test_if_match_is_checked_before_the_item(
    client: AsyncTestClient[Any], headers_for: TokenFor, value: str | None, status: int, code: str
) -> None:
    headers = await headers_for("front.badinh")
    if value is not None:
        headers["if-match"] = value
    response = await client.post("/v1/front/feedback/999999/claim", headers=headers)
    assert response.status_code == status and response.json()["code"] == code
    if status != 404:
        assert response.json()["errors"][0]["field"] == "header.if-match"


@pytest.mark.parametrize("value", [None, "", "has space", "k" * 201])
async def test_an_unusable_idempotency_key_is_refused_before_the_body(
    client: AsyncTestClient[Any], citizen_headers: dict[str, str], value: str | None
) -> None:
    headers = dict(citizen_headers)
    if value is not None:
        headers["idempotency-key"] = value
    response = await client.post("/v1/ratings", json={}, headers=headers)
    assert response.status_code == 400
    assert response.json()["code"] == "idempotency_key_required"
