"""The Front's review of the masked copy a report of wrongdoing is forwarded with."""

from datetime import datetime
from typing import Annotated

from msgspec import Meta

from schemas.base import Base
from schemas.types import FREE_TEXT

Copy = Annotated[
    str, Meta(min_length=1, max_length=5000, pattern=FREE_TEXT, description="At most 5,000 characters; not blank")
]
Reason = Annotated[
    str, Meta(min_length=1, max_length=1000, pattern=FREE_TEXT, description="At most 1,000 characters; not blank")
]


class ReviewRequest(Base, kw_only=True):
    body: Copy | None = None
    """The copy as the Front edited it; absent: the masked copy of the item's text as it is.
    An edit that still holds a phone or ID number, an e-mail address or an introduced name is
    refused (422 review_copy_identifies, with what was found)."""
    reason: Reason | None = None


class ForwardReview(Base, kw_only=True):
    """A copy reviewed by the Front: exactly what a forward of the item carries."""

    id: int
    body: str
    edited: bool
    """The Front edited the masked copy (and the edit was checked again)."""
    masked: dict[str, int]
    """What the masking found in the item's text when reviewed, by kind (never the values)."""
    reviewed_by: int
    reviewer_name: str | None = None
    reviewed_at: datetime
