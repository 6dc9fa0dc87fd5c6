"""Citizens' feedback to the Front: submission with photos, the citizen's own view (status
timeline, answer, rating, dispute), and the two staff reads that touch what only the Front
may see: attachment bytes and the audited reveal of contact details.

Contact details are sealed (backend.crypto) before they reach the database, bound to the
item's reference; nothing identifying goes into events, the audit log or logs.

Who may read contact details (a decision the Law on Denunciation shapes):
- a report of wrongdoing: only a `front_supervisor` whose scope covers the item's commune,
  through `reveal_contact` with a reason, audited;
- any other category: any Front staff covering the commune, through the same audited
  reveal (the citizen gave contact so that the Front can reply), never inline in a view;
- authorities: never, not even whether contact exists (`contact_summary`).
"""

from __future__ import annotations

import hashlib
import unicodedata
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

import msgspec

from backend.audit import record_staff_action
from backend.auth import StaffPrincipal
from backend.crypto import Fingerprints, Keyring, SealError
from backend.daily_allowance import check_feedback_room, give_back_feedback, spend_feedback
from backend.errors import AppError, Text
from backend.feedback_states import InvalidTransition, transition
from backend.images import TooLargeEncoded, TooManyPixels, UnsupportedImage, scrub_photo
from backend.pagination import decode_cursor, page_of
from backend.reporter_protection import meaningful_reason
from backend.scope import in_scope
from backend.services.reveal_oversight import check_reveal_rate, notify_reveal
from backend.settings import Settings
from backend.storage import BlobStore, new_key
from backend.workdays import LOCAL_TZ
from schemas.feedback import (
    FEEDBACK_ATTACHMENT_MAX_BYTES,
    FEEDBACK_ATTACHMENTS_MAX,
    FeedbackAttachment,
    FeedbackContact,
    FeedbackCreate,
    FeedbackSummary,
    FeedbackTimelineEntry,
    MergedInto,
    MyFeedback,
    MyFeedbackPage,
    RevealedContact,
)
from schemas.problem import FieldError
from schemas.ratings import LinkedOfficial

FRONT_ROLES = ("front_staff", "front_supervisor")
REVEAL_ROLES = ("front_supervisor",)
# Categories whose reporter the Law on Denunciation protects: contact only by a supervisor.
# Event kinds whose reason the citizen may read (why it was rejected; their own dispute).
CITIZEN_REASON_KINDS = frozenset({"rejected", "reject", "disputed"})
EXCERPT_CHARS = 140


@dataclass(frozen=True)
class Upload:
    """One photo to store: its re-encoded bytes (pixels only), their type and sha256, and
    the sha256 of what the citizen sent (a retry sends the same bytes)."""

    data: bytes
    content_type: str
    sha256: bytes
    received_sha256: bytes
    received_bytes: int


def contact_summary(
    *, category: str, is_anonymous: bool, has_contact: bool, audience: Literal["front", "authority"]
) -> dict[str, bool] | None:
    """What a staff view may say about the reporter's identity: to the Front whether the
    item is anonymous and whether contact details exist (never the details: those come only
    through the audited reveal); to an authority nothing at all, not even that."""
    if audience != "front":
        return None
    return {"anonymous": is_anonymous, "has_contact": has_contact}


def _clean(text: str | None) -> str | None:
    if text is None:
        return None
    text = unicodedata.normalize("NFC", text).strip()
    return text or None


def normalise_feedback(body: FeedbackCreate) -> FeedbackCreate:
    """Trimmed NFC text, blank contact fields dropped; refuses a blank body and contact that
    contradicts `anonymous`. Phones send either Unicode form of Vietnamese; storing one
    keeps the fingerprint of a retry and the search stable."""
    text = _clean(body.body)
    if text is None:
        raise AppError("validation_failed", errors=[FieldError(field="body", message="Expected non-blank text")])
    contact = body.contact
    if contact is not None:
        values = {name: _clean(getattr(contact, name)) for name in FeedbackContact.__struct_fields__}
        contact = FeedbackContact(**values) if any(values.values()) else None
    if body.anonymous and body.contact is not None:
        raise AppError(
            "invalid_contact",
            Text("Góp ý ẩn danh không kèm thông tin liên hệ", "Anonymous feedback carries no contact details"),
        )
    if not body.anonymous and contact is None:
        raise AppError("invalid_contact")
    return msgspec.structs.replace(body, body=text, contact=contact)


