from __future__ import annotations

from litestar import Controller, post
from litestar.params import JSONBody

from backend.api.front import IfMatch
from backend.api.params import DB, IdPath, Staff
from backend.api.problems import problem_responses
from backend.auth import staff_with
from backend.services import feedback_workflow as workflow
from backend.services import forward_review as service
from backend.services.front_queue import FRONT_ROLES
from schemas.forward_review import ReviewRequest
from schemas.front import FrontFeedback


class ForwardReviewController(Controller):
    """The Front's review of the masked copy before a forward (required for reports of
    wrongdoing)."""

    path = "/v1/front/feedback/{feedback_id:int}/review"
    tags = ["front"]
    guards = [staff_with(*FRONT_ROLES)]

    @post(
        "/",
        status_code=200,
        operation_id="ReviewFeedbackCopy",
        summary="Review (and perhaps edit) the masked copy a forward will carry; an edit is checked again",
        description=(
            "Front staff covering the item record the copy a forward of it will carry: the masked text, or "
            "their edit of it (normalised, then refused with 422 `review_copy_identifies` and what was found "
            "when it still holds a phone or ID number, an e-mail address or an introduced name). A report of "
            "wrongdoing cannot be forwarded without a current review (409 `forward_not_reviewed`); editing "
            "the item's text (moderate) ends the review. Needs If-Match; one event and one audit row."
        ),
        responses=problem_responses(404, 409, 412, 422, 428),
    )
    async def review(
        self,
        db: DB,
        staff: Staff,
        feedback_id: IdPath,
        if_match: IfMatch,
        data: JSONBody[ReviewRequest | None] = None,
    ) -> FrontFeedback:
        return await service.review(db, staff, feedback_id, workflow.parse_if_match(if_match), data or ReviewRequest())
