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


def batch_items(data: Any, field: str, max_items: int) -> list[Any]:
    """The items of a batch body `{field: [...]}`, checked only as a list, so that each item
    can then be validated on its own (the handler takes the body unvalidated)."""
    if not isinstance(data, dict):
        raise AppError("validation_failed", errors=[FieldError(field="body", message="Expected `object`")])
    unknown = sorted(set(data) - {field})
    if unknown:
        raise AppError("validation_failed", errors=[FieldError(field=unknown[0], message="Unknown field")])
    items = data.get(field)
    if not isinstance(items, list) or not 1 <= len(items) <= max_items:
        message = f"Expected an array of 1 to {max_items} items"
        raise AppError("validation_failed", errors=[FieldError(field=field, message=message)])
    return items
