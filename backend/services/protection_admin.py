"""Administration that routing depends on (backend.services.feedback_routing): which account
belongs to an official, and who receives reports about a province's commune chairs. Both
are audited: changing them changes who can read a report of wrongdoing."""

from __future__ import annotations

from typing import Any

import asyncpg

from backend.audit import record_staff_action
from backend.auth import StaffPrincipal
from backend.errors import AppError
from backend.scope import in_province_scope, in_scope
from backend.services.users import ADMIN_ROLES
from schemas.protection import FeedbackRecipient, FeedbackRecipientSet, OfficialAccount, OfficialAccountLink

OFFICIAL_FOR_UPDATE_SQL = f"""
select o.id, o.commune_code, o.user_id
from officials o join communes c on c.code = o.commune_code
where o.id = $1 and {in_scope(user="$2", roles="$3", commune="o.commune_code", province="c.province_code")}
for update of o
"""

ACTIVE_USER_SQL = "select id from users where id = $1 and is_active"
LINK_SQL = "update officials set user_id = $2 where id = $1"


async def link_official_account(
    conn: Any, staff: StaffPrincipal, official_id: int, body: OfficialAccountLink
) -> OfficialAccount:
    """Link (or unlink) an official's staff account, for admins covering the official's
    commune; recorded with the previous account and the reason."""
    row = await conn.fetchrow(OFFICIAL_FOR_UPDATE_SQL, official_id, staff.user_id, list(ADMIN_ROLES))
    if row is None:
        raise AppError("official_not_found")
    if body.user_id is not None and await conn.fetchval(ACTIVE_USER_SQL, body.user_id) is None:
        raise AppError("user_not_found")
    try:
        async with conn.transaction():
            await conn.execute(LINK_SQL, official_id, body.user_id)
    except asyncpg.UniqueViolationError:
        raise AppError("account_already_linked") from None
    await record_staff_action(
        conn,
        staff.user_id,
        "official.account_link",
        "official",
        official_id,
        reason=body.reason.strip(),
        data={"previous_user_id": row["user_id"], "user_id": body.user_id},
    )
    return OfficialAccount(official_id=official_id, commune_code=row["commune_code"], user_id=body.user_id)


PROVINCE_ACCESS_SQL = f"""
select p.code, {in_province_scope(user="$2", roles="$3", province="p.code")} as allowed
from provinces p where p.code = $1
"""


async def _require_province_admin(conn: Any, staff: StaffPrincipal, province_code: str) -> None:
    row = await conn.fetchrow(PROVINCE_ACCESS_SQL, province_code, staff.user_id, list(ADMIN_ROLES))
    if row is None:
        raise AppError("province_not_found")
    if not row["allowed"]:
        raise AppError("out_of_scope")


RECIPIENT_SQL = """
select r.province_code, r.user_id, u.display_name, r.label, r.updated_at
from province_feedback_recipients r join users u on u.id = r.user_id
where r.province_code = $1
"""


async def get_feedback_recipient(conn: Any, staff: StaffPrincipal, province_code: str) -> FeedbackRecipient:
    """The province's recipient of reports about commune chairs (admins of the province)."""
    await _require_province_admin(conn, staff, province_code)
    row = await conn.fetchrow(RECIPIENT_SQL, province_code)
    if row is None:
        return FeedbackRecipient(province_code=province_code, configured=False)
    return FeedbackRecipient(configured=True, **dict(row))


# The recipient belongs to the People's Committee side of the province (e.g. the inspectorate
# given a province_admin account): never a commune account, never the Front.
PROVINCE_SIDE_USER_SQL = """
select u.id from users u
where u.id = $1 and u.is_active
  and exists (select 1 from user_roles ur
              where ur.user_id = u.id and ur.role = 'province_admin' and ur.province_code = $2)
"""

UPSERT_RECIPIENT_SQL = """
insert into province_feedback_recipients (province_code, user_id, label, updated_by, updated_at)
values ($1, $2, $3, $4, now())
on conflict (province_code) do update
set user_id = excluded.user_id, label = excluded.label, updated_by = excluded.updated_by, updated_at = now()
"""


async def set_feedback_recipient(
    conn: Any, staff: StaffPrincipal, province_code: str, body: FeedbackRecipientSet
) -> FeedbackRecipient:
    """Name the account (e.g. the provincial inspectorate's) that receives reports about the
    province's commune chairs; audited with the previous one."""
    await _require_province_admin(conn, staff, province_code)
    if await conn.fetchval(PROVINCE_SIDE_USER_SQL, body.user_id, province_code) is None:
        raise AppError("invalid_feedback_recipient")
    previous = await conn.fetchrow(RECIPIENT_SQL, province_code)
    await conn.execute(UPSERT_RECIPIENT_SQL, province_code, body.user_id, body.label.strip(), staff.user_id)
    await record_staff_action(
        conn,
        staff.user_id,
        "province.feedback_recipient",
        "province",
        province_code,
        reason=body.reason.strip(),
        data={"previous_user_id": previous["user_id"] if previous else None, "user_id": body.user_id},
    )
    return await get_feedback_recipient(conn, staff, province_code)
