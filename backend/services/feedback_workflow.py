"""What Front staff do to a feedback item: claim, release, assign, triage, merge, reject,
moderate, forward to the accountable authority, accept or send back its answer, close, reopen;
and bulk triage, assignment and rejection.

Every action locks the item, checks the caller's scope (outside it the item does not exist),
the version the caller last saw (If-Match), the lease (another's unexpired claim blocks the
action) and the transition (backend.feedback_states); then it changes the row, bumps its
version, records one feedback_events row with the actor and reason, and writes the pushes it
causes to the outbox — all in the request's transaction."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from backend import workdays
from backend.audit import record_staff_action
from backend.auth import StaffPrincipal
from backend.errors import AppError, problem_of
from backend.feedback_states import InvalidTransition, transition
from backend.redaction import redact_with_findings
from backend.scope import in_scope
from backend.services.concerned_officials import not_concerned
from backend.services.feedback_routing import route_of
from backend.services.forward_copies import current_review, supersede_reviews
from backend.services.front_queue import FRONT_ROLES, SUPERVISOR_ROLES, get_front_feedback, get_queue_item
from backend.services.notifications import Notification, queue_notifications
from backend.settings import Settings
from backend.windows import local_day
from schemas.front import (
    AcceptRequest,
    AssignRequest,
    BulkItem,
    BulkResponse,
    BulkResult,
    ClaimRequest,
    ForwardRequest,
    FrontFeedback,
    MergeRequest,
    ModerateRequest,
    ReasonRequest,
    RejectRequest,
    RequiredReason,
    TriageRequest,
)
from schemas.problem import FieldError

CITIZEN_TEXTS = {
    "feedback_accepted": (
        "Góp ý đã được tiếp nhận",
        "Mặt trận Tổ quốc đã tiếp nhận góp ý {reference} của bạn.",
        "Feedback accepted",
        "The Fatherland Front has accepted your feedback {reference}.",
    ),
    "feedback_forwarded": (
        "Góp ý đã được chuyển xử lý",
        "Góp ý {reference} đã được chuyển đến cơ quan có thẩm quyền, hạn trả lời {due}.",
        "Feedback forwarded",
        "Your feedback {reference} was forwarded to the competent authority; the answer is due {due}.",
    ),
    "feedback_extended": (
        "Gia hạn trả lời góp ý",
        "Hạn trả lời góp ý {reference} được gia hạn đến {due}.",
        "Answer deadline extended",
        "The answer to your feedback {reference} is now due {due}.",
    ),
    "feedback_answered": (
        "Góp ý đã có trả lời",
        "Góp ý {reference} đã có trả lời. Mở ứng dụng để xem.",
        "Feedback answered",
        "Your feedback {reference} has been answered. Open the app to read it.",
    ),
    "feedback_rejected": (
        "Góp ý không được tiếp nhận",
        "Góp ý {reference} không được tiếp nhận: {reason}",
        "Feedback not accepted",
        "Your feedback {reference} was not accepted: {reason}",
    ),
}


def _local_date(at: datetime) -> str:
    return local_day(at).strftime("%d/%m/%Y")


LOCK_SQL = f"""
select f.id, f.reference, f.citizen_id, f.category, f.commune_code, c.province_code, f.commune_service_id,
       f.official_id, f.status, f.priority, f.body, f.assigned_to, f.lease_holder, f.lease_expires_at,
       coalesce(f.lease_expires_at > $5, false) as leased, f.version, f.answer, f.answered_at, f.answer_rating,
       f.response_due_at, f.merged_into_id, f.protected,
       {in_scope(user="$2", roles="$4", commune="f.commune_code", province="c.province_code")} as supervises