def check_uploads(files: list[bytes]) -> list[Upload]:
    """The photos, each judged by its bytes: at most 5, each at most 5 MB, JPEG/PNG/HEIC
    that decodes within the pixel limit, and re-encoded from its pixels alone
    (backend.images): nothing that could identify who took it survives. CPU-bound: run it
    off the event loop."""
    if len(files) > FEEDBACK_ATTACHMENTS_MAX:
        raise AppError("too_many_attachments")
    uploads = []
    for index, data in enumerate(files):
        if len(data) > FEEDBACK_ATTACHMENT_MAX_BYTES:
            raise AppError("attachment_too_large", extensions={"attachment_index": index})
        try:
            photo = scrub_photo(data, FEEDBACK_ATTACHMENT_MAX_BYTES)
        except TooManyPixels:
            raise AppError("attachment_too_many_pixels", extensions={"attachment_index": index}) from None
        except TooLargeEncoded:
            raise AppError("attachment_too_large", extensions={"attachment_index": index}) from None
        except UnsupportedImage:
            raise AppError("attachment_type_not_allowed", extensions={"attachment_index": index}) from None
        digest = hashlib.sha256(photo.data).digest()
        uploads.append(Upload(photo.data, photo.content_type, digest, hashlib.sha256(data).digest(), len(data)))
    return uploads


SUBMISSION_FINGERPRINT = "feedback-submission"
DISPUTE_FINGERPRINT = "feedback-dispute-reason"


def submission_payload(body: FeedbackCreate, uploads: list[Upload]) -> bytes:
    """What identifies a submission: the same normalised feedback (contact included) with the
    same photos in the same order is the same request. Only ever stored as a keyed
    fingerprint (backend.crypto.Fingerprints), never as a plain hash."""
    return msgspec.json.encode(body) + b"".join(upload.received_sha256 for upload in uploads)


def _associated(reference: str) -> bytes:
    return f"feedback-contact:{reference}".encode()


PRIOR_SQL = """
select id, request_hash from feedback where citizen_id = $1 and idempotency_key = $2
"""

RESOLVE_SQL = """
select c.code is not null as commune_exists,
       s.id is not null as service_ok,
       o.id is not null as official_ok,
       ci.id is not null as install_exists,
       ci.blocked_at is not null as blocked
from (select 1) as one
left join communes c on c.code = $1
left join commune_services s on s.id = $2 and s.commune_code = $1 and s.is_active
left join officials o on o.id = $3 and o.commune_code = $1
left join citizen_installs ci on ci.id = $4
"""

NEXT_REFERENCE_SQL = "select nextval('feedback_reference_seq')"

INSERT_FEEDBACK_SQL = """
insert into feedback (reference, citizen_id, category, commune_code, commune_service_id, official_id, body,
                      is_anonymous, contact_ciphertext, contact_key_id, idempotency_key, request_hash)
values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)
on conflict (citizen_id, idempotency_key) do nothing
returning id
"""

INSERT_ATTACHMENTS_SQL = """
insert into feedback_attachments (feedback_id, storage_key, content_type, size_bytes, sha256, position)
select $1, * from unnest($2::text[], $3::text[], $4::int[], $5::bytea[], $6::smallint[])
"""

INSERT_EVENT_SQL = """
insert into feedback_events (feedback_id, kind, from_status, to_status, actor_kind, reason, data, visible_to_citizen)
values ($1, $2, $3, $4, 'citizen', $5, $6, true)
"""


async def refuse_over_allowance(
    conn: Any, citizen_id: uuid.UUID, idempotency_key: str, photo_bytes: int, allowance: tuple[int, int]
) -> None:
    """Before the photos are decoded: 429 when this submission cannot fit in the install's
    day, unless it retries one already stored (that one is replayed, never refused)."""
    if await conn.fetchrow(PRIOR_SQL, citizen_id, idempotency_key) is None:
        await check_feedback_room(conn, citizen_id, photo_bytes, *allowance, datetime.now(UTC))


