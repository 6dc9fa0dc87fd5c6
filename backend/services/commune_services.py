"""What a commune offers, and who answers for each service over time (assignments)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import asyncpg
import msgspec

from backend.audit import record_staff_action
from backend.auth import StaffPrincipal
from backend.errors import AppError, Text
from backend.pagination import decode_cursor, page_of
from backend.scope import in_scope, require_commune_access
from backend.services.officials import OFFICIAL_READERS
from backend.services.users import ADMIN_ROLES
from backend.text import like_patterns
from schemas.officials import Official
from schemas.services import (
    Assignment,
    AssignmentCreate,
    AssignmentList,
    CommuneService,
    CommuneServiceCreate,
    CommuneServicePage,
    OfficialCreate,
    Rotation,
    RotationCreate,
)

SERVICE_COLUMNS = """
cs.id, cs.commune_code, cs.procedure_code, p.name_vi, p.name_en, p.field_vi, p.field_en,
cs.lead_agency, cs.lead_agency_en, p.statutory_days, p.days_kind, cs.is_active,
case when o.id is not null then jsonb_build_object(
    'id', o.id, 'full_name', o.full_name, 'position', o.position, 'position_en', o.position_en,
    'since', lower(a.valid)) end as official
"""

SERVICE_JOINS = """
join procedures p on p.code = cs.procedure_code
left join assignments a on a.commune_service_id = cs.id and a.valid @> now()
left join officials o on o.id = a.official_id
"""

# $1 commune, $2 folded LIKE patterns (every word must match), $3 cursor, $4 limit
COMMUNE_SERVICES_SQL = f"""
select {SERVICE_COLUMNS}
from commune_services cs
{SERVICE_JOINS}
where cs.commune_code = $1 and cs.is_active
  and p.search_name like all ($2::text[])
  and ($3::text is null or cs.procedure_code > $3)
order by cs.procedure_code
limit $4
"""

COMMUNE_EXISTS_SQL = "select exists (select 1 from communes where code = $1)"


def _service(row: Any) -> CommuneService:
    return msgspec.convert(dict(row), CommuneService)


async def list_commune_services(
    conn: Any, commune_code: str, *, q: str | None, cursor: str | None, limit: int
) -> CommuneServicePage:
    """Services offered in a commune with who answers for each today; `q` matches the
    procedure's name in Vietnamese or English, with or without diacritics, in any case."""
    after = decode_cursor(cursor, str)
    rows = await conn.fetch(
        COMMUNE_SERVICES_SQL, commune_code, like_patterns(q or ""), after[0] if after else None, limit + 1
    )
    if not rows and not await conn.fetchval(COMMUNE_EXISTS_SQL, commune_code):
        raise AppError("commune_not_found")
    items, next_cursor = page_of(rows, limit, lambda r: (r["procedure_code"],))
    return CommuneServicePage(items=[_service(r) for r in items], next_cursor=next_cursor)


SERVICE_SQL = f"select {SERVICE_COLUMNS} from commune_services cs {SERVICE_JOINS} where cs.id = $1"


async def get_commune_service(conn: Any, service_id: int) -> CommuneService:
    row = await conn.fetchrow(SERVICE_SQL, service_id)
    if row is None:
        raise AppError("commune_service_not_found")
    return _service(row)


# The service with the caller's right over it, in one query: 404 and 403 told apart.
SERVICE_ACCESS_SQL = f"""
select cs.id, cs.commune_code,
       {in_scope(user="$2", roles="$3", commune="c.code", province="c.province_code")} as allowed
from commune_services cs
join communes c on c.code = cs.commune_code
where cs.id = $1
"""


async def _require_service_access(conn: Any, staff: StaffPrincipal, roles: frozenset[str], service_id: int) -> str:
    row = await conn.fetchrow(SERVICE_ACCESS_SQL, service_id, staff.user_id, list(roles))
    if row is None:
        raise AppError("commune_service_not_found")
    if not row["allowed"]:
        raise AppError("out_of_scope")
    return str(row["commune_code"])


CREATE_SERVICE_SQL = """
insert into commune_services (commune_code, procedure_code, lead_agency, lead_agency_en)
select $1, p.code, $3, $4 from procedures p where p.code = $2
on conflict (commune_code, procedure_code) do nothing
returning id
"""

EXISTING_SERVICE_SQL = """
select cs.id, exists (select 1 from procedures where code = $2) as procedure_exists
from (select 1) one
left join commune_services cs on cs.commune_code = $1 and cs.procedure_code = $2
"""


