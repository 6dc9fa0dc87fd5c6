"""Dossier events from one-stop-shop systems: upserts that arrive twice and out of order.

Each event carries the dossier's whole state. The stored state changes only for a newer
event, by (version, event time), so a late or repeated event never overwrites a newer one.
A missing due time is derived from the procedure's statutory time on Vietnam's working-day
calendar. A completion verifies the rating given with the dossier's rating code, if any.

Rating codes: the source system may send its own; otherwise a new dossier (or one stored
before codes existed) gets a generated one, returned once in its result. Only an HMAC of the
code bound to the dossier code is stored (backend.rating_codes).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from backend import workdays
from backend.auth import ApiKeyPrincipal
from backend.crypto import Fingerprints
from backend.errors import AppError, Text, problem_of
from backend.items import convert_item
from backend.rating_codes import PURPOSE as RATING_CODE_PURPOSE
from backend.rating_codes import code_payload, generate_code, normalize_code
from schemas.dossiers import DossierBatchResponse, DossierEvent, DossierResult


@dataclass(frozen=True)
class _Ready:
    index: int
    event: DossierEvent
    code: str
    service_id: int
    due_at: datetime | None
    due_derived: bool
    cancelled_at: datetime | None
    code_hash: bytes
    code_supplied: bool
    generated_code: str | None

    @property
    def order(self) -> tuple[int, datetime]:
        return (self.event.version or 0, self.event.event_at)


# Events from before the one-stop-shop era or from tomorrow are a source system's bug; one
# dated far ahead would also outrank every real event of its dossier.
EARLIEST = datetime(2000, 1, 1, tzinfo=UTC)
CLOCK_SKEW = timedelta(hours=1)


def check_event(event: DossierEvent, now: datetime) -> AppError | None:
    """The state must be one the dossiers table can hold; said plainly to the source system."""

    def bad(vi: str, en: str) -> AppError:
        return AppError("invalid_dossier_event", Text(vi, en))

    # The pattern counts surrounding spaces and lets a final line break through (`$`), but the
    # code is stored trimmed: "AB " would break the table's length check and fail the batch.
    if "\n" in event.code or len(event.code.strip()) < 3:
        return bad(
            "Mã hồ sơ phải có ít nhất 3 ký tự (không kể khoảng trắng) và không xuống dòng",
            "code must hold at least 3 characters besides spaces, and no line break",
        )
    times = [t for t in (event.received_at, event.due_at, event.completed_at, event.cancelled_at, event.event_at) if t]
    if any(t < EARLIEST for t in times) or any(t > now + CLOCK_SKEW for t in times if t is not event.due_at):
        return bad(
            "Thời điểm nằm ngoài khoảng hợp lệ (từ năm 2000 đến hiện tại)",
            "A time is out of range (from 2000 up to now)",
        )
    if event.due_at is not None and event.due_at > now + timedelta(days=3660):
        return bad("Hạn trả kết quả quá xa", "due_at is more than ten years ahead")

    if event.commune_service_id is None and (event.commune_code is None or event.procedure_code is None):
        return bad(
            "Cần commune_service_id, hoặc commune_code và procedure_code",
            "Name the service: commune_service_id, or commune_code and procedure_code",
        )
    if (event.status == "completed") != (event.completed_at is not None):
        return bad(
            "completed_at chỉ có và bắt buộc có khi hồ sơ đã hoàn thành",
            "completed_at is required for, and only for, status completed",
        )
    if event.rating_code is not None and normalize_code(event.rating_code) is None:
        return bad(
            "Mã đánh giá phải gồm 8 ký tự base32 Crockford",
            "rating_code must be 8 characters of Crockford base32",
        )
    if event.cancelled_at is not None and event.status != "cancelled":
        return bad("cancelled_at chỉ dùng khi hồ sơ bị hủy", "cancelled_at is only for status cancelled")
    if event.completed_at is not None and event.completed_at < event.received_at:
        return bad("Thời điểm hoàn thành trước thời điểm tiếp nhận", "completed_at is before received_at")
    if event.due_at is not None and event.due_at < event.received_at:
        return bad("Hạn trả kết quả trước thời điểm tiếp nhận", "due_at is before received_at")
    return None


# The service of each event, whether the key may report it, and its statutory time. A dossier
# already stored must also be in the key's scope where it is now: the named service alone
# would let one commune's key move or cancel another commune's dossier.
RESOLVE_SERVICES_SQL = """
select i.ord, s.id as service_id, p.statutory_days, p.days_kind,
       ($5 = 'national' or c.province_code = $6 or s.commune_code = $7) as allowed,
       (d.id is null or $5 = 'national' or dc.province_code = $6 or ds.commune_code = $7) as current_allowed,
       (i.official_id is null or ho.commune_code = s.commune_code) as official_ok
