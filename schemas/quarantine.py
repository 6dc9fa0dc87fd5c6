"""Ratings held by campaign detection, and their review."""

from datetime import datetime
from typing import Annotated, Literal

from msgspec import Meta

from schemas.base import Base
from schemas.ratings import Dimensions, LinkedOfficial
from schemas.types import FREE_TEXT

QuarantineState = Literal["held", "released", "discarded"]
HoldReason = Literal["install_burst", "copied_comment", "address_burst", "fresh_install", "fresh_wave", "low_run"]


class HeldRating(Base, kw_only=True):
    """A rating as its reviewer sees it: what was rated and said, and why it was held. Never
    which install or address sent it."""

    id: int
    commune_service_id: int
    commune_code: str
    commune_name: str
    procedure_code: str
    procedure_name: str
    official: LinkedOfficial | None = None
    verified: bool
    score: int
    dimensions: Dimensions | None = None
    comment: str | None = None
    channel: str
    served_at: datetime
    created_at: datetime
    quarantine: QuarantineState
    reasons: list[HoldReason]
    """The campaign rules that fired (backend.campaign_rules)."""
    reviewed_at: datetime | None = None
    review_reason: str | None = None


class HeldRatingPage(Base, kw_only=True):
    items: list[HeldRating]
    next_cursor: str | None = None


class QuarantineReview(Base, kw_only=True):
    reason: Annotated[
        str,
        Meta(
            min_length=1,
            max_length=1000,
            pattern=FREE_TEXT,
            description="Why the rating is released or discarded (recorded in the audit log): at least "
            "10 characters and two words",
        ),
    ]
