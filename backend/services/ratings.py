"""Citizens' ratings of commune services.

A rating is linked to the official who answered for the service when it was used (the
dossier's completion time when there is one), verified when its dossier code matches a
completed dossier of that service, stored once per Idempotency-Key and once per dossier,
and limited per install and local day. `write_ratings` decides all of this for a whole
batch with a few set-based statements, so the group writer can put many requests in one
transaction.
"""

from __future__ import annotations

import hmac
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import msgspec

from backend.campaign_rules import CampaignThresholds
from backend.crypto import Fingerprints
from backend.errors import AppError, Text
from backend.group_commit import GroupWriter
from backend.pagination import decode_cursor, page_of
from backend.rating_codes import PURPOSE as RATING_CODE_PURPOSE
from backend.rating_codes import (
    RATING_CODE_DAILY_FAILURES,
    RATING_CODE_INSTALL_FAILURES,
    code_payload,
    normalize_code,
)
from backend.services.campaign_signals import (
    RESOLVE_SIGNAL_COLUMNS,
    RESOLVE_SIGNAL_JOINS,
    STORE_ACTIVITY,
    ScoringWindow,
    address_digest,
    comment_digest,
    judge_round,
)
from backend.workdays import LOCAL_TZ
from schemas.ratings import Dimensions, LinkedOfficial, Rating, RatingBatchItem, RatingCreate, RatingPage

# Phones' clocks drift: a service time this far ahead of ours is still accepted.
CLOCK_SKEW = timedelta(minutes=5)
DIMENSIONS = ("access", "procedure", "attitude", "result", "timeliness")


@dataclass(frozen=True)
class RatingRequest:
    citizen_id: uuid.UUID
    idempotency_key: str
    body: RatingCreate
    request_hash: bytes
    """The keyed fingerprint stored with the rating (under the current key)."""
    accepted_hashes: tuple[bytes, ...]
    """The fingerprint under every listed key: a stored one equal to any is this request."""
    code_hashes: tuple[bytes, ...] = ()
    """The rating code's HMAC (bound to the dossier) under every listed key; empty: no usable code."""
    address_digest: bytes | None = None
    """Keyed digest of the sender's network address (campaign scoring); never the address."""
    comment_digest: bytes | None = None
    """Keyed digest of the folded comment, for spotting copies; None for short comments."""


@dataclass(frozen=True)
class RatingOutcome:
    status: int
    """201 stored now, 200 stored by an earlier request with this key (a replay); else error."""
    rating: Rating | None = None
    error: AppError | None = None


@dataclass(frozen=True)
class RatingLimits:
    daily: int
    window: timedelta
    campaign: CampaignThresholds | None = None
    """Campaign scoring thresholds; None: scoring off, every rating counts at once."""


def batch_item_body(item: RatingBatchItem) -> RatingCreate:
    """The rating of a batch item, without its key (the fingerprint is of the rating alone)."""
    return RatingCreate(**{name: getattr(item, name) for name in RatingCreate.__struct_fields__})


RATING_FINGERPRINT = "rating-request"


def rating_request(
    citizen_id: uuid.UUID,
    idempotency_key: str,
    body: RatingCreate,
    fingerprints: Fingerprints,
    address: str | None = None,
) -> RatingRequest:
    """Normalise the body (trimmed comment, upper-case dossier code) and fingerprint it, so
    a retry that differs only in spacing or default values is the same request. The
    fingerprint is keyed: a comment may hold a name or a phone number."""
    comment = body.comment.strip() if body.comment is not None else None
    dossier = body.dossier_code.strip().upper() if body.dossier_code is not None else None
    code = normalize_code(body.rating_code) if body.rating_code is not None else None
    body = msgspec.structs.replace(
        body, comment=comment or None, dossier_code=dossier, rating_code=code or body.rating_code
    )
    accepted = fingerprints.accepted(RATING_FINGERPRINT, msgspec.json.encode(body))
    code_hashes = fingerprints.accepted(RATING_CODE_PURPOSE, code_payload(dossier, code)) if code and dossier else ()
    return RatingRequest(
        citizen_id,
        idempotency_key,
        body,
        accepted[0],
        accepted,
        code_hashes,
        address_digest(fingerprints, address),
        comment_digest(fingerprints, body.comment),
    )


