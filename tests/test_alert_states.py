"""The alert state machine, table-driven: pure, no I/O."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from backend.alert_states import Alert, InvalidTransition, Judgement, Rule, acknowledge, silence, step

T0 = datetime(2026, 5, 4, 2, 0, tzinfo=UTC)
H = timedelta(hours=1)
BREACH = Judgement(breaching=True, recovered=False)
GREY = Judgement(breaching=False, recovered=False)  # neither bad enough to fire nor good enough to resolve
GOOD = Judgement(breaching=False, recovered=True)
RULE = Rule(for_seconds=3600, repeat_seconds=6 * 3600, escalation_seconds=24 * 3600)

PENDING = Alert("pending", pending_since=T0)
FIRING = Alert("firing", pending_since=T0, fired_at=T0 + H, last_notified_at=T0 + H)
ACKED = Alert("acknowledged", pending_since=T0, fired_at=T0 + H, acknowledged_at=T0 + 2 * H, last_notified_at=T0 + H)
SILENCED_FIRING = Alert(
    "firing", pending_since=T0, fired_at=T0 + H, last_notified_at=T0 + H, silenced_until=T0 + 30 * H
)


@pytest.mark.parametrize(
    ("name", "alert", "judgement", "rule", "at", "state", "events", "notify"),
    [
        ("nothing wrong, nothing opens", None, GOOD, RULE, T0, None, [], []),
        ("grey zone opens nothing", None, GREY, RULE, T0, None, [], []),
        ("a breach opens a pending alert", None, BREACH, RULE, T0, "pending", ["pending"], []),
        (
            "without a for duration it fires at once",
            None,
            BREACH,
            Rule(for_seconds=0),
            T0,
            "firing",
            ["fired"],
            ["firing"],
        ),
        ("pending holds until the for duration", PENDING, BREACH, RULE, T0 + H / 2, "pending", [], []),
        ("pending fires once the breach held", PENDING, BREACH, RULE, T0 + H, "firing", ["fired"], ["firing"]),
        (
            "pending is cancelled silently when the breach goes",
            PENDING,
            GREY,
            RULE,
            T0 + H / 2,
            "resolved",
            ["cancelled"],
            [],
        ),
        ("firing recovers and says so", FIRING, GOOD, RULE, T0 + 2 * H, "resolved", ["resolved"], ["resolved"]),
        ("firing stays firing in the grey zone (hysteresis)", FIRING, GREY, RULE, T0 + 2 * H, "firing", [], []),
        ("no reminder before the repeat interval", FIRING, BREACH, RULE, T0 + 6 * H, "firing", [], []),
        ("reminder after the repeat interval", FIRING, BREACH, RULE, T0 + 7 * H, "firing", ["reminded"], ["reminder"]),
        (
            "escalation after the delay, with the reminder due then",
            FIRING,
            BREACH,
            Rule(repeat_seconds=6 * 3600, escalation_seconds=24 * 3600),
            T0 + 25 * H,
            "firing",
            ["escalated", "reminded"],
            ["escalated", "reminder"],
        ),
        ("repeat 0 never reminds", FIRING, BREACH, Rule(repeat_seconds=0), T0 + 100 * H, "firing", [], []),
        ("acknowledged: no reminders", ACKED, BREACH, RULE, T0 + 50 * H, "acknowledged", [], []),
        ("acknowledged recovers and says so", ACKED, GOOD, RULE, T0 + 50 * H, "resolved", ["resolved"], ["resolved"]),
        ("silenced: no reminder, no escalation", SILENCED_FIRING, BREACH, RULE, T0 + 29 * H, "firing", [], []),
        (
            "silence expired: reminders resume",
            SILENCED_FIRING,
            BREACH,
            RULE,
            T0 + 31 * H,
            "firing",
            ["escalated", "reminded"],
            ["escalated", "reminder"],
        ),
        (
            "fired during a silence: nobody told, so no resolution push",
            Alert("pending", pending_since=T0, silenced_until=T0 + 10 * H),
            BREACH,
            RULE,
            T0 + H,
            "firing",
            ["fired"],
            [],
        ),
        (
            "silenced firing that recovers without anyone told stays quiet",
            Alert("firing", pending_since=T0, fired_at=T0 + H, silenced_until=T0 + 10 * H),
            GOOD,
            RULE,
            T0 + 2 * H,
            "resolved",
            ["resolved"],
            [],
        ),
        (
            "a resolved alert does not come back by itself",
            Alert("resolved", pending_since=T0),
            GOOD,
            RULE,
            T0,
            None,
            [],
            [],
        ),
        (
            "a new breach after resolution opens a new alert",
            Alert("resolved", pending_since=T0),
            BREACH,
            RULE,
            T0,
            "pending",
            ["pending"],
            [],
        ),
    ],
)
def test_step(
    name: str,
    alert: Alert | None,
    judgement: Judgement,
    rule: Rule,
    at: datetime,
    state: str | None,
    events: list[str],
    notify: list[str],
) -> None:
    result = step(alert, judgement, rule, at)
    assert (result.alert.state if result.alert else None) == state, name
    assert [e.kind for e in result.events] == events, name
    assert list(result.notify) == notify, name


def test_firing_records_times() -> None:
    fired = step(PENDING, BREACH, RULE, T0 + 2 * H).alert
    assert fired is not None and fired.fired_at == T0 + 2 * H and fired.last_notified_at == T0 + 2 * H
    reminded = step(FIRING, BREACH, RULE, T0 + 8 * H).alert
    assert reminded is not None and reminded.last_notified_at == T0 + 8 * H
    escalated = step(FIRING, BREACH, RULE, T0 + 26 * H).alert
    assert escalated is not None and escalated.escalated_at == T0 + 26 * H
    # Escalation happens once.
    assert "escalated" not in step(escalated, BREACH, RULE, T0 + 40 * H).notify


@pytest.mark.parametrize("alert", [PENDING, ACKED, Alert("resolved", pending_since=T0)])
def test_only_firing_alerts_are_acknowledged(alert: Alert) -> None:
    with pytest.raises(InvalidTransition):
        acknowledge(alert, T0 + 3 * H)


def test_acknowledge_and_silence() -> None:
    acked = acknowledge(FIRING, T0 + 3 * H)
    assert acked.alert is not None and acked.alert.state == "acknowledged"
    assert acked.alert.acknowledged_at == T0 + 3 * H and [e.kind for e in acked.events] == ["acknowledged"]
    muted = silence(FIRING, T0 + 10 * H, T0 + 3 * H)
    assert muted.alert is not None and muted.alert.state == "firing" and muted.alert.silenced_until == T0 + 10 * H
    with pytest.raises(ValueError):
        silence(FIRING, T0, T0 + 3 * H)
    with pytest.raises(ValueError):
        silence(FIRING, T0 + 40 * 24 * H, T0)
    with pytest.raises(InvalidTransition):
        silence(Alert("resolved", pending_since=T0), T0 + 10 * H, T0)
