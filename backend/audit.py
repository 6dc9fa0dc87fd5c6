"""The append-only audit log, written in the transaction of the change it records."""

from __future__ import annotations

import uuid
from typing import Any

from backend.log import current_request_id

RECORD_AUDIT_SQL = """
insert into audit_log (actor_kind, actor_user_id, actor_citizen_id, actor_api_key_id,
                       action, object_kind, object_id, reason, data, request_id)
values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
"""


async def record_audit(
    conn: Any,
    *,
    actor_kind: str,
    action: str,
    actor_user_id: int | None = None,
    actor_citizen_id: uuid.UUID | None = None,
    actor_api_key_id: int | None = None,
    object_kind: str | None = None,
    object_id: str | int | None = None,
    reason: str | None = None,
    data: dict[str, Any] | None = None,
) -> None:
    await conn.execute(
        RECORD_AUDIT_SQL,
        actor_kind,
        actor_user_id,
        actor_citizen_id,
        actor_api_key_id,
        action,
        object_kind,
        None if object_id is None else str(object_id),
        reason,
        data or {},
        current_request_id(),
    )


async def record_staff_action(
    conn: Any,
    staff_user_id: int,
    action: str,
    object_kind: str,
    object_id: str | int,
    *,
    reason: str | None = None,
    data: dict[str, Any] | None = None,
) -> None:
    """Audit what a staff member did to an object."""
    await record_audit(
        conn,
        actor_kind="staff",
        actor_user_id=staff_user_id,
        action=action,
        object_kind=object_kind,
        object_id=object_id,
        reason=reason,
        data=data,
    )
