from __future__ import annotations

from typing import Annotated, Literal

from litestar import Controller, get, post
from litestar.datastructures import State
from litestar.params import JSONBody, QueryParameter

from backend.api.params import DB, CursorQuery, IdPath, LimitQuery, Staff
from backend.api.problems import problem_responses
from backend.auth import staff_with
from backend.services import assigned_feedback as service
from schemas.front import AnswerRequest, AssignedFeedback, AssignedFeedbackPage, ExtensionRequest

ForwardStatusQuery = Annotated[
    Literal["open", "all", "answered", "sent_back"],
    QueryParameter(name="status", description="`open` (default): awaiting the caller's answer (also sent back)"),
]


class AssignedFeedbackController(Controller):
    """Feedback the Front forwarded to the caller: the official accountable for the service, or
    the commune's chairs for its People's Committee. Only the redacted copy."""

    path = "/v1/assigned-feedback"
    tags = ["assigned-feedback"]
    # Province admins: the People's Committee side of the province, which receives reports
    # about commune chairs (the query narrows each to the forwards addressed to them).
    guards = [staff_with("commune_chair", "commune_official", "province_admin")]

    @get(operation_id="ListAssignedFeedback", summary="Redacted feedback forwarded to the caller, newest first")
    async def list_assigned(
        self,
        db: DB,
        staff: Staff,
        status_filter: ForwardStatusQuery = "open",
        cursor: CursorQuery = None,
        limit: LimitQuery = 50,
    ) -> AssignedFeedbackPage:
        return await service.list_assigned(db, staff, status=status_filter, cursor=cursor, limit=limit)

    @get(
        "/{forward_id:int}",
        operation_id="GetAssignedFeedback",
        summary="One redacted item forwarded to the caller",
    )
    async def get_assigned(self, db: DB, staff: Staff, forward_id: IdPath) -> AssignedFeedback:
        return await service.get_assigned(db, staff, forward_id)

    @post(
        "/{forward_id:int}/answer",
        status_code=200,
        operation_id="AnswerAssignedFeedback",
        summary="Answer it; the Front checks the answer before the citizen reads it",
        responses=problem_responses(404, 409),
    )
    async def answer(self, db: DB, staff: Staff, forward_id: IdPath, data: JSONBody[AnswerRequest]) -> AssignedFeedback:
        return await service.answer_forward(db, staff, forward_id, data)

    @post(
        "/{forward_id:int}/extension",
        status_code=200,
        operation_id="ExtendAssignedFeedback",
        summary="More time, once, with a reason (within FEEDBACK_MAX_EXTENSION working days); the citizen is told",
        responses=problem_responses(404, 409, 422),
    )
    async def extension(
        self, db: DB, staff: Staff, state: State, forward_id: IdPath, data: JSONBody[ExtensionRequest]
    ) -> AssignedFeedback:
        return await service.extend_forward(db, state.settings, staff, forward_id, data)