from feedback f
join communes c on c.code = f.commune_code
where f.id = $1 and {in_scope(user="$2", roles="$3", commune="f.commune_code", province="c.province_code")}
for update of f
"""


@dataclass(frozen=True)
class Action:
    """One action under way: the item as locked, the caller, the time, the status it goes to."""

    row: Any
    staff: StaffPrincipal
    now: datetime
    to_status: str

    @property
    def id(self) -> int:
        return int(self.row["id"])


# What If-Match may hold: a version, quoted or not, weak or not ("3", W/"3", 3). The API
# refuses anything else before the handler runs (backend.api.front publishes it).
IF_MATCH = r'^(W/)?"?[0-9]{1,10}"?$'


def parse_if_match(header: str | None) -> int | None:
    """The version in an If-Match header: "3", W/"3" or 3; None when absent."""
    if header is None:
        return None
    value = header.strip().removeprefix("W/").strip('"')
    if not value.isdigit() or len(value) > 10:
        raise AppError("invalid_parameter")
    return int(value)


async def _begin(
    conn: Any,
    staff: StaffPrincipal,
    feedback_id: int,
    action: str,
    version: int | None,
    *,
    version_required: bool = True,
    break_lease: bool = False,
) -> Action:
    now = datetime.now(UTC)
    row = await conn.fetchrow(LOCK_SQL, feedback_id, staff.user_id, list(FRONT_ROLES), list(SUPERVISOR_ROLES), now)
    if row is None:
        raise AppError("feedback_not_found")
    if version is None and version_required:
        raise AppError("if_match_required")
    if version is not None and version != row["version"]:
        raise AppError("version_mismatch", extensions={"current_version": row["version"]})
    try:
        to_status = transition(row["status"], action)
    except InvalidTransition:
        raise AppError(
            "invalid_feedback_transition", extensions={"current_status": row["status"], "action": action}
        ) from None
    if row["leased"] and row["lease_holder"] != staff.user_id and not (break_lease and row["supervises"]):
        raise AppError(
            "feedback_leased",
            extensions={"lease_holder": row["lease_holder"], "lease_expires_at": row["lease_expires_at"].isoformat()},
        )
    return Action(row, staff, now, to_status)


# Columns an action may set; the version and updated_at always move.
UPDATABLE = frozenset(
    {
        "status",
        "category",
        "priority",
        "commune_service_id",
        "official_id",
        "body",
        "merged_into_id",
        "assigned_to",
        "lease_holder",
        "lease_expires_at",
        "response_due_at",
        "overdue_since",
        "escalated_at",
        "answer",
        "answered_at",
        "answer_rating",
        "reject_reason",
    }
)


async def _update(conn: Any, act: Action, **changes: Any) -> None:
    unknown = set(changes) - UPDATABLE
    if unknown:
        raise ValueError(f"not updatable: {sorted(unknown)}")
    names = sorted(changes)
    sets = ", ".join(f"{name} = ${i + 3}" for i, name in enumerate(names))
    await conn.execute(
        f"update feedback set {sets}{', ' if sets else ''}version = version + 1, updated_at = $2 where id = $1",
        act.id,
        act.now,
        *(changes[n] for n in names),
    )


INSERT_EVENT_SQL = """
insert into feedback_events (feedback_id, kind, from_status, to_status, actor_kind, actor_user_id, reason, data,
                             visible_to_citizen, created_at)
values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
returning id
"""


async def record_event(
    conn: Any,
    feedback_id: int,
    kind: str,
    from_status: str | None,
    to_status: str | None,
    *,
    actor_kind: str,
    actor_user_id: int | None,
    at: datetime,
    reason: str | None = None,
    data: dict[str, Any] | None = None,
    visible: bool = False,
) -> int:
    """One step of an item's history (shown to its citizen when `visible`, without names)."""
    return int(
        await conn.fetchval(
            INSERT_EVENT_SQL,
            feedback_id,
            kind,
            from_status,
            to_status,
            actor_kind,
            actor_user_id,
            reason,
            data or {},
            visible,
            at,
        )
    )


async def _event(
    conn: Any,
    act: Action,
    kind: str,
    *,
    reason: str | None = None,
    data: dict[str, Any] | None = None,
    visible: bool = False,
) -> int:
    event_id = await record_event(
        conn,
        act.id,
        kind,
        act.row["status"],
        act.to_status,
        actor_kind="staff",
        actor_user_id=act.staff.user_id,
        at=act.now,
        reason=reason,
        data=data,
        visible=visible,
    )
    await record_staff_action(
        conn, act.staff.user_id, f"feedback.{kind}", "feedback", act.id, reason=reason, data={"event_id": event_id}
    )
    return event_id


FOLLOWERS_SQL = """
select f.id, f.reference, f.citizen_id
from feedback f
where (f.id = $1 or f.merged_into_id = $1) and f.citizen_id is not null
order by f.id
"""


