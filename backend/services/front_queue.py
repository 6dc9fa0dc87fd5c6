"""The Front's feedback queue: filtered, searched, sorted and paged, with counts per status,
the staff view of one item and its likely duplicates.

Scope is checked inside every query: Front staff see the feedback of the communes they cover
(a commune, or every commune of their province). What they never see here is who the
reporter is: only whether contact details exist."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from backend.auth import StaffPrincipal
from backend.errors import AppError
from backend.feedback_states import OPEN_STATUSES, STATUSES, allowed_actions
from backend.pagination import decode_cursor, page_of
from backend.scope import in_scope
from backend.services.forward_copies import current_review
from backend.text import like_patterns
from schemas.front import (
    AttachmentInfo,
    DuplicateCandidate,
    DuplicateList,
    FeedbackEventView,
    ForwardView,
    FrontFeedback,
    QueueItem,
    QueuePage,
    StatusCounts,
)

FRONT_ROLES = frozenset({"front_staff", "front_supervisor"})
SUPERVISOR_ROLES = frozenset({"front_supervisor"})
Sort = Literal["priority", "age", "newest", "due"]
StatusFilter = Literal["open", "all", "received", "triaged", "forwarded", "answered", "closed", "rejected", "merged"]
# Duplicates: same commune and service, created within this many days of each other, and
# at least this share of word pairs in common.
DUPLICATE_DAYS = 30
DUPLICATE_MIN_SIMILARITY = 0.3
DUPLICATE_LIMIT = 10

ITEM_COLUMNS = """
f.id, f.reference, f.category, f.status, f.priority, f.commune_code, c.full_name as commune_name,
f.commune_service_id, p.name_vi as service_name, f.official_id, o.full_name as official_name,
left(f.body, 200) as excerpt, f.contact_ciphertext is not null as has_contact,
(select count(*) from feedback_attachments fa where fa.feedback_id = f.id)::int as attachment_count,
f.created_at, f.updated_at, f.response_due_at,
(f.status = 'forwarded' and f.response_due_at < now()) as overdue,
f.assigned_to, ua.display_name as assigned_name,
case when f.lease_expires_at > now() then f.lease_holder end as lease_holder,
case when f.lease_expires_at > now() then ul.display_name end as lease_holder_name,
case when f.lease_expires_at > now() then f.lease_expires_at end as lease_expires_at,
f.merged_into_id, f.version
"""

ITEM_FROM = """
from feedback f
join communes c on c.code = f.commune_code
left join commune_services cs on cs.id = f.commune_service_id
left join procedures p on p.code = cs.procedure_code
left join officials o on o.id = f.official_id
left join users ua on ua.id = f.assigned_to
left join users ul on ul.id = f.lease_holder
"""

VISIBLE = in_scope(user="$1", roles="$2", commune="f.commune_code", province="c.province_code")

# $3 statuses (null: any), $4 category, $5 commune, $6 service, $7 official, $8 overdue,
# $9 assigned to, $10 search patterns (every word must appear, diacritics ignored).
FILTERS = f"""
where {VISIBLE}
  and ($4::text is null or f.category = $4)
  and ($5::text is null or f.commune_code = $5)
  and ($6::bigint is null or f.commune_service_id = $6)
  and ($7::bigint is null or f.official_id = $7)
  and ($8::boolean is null or (f.status = 'forwarded' and f.response_due_at < now()) = $8)
  and ($9::bigint is null or f.assigned_to = $9)
  and ($10::text[] is null or f.body_search like all($10::text[]) or lower(f.reference) = lower($11))
"""

STATUS_FILTER = "and ($3::text[] is null or f.status = any($3::text[]))"

RANK = "array_position(array['urgent', 'high', 'normal', 'low'], f.priority)"
DUE = "coalesce(f.response_due_at, '9999-12-31 00:00:00+00'::timestamptz)"

# Per sort: the key columns (id last), the direction, the cursor's types.
SORTS: dict[str, tuple[tuple[str, ...], str, tuple[type, ...]]] = {
    "priority": ((RANK, "f.created_at", "f.id"), "asc", (int, datetime, int)),
    "age": (("f.created_at", "f.id"), "asc", (datetime, int)),
    "newest": (("f.created_at", "f.id"), "desc", (datetime, int)),
    "due": ((DUE, "f.created_at", "f.id"), "asc", (datetime, datetime, int)),
}

COUNTS_SQL = f"""
select f.status, count(*)::int as n
{ITEM_FROM}
{FILTERS}
{STATUS_FILTER}
group by f.status
"""


def _queue_sql(sort: str, with_cursor: bool) -> str:
    keys, direction, _ = SORTS[sort]
    after = ""
    if with_cursor:
        params = ", ".join(f"${13 + i}" for i in range(len(keys)))
        after = f"and ({', '.join(keys)}) {'>' if direction == 'asc' else '<'} ({params})"
    return f"""
