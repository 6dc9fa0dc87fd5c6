"""Oversight of reveals: every reveal of a reporter's contact, every refused one and every
grant of a Front role is readable by the Front supervisors one level up (province-wide
supervisors of the item's province; the role model has no national Front level, so a
province supervisor's reveals are read by the province's other supervisors). Each reveal
pushes them a notice; more than REVEALS_PER_HOUR by one person in an hour is refused and
flagged."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import msgspec

from backend.auth import StaffPrincipal
from backend.pagination import decode_cursor, page_of
from backend.scope import in_province_scope
from backend.services.notifications import Notification, queue_notifications
from backend.settings import Settings
from schemas.oversight import FrontGrantPage, FrontGrantRecord, RevealFlag, RevealFlagPage, RevealPage, RevealRecord

OVERSEERS = ("front_supervisor",)

# One reveal at a time per staff member, to the end of its transaction (where its audit row is
# written): reveals sent at once otherwise all counted the same earlier ones and all passed.
LOCK_REVEALER_SQL = "select pg_advisory_xact_lock($1::int, $2::int)"
_LOCK_NAMESPACE = 0x72766C  # "rvl"

REVEALS_IN_HOUR_SQL = """
select count(*) from audit_log
where action = 'feedback.reveal' and actor_user_id = $1 and occurred_at > $2
"""

INSERT_FLAG_SQL = """
insert into reveal_flags (user_id, feedback_id, commune_code, province_code, reveals_in_hour)
select $1, f.id, f.commune_code, c.province_code, $3
from feedback f join communes c on c.code = f.commune_code
where f.id = $2
returning id, province_code
"""

# Province-wide (or national) Front supervisors over the item's province, but the actor.
OVERSEERS_SQL = """
select distinct ur.user_id
from feedback f
join communes c on c.code = f.commune_code
join user_roles ur
  on ur.role = 'front_supervisor'
 and (ur.scope_kind = 'national' or (ur.scope_kind = 'province' and ur.province_code = c.province_code))
join users u on u.id = ur.user_id and u.is_active
where f.id = $1 and ur.user_id <> $2
order by ur.user_id
"""


class RevealRateExceeded(Exception):
    """Raised after the flag is written: the caller answers 429 without rolling it back."""


async def check_reveal_rate(conn: Any, settings: Settings, staff: StaffPrincipal, feedback_id: int) -> None:
    """Refuse (RevealRateExceeded) a reveal beyond REVEALS_PER_HOUR in the last hour, after
    flagging it to the oversight."""
    await conn.execute(LOCK_REVEALER_SQL, _LOCK_NAMESPACE, staff.user_id % 2**31)
    since = datetime.now(UTC) - timedelta(hours=1)
    count = int(await conn.fetchval(REVEALS_IN_HOUR_SQL, staff.user_id, since))
    if count < settings.reveals_per_hour:
        return
    flag = await conn.fetchrow(INSERT_FLAG_SQL, staff.user_id, feedback_id, count)
    await _notify(
        conn,
        feedback_id,
        staff.user_id,
        f"reveal_flag:{flag['id']}",
        "reveal_flagged",
        (
            "Vượt giới hạn xem danh tính",
            f"Một cán bộ đã vượt {settings.reveals_per_hour} lượt xem danh tính trong một giờ.",
        ),
        ("Reveal limit exceeded", f"A staff member exceeded {settings.reveals_per_hour} identity reveals in an hour."),
    )
    raise RevealRateExceeded


async def notify_reveal(conn: Any, staff: StaffPrincipal, feedback_id: int, reference: str) -> None:
    """Tell the overseers that a reporter's contact was revealed."""
    await _notify(
        conn,
        feedback_id,
        staff.user_id,
        f"reveal:{uuid.uuid4().hex}",
        "reveal_notice",
        ("Đã xem danh tính người phản ánh", f"Danh tính người gửi góp ý {reference} vừa được xem."),
        ("Reporter identity revealed", f"The identity of the reporter of {reference} was just revealed."),
    )


async def _notify(
    conn: Any, feedback_id: int, actor_id: int, key: str, kind: str, vi: tuple[str, str], en: tuple[str, str]
) -> None:
    await queue_notifications(
        conn,
        [
            Notification(
                dedupe_key=f"{key}:user:{r['user_id']}",
                kind=kind,
                title_vi=vi[0],
                body_vi=vi[1],
                title_en=en[0],
                body_en=en[1],
                data={"kind": kind, "link": "communepulse://front/oversight"},
                user_id=r["user_id"],
            )
            for r in await conn.fetch(OVERSEERS_SQL, feedback_id, actor_id)
        ],
    )


OVERSEES = in_province_scope(user="$1", roles="$2", province="c.province_code")