async def notify_citizens(
    conn: Any, feedback_id: int, kind: str, key: str, *, due: datetime | None = None, reason: str | None = None
) -> list[int]:
    """Push `kind` to the item's citizen and to the citizens of the duplicates merged into
    it (they follow it); each about their own item. `key` makes the push unique."""
    title_vi, body_vi, title_en, body_en = CITIZEN_TEXTS[kind]
    short_reason = (reason or "")[:150]
    notifications = []
    for row in await conn.fetch(FOLLOWERS_SQL, feedback_id):
        values = {"reference": row["reference"], "due": _local_date(due) if due else "", "reason": short_reason}
        notifications.append(
            Notification(
                dedupe_key=f"feedback:{feedback_id}:{key}:citizen:{row['citizen_id']}",
                kind=kind,
                title_vi=title_vi,
                body_vi=body_vi.format(**values),
                title_en=title_en,
                body_en=body_en.format(**values),
                data={"feedback_id": str(row["id"]), "kind": kind, "link": f"communepulse://feedback/{row['id']}"},
                citizen_id=row["citizen_id"],
                feedback_id=row["id"],
            )
        )
    return await queue_notifications(conn, notifications)


def _done(conn: Any, staff: StaffPrincipal, feedback_id: int) -> Awaitable[FrontFeedback]:
    return get_front_feedback(conn, staff, feedback_id)


# Claim and release.


async def claim(
    conn: Any, settings: Settings, staff: StaffPrincipal, feedback_id: int, version: int | None, body: ClaimRequest
) -> FrontFeedback:
    """Take the item for FEEDBACK_LEASE so no colleague works on it meanwhile; renewing one's
    own claim extends it. A supervisor may break another's unexpired claim, with a reason."""
    if body.break_lease and not body.reason:
        raise AppError("validation_failed")
    act = await _begin(conn, staff, feedback_id, "claim", version, break_lease=body.break_lease)
    broke = act.row["leased"] and act.row["lease_holder"] != staff.user_id
    expires = act.now + timedelta(seconds=settings.feedback_lease)
    await _update(conn, act, lease_holder=staff.user_id, lease_expires_at=expires)
    data: dict[str, Any] = {"lease_expires_at": expires.isoformat()}
    if broke:
        data["previous_holder"] = act.row["lease_holder"]
    await _event(conn, act, "lease_broken" if broke else "claimed", reason=body.reason, data=data)
    return await _done(conn, staff, feedback_id)


async def release(
    conn: Any, staff: StaffPrincipal, feedback_id: int, version: int | None, body: ReasonRequest
) -> FrontFeedback:
    """Give the item back before the claim expires (the holder, or a supervisor)."""
    act = await _begin(conn, staff, feedback_id, "release", version, break_lease=True)
    if act.row["leased"] and act.row["lease_holder"] != staff.user_id and not body.reason:
        raise AppError("validation_failed")
    await _update(conn, act, lease_holder=None, lease_expires_at=None)
    await _event(conn, act, "released", reason=body.reason, data={"holder": act.row["lease_holder"]})
    return await _done(conn, staff, feedback_id)


# Assign and triage (also in bulk).

COLLEAGUE_SQL = f"""
select u.id
from users u, communes c
where u.id = $1 and u.is_active and c.code = $3
  and {in_scope(user="u.id", roles="$2", commune="c.code", province="c.province_code")}
"""


async def _assign(conn: Any, act: Action, body: AssignRequest) -> None:
    if await conn.fetchval(COLLEAGUE_SQL, body.user_id, list(FRONT_ROLES), act.row["commune_code"]) is None:
        raise AppError("invalid_assignee")
    await _update(conn, act, assigned_to=body.user_id)
    await _event(conn, act, "assigned", reason=body.reason, data={"user_id": body.user_id})


async def assign(
    conn: Any, staff: StaffPrincipal, feedback_id: int, version: int | None, body: AssignRequest
) -> FrontFeedback:
    """Give the item to a colleague: Front staff covering its commune."""
    await _assign(conn, await _begin(conn, staff, feedback_id, "assign", version), body)
    return await _done(conn, staff, feedback_id)


LINKS_SQL = """
select (select cs.commune_code from commune_services cs where cs.id = $1) as service_commune,
       (select o.commune_code from officials o where o.id = $2) as official_commune
"""


