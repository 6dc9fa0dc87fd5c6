"""Threshold rules: when an indicator of a commune is bad enough to tell its chair.

A national rule is the default for every commune; a province rule overrides it for the
communes of that province; a commune rule overrides both for one commune."""

from datetime import datetime
from typing import Annotated, Literal

from msgspec import UNSET, Meta, UnsetType

from schemas.base import Base
from schemas.types import CommuneCode, ProvinceCode, ScopeKind

RuleIndicator = Literal[
    "satisfaction_rate",
    "verified_share",
    "on_time_rate",
    "mean_score",
    "feedback_backlog",
    "feedback_overdue",
    "feedback_answered_on_time",
    "feedback_answer_satisfaction",
]
Comparator = Literal["below", "above"]
RuleWindow = Literal["7d", "30d", "90d", "day", "week", "month"]
Severity = Literal["info", "warning", "critical"]

MAX_RULE_SECONDS = 30 * 86400

ThresholdValue = Annotated[
    float,
    Meta(
        ge=0,
        le=1_000_000,
        description="Rates as a fraction in [0, 1], mean scores in [1, 5], counts as a whole number",
    ),
]
Hysteresis = Annotated[
    float,
    Meta(
        ge=0,
        le=1_000_000,
        description="How far past the threshold the indicator must come back before the alert resolves "
        "(at most 1 for rates)",
    ),
]
MinSample = Annotated[int, Meta(ge=1, le=100_000, description="Ratings or dossiers needed before judging")]
ForSeconds = Annotated[
    int, Meta(ge=0, le=MAX_RULE_SECONDS, description="How long the breach must hold before the alert fires")
]
RepeatSeconds = Annotated[
    int,
    Meta(
        ge=0,
        le=MAX_RULE_SECONDS,
        description="Remind every so often while the alert stays unacknowledged: 0 never, else at least 3600",
    ),
]
EscalationSeconds = Annotated[
    int,
    Meta(
        ge=60,
        le=MAX_RULE_SECONDS,
        description="Escalate to the province when firing this long unacknowledged; null never",
    ),
]


class ThresholdRule(Base, kw_only=True):
    id: int
    indicator: RuleIndicator
    comparator: Comparator
    value: float
    window: RuleWindow
    min_sample: int
    for_seconds: int
    hysteresis: float
    severity: Severity
    repeat_seconds: int
    escalation_seconds: int | None = None
    """Left out: the alert never escalates."""
    enabled: bool
    scope_kind: ScopeKind
    province_code: str | None = None
    """The province of a province rule, and the province of a commune rule's commune."""
    commune_code: str | None = None
    created_by: int | None = None
    """Left out for the seeded national defaults."""
    created_at: datetime
    updated_at: datetime
    deleted_at: datetime | None = None
    """Only in the answer to DELETE."""


class ThresholdRuleList(Base, kw_only=True):
    items: list[ThresholdRule]
    next_cursor: str | None = None


class ThresholdRuleCreate(Base, kw_only=True):
    """A rule for a scope. Fields left out are copied from the rule this one overrides
    (the province's, else the national one) when there is one, else take the defaults
    shown; later changes to that rule do not flow into the copy."""

    indicator: RuleIndicator
    scope_kind: ScopeKind
    province_code: ProvinceCode | None = None
    """Only for scope_kind province."""
    commune_code: CommuneCode | None = None
    """Only for scope_kind commune."""
    comparator: Comparator | UnsetType = UNSET
    """Required unless inherited."""
    value: ThresholdValue | UnsetType = UNSET
    """Required unless inherited."""
    window: RuleWindow | UnsetType = UNSET
    """Default 30d."""
    min_sample: MinSample | UnsetType = UNSET
    """Default 20."""
    for_seconds: ForSeconds | UnsetType = UNSET
    """Default 0."""
    hysteresis: Hysteresis | UnsetType = UNSET
    """Default 0."""
    severity: Severity | UnsetType = UNSET
    """Default warning."""
    repeat_seconds: RepeatSeconds | UnsetType = UNSET
    """Default 86400."""
    escalation_seconds: EscalationSeconds | UnsetType | None = UNSET
    """Default null (never escalate)."""
    enabled: bool = True
    """False switches the indicator off for this scope."""


class ThresholdRuleUpdate(Base, kw_only=True):
    """Fields to change; the indicator and the scope of a rule never change."""

    comparator: Comparator | UnsetType = UNSET
    value: ThresholdValue | UnsetType = UNSET
    window: RuleWindow | UnsetType = UNSET
    min_sample: MinSample | UnsetType = UNSET
    for_seconds: ForSeconds | UnsetType = UNSET
    hysteresis: Hysteresis | UnsetType = UNSET
    severity: Severity | UnsetType = UNSET
    repeat_seconds: RepeatSeconds | UnsetType = UNSET
    escalation_seconds: EscalationSeconds | UnsetType | None = UNSET
    """null: never escalate."""
    enabled: bool | UnsetType = UNSET


class EffectiveThresholdRule(Base, kw_only=True):
    """The rule that applies to a commune for one indicator, and where it comes from."""

    rule_id: int
    indicator: RuleIndicator
    comparator: Comparator
    value: float
    window: RuleWindow
    min_sample: int
    for_seconds: int
    hysteresis: float
    severity: Severity
    repeat_seconds: int
    escalation_seconds: int | None = None
    enabled: bool
    """False: the indicator is switched off for this commune."""
    inherited_from: ScopeKind
    """commune: the commune's own rule; province or national: inherited."""


class CommuneThresholdRules(Base, kw_only=True):
    commune_code: str
    province_code: str
    items: list[EffectiveThresholdRule]
