"""Review of ratings held by campaign detection (backend.services.rating_quarantine)."""

from __future__ import annotations

from typing import Annotated, Any

from litestar import Controller, Request, get, post
from litestar.params import JSONBody, QueryParameter

from backend.api.params import DB, CursorQuery, IdPath, LimitQuery, Staff
from backend.api.problems import problem_responses
from backend.auth import staff_with
from backend.services import rating_quarantine as service
from schemas.quarantine import HeldRating, HeldRatingPage, QuarantineReview

CommuneFilter = Annotated[str | None, QueryParameter(pattern=r"^[0-9]{5}(?!\n)$", description="Commune code")]
ServiceFilter = Annotated[
    int | None, QueryParameter(name="service", ge=1, le=2**63 - 1, description="Commune service id")
]
OfficialFilter = Annotated[int | None, QueryParameter(ge=1, le=2**63 - 1, description="Official id")]

REVIEW_DOC = (
    " A province admin reviews the province's held ratings, the Front those of its communes or province;"
    " a rating outside the caller's scope is 404. A review is final: a rating not held (never held, or"
    " already released or discarded, including by a concurrent review) is 409 `rating_not_held`."
    " Audited with the reason."
)


class QuarantineController(Controller):
    path = "/v1/quarantine/ratings"
    tags = ["ratings"]
    guards = [staff_with(*service.REVIEW_ROLES)]

    @get(
        operation_id="ListHeldRatings",
        summary="Ratings held by campaign detection in the caller's scope, oldest first",
        description="Held ratings count in no indicator, rollup, threshold or scorecard until released. "
        "Each says which campaign rules fired; none says which install or address sent it.",
    )
    async def list_held(
        self,
        db: DB,
        staff: Staff,
        commune: CommuneFilter = None,
        service_id: ServiceFilter = None,
        official: OfficialFilter = None,
        cursor: CursorQuery = None,
        limit: LimitQuery = 50,
    ) -> HeldRatingPage:
        return await service.list_held(
            db, staff, commune=commune, service=service_id, official=official, cursor=cursor, limit=limit
        )

    @post(
        "/{rating_id:int}/release",
        operation_id="ReleaseHeldRating",
        summary="Release a held rating: it counts from now on, once",
        description="The rating enters the indicators, rollups and thresholds exactly once." + REVIEW_DOC,
        status_code=200,
        responses=problem_responses(404, 409),
    )
    async def release(
        self, db: DB, staff: Staff, rating_id: IdPath, data: JSONBody[QuarantineReview], request: Request[Any, Any, Any]
    ) -> HeldRating:
        reviewed = await service.review(db, staff, rating_id, "released", data.reason)
        # The commune's indicators moved: its thresholds are evaluated again.
        request.app.state.evaluations.mark({reviewed.commune_code})
        return reviewed

    @post(
        "/{rating_id:int}/discard",
        operation_id="DiscardHeldRating",
        summary="Discard a held rating as part of a campaign: it never counts",
        description="The rating stays stored (the citizen is not told) and never counts." + REVIEW_DOC,
        status_code=200,
        responses=problem_responses(404, 409),
    )
    async def discard(self, db: DB, staff: Staff, rating_id: IdPath, data: JSONBody[QuarantineReview]) -> HeldRating:
        return await service.review(db, staff, rating_id, "discarded", data.reason)
