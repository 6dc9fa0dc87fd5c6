"""Times from clients are range-checked before they reach the database or date arithmetic:
one near year 1 or 9999 overflows there (a 500) and is never a real service time anyway."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from backend.errors import AppError
from schemas.problem import FieldError

EARLIEST = datetime(1970, 1, 1, tzinfo=UTC)
LATEST = datetime(2200, 1, 1, tzinfo=UTC)


def out_of_range(body: Any, *fields: str) -> AppError | None:
    """A validation problem naming the first of `fields` of `body` whose time is outside
    1970-2200, or None."""
    for name in fields:
        value = getattr(body, name, None)
        if isinstance(value, datetime) and not (EARLIEST <= value <= LATEST):
            return AppError(
                "validation_failed",
                errors=[FieldError(field=name, message="Expected a time between 1970 and 2200")],
            )
    return None
