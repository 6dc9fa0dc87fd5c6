"""Push notifications: written to the outbox in the transaction of the change that causes
them, delivered afterwards by the worker.

`queue_notifications` runs in the caller's transaction; `enqueue_delivery` wakes the worker
after the commit (best effort); `deliver_due` (the job, and the relay cron that catches up
when an enqueue was lost or a retry falls due) claims due rows, sends to each recipient's
live devices in their language and records every attempt. A transition's dedupe_key is
unique, so it is never pushed twice; a row stays pending until every device has an answer,
so a push is not lost while Redis or FCM is down.

Crash safety: answers are committed per chunk of SEND_CHUNK sends, as FCM gives them, under
a short lease renewed while the round works; a worker killed mid fan-out leaves at most the
chunk in flight to be sent again, and the rest to the next worker within seconds.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import uuid
from collections import defaultdict
from collections.abc import AsyncIterator, Callable, Sequence
from datetime import UTC, datetime, time, timedelta
from typing import Any

import asyncpg
import msgspec
from redis.exceptions import RedisError

from backend.push import SUCCESS_OUTCOMES, PushMessage, PushProvider, PushResult
from backend.quiet_hours import quiet_until

log = logging.getLogger(__name__)

DELIVER_JOB = "deliver_notifications"

# A claimed row is not due again for this long, and the round holding it renews the lease
# every LEASE_RENEW_SECONDS while it works: a worker that dies mid-delivery leaves its rows
# to any other within LEASE_SECONDS (at once to a worker starting on the same host, see
# release_dead_leases), and a slow FCM never lets the lease run out under a live worker.
LEASE_SECONDS = 15
LEASE_RENEW_SECONDS = 5
# Messages sent at once, and recorded (committed) as soon as FCM answered them: a worker
# killed mid fan-out repeats at most this many sends (those in flight) when the row is
# taken up again; the devices already recorded are not sent it again.
SEND_CHUNK = 50
# Rows claimed per round, and rounds per job (the relay picks up what is left).
CLAIM_LIMIT = 200
MAX_ROUNDS = 10
# Sends (rounds with at least one device attempted) before a push is given up.
MAX_ATTEMPTS = 8
BACKOFF_BASE_SECONDS = 30.0
BACKOFF_CAP_SECONDS = 3600.0
RETRY_AFTER_CAP_SECONDS = 86400.0
# FCM refuses these data keys.
RESERVED_DATA_KEYS = frozenset({"from", "notification", "message_type"})
RESERVED_DATA_PREFIXES = ("google", "gcm")


class Notification(msgspec.Struct, frozen=True, kw_only=True):
    """One intended push to one recipient (a staff user or a citizen install), with its text
    in both languages; each of the recipient's devices gets the text of its own locale."""

    dedupe_key: str
    """Unique per intended push, e.g. "alert:12:event:40:user:7"; a repeat is ignored."""
    kind: str
    """e.g. alert_firing, alert_reminder, alert_escalated, alert_resolved."""
    title_vi: str
    body_vi: str
    title_en: str
    body_en: str
    data: dict[str, str]
    """FCM data payload (strings), e.g. {"alert_id": "12", "link": "communepulse://alerts/12"}."""
    user_id: int | None = None
    citizen_id: uuid.UUID | None = None
    alert_id: int | None = None
    feedback_id: int | None = None
    """Only for pushes to the Front and citizens: an authority's push names its forward."""
    forward_id: int | None = None
    critical: bool = False
    """Critical pushes ignore quiet hours and go with high priority."""


def _check(notification: Notification) -> None:
    if (notification.user_id is None) == (notification.citizen_id is None):
        raise ValueError(f"{notification.dedupe_key!r}: exactly one of user_id and citizen_id is required")
    if not 1 <= len(notification.dedupe_key) <= 200:
        raise ValueError("dedupe_key must be 1-200 characters")
    if not all((notification.title_vi, notification.body_vi, notification.title_en, notification.body_en)):
        raise ValueError(f"{notification.dedupe_key!r}: titles and bodies must not be empty")
    for key, value in notification.data.items():
        if not isinstance(key, str) or not isinstance(value, str):
            raise ValueError(f"{notification.dedupe_key!r}: data keys and values must be strings")
        if key in RESERVED_DATA_KEYS or key.startswith(RESERVED_DATA_PREFIXES):
            raise ValueError(f"{notification.dedupe_key!r}: FCM reserves the data key {key!r}")