async def create_commune_service(
    conn: Any, staff: StaffPrincipal, commune_code: str, data: CommuneServiceCreate
) -> CommuneService:
    """Offer a procedure in a commune (province or system admins), optionally assigning
    its accountable official from `since`."""
    await require_commune_access(conn, staff, ADMIN_ROLES, commune_code)
    service_id = await conn.fetchval(
        CREATE_SERVICE_SQL, commune_code, data.procedure_code, data.lead_agency, data.lead_agency_en
    )
    if service_id is None:
        existing = await conn.fetchrow(EXISTING_SERVICE_SQL, commune_code, data.procedure_code)
        if not existing["procedure_exists"]:
            # A rule on stored data, not on the payload's shape: its own code, so that a client
            # (and the contract fuzz) can tell it from a malformed request.
            raise AppError("unknown_procedure")
        raise AppError("commune_service_exists", extensions={"existing_id": existing["id"]})
    await record_staff_action(
        conn, staff.user_id, "commune_service.create", "commune_service", service_id,
        data={"commune_code": commune_code, "procedure_code": data.procedure_code},
    )  # fmt: skip
    if data.official_id is not None:
        since = data.since or await conn.fetchval("select now()")
        await _open_assignment(conn, staff, service_id, commune_code, data.official_id, since, None, None)
    return await get_commune_service(conn, service_id)


ASSIGNMENT_COLUMNS = """
a.id, a.commune_service_id,
jsonb_build_object('id', o.id, 'full_name', o.full_name, 'position', o.position) as official,
lower(a.valid) as valid_from, upper(a.valid) as valid_until, a.note, a.created_at, a.created_by
"""

ASSIGNMENTS_SQL = f"""
select {ASSIGNMENT_COLUMNS}
from assignments a
join officials o on o.id = a.official_id
where a.commune_service_id = $1
order by lower(a.valid) desc
"""


def _assignment(row: Any) -> Assignment:
    return msgspec.convert(dict(row), Assignment)


async def list_assignments(conn: Any, staff: StaffPrincipal, service_id: int) -> AssignmentList:
    """Who answered for a service, newest first: the history ratings are linked by."""
    await _require_service_access(conn, staff, OFFICIAL_READERS, service_id)
    return AssignmentList(items=[_assignment(r) for r in await conn.fetch(ASSIGNMENTS_SQL, service_id)])


OFFICIAL_FOR_SERVICE_SQL = "select commune_code, is_active from officials where id = $1"

OVERLAPPING_SQL = """
select id from assignments
where commune_service_id = $1 and valid && tstzrange($2, $3, '[)')
order by lower(valid)
limit 1
"""

INSERT_ASSIGNMENT_SQL = """
insert into assignments (commune_service_id, official_id, valid, note, created_by)
values ($1, $2, tstzrange($3, $4, '[)'), $5, $6)
returning id
"""

ASSIGNMENT_SQL = (
    f"select {ASSIGNMENT_COLUMNS} from assignments a join officials o on o.id = a.official_id where a.id = $1"
)

# Ratings already given in the new assignment's interval follow it: a rating links to
# whoever held the service when it was used, as the history now records it.
RELINK_RATINGS_SQL = """
with moved as (
    update ratings r
    set official_id = a.official_id, assignment_id = a.id
    from assignments a
    where a.id = $1 and r.commune_service_id = a.commune_service_id and a.valid @> r.served_at
      and r.assignment_id is distinct from a.id
    returning 1
)
select count(*)::int from moved
"""


async def _check_official(conn: Any, official_id: int, commune_code: str) -> None:
    official = await conn.fetchrow(OFFICIAL_FOR_SERVICE_SQL, official_id)
    if official is None or official["commune_code"] != commune_code:
        raise AppError(
            "invalid_assignment",
            Text("Cán bộ không thuộc xã/phường của dịch vụ này", "The official does not work in this commune"),
        )
    if not official["is_active"]:
        raise AppError("invalid_assignment", Text("Cán bộ đã nghỉ việc", "The official is no longer active"))


