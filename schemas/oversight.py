"""The Front's oversight of reveals and of grants of Front roles."""

from __future__ import annotations

from datetime import datetime

from schemas.base import Base


class RevealRecord(Base, kw_only=True):
    id: int
    at: datetime
    actor_user_id: int
    actor_name: str
    feedback_id: int
    reference: str
    commune_code: str
    reason: str
    protected: bool
    had_contact: bool


class RevealPage(Base, kw_only=True):
    items: list[RevealRecord]
    next_cursor: str | None = None


class RevealFlag(Base, kw_only=True):
    """A reveal refused for going over REVEALS_PER_HOUR."""

    id: int
    at: datetime
    actor_user_id: int
    actor_name: str
    feedback_id: int
    commune_code: str
    reveals_in_hour: int


class RevealFlagPage(Base, kw_only=True):
    items: list[RevealFlag]
    next_cursor: str | None = None


class FrontGrantRecord(Base, kw_only=True):
    id: int
    at: datetime
    user_id: int
    user_name: str
    role: str
    scope_kind: str
    province_code: str
    commune_code: str | None = None
    granted_by: int
    granted_by_name: str
    first_of_province: bool
    """A system admin's grant of the province's first Front supervisor."""


class FrontGrantPage(Base, kw_only=True):
    items: list[FrontGrantRecord]
    next_cursor: str | None = None