QUEUE_SQL = """
insert into notification_outbox (dedupe_key, user_id, citizen_id, kind, alert_id, feedback_id,
                                 title_vi, body_vi, title_en, body_en, data, critical, forward_id)
select n.dedupe_key, n.user_id, n.citizen_id, n.kind, n.alert_id, n.feedback_id,
       n.title_vi, n.body_vi, n.title_en, n.body_en, n.data::jsonb, n.critical, n.forward_id
from unnest($1::text[], $2::bigint[], $3::uuid[], $4::text[], $5::bigint[], $6::bigint[],
            $7::text[], $8::text[], $9::text[], $10::text[], $11::text[], $12::boolean[], $13::bigint[])
     with ordinality as n(dedupe_key, user_id, citizen_id, kind, alert_id, feedback_id,
                          title_vi, body_vi, title_en, body_en, data, critical, forward_id, position)
order by n.position
on conflict (dedupe_key) do nothing
returning id
"""


async def queue_notifications(conn: Any, notifications: Sequence[Notification]) -> list[int]:
    """Write the intended pushes to the outbox, in the caller's transaction. A dedupe_key
    already there (or repeated in the list) is skipped; returns the ids of the new rows, for
    enqueue_delivery after the commit. Raises ValueError for a malformed notification."""
    if not notifications:
        return []
    for notification in notifications:
        _check(notification)
    columns: list[list[Any]] = [[] for _ in range(13)]
    for n in notifications:
        values = (
            n.dedupe_key,
            n.user_id,
            n.citizen_id,
            n.kind,
            n.alert_id,
            n.feedback_id,
            n.title_vi,
            n.body_vi,
            n.title_en,
            n.body_en,
            msgspec.json.encode(n.data).decode(),
            n.critical,
            n.forward_id,
        )
        for column, value in zip(columns, values, strict=True):
            column.append(value)
    rows = await conn.fetch(QUEUE_SQL, *columns)
    return sorted(r["id"] for r in rows)


async def enqueue_delivery(redis: Any, outbox_ids: Sequence[int]) -> None:
    """After the commit, ask the worker to deliver these rows now. Best effort: when Redis is
    unreachable the relay cron delivers them within seconds of its return.

    Before the commit the job would not see the rows (the relay would, 10 s later). In an
    HTTP handler, whose transaction commits when the handler returns, run this as the
    response's background task."""
    if not outbox_ids:
        return
    try:
        await redis.enqueue_job(DELIVER_JOB, list(outbox_ids))
    except (RedisError, OSError, TimeoutError) as exc:
        log.warning(
            "push delivery not enqueued; the relay will deliver it",
            extra={"outbox_ids": list(outbox_ids), "error": repr(exc)},
        )


def retry_delay(attempts: int, retry_after: float | None, rng: Callable[[], float] = random.random) -> float:
    """Seconds to wait after the `attempts`-th send failed transiently.

    What Retry-After asked for (capped at a day), plus up to 10 % so rows held back together
    do not return at one instant; else exponential backoff from 30 s, doubling up to an hour,
    with jitter (between half and all of it)."""
    if retry_after is not None:
        return min(retry_after, RETRY_AFTER_CAP_SECONDS) * (1 + 0.1 * rng())
    backoff = min(BACKOFF_CAP_SECONDS, BACKOFF_BASE_SECONDS * 2 ** max(0, attempts - 1))
    return backoff * (0.5 + 0.5 * rng())


class DeliveryReport(msgspec.Struct, kw_only=True):
    rows: int = 0
    """Outbox rows claimed."""
    sent: int = 0
    retried: int = 0
    retired: int = 0
    failed: int = 0
    deferred: int = 0
    """Devices left for the end of their quiet hours."""
    finished: int = 0
    """Rows that reached a final status."""


class _Row(msgspec.Struct, frozen=True, kw_only=True):
    id: int
    kind: str
    alert_id: int | None
    feedback_id: int | None
    forward_id: int | None
    title_vi: str
    body_vi: str
    title_en: str
    body_en: str
    data: dict[str, str]
    critical: bool
    attempts: int


