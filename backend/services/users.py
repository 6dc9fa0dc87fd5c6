"""Staff accounts and their scoped roles, managed by province and system admins.

A province admin manages accounts within their province only; nobody grants a role over
a scope they do not administer themselves. Front roles are the Front's own to grant
(backend.services.front_grants): a Front supervisor may create accounts holding them."""

from __future__ import annotations

import re
from typing import Any

import asyncpg
import msgspec

from backend.audit import record_staff_action
from backend.auth import StaffPrincipal
from backend.errors import AppError, Text
from backend.pagination import decode_cursor, page_of
from backend.reporter_protection import FRONT_GRANT_ROLES
from backend.scope import administers, in_province_scope
from backend.security import hash_password_async
from backend.services.front_grants import check_front_grants, log_front_grants
from backend.text import like_patterns
from schemas.users import RoleGrantIn, User, UserCreate, UserPage

ADMIN_ROLES = frozenset({"province_admin", "system_admin"})

ROLE_SCOPES: dict[str, frozenset[str]] = {
    "commune_chair": frozenset({"commune"}),
    "commune_official": frozenset({"commune"}),
    "front_staff": frozenset({"commune", "province"}),
    "front_supervisor": frozenset({"commune", "province"}),
    "province_admin": frozenset({"province"}),
    "system_admin": frozenset({"national"}),
}


def check_grant_shape(grant: RoleGrantIn) -> None:
    """A role takes only certain scope kinds, and a scope code of the matching form."""
    if grant.scope_kind not in ROLE_SCOPES[grant.role]:
        allowed = ", ".join(sorted(ROLE_SCOPES[grant.role]))
        raise AppError(
            "invalid_scope",
            Text(
                f"Vai trò {grant.role} chỉ nhận phạm vi: {allowed}",
                f"Role {grant.role} takes scope: {allowed}",
            ),
        )
    expected = {"commune": r"\d{5}", "province": r"\d{2}", "national": ""}[grant.scope_kind]
    code = grant.scope_code or ""
    if not re.fullmatch(expected, code):
        raise AppError(
            "invalid_scope",
            Text(
                f"Mã phạm vi '{code}' không đúng dạng cho phạm vi {grant.scope_kind}",
                f"Scope code '{code}' does not fit scope kind {grant.scope_kind}",
            ),
        )


# For each requested grant: does its scope exist, and does the actor administer it?
GRANTABLE_SQL = f"""
select g.i, g.scope_kind, g.code,
       (g.scope_kind = 'national' or c.code is not null or p.code is not null) as scope_exists,
       {
    administers(
        user="$1", roles="$4", kind="g.scope_kind", commune="c.code", province="coalesce(c.province_code, p.code)"
    )
} as allowed
from unnest($2::text[], $3::text[]) with ordinality as g(scope_kind, code, i)
left join communes c on g.scope_kind = 'commune' and c.code = g.code
left join provinces p on g.scope_kind = 'province' and p.code = g.code
order by g.i
"""


async def _check_grantable(conn: Any, actor: StaffPrincipal, grants: list[RoleGrantIn]) -> None:
    for grant in grants:
        check_grant_shape(grant)
    rows = await conn.fetch(
        GRANTABLE_SQL,
        actor.user_id,
        [g.scope_kind for g in grants],
        [g.scope_code for g in grants],
        list(ADMIN_ROLES),
    )
    for row in rows:
        if not row["scope_exists"]:
            raise AppError(
                "invalid_scope",
                Text(f"Không có đơn vị mã {row['code']}", f"There is no unit with code {row['code']}"),
            )
        if not row["allowed"]:
            raise AppError("out_of_scope")


CREATE_USER_SQL = """
insert into users (username, password_hash, display_name, phone, email)
values ($1, $2, $3, $4, $5)
returning id
"""

GRANT_SQL = """
insert into user_roles (user_id, role, scope_kind, province_code, commune_code, granted_by)
select $1, g.role, g.scope_kind,
       case when g.scope_kind = 'province' then g.code end,
       case when g.scope_kind = 'commune' then g.code end,
       $5
from unnest($2::text[], $3::text[], $4::text[]) as g(role, scope_kind, code)
on conflict do nothing
"""


async def create_user(conn: Any, actor: StaffPrincipal, data: UserCreate) -> User:
    """Create a staff account with roles inside the actor's own scope."""
    if not data.roles:
        raise AppError("invalid_scope", Text("Cần ít nhất một vai trò", "At least one role is required"))
    for grant in data.roles:
        check_grant_shape(grant)
    front = await check_front_grants(conn, actor.user_id, data.roles)
    others = [g for g in data.roles if g.role not in FRONT_GRANT_ROLES]
    if others:
        await _check_grantable(conn, actor, others)
    password_hash = await hash_password_async(data.password)
    try:
        async with conn.transaction():
            user_id = await conn.fetchval(
                CREATE_USER_SQL,
                data.username.lower(),
                password_hash,
                data.display_name.strip(),
                data.phone,
                data.email,
            )
    except asyncpg.UniqueViolationError:
        raise AppError("username_taken") from None
    await conn.execute(
        GRANT_SQL,
        user_id,
        [g.role for g in data.roles],
        [g.scope_kind for g in data.roles],
        [g.scope_code for g in data.roles],
        actor.user_id,
    )
    await record_staff_action(
        conn,
        actor.user_id,
        "user.create",
        "user",
        user_id,
        data={"roles": [msgspec.to_builtins(g) for g in data.roles]},
    )
    await log_front_grants(conn, actor.user_id, user_id, front)
    # A Front supervisor creating a colleague is not an admin: read the new account back
    # without the admins' visibility rule.
    return msgspec.convert(dict(await conn.fetchrow(CREATED_USER_SQL, user_id)), User)


