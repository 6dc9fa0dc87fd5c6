from __future__ import annotations

from typing import Annotated, Any, Literal

from litestar import Controller, Request, get, post
from litestar.datastructures import State
from litestar.params import HeaderParameter, JSONBody, QueryParameter

from backend.api.params import DB, CursorQuery, IdPath, LimitQuery, SearchQuery, Staff
from backend.api.problems import problem_responses
from backend.auth import staff_with
from backend.errors import preferred_language
from backend.services import feedback_routing as routing
from backend.services import feedback_workflow as workflow
from backend.services import front_queue as queue
from schemas.front import (
    AcceptRequest,
    AssignRequest,
    BulkAssign,
    BulkReject,
    BulkResponse,
    BulkTriage,
    ClaimRequest,
    DuplicateList,
    ForwardPreview,
    ForwardRequest,
    FrontFeedback,
    MergeRequest,
    ModerateRequest,
    QueuePage,
    ReasonRequest,
    RejectRequest,
    RequiredReason,
    TriageRequest,
)

IfMatch = Annotated[
    str,
    HeaderParameter(
        name="If-Match",
        required=True,
        max_length=20,
        pattern=workflow.IF_MATCH,
        description='The item\'s version as last read, e.g. "3": a stale one gets 412, a missing one 428',
    ),
]
StatusQuery = Annotated[
    queue.StatusFilter,
    QueryParameter(name="status", description="`open` (default): received, triaged, forwarded or answered; `all`"),
]
CategoryQuery = Annotated[
    Literal["suggestion", "complaint", "wrongdoing_report", "question", "praise"] | None,
    QueryParameter(name="category"),
]
ACTION_PROBLEMS = problem_responses(404, 409, 412, 428)


def _version(if_match: str) -> int | None:
    return workflow.parse_if_match(if_match)