def _replay_or_refuse(prior: Any, fingerprints: Fingerprints, payload: bytes) -> int:
    # No stored fingerprint: an item from before migration 0016, whose unkeyed digest was
    # dropped; the key alone then identifies the request.
    stored = prior["request_hash"]
    if stored is not None and not fingerprints.matches(SUBMISSION_FINGERPRINT, payload, bytes(stored)):
        raise AppError("idempotency_key_reused")
    return int(prior["id"])


async def submit_feedback(
    conn: Any,
    store: BlobStore,
    keyring: Keyring,
    fingerprints: Fingerprints,
    citizen_id: uuid.UUID,
    idempotency_key: str,
    body: FeedbackCreate,
    uploads: list[Upload],
    *,
    allowance: tuple[int, int],
) -> tuple[MyFeedback, bool]:
    """Store a citizen's feedback and its photos in the caller's transaction; (the item,
    whether it was stored by an earlier request with this key). `allowance` is the install's
    (items, photo bytes) per local day (backend.daily_allowance); a replay spends none."""
    body = normalise_feedback(body)
    payload = submission_payload(body, uploads)
    prior = await conn.fetchrow(PRIOR_SQL, citizen_id, idempotency_key)
    if prior is not None:
        return await get_my_feedback(conn, citizen_id, _replay_or_refuse(prior, fingerprints, payload)), True

    row = await conn.fetchrow(RESOLVE_SQL, body.commune_code, body.commune_service_id, body.official_id, citizen_id)
    if not row["install_exists"]:
        raise AppError("invalid_token", headers={"www-authenticate": "Bearer"})
    if row["blocked"]:
        raise AppError("install_blocked")
    if not row["commune_exists"]:
        raise AppError("unknown_commune")
    if body.commune_service_id is not None and not row["service_ok"]:
        raise AppError("feedback_service_mismatch")
    if body.official_id is not None and not row["official_ok"]:
        raise AppError("feedback_official_mismatch")
    now = datetime.now(UTC)
    photo_bytes = sum(upload.received_bytes for upload in uploads)
    await spend_feedback(conn, citizen_id, photo_bytes, *allowance, now)

    number = await conn.fetchval(NEXT_REFERENCE_SQL)
    reference = f"GY-{datetime.now(LOCAL_TZ).year}-{number:06d}"
    sealed, key_id = (None, None)
    if body.contact is not None:
        sealed, key_id = keyring.seal(msgspec.json.encode(body.contact), _associated(reference))

    keys = [new_key() for _ in uploads]
    try:
        for key, upload in zip(keys, uploads, strict=True):
            await store.put(key, upload.data, upload.content_type)
        feedback_id = await conn.fetchval(
            INSERT_FEEDBACK_SQL,
            reference,
            citizen_id,
            body.category,
            body.commune_code,
            body.commune_service_id,
            body.official_id,
            body.body,
            body.anonymous,
            sealed,
            key_id,
            idempotency_key,
            fingerprints.sign(SUBMISSION_FINGERPRINT, payload),
        )
        if feedback_id is None:  # a concurrent request with this key committed first
            prior = await conn.fetchrow(PRIOR_SQL, citizen_id, idempotency_key)
            replayed = _replay_or_refuse(prior, fingerprints, payload)
            await give_back_feedback(conn, citizen_id, photo_bytes, now)
            for key in keys:
                await store.delete(key)
            return await get_my_feedback(conn, citizen_id, replayed), True
        if uploads:
            await conn.execute(
                INSERT_ATTACHMENTS_SQL,
                feedback_id,
                keys,
                [u.content_type for u in uploads],
                [len(u.data) for u in uploads],
                [u.sha256 for u in uploads],
                list(range(len(uploads))),
            )
        await conn.execute(INSERT_EVENT_SQL, feedback_id, "submitted", None, "received", None, {})
    except BaseException:
        for key in keys:
            await store.delete(key)
        raise
    return await get_my_feedback(conn, citizen_id, feedback_id), False


