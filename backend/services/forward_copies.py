"""The reviewed copy of an item (feedback_reviews): read by the staff view, the forward
preview and the forward itself, and superseded when the item's text changes. No imports from
the workflow, which uses it."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from schemas.forward_review import ForwardReview

CURRENT_REVIEW_SQL = """
select r.id, r.body, r.edited, r.masked, r.reviewed_by, u.display_name as reviewer_name, r.reviewed_at
from feedback_reviews r
left join users u on u.id = r.reviewed_by
where r.feedback_id = $1 and r.superseded_at is null
"""


async def current_review(conn: Any, feedback_id: int) -> ForwardReview | None:
    """The item's review still in force, if any: what a forward would carry."""
    row = await conn.fetchrow(CURRENT_REVIEW_SQL, feedback_id)
    return None if row is None else ForwardReview(**dict(row))


SUPERSEDE_SQL = """
update feedback_reviews set superseded_at = $2, superseded_because = $3
where feedback_id = $1 and superseded_at is null
returning id
"""


async def supersede_reviews(
    conn: Any, feedback_id: int, at: datetime, because: Literal["reviewed_again", "text_edited"]
) -> int | None:
    """End the item's current review (its text was edited, or it is reviewed anew); returns
    the id of the review ended, if there was one."""
    ended = await conn.fetchval(SUPERSEDE_SQL, feedback_id, at, because)
    return None if ended is None else int(ended)
