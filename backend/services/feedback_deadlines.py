"""Deadlines of forwarded feedback, kept by the worker's cron.

An item whose authority has not answered by the deadline (the open forward's, extended
or not) is marked overdue, and its authority is reminded once a local day while it stays
so. Past a grace period the province's Front staff are told, once. Every change is an
event of the item; the pushes go through the outbox in the same transaction.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import msgspec

from backend.services.concerned_officials import not_concerned
from backend.services.notifications import Notification, queue_notifications
from backend.windows import local_day

DEADLINE_LOCK = 7_318_002
CATEGORY_NAMES = {
    "suggestion": ("Kiến nghị", "Suggestion"),
    "complaint": ("Phản ánh", "Complaint"),
    "wrongdoing_report": ("Tố giác", "Report of wrongdoing"),
    "question": ("Câu hỏi", "Question"),
    "praise": ("Khen ngợi", "Praise"),
}

# Forwarded items whose open forward is past due: the authority to remind (whoever the
# forward is addressed to, as /v1/assigned-feedback reads it: the accounts named on it for a
# report about a chair, else the official, else the commune's chairs; never the official
# concerned), and whether the item is newly overdue or past the grace.
OVERDUE_SQL = f"""
select f.id, f.reference, f.category, fw.category as forward_category, f.commune_code,
       c.full_name as commune_name, c.full_name_en as commune_name_en,
       c.province_code, f.overdue_since, f.escalated_at, fw.id as forward_id,
       coalesce(fw.extended_due_at, fw.due_at) as due_at,
       array(select au.id
             from unnest(case when fw.recipient_user_ids is not null then fw.recipient_user_ids
                              when fw.official_id is not null
                                  then array(select o.user_id from officials o
                                             where o.id = fw.official_id and o.user_id is not null)
                              else array(select ur.user_id from user_roles ur
                                         join users u on u.id = ur.user_id and u.is_active
                                         where ur.role = 'commune_chair' and ur.commune_code = fw.commune_code
                                         order by ur.user_id) end) with ordinality as au(id, n)
             where {not_concerned("au.id", "f.id")}
             order by au.n) as authority_users
from feedback f
join feedback_forwards fw on fw.feedback_id = f.id and fw.status in ('open', 'sent_back')
join communes c on c.code = f.commune_code
where f.status = 'forwarded' and coalesce(fw.extended_due_at, fw.due_at) < $1
order by f.id
for update of f skip locked
"""

MARK_SQL = """
update feedback f
set overdue_since = coalesce(f.overdue_since, $2),
    escalated_at = case when u.escalate then $2 else f.escalated_at end
from unnest($1::bigint[], $3::boolean[]) as u(id, escalate)
where f.id = u.id
"""

EVENTS_SQL = """
insert into feedback_events (feedback_id, kind, from_status, to_status, actor_kind, reason, data, created_at)
select u.id, u.kind, 'forwarded', 'forwarded', 'system', u.reason, u.data::jsonb, $5
from unnest($1::bigint[], $2::text[], $3::text[], $4::text[]) as u(id, kind, reason, data)
"""

PROVINCE_FRONT_SQL = """
select distinct ur.user_id, ur.province_code
from user_roles ur join users u on u.id = ur.user_id and u.is_active
where ur.role in ('front_staff', 'front_supervisor') and ur.scope_kind = 'province'
  and ur.province_code = any($1::text[])
