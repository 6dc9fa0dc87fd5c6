"""OPTIONS answers the methods its path really has, to any caller.

Litestar builds an OPTIONS handler for the first handlers registered at a path and keeps it
when more handlers join that path, so its Allow header listed only some methods (OPTIONS on
/v1/users said `OPTIONS, POST`: no GET); and it ran the path's guards, so a caller without
the role got 403 instead of the methods (which the public OpenAPI document lists anyway).
Middleware runs before guards, and the route the request matched knows all its methods.
CORS preflights never get here: Litestar's CORS middleware answers them first."""

from __future__ import annotations

from litestar.enums import ScopeType
from litestar.middleware import ASGIMiddleware
from litestar.routes import HTTPRoute
from litestar.types import ASGIApp, HTTPResponseBodyEvent, HTTPResponseStartEvent, Receive, Scope, Send


def allowed_methods(scope: Scope) -> list[str]:
    template = scope.get("path_template")
    for route in scope["litestar_app"].routes:
        if isinstance(route, HTTPRoute) and route.path_format == template:
            return sorted(route.methods)
    return ["OPTIONS"]


class AllowMiddleware(ASGIMiddleware):
    scopes = (ScopeType.HTTP,)

    async def handle(self, scope: Scope, receive: Receive, send: Send, next_app: ASGIApp) -> None:
        if scope.get("method") != "OPTIONS":
            await next_app(scope, receive, send)
            return
        allow = ", ".join(allowed_methods(scope)).encode()
        start: HTTPResponseStartEvent = {"type": "http.response.start", "status": 204, "headers": [(b"allow", allow)]}
        body: HTTPResponseBodyEvent = {"type": "http.response.body", "body": b"", "more_body": False}
        await send(start)
        await send(body)