select {ITEM_COLUMNS}, {RANK} as sort_rank, {DUE} as sort_due
{ITEM_FROM}
{FILTERS}
{STATUS_FILTER}
{after}
order by {", ".join(f"{k} {direction}" for k in keys)}
limit $12
"""


def item_of(row: Any) -> QueueItem:
    return QueueItem(**{name: row[name] for name in QueueItem.__struct_fields__})


def _statuses(status: str | None) -> list[str] | None:
    if status is None or status == "open":
        return list(OPEN_STATUSES)
    if status == "all":
        return None
    return [status]


async def list_queue(
    conn: Any,
    staff: StaffPrincipal,
    *,
    status: str | None = "open",
    category: str | None = None,
    commune: str | None = None,
    service: int | None = None,
    official: int | None = None,
    overdue: bool | None = None,
    mine: bool = False,
    q: str | None = None,
    sort: Sort = "priority",
    cursor: str | None = None,
    limit: int = 50,
) -> QueuePage:
    """The items in the caller's scope under the filters, a page at a time, with the counts
    per status for the tabs (same filters, every status)."""
    patterns = like_patterns(q) if q and q.strip() else None
    filters = (
        staff.user_id,
        list(FRONT_ROLES),
        _statuses(status),
        category,
        commune,
        service,
        official,
        overdue,
        staff.user_id if mine else None,
        patterns,
        q.strip() if q else None,
    )
    _, _, types = SORTS[sort]
    after = decode_cursor(cursor, *types)
    rows = await conn.fetch(_queue_sql(sort, after is not None), *filters, limit + 1, *(after or ()))
    page, next_cursor = page_of(rows, limit, lambda r: _cursor_key(r, sort))
    counts = {s: 0 for s in STATUSES}
    for row in await conn.fetch(COUNTS_SQL, *filters[:2], None, *filters[3:]):
        counts[row["status"]] = row["n"]
    return QueuePage(items=[item_of(r) for r in page], counts=StatusCounts(**counts), next_cursor=next_cursor)


def _cursor_key(row: Any, sort: str) -> tuple[Any, ...]:
    if sort == "priority":
        return (row["sort_rank"], row["created_at"], row["id"])
    if sort == "due":
        return (row["sort_due"], row["created_at"], row["id"])
    return (row["created_at"], row["id"])


ONE_SQL = f"""
select {ITEM_COLUMNS}, f.body, f.answer, f.answered_at, f.answer_rating, f.reject_reason, f.overdue_since,
       f.escalated_at, f.protected,
       array(select m.id from feedback m where m.merged_into_id = f.id order by m.id) as merged_ids
{ITEM_FROM}
where f.id = $3 and {VISIBLE}
"""

EVENTS_SQL = """
select e.id, e.kind, e.from_status, e.to_status, e.actor_kind, e.actor_user_id, u.display_name as actor_name,
       e.reason, e.data, e.visible_to_citizen, e.created_at as at
from feedback_events e
left join users u on u.id = e.actor_user_id
where e.feedback_id = $1
order by e.id
"""

FORWARDS_SQL = """
select fw.id,
       case when fw.recipient_user_ids is not null then 'province'
            when fw.official_id is null then 'commune_committee' else 'official' end as recipient,
       fw.official_id, o.full_name as official_name, fw.commune_code, fw.redacted_body, fw.status, fw.due_at,
       fw.extended_due_at, fw.extension_reason, fw.answer, fw.answered_at, fw.answered_by, fw.sent_back_at,
       fw.sent_back_reason, fw.created_by, fw.created_at, fw.review_id