"""


@dataclass
class DeadlineReport:
    overdue: int = 0
    reminded: int = 0
    escalated: int = 0
    outbox_ids: list[int] = field(default_factory=list)


def _text(kind: str, row: Any, now: datetime) -> tuple[str, str, str, str]:
    due = row["due_at"]
    days = max(1, (now - due).days + (1 if (now - due).seconds else 0))
    due_text = local_day(due).strftime("%d/%m/%Y")
    if kind == "reminder":
        # The authority knows the forward, not the item: its number, not the reference.
        category_vi, category_en = CATEGORY_NAMES.get(row["forward_category"], ("Phản ánh", "Feedback"))
        forward = row["forward_id"]
        return (
            f"Quá hạn trả lời: {category_vi} (chuyển số {forward})",
            f"{category_vi} chuyển số {forward} đã quá hạn trả lời ({due_text}). Đề nghị trả lời hoặc xin gia hạn.",
            f"Answer overdue: {category_en} (forward {forward})",
            f"{category_en} forward {forward} was due on {due_text}. Please answer or ask for an extension.",
        )
    category_vi, category_en = CATEGORY_NAMES.get(row["category"], ("Phản ánh", "Feedback"))
    return (
        f"Chậm trả lời {days} ngày: {row['reference']} — {row['commune_name']}",
        f"{category_vi} {row['reference']} ({row['commune_name']}) quá hạn trả lời từ {due_text}, chưa có trả lời.",
        f"{days} days overdue: {row['reference']} — {row['commune_name_en']}",
        f"{category_en} {row['reference']} ({row['commune_name_en']}) has been unanswered since {due_text}.",
    )


def _push(kind: str, key: str, row: Any, user_id: int, text: tuple[str, str, str, str]) -> Notification:
    title_vi, body_vi, title_en, body_en = text
    if kind == "reminder":  # to the authority: the forward, never the item
        forward = row["forward_id"]
        data = {
            "forward_id": str(forward),
            "kind": "feedback_reminder",
            "link": f"communepulse://assigned-feedback/{forward}",
        }
        ids: dict[str, Any] = {"forward_id": forward}
    else:
        data = {"feedback_id": str(row["id"]), "kind": f"feedback_{kind}", "link": f"communepulse://front/{row['id']}"}
        ids = {"feedback_id": row["id"]}
    return Notification(
        dedupe_key=key,
        kind=f"feedback_{kind}",
        title_vi=title_vi,
        body_vi=body_vi,
        title_en=title_en,
        body_en=body_en,
        data=data,
        user_id=user_id,
        **ids,
    )


async def check_deadlines(conn: Any, grace: timedelta, now: datetime | None = None) -> DeadlineReport:
    """Mark overdue items, remind their authorities (once a local day) and escalate those
    past `grace` to the province Front (once), in one transaction."""
    now = now or datetime.now(UTC)
    report = DeadlineReport()
    today = local_day(now).isoformat()
    async with conn.transaction():
        if not await conn.fetchval("select pg_try_advisory_xact_lock($1)", DEADLINE_LOCK):
            return report
        rows = await conn.fetch(OVERDUE_SQL, now)
        if not rows:
            return report
        newly = [r for r in rows if r["overdue_since"] is None]
        escalate = [r for r in rows if r["escalated_at"] is None and r["due_at"] + grace < now]
        escalating = {r["id"] for r in escalate}
        changed = {r["id"]: r for r in [*newly, *escalate]}
        if changed:
            await conn.execute(MARK_SQL, list(changed), now, [i in escalating for i in changed])
            events = [
                (r["id"], "overdue", "Quá hạn trả lời", msgspec.json.encode({"due_at": r["due_at"]}).decode())
                for r in newly
            ] + [(r["id"], "escalated", "Quá hạn sau thời gian ân hạn: báo Mặt trận cấp tỉnh", "{}") for r in escalate]
            await conn.execute(EVENTS_SQL, *map(list, zip(*events, strict=True)), now)
        notifications = []
        for r in rows:
            for user_id in dict.fromkeys(r["authority_users"]):
                key = f"feedback:{r['id']}:forward:{r['forward_id']}:overdue:{today}:user:{user_id}"
                notifications.append(_push("reminder", key, r, user_id, _text("reminder", r, now)))
        if escalate:
            front: dict[str, list[int]] = defaultdict(list)
            for f in await conn.fetch(PROVINCE_FRONT_SQL, sorted({r["province_code"] for r in escalate})):
                front[f["province_code"]].append(f["user_id"])
            for r in escalate:
                for user_id in front[r["province_code"]]:
                    key = f"feedback:{r['id']}:escalated:user:{user_id}"
                    notifications.append(_push("escalated", key, r, user_id, _text("escalated", r, now)))
        report.outbox_ids = await queue_notifications(conn, notifications)
        report.overdue, report.escalated = len(newly), len(escalate)
        report.reminded = sum(1 for n in notifications if n.kind == "feedback_reminder")
    return report
