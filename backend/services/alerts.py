"""Alerts as people see and handle them: list, detail with timeline, acknowledge, silence.

Every read and write is scoped in its query: a chair sees the alerts of their commune, a
province's staff those of its communes."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from backend.alert_states import InvalidTransition, Step, acknowledge, alert_of, silence
from backend.audit import record_audit
from backend.auth import StaffPrincipal
from backend.errors import AppError
from backend.pagination import decode_cursor, page_of
from backend.scope import in_scope
from backend.services.indicators import WIDE_READERS
from schemas.alerts import Alert, AlertAcknowledge, AlertDetail, AlertEvent, AlertPage, AlertSilence

ALERT_READERS = WIDE_READERS
ALERT_HANDLERS = frozenset({"commune_chair", "province_admin", "system_admin"})
OPEN_STATES = ("pending", "firing", "acknowledged")

ALERT_COLUMNS = """
a.id, a.rule_id, a.indicator, a.state, a.severity, a.scope_kind, a.scope_code, a.commune_code, a.province_code,
c.full_name as commune_name, a.value, a.sample_size, a.ci_low, a.ci_high, r.value as threshold, r.comparator,
r.window_spec as window, a.pending_since, a.fired_at, a.acknowledged_at, a.acknowledged_by, a.resolved_at,
a.escalated_at, a.last_notified_at, a.silenced_until, a.silence_reason
"""

LIST_SQL = f"""
select {ALERT_COLUMNS}
from alerts a
join threshold_rules r on r.id = a.rule_id
left join communes c on c.code = a.commune_code
where {in_scope(user="$1", roles="$2", commune="a.commune_code", province="a.province_code")}
  and a.state = any($3::text[])
  and ($4::text is null or a.commune_code = $4)
  and ($5::text is null or a.province_code = $5)
  and ($6::bigint is null or a.id < $6)
order by a.id desc
limit $7
"""


def _alert(row: Any) -> Alert:
    return Alert(**{name: row[name] for name in Alert.__struct_fields__})


async def list_alerts(
    conn: Any,
    staff: StaffPrincipal,
    *,
    state: str | None,
    commune: str | None,
    province: str | None,
    cursor: str | None,
    limit: int,
) -> AlertPage:
    """Alerts in the caller's scope, newest first; `state` is one state or `open` (default)."""
    states = list(OPEN_STATES) if state in (None, "open") else [state]
    after = decode_cursor(cursor, int)
    rows = await conn.fetch(
        LIST_SQL,
        staff.user_id,
        list(ALERT_READERS),
        states,
        commune,
        province,
        after[0] if after else None,
        limit + 1,
    )
    page, next_cursor = page_of(rows, limit, lambda r: (r["id"],))
    return AlertPage(items=[_alert(r) for r in page], next_cursor=next_cursor)


ONE_SQL = f"""
select {ALERT_COLUMNS},
       {in_scope(user="$2", roles="$3", commune="a.commune_code", province="a.province_code")} as visible,
       {in_scope(user="$2", roles="$4", commune="a.commune_code", province="a.province_code")} as handles,
       a.updated_at
from alerts a
join threshold_rules r on r.id = a.rule_id
left join communes c on c.code = a.commune_code
where a.id = $1
"""

EVENTS_SQL = """
select e.id, e.kind, e.from_state, e.to_state, e.created_at as at, e.actor_user_id, u.display_name as actor_name,
       e.value, e.sample_size, e.data
from alert_events e
left join users u on u.id = e.actor_user_id
where e.alert_id = $1
order by e.id
"""


async def _visible(conn: Any, staff: StaffPrincipal, alert_id: int, *, lock: bool = False) -> Any:
    row = await conn.fetchrow(
        ONE_SQL + (" for update of a" if lock else ""),
        alert_id,
        staff.user_id,
        list(ALERT_READERS),
        list(ALERT_HANDLERS),
    )
    if row is None or not row["visible"]:
        raise AppError("alert_not_found")
    return row


async def get_alert(conn: Any, staff: StaffPrincipal, alert_id: int) -> AlertDetail:
    """An alert with its timeline and the values that fired it."""
    row = await _visible(conn, staff, alert_id)
    events = [AlertEvent(**dict(r)) for r in await conn.fetch(EVENTS_SQL, alert_id)]
    fired = next((e for e in events if e.kind == "fired"), None)
    return AlertDetail(alert=_alert(row), fired_with=fired, timeline=events)


UPDATE_HANDLED_SQL = """
update alerts
set state = $2, acknowledged_at = $3, acknowledged_by = $4, silenced_until = $5, silence_reason = $6,
    silenced_by = $7, updated_at = $8
where id = $1
"""

INSERT_EVENT_SQL = """
insert into alert_events (alert_id, kind, from_state, to_state, actor_user_id, value, sample_size, data, created_at)
values ($1, $2, $3, $4, $5, $6, $7, $8, $9)
"""


async def _handle(conn: Any, staff: StaffPrincipal, alert_id: int, action: str, data: dict[str, Any]) -> AlertDetail:
    row = await _visible(conn, staff, alert_id, lock=True)
    if not row["handles"]:
        raise AppError("forbidden_role")
    now = datetime.now(UTC)
    try:
        if action == "acknowledge":
            result: Step = acknowledge(alert_of(row), now)
        else:
            result = silence(alert_of(row), data["until"], now)
    except InvalidTransition:
        raise AppError("invalid_alert_transition") from None
    except ValueError:
        raise AppError("invalid_silence") from None
    alert = result.alert
    assert alert is not None
    silenced = action == "silence"
    await conn.execute(
        UPDATE_HANDLED_SQL,
        alert_id,
        alert.state,
        alert.acknowledged_at,
        staff.user_id if action == "acknowledge" else row["acknowledged_by"],
        alert.silenced_until,
        data.get("reason") if silenced else row["silence_reason"],
        staff.user_id if silenced else None,
        now,
    )
    event_data = {k: v.isoformat() if isinstance(v, datetime) else v for k, v in data.items() if v is not None}
    for event in result.events:
        await conn.execute(
            INSERT_EVENT_SQL,
            alert_id,
            event.kind,
            event.from_state,
            event.to_state,
            staff.user_id,
            row["value"],
            row["sample_size"],
            event_data,
            now,
        )
    await record_audit(
        conn,
        actor_kind="staff",
        actor_user_id=staff.user_id,
        action=f"alert.{action}",
        object_kind="alert",
        object_id=alert_id,
        reason=data.get("reason") or data.get("note"),
        data=event_data,
    )
    return await get_alert(conn, staff, alert_id)


async def acknowledge_alert(conn: Any, staff: StaffPrincipal, alert_id: int, body: AlertAcknowledge) -> AlertDetail:
    """Take a firing alert: reminders and escalation stop until it resolves."""
    return await _handle(conn, staff, alert_id, "acknowledge", {"note": body.note})


async def silence_alert(conn: Any, staff: StaffPrincipal, alert_id: int, body: AlertSilence) -> AlertDetail:
    """Mute an open alert's pushes until a time, with a reason."""
    return await _handle(conn, staff, alert_id, "silence", {"until": body.until, "reason": body.reason})
