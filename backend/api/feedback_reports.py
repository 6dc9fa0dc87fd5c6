from __future__ import annotations

from typing import Annotated, Literal

from litestar import Controller, Response, get
from litestar.params import QueryParameter

from backend.api.params import DB, Staff
from backend.api.problems import problem_responses
from backend.auth import staff_with
from backend.services import feedback_reports as service
from schemas.feedback_reports import MonthlyReport


class FeedbackReportController(Controller):
    path = "/v1/front/reports"
    tags = ["front"]
    guards = [staff_with(*service.REPORT_READERS)]

    @get(
        "/monthly",
        operation_id="GetMonthlyFeedbackReport",
        summary="The Front's monthly report for a commune or a province (JSON, or CSV with format=csv)",
        description="Counts by category and status of the items submitted in the month (local days, "
        "Asia/Ho_Chi_Minh), and of the answers given in it: on-time share, median time to answer and "
        "citizens' satisfaction with the answers.",
        responses=problem_responses(400, 403, 404),
        opt={"response_content": {200: {"text/csv": {"schema": {"type": "string"}}}}},
    )
    async def monthly(
        self,
        db: DB,
        staff: Staff,
        month: Annotated[str, QueryParameter(pattern=r"^[0-9]{4}-[0-9]{2}(?!\n)$", description="YYYY-MM")],
        commune: Annotated[str | None, QueryParameter(pattern=r"^[0-9]{5}(?!\n)$")] = None,
        province: Annotated[str | None, QueryParameter(pattern=r"^[0-9]{2}(?!\n)$")] = None,
        file_format: Annotated[Literal["json", "csv"], QueryParameter(name="format")] = "json",
    ) -> Response[MonthlyReport]:
        report = await service.monthly_report(db, staff, commune=commune, province=province, month=month)
        if file_format == "csv":
            name = f"feedback-{report.scope_code}-{report.month}.csv"
            return Response(
                service.report_csv(report),  # type: ignore[arg-type]  # the CSV form, see opt
                media_type="text/csv; charset=utf-8",
                headers={"content-disposition": f'attachment; filename="{name}"'},
            )
        return Response(report)