async def _triage(conn: Any, act: Action, body: TriageRequest) -> list[int]:
    row = act.row
    if body.commune_service_id is not None or body.official_id is not None:
        links = await conn.fetchrow(LINKS_SQL, body.commune_service_id, body.official_id)
        if body.commune_service_id is not None and links["service_commune"] != row["commune_code"]:
            raise AppError("feedback_link_mismatch")
        if body.official_id is not None and links["official_commune"] != row["commune_code"]:
            raise AppError("feedback_link_mismatch")
    if (
        row["protected"]
        and body.category is not None
        and body.category != "wrongdoing_report"
        and row["category"] == "wrongdoing_report"
    ):
        # Only a supervisor, with a reason, may say a report of wrongdoing is something else;
        # the item stays protected all the same (a database trigger keeps it so).
        if not row["supervises"]:
            raise AppError("protected_recategorise_forbidden")
        if not (body.reason or "").strip():
            raise AppError("validation_failed", errors=[FieldError(field="reason", message="Expected non-blank text")])
    changes = {
        "category": body.category or row["category"],
        "priority": body.priority or row["priority"],
        "commune_service_id": body.commune_service_id or row["commune_service_id"],
        "official_id": body.official_id or row["official_id"],
    }
    changed = {k: v for k, v in changes.items() if v != row[k]}
    await _update(conn, act, status=act.to_status, **changes)
    first = row["status"] == "received"
    await _event(conn, act, "triaged", reason=body.reason, data=changed, visible=first)
    if first:
        return await notify_citizens(conn, act.id, "feedback_accepted", "accepted")
    return []


async def triage(
    conn: Any, staff: StaffPrincipal, feedback_id: int, version: int | None, body: TriageRequest
) -> FrontFeedback:
    """Set category, priority and the linked service and official (of the item's commune).
    The first triage accepts the item: its citizen is told."""
    await _triage(conn, await _begin(conn, staff, feedback_id, "triage", version), body)
    return await _done(conn, staff, feedback_id)


# Merge, reject, moderate.

ORIGINAL_SQL = f"""
select f.id, f.commune_code, f.status, f.merged_into_id
from feedback f
join communes c on c.code = f.commune_code
where f.id = $1 and {in_scope(user="$2", roles="$3", commune="f.commune_code", province="c.province_code")}
for update of f
"""

REPOINT_SQL = "update feedback set merged_into_id = $2, updated_at = $3 where merged_into_id = $1"


# The officials an item is about, as routing counts them (feedback_routing.ROUTING_FACTS_SQL):
# the one named, any linked in its history (duplicates merged into it before included), and
# for a protected item whoever held its service when it was filed.
DUPLICATE_CONCERNS_SQL = """
select array(
    select f.official_id from feedback f where f.id = $1 and f.official_id is not null
    union
    select (e.data ->> 'official_id')::bigint
    from feedback_events e
    where e.feedback_id = $1 and jsonb_typeof(e.data -> 'official_id') = 'number'
    union
    select a.official_id
    from feedback f join assignments a on a.commune_service_id = f.commune_service_id and a.valid @> f.created_at
    where f.id = $1 and f.protected
    order by 1)
"""


async def merge(
    conn: Any, staff: StaffPrincipal, feedback_id: int, version: int | None, body: MergeRequest
) -> FrontFeedback:
    """Merge a duplicate into its original (same commune): the duplicate ends, and its citizen
    (with those of duplicates merged into it before) follows the original from now on."""
    act = await _begin(conn, staff, feedback_id, "merge", version)
    original = await conn.fetchrow(ORIGINAL_SQL, body.into_id, staff.user_id, list(FRONT_ROLES))
    if (
        original is None
        or original["id"] == feedback_id
        or original["commune_code"] != act.row["commune_code"]
        or original["status"] in ("merged", "rejected")
    ):
        raise AppError("invalid_merge")
    await conn.execute(REPOINT_SQL, feedback_id, body.into_id, act.now)
    await _update(conn, act, status="merged", merged_into_id=body.into_id, lease_holder=None, lease_expires_at=None)
    await _event(conn, act, "merged", reason=body.reason, data={"into_id": body.into_id}, visible=True)
    # Whoever the duplicate is about, the original is about now: recorded in the original's
    # history, where routing and the readers' check look for officials linked to an item
    # (feedback_routing, concerned_officials). Without it a report about the chair merged into
    # a complaint naming nobody went to the commune's People's Committee: to that chair.
    for official_id in await conn.fetchval(DUPLICATE_CONCERNS_SQL, feedback_id):
        await record_event(
            conn,
            body.into_id,
            "duplicate_concerns",
            original["status"],
            original["status"],
            actor_kind="staff",
            actor_user_id=staff.user_id,
            at=act.now,
            data={"duplicate_id": feedback_id, "official_id": official_id},
        )
    await record_event(
        conn,
        body.into_id,
        "duplicate_merged",
        original["status"],
        original["status"],
        actor_kind="staff",
        actor_user_id=staff.user_id,
        at=act.now,
        reason=body.reason,
        data={"duplicate_id": feedback_id, "protected": act.row["protected"]},
    )
    # A report of wrongdoing merged into another item protects it: the original now carries
    # its substance, and must be routed and reviewed as one (issue 10, point 2).
    await conn.execute(
        "update feedback set version = version + 1, updated_at = $2, protected = protected or $3 where id = $1",
        body.into_id,
        act.now,
        act.row["protected"],
    )
    return await _done(conn, staff, feedback_id)


