"""The Front's feedback queue and workflow, and the authority's view of what was forwarded to it.

Staff never see a reporter's identity here, only whether contact details exist; authorities
see only the redacted copy forwarded to them, not even that."""

from datetime import date, datetime
from typing import Annotated, Any, Literal

from msgspec import Meta

from schemas.base import Base
from schemas.forward_review import ForwardReview
from schemas.problem import Problem
from schemas.types import FREE_TEXT, BigId

Category = Literal["suggestion", "complaint", "wrongdoing_report", "question", "praise"]
Status = Literal["received", "triaged", "forwarded", "answered", "closed", "rejected", "merged"]
Priority = Literal["low", "normal", "high", "urgent"]
ForwardStatus = Literal["open", "answered", "sent_back", "withdrawn"]

Text = Annotated[
    str, Meta(min_length=1, max_length=5000, pattern=FREE_TEXT, description="At most 5,000 characters; not blank")
]
Reason = Annotated[
    str, Meta(min_length=1, max_length=1000, pattern=FREE_TEXT, description="At most 1,000 characters; not blank")
]
Version = Annotated[int, Meta(ge=1, le=2**31 - 1)]
BULK_MAX = 100


class StatusCounts(Base, kw_only=True):
    """Items per status under the same filters (except status): the queue's tabs."""

    received: int
    triaged: int
    forwarded: int
    answered: int
    closed: int
    rejected: int
    merged: int


class QueueItem(Base, kw_only=True):
    id: int
    reference: str
    category: Category
    status: Status
    priority: Priority
    commune_code: str
    commune_name: str
    commune_service_id: int | None = None
    service_name: str | None = None
    official_id: int | None = None
    official_name: str | None = None
    excerpt: str
    """The first 200 characters of the text."""
    has_contact: bool
    """The citizen left contact details (sealed; only a reveal by a supervisor opens them)."""
    attachment_count: int
    created_at: datetime
    updated_at: datetime
    response_due_at: datetime | None = None
    overdue: bool
    assigned_to: int | None = None
    assigned_name: str | None = None
    lease_holder: int | None = None
    """Who holds an unexpired claim on the item."""
    lease_holder_name: str | None = None
    lease_expires_at: datetime | None = None
    merged_into_id: int | None = None
    version: int
    """Send it back in If-Match on every change."""


class QueuePage(Base, kw_only=True):
    items: list[QueueItem]
    counts: StatusCounts
    next_cursor: str | None = None


class FeedbackEventView(Base, kw_only=True):
    id: int
    kind: str
    from_status: str | None = None
    to_status: str | None = None
    actor_kind: str
    actor_user_id: int | None = None
    actor_name: str | None = None
    reason: str | None = None
    data: dict[str, Any]
    visible_to_citizen: bool
    at: datetime


class ForwardView(Base, kw_only=True):
    """A redacted copy sent to an authority, with its answer."""

    id: int
    recipient: Literal["official", "commune_committee", "province"]
    official_id: int | None = None
    official_name: str | None = None
    commune_code: str
    redacted_body: str
    status: ForwardStatus
    due_at: datetime
    extended_due_at: datetime | None = None
    extension_reason: str | None = None
    answer: str | None = None
    answered_at: datetime | None = None
    answered_by: int | None = None
    sent_back_at: datetime | None = None
    sent_back_reason: str | None = None
    created_by: int | None = None
    created_at: datetime
    review_id: int | None = None
    """The review whose copy this forward carried."""


class AttachmentInfo(Base, kw_only=True):
    id: int
    content_type: str
    size_bytes: int


class FrontFeedback(QueueItem, kw_only=True):
    """An item as Front staff work on it: the full text, never the reporter's identity."""

    body: str
    answer: str | None = None
    answered_at: datetime | None = None
    answer_rating: int | None = None
    reject_reason: str | None = None
    overdue_since: datetime | None = None
    escalated_at: datetime | None = None
    merged_ids: list[int]
    """Duplicates merged into this item (their citizens follow it)."""
    allowed_actions: list[str]
    events: list[FeedbackEventView]
    forwards: list[ForwardView]
    attachments: list[AttachmentInfo]
    protected: bool
    """A report of wrongdoing, now or ever: the reporter is protected whatever the category."""
    review_required: bool
    """A forward needs a current review of the copy (protected items)."""
    review: ForwardReview | None = None
    """The current review: what a forward would carry. Editing the text afterwards clears it."""


class DuplicateCandidate(Base, kw_only=True):
    item: QueueItem
    similarity: float
    """Share of word pairs the two texts have in common (Jaccard index, 0-1)."""


