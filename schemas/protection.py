"""Payloads of reporter protection's administration: an official's account link and the
province's recipient of reports about commune chairs."""

from __future__ import annotations

from datetime import datetime

from schemas.base import Base
from schemas.front import Reason
from schemas.types import BigId


class OfficialAccountLink(Base, kw_only=True):
    user_id: BigId | None
    """The official's staff account; null unlinks."""
    reason: Reason


class OfficialAccount(Base, kw_only=True):
    official_id: int
    commune_code: str
    user_id: int | None = None


class FeedbackRecipientSet(Base, kw_only=True):
    user_id: BigId
    label: Reason
    """e.g. "Thanh tra tỉnh" (the provincial inspectorate)."""
    reason: Reason


class FeedbackRecipient(Base, kw_only=True):
    """Who receives reports of wrongdoing about a commune chair or vice-chair of the province.
    Without a configured recipient: the province's People's Committee accounts (its admins)."""

    province_code: str
    configured: bool
    user_id: int | None = None
    display_name: str | None = None
    label: str | None = None
    updated_at: datetime | None = None