RESOLVE_SQL = f"""
with i as (
    select * from unnest($1::int[], $2::uuid[], $3::text[], $4::bigint[], $5::text[], $6::text[], $7::text[],
                         $8::timestamptz[], $10::smallint[], $11::bytea[], $12::bytea[])
        as t(ord, citizen_id, key, service_id, commune_code, procedure_code, dossier_code, served_at, score,
             address, comment)
)
select i.ord,
       ci.id is not null as install_exists, ci.blocked_at is not null as blocked,
       prior.id as prior_id, prior.request_hash as prior_hash,
       taken.id as taken_id, d.rating_code_hash,
       coalesce((select f.failures from rating_code_failures f
                 where f.dossier_id = d.id and f.day = ($9 at time zone 'Asia/Ho_Chi_Minh')::date), 0) as code_failures,
       coalesce((select f.failures from rating_code_install_failures f
                 where f.dossier_id = d.id and f.citizen_id = i.citizen_id
                   and f.day = ($9 at time zone 'Asia/Ho_Chi_Minh')::date), 0) as install_code_failures,
       d.id as dossier_id, d.commune_service_id as dossier_service_id, d.completed_at,
       coalesce(i.service_id, named.id) as named_service_id,
       s.id as service_id, s.commune_code, s.is_active, s.procedure_code,
       c.full_name as commune_name, p.name_vi as procedure_name, p.name_en as procedure_name_en,
       st.service_time, a.id as assignment_id, a.official_id,
       o.full_name as official_name, o.position as official_position, o.position_en as official_position_en,
       (select count(*) from ratings x where x.citizen_id = i.citizen_id and x.created_at >= $9)::int as today
       {RESOLVE_SIGNAL_COLUMNS}
from i
left join citizen_installs ci on ci.id = i.citizen_id
left join ratings prior on prior.citizen_id = i.citizen_id and prior.idempotency_key = i.key
left join dossiers d on d.code = i.dossier_code
left join ratings taken on taken.dossier_id = d.id
left join commune_services named
       on i.service_id is null and named.commune_code = i.commune_code and named.procedure_code = i.procedure_code
left join commune_services s on s.id = coalesce(i.service_id, named.id, d.commune_service_id)
cross join lateral (
    select case when d.completed_at is not null and d.commune_service_id = s.id then d.completed_at
                else i.served_at end as service_time
) st
left join assignments a on a.commune_service_id = s.id and a.valid @> st.service_time
left join officials o on o.id = a.official_id
left join communes c on c.code = s.commune_code
left join procedures p on p.code = s.procedure_code
{RESOLVE_SIGNAL_JOINS}
"""

# One statement per round: the rows, and (campaign scoring on) the per-target minute
# counts the next rounds' scoring reads (campaign_signals.STORE_ACTIVITY).
INSERT_TEMPLATE = """
with v as (
    select * from unnest($1::uuid[], $2::bigint[], $3::text[], $4::bigint[], $5::bigint[], $6::text[], $7::bigint[],
                         $8::bool[], $9::smallint[], $10::smallint[], $11::smallint[], $12::smallint[],
                         $13::smallint[], $14::smallint[], $15::text[], $16::text[], $17::timestamptz[],
                         $18::timestamptz[], $19::text[], $20::bytea[], $21::text[], $22::text[], $23::bytea[],
                         $24::bytea[])
        as t(citizen_id, commune_service_id, commune_code, official_id, assignment_id, dossier_code, dossier_id,
             verified, score, score_access, score_procedure, score_attitude, score_result, score_timeliness,
             comment, channel, served_at, client_created_at, idempotency_key, request_hash, quarantine,
             reasons, address_digest, comment_digest)
), ins as (
    insert into ratings (citizen_id, commune_service_id, commune_code, official_id, assignment_id, dossier_code,
                         dossier_id, verified, score, score_access, score_procedure, score_attitude, score_result,
                         score_timeliness, comment, channel, served_at, client_created_at, idempotency_key,
                         request_hash, quarantine, quarantine_reasons, address_digest, comment_digest)
    select citizen_id, commune_service_id, commune_code, official_id, assignment_id, dossier_code, dossier_id,
           verified, score, score_access, score_procedure, score_attitude, score_result, score_timeliness,
           comment, channel, served_at, client_created_at, idempotency_key, request_hash, quarantine,
           string_to_array(reasons, ','), address_digest, comment_digest
    from v
    on conflict do nothing
    returning id, citizen_id, idempotency_key, created_at, official_id, commune_service_id, score
){activity}
select id, citizen_id, idempotency_key, created_at from ins
"""
INSERT_SCORED_SQL = INSERT_TEMPLATE.format(activity=STORE_ACTIVITY)
INSERT_SQL = INSERT_TEMPLATE.format(activity="")

