"""Push devices: where a staff user's or a citizen install's pushes go.

A device is addressed by its Firebase installation ID (FID) or, from older apps, a legacy
registration token; one target is live for one owner at a time. Devices are never deleted,
only retired (by their owner, by FCM's answer, or beyond an owner's device limit), so
delivery records keep pointing at what they were sent to.

A live target is never moved to another caller: anyone who learns a chair's FID could
otherwise register it under a citizen token and silence the chair's alerts. A staff device
belongs to the session it was last registered in: logging out (or the session ending on a
reused refresh token) retires it, so a phone that logged out stops showing the account's
pushes even when the app could not remove its device (DELETE /v1/me/devices?fid=...) first.
Until then another account registering the same target gets 409 device_target_in_use.
"""

from __future__ import annotations

import uuid
from datetime import time
from typing import Any

import msgspec

from backend.auth import CitizenPrincipal, Principal, StaffPrincipal
from backend.errors import AppError
from schemas.devices import Device, DeviceList, DeviceRegistration

# Beyond this many live devices an owner's least recently seen ones are retired: a user
# who changes phones often does not fan every push out to all of them.
MAX_LIVE_DEVICES = 10
# Namespace of the advisory locks that serialise registrations of one target.
_LOCK_NAMESPACE = 0x70757368  # "push"

DEVICE_COLUMNS = """
id, fid, registration_token, platform, locale,
to_char(quiet_start, 'HH24:MI') as quiet_start, to_char(quiet_end, 'HH24:MI') as quiet_end,
created_at, last_seen_at
"""


def _owner(principal: Principal) -> tuple[int | None, uuid.UUID | None]:
    if isinstance(principal, StaffPrincipal):
        return principal.user_id, None
    if isinstance(principal, CitizenPrincipal):
        return None, principal.citizen_id
    raise AppError("forbidden_role")


def _time(value: str | None) -> time | None:
    if value is None:
        return None
    hours, minutes = value.split(":")
    return time(int(hours), int(minutes))


INSTALL_SQL = "select blocked_at from citizen_installs where id = $1"

LOCK_TARGET_SQL = "select pg_advisory_xact_lock(hashtextextended($1, $2))"

LIVE_TARGET_SQL = """
select id, user_id, citizen_id from devices
where retired_at is null and (fid = $1 or registration_token = $2)
"""

UPDATE_DEVICE_SQL = f"""
update devices
set platform = $2, locale = $3, quiet_start = coalesce($4, quiet_start), quiet_end = coalesce($5, quiet_end),
    last_seen_at = now(), session_family_id = $6
where id = $1
returning {DEVICE_COLUMNS}
"""

INSERT_DEVICE_SQL = f"""
insert into devices (user_id, citizen_id, fid, registration_token, platform, locale, quiet_start, quiet_end,
                     session_family_id)
values ($1, $2, $3, $4, $5, $6, coalesce($7, '22:00'::time), coalesce($8, '06:00'::time), $9)
returning {DEVICE_COLUMNS}
"""

RETIRE_SURPLUS_SQL = """
update devices set retired_at = now(), retired_reason = 'superseded'
where id in (
    select id from devices
    where retired_at is null and (user_id = $1 or citizen_id = $2)
    order by last_seen_at desc, id desc
    offset $3
)
"""


async def register_device(conn: Any, principal: Principal, data: DeviceRegistration) -> tuple[Device, bool]:
    """Register (or refresh) where the caller's pushes go; True when a device row was created.

    The same target registered again by its owner is updated; a target live for another
    owner is refused (409) and left untouched: only its owner retires it."""
    user_id, citizen_id = _owner(principal)
    if (data.fid is None) == (data.registration_token is None):
        raise AppError("device_target_required")
    if citizen_id is not None:
        install = await conn.fetchrow(INSTALL_SQL, citizen_id)
        if install is None:
            raise AppError("invalid_token", headers={"www-authenticate": "Bearer"})
        if install["blocked_at"] is not None:
            raise AppError("install_blocked")
    target = data.fid or data.registration_token
    session = principal.session_family if isinstance(principal, StaffPrincipal) else None
    quiet_start, quiet_end = _time(data.quiet_start), _time(data.quiet_end)
    # Two registrations of one target at once would both find no live row and one would
    # fail on the unique index: they take turns instead.
    await conn.execute(LOCK_TARGET_SQL, target, _LOCK_NAMESPACE)
    existing = await conn.fetchrow(LIVE_TARGET_SQL, data.fid, data.registration_token)
    if existing is not None and (existing["user_id"], existing["citizen_id"]) == (user_id, citizen_id):
        row = await conn.fetchrow(
            UPDATE_DEVICE_SQL, existing["id"], data.platform, data.locale, quiet_start, quiet_end, session
        )
        return msgspec.convert(dict(row), Device), False
    if existing is not None:
        raise AppError("device_target_in_use")
    row = await conn.fetchrow(
        INSERT_DEVICE_SQL,
        user_id,
        citizen_id,
        data.fid,
        data.registration_token,
        data.platform,
        data.locale,
        quiet_start,
        quiet_end,
        session,
    )
    await conn.execute(RETIRE_SURPLUS_SQL, user_id, citizen_id, MAX_LIVE_DEVICES)
    return msgspec.convert(dict(row), Device), True


LIST_DEVICES_SQL = f"""
select {DEVICE_COLUMNS}
from devices
where retired_at is null and (user_id = $1 or citizen_id = $2)
order by last_seen_at desc, id desc
"""


async def list_devices(conn: Any, principal: Principal) -> DeviceList:
    """The caller's live devices, most recently registered first."""
    user_id, citizen_id = _owner(principal)
    rows = await conn.fetch(LIST_DEVICES_SQL, user_id, citizen_id)
    return DeviceList(items=[msgspec.convert(dict(r), Device) for r in rows])


DELETE_DEVICE_SQL = """
update devices set retired_at = now(), retired_reason = 'deleted'
where id = $3 and retired_at is null and (user_id = $1 or citizen_id = $2)
returning id
"""


async def delete_device(conn: Any, principal: Principal, device_id: int) -> None:
    """Stop pushes to one of the caller's devices (on logout, or turning notifications off).
    Another owner's device, or one already retired, is not found."""
    user_id, citizen_id = _owner(principal)
    if await conn.fetchval(DELETE_DEVICE_SQL, user_id, citizen_id, device_id) is None:
        raise AppError("device_not_found")


DELETE_TARGET_SQL = """
update devices set retired_at = now(), retired_reason = 'deleted'
where retired_at is null and (user_id = $1 or citizen_id = $2) and (fid = $3 or registration_token = $4)
returning id
"""


async def delete_device_target(conn: Any, principal: Principal, fid: str | None, token: str | None) -> None:
    """As delete_device, naming the device by what the app knows: its fid (or legacy token)."""
    if (fid is None) == (token is None):
        raise AppError("device_target_required")
    user_id, citizen_id = _owner(principal)
    if await conn.fetchval(DELETE_TARGET_SQL, user_id, citizen_id, fid, token) is None:
        raise AppError("device_not_found")
