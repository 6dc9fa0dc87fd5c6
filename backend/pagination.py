"""Opaque cursors for keyset pagination: the sort key of the last row, base64url JSON."""

from __future__ import annotations

import base64
import binascii
from typing import Any

import msgspec

from backend.errors import AppError


def encode_cursor(*key: Any) -> str:
    return base64.urlsafe_b64encode(msgspec.json.encode(list(key))).decode().rstrip("=")


def decode_cursor(cursor: str | None, *types: type) -> tuple[Any, ...] | None:
    """The sort key a cursor carries, checked against the expected types."""
    if not cursor:
        return None
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        return tuple(msgspec.json.decode(raw, type=tuple[*types]))  # type: ignore[valid-type]
    except (binascii.Error, ValueError, msgspec.DecodeError):
        raise AppError("invalid_cursor") from None


def page_of(rows: list[Any], limit: int, key: Any) -> tuple[list[Any], str | None]:
    """Rows were fetched with limit + 1: split off the extra one into a next cursor."""
    if len(rows) <= limit:
        return rows, None
    rows = rows[:limit]
    return rows, encode_cursor(*key(rows[-1]))