class _Target(msgspec.Struct, frozen=True, kw_only=True):
    outbox_id: int
    device_id: int
    fid: str | None
    registration_token: str | None
    locale: str
    quiet_start: time
    quiet_end: time


# The rows asked for (when due), then the longest-waiting due ones; skip locked lets many
# workers claim side by side, and moving next_attempt_at is the lease, held by one round
# (lease_token) of one worker (lease_holder).
CLAIM_SQL = """
with named as (
    select id from notification_outbox
    where id = any($2::bigint[]) and status = 'pending' and next_attempt_at <= $1 and not_before <= $1
    for update skip locked
), oldest as (
    select id from notification_outbox
    where status = 'pending' and next_attempt_at <= $1 and not_before <= $1
    order by next_attempt_at
    limit $3
    for update skip locked
), due as (
    select id from named union select id from oldest
)
update notification_outbox o
set next_attempt_at = $1 + make_interval(secs => $4), lease_holder = $5, lease_token = $6
from due
where o.id = due.id
returning o.id, o.kind, o.alert_id, o.feedback_id, o.forward_id, o.title_vi, o.body_vi, o.title_en, o.body_en,
          o.data, o.critical, o.attempts
"""

# Live devices of each recipient that have no final answer for the row yet (a device that
# got it, or failed for good, is not sent it again; one asked to retry is).
TARGETS_SQL = """
select o.id as outbox_id, d.id as device_id, d.fid, d.registration_token, d.locale, d.quiet_start, d.quiet_end
from notification_outbox o
join devices d on d.retired_at is null and (d.user_id = o.user_id or d.citizen_id = o.citizen_id)
left join users u on u.id = o.user_id
where o.id = any($1::bigint[])
  and (o.user_id is null or u.is_active)
  and not exists (
      select from notification_deliveries nd
      where nd.outbox_id = o.id and nd.device_id = d.id and nd.outcome <> 'retry'
  )
order by o.id, d.id
"""

RECORD_DELIVERIES_SQL = """
insert into notification_deliveries (outbox_id, device_id, outcome, fcm_message_id, error_code)
select * from unnest($1::bigint[], $2::bigint[], $3::text[], $4::text[], $5::text[])
"""

RETIRE_DEVICES_SQL = """
update devices d set retired_at = now(), retired_reason = r.reason
from unnest($1::bigint[], $2::text[]) as r(id, reason)
where d.id = r.id and d.retired_at is null
"""

# A row with a next attempt stays pending; otherwise its status follows from every device
# it was ever sent to: all got it, some did, none did, or there was nobody to send to. Only
# rows this round still holds are touched, and their lease ends.
UPDATE_ROWS_SQL = """
with r as (
    select * from unnest($1::bigint[], $2::integer[], $3::timestamptz[], $4::text[])
        as r(id, attempts, next_attempt_at, last_error)
), final as (
    select r.id,
           case when count(per_device.ok) = 0 then 'no_target'
                when bool_and(per_device.ok) then 'delivered'
                when bool_or(per_device.ok) then 'partially_delivered'
                else 'failed' end as status
    from r
    left join lateral (
        select bool_or(nd.outcome = any($5::text[])) as ok
        from notification_deliveries nd
        where nd.outbox_id = r.id
        group by nd.device_id
    ) per_device on true
    group by r.id
)
update notification_outbox o
set attempts = r.attempts,
    last_error = coalesce(r.last_error, o.last_error),
    next_attempt_at = coalesce(r.next_attempt_at, o.next_attempt_at),
    status = case when r.next_attempt_at is null then final.status else 'pending' end,
    finished_at = case when r.next_attempt_at is null then now() end,
    lease_holder = null,
    lease_token = null
from r
join final on final.id = r.id
where o.id = r.id and o.status = 'pending' and o.lease_token = $6
returning o.id, o.status
"""

# While a round works its rows stay leased; a row another round has taken over (this one
# stalled past the lease) is left to that round.
RENEW_LEASE_SQL = """
update notification_outbox
set next_attempt_at = greatest(next_attempt_at, $2::timestamptz + make_interval(secs => $3))
where lease_token = $1 and status = 'pending'
"""

