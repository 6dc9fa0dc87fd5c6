"""Who a forward reaches (backend.reporter_protection.route_forward), read from the database:
used by the forward itself and by the preview the Front sees before sending."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from backend.auth import StaffPrincipal
from backend.errors import AppError, problem_of
from backend.redaction import redact_with_findings
from backend.reporter_protection import Route, RoutingFacts, route_forward
from backend.scope import in_scope
from backend.services.forward_copies import current_review
from backend.services.front_queue import FRONT_ROLES
from schemas.front import ForwardPreview, ForwardRecipient

# $1 item, $2 now. Officials concerned: named or linked in triage (ever, from the history),
# and for a protected item whoever held the service when it was filed.
ROUTING_FACTS_SQL = """
with item as (
    select f.id, f.protected, f.commune_code, c.province_code, f.commune_service_id, f.official_id, f.created_at
    from feedback f join communes c on c.code = f.commune_code
    where f.id = $1
),
holder as (
    select o.id, o.user_id
    from item i
    join assignments a on a.commune_service_id = i.commune_service_id and a.valid @> $2::timestamptz
    join officials o on o.id = a.official_id and o.is_active
    join users u on u.id = o.user_id and u.is_active
),
concerned as (
    select i.official_id as id from item i where i.official_id is not null
    union
    select (e.data ->> 'official_id')::bigint
    from item i join feedback_events e on e.feedback_id = i.id
    where jsonb_typeof(e.data -> 'official_id') = 'number'
    union
    select a.official_id
    from item i join assignments a on a.commune_service_id = i.commune_service_id and a.valid @> i.created_at
    where i.protected
)
select i.protected, i.commune_code, i.province_code,
       (select h.id from holder h) as holder_official_id,
       (select h.user_id from holder h) as holder_user_id,
       array(select k.id from concerned k) as concerned_official_ids,
       array(select o.user_id from officials o where o.id in (select k.id from concerned k) and o.user_id is not null)
           as concerned_user_ids,
       exists (select 1 from officials o
               where o.id in (select k.id from concerned k)
                 and (fold_vi(o.position) like 'chu tich%' or fold_vi(o.position) like 'pho chu tich%'
                      or exists (select 1 from user_roles ur
                                 where ur.user_id = o.user_id and ur.role = 'commune_chair'
                                   and ur.commune_code = i.commune_code))) as concerned_is_head,
       array(select ur.user_id from user_roles ur join users u on u.id = ur.user_id and u.is_active
             where ur.role = 'commune_chair' and ur.commune_code = i.commune_code
             order by ur.user_id) as chair_user_ids,
       coalesce(
           (select array[r.user_id] from province_feedback_recipients r join users u on u.id = r.user_id and u.is_active
            where r.province_code = i.province_code),
           array(select distinct ur.user_id from user_roles ur join users u on u.id = ur.user_id and u.is_active
                 where ur.role = 'province_admin' and ur.province_code = i.province_code order by ur.user_id)
       ) as province_user_ids
from item i
"""


async def route_of(conn: Any, feedback_id: int, at: datetime) -> Route:
    """Where a forward of the item would go at `at` (refusal included, not raised)."""
    row = await conn.fetchrow(ROUTING_FACTS_SQL, feedback_id, at)
    if row is None:
        raise AppError("feedback_not_found")
    return route_forward(
        RoutingFacts(
            protected=row["protected"],
            holder_official_id=row["holder_official_id"],
            holder_user_id=row["holder_user_id"],
            concerned_official_ids=frozenset(row["concerned_official_ids"]),
            concerned_user_ids=frozenset(row["concerned_user_ids"]),
            concerned_is_head=row["concerned_is_head"],
            chair_user_ids=tuple(row["chair_user_ids"]),
            province_user_ids=tuple(row["province_user_ids"]),
        )
    )


VISIBLE_SQL = f"""
select 1 from feedback f join communes c on c.code = f.commune_code
where f.id = $1 and {in_scope(user="$2", roles="$3", commune="f.commune_code", province="c.province_code")}
"""

ITEM_SQL = "select f.body, f.protected from feedback f where f.id = $1"

RECIPIENTS_SQL = """
select u.id as user_id, u.display_name from users u where u.id = any($1::bigint[]) order by u.id
"""


async def preview_forward(conn: Any, staff: StaffPrincipal, feedback_id: int, language: str) -> ForwardPreview:
    """Who a forward would reach now, for Front staff covering the item, and the problem a
    forward would meet (one reaching an official concerned is refused)."""
    if await conn.fetchval(VISIBLE_SQL, feedback_id, staff.user_id, list(FRONT_ROLES)) is None:
        raise AppError("feedback_not_found")
    route = await route_of(conn, feedback_id, datetime.now(UTC))
    people = await conn.fetch(RECIPIENTS_SQL, list(route.recipients))
    item = await conn.fetchrow(ITEM_SQL, feedback_id)
    review = await current_review(conn, feedback_id)
    masked_copy, masked = redact_with_findings(item["body"])
    refusal = route.refusal or ("forward_not_reviewed" if item["protected"] and review is None else None)
    return ForwardPreview(
        recipient=route.recipient,
        official_id=route.official_id,
        recipients=[ForwardRecipient(user_id=r["user_id"], display_name=r["display_name"]) for r in people],
        problem=problem_of(AppError(refusal), language) if refusal else None,
        body=review.body if review is not None else masked_copy,
        masked=masked,
        review_required=item["protected"],
        review=review,
    )
