"""Citizens' feedback to the Fatherland Front: what the app sends, what the citizen sees."""

from datetime import datetime
from typing import Annotated, Literal

from msgspec import Meta

from schemas.base import Base
from schemas.ratings import LinkedOfficial
from schemas.types import FREE_TEXT, SINGLE_LINE, BigId, CommuneCode, Email, Phone, Score

FeedbackCategory = Literal["suggestion", "complaint", "wrongdoing_report", "question", "praise"]
FeedbackStatus = Literal["received", "triaged", "forwarded", "answered", "closed", "rejected", "merged"]

FEEDBACK_BODY_MAX = 5000
FEEDBACK_ATTACHMENTS_MAX = 5
FEEDBACK_ATTACHMENT_MAX_BYTES = 5 * 1024 * 1024

FeedbackText = Annotated[
    str,
    Meta(
        min_length=1,
        max_length=FEEDBACK_BODY_MAX,
        pattern=FREE_TEXT,
        description="At most 5,000 characters; trimmed; tab and line breaks allowed, other control characters not",
    ),
]
Reason = Annotated[str, Meta(min_length=1, max_length=1000, pattern=FREE_TEXT, description="Trimmed; not blank")]


class FeedbackContact(Base, kw_only=True):
    """How the Front may reach the citizen; every field optional, at least one when the item
    is not anonymous. Stored only encrypted."""

    name: Annotated[str, Meta(min_length=1, max_length=200, pattern=SINGLE_LINE)] | None = None
    phone: Phone | None = None
    address: Annotated[str, Meta(min_length=1, max_length=500, pattern=SINGLE_LINE)] | None = None
    id_number: (
        Annotated[
            str,
            Meta(
                pattern=r"^([0-9]{9}|[0-9]{12})(?!\n)$", description="Citizen identity card (12 digits) or old ID (9)"
            ),
        ]
        | None
    ) = None
    email: Email | None = None


class FeedbackCreate(Base, kw_only=True):
    """The `feedback` part of POST /v1/feedback. Name the service and the official only if
    the citizen knows them; both must be of the commune."""

    category: FeedbackCategory
    commune_code: CommuneCode
    commune_service_id: BigId | None = None
    official_id: BigId | None = None
    body: FeedbackText
    anonymous: bool = False
    """True: no contact details are sent or kept; the citizen follows the item in the app."""
    contact: FeedbackContact | None = None
    """Required (with at least one field) unless anonymous; refused with anonymous."""


class FeedbackAttachment(Base, kw_only=True):
    id: int
    content_type: str
    size_bytes: int


class FeedbackTimelineEntry(Base, kw_only=True):
    """One step of the item as the citizen may see it: no staff names, no internal notes."""

    kind: str
    status: FeedbackStatus | None = None
    at: datetime
    reason: str | None = None
    """Shown for a rejection (why) and for the citizen's own dispute."""
    due_at: datetime | None = None
    """When the authority must answer by (on forwarding and extensions)."""


class MergedInto(Base, kw_only=True):
    """The original an item was merged into: the citizen follows it from there."""

    reference: str
    status: FeedbackStatus
    answer: str | None = None
    answered_at: datetime | None = None


class FeedbackSummary(Base, kw_only=True):
    id: int
    reference: str
    category: FeedbackCategory
    commune_code: str
    commune_name: str
    status: FeedbackStatus
    excerpt: str
    has_answer: bool
    created_at: datetime
    updated_at: datetime


class MyFeedback(Base, kw_only=True):
    """The citizen's own item. Contact details are never sent back: the app keeps its copy."""

    id: int
    reference: str
    category: FeedbackCategory
    commune_code: str
    commune_name: str
    commune_service_id: int | None = None
    procedure_code: str | None = None
    procedure_name: str | None = None
    procedure_name_en: str | None = None
    official: LinkedOfficial | None = None
    body: str
    anonymous: bool
    has_contact: bool
    status: FeedbackStatus
    attachments: list[FeedbackAttachment]
    timeline: list[FeedbackTimelineEntry]
    response_due_at: datetime | None = None
    answer: str | None = None
    answered_at: datetime | None = None
    answer_rating: int | None = None
    reject_reason: str | None = None
    merged_into: MergedInto | None = None
    created_at: datetime
    updated_at: datetime


class MyFeedbackPage(Base, kw_only=True):
    items: list[FeedbackSummary]
    next_cursor: str | None = None


class AnswerRatingCreate(Base, kw_only=True):
    score: Score
    """How satisfied the citizen is with the answer, 1-5."""


class DisputeCreate(Base, kw_only=True):
    reason: Reason
    """Why the answer does not settle the matter; the Front reviews the item again."""


class RevealCreate(Base, kw_only=True):
    reason: Annotated[
        str,
        Meta(min_length=10, max_length=1000, pattern=FREE_TEXT, description="Why the identity is needed (audited)"),
    ]


class RevealedContact(Base, kw_only=True):
    """The item's contact details, decrypted for one audited reveal."""

    feedback_id: int
    reference: str
    category: FeedbackCategory
    anonymous: bool
    contact: FeedbackContact | None = None