# Rows held by workers known to be dead are due again at once.
RELEASE_LEASES_SQL = """
update notification_outbox
set next_attempt_at = least(next_attempt_at, $2::timestamptz), lease_holder = null, lease_token = null
where lease_holder = any($1::uuid[]) and lease_token is not null and status = 'pending'
"""


def push_message(row: _Row, target: _Target) -> PushMessage:
    """The push for one device: its language, and the ids the app's deep link needs."""
    english = target.locale == "en"
    data = dict(row.data)
    data.update(notification_id=str(row.id), kind=row.kind)
    if row.alert_id is not None:
        data["alert_id"] = str(row.alert_id)
    if row.forward_id is not None:
        # An authority's push: the forward only, never the item behind it.
        data.pop("feedback_id", None)
        data["forward_id"] = str(row.forward_id)
    elif row.feedback_id is not None:
        data["feedback_id"] = str(row.feedback_id)
    if row.alert_id is not None:
        collapse_id = f"alert-{row.alert_id}"  # the alert's latest state replaces earlier ones
    elif row.forward_id is not None:
        collapse_id = f"forward-{row.forward_id}"
    elif row.feedback_id is not None:
        collapse_id = f"feedback-{row.feedback_id}"
    else:
        collapse_id = f"notification-{row.id}"
    return PushMessage(
        device_id=target.device_id,
        fid=target.fid,
        registration_token=target.registration_token,
        title=row.title_en if english else row.title_vi,
        body=row.body_en if english else row.body_vi,
        data=data,
        critical=row.critical,
        collapse_id=collapse_id,
        analytics_label=row.kind[:50],
    )


async def deliver_due(
    pool: asyncpg.Pool,
    provider: PushProvider,
    outbox_ids: Sequence[int] = (),
    *,
    now: datetime | None = None,
    limit: int = CLAIM_LIMIT,
    max_rounds: int = MAX_ROUNDS,
    holder: uuid.UUID | None = None,
) -> DeliveryReport:
    """Deliver due outbox rows: those named (if due) and the longest-waiting others, in
    rounds of `limit` rows until none is due. Safe to run twice and side by side, and to be
    killed at any point: what FCM accepted is recorded chunk by chunk (SEND_CHUNK), so the
    round that takes the rows up again sends only to the devices not yet recorded.

    `holder` is the worker's id (backend.heartbeat), so that a worker starting after it
    died can release its rows at once (release_leases) instead of after the lease."""
    report = DeliveryReport()
    named = list(outbox_ids)
    for _ in range(max_rounds):
        claimed = await _deliver_round(pool, provider, named, now or datetime.now(UTC), limit, report, holder)
        named = []
        if claimed < limit:
            break
    return report


async def release_leases(conn: Any, holders: Sequence[uuid.UUID]) -> int:
    """Make the rows claimed by these (dead) workers due now; returns how many."""
    if not holders:
        return 0
    status = await conn.execute(RELEASE_LEASES_SQL, list(holders), datetime.now(UTC))
    return int(status.split()[-1])


