"""The Front reviews the masked copy of an item before it is forwarded (issue 10, point 8).

For a report of wrongdoing (feedback.protected) the review is required: the copy the
authority gets has been read by a person, not only by the masking rules. The Front may edit
it; the edit is checked with the same rules (backend.redaction), so it cannot put back a
phone or ID number, an e-mail address or an introduced name. One review is current per item;
editing the item's text afterwards supersedes it."""

from __future__ import annotations

from typing import Any

from backend.auth import StaffPrincipal
from backend.errors import AppError
from backend.redaction import normalise, redact_with_findings
from backend.services.feedback_workflow import _begin, _done, _event, _update
from backend.services.forward_copies import supersede_reviews
from schemas.forward_review import ReviewRequest
from schemas.front import FrontFeedback
from schemas.problem import FieldError

INSERT_REVIEW_SQL = """
insert into feedback_reviews (feedback_id, body, edited, masked, reviewed_by, reviewed_at)
values ($1, $2, $3, $4, $5, $6)
returning id
"""


# NFKC may lengthen a text many times over (one ligature becomes 18 letters): a copy is
# measured after normalising, the masked text against what feedback_reviews holds.
EDIT_MAX = 5000
COPY_MAX = 20000


def _too_long(limit: int) -> AppError:
    return AppError(
        "validation_failed",
        errors=[FieldError(field="body", message=f"The copy is longer than {limit} characters once normalised")],
    )


def reviewed_copy(item_body: str, edit: str | None) -> tuple[str, dict[str, int]]:
    """The copy a review records and what the masking found in the item's text. An edit is
    normalised as the masking normalises, then must hold nothing the masking would mask."""
    masked_copy, masked = redact_with_findings(item_body)
    if edit is None:
        if len(masked_copy) > COPY_MAX:
            raise _too_long(COPY_MAX)
        return masked_copy, masked
    copy = normalise(edit).strip()
    if not copy:
        raise AppError("validation_failed", errors=[FieldError(field="body", message="Expected non-blank text")])
    if len(copy) > EDIT_MAX:
        raise _too_long(EDIT_MAX)
    found = redact_with_findings(copy)[1]
    if found:
        raise AppError("review_copy_identifies", extensions={"found": found})
    return copy, masked


async def review(
    conn: Any, staff: StaffPrincipal, feedback_id: int, version: int | None, body: ReviewRequest
) -> FrontFeedback:
    """Record the copy a forward of the item will carry, as Front staff in scope read (and
    perhaps edited) it. Any earlier review of the item is superseded."""
    act = await _begin(conn, staff, feedback_id, "review", version)
    copy, masked = reviewed_copy(act.row["body"], body.body)
    previous = await supersede_reviews(conn, act.id, act.now, "reviewed_again")
    review_id = await conn.fetchval(
        INSERT_REVIEW_SQL, act.id, copy, body.body is not None, masked, staff.user_id, act.now
    )
    await _update(conn, act)
    await _event(
        conn,
        act,
        "reviewed",
        reason=body.reason,
        data={"review_id": review_id, "edited": body.body is not None, "masked": masked, "superseded": previous},
    )
    return await _done(conn, staff, feedback_id)