class DuplicateList(Base, kw_only=True):
    items: list[DuplicateCandidate]


# Actions. Each is one event with the actor, the time and the reason.


class ClaimRequest(Base, kw_only=True):
    break_lease: bool = False
    """A supervisor takes over another's unexpired claim (reason required)."""
    reason: Reason | None = None


class ReasonRequest(Base, kw_only=True):
    reason: Reason | None = None


class RequiredReason(Base, kw_only=True):
    reason: Reason


class AssignRequest(Base, kw_only=True):
    user_id: BigId
    """A Front staff member covering the item's commune."""
    reason: Reason | None = None


class TriageRequest(Base, kw_only=True):
    """Fields left out keep their value."""

    category: Category | None = None
    priority: Priority | None = None
    commune_service_id: BigId | None = None
    official_id: BigId | None = None
    reason: Reason | None = None


class MergeRequest(Base, kw_only=True):
    into_id: BigId
    """The original, of the same commune; this item's citizen follows it from now on."""
    reason: Reason | None = None


class RejectRequest(Base, kw_only=True):
    grounds: Literal["spam", "out_of_scope"]
    reason: Reason
    """Shown to the citizen."""


class ModerateRequest(Base, kw_only=True):
    body: Text
    """The edited or redacted text; the original stays in the item's history."""
    reason: Reason


class ForwardRequest(Base, kw_only=True):
    body: Text | None = None
    """The text to send, if staff shortened it; phone, ID numbers and e-mails are masked either way.
    A report of wrongdoing goes with its reviewed copy only: a different text is refused (409
    forward_not_reviewed) until reviewed (POST …/review)."""
    reason: Reason | None = None


class ForwardRecipient(Base, kw_only=True):
    user_id: int
    display_name: str


class ForwardPreview(Base, kw_only=True):
    """Who a forward would reach if sent now."""

    recipient: Literal["official", "commune_committee", "province"]
    official_id: int | None = None
    recipients: list[ForwardRecipient]
    problem: Problem | None = None
    """Set when the forward would be refused (forward_reaches_concerned, forward_not_reviewed…)."""
    body: str
    """The copy a forward would carry now: the reviewed one, else the masked text."""
    masked: dict[str, int]
    """What the masking finds in the item's text, by kind (never the values)."""
    review_required: bool
    review: ForwardReview | None = None


class AcceptRequest(Base, kw_only=True):
    answer: Text | None = None
    """The answer as the citizen will read it; default: the authority's answer as given."""
    reason: Reason | None = None


class BulkItem(Base, kw_only=True):
    id: BigId
    version: Version | None = None
    """When given, the item is changed only at this version (else 412 for that item)."""


BulkItems = Annotated[list[BulkItem], Meta(min_length=1, max_length=BULK_MAX)]


class BulkTriage(Base, kw_only=True):
    items: BulkItems
    category: Category | None = None
    priority: Priority | None = None
    reason: Reason | None = None


class BulkAssign(Base, kw_only=True):
    items: BulkItems
    user_id: BigId
    reason: Reason | None = None


class BulkReject(Base, kw_only=True):
    items: BulkItems
    grounds: Literal["spam", "out_of_scope"]
    reason: Reason


class BulkResult(Base, kw_only=True):
    id: int
    status: int
    """The HTTP status this item would have had on its own."""
    item: QueueItem | None = None
    problem: Problem | None = None


class BulkResponse(Base, kw_only=True):
    results: list[BulkResult]


# The authority's side: only the redacted copy.


class AssignedFeedback(Base, kw_only=True):
    id: int
    """The forward's id (not the feedback item's)."""
    category: Category
    commune_code: str
    commune_name: str
    commune_service_id: int | None = None
    service_name: str | None = None
    body: str
    """Redacted: no reporter identity; phone, ID numbers and e-mails masked."""
    status: ForwardStatus
    due_at: datetime
    """The deadline in force (extended or not)."""
    original_due_at: datetime
    extension_reason: str | None = None
    overdue: bool
    answer: str | None = None
    answered_at: datetime | None = None
    sent_back_reason: str | None = None
    sent_back_at: datetime | None = None
    created_at: datetime


class AssignedFeedbackPage(Base, kw_only=True):
    items: list[AssignedFeedback]
    next_cursor: str | None = None


class AnswerRequest(Base, kw_only=True):
    answer: Text


class ExtensionRequest(Base, kw_only=True):
    due_date: date
    """The new last day (Vietnam time), after the current deadline and within FEEDBACK_MAX_EXTENSION working days."""
    reason: Reason
