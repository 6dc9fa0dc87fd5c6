"""The alert state machine, after Prometheus Alertmanager, made for people.

    (none) --breach--> pending --breach held `for`--> firing --ack--> acknowledged
                          |                            |                   |
                          +--breach gone--> resolved   +----recovered----> resolved

* A breach is judged on the interval (see backend.services.evaluator): a commune is not paged
  for three bad ratings. Recovery needs the value back past the threshold plus hysteresis,
  so an alert does not flap around the line.
* While firing and unacknowledged, a reminder goes out every `repeat` seconds and, after
  `escalation` seconds, the province admins are told once.
* Acknowledging stops reminders and escalation; a silence (until a time, with a reason)
  stops every push until it expires, without changing the state.
* A resolution is pushed only to those who were told about the alert.

Pure: `step` takes the alert as it is, the judgement of the latest evaluation and the
rule, and says what the alert becomes, which events to record and whom to notify.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields, replace
from datetime import datetime, timedelta
from typing import Any, Literal

State = Literal["pending", "firing", "acknowledged", "resolved"]
Notify = Literal["firing", "reminder", "escalated", "resolved"]
MAX_SILENCE = timedelta(days=30)


class InvalidTransition(Exception):
    def __init__(self, state: str, action: str) -> None:
        super().__init__(f"cannot {action} an alert that is {state}")
        self.state, self.action = state, action


@dataclass(frozen=True)
class Rule:
    for_seconds: int = 0
    repeat_seconds: int = 86400
    escalation_seconds: int | None = None


@dataclass(frozen=True)
class Judgement:
    breaching: bool
    """The interval lies wholly on the wrong side of the threshold (enough samples)."""
    recovered: bool
    """The value is back past the threshold plus hysteresis, or there is no data left."""


@dataclass(frozen=True)
class Alert:
    state: State
    pending_since: datetime
    fired_at: datetime | None = None
    acknowledged_at: datetime | None = None
    resolved_at: datetime | None = None
    last_notified_at: datetime | None = None
    escalated_at: datetime | None = None
    silenced_until: datetime | None = None

    def silenced(self, now: datetime) -> bool:
        return self.silenced_until is not None and self.silenced_until > now


def alert_of(row: Mapping[str, Any]) -> Alert:
    """The state-machine view of an alert row (the columns share the field names)."""
    return Alert(**{f.name: row[f.name] for f in fields(Alert)})


@dataclass(frozen=True)
class Event:
    kind: str
    from_state: State | None
    to_state: State


@dataclass(frozen=True)
class Step:
    alert: Alert | None
    events: tuple[Event, ...] = ()
    notify: tuple[Notify, ...] = ()

    @property
    def changed(self) -> bool:
        return bool(self.events)


def _fire(alert: Alert, now: datetime) -> Step:
    fired = replace(alert, state="firing", fired_at=now)
    if alert.silenced(now):
        return Step(fired, (Event("fired", alert.state, "firing"),))
    return Step(replace(fired, last_notified_at=now), (Event("fired", alert.state, "firing"),), ("firing",))


def _resolve(alert: Alert, kind: str, now: datetime) -> Step:
    resolved = replace(alert, state="resolved", resolved_at=now)
    told = alert.last_notified_at is not None and alert.state != "pending"
    return Step(resolved, (Event(kind, alert.state, "resolved"),), ("resolved",) if told else ())


def _while_firing(alert: Alert, rule: Rule, now: datetime) -> Step:
    if alert.silenced(now):
        return Step(alert)
    events: list[Event] = []
    notify: list[Notify] = []
    current = alert
    assert alert.fired_at is not None
    if (
        rule.escalation_seconds is not None
        and alert.escalated_at is None
        and now - alert.fired_at >= timedelta(seconds=rule.escalation_seconds)
    ):
        current = replace(current, escalated_at=now)
        events.append(Event("escalated", "firing", "firing"))
        notify.append("escalated")
    if rule.repeat_seconds > 0 and (
        alert.last_notified_at is None or now - alert.last_notified_at >= timedelta(seconds=rule.repeat_seconds)
    ):
        current = replace(current, last_notified_at=now)
        events.append(Event("reminded", "firing", "firing"))
        notify.append("reminder")
    return Step(current, tuple(events), tuple(notify))


def step(alert: Alert | None, judgement: Judgement, rule: Rule, now: datetime) -> Step:
    """What an open alert (or none) becomes after an evaluation at `now`."""
    if alert is None or alert.state == "resolved":
        if not judgement.breaching:
            return Step(None)
        opened = Alert(state="pending", pending_since=now)
        if rule.for_seconds <= 0:
            fired = _fire(opened, now)
            return Step(fired.alert, (Event("fired", None, "firing"),), fired.notify)
        return Step(opened, (Event("pending", None, "pending"),))
    if alert.state == "pending":
        if not judgement.breaching:
            return _resolve(alert, "cancelled", now)
        if now - alert.pending_since >= timedelta(seconds=rule.for_seconds):
            return _fire(alert, now)
        return Step(alert)
    if judgement.recovered:
        return _resolve(alert, "resolved", now)
    if alert.state == "firing":
        return _while_firing(alert, rule, now)
    return Step(alert)


def acknowledge(alert: Alert, now: datetime) -> Step:
    """A person takes the alert: reminders and escalation stop until it resolves."""
    if alert.state != "firing":
        raise InvalidTransition(alert.state, "acknowledge")
    return Step(
        replace(alert, state="acknowledged", acknowledged_at=now), (Event("acknowledged", "firing", "acknowledged"),)
    )


def silence(alert: Alert, until: datetime, now: datetime) -> Step:
    """Mute an open alert's pushes until `until` (at most MAX_SILENCE ahead)."""
    if alert.state == "resolved":
        raise InvalidTransition(alert.state, "silence")
    if until <= now or until - now > MAX_SILENCE:
        raise ValueError("a silence must end in the future, within 30 days")
    return Step(replace(alert, silenced_until=until), (Event("silenced", alert.state, alert.state),))