async def _open_assignment(
    conn: Any,
    staff: StaffPrincipal,
    service_id: int,
    commune_code: str,
    official_id: int,
    valid_from: datetime,
    valid_until: datetime | None,
    note: str | None,
) -> tuple[int, int]:
    """Insert an assignment and re-link the ratings inside it; (assignment id, ratings re-linked)."""
    await _check_official(conn, official_id, commune_code)
    if valid_until is not None and valid_until <= valid_from:
        raise AppError(
            "invalid_assignment", Text("Ngày kết thúc phải sau ngày bắt đầu", "The end must follow the start")
        )
    overlapping = await conn.fetchval(OVERLAPPING_SQL, service_id, valid_from, valid_until)
    if overlapping is not None:
        raise AppError("assignment_overlap", extensions={"existing_id": overlapping})
    try:
        async with conn.transaction():  # a savepoint: a concurrent overlap must not abort the request's transaction
            assignment_id = await conn.fetchval(
                INSERT_ASSIGNMENT_SQL, service_id, official_id, valid_from, valid_until, note, staff.user_id
            )
    except asyncpg.ExclusionViolationError:
        raise AppError("assignment_overlap") from None
    relinked = await conn.fetchval(RELINK_RATINGS_SQL, assignment_id)
    await record_staff_action(
        conn, staff.user_id, "assignment.create", "assignment", assignment_id, reason=note,
        data={"commune_service_id": service_id, "official_id": official_id, "relinked_ratings": relinked},
    )  # fmt: skip
    return int(assignment_id), int(relinked)


async def create_assignment(conn: Any, staff: StaffPrincipal, service_id: int, data: AssignmentCreate) -> Assignment:
    """Record who answers for a service over an interval; overlaps are refused (409)."""
    commune_code = await _require_service_access(conn, staff, ADMIN_ROLES, service_id)
    assignment_id, _ = await _open_assignment(
        conn, staff, service_id, commune_code, data.official_id, data.valid_from, data.valid_until, data.note
    )
    return _assignment(await conn.fetchrow(ASSIGNMENT_SQL, assignment_id))


# Rotations of one service are serialised by locking it.
LOCK_SERVICE_SQL = "select id from commune_services where id = $1 for update"

HELD_AT_SQL = """
select id, official_id, lower(valid) as valid_from, upper(valid) as valid_until
from assignments where commune_service_id = $1 and valid @> $2::timestamptz
"""

NEXT_START_SQL = """
select min(lower(valid)) from assignments where commune_service_id = $1 and lower(valid) > $2
"""

END_ASSIGNMENT_SQL = "update assignments set valid = tstzrange(lower(valid), $2, '[)') where id = $1"


async def rotate_assignment(conn: Any, staff: StaffPrincipal, service_id: int, data: RotationCreate) -> Rotation:
    """Close the assignment held at `at` and open one for the new official from `at`, up to
    where the old one would have ended (or the next planned assignment)."""
    commune_code = await _require_service_access(conn, staff, ADMIN_ROLES, service_id)
    await conn.execute(LOCK_SERVICE_SQL, service_id)
    at = data.at or await conn.fetchval("select now()")
    held = await conn.fetchrow(HELD_AT_SQL, service_id, at)
    if held is not None:
        if held["official_id"] == data.official_id:
            raise AppError(
                "invalid_assignment",
                Text("Cán bộ này đang phụ trách dịch vụ", "This official already answers for the service"),
            )
        if held["valid_from"] == at:
            raise AppError(
                "invalid_assignment",
                Text(
                    "Phân công hiện tại bắt đầu đúng thời điểm này; hãy chọn thời điểm khác",
                    "The current assignment starts at that very time; choose another",
                ),
            )
        # Ending first is safe: a refusal below rolls the request's transaction back.
        await conn.execute(END_ASSIGNMENT_SQL, held["id"], at)
        await record_staff_action(
            conn,
            staff.user_id,
            "assignment.end",
            "assignment",
            held["id"],
            reason=data.note,
            data={"at": at.isoformat()},
        )
        until = held["valid_until"]
    else:
        until = await conn.fetchval(NEXT_START_SQL, service_id, at)
    started_id, relinked = await _open_assignment(
        conn, staff, service_id, commune_code, data.official_id, at, until, data.note
    )
    ended = None
    if held is not None:
        ended = _assignment(await conn.fetchrow(ASSIGNMENT_SQL, held["id"]))
    return Rotation(
        ended=ended, started=_assignment(await conn.fetchrow(ASSIGNMENT_SQL, started_id)), relinked_ratings=relinked
    )


CREATE_OFFICIAL_SQL = """
insert into officials (commune_code, full_name, position, position_en)
values ($1, $2, $3, $4)
returning id, full_name, position, position_en, commune_code, is_active, '[]'::jsonb as services
"""


async def create_official(conn: Any, staff: StaffPrincipal, commune_code: str, data: OfficialCreate) -> Official:
    """Record an official of a commune (who may later be assigned services)."""
    await require_commune_access(conn, staff, ADMIN_ROLES, commune_code)
    row = await conn.fetchrow(CREATE_OFFICIAL_SQL, commune_code, data.full_name, data.position, data.position_en)
    await record_staff_action(conn, staff.user_id, "official.create", "official", row["id"])
    return msgspec.convert(dict(row), Official)