RATING_COLUMNS = """
r.id, r.commune_service_id, r.commune_code, c.full_name as commune_name, cs.procedure_code,
p.name_vi as procedure_name, p.name_en as procedure_name_en,
o.id as official_id, o.full_name as official_name, o.position as official_position,
o.position_en as official_position_en,
r.verified, r.dossier_code, r.score, r.score_access, r.score_procedure, r.score_attitude, r.score_result,
r.score_timeliness, r.comment, r.channel, r.served_at, r.created_at
"""

RATING_JOINS = """
join commune_services cs on cs.id = r.commune_service_id
join procedures p on p.code = cs.procedure_code
join communes c on c.code = r.commune_code
left join officials o on o.id = r.official_id
"""

RATINGS_BY_ID_SQL = f"select {RATING_COLUMNS} from ratings r {RATING_JOINS} where r.id = any($1::bigint[])"


def _official(row: Any) -> LinkedOfficial | None:
    if row["official_id"] is None:
        return None
    return LinkedOfficial(
        id=row["official_id"],
        full_name=row["official_name"],
        position=row["official_position"],
        position_en=row["official_position_en"],
    )


def _rating(row: Any) -> Rating:
    scores = [row["score_" + name] for name in DIMENSIONS]
    return Rating(
        id=row["id"],
        commune_service_id=row["commune_service_id"],
        commune_code=row["commune_code"],
        commune_name=row["commune_name"],
        procedure_code=row["procedure_code"],
        procedure_name=row["procedure_name"],
        procedure_name_en=row["procedure_name_en"],
        official=_official(row),
        verified=row["verified"],
        dossier_code=row["dossier_code"],
        score=row["score"],
        dimensions=Dimensions(**dict(zip(DIMENSIONS, scores, strict=True))) if any(scores) else None,
        comment=row["comment"],
        channel=row["channel"],
        served_at=row["served_at"],
        created_at=row["created_at"],
    )


def local_day_bounds(now: datetime) -> tuple[datetime, int]:
    """Start of today in Asia/Ho_Chi_Minh (as an aware time) and seconds until tomorrow."""
    local = now.astimezone(LOCAL_TZ)
    start = local.replace(hour=0, minute=0, second=0, microsecond=0)
    return start, max(1, int((start + timedelta(days=1) - local).total_seconds()))


def _rating_exists() -> AppError:
    # Says nothing of the rating that holds the slot: it may be another install's.
    return AppError("rating_exists")


def code_checked(request: RatingRequest, row: Any) -> bool:
    """A code was sent for a dossier that has one, and neither this install's guesses at it nor
    the dossier's guesses today are spent."""
    return (
        row["rating_code_hash"] is not None
        and row["dossier_id"] is not None
        and bool(request.code_hashes)
        and row["code_failures"] < RATING_CODE_DAILY_FAILURES
        and row["install_code_failures"] < RATING_CODE_INSTALL_FAILURES
    )


def proven(request: RatingRequest, row: Any) -> bool:
    """The rating was sent with its dossier's rating code (and guessing is not throttled)."""
    if not code_checked(request, row):
        return False
    return any(hmac.compare_digest(bytes(row["rating_code_hash"]), mac) for mac in request.code_hashes)


def failed_code(request: RatingRequest, row: Any) -> bool:
    """A code was checked and is not the dossier's. Codes no longer checked are not counted: an
    install past its own budget for a dossier cannot go on spending the dossier's."""
    return request.body.rating_code is not None and code_checked(request, row) and not proven(request, row)