# $3 commune, $4 actor, $5 since, $6 until, $7 cursor (id below), $8 limit.
REVEALS_SQL = f"""
select a.id, a.occurred_at as at, a.actor_user_id, u.display_name as actor_name, f.id as feedback_id, f.reference,
       f.commune_code, coalesce(a.reason, '') as reason,
       coalesce((a.data ->> 'protected')::boolean, f.category = 'wrongdoing_report') as protected,
       coalesce((a.data ->> 'had_contact')::boolean, false) as had_contact
from audit_log a
join feedback f on f.id = a.object_id::bigint
join communes c on c.code = f.commune_code
join users u on u.id = a.actor_user_id
where a.action = 'feedback.reveal' and a.object_kind = 'feedback' and {OVERSEES}
  and ($3::text is null or f.commune_code = $3)
  and ($4::bigint is null or a.actor_user_id = $4)
  and ($5::timestamptz is null or a.occurred_at >= $5)
  and ($6::timestamptz is null or a.occurred_at < $6)
  and ($7::bigint is null or a.id < $7)
order by a.id desc
limit $8
"""


async def list_reveals(
    conn: Any,
    staff: StaffPrincipal,
    *,
    commune: str | None,
    actor: int | None,
    since: datetime | None,
    until: datetime | None,
    cursor: str | None,
    limit: int,
) -> RevealPage:
    """Reveals in the provinces the caller oversees, newest first."""
    after = decode_cursor(cursor, int)
    rows = await conn.fetch(
        REVEALS_SQL,
        staff.user_id,
        list(OVERSEERS),
        commune,
        actor,
        since,
        until,
        after[0] if after else None,
        limit + 1,
    )
    items, next_cursor = page_of(rows, limit, lambda r: (r["id"],))
    return RevealPage(items=[msgspec.convert(dict(r), RevealRecord) for r in items], next_cursor=next_cursor)


FLAGS_SQL = f"""
select rf.id, rf.flagged_at as at, rf.user_id as actor_user_id, u.display_name as actor_name, rf.feedback_id,
       rf.commune_code, rf.reveals_in_hour
from reveal_flags rf
join communes c on c.code = rf.commune_code
join users u on u.id = rf.user_id
where {OVERSEES}
  and ($3::text is null or rf.commune_code = $3)
  and ($4::bigint is null or rf.user_id = $4)
  and ($5::timestamptz is null or rf.flagged_at >= $5)
  and ($6::timestamptz is null or rf.flagged_at < $6)
  and ($7::bigint is null or rf.id < $7)
order by rf.id desc
limit $8
"""


async def list_reveal_flags(
    conn: Any,
    staff: StaffPrincipal,
    *,
    commune: str | None,
    actor: int | None,
    since: datetime | None,
    until: datetime | None,
    cursor: str | None,
    limit: int,
) -> RevealFlagPage:
    """Reveals refused for going over REVEALS_PER_HOUR, newest first."""
    after = decode_cursor(cursor, int)
    rows = await conn.fetch(
        FLAGS_SQL, staff.user_id, list(OVERSEERS), commune, actor, since, until, after[0] if after else None, limit + 1
    )
    items, next_cursor = page_of(rows, limit, lambda r: (r["id"],))
    return RevealFlagPage(items=[msgspec.convert(dict(r), RevealFlag) for r in items], next_cursor=next_cursor)


GRANTS_SQL = f"""
select g.id, g.granted_at as at, g.user_id, u.display_name as user_name, g.role, g.scope_kind, g.province_code,
       g.commune_code, g.granted_by, b.display_name as granted_by_name, g.first_of_province
from front_role_grants g
join provinces c on c.code = g.province_code
join users u on u.id = g.user_id
join users b on b.id = g.granted_by
where {OVERSEES.replace("c.province_code", "c.code")}
  and ($3::text is null or g.commune_code = $3)
  and ($4::bigint is null or g.granted_by = $4)
  and ($5::timestamptz is null or g.granted_at >= $5)
  and ($6::timestamptz is null or g.granted_at < $6)
  and ($7::bigint is null or g.id < $7)
order by g.id desc
limit $8
"""


async def list_front_grants(
    conn: Any,
    staff: StaffPrincipal,
    *,
    commune: str | None,
    actor: int | None,
    since: datetime | None,
    until: datetime | None,
    cursor: str | None,
    limit: int,
) -> FrontGrantPage:
    """Grants of Front roles (reveal power included) in the provinces the caller oversees."""
    after = decode_cursor(cursor, int)
    rows = await conn.fetch(
        GRANTS_SQL, staff.user_id, list(OVERSEERS), commune, actor, since, until, after[0] if after else None, limit + 1
    )
    items, next_cursor = page_of(rows, limit, lambda r: (r["id"],))
    return FrontGrantPage(items=[msgspec.convert(dict(r), FrontGrantRecord) for r in items], next_cursor=next_cursor)