# The roles of user u as a JSON list of RoleGrant, with the names of their units.
USER_ROLES_JSON = """
coalesce((select jsonb_agg(jsonb_build_object(
              'role', r.role, 'scope_kind', r.scope_kind,
              'scope_code', coalesce(r.commune_code, r.province_code),
              'scope_name', coalesce(c.full_name, p.full_name)) order by r.id)
          from user_roles r
          left join communes c on c.code = r.commune_code
          left join provinces p on p.code = r.province_code
          where r.user_id = u.id), '[]')"""

USER_COLUMNS = f"u.id, u.username, u.display_name, u.is_active, u.created_at, {USER_ROLES_JSON} as roles"

# An admin sees the accounts holding any role inside the province(s) they administer;
# accounts with no role at all only a system admin sees.
VISIBLE_TO_ADMIN = f"""(
    exists (select 1 from user_roles ur where ur.user_id = $1 and ur.role = 'system_admin')
    or exists (
        select 1 from user_roles r2
        left join communes c2 on c2.code = r2.commune_code
        where r2.user_id = u.id
          and {in_province_scope(user="$1", roles="$2", province="coalesce(r2.province_code, c2.province_code)")}))"""

USERS_SQL = f"""
select {USER_COLUMNS}
from users u
where {VISIBLE_TO_ADMIN}
  and (u.username like all ($3::text[]) or fold_vi(u.display_name) like all ($3::text[]))
  and ($4::bigint is null or u.id > $4)
order by u.id
limit $5
"""


async def list_users(conn: Any, actor: StaffPrincipal, *, q: str | None, cursor: str | None, limit: int) -> UserPage:
    after = decode_cursor(cursor, int)
    rows = await conn.fetch(
        USERS_SQL,
        actor.user_id,
        list(ADMIN_ROLES),
        like_patterns(q or ""),
        after[0] if after else None,
        limit + 1,
    )
    items, next_cursor = page_of(rows, limit, lambda r: (r["id"],))
    return UserPage(items=[msgspec.convert(dict(r), User) for r in items], next_cursor=next_cursor)


CREATED_USER_SQL = f"select {USER_COLUMNS} from users u where u.id = $1"

USER_SQL = f"select {USER_COLUMNS} from users u where u.id = $3 and {VISIBLE_TO_ADMIN}"


async def get_user(conn: Any, actor: StaffPrincipal, user_id: int) -> User:
    row = await conn.fetchrow(USER_SQL, actor.user_id, list(ADMIN_ROLES), user_id)
    if row is None:
        raise AppError("user_not_found")
    return msgspec.convert(dict(row), User)


# Every grant the target holds must lie inside the actor's administration.
ALL_GRANTS_COVERED_SQL = f"""
select not exists (
    select 1 from user_roles r
    left join communes c on c.code = r.commune_code
    where r.user_id = $3
      and not {
    administers(
        user="$1",
        roles="$2",
        kind="r.scope_kind",
        commune="c.code",
        province="coalesce(c.province_code, r.province_code)",
    )
}
)
"""

DEACTIVATE_SQL = """
with done as (update users set is_active = false, updated_at = now() where id = $1 returning id)
update staff_sessions set revoked_at = now()
where user_id = (select id from done) and revoked_at is null
"""


# The active system admins, locked: two admins switching each other off at once must not
# leave none (the second waits, then sees the first's change and is refused).
ACTIVE_SYSTEM_ADMINS_SQL = """
with admins as (
    select u.id from users u
    where u.is_active
      and exists (select 1 from user_roles r where r.user_id = u.id and r.role = 'system_admin')
    order by u.id
    for update of u
)
select coalesce(bool_or(id = $1), false) as target, count(*) filter (where id <> $1) as others from admins
"""

REACTIVATE_SQL = "update users set is_active = true, updated_at = now() where id = $1 and not is_active returning id"


async def _check_manageable(conn: Any, actor: StaffPrincipal, user_id: int) -> User:
    """The account, if the actor administers every role it holds (404 if not visible)."""
    user = await get_user(conn, actor, user_id)
    if not await conn.fetchval(ALL_GRANTS_COVERED_SQL, actor.user_id, list(ADMIN_ROLES), user_id):
        raise AppError("out_of_scope")
    return user


async def deactivate_user(conn: Any, actor: StaffPrincipal, user_id: int) -> User:
    """Switch an account off and end its sessions; its history stays. The last active
    system admin stays: without one, nobody could manage national roles or reactivate it."""
    user = await _check_manageable(conn, actor, user_id)
    async with conn.transaction():
        admins = await conn.fetchrow(ACTIVE_SYSTEM_ADMINS_SQL, user_id)
        if admins["target"] and admins["others"] == 0:
            raise AppError("last_system_admin")
        await conn.execute(DEACTIVATE_SQL, user_id)
        await record_staff_action(conn, actor.user_id, "user.deactivate", "user", user_id)
    return msgspec.structs.replace(user, is_active=False)


async def reactivate_user(conn: Any, actor: StaffPrincipal, user_id: int) -> User:
    """Switch a deactivated account back on. Its old sessions stay ended: the person logs in
    again. Reactivating an active account changes and records nothing."""
    user = await _check_manageable(conn, actor, user_id)
    async with conn.transaction():
        if await conn.fetchval(REACTIVATE_SQL, user_id) is not None:
            await record_staff_action(conn, actor.user_id, "user.reactivate", "user", user_id)
    return msgspec.structs.replace(user, is_active=True)
