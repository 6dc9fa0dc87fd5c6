"""Prometheus gauges of the background work, read from PostgreSQL at each scrape of /metrics:
how many pushes wait and for how long, and when a worker last beat, swept and relayed.

They come from the database rather than from the worker's memory so that any API process
answers for every worker, and a dead worker shows as time passing since its last beat."""

from __future__ import annotations

import asyncio
import logging
from typing import Any, Final

from prometheus_client import Gauge

from backend.heartbeat import worker_status

log = logging.getLogger(__name__)

SCRAPE_TIMEOUT_SECONDS = 2.0
# With API_WORKERS > 1 and PROMETHEUS_MULTIPROC_DIR set, whichever process was scraped last
# read the database last: its values stand for all.
MOST_RECENT: Final = "mostrecent"

OUTBOX_SQL = """
select count(*) as pending,
       count(*) filter (where next_attempt_at <= now() and not_before <= now()) as due,
       coalesce(extract(epoch from now() - min(created_at)), 0)::float8 as oldest_age,
       coalesce(extract(epoch from now() - min(greatest(next_attempt_at, not_before))
                        filter (where next_attempt_at <= now() and not_before <= now())), 0)::float8 as oldest_due_wait
from notification_outbox
where status = 'pending'
"""

OUTBOX_PENDING = Gauge(
    "commune_pulse_outbox_pending", "Pushes not yet delivered (outbox rows pending).", multiprocess_mode=MOST_RECENT
)
OUTBOX_DUE = Gauge(
    "commune_pulse_outbox_due",
    "Pending pushes that are due and held by no worker (a backlog means no worker).",
    multiprocess_mode=MOST_RECENT,
)
OUTBOX_OLDEST_AGE = Gauge(
    "commune_pulse_outbox_oldest_pending_age_seconds",
    "Age of the oldest undelivered push (quiet hours and retries hold some back on purpose); 0 when none.",
    multiprocess_mode=MOST_RECENT,
)
OUTBOX_OLDEST_DUE_WAIT = Gauge(
    "commune_pulse_outbox_oldest_due_wait_seconds",
    "How long the longest-waiting due push has been due without a worker taking it; 0 when none.",
    multiprocess_mode=MOST_RECENT,
)
WORKERS_LIVE = Gauge(
    "commune_pulse_workers_live",
    "Workers whose heartbeat is fresher than WORKER_STALE_AFTER.",
    multiprocess_mode=MOST_RECENT,
)
LAST_HEARTBEAT = Gauge(
    "commune_pulse_worker_last_heartbeat_timestamp_seconds",
    "Unix time of the latest worker heartbeat; 0 if never.",
    multiprocess_mode=MOST_RECENT,
)
LAST_SWEEP = Gauge(
    "commune_pulse_worker_last_sweep_timestamp_seconds",
    "Unix time the minute threshold sweep last finished; 0 if never.",
    multiprocess_mode=MOST_RECENT,
)
LAST_RELAY = Gauge(
    "commune_pulse_worker_last_relay_timestamp_seconds",
    "Unix time the outbox relay last finished; 0 if never.",
    multiprocess_mode=MOST_RECENT,
)

ALL = (
    OUTBOX_PENDING,
    OUTBOX_DUE,
    OUTBOX_OLDEST_AGE,
    OUTBOX_OLDEST_DUE_WAIT,
    WORKERS_LIVE,
    LAST_HEARTBEAT,
    LAST_SWEEP,
    LAST_RELAY,
)


async def refresh(pool: Any, stale_after: float) -> None:
    """Set the gauges from the database; when it does not answer in time they read NaN
    (unknown), which no threshold alert mistakes for a healthy value."""
    try:
        async with asyncio.timeout(SCRAPE_TIMEOUT_SECONDS), pool.acquire() as conn:
            outbox = await conn.fetchrow(OUTBOX_SQL)
            workers = await worker_status(conn, stale_after)
    except Exception as exc:
        log.warning("background gauges not read", extra={"error": repr(exc)})
        for gauge in ALL:
            gauge.set(float("nan"))
        return
    OUTBOX_PENDING.set(outbox["pending"])
    OUTBOX_DUE.set(outbox["due"])
    OUTBOX_OLDEST_AGE.set(outbox["oldest_age"])
    OUTBOX_OLDEST_DUE_WAIT.set(outbox["oldest_due_wait"])
    WORKERS_LIVE.set(workers.live)
    LAST_HEARTBEAT.set(workers.last_beat or 0)
    LAST_SWEEP.set(workers.last_sweep or 0)
    LAST_RELAY.set(workers.last_relay or 0)