class FrontController(Controller):
    path = "/v1/front"
    tags = ["front"]
    guards = [staff_with(*queue.FRONT_ROLES)]

    @get("/queue", operation_id="ListFrontQueue", summary="The Front's feedback queue in the caller's scope")
    async def list_queue(
        self,
        db: DB,
        staff: Staff,
        status_filter: StatusQuery = "open",
        category: CategoryQuery = None,
        commune: Annotated[str | None, QueryParameter(pattern=r"^[0-9]{5}(?!\n)$")] = None,
        service: Annotated[int | None, QueryParameter(ge=1, le=2**63 - 1, description="commune_service_id")] = None,
        official: Annotated[int | None, QueryParameter(ge=1, le=2**63 - 1, description="official_id")] = None,
        overdue: Annotated[bool | None, QueryParameter(description="Forwarded items past their deadline")] = None,
        mine: Annotated[bool, QueryParameter(description="Only items assigned to the caller")] = False,
        q: SearchQuery = None,
        sort: Annotated[
            Literal["priority", "age", "newest", "due"],
            QueryParameter(description="priority (urgent first, then oldest), age (oldest first), newest, due"),
        ] = "priority",
        cursor: CursorQuery = None,
        limit: LimitQuery = 50,
    ) -> QueuePage:
        return await queue.list_queue(
            db,
            staff,
            status=status_filter,
            category=category,
            commune=commune,
            service=service,
            official=official,
            overdue=overdue,
            mine=mine,
            q=q,
            sort=sort,
            cursor=cursor,
            limit=limit,
        )

    @get(
        "/feedback/{feedback_id:int}",
        operation_id="GetFrontFeedback",
        summary="One item as Front staff work on it: text, history, forwards (never the reporter's identity)",
    )
    async def get_feedback(self, db: DB, staff: Staff, feedback_id: IdPath) -> FrontFeedback:
        return await queue.get_front_feedback(db, staff, feedback_id)

    @get(
        "/feedback/{feedback_id:int}/duplicates",
        operation_id="ListFeedbackDuplicates",
        summary="Likely duplicates: same commune and service, similar text, recent",
    )
    async def duplicates(self, db: DB, staff: Staff, feedback_id: IdPath) -> DuplicateList:
        return await queue.list_duplicates(db, staff, feedback_id)

    @get(
        "/feedback/{feedback_id:int}/forward-preview",
        operation_id="PreviewFeedbackForward",
        summary="Who a forward would reach now, and the problem it would meet (never the official concerned)",
    )
    async def forward_preview(
        self, request: Request[Any, Any, Any], db: DB, staff: Staff, feedback_id: IdPath
    ) -> ForwardPreview:
        return await routing.preview_forward(db, staff, feedback_id, _language(request))

    @post(
        "/feedback/{feedback_id:int}/claim",
        status_code=200,
        operation_id="ClaimFeedback",
        summary="Take the item for a while (FEEDBACK_LEASE); a supervisor may break another's claim",
        responses=ACTION_PROBLEMS,
    )
    async def claim(
        self,
        db: DB,
        staff: Staff,
        state: State,
        feedback_id: IdPath,
        if_match: IfMatch,
        data: JSONBody[ClaimRequest | None] = None,
    ) -> FrontFeedback:
        return await workflow.claim(db, state.settings, staff, feedback_id, _version(if_match), data or ClaimRequest())

    @post(
        "/feedback/{feedback_id:int}/release",
        status_code=200,
        operation_id="ReleaseFeedback",
        summary="Give the item back before the claim expires",
        responses=ACTION_PROBLEMS,
    )
    async def release(
        self,
        db: DB,
        staff: Staff,
        feedback_id: IdPath,
        if_match: IfMatch,
        data: JSONBody[ReasonRequest | None] = None,
    ) -> FrontFeedback:
        return await workflow.release(db, staff, feedback_id, _version(if_match), data or ReasonRequest())

    @post(
        "/feedback/{feedback_id:int}/assign",
        status_code=200,
        operation_id="AssignFeedback",
        summary="Give the item to a colleague covering its commune",
        responses=ACTION_PROBLEMS | problem_responses(422),
    )
    async def assign(
        self, db: DB, staff: Staff, feedback_id: IdPath, data: JSONBody[AssignRequest], if_match: IfMatch
    ) -> FrontFeedback:
        return await workflow.assign(db, staff, feedback_id, _version(if_match), data)

    @post(
        "/feedback/{feedback_id:int}/triage",
        status_code=200,
        operation_id="TriageFeedback",
        summary="Category, priority, linked service and official; the first triage tells the citizen",
        responses=ACTION_PROBLEMS | problem_responses(422),
    )
    async def triage(
        self, db: DB, staff: Staff, feedback_id: IdPath, data: JSONBody[TriageRequest], if_match: IfMatch
    ) -> FrontFeedback:
        return await workflow.triage(db, staff, feedback_id, _version(if_match), data)

    @post(
        "/feedback/{feedback_id:int}/merge",
        status_code=200,
        operation_id="MergeFeedback",
        summary="Merge this duplicate into an original of the same commune; its citizen follows the original",
        responses=ACTION_PROBLEMS | problem_responses(422),
    )
    async def merge(
        self, db: DB, staff: Staff, feedback_id: IdPath, data: JSONBody[MergeRequest], if_match: IfMatch
    ) -> FrontFeedback:
        return await workflow.merge(db, staff, feedback_id, _version(if_match), data)

    @post(
        "/feedback/{feedback_id:int}/reject",
        status_code=200,
        operation_id="RejectFeedback",
        summary="Reject as spam or out of scope, with a reason the citizen reads",
        responses=ACTION_PROBLEMS,
    )
    async def reject(
        self, db: DB, staff: Staff, feedback_id: IdPath, data: JSONBody[RejectRequest], if_match: IfMatch
    ) -> FrontFeedback:
        return await workflow.reject(db, staff, feedback_id, _version(if_match), data)

    @post(
        "/feedback/{feedback_id:int}/moderate",
        status_code=200,
        operation_id="ModerateFeedback",
        summary="Edit or redact the text; the original stays in the history",
        responses=ACTION_PROBLEMS,
    )
    async def moderate(
        self, db: DB, staff: Staff, feedback_id: IdPath, data: JSONBody[ModerateRequest], if_match: IfMatch
    ) -> FrontFeedback:
        return await workflow.moderate(db, staff, feedback_id, _version(if_match), data)

    @post(
        "/feedback/{feedback_id:int}/forward",
        status_code=200,
        operation_id="ForwardFeedback",
        summary="Send a redacted copy to the accountable authority, due by the category's deadline",
        responses=ACTION_PROBLEMS,
    )
    async def forward(
        self,
        db: DB,
        staff: Staff,
        state: State,
        feedback_id: IdPath,
        if_match: IfMatch,
        data: JSONBody[ForwardRequest | None] = None,
    ) -> FrontFeedback:
        return await workflow.forward(
            db, state.settings, staff, feedback_id, _version(if_match), data or ForwardRequest()
        )

    @post(
        "/feedback/{feedback_id:int}/accept",
        status_code=200,
        operation_id="AcceptFeedbackAnswer",
        summary="Accept the authority's answer: the item is answered and the citizen told",
        responses=ACTION_PROBLEMS,
    )
    async def accept(
        self,
        db: DB,
        staff: Staff,
        feedback_id: IdPath,
        if_match: IfMatch,
        data: JSONBody[AcceptRequest | None] = None,
    ) -> FrontFeedback:
        return await workflow.accept(db, staff, feedback_id, _version(if_match), data or AcceptRequest())

    @post(
        "/feedback/{feedback_id:int}/send-back",
        status_code=200,
        operation_id="SendBackFeedbackAnswer",
        summary="Return the authority's answer with a reason; it answers again",
        responses=ACTION_PROBLEMS,
    )
    async def send_back(
        self, db: DB, staff: Staff, feedback_id: IdPath, data: JSONBody[RequiredReason], if_match: IfMatch
    ) -> FrontFeedback:
        return await workflow.send_back(db, staff, feedback_id, _version(if_match), data)

    @post(
        "/feedback/{feedback_id:int}/close",
        status_code=200,
        operation_id="CloseFeedback",
        summary="End an answered item (or a triaged one that needs no authority)",
        responses=ACTION_PROBLEMS,
    )
    async def close(
        self,
        db: DB,
        staff: Staff,
        feedback_id: IdPath,
        if_match: IfMatch,
        data: JSONBody[ReasonRequest | None] = None,
    ) -> FrontFeedback:
        return await workflow.close(db, staff, feedback_id, _version(if_match), data or ReasonRequest())

    @post(
        "/feedback/{feedback_id:int}/reopen",
        status_code=200,
        operation_id="ReopenFeedback",
        summary="Bring a closed, answered or rejected item back to triaged, with a reason",
        responses=ACTION_PROBLEMS,
    )
    async def reopen(
        self, db: DB, staff: Staff, feedback_id: IdPath, data: JSONBody[RequiredReason], if_match: IfMatch
    ) -> FrontFeedback:
        return await workflow.reopen(db, staff, feedback_id, _version(if_match), data)

    @post(
        "/bulk/triage",
        status_code=200,
        operation_id="BulkTriageFeedback",
        summary="Triage many items at once; one result per item",
    )
    async def bulk_triage(
        self, db: DB, staff: Staff, data: JSONBody[BulkTriage], request: Request[Any, Any, Any]
    ) -> BulkResponse:
        body = TriageRequest(category=data.category, priority=data.priority, reason=data.reason)
        return await workflow.bulk_triage(db, staff, data.items, body, _language(request))

    @post(
        "/bulk/assign",
        status_code=200,
        operation_id="BulkAssignFeedback",
        summary="Assign many items to one colleague; one result per item",
    )
    async def bulk_assign(
        self, db: DB, staff: Staff, data: JSONBody[BulkAssign], request: Request[Any, Any, Any]
    ) -> BulkResponse:
        body = AssignRequest(user_id=data.user_id, reason=data.reason)
        return await workflow.bulk_assign(db, staff, data.items, body, _language(request))

    @post(
        "/bulk/reject",
        status_code=200,
        operation_id="BulkRejectFeedback",
        summary="Reject many items with one reason; one result per item",
    )
    async def bulk_reject(
        self, db: DB, staff: Staff, data: JSONBody[BulkReject], request: Request[Any, Any, Any]
    ) -> BulkResponse:
        body = RejectRequest(grounds=data.grounds, reason=data.reason)
        return await workflow.bulk_reject(db, staff, data.items, body, _language(request))


def _language(request: Request[Any, Any, Any]) -> str:
    return preferred_language(request.headers.get("accept-language"))