from unnest($1::int[], $2::bigint[], $3::text[], $4::text[], $8::text[], $9::bigint[])
     as i(ord, service_id, commune_code, procedure_code, dossier_code, official_id)
left join commune_services named
       on i.service_id is null and named.commune_code = i.commune_code and named.procedure_code = i.procedure_code
left join commune_services s on s.id = coalesce(i.service_id, named.id)
left join communes c on c.code = s.commune_code
left join procedures p on p.code = s.procedure_code
left join dossiers d on d.code = i.dossier_code
left join commune_services ds on ds.id = d.commune_service_id
left join communes dc on dc.code = ds.commune_code
left join officials ho on ho.id = i.official_id
order by i.ord
"""

UPSERT_SQL = """
insert into dossiers as d (code, commune_service_id, status, received_at, due_at, due_derived, completed_at,
                           cancelled_at, event_version, event_at, rating_code_hash, source_api_key_id,
                           handling_official_id, channel)
select t.code, t.service_id, t.status, t.received_at, t.due_at, t.due_derived, t.completed_at, t.cancelled_at,
       t.version, t.event_at, t.code_hash, $11::bigint, t.official_id, t.channel
from unnest($1::text[], $2::bigint[], $3::text[], $4::timestamptz[], $5::timestamptz[], $6::bool[],
            $7::timestamptz[], $8::timestamptz[], $9::bigint[], $10::timestamptz[], $15::bytea[], $16::bool[],
            $17::bigint[], $18::text[])
     as t(code, service_id, status, received_at, due_at, due_derived, completed_at, cancelled_at, version, event_at,
          code_hash, code_supplied, official_id, channel)
on conflict (code) do update
set commune_service_id = excluded.commune_service_id, status = excluded.status,
    received_at = excluded.received_at, due_at = excluded.due_at, due_derived = excluded.due_derived,
    completed_at = excluded.completed_at, cancelled_at = excluded.cancelled_at,
    event_version = excluded.event_version, event_at = excluded.event_at,
    source_api_key_id = excluded.source_api_key_id, updated_at = now(),
    handling_official_id = excluded.handling_official_id, channel = excluded.channel,
    -- A code the system supplies replaces the stored one; a generated one only fills a gap.
    rating_code_hash = case when (select s.code_supplied from unnest($1::text[], $16::bool[]) as s(code, code_supplied)
                                  where s.code = d.code)
                            then excluded.rating_code_hash
                            else coalesce(d.rating_code_hash, excluded.rating_code_hash) end
where (excluded.event_version, excluded.event_at) > (d.event_version, d.event_at)
  and exists (select 1 from commune_services cs join communes cc on cc.code = cs.commune_code
              where cs.id = d.commune_service_id
                and ($12 = 'national' or cc.province_code = $13 or cs.commune_code = $14))