MY_FEEDBACK_SQL = """
select f.id, f.reference, f.category, f.commune_code, c.full_name as commune_name, f.commune_service_id,
       cs.procedure_code, p.name_vi as procedure_name, p.name_en as procedure_name_en,
       o.id as official_id, o.full_name as official_name, o.position as official_position,
       o.position_en as official_position_en,
       f.body, f.is_anonymous, f.contact_ciphertext is not null as has_contact, f.status, f.response_due_at,
       f.answer, f.answered_at, f.answer_rating, f.reject_reason, f.created_at, f.updated_at,
       m.reference as merged_reference, m.status as merged_status, m.answer as merged_answer,
       m.answered_at as merged_answered_at
from feedback f
join communes c on c.code = f.commune_code
left join commune_services cs on cs.id = f.commune_service_id
left join procedures p on p.code = cs.procedure_code
left join officials o on o.id = f.official_id
left join feedback m on m.id = f.merged_into_id
where f.id = $1 and f.citizen_id = $2
"""

MY_ATTACHMENTS_SQL = """
select id, content_type, size_bytes from feedback_attachments where feedback_id = $1 order by position, id
"""

# What the citizen may see of each step: never the actor, never internal notes.
MY_TIMELINE_SQL = """
select kind, to_status, reason, data->>'due_at' as due_at, created_at
from feedback_events
where feedback_id = $1 and visible_to_citizen
order by id
"""


def _timeline_entry(row: Any) -> FeedbackTimelineEntry:
    due_at = None
    if row["due_at"]:
        try:
            due_at = datetime.fromisoformat(row["due_at"])
        except ValueError:
            due_at = None
    return FeedbackTimelineEntry(
        kind=row["kind"],
        status=row["to_status"],
        at=row["created_at"],
        reason=row["reason"] if row["kind"] in CITIZEN_REASON_KINDS or row["to_status"] == "rejected" else None,
        due_at=due_at,
    )


async def get_my_feedback(conn: Any, citizen_id: uuid.UUID, feedback_id: int) -> MyFeedback:
    """The citizen's own item with its timeline; 404 for anyone else's."""
    row = await conn.fetchrow(MY_FEEDBACK_SQL, feedback_id, citizen_id)
    if row is None:
        raise AppError("feedback_not_found")
    attachments = await conn.fetch(MY_ATTACHMENTS_SQL, feedback_id)
    events = await conn.fetch(MY_TIMELINE_SQL, feedback_id)
    official = None
    if row["official_id"] is not None:
        official = LinkedOfficial(
            id=row["official_id"],
            full_name=row["official_name"],
            position=row["official_position"],
            position_en=row["official_position_en"],
        )
    merged = None
    if row["merged_reference"] is not None:
        merged = MergedInto(
            reference=row["merged_reference"],
            status=row["merged_status"],
            answer=row["merged_answer"],
            answered_at=row["merged_answered_at"],
        )
    return MyFeedback(
        id=row["id"],
        reference=row["reference"],
        category=row["category"],
        commune_code=row["commune_code"],
        commune_name=row["commune_name"],
        commune_service_id=row["commune_service_id"],
        procedure_code=row["procedure_code"],
        procedure_name=row["procedure_name"],
        procedure_name_en=row["procedure_name_en"],
        official=official,
        body=row["body"],
        anonymous=row["is_anonymous"],
        has_contact=row["has_contact"],
        status=row["status"],
        attachments=[
            FeedbackAttachment(id=a["id"], content_type=a["content_type"], size_bytes=a["size_bytes"])
            for a in attachments
        ],
        timeline=[_timeline_entry(e) for e in events],
        response_due_at=row["response_due_at"] if row["status"] == "forwarded" else None,
        answer=row["answer"] if row["status"] in ("answered", "closed") else None,
        answered_at=row["answered_at"] if row["status"] in ("answered", "closed") else None,
        answer_rating=row["answer_rating"],
        reject_reason=row["reject_reason"] if row["status"] == "rejected" else None,
        merged_into=merged,
        created_at=row["created_at"],
        updated_at=row["updated_at"],
    )


MY_FEEDBACK_LIST_SQL = f"""
select f.id, f.reference, f.category, f.commune_code, c.full_name as commune_name, f.status,
       left(f.body, {EXCERPT_CHARS}) as excerpt,
       f.status in ('answered', 'closed') and f.answer is not null as has_answer,
       f.created_at, f.updated_at
from feedback f
join communes c on c.code = f.commune_code
where f.citizen_id = $1 and ($2::bigint is null or f.id < $2)
order by f.id desc
limit $3
"""


