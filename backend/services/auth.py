"""Staff logins and refresh tokens; anonymous citizen device sessions."""

from __future__ import annotations

import logging
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import msgspec

from backend.audit import record_audit
from backend.client_address import limit_key
from backend.db import pooled, transaction
from backend.errors import AppError
from backend.limits import WindowLimiter
from backend.login_budget import LoginBudget
from backend.security import digest, issue_token, new_secret, same_digest, verify_password
from backend.services.users import USER_ROLES_JSON
from backend.settings import Settings
from schemas.auth import DeviceSession, DeviceSessionRequest, StaffSession, StaffUser

log = logging.getLogger(__name__)

INSTALL_WINDOW_SECONDS = 3600

USER_FOR_LOGIN_SQL = "select id, password_hash from users where username = $1 and is_active"


async def log_in(
    conn: Any,
    redis: Any,
    settings: Settings,
    secret: str,
    username: str,
    password: str,
    user_agent: str | None,
    address: str,
) -> StaffSession:
    """Check a staff password and open a session. Each attempt spends from three failure
    budgets first (backend.login_budget: this username from this address, this address, all
    addresses); once one is spent, attempts are refused (429) whatever the password."""
    username = username.lower()
    budget = LoginBudget(redis, settings, username, address)
    refusal = await budget.take()
    if refusal is not None:
        log.warning("login refused", extra={"username": username, "address": address, "budget": refusal.budget})
        raise AppError(
            "too_many_login_attempts",
            headers={"retry-after": str(refusal.retry_after)},
            extensions={"budget": refusal.budget},
        )

    try:
        row = await conn.fetchrow(USER_FOR_LOGIN_SQL, username)
        correct = await verify_password(row["password_hash"] if row else None, password)
    except BaseException:
        await budget.give_back(succeeded=False)  # our failure, not a guess
        raise
    if not correct:
        log.warning("failed login", extra={"username": username, "address": address})
        raise AppError("invalid_credentials")

    await budget.give_back(succeeded=True)
    session = await open_session(conn, settings, secret, row["id"], user_agent)
    await record_audit(conn, actor_kind="staff", actor_user_id=row["id"], action="login", data={"address": address})
    return session


OPEN_SESSION_SQL = """
insert into staff_sessions (user_id, refresh_hash, expires_at, user_agent, family_id)
values ($1, $2, $3, $4, coalesce($5, gen_random_uuid()))
returning family_id
"""


async def open_session(
    conn: Any,
    settings: Settings,
    secret: str,
    user_id: int,
    user_agent: str | None,
    family_id: uuid.UUID | None = None,
) -> StaffSession:
    """A refresh token (a new family at login, the old family on rotation) and an access
    token whose `sid` names the family, so ending the family ends the access token too."""
    refresh_token = new_secret()
    refresh_expires = datetime.now(UTC).replace(microsecond=0) + timedelta(seconds=settings.jwt_refresh_ttl)
    family_id = await conn.fetchval(
        OPEN_SESSION_SQL, user_id, digest(refresh_token), refresh_expires, (user_agent or "")[:300], family_id
    )
    access_token, expires = issue_token(
        secret, f"user:{user_id}", "staff", settings.jwt_access_ttl, session=str(family_id)
    )
    return StaffSession(
        token_type="bearer",
        access_token=access_token,
        expires_at=expires,
        refresh_token=refresh_token,
        refresh_expires_at=refresh_expires,
        user=await staff_user(conn, user_id),
    )


TOOL_SESSION_SQL = """
insert into staff_sessions (user_id, refresh_hash, expires_at, user_agent)
values ($1, $2, now() + make_interval(secs => $3), 'tool')
returning family_id
"""


async def tool_access_token(conn: Any, secret: str, user_id: int, ttl_seconds: int) -> str:
    """An access token in a session of its own, for tools that act as a staff member without
    a password (benchmarks, tests): staff tokens are only good inside a live session."""
    family_id = await conn.fetchval(TOOL_SESSION_SQL, user_id, digest(new_secret()), ttl_seconds)
    return issue_token(secret, f"user:{user_id}", "staff", ttl_seconds, session=str(family_id))[0]


STAFF_USER_SQL = f"select u.id, u.username, u.display_name, {USER_ROLES_JSON} as roles from users u where u.id = $1"


async def staff_user(conn: Any, user_id: int) -> StaffUser:
    return msgspec.convert(dict(await conn.fetchrow(STAFF_USER_SQL, user_id)), StaffUser)


ROTATE_SESSION_SQL = """
update staff_sessions s set revoked_at = now(), revoked_reason = 'rotated'
from users u
where s.refresh_hash = $1 and s.revoked_at is null and s.expires_at > now()
  and u.id = s.user_id and u.is_active
returning s.user_id, s.user_agent, s.family_id
"""

ROTATED_SESSION_SQL = """
select user_id, family_id from staff_sessions where refresh_hash = $1 and revoked_reason = 'rotated'
"""

