"""Answer templates per category for the Front's staff: national ones for everyone, a
province's for the staff of that province and its communes; kept by Front supervisors."""

from __future__ import annotations

from typing import Any

import msgspec

from backend.audit import record_audit
from backend.auth import StaffPrincipal
from backend.errors import AppError
from schemas.feedback_reports import (
    FeedbackTemplate,
    FeedbackTemplateCreate,
    FeedbackTemplateList,
    FeedbackTemplateUpdate,
)

TEMPLATE_READERS = frozenset({"front_staff", "front_supervisor", "system_admin"})
TEMPLATE_EDITORS = frozenset({"front_supervisor", "system_admin"})
COLUMNS = "t.id, t.category, t.title, t.body, t.scope_kind, t.province_code, t.updated_at"

# A national template is for every reader; a province's for readers scoped to the nation,
# that province or one of its communes. Editors: the province's (or national) supervisors.
SEES = """exists (
    select 1 from user_roles ur left join communes uc on uc.code = ur.commune_code
    where ur.user_id = $1 and ur.role = any($2::text[])
      and (t.scope_kind = 'national' or ur.scope_kind = 'national'
           or ur.province_code = t.province_code or uc.province_code = t.province_code))"""
EDITS = """exists (
    select 1 from user_roles ur
    where ur.user_id = $1 and ur.role = any($2::text[])
      and (ur.role = 'system_admin' or ur.scope_kind = 'national'
           or (t.scope_kind = 'province' and ur.province_code = t.province_code)))"""

LIST_SQL = f"""
select {COLUMNS} from feedback_templates t
where t.deleted_at is null and ($3::text is null or t.category = $3) and {SEES}
order by t.category, t.scope_kind desc, t.title
"""
ONE_SQL = f"""
select {COLUMNS}, {SEES} as visible, {EDITS.replace("$2", "$3")} as editable
from feedback_templates t where t.id = $4 and t.deleted_at is null
"""
INSERT_SQL = f"""
insert into feedback_templates as t (category, title, body, scope_kind, province_code, created_by)
values ($1, $2, $3, $4, $5, $6)
returning {COLUMNS}
"""
CAN_CREATE_SQL = """
select exists (select 1 from provinces where code = $3) or $3 is null as known,
       exists (select 1 from user_roles ur
               where ur.user_id = $1 and ur.role = any($2::text[])
                 and (ur.role = 'system_admin' or ur.scope_kind = 'national'
                      or ($3::text is not null and ur.province_code = $3))) as allowed
"""
UPDATE_SQL = f"""
update feedback_templates t set title = coalesce($2, t.title), body = coalesce($3, t.body), updated_at = now()
where t.id = $1
returning {COLUMNS}
"""
DELETE_SQL = "update feedback_templates set deleted_at = now() where id = $1"


def _template(row: Any) -> FeedbackTemplate:
    return msgspec.convert({k: row[k] for k in FeedbackTemplate.__struct_fields__}, FeedbackTemplate)


async def list_templates(conn: Any, staff: StaffPrincipal, category: str | None) -> FeedbackTemplateList:
    rows = await conn.fetch(LIST_SQL, staff.user_id, list(TEMPLATE_READERS), category)
    return FeedbackTemplateList(items=[_template(r) for r in rows])


async def create_template(conn: Any, staff: StaffPrincipal, data: FeedbackTemplateCreate) -> FeedbackTemplate:
    """A national template (national supervisors, system admins) or a province's."""
    check = await conn.fetchrow(CAN_CREATE_SQL, staff.user_id, list(TEMPLATE_EDITORS), data.province_code)
    if not check["known"]:
        raise AppError("province_not_found")
    if not check["allowed"]:
        raise AppError("out_of_scope")
    kind = "province" if data.province_code else "national"
    row = await conn.fetchrow(INSERT_SQL, data.category, data.title, data.body, kind, data.province_code, staff.user_id)
    await record_audit(
        conn,
        actor_kind="staff",
        actor_user_id=staff.user_id,
        action="feedback_template.create",
        object_kind="feedback_template",
        object_id=row["id"],
    )
    return _template(row)


async def _editable(conn: Any, staff: StaffPrincipal, template_id: int) -> Any:
    row = await conn.fetchrow(ONE_SQL, staff.user_id, list(TEMPLATE_READERS), list(TEMPLATE_EDITORS), template_id)
    if row is None or not row["visible"]:
        raise AppError("not_found")
    if not row["editable"]:
        raise AppError("out_of_scope")
    return row


async def update_template(
    conn: Any, staff: StaffPrincipal, template_id: int, data: FeedbackTemplateUpdate
) -> FeedbackTemplate:
    await _editable(conn, staff, template_id)
    row = await conn.fetchrow(UPDATE_SQL, template_id, data.title, data.body)
    await record_audit(
        conn,
        actor_kind="staff",
        actor_user_id=staff.user_id,
        action="feedback_template.update",
        object_kind="feedback_template",
        object_id=template_id,
    )
    return _template(row)


async def delete_template(conn: Any, staff: StaffPrincipal, template_id: int) -> None:
    await _editable(conn, staff, template_id)
    await conn.execute(DELETE_SQL, template_id)
    await record_audit(
        conn,
        actor_kind="staff",
        actor_user_id=staff.user_id,
        action="feedback_template.delete",
        object_kind="feedback_template",
        object_id=template_id,
    )
