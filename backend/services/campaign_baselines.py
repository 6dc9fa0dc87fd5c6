"""Each target's baseline for campaign scoring, summed once an hour instead of per rating.

The low-run rule (backend.campaign_rules.low_run) compares a run of low scores with the
target's own rate over the `baseline_days` before the run. Summing that from the hourly
rollups at ingest read up to 24 x 30 rows per low rating, a cost that grew with the data.
The worker sums every target's hours up to `through` (the start of the hour a low-run
window ago, so the sums never reach into a run being scored) into rating_baselines
(migration 0046); the ingest reads that one row and adds the few hourly rows since
`through`. A refresh older than STALE_AFTER is not used: the ingest then sums the hourly
rows itself, as before, so a stopped worker costs speed, never correctness.

The sums start at `through` minus baseline_days rather than at the run's own start minus
baseline_days: the window is up to about two hours longer at its old end, which changes a
30-day rate by well under a tenth.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

# Every worker runs its startup crons: two refreshes at once would each delete the rows they
# see and insert the same targets, and the later one fail on the key. One waits for the other.
REFRESH_LOCK = 7_318_003

# An older refresh is ignored (the worker has been down a day): the tail of hourly rows the
# ingest adds to it would be long again.
STALE_AFTER = timedelta(days=1)

# The month's hourly rollups, found through rating_rollups_hour_brin (migration 0046): the
# rollups are kept for good, and the refresh must not read every month of them.
MONTH_SQL = """
select h.official_id, h.commune_service_id, h.ratings, h.score_counts[1] + h.score_counts[2] as low
from rating_rollups_hourly h
where h.hour >= $1 and h.hour < $2
"""
# Both kinds of target, as rating_target() names them: an official (positive id) sums the
# hours of every service the official answered for; a service (negative id) sums all of its
# hours, whoever answered (the probe in campaign_signals reads the same way).
REPLACE_SQL = f"""
with month as ({MONTH_SQL})
insert into rating_baselines (target, ratings, low)
select target, sum(ratings), sum(low)
from (select official_id as target, ratings, low from month where official_id <> 0
      union all
      select -commune_service_id, ratings, low from month) x
group by target
"""

RECORD_SQL = """
insert into rating_baseline_runs (singleton, since, through, refreshed_at) values (true, $1, $2, now())
on conflict (singleton) do update set since = excluded.since, through = excluded.through, refreshed_at = now()
"""


@dataclass(frozen=True)
class Refresh:
    since: datetime
    through: datetime
    targets: int


def baseline_span(now: datetime, low_run_window: int, baseline_days: int) -> tuple[datetime, datetime]:
    """The hours a refresh at `now` sums: whole hours ending at or before the start of a run
    window that ends now, baseline_days long."""
    run_start = now - timedelta(seconds=low_run_window)
    through = run_start.replace(minute=0, second=0, microsecond=0)
    return through - timedelta(days=baseline_days), through


async def refresh_baselines(conn: Any, now: datetime, low_run_window: int, baseline_days: int) -> Refresh:
    """Replace every target's baseline in one transaction: readers see the old sums and the
    old `through` together, or the new ones together."""
    since, through = baseline_span(now, low_run_window, baseline_days)
    async with conn.transaction():
        await conn.execute("select pg_advisory_xact_lock($1)", REFRESH_LOCK)
        # A statement after the lock: it sees the sums a refresh that held it committed.
        await conn.execute("delete from rating_baselines")
        status = await conn.execute(REPLACE_SQL, since, through)
        await conn.execute(RECORD_SQL, since, through)
    return Refresh(since, through, int(status.split()[-1]))