returning d.code, (xmax = 0) as inserted, d.rating_code_hash
"""

# The official is the one who held the service when the dossier was completed.
VERIFY_RATINGS_SQL = """
with verified as (
    update ratings r
    set dossier_id = d.id, verified = true, served_at = d.completed_at,
        official_id = a.official_id, assignment_id = a.id
    from dossiers d
    left join assignments a on a.commune_service_id = d.commune_service_id and a.valid @> d.completed_at
    where d.code = any($1::text[]) and d.status = 'completed'
      and r.dossier_id = d.id and r.commune_service_id = d.commune_service_id and not r.verified
    returning 1
)
select count(*)::int from verified
"""


TOUCHED_COMMUNES_SQL = """
select coalesce(array_agg(distinct commune_code), '{}') from commune_services where id = any($1::bigint[])
"""


async def ingest_dossiers(
    conn: Any,
    client: ApiKeyPrincipal,
    items: list[Any],
    fingerprints: Fingerprints,
    language: str = "vi",
    touched: set[str] | None = None,
) -> DossierBatchResponse:
    """Upsert a batch of dossier events; one result per item, in order. The communes whose
    dossiers changed are added to `touched`."""
    results: dict[int, DossierResult] = {}
    events: list[tuple[int, DossierEvent]] = []
    now = datetime.now(UTC)
    for index, item in enumerate(items):
        event = convert_item(item, DossierEvent)
        error = event if isinstance(event, AppError) else check_event(event, now)
        if error is not None:
            code = item.get("code") if isinstance(item, dict) and isinstance(item.get("code"), str) else None
            results[index] = DossierResult(
                index=index, code=code, outcome="rejected", problem=problem_of(error, language)
            )
        else:
            assert isinstance(event, DossierEvent)
            events.append((index, event))

    ready = await _resolve(conn, client, events, results, language, fingerprints)
    newest: dict[str, _Ready] = {}
    for one in ready:
        kept = newest.get(one.code)
        if kept is None or one.order > kept.order:
            if kept is not None:
                results[kept.index] = DossierResult(index=kept.index, code=kept.code, outcome="unchanged")
            newest[one.code] = one
        else:
            results[one.index] = DossierResult(index=one.index, code=one.code, outcome="unchanged")

    verified = 0
    if newest:
        batch = list(newest.values())
        rows = await conn.fetch(
            UPSERT_SQL,
            [r.code for r in batch],
            [r.service_id for r in batch],
            [r.event.status for r in batch],
            [r.event.received_at for r in batch],
            [r.due_at for r in batch],
            [r.due_derived for r in batch],
            [r.event.completed_at for r in batch],
            [r.cancelled_at for r in batch],
            [r.event.version or 0 for r in batch],
            [r.event.event_at for r in batch],
            client.api_key_id,
            client.scope_kind,
            client.province_code,
            client.commune_code,
            [r.code_hash for r in batch],
            [r.code_supplied for r in batch],
            [r.event.handling_official_id for r in batch],
            [r.event.channel for r in batch],
        )
        written = {row["code"]: row["inserted"] for row in rows}
        stored_hash = {row["code"]: bytes(row["rating_code_hash"]) for row in rows if row["rating_code_hash"]}
        for r in batch:
            if r.code in written:
                results[r.index] = DossierResult(
                    index=r.index,
                    code=r.code,
                    outcome="created" if written[r.code] else "updated",
                    due_at=r.due_at,
                    due_derived=r.due_derived,
                    rating_code=r.generated_code if stored_hash.get(r.code) == r.code_hash else None,
                )
            else:
                results[r.index] = DossierResult(index=r.index, code=r.code, outcome="unchanged")
        if touched is not None and written:
            touched.update(
                await conn.fetchval(TOUCHED_COMMUNES_SQL, [r.service_id for r in batch if r.code in written])
            )
        completed = [r.code for r in batch if r.code in written and r.event.status == "completed"]
        if completed:
            verified = await conn.fetchval(VERIFY_RATINGS_SQL, completed)

    ordered = [results[i] for i in range(len(items))]
    counts = {o: sum(1 for r in ordered if r.outcome == o) for o in ("created", "updated", "unchanged", "rejected")}
    return DossierBatchResponse(results=ordered, verified_ratings=verified, **counts)


async def _resolve(
    conn: Any,
    client: ApiKeyPrincipal,
    events: list[tuple[int, DossierEvent]],
    results: dict[int, DossierResult],
    language: str,
    fingerprints: Fingerprints,
) -> list[_Ready]:
    if not events:
        return []
    rows = await conn.fetch(
        RESOLVE_SERVICES_SQL,
        list(range(len(events))),
        [e.commune_service_id for _, e in events],
        [e.commune_code for _, e in events],
        [e.procedure_code for _, e in events],
        client.scope_kind,
        client.province_code,
        client.commune_code,
        [e.code.strip().upper() for _, e in events],
        [e.handling_official_id for _, e in events],
    )
    ready = []
    for (index, event), row in zip(events, rows, strict=True):
        code = event.code.strip().upper()
        if row["service_id"] is None:
            error: AppError | None = AppError("unknown_service")
        elif not row["allowed"] or not row["current_allowed"]:
            error = AppError("out_of_scope")
        elif not row["official_ok"]:
            error = AppError("handling_official_unknown")
        else:
            error = None
        if error is not None:
            results[index] = DossierResult(
                index=index, code=code, outcome="rejected", problem=problem_of(error, language)
            )
            continue
        due_at, derived = event.due_at, False
        if due_at is None and row["statutory_days"]:
            due_at, derived = workdays.due_at(event.received_at, row["statutory_days"], row["days_kind"]), True
        cancelled_at = event.cancelled_at or (event.event_at if event.status == "cancelled" else None)
        supplied = normalize_code(event.rating_code) if event.rating_code is not None else None
        rating_code = supplied or generate_code()
        code_hash = fingerprints.sign(RATING_CODE_PURPOSE, code_payload(code, rating_code))
        ready.append(
            _Ready(
                index,
                event,
                code,
                row["service_id"],
                due_at,
                derived,
                cancelled_at,
                code_hash,
                supplied is not None,
                None if supplied else rating_code,
            )
        )
    return ready
