"""The review of ratings held by campaign detection.

A province admin (for the province) or the Front (for its communes or province) lists the
held ratings in scope and releases each one (it then counts, once: the rollup triggers add
it as the status goes held -> released) or discards it (it never counts). A review is final:
the UPDATE only matches a held row, so of two concurrent reviews the second finds the row
already reviewed and is refused. Each review is audited with its reason in the same
transaction. Role and scope are checked inside the statements.
"""

from __future__ import annotations

from typing import Any, Literal

from backend.audit import record_staff_action
from backend.auth import StaffPrincipal
from backend.errors import AppError
from backend.pagination import decode_cursor, page_of
from backend.reporter_protection import meaningful_reason
from backend.scope import in_scope
from schemas.problem import FieldError
from schemas.quarantine import HeldRating, HeldRatingPage
from schemas.ratings import Dimensions, LinkedOfficial

# Who reviews held ratings: the province's admin and the Front (commune or province grants).
REVIEW_ROLES = frozenset({"province_admin", "front_staff", "front_supervisor"})
DIMENSIONS = ("access", "procedure", "attitude", "result", "timeliness")

_IN_SCOPE = in_scope(user="$1", roles="$2", commune="r.commune_code", province="c.province_code")

HELD_COLUMNS = """
r.id, r.commune_service_id, r.commune_code, c.full_name as commune_name, cs.procedure_code,
p.name_vi as procedure_name, o.id as official_id, o.full_name as official_name, o.position as official_position,
o.position_en as official_position_en, r.verified, r.score, r.score_access, r.score_procedure, r.score_attitude,
r.score_result, r.score_timeliness, r.comment, r.channel, r.served_at, r.created_at, r.quarantine,
coalesce(r.quarantine_reasons, '{}') as reasons, r.reviewed_at, r.review_reason
"""
HELD_JOINS = """
join communes c on c.code = r.commune_code
join commune_services cs on cs.id = r.commune_service_id
join procedures p on p.code = cs.procedure_code
left join officials o on o.id = r.official_id
"""

LIST_HELD_SQL = f"""
select {HELD_COLUMNS}
from ratings r {HELD_JOINS}
where r.quarantine = 'held' and {_IN_SCOPE}
  and ($3::text is null or r.commune_code = $3)
  and ($4::bigint is null or r.commune_service_id = $4)
  and ($5::bigint is null or r.official_id = $5)
  and ($6::bigint is null or r.id > $6)
order by r.id
limit $7
"""


def _held(row: Any) -> HeldRating:
    scores = [row["score_" + name] for name in DIMENSIONS]
    official = None
    if row["official_id"] is not None:
        official = LinkedOfficial(
            id=row["official_id"],
            full_name=row["official_name"],
            position=row["official_position"],
            position_en=row["official_position_en"],
        )
    return HeldRating(
        id=row["id"],
        commune_service_id=row["commune_service_id"],
        commune_code=row["commune_code"],
        commune_name=row["commune_name"],
        procedure_code=row["procedure_code"],
        procedure_name=row["procedure_name"],
        official=official,
        verified=row["verified"],
        score=row["score"],
        dimensions=Dimensions(**dict(zip(DIMENSIONS, scores, strict=True))) if any(scores) else None,
        comment=row["comment"],
        channel=row["channel"],
        served_at=row["served_at"],
        created_at=row["created_at"],
        quarantine=row["quarantine"],
        reasons=list(row["reasons"]),
        reviewed_at=row["reviewed_at"],
        review_reason=row["review_reason"],
    )


async def list_held(
    conn: Any,
    staff: StaffPrincipal,
    *,
    commune: str | None,
    service: int | None,
    official: int | None,
    cursor: str | None,
    limit: int,
) -> HeldRatingPage:
    """Held ratings in the caller's scope, oldest first (the queue order)."""
    after = decode_cursor(cursor, int)
    rows = await conn.fetch(
        LIST_HELD_SQL,
        staff.user_id,
        list(REVIEW_ROLES),
        commune,
        service,
        official,
        after[0] if after else None,
        limit + 1,
    )
    items, next_cursor = page_of(rows, limit, lambda r: (r["id"],))
    return HeldRatingPage(items=[_held(r) for r in items], next_cursor=next_cursor)


# Only a held row in the caller's scope matches. A concurrent review of the same row waits for
# the first to commit, then re-checks `quarantine = 'held'` against the new version: no match.
REVIEW_SQL = f"""
update ratings r
set quarantine = $4, reviewed_by = $1, reviewed_at = now(), review_reason = $5
from communes c
where r.id = $3 and r.quarantine = 'held' and c.code = r.commune_code and {_IN_SCOPE}
returning r.id
"""

# Why a review matched nothing: no such rating (or out of scope: 404 alike), or not held.
REVIEW_MISS_SQL = f"""
select r.quarantine, {_IN_SCOPE} as visible
from ratings r join communes c on c.code = r.commune_code
where r.id = $3
"""

REVIEWED_SQL = f"select {HELD_COLUMNS} from ratings r {HELD_JOINS} where r.id = $1"


def review_reason(reason: str) -> str:
    meaningful = meaningful_reason(reason)
    if meaningful is None:
        raise AppError(
            "validation_failed",
            errors=[FieldError(field="reason", message="Expected a reason that says why (two words or more)")],
        )
    return meaningful


async def review(
    conn: Any, staff: StaffPrincipal, rating_id: int, decision: Literal["released", "discarded"], reason: str
) -> HeldRating:
    """Release or discard one held rating, audited; 404 outside the caller's scope, 409 when
    it is not held (never was, or already reviewed)."""
    reason = review_reason(reason)
    roles = list(REVIEW_ROLES)
    async with conn.transaction():
        reviewed = await conn.fetchval(REVIEW_SQL, staff.user_id, roles, rating_id, decision, reason)
        if reviewed is None:
            miss = await conn.fetchrow(REVIEW_MISS_SQL, staff.user_id, roles, rating_id)
            if miss is None or not miss["visible"]:
                raise AppError("rating_not_found")
            raise AppError("rating_not_held")
        row = await conn.fetchrow(REVIEWED_SQL, rating_id)
        await record_staff_action(
            conn,
            staff.user_id,
            "rating.release" if decision == "released" else "rating.discard",
            "rating",
            rating_id,
            reason=reason,
            data={"commune_code": row["commune_code"], "reasons": list(row["reasons"])},
        )
    return _held(row)
