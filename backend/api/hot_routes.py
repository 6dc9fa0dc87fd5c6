"""Route handlers for the rating hot path.

Litestar hands every guard a shallow copy of the route handler (`copy(self)` per guard per
request), so a guard could not change the handler; the copy of a handler with its many
resolved attributes was about 5 % of a rating's API CPU (py-spy under bench.ingest). Our
guards (backend.auth) read only the connection and never the handler, so these handlers
give them the handler itself. Everything else — which guards run, in which order, what
they raise — is Litestar's own.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from litestar.connection import ASGIConnection
from litestar.enums import HttpMethod
from litestar.handlers import HTTPRouteHandler


class UncopiedGuardsHandler(HTTPRouteHandler):
    async def authorize_connection(self, connection: ASGIConnection[Any, Any, Any, Any]) -> None:
        for guard in self.resolve_guards():
            await guard(connection, self)  # type: ignore[misc]


def post(path: str | Sequence[str] | None = None, **kwargs: Any) -> UncopiedGuardsHandler:
    """Like litestar.post (same arguments), with guards handed the handler itself."""
    return UncopiedGuardsHandler(path, http_method=HttpMethod.POST, **kwargs)
