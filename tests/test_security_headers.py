"""The usual security headers on every response: JSON, problems, 404/405 from the router,
photos, the docs page (whose CSP still lets Swagger UI load)."""

from __future__ import annotations

import re
from typing import Any

from litestar.testing import AsyncTestClient

from backend.security_headers import API_CSP, DOCS_CSP, csp_for
from tests.conftest import TokenFor


def assert_common(answer: Any) -> None:
    assert answer.headers["x-content-type-options"] == "nosniff", answer.request.url
    assert answer.headers["referrer-policy"] == "no-referrer"
    assert answer.headers["x-frame-options"] == "DENY"
    assert len(answer.headers.get_list("x-frame-options")) == 1


async def test_every_kind_of_answer_carries_the_headers(client: AsyncTestClient[Any], headers_for: TokenFor) -> None:
    answers = [
        await client.get("/v1/provinces"),
        await client.get("/v1/me", headers=await headers_for("chair.badinh")),
        await client.get("/v1/me"),  # 401 problem from a guard
        await client.get("/v1/nothing-here"),  # 404 from the router
        await client.put("/v1/provinces"),  # 405
        await client.post("/v1/auth/login", content=b"{not json", headers={"content-type": "application/json"}),
        await client.get("/health/live"),
        await client.get("/schema/openapi.json"),
    ]
    for answer in answers:
        assert_common(answer)
        assert answer.headers["content-security-policy"] == API_CSP.decode(), answer.request.url
    assert [a.status_code for a in answers] == [200, 200, 401, 404, 405, 400, 200, 200]


async def test_the_docs_page_keeps_working_under_its_own_csp(client: AsyncTestClient[Any]) -> None:
    page = await client.get("/schema/swagger")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert_common(page)
    csp = page.headers["content-security-policy"]
    assert csp == DOCS_CSP.decode()
    # Everything the page loads comes from our own origin, which the CSP allows, and loads.
    sources = re.findall(r"(?:src|href)=['\"]([^'\"]+)['\"]", page.text)
    assert any(s.endswith("swagger-ui-bundle.js") for s in sources), sources
    for source in sources:
        assert source.startswith("/schema/"), source
        assert (await client.get(source)).status_code == 200, source
    assert "script-src 'self' 'unsafe-inline'" in csp and "frame-ancestors 'none'" in csp


def test_csp_choice() -> None:
    assert csp_for("/schema/swagger", b"text/html; charset=utf-8") == DOCS_CSP
    assert csp_for("/schema/openapi.json", b"application/json") == API_CSP
    # An HTML answer anywhere else (none exists today) gets the strict one.
    assert csp_for("/v1/provinces", b"text/html") == API_CSP