def _decide(
    request: RatingRequest, row: Any, limits: RatingLimits, now: datetime, used_today: int, retry_after: int
) -> AppError | int | None:
    """What to do with one item given what the database holds: an error, the id of the
    stored rating to replay, or None to insert it."""
    body = request.body
    if not row["install_exists"]:
        return AppError("invalid_token", headers={"www-authenticate": "Bearer"})
    if row["prior_id"] is not None:
        # No stored fingerprint: an older rating whose unkeyed digest migration 0016 dropped;
        # the key alone then identifies the request.
        if row["prior_hash"] is None or bytes(row["prior_hash"]) in request.accepted_hashes:
            return int(row["prior_id"])
        return AppError("idempotency_key_reused")
    if row["blocked"]:
        return AppError("install_blocked")
    named = body.commune_service_id is not None or body.commune_code is not None or body.procedure_code is not None
    if not named and body.dossier_code is None:
        return AppError("service_reference_required")
    if body.commune_service_id is None and named and (body.commune_code is None or body.procedure_code is None):
        return AppError(
            "service_reference_required",
            Text("Cần cả mã xã và mã thủ tục", "Both commune_code and procedure_code are needed"),
        )
    if row["service_id"] is None or not row["is_active"]:
        return AppError("unknown_dossier") if not named else AppError("unknown_service")
    if body.commune_service_id is not None and (
        body.commune_code not in (None, row["commune_code"]) or body.procedure_code not in (None, row["procedure_code"])
    ):
        return AppError(
            "unknown_service",
            Text(
                "Mã dịch vụ không khớp với mã xã hoặc mã thủ tục đã gửi",
                "commune_service_id does not match the commune_code or procedure_code sent",
            ),
        )
    if named and row["dossier_service_id"] is not None and row["dossier_service_id"] != row["named_service_id"]:
        return AppError("dossier_service_mismatch")
    service_time = row["service_time"]
    if service_time is None:
        return AppError("service_time_required")
    if service_time > now + CLOCK_SKEW:
        return AppError("served_at_in_future")
    if service_time < now - limits.window:
        days = limits.window.days
        return AppError(
            "served_at_too_old",
            Text(
                f"Chỉ đánh giá được trong {days} ngày sau khi sử dụng dịch vụ", f"Ratings are accepted for {days} days"
            ),
        )
    if row["taken_id"] is not None and proven(request, row):
        return _rating_exists()
    if row["today"] + used_today >= limits.daily:
        return AppError("rating_limit_reached", headers={"retry-after": str(retry_after)})
    return None


def _verified(request: RatingRequest, row: Any) -> bool:
    return proven(request, row) and row["completed_at"] is not None and row["dossier_service_id"] == row["service_id"]


# Columns RESOLVE_SQL returns under the names RATING_COLUMNS gives them.
RESOLVED_FOR_DISPLAY = (
    "commune_code",
    "commune_name",
    "procedure_code",
    "procedure_name",
    "procedure_name_en",
    "official_id",
    "official_name",
    "official_position",
    "official_position_en",
)


def _new_rating(request: RatingRequest, row: Any, rating_id: int, created_at: datetime) -> Rating:
    """The stored rating, from what was resolved and sent: no need to read it back."""
    body, dims = request.body, request.body.dimensions or Dimensions()
    return _rating(
        {
            **{key: row[key] for key in RESOLVED_FOR_DISPLAY},
            "id": rating_id,
            "commune_service_id": row["service_id"],
            "verified": _verified(request, row),
            "dossier_code": body.dossier_code,
            "score": body.score,
            **{"score_" + name: getattr(dims, name) for name in DIMENSIONS},
            "comment": body.comment,
            "channel": body.channel,
            "served_at": row["service_time"],
            "created_at": created_at,
        }
    )


