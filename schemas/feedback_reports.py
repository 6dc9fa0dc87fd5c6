"""The Front's monthly report and its answer templates."""

from datetime import date, datetime
from typing import Annotated, Literal

from msgspec import Meta

from schemas.base import Base
from schemas.indicators import Measure
from schemas.types import FREE_TEXT, SINGLE_LINE, ProvinceCode

FeedbackCategory = Literal["suggestion", "complaint", "wrongdoing_report", "question", "praise"]
FEEDBACK_STATUSES = ("received", "triaged", "forwarded", "answered", "closed", "rejected", "merged")


class CategoryReport(Base, kw_only=True):
    category: str
    """A category, or `all` for the total row."""
    received: int
    """Items submitted in the month."""
    by_status: dict[str, int]
    """Where the month's items stand now."""
    answered: int
    """Items answered in the month (whenever submitted)."""
    answered_on_time: Measure
    """Share of the month's answers given by the response deadline (items with one)."""
    median_hours_to_answer: Measure
    answer_satisfaction: Measure
    """Share of rated answers that citizens scored 4 or 5."""
    mean_answer_rating: Measure


class MonthlyReport(Base, kw_only=True):
    scope_kind: Literal["commune", "province"]
    scope_code: str
    scope_name: str
    month: str
    first_day: date
    last_day: date
    time_zone: str
    generated_at: datetime
    categories: list[CategoryReport]
    total: CategoryReport


TemplateTitle = Annotated[str, Meta(min_length=1, max_length=200, pattern=SINGLE_LINE)]
TemplateBody = Annotated[str, Meta(min_length=1, max_length=5000, pattern=FREE_TEXT)]


class FeedbackTemplate(Base, kw_only=True):
    id: int
    category: FeedbackCategory
    title: str
    body: str
    scope_kind: Literal["national", "province"]
    province_code: str | None = None
    updated_at: datetime


class FeedbackTemplateList(Base, kw_only=True):
    items: list[FeedbackTemplate]


class FeedbackTemplateCreate(Base, kw_only=True):
    category: FeedbackCategory
    title: TemplateTitle
    body: TemplateBody
    province_code: ProvinceCode | None = None
    """A province's template (its Front supervisors); none: national (national supervisors)."""


class FeedbackTemplateUpdate(Base, kw_only=True):
    title: TemplateTitle | None = None
    body: TemplateBody | None = None
