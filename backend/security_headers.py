"""The usual security headers on every response, and the bearer token /metrics requires.

The API answers JSON (and photos) that no page should frame, sniff as something else or
run: a CSP that allows nothing. The one HTML page, the OpenAPI docs under /schema, runs
Swagger UI from our own assets (backend.docs_ui) with an inline start-up script, so it gets
a CSP that allows exactly that: our own origin, nothing from elsewhere.
"""

from __future__ import annotations

import hmac
from typing import Any

from litestar.connection import ASGIConnection
from litestar.handlers.base import BaseRouteHandler
from litestar.types import ASGIApp, Message, Receive, Scope, Send

from backend.errors import AppError

API_CSP = b"default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
DOCS_CSP = (
    b"default-src 'none'; script-src 'self' 'unsafe-inline'; style-src 'self' 'unsafe-inline'; "
    b"img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
)

NO_STORE_PATHS = ("/v1/",)

COMMON_HEADERS = (
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    (b"x-frame-options", b"DENY"),
)


def csp_for(path: str, content_type: bytes) -> bytes:
    """The docs page's CSP for the HTML under /schema, the API's for everything else."""
    if path.startswith("/schema") and content_type.startswith(b"text/html"):
        return DOCS_CSP
    return API_CSP


class SecurityHeadersMiddleware:
    """Plain ASGI, outside Litestar's routing, so 404s and 405s get the headers too; cheap on
    the rating path (a few tuples appended to the response start)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path = scope["path"]
        # API answers are per caller and some carry secrets shown once (tokens and install
        # secrets under /v1/auth, API keys, dossiers' rating codes): no cache, shared or
        # private, keeps them unless a handler says otherwise (photos, docs assets).
        no_store = path.startswith(NO_STORE_PATHS)

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                present = {name.lower() for name, _ in headers}
                content_type = next((v for k, v in headers if k.lower() == b"content-type"), b"")
                headers += [h for h in COMMON_HEADERS if h[0] not in present]
                if b"content-security-policy" not in present:
                    headers.append((b"content-security-policy", csp_for(path, content_type)))
                if no_store and b"cache-control" not in present:
                    headers.append((b"cache-control", b"no-store"))
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, send_with_headers)


async def metrics_token_required(connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler) -> None:
    """Guard of /metrics: `Authorization: Bearer <METRICS_TOKEN>`; without the setting the
    endpoint does not exist (404), so nothing about the service leaks by default."""
    expected = connection.app.state.settings.metrics_token
    if not expected:
        raise AppError("not_found")
    scheme, _space, token = connection.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not hmac.compare_digest(token.strip().encode(), expected.encode()):
        raise AppError("unauthenticated", headers={"www-authenticate": "Bearer"})
