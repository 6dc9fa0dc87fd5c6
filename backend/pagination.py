"""Opaque cursors for keyset pagination: the sort key of the last row, base64url JSON."""

from __future__ import annotations

import base64
import binascii
from datetime import UTC, datetime
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
        key = tuple(msgspec.json.decode(raw, type=tuple[*types]))  # type: ignore[valid-type]
    except (binascii.Error, ValueError, msgspec.DecodeError):
        raise AppError("invalid_cursor") from None
    if not all(_in_bounds(value) for value in key):
        raise AppError("invalid_cursor")
    return key


# What a cursor of ours can hold: ids are bigint, times from the platform's era up to the
# 9999-12-31 some sorts use for "no due time". Anything else was crafted, and would
# overflow in PostgreSQL or in date arithmetic (a 500).
_BIGINT = (-(2**63), 2**63 - 1)
_EARLIEST, _LATEST = datetime(1970, 1, 1, tzinfo=UTC), datetime.max.replace(tzinfo=UTC)


def _in_bounds(value: Any) -> bool:
    if isinstance(value, bool):
        return True
    if isinstance(value, int):
        return _BIGINT[0] <= value <= _BIGINT[1]
    if isinstance(value, datetime):
        return value.tzinfo is not None and _EARLIEST <= value <= _LATEST
    if isinstance(value, str):
        return len(value) <= 1000 and "\x00" not in value
    return True


def page_of(rows: list[Any], limit: int, key: Any) -> tuple[list[Any], str | None]:
    """Rows were fetched with limit + 1: split off the extra one into a next cursor."""
    if len(rows) <= limit:
        return rows, None
    rows = rows[:limit]
    return rows, encode_cursor(*key(rows[-1]))
