from __future__ import annotations

from datetime import date
from typing import Annotated, Literal

from litestar import Controller, get
from litestar.params import QueryParameter

from backend.api.params import DB, Staff
from backend.api.problems import problem_responses
from backend.auth import staff_with
from backend.services import indicators as service
from schemas.indicators import IndicatorBreakdown, IndicatorReport, IndicatorSeries

ProvinceQuery = Annotated[str | None, QueryParameter(pattern=r"^[0-9]{2}(?!\n)$", description="Province code")]
CommuneQuery = Annotated[str | None, QueryParameter(pattern=r"^[0-9]{5}(?!\n)$", description="Commune code")]
ServiceQuery = Annotated[
    int | None, QueryParameter(name="service", ge=1, le=2**63 - 1, description="Commune service id")
]
OfficialQuery = Annotated[int | None, QueryParameter(ge=1, le=2**63 - 1, description="Official id")]
WindowQuery = Annotated[
    Literal["7d", "30d", "90d", "day", "week", "month"],
    QueryParameter(
        description="Rolling 7/30/90 local days ending today (or `on`), or the calendar day, ISO week or month "
        "containing today (or `on`), in Asia/Ho_Chi_Minh"
    ),
]
OnQuery = Annotated[date | None, QueryParameter(description="Local day the window ends on or contains; default today")]
SortQuery = Annotated[
    service.SortKey,
    QueryParameter(description="Indicator to rank by"),
]
OrderQuery = Annotated[
    Literal["worst", "best"],
    QueryParameter(
        description="`worst` ranks by the favourable end of the 95 % interval, so a row needs evidence to top the list"
    ),
]
ByQuery = Annotated[
    Literal["service", "official", "commune"],
    QueryParameter(description="`service` or `official` inside a commune; `commune` inside a province"),
]
FromQuery = Annotated[
    date | None, QueryParameter(name="from", description="First local day; default 29 days before `to`")
]
ToQuery = Annotated[date | None, QueryParameter(name="to", description="Last local day; default today")]

SCOPE_DOC = (
    " The scope is the narrowest of `official`, `service`, `commune`, `province` given, else the nation;"
    " it must lie within the caller's roles."
)


class IndicatorController(Controller):
    path = "/v1/indicators"
    tags = ["indicators"]
    guards = [staff_with()]

    @get(
        operation_id="GetIndicators",
        summary="Indicators of a scope over a window",
        description="Satisfaction, scores, volume, verified share, on-time rate, processing time and feedback "
        "backlog, each with its sample size and, for rates, a 95 % Wilson interval." + SCOPE_DOC,
        responses=problem_responses(403, 404),
    )
    async def get_indicators(
        self,
        db: DB,
        staff: Staff,
        province: ProvinceQuery = None,
        commune: CommuneQuery = None,
        service_id: ServiceQuery = None,
        official: OfficialQuery = None,
        window: WindowQuery = "30d",
        on: OnQuery = None,
    ) -> IndicatorReport:
        scope = await service.resolve_scope(
            db, staff, province=province, commune=commune, service=service_id, official=official
        )
        return await service.read_indicators(db, scope, window, on)

    @get(
        "/series",
        operation_id="GetIndicatorSeries",
        summary="Daily indicator values for charts",
        description="One point per local day, days without data included (as zero volume)." + SCOPE_DOC,
        responses=problem_responses(400, 403, 404),
    )
    async def get_series(
        self,
        db: DB,
        staff: Staff,
        province: ProvinceQuery = None,
        commune: CommuneQuery = None,
        service_id: ServiceQuery = None,
        official: OfficialQuery = None,
        first_day: FromQuery = None,
        last_day: ToQuery = None,
    ) -> IndicatorSeries:
        scope = await service.resolve_scope(
            db, staff, province=province, commune=commune, service=service_id, official=official
        )
        return await service.read_series(db, scope, first_day, last_day)

    @get(
        "/breakdown",
        operation_id="GetIndicatorBreakdown",
        summary="Indicators per service or official of a commune, or per commune of a province",
        responses=problem_responses(400, 403, 404),
    )
    async def get_breakdown(
        self,
        db: DB,
        staff: Staff,
        by: ByQuery,
        province: ProvinceQuery = None,
        commune: CommuneQuery = None,
        window: WindowQuery = "30d",
        on: OnQuery = None,
        sort: SortQuery = "satisfaction_rate",
        order: OrderQuery = "worst",
    ) -> IndicatorBreakdown:
        scope = await service.resolve_scope(db, staff, province=province, commune=commune)
        return await service.read_breakdown(db, scope, by, window, on, sort, order == "worst")