async def _reject(conn: Any, act: Action, body: RejectRequest) -> list[int]:
    await _update(conn, act, status="rejected", reject_reason=body.reason, lease_holder=None, lease_expires_at=None)
    await _event(conn, act, "rejected", reason=body.reason, data={"grounds": body.grounds}, visible=True)
    return await notify_citizens(
        conn, act.id, "feedback_rejected", f"rejected:{act.row['version']}", reason=body.reason
    )


async def reject(
    conn: Any, staff: StaffPrincipal, feedback_id: int, version: int | None, body: RejectRequest
) -> FrontFeedback:
    """Reject as spam or out of scope, with a reason its citizen reads."""
    await _reject(conn, await _begin(conn, staff, feedback_id, "reject", version), body)
    return await _done(conn, staff, feedback_id)


async def moderate(
    conn: Any, staff: StaffPrincipal, feedback_id: int, version: int | None, body: ModerateRequest
) -> FrontFeedback:
    """Edit or redact the text; the text as it was stays in the item's history."""
    act = await _begin(conn, staff, feedback_id, "moderate", version)
    await _update(conn, act, body=body.body)
    # The reviewed copy was of the old text: a forward now needs a new review.
    ended = await supersede_reviews(conn, act.id, act.now, "text_edited")
    await _event(
        conn, act, "moderated", reason=body.reason, data={"previous_body": act.row["body"], "review_ended": ended}
    )
    return await _done(conn, staff, feedback_id)


# Forward to the accountable authority.

CHAIRS_SQL = """
select ur.user_id
from user_roles ur
join users u on u.id = ur.user_id and u.is_active
where ur.role = 'commune_chair' and ur.commune_code = $1
order by ur.user_id
"""

INSERT_FORWARD_SQL = """
insert into feedback_forwards (feedback_id, official_id, commune_code, redacted_body, due_at, status, created_by,
                               created_at, updated_at, category, commune_service_id, recipient_user_ids, review_id)
values ($1, $2, $3, $4, $5, 'open', $6, $7, $7, $8, $9, $10, $11)
returning id
"""


def deadline(settings: Settings, category: str, at: datetime) -> datetime:
    """When the authority must answer an item of `category` forwarded at `at`."""
    days = dict(settings.feedback_deadlines)[category]
    return workdays.due_at(at, days, "working")


async def forward(
    conn: Any, settings: Settings, staff: StaffPrincipal, feedback_id: int, version: int | None, body: ForwardRequest
) -> FrontFeedback:
    """Forward a redacted copy to the accountable authority, due by the category's deadline;
    the authority and the citizen are told."""
    act = await _begin(conn, staff, feedback_id, "forward", version)
    row = act.row
    route = await route_of(conn, feedback_id, act.now)
    if route.refusal:
        raise AppError(route.refusal)
    official_id, recipients = route.official_id, list(route.recipients)
    review = await current_review(conn, feedback_id)
    if row["protected"] and (review is None or (body.body is not None and body.body != review.body)):
        # A report of wrongdoing leaves the Front only as a person reviewed it.
        raise AppError("forward_not_reviewed")
    if review is not None and (body.body is None or body.body == review.body):
        copy, masked, edited = review.body, review.masked, review.edited
    else:
        copy, masked = redact_with_findings(body.body or row["body"])
        edited, review = body.body is not None, None
    due = deadline(settings, row["category"], act.now)
    forward_id = await conn.fetchval(
        INSERT_FORWARD_SQL,
        feedback_id,
        official_id,
        row["commune_code"],
        copy,
        due,
        staff.user_id,
        act.now,
        row["category"],
        row["commune_service_id"],
        recipients if route.recipient == "province" else None,
        review.id if review is not None else None,
    )
    await _update(conn, act, status="forwarded", response_due_at=due, overdue_since=None, escalated_at=None)
    await _event(
        conn,
        act,
        "forwarded",
        reason=body.reason,
        data={
            "forward_id": forward_id,
            "official_id": official_id,
            "recipient": route.recipient,
            "due_at": due.isoformat(),
            "masked": masked,
            "edited": edited,
            "review_id": review.id if review is not None else None,
        },
        visible=True,
    )
    await _notify_authority(conn, feedback_id, forward_id, recipients, "forward", due)
    await notify_citizens(conn, feedback_id, "feedback_forwarded", f"forwarded:{forward_id}", due=due)
    return await _done(conn, staff, feedback_id)