# Ending a session also retires the push devices registered in it (migration 0044): a
# logged-out phone no longer shows the account's alerts and notices.
END_FAMILY_SQL = """
with ended as (
    update staff_sessions set revoked_at = now(), revoked_reason = $3
    where family_id = $1 and revoked_at is null
),
devices_retired as (
    update devices set retired_at = now(), retired_reason = 'session_ended'
    where session_family_id = $1 and retired_at is null
)
insert into ended_session_families (family_id, user_id, reason) values ($1, $2, $3)
on conflict (family_id) do nothing
returning family_id
"""


async def refresh_session(pool: Any, settings: Settings, secret: str, refresh_token: str) -> StaffSession:
    """Trade a refresh token for a new session of the same family; the old token stops working
    (rotation). A token that was already rotated is being used a second time, so one of its
    two holders is not its owner: the whole family ends (its refresh and access tokens), the
    end is audited and committed, and the caller gets 401."""
    hashed = digest(refresh_token)
    async with pooled(pool, settings.db_acquire_timeout) as conn:
        async with transaction(conn):
            row = await conn.fetchrow(ROTATE_SESSION_SQL, hashed)
            if row is not None:
                return await open_session(
                    conn, settings, secret, row["user_id"], row["user_agent"], family_id=row["family_id"]
                )
            reused = await conn.fetchrow(ROTATED_SESSION_SQL, hashed)
            if reused is not None:
                ended = await conn.fetchval(END_FAMILY_SQL, reused["family_id"], reused["user_id"], "reuse")
                if ended is not None:
                    await record_audit(
                        conn,
                        actor_kind="anonymous",
                        action="session.refresh_reused",
                        object_kind="staff_session_family",
                        object_id=str(reused["family_id"]),
                        data={"user_id": reused["user_id"]},
                    )
                    log.warning("rotated refresh token reused", extra={"user_id": reused["user_id"]})
    raise AppError("invalid_refresh_token")


# Any refresh token of the family, the current one or one already rotated: an app whose
# refresh answer was lost logs out with the token it still holds, and that must end the
# session as surely (before, it was a silent no-op and the family, with the rotated token
# whoever got the answer holds, lived on).
LOGOUT_SESSION_SQL = """
select user_id, family_id from staff_sessions where refresh_hash = $1
"""


async def log_out(conn: Any, refresh_token: str) -> None:
    """End the session of this refresh token: its family's refresh tokens and, at once, every
    access token issued in it. Audited once, when the family ends."""
    row = await conn.fetchrow(LOGOUT_SESSION_SQL, digest(refresh_token))
    if row is not None and await conn.fetchval(END_FAMILY_SQL, row["family_id"], row["user_id"], "logout"):
        await record_audit(
            conn,
            actor_kind="staff",
            actor_user_id=row["user_id"],
            action="logout",
            object_kind="staff_session_family",
            object_id=str(row["family_id"]),
        )


INSTALL_SQL = "select id, secret_hash, blocked_at from citizen_installs where install_id = $1"

NEW_INSTALL_SQL = """
insert into citizen_installs (install_id, secret_hash, platform, locale, app_version)
values ($1, $2, $3, $4, $5)
on conflict (install_id) do nothing
returning id
"""

SEEN_INSTALL_SQL = """
update citizen_installs
set last_seen_at = now(), platform = $2, locale = $3, app_version = coalesce($4, app_version)
where id = $1
"""


async def open_device_session(
    conn: Any, redis: Any, settings: Settings, secret: str, request: DeviceSessionRequest, address: str
) -> tuple[DeviceSession, bool]:
    """A citizen token for an app install; the bool says whether the install is new.

    The first session returns an install secret; later ones must present it, so knowing
    somebody's install id is not enough to act as them. New installs per network address
    and hour are limited, or the per-install rating limit could be dodged by minting
    installs."""
    install_secret: str | None = None
    row = await conn.fetchrow(INSTALL_SQL, request.install_id)
    created = False
    if row is None:
        key = f"{settings.redis_key_prefix}:new-installs:{limit_key(address)}"
        limiter = WindowLimiter(redis, key, INSTALL_WINDOW_SECONDS)
        retry_after = await limiter.take(settings.new_installs_per_address)
        if retry_after:
            raise AppError("too_many_requests", headers={"retry-after": str(retry_after)})
        install_secret = new_secret()
        citizen_id = await conn.fetchval(
            NEW_INSTALL_SQL,
            request.install_id,
            digest(install_secret),
            request.platform,
            request.locale,
            request.app_version,
        )
        created = citizen_id is not None
        if not created:  # registered by a concurrent request a moment ago
            raise AppError("install_secret_required")
    else:
        if request.install_secret is None or not same_digest(row["secret_hash"], digest(request.install_secret)):
            raise AppError("install_secret_required")
        if row["blocked_at"] is not None:
            raise AppError("install_blocked")
        citizen_id = row["id"]
        await conn.execute(SEEN_INSTALL_SQL, citizen_id, request.platform, request.locale, request.app_version)
    token, expires = issue_token(secret, f"citizen:{citizen_id}", "citizen", settings.citizen_token_ttl)
    session = DeviceSession(
        token_type="bearer",
        citizen_id=citizen_id,
        access_token=token,
        expires_at=expires,
        install_secret=install_secret,
    )
    return session, created