async def list_my_feedback(conn: Any, citizen_id: uuid.UUID, *, cursor: str | None, limit: int) -> MyFeedbackPage:
    """The citizen's own items, newest first."""
    after = decode_cursor(cursor, int)
    rows = await conn.fetch(MY_FEEDBACK_LIST_SQL, citizen_id, after[0] if after else None, limit + 1)
    items, next_cursor = page_of(rows, limit, lambda r: (r["id"],))
    return MyFeedbackPage(items=[FeedbackSummary(**dict(r)) for r in items], next_cursor=next_cursor)


LOCK_MINE_SQL = """
select id, status, answer_rating from feedback where id = $1 and citizen_id = $2 for update
"""

PRIOR_ACTION_SQL = """
select data from feedback_events
where feedback_id = $1 and kind = $2 and actor_kind = 'citizen' and data->>'idempotency_key' = $3
"""

RATE_ANSWER_SQL = """
update feedback set answer_rating = $2, updated_at = now() where id = $1
"""


async def _prior_action(
    conn: Any, feedback_id: int, kind: str, key: str, same: Callable[[dict[str, Any]], bool]
) -> bool:
    """True when this key already did this (a replay, `same` says so of the earlier event's
    data); refuses the key for anything else."""
    prior = await conn.fetchrow(PRIOR_ACTION_SQL, feedback_id, kind, key)
    if prior is None:
        return False
    if not same(prior["data"]):
        raise AppError("idempotency_key_reused")
    return True


async def rate_answer(
    conn: Any, citizen_id: uuid.UUID, feedback_id: int, idempotency_key: str, score: int
) -> tuple[MyFeedback, bool]:
    """The citizen rates the answer 1-5, once per answer; (the item, replayed)."""
    item = await conn.fetchrow(LOCK_MINE_SQL, feedback_id, citizen_id)
    if item is None:
        raise AppError("feedback_not_found")
    if await _prior_action(conn, feedback_id, "answer_rated", idempotency_key, lambda d: d.get("score") == score):
        return await get_my_feedback(conn, citizen_id, feedback_id), True
    if item["status"] not in ("answered", "closed"):
        raise AppError("feedback_not_answered")
    if item["answer_rating"] is not None:
        raise AppError("feedback_already_rated")
    await conn.execute(RATE_ANSWER_SQL, feedback_id, score)
    data = {"idempotency_key": idempotency_key, "score": score}
    await conn.execute(INSERT_EVENT_SQL, feedback_id, "answer_rated", item["status"], item["status"], None, data)
    return await get_my_feedback(conn, citizen_id, feedback_id), False


# The rating was of the disputed answer (kept in its event); the next answer gets its own.
REOPEN_SQL = """
update feedback
set status = $2, answer_rating = null, lease_holder = null, lease_expires_at = null,
    version = version + 1, updated_at = now()
where id = $1
"""


async def dispute_feedback(
    conn: Any, fingerprints: Fingerprints, citizen_id: uuid.UUID, feedback_id: int, idempotency_key: str, reason: str
) -> tuple[MyFeedback, bool]:
    """The citizen disputes the answer (or the rejection): the item goes back to the Front
    as triaged, with the citizen's reason in the timeline; (the item, replayed)."""
    reason = _clean(reason) or ""
    if not reason:
        raise AppError("validation_failed", errors=[FieldError(field="reason", message="Expected non-blank text")])
    item = await conn.fetchrow(LOCK_MINE_SQL, feedback_id, citizen_id)
    if item is None:
        raise AppError("feedback_not_found")
    accepted = {mac.hex() for mac in fingerprints.accepted(DISPUTE_FINGERPRINT, reason.encode())}

    def same_reason(data: dict[str, Any]) -> bool:
        # Disputes from before migration 0016 lost their unkeyed digest: the key decides.
        return "reason_mac" not in data or data["reason_mac"] in accepted

    if await _prior_action(conn, feedback_id, "disputed", idempotency_key, same_reason):
        return await get_my_feedback(conn, citizen_id, feedback_id), True
    try:
        new_status = transition(item["status"], "reopen")
    except InvalidTransition:
        raise AppError("feedback_not_disputable") from None
    await conn.execute(REOPEN_SQL, feedback_id, new_status)
    data = {
        "idempotency_key": idempotency_key,
        "reason_mac": fingerprints.sign(DISPUTE_FINGERPRINT, reason.encode()).hex(),
    }
    await conn.execute(INSERT_EVENT_SQL, feedback_id, "disputed", item["status"], new_status, reason, data)
    return await get_my_feedback(conn, citizen_id, feedback_id), False


