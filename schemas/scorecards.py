"""Scorecards (Decree 335/2025/ND-CP, Decision 766/QĐ-TTg): figures, evidence, explanations."""

from datetime import date, datetime
from typing import Annotated, Literal

from msgspec import Meta

from schemas.base import Base
from schemas.types import FREE_TEXT

ComponentStatus = Literal["ok", "insufficient", "not_applicable"]
BandName = Literal["excellent", "good", "completed", "not_completed"]


class Component(Base, kw_only=True):
    """One component, 0–100 points with its 95 % interval. `insufficient`: fewer observations
    than the minimum sample, so no score counts; `not_applicable`: nothing to measure."""

    status: ComponentStatus
    sample_size: int
    weight: float
    score: float | None = None
    ci_low: float | None = None
    ci_high: float | None = None


class Estimate(Base, kw_only=True):
    """A rate or mean with its sample size and 95 % interval (Wilson for rates, normal for means)."""

    sample_size: int
    value: float | None = None
    ci_low: float | None = None
    ci_high: float | None = None


class FairComparison(Base, kw_only=True):
    """Observed beside expected: what the unit's own procedure mix would give at the province's
    rate for each procedure (indirect standardisation)."""

    observed: float | None = None
    expected: float | None = None


class CompositeScore(Base, kw_only=True):
    status: Literal["ok", "insufficient"]
    """`insufficient`: the components with enough data carry less than the configured share of the weight."""
    weight_share: float
    score: float | None = None
    ci_low: float | None = None
    ci_high: float | None = None
    band: BandName | None = None
    """Decree 335's classification (≥ 90 excellent, 70–< 90 good, 50–< 70 completed, < 50 not
    completed) — advisory: the person's superior decides."""


class RankRange(Base, kw_only=True):
    """Rank among the units compared (1 = best) as a range: units whose composite intervals
    overlap share the range instead of an order nobody can vouch for."""

    best: int
    worst: int
    of: int


class DimensionEstimates(Base, kw_only=True):
    access: Estimate
    procedure: Estimate
    attitude: Estimate
    result: Estimate
    timeliness: Estimate


class Figures(Base, kw_only=True):
    dossiers_completed: int
    """Dossiers completed in the period (quantity)."""
    dossiers_due: int
    """Products due in the period and decided: completed by then (on time), or late."""
    dossiers_on_time: int
    dossiers_late: int
    """Completed after the due time, or still open past it."""
    progress: Component
    processing: Component
    processing_mean_working_days: float | None = None
    statutory_mean_working_days: float | None = None
    satisfaction: Component
    mean_score: Estimate
    dimensions: DimensionEstimates
    feedback: Component
    feedback_answered_on_time: int
    feedback_late: int
    online: Component | None = None
    """Communes only: share of dossiers received online, when the one-stop shop reports the channel."""
    dossiers_received: int | None = None
    on_time_fair: FairComparison
    satisfaction_fair: FairComparison
    composite: CompositeScore
    rank: RankRange | None = None


class Amendment(Base, kw_only=True):
    id: int
    amended_at: datetime
    reason: str
    changes: dict[str, list[float | int | str | None]]
    """Figure path → [value when frozen or last amended, value now]."""


class Explanation(Base, kw_only=True):
    id: int
    body: str
    author: str
    created_at: datetime


class ScorecardSummary(Base, kw_only=True):
    id: int
    period: str
    subject_kind: Literal["official", "commune"]
    official_id: int | None = None
    official_name: str | None = None
    position: str | None = None
    commune_code: str
    commune_name: str
    province_code: str
    composite: float | None = None
    band: BandName | None = None
    rank: RankRange | None = None
    frozen: bool
    amended: bool


class Scorecard(Base, kw_only=True):
    id: int
    period: str
    period_kind: Literal["month", "quarter"]
    period_start: date
    period_end: date
    """Last local day of the period (Asia/Ho_Chi_Minh)."""
    subject_kind: Literal["official", "commune"]
    official_id: int | None = None
    official_name: str | None = None
    position: str | None = None
    commune_code: str
    commune_name: str
    province_code: str
    figures: Figures
    computed_at: datetime
    """When the period's figures were last computed: they are current as of then."""
    frozen_at: datetime | None = None
    freezes_at: datetime
    amendments: list[Amendment]
    explanations: list[Explanation]


class ScorecardPage(Base, kw_only=True):
    items: list[ScorecardSummary]
    next_cursor: str | None = None


class LateDossier(Base, kw_only=True):
    code: str
    procedure_code: str
    procedure_name: str
    received_at: datetime
    due_at: datetime
    completed_at: datetime | None = None
    """None: still open past its due time."""


class LateDossierPage(Base, kw_only=True):
    items: list[LateDossier]
    next_cursor: str | None = None


class ProcessedDossier(Base, kw_only=True):
    code: str
    procedure_code: str
    procedure_name: str
    received_at: datetime
    completed_at: datetime
    days_taken: int | None = None
    """Working days (calendar days for calendar-day procedures) from receipt to completion."""
    statutory_days: int | None = None
    credit: float | None = None
    """clamp(2 − taken/statutory, 0, 1); none when the procedure has no statutory time."""


class ProcessedDossierPage(Base, kw_only=True):
    items: list[ProcessedDossier]
    next_cursor: str | None = None


class ScoreCount(Base, kw_only=True):
    procedure_code: str
    procedure_name: str
    counts: list[int]
    """Verified, counting ratings scored 1, 2, 3, 4 and 5 — how many, never by whom."""


class RatingEvidence(Base, kw_only=True):
    total: int
    by_procedure: list[ScoreCount]


class FeedbackEvidence(Base, kw_only=True):
    forward_id: int
    category: str | None = None
    forwarded_at: datetime
    deadline: datetime
    answered_at: datetime | None = None
    outcome: Literal["on_time", "late", "pending"]


class FeedbackEvidencePage(Base, kw_only=True):
    items: list[FeedbackEvidence]
    next_cursor: str | None = None


ExplanationText = Annotated[str, Meta(min_length=1, max_length=2000, pattern=FREE_TEXT)]


class ExplanationCreate(Base, kw_only=True):
    body: ExplanationText
    """Objective causes the Decree allows (e.g. a system outage, a change of procedure), in the official's words."""
