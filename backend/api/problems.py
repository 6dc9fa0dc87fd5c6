"""How errors appear in the OpenAPI document: as the RFC 9457 Problem they really are."""

from __future__ import annotations

from litestar import Litestar
from litestar.handlers import HTTPRouteHandler
from litestar.openapi import ResponseSpec

from backend.errors import PROBLEM_MEDIA_TYPE
from schemas.problem import Problem

PROBLEM_DESCRIPTIONS = {
    400: "Malformed request or parameter",
    401: "Missing, invalid or expired credentials",
    403: "Role or scope does not allow this",
    404: "Not found",
    409: "Conflicts with what is already stored",
    412: "The resource changed since the version in If-Match",
    413: "The request or one of its parts is too large",
    415: "Unsupported media type",
    422: "The body does not validate (see `errors`)",
    428: "A precondition header (If-Match) is required",
    429: "Too many attempts (see Retry-After)",
    500: "Internal error (quote the request id)",
    503: "The database is down, restarting or stalled for a moment: retry after Retry-After seconds "
    "(with the same Idempotency-Key)",
}


def problem_responses(*statuses: int) -> dict[int, ResponseSpec]:
    return {
        status: ResponseSpec(
            data_container=Problem,
            description=f"{PROBLEM_DESCRIPTIONS[status]}: problem document",
            media_type=PROBLEM_MEDIA_TYPE,
            generate_examples=False,  # random examples would make the document differ each run
        )
        for status in sorted(statuses)
    }


def document_problems(app: Litestar) -> None:
    """Give every operation the problem responses it can answer, derived from its shape
    (body, guards, path parameters), plus those its handler names itself."""
    for route in app.routes:
        for handler in getattr(route, "route_handlers", []):
            if not isinstance(handler, HTTPRouteHandler):
                continue
            statuses = {400, 500}
            if not route.path.startswith("/health"):  # readiness answers its own 503 body
                statuses.add(503)
            if "data" in handler.parsed_fn_signature.parameters:
                statuses.add(422)
            if handler.resolve_guards():
                statuses |= {401, 403}
            if "{" in route.path:
                statuses.add(404)
            handler.responses = problem_responses(*statuses) | dict(handler.responses or {})