AUTHORITY_TEXTS = {
    "forward": (
        "Phản ánh cần trả lời",
        "Mặt trận Tổ quốc chuyển một phản ánh cần trả lời trước {due}.",
        "Feedback to answer",
        "The Fatherland Front forwarded feedback to answer by {due}.",
    ),
    "sent_back": (
        "Câu trả lời cần bổ sung",
        "Mặt trận Tổ quốc đề nghị bổ sung câu trả lời, hạn {due}.",
        "Answer sent back",
        "The Fatherland Front asks you to complete your answer by {due}.",
    ),
}


async def _notify_authority(
    conn: Any, feedback_id: int, forward_id: int, users: list[int], key: str, due: datetime
) -> list[int]:
    title_vi, body_vi, title_en, body_en = AUTHORITY_TEXTS[key.split(":")[0]]
    return await queue_notifications(
        conn,
        [
            Notification(
                dedupe_key=f"feedback-forward:{forward_id}:{key}:user:{user_id}",
                kind="feedback_assigned",
                title_vi=title_vi,
                body_vi=body_vi.format(due=_local_date(due)),
                title_en=title_en,
                body_en=body_en.format(due=_local_date(due)),
                # The authority addresses the forward, never the feedback item.
                data={
                    "forward_id": str(forward_id),
                    "kind": "feedback_assigned",
                    "link": f"communepulse://assigned-feedback/{forward_id}",
                },
                user_id=user_id,
                forward_id=forward_id,
            )
            for user_id in users
        ],
    )


# The authority's answer: accept or send back.

CURRENT_FORWARD_SQL = """
select fw.id, fw.official_id, fw.commune_code, fw.status, fw.answer, fw.due_at, fw.extended_due_at,
       fw.recipient_user_ids
from feedback_forwards fw
where fw.feedback_id = $1 and fw.status <> 'withdrawn'
order by fw.id desc
limit 1
for update
"""


async def accept(
    conn: Any, staff: StaffPrincipal, feedback_id: int, version: int | None, body: AcceptRequest
) -> FrontFeedback:
    """Accept the authority's answer: the item is answered and its citizen told."""
    act = await _begin(conn, staff, feedback_id, "accept", version)
    current = await conn.fetchrow(CURRENT_FORWARD_SQL, feedback_id)
    if current is None or current["status"] != "answered":
        raise AppError("forward_not_answered")
    answer = body.answer or current["answer"]
    await _update(conn, act, status="answered", answer=answer, answered_at=act.now)
    await _event(
        conn,
        act,
        "accepted",
        reason=body.reason,
        data={"forward_id": current["id"], "edited": body.answer is not None},
        visible=True,
    )
    await notify_citizens(conn, feedback_id, "feedback_answered", f"answered:{act.row['version']}")
    return await _done(conn, staff, feedback_id)


OFFICIAL_USER_SQL = "select user_id from officials where id = $1 and user_id is not null"

# The accounts of $1 an item's authority may be told about it (not those linked since the
# forward to an official a report of wrongdoing concerns), in their order.
UNCONCERNED_USERS_SQL = f"""
select array(select u.id from unnest($1::bigint[]) with ordinality as u(id, n)
             where {not_concerned("u.id", "$2::bigint")} order by u.n)
"""

SEND_BACK_SQL = """
update feedback_forwards set status = 'sent_back', sent_back_at = $2, sent_back_reason = $3, updated_at = $2
where id = $1
"""


