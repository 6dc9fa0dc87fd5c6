from __future__ import annotations

from typing import Annotated, Any, Literal

from litestar import Controller, Request, Response, get, post
from litestar.datastructures import State
from litestar.params import JSONBody, QueryParameter

from backend.api.params import DB, CursorQuery, IdPath, LimitQuery, Staff
from backend.api.problems import problem_responses
from backend.auth import staff_with
from backend.errors import preferred_language
from backend.services import scorecard_evidence as evidence
from backend.services import scorecards as service
from schemas.scorecards import (
    Explanation,
    ExplanationCreate,
    FeedbackEvidencePage,
    LateDossierPage,
    ProcessedDossierPage,
    RatingEvidence,
    Scorecard,
    ScorecardPage,
)

PeriodQuery = Annotated[
    str,
    QueryParameter(
        max_length=10,
        description="A month `YYYY-MM` or a quarter `YYYY-Qn`, in Asia/Ho_Chi_Minh",
    ),
]
CommuneQuery = Annotated[str | None, QueryParameter(pattern=r"^[0-9]{5}(?!\n)$", description="Commune code")]
ProvinceQuery = Annotated[str | None, QueryParameter(pattern=r"^[0-9]{2}(?!\n)$", description="Province code")]
KindQuery = Annotated[
    Literal["official", "commune"],
    QueryParameter(description="`official`: the officials of `commune`; `commune`: the communes of `province` ranked"),
]

READ_DOC = (
    " Officials read their own scorecards, commune chairs their commune's, province admins and the Front their"
    " province's; others are left out (lists) or refused (403)."
)


def _language(request: Request[Any, Any, Any]) -> str:
    return preferred_language(request.headers.get("accept-language"))


class ScorecardController(Controller):
    """Outcome-based scorecards (Decree 335/2025/ND-CP, Decision 766/QĐ-TTg), per month and quarter."""

    path = "/v1/scorecards"
    tags = ["scorecards"]
    guards = [staff_with()]

    @get(
        operation_id="ListScorecards",
        summary="Scorecards of a commune's officials, or a province's communes ranked",
        description="Best composite first; the rank of each is a range where the 95 % intervals overlap. An open "
        "period is recomputed when its figures are older than SCORECARD_REFRESH; a frozen one is a record." + READ_DOC,
        responses=problem_responses(400, 404, 422),
    )
    async def list_scorecards(
        self,
        db: DB,
        staff: Staff,
        state: State,
        period: PeriodQuery,
        kind: KindQuery = "official",
        commune: CommuneQuery = None,
        province: ProvinceQuery = None,
        cursor: CursorQuery = None,
        limit: LimitQuery = 50,
    ) -> ScorecardPage:
        return await service.list_scorecards(
            db,
            state.settings,
            staff,
            period_text=period,
            kind=kind,
            commune=commune,
            province=province,
            cursor=cursor,
            limit=limit,
        )

    @get(
        "/export",
        operation_id="ExportScorecards",
        summary="CSV (UTF-8 with BOM) of a commune's officials (`commune`) or a province's communes (`province`)",
        responses=problem_responses(400, 404, 422),
        media_type="text/csv; charset=utf-8",
    )
    async def export(
        self,
        db: DB,
        staff: Staff,
        state: State,
        period: PeriodQuery,
        commune: CommuneQuery = None,
        province: ProvinceQuery = None,
    ) -> Response[bytes]:
        name, text = await service.export_csv(
            db, state.settings, staff, period_text=period, commune=commune, province=province
        )
        return Response(
            text.encode("utf-8"),
            media_type="text/csv; charset=utf-8",
            headers={"content-disposition": f'attachment; filename="{name}"'},
        )

    @get(
        "/{scorecard_id:int}",
        operation_id="GetScorecard",
        summary="One scorecard: components, composite, advisory band, fair comparison, amendments, explanations",
        responses=problem_responses(403, 404),
    )
    async def get_scorecard(self, db: DB, staff: Staff, state: State, scorecard_id: IdPath) -> Scorecard:
        return await service.get_scorecard(db, state.settings, staff, scorecard_id)

    @get(
        "/{scorecard_id:int}/evidence/late-dossiers",
        operation_id="ListScorecardLateDossiers",
        summary="Late dossiers behind the progress figure, by code (due in the period, completed late or still open)",
        responses=problem_responses(400, 403, 404),
    )
    async def late_dossiers(
        self,
        request: Request[Any, Any, Any],
        db: DB,
        staff: Staff,
        state: State,
        scorecard_id: IdPath,
        cursor: CursorQuery = None,
        limit: LimitQuery = 50,
    ) -> LateDossierPage:
        return await evidence.late_dossiers(db, state.settings, staff, scorecard_id, cursor, limit, _language(request))

    @get(
        "/{scorecard_id:int}/evidence/processing",
        operation_id="ListScorecardProcessedDossiers",
        summary="Dossiers completed in the period behind the processing-time figure: days taken against the "
        "statutory time and each one's credit",
        responses=problem_responses(400, 403, 404),
    )
    async def processed(
        self,
        request: Request[Any, Any, Any],
        db: DB,
        staff: Staff,
        state: State,
        scorecard_id: IdPath,
        cursor: CursorQuery = None,
        limit: LimitQuery = 50,
    ) -> ProcessedDossierPage:
        return await evidence.processed_dossiers(
            db, state.settings, staff, scorecard_id, cursor, limit, _language(request)
        )

    @get(
        "/{scorecard_id:int}/evidence/ratings",
        operation_id="GetScorecardRatingCounts",
        summary="Verified, counting ratings by score and procedure — counts only, never who gave them",
        responses=problem_responses(403, 404),
    )
    async def ratings(
        self, request: Request[Any, Any, Any], db: DB, staff: Staff, state: State, scorecard_id: IdPath
    ) -> RatingEvidence:
        return await evidence.rating_counts(db, state.settings, staff, scorecard_id, _language(request))

    @get(
        "/{scorecard_id:int}/evidence/feedback",
        operation_id="ListScorecardFeedback",
        summary="Forwarded feedback behind the feedback figure, with deadlines and outcome (no text, no reporter)",
        description="Reports of wrongdoing about the scorecard's official, or about the reader, are never listed.",
        responses=problem_responses(400, 403, 404),
    )
    async def feedback(
        self,
        db: DB,
        staff: Staff,
        state: State,
        scorecard_id: IdPath,
        cursor: CursorQuery = None,
        limit: LimitQuery = 50,
    ) -> FeedbackEvidencePage:
        return await evidence.feedback_items(db, state.settings, staff, scorecard_id, cursor, limit)

    @post(
        "/{scorecard_id:int}/explanations",
        operation_id="ExplainScorecard",
        summary="The official's own explanation of a month's scorecard: visible to its readers, audited, never edited",
        responses=problem_responses(403, 404, 422),
    )
    async def explain(
        self, db: DB, staff: Staff, state: State, scorecard_id: IdPath, data: JSONBody[ExplanationCreate]
    ) -> Explanation:
        return await service.add_explanation(db, state.settings, staff, scorecard_id, data)
