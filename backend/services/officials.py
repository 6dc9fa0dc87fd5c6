"""Officials of a commune and the services they currently answer for."""

from __future__ import annotations

from typing import Any

import msgspec

from backend.auth import StaffPrincipal
from backend.scope import in_scope, require_commune_access
from schemas.officials import Official, OfficialList

# Officials are visible to the commune's staff and to Front and admins above it.
OFFICIAL_READERS = frozenset(
    {"commune_chair", "commune_official", "front_staff", "front_supervisor", "province_admin", "system_admin"}
)

COMMUNE_OFFICIALS_SQL = f"""
select o.id, o.full_name, o.position, o.position_en, o.commune_code, o.is_active,
       coalesce(jsonb_agg(jsonb_build_object(
                    'commune_service_id', cs.id, 'procedure_code', p.code,
                    'procedure_name', p.name_vi, 'since', lower(a.valid))
                order by p.code) filter (where a.id is not null), '[]') as services
from officials o
join communes c on c.code = o.commune_code
left join assignments a on a.official_id = o.id and a.valid @> now()
left join commune_services cs on cs.id = a.commune_service_id
left join procedures p on p.code = cs.procedure_code
where o.commune_code = $1
  and {in_scope(user="$2", roles="$3", commune="c.code", province="c.province_code")}
group by o.id
order by o.is_active desc, o.full_name, o.id
"""


async def list_commune_officials(conn: Any, staff: StaffPrincipal, commune_code: str) -> OfficialList:
    await require_commune_access(conn, staff, OFFICIAL_READERS, commune_code)
    rows = await conn.fetch(COMMUNE_OFFICIALS_SQL, commune_code, staff.user_id, list(OFFICIAL_READERS))
    return OfficialList(items=[msgspec.convert(dict(r), Official) for r in rows])
