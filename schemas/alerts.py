"""Alerts: what fired, where, and what happened to it since."""

from datetime import datetime
from typing import Annotated, Any, Literal

from msgspec import Meta

from schemas.base import Base
from schemas.types import FREE_TEXT, AwareTime

AlertState = Literal["pending", "firing", "acknowledged", "resolved"]
Reason = Annotated[str, Meta(min_length=1, max_length=500, pattern=FREE_TEXT)]


class Alert(Base, kw_only=True):
    id: int
    rule_id: int
    indicator: str
    state: AlertState
    severity: Literal["info", "warning", "critical"]
    scope_kind: str
    scope_code: str
    commune_code: str | None = None
    province_code: str | None = None
    commune_name: str | None = None
    value: float | None = None
    """The indicator's value at the latest evaluation."""
    sample_size: int | None = None
    ci_low: float | None = None
    ci_high: float | None = None
    threshold: float | None = None
    comparator: Literal["below", "above"] | None = None
    window: str | None = None
    pending_since: datetime
    fired_at: datetime | None = None
    acknowledged_at: datetime | None = None
    acknowledged_by: int | None = None
    resolved_at: datetime | None = None
    escalated_at: datetime | None = None
    last_notified_at: datetime | None = None
    silenced_until: datetime | None = None
    silence_reason: str | None = None


class AlertPage(Base, kw_only=True):
    items: list[Alert]
    next_cursor: str | None = None


class AlertEvent(Base, kw_only=True):
    id: int
    kind: str
    """pending, fired, reminded, escalated, acknowledged, silenced, resolved, cancelled, withdrawn"""
    to_state: AlertState
    at: datetime
    from_state: AlertState | None = None
    actor_user_id: int | None = None
    actor_name: str | None = None
    value: float | None = None
    sample_size: int | None = None
    data: dict[str, Any] = {}


class AlertDetail(Base, kw_only=True):
    alert: Alert
    fired_with: AlertEvent | None = None
    """The evaluation that fired it: value, sample size, interval, threshold and window."""
    timeline: list[AlertEvent]


class AlertAcknowledge(Base, kw_only=True):
    note: Reason | None = None


class AlertSilence(Base, kw_only=True):
    until: AwareTime
    """When pushes about this alert resume; within 30 days."""
    reason: Reason
