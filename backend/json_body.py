"""JSON request bodies nested deeper than any payload of ours are refused before decoding:
the decoder recurses per level, and a body of ten thousand brackets ended in a 500."""

from __future__ import annotations

from typing import Any

from backend.errors import AppError
from schemas.problem import FieldError

MAX_DEPTH = 32
"""Deepest nesting of arrays and objects accepted; our payloads need fewer than ten."""

_OPEN, _CLOSE, _QUOTE, _ESCAPE = frozenset(b"[{"), frozenset(b"]}"), ord('"'), ord("\\")


def json_depth_exceeds(body: bytes, limit: int = MAX_DEPTH) -> bool:
    """True when arrays and objects nest deeper than `limit` (brackets inside strings do not
    count). Pure; a body with fewer opening brackets than the limit is not scanned."""
    if body.count(b"[") + body.count(b"{") <= limit:
        return False
    depth, in_string, escaped = 0, False, False
    for byte in body:
        if in_string:
            if escaped:
                escaped = False
            elif byte == _ESCAPE:
                escaped = True
            elif byte == _QUOTE:
                in_string = False
        elif byte == _QUOTE:
            in_string = True
        elif byte in _OPEN:
            depth += 1
            if depth > limit:
                return True
        elif byte in _CLOSE:
            depth -= 1
    return False


async def refuse_deep_json(request: Any) -> None:
    """before_request hook for every route: a JSON body nested too deep is a 400 malformed_body."""
    if request.method not in ("POST", "PUT", "PATCH"):
        return
    if "json" not in request.headers.get("content-type", ""):
        return
    if json_depth_exceeds(await request.body()):
        raise AppError(
            "malformed_body", errors=[FieldError(field="body", message=f"JSON nested deeper than {MAX_DEPTH} levels")]
        )
