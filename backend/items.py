"""Batches whose items are validated one by one, so one bad item never rejects the others."""

from __future__ import annotations

import re
from typing import Any, TypeVar

import msgspec

from backend.errors import AppError
from schemas.problem import FieldError

T = TypeVar("T")

_PATH = re.compile(r" - at `\$(?P<path>[^`]*)`$")
_MISSING = re.compile(r"^Object missing required field `(?P<name>[^`]+)`")


def convert_item(item: Any, type_: type[T]) -> T | AppError:
    """The item as `type_`, or the validation problem naming the field at fault."""
    try:
        return msgspec.convert(item, type_)
    except msgspec.ValidationError as exc:
        message = str(exc)
        match = _PATH.search(message)
        field = match["path"].lstrip(".") if match and match["path"] else "item"
        message = message[: match.start()] if match else message
        missing = _MISSING.match(message)
        if missing:
            field = f"{field}.{missing['name']}" if field != "item" else missing["name"]
        return AppError("validation_failed", errors=[FieldError(field=field, message=message)])