async def _deliver_round(
    pool: asyncpg.Pool,
    provider: PushProvider,
    outbox_ids: list[int],
    now: datetime,
    limit: int,
    report: DeliveryReport,
    holder: uuid.UUID | None,
) -> int:
    token = uuid.uuid4()
    async with pool.acquire() as conn:
        claimed = await conn.fetch(CLAIM_SQL, now, outbox_ids, limit, float(LEASE_SECONDS), holder, token)
        if not claimed:
            return 0
        rows = [_row(r) for r in claimed]
        target_rows = await conn.fetch(TARGETS_SQL, [r.id for r in rows])
    report.rows += len(rows)

    targets: dict[int, list[_Target]] = defaultdict(list)
    for t in target_rows:
        targets[t["outbox_id"]].append(msgspec.convert(dict(t), _Target))
    messages: list[PushMessage] = []
    owner: list[int] = []  # outbox id of each message
    quiet_ends: dict[int, datetime] = {}
    for row in rows:
        for target in targets[row.id]:
            until = None if row.critical else quiet_until(now, target.quiet_start, target.quiet_end)
            if until is not None:
                quiet_ends[row.id] = min(until, quiet_ends.get(row.id, until))
                report.deferred += 1
                continue
            owner.append(row.id)
            messages.append(push_message(row, target))

    by_row: dict[int, list[PushResult]] = defaultdict(list)
    async with _leased(pool, token, now):
        for start in range(0, len(messages), SEND_CHUNK):
            results = await provider.send(messages[start : start + SEND_CHUNK])
            owners = owner[start : start + len(results)]
            await _record(pool, owners, results)
            for outbox_id, result in zip(owners, results, strict=True):
                by_row[outbox_id].append(result)
            _count(report, results)

    updates: list[tuple[int, int, datetime | None, str | None]] = []
    for row in rows:
        row_results = by_row.get(row.id, [])
        attempts = row.attempts + (1 if row_results else 0)
        transient = [r for r in row_results if r.outcome == "retry"]
        failures = [r for r in row_results if r.outcome not in SUCCESS_OUTCOMES]
        next_at = quiet_ends.get(row.id)
        if transient and attempts < MAX_ATTEMPTS:
            hints = [r.retry_after for r in transient if r.retry_after is not None]
            retry_at = now + timedelta(seconds=retry_delay(attempts, max(hints) if hints else None))
            next_at = min(retry_at, next_at) if next_at else retry_at
        updates.append((row.id, attempts, next_at, failures[-1].error if failures else None))

    async with pool.acquire() as conn:
        finished = await conn.fetch(
            UPDATE_ROWS_SQL,
            [u[0] for u in updates],
            [u[1] for u in updates],
            [u[2] for u in updates],
            [u[3] for u in updates],
            list(SUCCESS_OUTCOMES),
            token,
        )
    report.finished += sum(1 for f in finished if f["status"] != "pending")
    return len(rows)


async def _record(pool: asyncpg.Pool, owners: list[int], results: list[PushResult]) -> None:
    """Commit one chunk's answers at once: a device recorded here is never sent this row again."""
    if not results:
        return
    retired = [r for r in results if r.outcome == "retired"]
    async with pool.acquire() as conn, conn.transaction():
        await conn.execute(
            RECORD_DELIVERIES_SQL,
            owners,
            [r.device_id for r in results],
            [r.outcome for r in results],
            [r.message_id for r in results],
            [r.error_code for r in results],
        )
        if retired:
            await conn.execute(
                RETIRE_DEVICES_SQL,
                [r.device_id for r in retired],
                [(r.error_code or "invalid").lower() for r in retired],
            )
    if retired:
        log.info("push targets retired", extra={"device_ids": [r.device_id for r in retired]})


def _count(report: DeliveryReport, results: list[PushResult]) -> None:
    for result in results:
        if result.outcome in SUCCESS_OUTCOMES:
            report.sent += 1
        elif result.outcome == "retry":
            report.retried += 1
        elif result.outcome == "retired":
            report.retired += 1
        else:
            report.failed += 1


@contextlib.asynccontextmanager
async def _leased(pool: asyncpg.Pool, token: uuid.UUID, now: datetime) -> AsyncIterator[None]:
    """Renew the round's lease every LEASE_RENEW_SECONDS until the block ends. The lease runs
    from the round's `now` plus the time spent, so a round run at a given instant (tests,
    catching up) keeps its own clock."""
    loop = asyncio.get_running_loop()
    started = loop.time()
    stop = asyncio.Event()

    async def renew() -> None:
        while True:
            try:
                await asyncio.wait_for(stop.wait(), LEASE_RENEW_SECONDS)
                return
            except TimeoutError:
                pass
            at = now + timedelta(seconds=loop.time() - started)
            try:
                await pool.execute(RENEW_LEASE_SQL, token, at, float(LEASE_SECONDS))
            except (asyncpg.PostgresError, asyncpg.InterfaceError, OSError, TimeoutError) as exc:
                # The rows fall due again after the lease; the sends go on (and are recorded).
                log.warning("push lease not renewed", extra={"error": repr(exc)})

    renewal = asyncio.create_task(renew())
    try:
        yield
    finally:
        stop.set()
        await renewal


def _row(record: asyncpg.Record) -> _Row:
    values = dict(record)
    if isinstance(values["data"], str):  # a connection without the jsonb codec
        values["data"] = msgspec.json.decode(values["data"])
    return msgspec.convert(values, _Row)
