"""Bad input of every kind, at every operation: always a 4xx problem, never a 500."""

from typing import Any
from urllib.parse import quote

import pytest
from litestar.testing import AsyncTestClient

from backend.cli import openapi_document
from backend.seed.demo import DEMO_API_KEY
from tests.conftest import TokenFor

HOSTILE_VALUES = [
    "",
    "zz",
    "00004",
    "-1",
    "0",
    "99999999999999999999999",
    "%",
    "a\x00b",
    "'; drop table users; --",
    "Đ" * 300,
]
HOSTILE_BODIES: list[bytes] = [
    b"",
    b"{",
    b"[]",
    b'"text"',
    b"null",
    b"{}",
    b'{"username": "a\\u0000b", "password": "x", "install_id": "fid-\\u0000-zzzzzz", "platform": "ios"}',
    b'{"name": "x", "scope_kind": "commune", "scope_code": "\\u0000"}',
    b'{"refresh_token": "' + b"a" * 100 + b'\\u0000"}',
    b'{"username": 123456789012345678901234567890, "password": []}',
    b'{"roles": [{"role": "commune_chair", "scope_kind": "commune", "scope_code": "00004"}], "username": "ab\\u0000c",'
    b' "display_name": "x", "password": "aaaaaaaaaaaa"}',
]


def operations() -> list[tuple[str, str, dict[str, Any]]]:
    found = []
    for path, item in openapi_document()["paths"].items():  # type: ignore[attr-defined]
        for method, operation in item.items():
            if method in ("get", "post", "put", "patch", "delete"):
                found.append((method, path, operation))
    return found


@pytest.mark.parametrize(("method", "path", "operation"), operations(), ids=lambda v: v if isinstance(v, str) else "")
async def test_no_input_makes_a_server_error(
    client: AsyncTestClient[Any], headers_for: TokenFor, method: str, path: str, operation: dict[str, Any]
) -> None:
    headers = {**(await headers_for("sysadmin")), "x-request-id": "bad-input"}
    if path.startswith("/v1/integrations"):
        headers = {"x-api-key": DEMO_API_KEY}
    parameters = operation.get("parameters", [])
    path_names = [p["name"] for p in parameters if p["in"] == "path"]
    query_names = [p["name"] for p in parameters if p["in"] == "query"]
    requests = []
    for value in HOSTILE_VALUES:
        url = path
        for name in path_names:
            url = url.replace("{" + name + "}", quote(value, safe="") or "x")
        requests.append((url, {name: value for name in query_names}, None))
    if "requestBody" in operation:
        requests += [(path.replace("{", "").replace("}", ""), {}, body) for body in HOSTILE_BODIES]
    for url, params, body in requests:
        response = await client.request(
            method.upper(), url, params=params, content=body, headers={**headers, "content-type": "application/json"}
        )
        assert response.status_code < 500, (method, url, params, body, response.text)
        if response.status_code >= 400:
            assert response.headers["content-type"].startswith("application/problem+json")
            assert response.json()["code"]