def _insert_args(accepted: list[tuple[RatingRequest, Any]], limits: RatingLimits) -> list[list[Any]]:
    columns: list[list[Any]] = [[] for _ in range(24)]
    verdicts = judge_round(
        limits.campaign,
        [
            (req.citizen_id, row, req.body.score, _verified(req, row), req.address_digest, req.comment_digest)
            for req, row in accepted
        ],
    )
    for (request, row), verdict in zip(accepted, verdicts, strict=True):
        body, dims = request.body, request.body.dimensions or Dimensions()
        values = (
            request.citizen_id,
            row["service_id"],
            row["commune_code"],
            row["official_id"],
            row["assignment_id"],
            body.dossier_code,
            row["dossier_id"] if proven(request, row) else None,
            _verified(request, row),
            body.score,
            dims.access,
            dims.procedure,
            dims.attitude,
            dims.result,
            dims.timeliness,
            body.comment,
            body.channel,
            row["service_time"],
            body.rated_at,
            request.idempotency_key,
            request.request_hash,
            verdict.quarantine,
            verdict.reasons,
            request.address_digest,
            request.comment_digest,
        )
        for column, value in zip(columns, values, strict=True):
            column.append(value)
    return columns


async def write_ratings(
    conn: Any, requests: list[RatingRequest], limits: RatingLimits, now: datetime | None = None
) -> list[RatingOutcome]:
    """Store what may be stored of `requests` in the caller's transaction; one outcome each.

    Items that repeat an earlier item's key or dossier in the same batch, and the rare item
    that lost a race with another transaction, are decided in a further round, against
    what the previous round stored."""
    now = now or datetime.now(LOCAL_TZ)
    day_start, retry_after = local_day_bounds(now)
    decided: dict[int, AppError | int | Rating] = {}
    todo = list(range(len(requests)))
    # Every round settles at least one item unless all of them lost races; a few such
    # rounds are allowed on top.
    for _ in range(len(requests) + 3):
        if not todo:
            break
        seen: set[tuple[uuid.UUID, str]] = set()
        dossiers: set[str] = set()
        round_items, later = [], []
        for index in todo:
            request = requests[index]
            key = (request.citizen_id, request.idempotency_key)
            dossier = request.body.dossier_code
            if key in seen or (dossier is not None and dossier in dossiers):
                later.append(index)
                continue
            seen.add(key)
            if dossier is not None:
                dossiers.add(dossier)
            round_items.append(index)
        lost = await _write_round(conn, requests, round_items, limits, now, day_start, retry_after, decided)
        todo = sorted(later + lost)
    for index in todo:  # still racing after several rounds: let the client retry
        decided[index] = AppError("service_unavailable")

    replayed = sorted({v for v in decided.values() if isinstance(v, int)})
    earlier = {r["id"]: _rating(r) for r in await conn.fetch(RATINGS_BY_ID_SQL, replayed)} if replayed else {}
    outcomes = []
    for index in range(len(requests)):
        result = decided[index]
        if isinstance(result, AppError):
            outcomes.append(RatingOutcome(status=result.status, error=result))
        elif isinstance(result, Rating):
            outcomes.append(RatingOutcome(status=201, rating=result))
        else:
            outcomes.append(RatingOutcome(status=200, rating=earlier[result]))
    return outcomes


COUNT_CODE_FAILURES_SQL = """
with per_dossier as (
    insert into rating_code_failures as f (dossier_id, day, failures)
    select dossier_id, ($2::timestamptz at time zone 'Asia/Ho_Chi_Minh')::date, count(*)
    from unnest($1::bigint[]) as t(dossier_id) group by dossier_id
    on conflict (dossier_id, day) do update set failures = f.failures + excluded.failures
)
insert into rating_code_install_failures as f (dossier_id, citizen_id, day, failures)
select dossier_id, citizen_id, ($2::timestamptz at time zone 'Asia/Ho_Chi_Minh')::date, count(*)
from unnest($1::bigint[], $3::uuid[]) as t(dossier_id, citizen_id) group by dossier_id, citizen_id
on conflict (dossier_id, citizen_id, day) do update set failures = f.failures + excluded.failures
"""


