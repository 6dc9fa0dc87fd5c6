from typing import Literal

from schemas.base import Base


class Messages(Base, kw_only=True):
    vi: str
    en: str


class FieldError(Base, kw_only=True):
    field: str
    message: str


class Problem(Base, kw_only=True):
    """RFC 9457 problem details. `title` and `detail` follow Accept-Language; `messages` has both."""

    type: str
    title: str
    status: int
    code: str
    messages: Messages
    detail: str | None = None
    instance: str | None = None
    request_id: str | None = None
    errors: list[FieldError] | None = None
    existing_id: int | None = None
    """On a conflict with something already stored (e.g. the rating of a dossier): its id."""
    budget: Literal["account", "address", "global"] | None = None
    """On too_many_login_attempts: the failed-login budget that is spent (this username from
    this address, this address, or all addresses together)."""
