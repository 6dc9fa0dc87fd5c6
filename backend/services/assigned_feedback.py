"""The authority's side of feedback: the redacted copies forwarded to the caller, its answer
and its request for more time.

A forward is addressed to an official (read by the user linked to that official) or, with
no official, to the commune's People's Committee (read by the commune's chairs), or, for a
report about a chair or vice-chair, to the accounts named on it at the province. Nothing
here reads the feedback table's text, contact or attachments: the authority cannot learn who
wrote it, nor whether an identity exists."""

from __future__ import annotations

from datetime import UTC, datetime, time
from typing import Any

from backend import workdays
from backend.auth import StaffPrincipal
from backend.errors import AppError
from backend.feedback_states import InvalidTransition, transition
from backend.pagination import decode_cursor, page_of
from backend.services.concerned_officials import not_concerned
from backend.services.feedback_workflow import notify_citizens, record_event
from backend.settings import Settings
from backend.workdays import LOCAL_TZ
from schemas.front import AnswerRequest, AssignedFeedback, AssignedFeedbackPage, ExtensionRequest

# Addressed to the caller, and never (whatever changed since the forward) to an account linked
# to an official a report of wrongdoing concerns (backend.services.concerned_officials).
ADDRESSED = """(
    (fw.recipient_user_ids is not null and $1 = any(fw.recipient_user_ids))
    or (fw.recipient_user_ids is null and fw.official_id is not null
     and exists (select 1 from officials ao where ao.id = fw.official_id and ao.user_id = $1))
    or (fw.recipient_user_ids is null and fw.official_id is null
        and exists (select 1 from user_roles ur
                    where ur.user_id = $1 and ur.role = 'commune_chair' and ur.commune_code = fw.commune_code)))
    and """ + not_concerned("$1", "fw.feedback_id")

COLUMNS = """
fw.id, fw.category, fw.commune_code, c.full_name as commune_name, fw.commune_service_id, p.name_vi as service_name,
fw.redacted_body as body, fw.status, coalesce(fw.extended_due_at, fw.due_at) as due_at, fw.due_at as original_due_at,
fw.extension_reason,
(fw.status in ('open', 'sent_back') and coalesce(fw.extended_due_at, fw.due_at) < now()) as overdue,
fw.answer, fw.answered_at, fw.sent_back_reason, fw.sent_back_at, fw.created_at
"""

FROM = """
from feedback_forwards fw
join communes c on c.code = fw.commune_code
left join commune_services cs on cs.id = fw.commune_service_id
left join procedures p on p.code = cs.procedure_code
"""

LIST_SQL = f"""
select {COLUMNS}
{FROM}
where {ADDRESSED}
  and fw.status <> 'withdrawn'
  and ($2::text[] is null or fw.status = any($2::text[]))
  and ($3::bigint is null or fw.id < $3)
order by fw.id desc
limit $4
"""


def _assigned(row: Any) -> AssignedFeedback:
    return AssignedFeedback(**{name: row[name] for name in AssignedFeedback.__struct_fields__})


async def list_assigned(
    conn: Any, staff: StaffPrincipal, *, status: str | None, cursor: str | None, limit: int
) -> AssignedFeedbackPage:
    """Forwards addressed to the caller, newest first; `open` (default): awaiting an answer."""
    statuses = ["open", "sent_back"] if status in (None, "open") else None if status == "all" else [status]
    after = decode_cursor(cursor, int)
    rows = await conn.fetch(LIST_SQL, staff.user_id, statuses, after[0] if after else None, limit + 1)
    page, next_cursor = page_of(rows, limit, lambda r: (r["id"],))
    return AssignedFeedbackPage(items=[_assigned(r) for r in page], next_cursor=next_cursor)


ONE_SQL = f"""
select {COLUMNS}, fw.feedback_id, fw.extended_due_at
{FROM}
where fw.id = $2 and fw.status <> 'withdrawn' and {ADDRESSED}
"""


