"""Who is calling: staff (JWT + roles read fresh from the database), an anonymous citizen
install (JWT alone, so the hot rating path needs no lookup), or a machine (API key).

Authentication happens in guards, once per request, and the principal is kept on the
connection's state. Roles are checked here; *scope* is checked in each SQL query with
`in_scope()` from backend.scope.
"""

from __future__ import annotations

import contextlib
import uuid
from typing import Any

import msgspec
from litestar.connection import ASGIConnection
from litestar.handlers.base import BaseRouteHandler

from backend.db import pooled
from backend.errors import AppError
from backend.security import InvalidToken, digest, same_digest

STAFF_ROLES = frozenset(
    {"commune_chair", "commune_official", "front_staff", "front_supervisor", "province_admin", "system_admin"}
)


class Grant(msgspec.Struct, frozen=True):
    role: str
    scope_kind: str
    province_code: str | None
    commune_code: str | None


class StaffPrincipal(msgspec.Struct, frozen=True, tag="staff"):
    user_id: int
    username: str
    display_name: str
    grants: tuple[Grant, ...]
    # The refresh family of the token's session: a device registered with it is retired when
    # the session ends (backend/services/devices.py). None only for principals built in code.
    session_family: uuid.UUID | None = None

    def has_role(self, roles: frozenset[str] | set[str] | tuple[str, ...]) -> bool:
        return any(g.role in roles for g in self.grants)


class CitizenPrincipal(msgspec.Struct, frozen=True, tag="citizen"):
    citizen_id: uuid.UUID


class ApiKeyPrincipal(msgspec.Struct, frozen=True, tag="api_key"):
    api_key_id: int
    name: str
    scope_kind: str
    province_code: str | None
    commune_code: str | None


Principal = StaffPrincipal | CitizenPrincipal | ApiKeyPrincipal

STAFF_SQL = """
select u.id, u.username, u.display_name,
       coalesce(array_agg(array[r.role, r.scope_kind, r.province_code, r.commune_code] order by r.id)
                filter (where r.id is not null), '{}') as grants
from users u
left join user_roles r on r.user_id = u.id
where u.id = $1 and u.is_active
  and not exists (select 1 from ended_session_families e where e.family_id = $2)
group by u.id
"""


async def load_staff(conn: Any, user_id: int, family_id: uuid.UUID) -> StaffPrincipal | None:
    """The staff member with their roles, read fresh; None when the account is inactive or the
    token's session (refresh family) has ended: logout and refresh-token reuse take effect
    at the next request. The family check is one primary-key probe in a query that runs
    anyway, so it costs staff requests next to nothing and citizen requests nothing."""
    row = await conn.fetchrow(STAFF_SQL, user_id, family_id)
    if row is None:
        return None
    grants = tuple(Grant(g[0], g[1], g[2], g[3]) for g in row["grants"])
    return StaffPrincipal(row["id"], row["username"], row["display_name"], grants, family_id)


API_KEY_SQL = """
select id, name, secret_hash, scope_kind, province_code, commune_code
from api_keys
where prefix = $1 and revoked_at is null
"""

TOUCH_API_KEY_SQL = """
update api_keys set last_used_at = now()
where id = $1 and (last_used_at is null or last_used_at < now() - interval '1 minute')
"""

API_KEY_PREFIX = "cpk"


def split_api_key(key: str) -> tuple[str, str] | None:
    """Keys look like cpk_<public prefix>_<secret>; the prefix finds the row, the secret proves it."""
    parts = key.split("_", 2)
    if len(parts) != 3 or parts[0] != API_KEY_PREFIX or not parts[1] or not parts[2]:
        return None
    return parts[1], parts[2]


