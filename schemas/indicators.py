"""Indicators: values over a scope and a window, daily series and breakdowns."""

from datetime import date, datetime
from typing import Annotated, Literal

from msgspec import Meta

from schemas.base import Base


class Measure(Base, kw_only=True):
    """A value with the number of observations behind it; rates and means carry a 95 %
    interval (Wilson for rates). No value when there was nothing to measure."""

    sample_size: int
    value: float | None = None
    ci_low: float | None = None
    ci_high: float | None = None


class DimensionMeans(Base, kw_only=True):
    """Mean 1–5 score per survey dimension (only ratings that scored it)."""

    access: Measure
    procedure: Measure
    attitude: Measure
    result: Measure
    timeliness: Measure


class IndicatorValues(Base, kw_only=True):
    satisfaction_rate: Measure
    """Share of ratings scoring 4 or 5."""
    mean_score: Measure
    dimensions: DimensionMeans
    volume: int
    """Ratings in the window."""
    verified_share: Measure
    """Share of ratings whose dossier the one-stop shop reported completed."""
    on_time_rate: Measure
    """Share of dossiers completed in the window by their due time."""
    processing_median_hours: Measure
    processing_p90_hours: Measure
    feedback_backlog: int
    """Feedback items open now (received, triaged or forwarded)."""
    feedback_overdue: int
    """Forwarded feedback items past their response deadline now."""
    feedback_answered_on_time: Measure
    """Share of feedback answered in the window by its response deadline."""
    feedback_answer_median_hours: Measure
    """Median time from submission to answer, of feedback answered in the window."""
    feedback_answer_satisfaction: Measure
    """Share of rated answers that citizens scored 4 or 5."""


ScopeKind = Literal["nation", "province", "commune", "service", "official"]


class IndicatorScope(Base, kw_only=True):
    kind: ScopeKind
    province_code: str | None = None
    commune_code: str | None = None
    commune_service_id: int | None = None
    official_id: int | None = None
    name: str | None = None


class IndicatorWindow(Base, kw_only=True):
    spec: str
    time_zone: str
    first_day: date
    last_day: date
    starts_at: datetime
    ends_at: datetime


class IndicatorReport(Base, kw_only=True):
    scope: IndicatorScope
    window: IndicatorWindow
    values: IndicatorValues
    quarantined: Annotated[
        int,
        Meta(
            ge=0,
            description="Ratings of the scope, served in the window, held for review by campaign detection: "
            "counted in none of the values until a reviewer releases them",
        ),
    ]
    computed_at: datetime


class SeriesPoint(Base, kw_only=True):
    day: date
    satisfaction_rate: Measure
    mean_score: Measure
    volume: int
    verified_share: Measure
    on_time_rate: Measure
    dossiers_received: int
    dossiers_completed: int


class IndicatorSeries(Base, kw_only=True):
    scope: IndicatorScope
    time_zone: str
    first_day: date
    last_day: date
    points: list[SeriesPoint]


class BreakdownRow(Base, kw_only=True):
    key: str
    """Service id, official id or commune code, as text."""
    name: str
    commune_service_id: int | None = None
    official_id: int | None = None
    commune_code: str | None = None
    procedure_code: str | None = None
    values: IndicatorValues


class IndicatorBreakdown(Base, kw_only=True):
    scope: IndicatorScope
    window: IndicatorWindow
    by: Literal["service", "official", "commune"]
    sort: str
    rows: list[BreakdownRow]