async def send_back(
    conn: Any, staff: StaffPrincipal, feedback_id: int, version: int | None, body: RequiredReason
) -> FrontFeedback:
    """Return the authority's answer, with the reason; it answers again by the same deadline."""
    act = await _begin(conn, staff, feedback_id, "send_back", version)
    current = await conn.fetchrow(CURRENT_FORWARD_SQL, feedback_id)
    if current is None or current["status"] != "answered":
        raise AppError("forward_not_answered")
    await conn.execute(SEND_BACK_SQL, current["id"], act.now, body.reason)
    await _event(conn, act, "sent_back", reason=body.reason, data={"forward_id": current["id"]})
    if current["recipient_user_ids"] is not None:
        users = [int(u) for u in current["recipient_user_ids"]]
    elif current["official_id"]:
        users = [int(r["user_id"]) for r in await conn.fetch(OFFICIAL_USER_SQL, current["official_id"])]
    else:
        users = [int(r["user_id"]) for r in await conn.fetch(CHAIRS_SQL, current["commune_code"])]
    users = list(await conn.fetchval(UNCONCERNED_USERS_SQL, users, feedback_id))
    due = current["extended_due_at"] or current["due_at"]
    await _notify_authority(conn, feedback_id, current["id"], users, f"sent_back:{act.row['version']}", due)
    return await _done(conn, staff, feedback_id)


# Close and reopen.


async def close(
    conn: Any, staff: StaffPrincipal, feedback_id: int, version: int | None, body: ReasonRequest
) -> FrontFeedback:
    """End an answered item (or a triaged one that needs no authority)."""
    act = await _begin(conn, staff, feedback_id, "close", version)
    await _update(conn, act, status="closed", lease_holder=None, lease_expires_at=None)
    await _event(conn, act, "closed", reason=body.reason, visible=True)
    return await _done(conn, staff, feedback_id)


async def reopen(
    conn: Any, staff: StaffPrincipal, feedback_id: int, version: int | None, body: RequiredReason
) -> FrontFeedback:
    """Bring a closed, answered or rejected item back to triaged (e.g. the citizen disputes
    the answer). The previous answer stays in the history."""
    act = await _begin(conn, staff, feedback_id, "reopen", version)
    row = act.row
    await _update(conn, act, status="triaged", answer=None, answered_at=None, answer_rating=None, reject_reason=None)
    data = (
        {"previous_answer": row["answer"], "previous_answered_at": row["answered_at"].isoformat()}
        if row["answer"]
        else {}
    )
    await _event(conn, act, "reopened", reason=body.reason, data=data, visible=True)
    return await _done(conn, staff, feedback_id)


# Bulk: one result per item, each in a savepoint of its own.

BulkStep = Callable[[Action], Awaitable[Any]]


async def _bulk(
    conn: Any, staff: StaffPrincipal, items: list[BulkItem], action: str, step: BulkStep, language: str
) -> BulkResponse:
    results = []
    for item in items:
        try:
            async with conn.transaction():
                act = await _begin(conn, staff, item.id, action, item.version, version_required=False)
                await step(act)
            results.append(BulkResult(id=item.id, status=200, item=await get_queue_item(conn, staff, item.id)))
        except AppError as error:
            results.append(BulkResult(id=item.id, status=error.status, problem=problem_of(error, language)))
    return BulkResponse(results=results)


async def bulk_triage(
    conn: Any, staff: StaffPrincipal, items: list[BulkItem], body: TriageRequest, language: str
) -> BulkResponse:
    """Triage many items with the same category and/or priority."""

    async def step(act: Action) -> None:
        await _triage(conn, act, body)

    return await _bulk(conn, staff, items, "triage", step, language)


async def bulk_assign(
    conn: Any, staff: StaffPrincipal, items: list[BulkItem], body: AssignRequest, language: str
) -> BulkResponse:
    """Assign many items to one colleague."""

    async def step(act: Action) -> None:
        await _assign(conn, act, body)

    return await _bulk(conn, staff, items, "assign", step, language)


async def bulk_reject(
    conn: Any, staff: StaffPrincipal, items: list[BulkItem], body: RejectRequest, language: str
) -> BulkResponse:
    """Reject many items (spam waves) with one reason."""

    async def step(act: Action) -> None:
        await _reject(conn, act, body)

    return await _bulk(conn, staff, items, "reject", step, language)