async def _authenticate(connection: ASGIConnection[Any, Any, Any, Any]) -> Principal | None:
    state = connection.app.state
    api_key = connection.headers.get("x-api-key")
    if api_key:
        parts = split_api_key(api_key.strip())
        if parts is None:
            raise AppError("invalid_api_key")
        async with pooled(state.pool, state.settings.db_acquire_timeout) as conn:
            row = await conn.fetchrow(API_KEY_SQL, parts[0])
            if row is None or not same_digest(row["secret_hash"], digest(parts[1])):
                raise AppError("invalid_api_key")
            await conn.execute(TOUCH_API_KEY_SQL, row["id"])
        return ApiKeyPrincipal(row["id"], row["name"], row["scope_kind"], row["province_code"], row["commune_code"])

    header = connection.headers.get("authorization")
    if not header:
        return None
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise AppError("invalid_token", headers={"www-authenticate": "Bearer"})
    try:
        claims = state.tokens.read(token.strip())
    except InvalidToken:
        raise AppError("invalid_token", headers={"www-authenticate": "Bearer"}) from None

    kind, subject = claims["typ"], str(claims["sub"])
    if kind == "citizen" and subject.startswith("citizen:"):
        with contextlib.suppress(ValueError):  # a malformed id falls through to invalid_token
            return CitizenPrincipal(uuid.UUID(subject.removeprefix("citizen:")))
    elif kind == "staff" and subject.startswith("user:") and subject[5:].isdigit() and "sid" in claims:
        family = None
        with contextlib.suppress(ValueError):
            family = uuid.UUID(claims["sid"])
        if family is not None:
            async with pooled(state.pool, state.settings.db_acquire_timeout) as conn:
                staff = await load_staff(conn, int(subject[5:]), family)
            if staff is not None:
                return staff
    raise AppError("invalid_token", headers={"www-authenticate": "Bearer"})


async def authenticate(connection: ASGIConnection[Any, Any, Any, Any]) -> Principal | None:
    """The caller, authenticated once per request."""
    cache = connection.scope.setdefault("state", {})
    if "principal" not in cache:
        cache["principal"] = await _authenticate(connection)
    principal: Principal | None = cache["principal"]
    return principal


def staff_with(*roles: str) -> Any:
    """Guard: a staff user holding at least one of `roles` (in any scope; queries narrow it)."""
    wanted = frozenset(roles) or STAFF_ROLES
    unknown = wanted - STAFF_ROLES
    if unknown:
        raise ValueError(f"unknown roles {sorted(unknown)}")

    async def guard(connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler) -> None:
        principal = await authenticate(connection)
        if principal is None:
            raise AppError("unauthenticated", headers={"www-authenticate": "Bearer"})
        if not isinstance(principal, StaffPrincipal) or not principal.has_role(wanted):
            raise AppError("forbidden_role")

    guard.__name__ = f"staff_with_{'_'.join(sorted(wanted))}"
    # Read by backend.api.contract to publish each operation's security and roles.
    guard.principals = ("staff",)  # type: ignore[attr-defined]
    guard.roles = wanted  # type: ignore[attr-defined]
    return guard


async def citizen_only(connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler) -> None:
    principal = await authenticate(connection)
    if principal is None:
        raise AppError("unauthenticated", headers={"www-authenticate": "Bearer"})
    if not isinstance(principal, CitizenPrincipal):
        raise AppError("forbidden_role")


async def api_key_only(connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler) -> None:
    principal = await authenticate(connection)
    if principal is None:
        raise AppError("invalid_api_key")
    if not isinstance(principal, ApiKeyPrincipal):
        raise AppError("forbidden_role")


async def any_caller(connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler) -> None:
    if await authenticate(connection) is None:
        raise AppError("unauthenticated", headers={"www-authenticate": "Bearer"})


# Who each guard lets through, for the OpenAPI document (backend.api.contract). any_caller
# admits an API key too, but the handlers behind it (me, devices) refuse one with 403.
citizen_only.principals = ("citizen",)  # type: ignore[attr-defined]
api_key_only.principals = ("api_key",)  # type: ignore[attr-defined]
any_caller.principals = ("staff", "citizen")  # type: ignore[attr-defined]


def _principal(connection: ASGIConnection[Any, Any, Any, Any]) -> Any:
    principal = connection.scope.get("state", {}).get("principal")
    if principal is None:
        raise RuntimeError("handler reads the principal without a guard that authenticates")
    return principal


async def provide_staff(request: ASGIConnection[Any, Any, Any, Any]) -> StaffPrincipal:
    principal: StaffPrincipal = _principal(request)
    return principal


async def provide_citizen(request: ASGIConnection[Any, Any, Any, Any]) -> CitizenPrincipal:
    principal: CitizenPrincipal = _principal(request)
    return principal


async def provide_api_client(request: ASGIConnection[Any, Any, Any, Any]) -> ApiKeyPrincipal:
    principal: ApiKeyPrincipal = _principal(request)
    return principal


async def provide_principal(request: ASGIConnection[Any, Any, Any, Any]) -> Principal:
    principal: Principal = _principal(request)
    return principal