from feedback_forwards fw
left join officials o on o.id = fw.official_id
where fw.feedback_id = $1
order by fw.id
"""

ATTACHMENTS_SQL = """
select a.id, a.content_type, a.size_bytes
from feedback_attachments a
where a.feedback_id = $1
order by a.id
"""


async def get_front_feedback(conn: Any, staff: StaffPrincipal, feedback_id: int) -> FrontFeedback:
    """One item as Front staff work on it, with its history, forwards and attachments.
    Outside the caller's scope it does not exist (404)."""
    row = await conn.fetchrow(ONE_SQL, staff.user_id, list(FRONT_ROLES), feedback_id)
    if row is None:
        raise AppError("feedback_not_found")
    events = [FeedbackEventView(**dict(r)) for r in await conn.fetch(EVENTS_SQL, feedback_id)]
    forwards = [ForwardView(**dict(r)) for r in await conn.fetch(FORWARDS_SQL, feedback_id)]
    attachments = [AttachmentInfo(**dict(r)) for r in await conn.fetch(ATTACHMENTS_SQL, feedback_id)]
    return FrontFeedback(
        **{name: row[name] for name in QueueItem.__struct_fields__},
        body=row["body"],
        answer=row["answer"],
        answered_at=row["answered_at"],
        answer_rating=row["answer_rating"],
        reject_reason=row["reject_reason"],
        overdue_since=row["overdue_since"],
        escalated_at=row["escalated_at"],
        merged_ids=list(row["merged_ids"]),
        allowed_actions=list(allowed_actions(row["status"])),
        events=events,
        forwards=forwards,
        attachments=attachments,
        protected=row["protected"],
        review_required=row["protected"],
        review=await current_review(conn, feedback_id),
    )


DUPLICATES_SQL = f"""
with me as (
    select f.id, f.commune_code, f.commune_service_id, f.created_at, feedback_word_pairs(f.body_search) as pairs
    from feedback f
    join communes c on c.code = f.commune_code
    where f.id = $3 and {VISIBLE}
)
select {ITEM_COLUMNS}, s.similarity
from me
join feedback f on f.commune_code = me.commune_code
                and f.commune_service_id is not distinct from me.commune_service_id
                and f.id <> me.id
                and f.status not in ('merged', 'rejected')
                and f.created_at between me.created_at - make_interval(days => $4)
                                     and me.created_at + make_interval(days => $4)
join communes c on c.code = f.commune_code
left join commune_services cs on cs.id = f.commune_service_id
left join procedures p on p.code = cs.procedure_code
left join officials o on o.id = f.official_id
left join users ua on ua.id = f.assigned_to
left join users ul on ul.id = f.lease_holder
cross join lateral (select jaccard(me.pairs, feedback_word_pairs(f.body_search)) as similarity) s
where s.similarity >= $5
order by s.similarity desc, f.id
limit $6
"""

EXISTS_SQL = f"""
select 1 from feedback f join communes c on c.code = f.commune_code where f.id = $3 and {VISIBLE}
"""


async def list_duplicates(conn: Any, staff: StaffPrincipal, feedback_id: int) -> DuplicateList:
    """Likely duplicates of an item: same commune and service, created within DUPLICATE_DAYS,
    sharing at least DUPLICATE_MIN_SIMILARITY of their word pairs; most similar first."""
    if await conn.fetchval(EXISTS_SQL, staff.user_id, list(FRONT_ROLES), feedback_id) is None:
        raise AppError("feedback_not_found")
    rows = await conn.fetch(
        DUPLICATES_SQL,
        staff.user_id,
        list(FRONT_ROLES),
        feedback_id,
        DUPLICATE_DAYS,
        DUPLICATE_MIN_SIMILARITY,
        DUPLICATE_LIMIT,
    )
    return DuplicateList(
        items=[DuplicateCandidate(item=item_of(r), similarity=round(r["similarity"], 3)) for r in rows]
    )


ITEM_SQL = f"""
select {ITEM_COLUMNS}
{ITEM_FROM}
where f.id = $3 and {VISIBLE}
"""


async def get_queue_item(conn: Any, staff: StaffPrincipal, feedback_id: int) -> QueueItem:
    """One item as the queue lists it."""
    row = await conn.fetchrow(ITEM_SQL, staff.user_id, list(FRONT_ROLES), feedback_id)
    if row is None:
        raise AppError("feedback_not_found")
    return item_of(row)
