"""Scope checks that live inside the SQL that reads the data.

`in_scope(...)` returns a predicate to put in a WHERE clause: the user holds one of the
roles over this commune, over its province, or nationally. Being part of the query, a
missing check cannot be forgotten in Python, and roles revoked a second ago already count.
"""

from __future__ import annotations

from typing import Any

from backend.auth import StaffPrincipal
from backend.errors import AppError


def in_scope(*, user: str, roles: str, commune: str, province: str) -> str:
    """Predicate over a commune: user and roles are SQL parameters ($n), commune and
    province are column expressions."""
    return f"""exists (
        select 1 from user_roles ur
        where ur.user_id = {user} and ur.role = any({roles}::text[])
          and (ur.scope_kind = 'national' or ur.province_code = {province}
               or ur.commune_code = {commune}))"""


def in_province_scope(*, user: str, roles: str, province: str) -> str:
    """Predicate over a whole province: only province-wide or national grants cover it."""
    return f"""exists (
        select 1 from user_roles ur
        where ur.user_id = {user} and ur.role = any({roles}::text[])
          and (ur.scope_kind = 'national' or ur.province_code = {province}))"""


def administers(*, user: str, roles: str, kind: str, commune: str, province: str) -> str:
    """Predicate over a unit of any kind (for grants and API keys): a commune as in_scope,
    a province as in_province_scope, the nation only for a system admin. `province` is the
    province column of whichever unit it is."""
    return f"""(case {kind}
        when 'commune' then {in_scope(user=user, roles=roles, commune=commune, province=province)}
        when 'province' then {in_province_scope(user=user, roles=roles, province=province)}
        else exists (select 1 from user_roles ur where ur.user_id = {user} and ur.role = 'system_admin')
    end)"""


COMMUNE_ACCESS_SQL = f"""
select c.code,
       {in_scope(user="$2", roles="$3", commune="c.code", province="c.province_code")} as allowed
from communes c
where c.code = $1
"""


async def require_commune_access(conn: Any, staff: StaffPrincipal, roles: frozenset[str], commune_code: str) -> None:
    """404 for a commune that does not exist, 403 for one outside the caller's scope.

    Communes are public reference data, so telling the two apart leaks nothing."""
    row = await conn.fetchrow(COMMUNE_ACCESS_SQL, commune_code, staff.user_id, list(roles))
    if row is None:
        raise AppError("commune_not_found")
    if not row["allowed"]:
        raise AppError("out_of_scope")