ATTACHMENT_SQL = f"""
select a.storage_key, a.content_type, a.size_bytes, a.sha256, a.position, f.reference
from feedback_attachments a
join feedback f on f.id = a.feedback_id
join communes c on c.code = f.commune_code
where a.id = $2 and a.feedback_id = $1
  and {in_scope(user="$3", roles="$4", commune="f.commune_code", province="c.province_code")}
"""


@dataclass(frozen=True)
class AttachmentBytes:
    data: bytes
    content_type: str
    sha256: bytes
    filename: str


EXTENSIONS = {"image/jpeg": "jpg", "image/png": "png", "image/heic": "heic"}


async def read_attachment(
    conn: Any, store: BlobStore, staff: StaffPrincipal, feedback_id: int, attachment_id: int
) -> AttachmentBytes:
    """A photo of an item, for Front staff covering its commune; 404 for anyone else."""
    row = await conn.fetchrow(ATTACHMENT_SQL, feedback_id, attachment_id, staff.user_id, list(FRONT_ROLES))
    if row is None:
        raise AppError("attachment_not_found")
    try:
        data = await store.get(row["storage_key"])
    except KeyError:
        raise AppError("attachment_not_found") from None
    name = f"{row['reference']}-{row['position'] + 1}.{EXTENSIONS[row['content_type']]}"
    return AttachmentBytes(data, row["content_type"], bytes(row["sha256"]), name)


REVEAL_SQL = f"""
select f.id, f.reference, f.category, f.protected, f.is_anonymous, f.contact_ciphertext, f.contact_key_id,
       {in_scope(user="$2", roles="$3", commune="f.commune_code", province="c.province_code")} as visible,
       {in_scope(user="$2", roles="$4", commune="f.commune_code", province="c.province_code")} as may_reveal
from feedback f
join communes c on c.code = f.commune_code
where f.id = $1
"""


async def reveal_contact(
    conn: Any, settings: Settings, keyring: Keyring, staff: StaffPrincipal, feedback_id: int, reason: str
) -> RevealedContact:
    """The item's contact details for Front staff allowed to see them (see the module
    docstring), recorded in the audit log with the reason. 404 when the caller cannot see
    the item at all, 403 when they see it but may not reveal."""
    meaningful = meaningful_reason(reason)
    if meaningful is None:
        raise AppError(
            "validation_failed",
            errors=[FieldError(field="reason", message="Expected a reason that says why (two words or more)")],
        )
    reason = meaningful
    row = await conn.fetchrow(REVEAL_SQL, feedback_id, staff.user_id, list(FRONT_ROLES), list(REVEAL_ROLES))
    if row is None or not row["visible"]:
        raise AppError("feedback_not_found")
    # The protection, never the current category: recategorising must not open the identity.
    if row["protected"] and not row["may_reveal"]:
        raise AppError("reveal_forbidden")
    # Checked after access, so that a refusal reveals nothing about items out of reach.
    await check_reveal_rate(conn, settings, staff, feedback_id)
    contact = None
    if row["contact_ciphertext"] is not None:
        try:
            plain = keyring.open(bytes(row["contact_ciphertext"]), row["contact_key_id"], _associated(row["reference"]))
        except SealError:
            raise AppError(
                "service_unavailable",
                Text(
                    "Không giải mã được thông tin liên hệ (thiếu khóa mã hóa)",
                    "The contact details cannot be decrypted (a key is missing)",
                ),
            ) from None
        contact = msgspec.json.decode(plain, type=FeedbackContact)
    await record_staff_action(
        conn,
        staff.user_id,
        "feedback.reveal",
        "feedback",
        feedback_id,
        reason=reason,
        data={"category": row["category"], "protected": row["protected"], "had_contact": contact is not None},
    )
    await notify_reveal(conn, staff, feedback_id, row["reference"])
    return RevealedContact(
        feedback_id=row["id"],
        reference=row["reference"],
        category=row["category"],
        anonymous=row["is_anonymous"],
        contact=contact,
    )
