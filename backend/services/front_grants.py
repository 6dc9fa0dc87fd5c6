"""Granting Front roles (separation of duties, backend.reporter_protection): checked before
an account is created, logged for the Front's oversight afterwards."""

from __future__ import annotations

from typing import Any

from backend.errors import AppError
from backend.reporter_protection import FRONT_GRANT_ROLES, FrontGrantFacts, decide_front_grant
from backend.scope import administers
from backend.services.notifications import Notification, queue_notifications
from schemas.users import RoleGrantIn

FRONT_GRANT_FACTS_SQL = f"""
select g.i, coalesce(c.province_code, p.code) as province_code, c.code as commune_code,
       {
    administers(
        user="$1",
        roles="'{{front_supervisor}}'",
        kind="g.scope_kind",
        commune="c.code",
        province="coalesce(c.province_code, p.code)",
    )
} as supervises,
       exists (select 1 from user_roles ur where ur.user_id = $1 and ur.role = 'system_admin') as system_admin,
       exists (select 1 from user_roles ur join users u on u.id = ur.user_id and u.is_active
               where ur.role = 'front_supervisor' and ur.scope_kind = 'province'
                 and ur.province_code = coalesce(c.province_code, p.code)) as province_has_supervisor
from unnest($2::text[], $3::text[]) with ordinality as g(scope_kind, code, i)
left join communes c on g.scope_kind = 'commune' and c.code = g.code
left join provinces p on g.scope_kind = 'province' and p.code = g.code
order by g.i
"""


async def check_front_grants(conn: Any, actor_id: int, grants: list[RoleGrantIn]) -> list[tuple[RoleGrantIn, Any]]:
    """Refuse (403 front_grant_forbidden) any Front grant the actor may not make; returns each
    Front grant with its unit and whether it bootstraps a province."""
    front = [g for g in grants if g.role in FRONT_GRANT_ROLES]
    if not front:
        return []
    rows = await conn.fetch(
        FRONT_GRANT_FACTS_SQL, actor_id, [g.scope_kind for g in front], [g.scope_code for g in front]
    )
    checked = []
    for grant, row in zip(front, rows, strict=True):
        if row["province_code"] is None:
            raise AppError("invalid_scope")
        decision = decide_front_grant(
            FrontGrantFacts(
                role=grant.role,
                scope_kind=grant.scope_kind,
                actor_supervises_scope=row["supervises"],
                actor_is_system_admin=row["system_admin"],
                province_has_supervisor=row["province_has_supervisor"],
            )
        )
        if not decision.allowed:
            raise AppError("front_grant_forbidden")
        checked.append((grant, {**dict(row), "first_of_province": decision.first_of_province}))
    return checked


INSERT_GRANT_SQL = """
insert into front_role_grants (user_id, role, scope_kind, province_code, commune_code, granted_by, first_of_province)
values ($1, $2, $3, $4, $5, $6, $7)
returning id
"""

# Front supervisors already covering some part of the province (commune-wide ones), told
# when a system admin puts a province-wide supervisor above them.
COVERING_SUPERVISORS_SQL = """
select distinct ur.user_id
from user_roles ur
join users u on u.id = ur.user_id and u.is_active
left join communes c on c.code = ur.commune_code
where ur.role = 'front_supervisor' and coalesce(ur.province_code, c.province_code) = $1 and ur.user_id <> $2
order by ur.user_id
"""


async def log_front_grants(conn: Any, actor_id: int, user_id: int, checked: list[tuple[RoleGrantIn, Any]]) -> None:
    """Keep each Front grant for the oversight; a province's first supervisor granted by a
    system admin is also pushed to the Front supervisors already covering that province."""
    for grant, row in checked:
        grant_id = await conn.fetchval(
            INSERT_GRANT_SQL,
            user_id,
            grant.role,
            grant.scope_kind,
            row["province_code"],
            row["commune_code"],
            actor_id,
            row["first_of_province"],
        )
        if not row["first_of_province"]:
            continue
        notices = [
            Notification(
                dedupe_key=f"front_grant:{grant_id}:user:{r['user_id']}",
                kind="front_supervisor_granted",
                title_vi="Giám sát viên Mặt trận cấp tỉnh mới",
                body_vi="Quản trị hệ thống đã cấp quyền giám sát viên Mặt trận cấp tỉnh cho một tài khoản mới.",
                title_en="New province Front supervisor",
                body_en="A system admin granted province-wide Front supervisor rights to a new account.",
                data={"front_grant_id": str(grant_id), "kind": "front_supervisor_granted"},
                user_id=r["user_id"],
            )
            for r in await conn.fetch(COVERING_SUPERVISORS_SQL, row["province_code"], user_id)
        ]
        await queue_notifications(conn, notices)