async def _write_round(
    conn: Any,
    requests: list[RatingRequest],
    indexes: list[int],
    limits: RatingLimits,
    now: datetime,
    day_start: datetime,
    retry_after: int,
    decided: dict[int, AppError | int | Rating],
) -> list[int]:
    """Decide and insert one round; return the indexes that lost a race (to retry)."""
    chosen = [requests[i] for i in indexes]
    rows = await conn.fetch(
        RESOLVE_SQL,
        list(range(len(chosen))),
        [r.citizen_id for r in chosen],
        [r.idempotency_key for r in chosen],
        [r.body.commune_service_id for r in chosen],
        [r.body.commune_code for r in chosen],
        [r.body.procedure_code for r in chosen],
        [r.body.dossier_code for r in chosen],
        [r.body.served_at for r in chosen],
        day_start,
        [r.body.score for r in chosen],
        [r.address_digest for r in chosen],
        [r.comment_digest for r in chosen],
        limits.campaign is not None,
        *ScoringWindow(limits.campaign or CampaignThresholds(), now).args(),
    )
    rows = sorted(rows, key=lambda r: r["ord"])
    used: Counter[uuid.UUID] = Counter()
    accepted: list[tuple[int, RatingRequest, Any]] = []
    for index, request, row in zip(indexes, chosen, rows, strict=True):
        verdict = _decide(request, row, limits, now, used[request.citizen_id], retry_after)
        if verdict is None:
            used[request.citizen_id] += 1
            accepted.append((index, request, row))
        else:
            decided[index] = verdict
    failed = [
        (row["dossier_id"], req.citizen_id) for req, row in zip(chosen, rows, strict=True) if failed_code(req, row)
    ]
    if failed:
        await conn.execute(COUNT_CODE_FAILURES_SQL, [d for d, _ in failed], day_start, [c for _, c in failed])
    if not accepted:
        return []
    columns = _insert_args([(req, row) for _, req, row in accepted], limits)
    if limits.campaign is None:
        inserted = await conn.fetch(INSERT_SQL, *columns)
    else:  # the activity counts judge freshness as the round did (campaign_signals.STORE_ACTIVITY)
        inserted = await conn.fetch(INSERT_SCORED_SQL, *columns, now, float(limits.campaign.fresh_install))
    stored = {(r["citizen_id"], r["idempotency_key"]): r for r in inserted}
    lost = []
    for index, request, row in accepted:
        new = stored.get((request.citizen_id, request.idempotency_key))
        if new is None:
            lost.append(index)
        else:
            decided[index] = _new_rating(request, row, new["id"], new["created_at"])
    return lost


MY_RATINGS_SQL = f"""
select {RATING_COLUMNS}
from ratings r {RATING_JOINS}
where r.citizen_id = $1 and ($2::bigint is null or r.id < $2)
order by r.id desc
limit $3
"""


async def list_my_ratings(conn: Any, citizen_id: uuid.UUID, *, cursor: str | None, limit: int) -> RatingPage:
    """The citizen's own ratings, newest first."""
    after = decode_cursor(cursor, int)
    rows = await conn.fetch(MY_RATINGS_SQL, citizen_id, after[0] if after else None, limit + 1)
    items, next_cursor = page_of(rows, limit, lambda r: (r["id"],))
    return RatingPage(items=[_rating(r) for r in items], next_cursor=next_cursor)


def rating_writer(
    pool: Any,
    daily_limit: int,
    window_seconds: int,
    *,
    drainers: int = 2,
    on_stored: Callable[[set[str]], None] | None = None,
    acquire_timeout: float = 2.0,
    deadline: float | None = None,
    campaign: CampaignThresholds | None = None,
) -> GroupWriter[RatingRequest, RatingOutcome]:
    """The per-process writer that stores concurrent requests' ratings together;
    `on_stored` hears which communes got new ratings once they are committed; `campaign`
    holds suspicious ratings for review (None: no scoring)."""
    limits = RatingLimits(daily=daily_limit, window=timedelta(seconds=window_seconds), campaign=campaign)

    async def write(conn: Any, requests: list[RatingRequest]) -> list[RatingOutcome]:
        outcomes = await write_ratings(conn, requests, limits)
        if on_stored is not None:
            communes = {o.rating.commune_code for o in outcomes if o.status == 201 and o.rating is not None}
            if communes:
                on_stored(communes)
        return outcomes

    # No enclosing transaction: each round's single INSERT commits its rows atomically,
    # and nothing else needs to change with them; BEGIN and COMMIT would be two more round
    # trips per batch on the hot path.
    return GroupWriter(
        pool, write, drainers=drainers, transaction=False, acquire_timeout=acquire_timeout, deadline=deadline
    )
