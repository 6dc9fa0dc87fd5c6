"""API keys for machines (the one-stop-shop system), scoped like staff roles.

Only a hash of the secret is stored; the whole key is shown once, at creation."""

from __future__ import annotations

import secrets
from typing import Any

import msgspec

from backend.audit import record_staff_action
from backend.auth import API_KEY_PREFIX, ApiKeyPrincipal, StaffPrincipal
from backend.errors import AppError, Text
from backend.scope import administers
from backend.security import digest, new_secret
from schemas.api_keys import ApiKey, ApiKeyCreate, ApiKeyCreated, ApiKeyIdentity, ApiKeyList

KEY_ADMINS = frozenset({"province_admin", "system_admin"})

# The key's scope must exist and lie inside what the actor administers.
KEY_SCOPE_SQL = f"""
select (c.code is not null or p.code is not null or $2 = 'national') as scope_exists,
       {
    administers(user="$1", roles="$4", kind="$2", commune="c.code", province="coalesce(c.province_code, p.code)")
} as allowed
from (select) as one
left join communes c on $2 = 'commune' and c.code = $3
left join provinces p on $2 = 'province' and p.code = $3
"""

CREATE_KEY_SQL = """
insert into api_keys (name, prefix, secret_hash, scope_kind, province_code, commune_code, created_by)
values ($1, $2, $3, $4, case when $4 = 'province' then $5 end, case when $4 = 'commune' then $5 end, $6)
returning id, name, prefix, scope_kind, coalesce(commune_code, province_code) as scope_code,
          created_at, revoked_at, last_used_at
"""


async def create_api_key(conn: Any, actor: StaffPrincipal, data: ApiKeyCreate) -> ApiKeyCreated:
    if (data.scope_kind == "national") != (data.scope_code is None):
        raise AppError(
            "invalid_scope",
            Text(
                "Phạm vi toàn quốc không có mã; phạm vi khác cần mã đơn vị",
                "A national scope takes no code; other scopes need a unit code",
            ),
        )
    row = await conn.fetchrow(KEY_SCOPE_SQL, actor.user_id, data.scope_kind, data.scope_code, list(KEY_ADMINS))
    if not row["scope_exists"]:
        raise AppError("invalid_scope", Text("Không có đơn vị với mã này", "There is no unit with this code"))
    if not row["allowed"]:
        raise AppError("out_of_scope")
    prefix, secret = secrets.token_hex(6), new_secret()
    created = await conn.fetchrow(
        CREATE_KEY_SQL, data.name, prefix, digest(secret), data.scope_kind, data.scope_code, actor.user_id
    )
    await record_staff_action(
        conn,
        actor.user_id,
        "api_key.create",
        "api_key",
        created["id"],
        data={"scope_kind": data.scope_kind, "scope_code": data.scope_code},
    )
    return ApiKeyCreated(key=f"{API_KEY_PREFIX}_{prefix}_{secret}", api_key=msgspec.convert(dict(created), ApiKey))


VISIBLE_KEYS = administers(
    user="$1", roles="$2", kind="k.scope_kind", commune="c.code", province="coalesce(c.province_code, k.province_code)"
)

API_KEYS_SQL = f"""
select k.id, k.name, k.prefix, k.scope_kind, coalesce(k.commune_code, k.province_code) as scope_code,
       k.created_at, k.revoked_at, k.last_used_at
from api_keys k
left join communes c on c.code = k.commune_code
where {VISIBLE_KEYS}
order by k.id
"""


async def list_api_keys(conn: Any, actor: StaffPrincipal) -> ApiKeyList:
    rows = await conn.fetch(API_KEYS_SQL, actor.user_id, list(KEY_ADMINS))
    return ApiKeyList(items=[msgspec.convert(dict(r), ApiKey) for r in rows])


VISIBLE_KEY_SQL = f"""
select k.id
from api_keys k
left join communes c on c.code = k.commune_code
where k.id = $3 and {VISIBLE_KEYS}
"""

REVOKE_SQL = """
update api_keys set revoked_at = coalesce(revoked_at, now())
where id = $1
returning id, name, prefix, scope_kind, coalesce(commune_code, province_code) as scope_code,
          created_at, revoked_at, last_used_at
"""


async def revoke_api_key(conn: Any, actor: StaffPrincipal, key_id: int) -> ApiKey:
    if await conn.fetchval(VISIBLE_KEY_SQL, actor.user_id, list(KEY_ADMINS), key_id) is None:
        raise AppError("api_key_not_found")
    row = await conn.fetchrow(REVOKE_SQL, key_id)
    await record_staff_action(conn, actor.user_id, "api_key.revoke", "api_key", key_id)
    return msgspec.convert(dict(row), ApiKey)


def identity(client: ApiKeyPrincipal) -> ApiKeyIdentity:
    return ApiKeyIdentity(
        id=client.api_key_id,
        name=client.name,
        scope_kind=client.scope_kind,  # type: ignore[arg-type]
        scope_code=client.commune_code or client.province_code,
    )