async def get_assigned(conn: Any, staff: StaffPrincipal, forward_id: int) -> AssignedFeedback:
    """One forward addressed to the caller; any other does not exist (404)."""
    row = await conn.fetchrow(ONE_SQL, staff.user_id, forward_id)
    if row is None:
        raise AppError("forward_not_found")
    return _assigned(row)


LOCK_SQL = """
select f.id, f.status
from feedback f
where f.id = (select fw.feedback_id from feedback_forwards fw where fw.id = $1)
for update
"""


async def _lock(conn: Any, staff: StaffPrincipal, forward_id: int, action: str) -> Any:
    # The item first, then its forward: the order Front staff actions lock them in.
    item = await conn.fetchrow(LOCK_SQL, forward_id)
    row = await conn.fetchrow(ONE_SQL + " for update of fw", staff.user_id, forward_id)
    if item is None or row is None:
        raise AppError("forward_not_found")
    if row["status"] not in ("open", "sent_back"):
        raise AppError("forward_closed")
    try:
        transition(item["status"], action)
    except InvalidTransition:
        raise AppError("forward_closed") from None
    return row


ANSWER_SQL = """
update feedback_forwards set status = 'answered', answer = $2, answered_at = $3, answered_by = $4, updated_at = $3
where id = $1
"""

TOUCH_SQL = "update feedback set version = version + 1, updated_at = $2 where id = $1"


async def answer_forward(conn: Any, staff: StaffPrincipal, forward_id: int, body: AnswerRequest) -> AssignedFeedback:
    """The authority's answer; the Front then accepts it (the citizen is told) or sends it back."""
    row = await _lock(conn, staff, forward_id, "answer")
    now = datetime.now(UTC)
    await conn.execute(ANSWER_SQL, forward_id, body.answer, now, staff.user_id)
    await conn.execute(TOUCH_SQL, row["feedback_id"], now)
    await record_event(
        conn,
        row["feedback_id"],
        "authority_answered",
        "forwarded",
        "forwarded",
        actor_kind="official",
        actor_user_id=staff.user_id,
        at=now,
        data={"forward_id": forward_id},
    )
    return await get_assigned(conn, staff, forward_id)


EXTEND_SQL = """
update feedback_forwards
set extended_due_at = $2, extension_reason = $3, extended_at = $4, extended_by = $5, updated_at = $4
where id = $1
"""

EXTEND_ITEM_SQL = """
update feedback set response_due_at = $2, overdue_since = null, version = version + 1, updated_at = $3 where id = $1
"""


async def extend_forward(
    conn: Any, settings: Settings, staff: StaffPrincipal, forward_id: int, body: ExtensionRequest
) -> AssignedFeedback:
    """More time, once, with a reason: the new last day must come after the deadline and
    within FEEDBACK_MAX_EXTENSION working days of it. The citizen is told."""
    row = await _lock(conn, staff, forward_id, "extend")
    current = row["original_due_at"]
    limit = workdays.add_working_days(current.astimezone(LOCAL_TZ).date(), settings.feedback_max_extension)
    # The last day counts whole, as deadlines do (workdays.due_at): 23:59:59 Vietnam time.
    new_due = datetime.combine(body.due_date, time(23, 59, 59), tzinfo=LOCAL_TZ).astimezone(UTC)
    if row["extended_due_at"] is not None or new_due <= current or body.due_date > limit:
        raise AppError("invalid_extension")
    now = datetime.now(UTC)
    await conn.execute(EXTEND_SQL, forward_id, new_due, body.reason, now, staff.user_id)
    await conn.execute(EXTEND_ITEM_SQL, row["feedback_id"], new_due, now)
    await record_event(
        conn,
        row["feedback_id"],
        "extended",
        "forwarded",
        "forwarded",
        actor_kind="official",
        actor_user_id=staff.user_id,
        at=now,
        reason=body.reason,
        data={"forward_id": forward_id, "due_at": new_due.isoformat()},
        visible=True,
    )
    await notify_citizens(conn, row["feedback_id"], "feedback_extended", f"extended:{forward_id}", due=new_due)
    return await get_assigned(conn, staff, forward_id)
