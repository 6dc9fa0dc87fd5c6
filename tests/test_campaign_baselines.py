"""Campaign scoring's low-run baseline from the worker's hourly sums (migration 0046,
backend.services.campaign_baselines): ratings through the API with scoring on, the real
worker, a month of history stored the way the ingest stores it (statement triggers keep the
rollups). A run of low scores is held on a quiet target and counts on a noisy one whether
the ingest sums the hours itself (no refresh yet, or a stale one) or reads the refreshed
sums plus the hours since."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import msgspec
import pytest
from litestar.testing import AsyncTestClient

from backend.app import create_app
from backend.services.campaign_baselines import REPLACE_SQL, baseline_span, refresh_baselines
from backend.settings import Settings
from tests.test_alerts import run_worker
from tests.test_ratings import ago, new_citizen, rate

# A run of five low ratings, each from a new install (fresh_install: 1 point); low_run adds
# the second point from the fourth low rating on where the target's baseline has next to no
# low scores, and never where it has about five an hour.
RUN = 5
QUIET = [None, None, None, ["fresh_install", "low_run"], ["fresh_install", "low_run"]]
NOISY = [None] * RUN


@pytest.fixture
def scoring_settings(settings: Settings) -> Settings:
    return msgspec.structs.replace(settings, campaign_scoring=True, campaign_low_run=3)


@pytest.fixture
async def client(scoring_settings: Settings) -> AsyncIterator[AsyncTestClient[Any]]:
    async with AsyncTestClient(app=create_app(scoring_settings)) as test_client:
        yield test_client


# Services whose targets (the official answering now, else the service) are all different.
TARGETS_SQL = """
select distinct on (rating_target(a.official_id, cs.id)) cs.id
from commune_services cs
left join assignments a on a.commune_service_id = cs.id and a.valid @> now()
where cs.is_active
order by rating_target(a.official_id, cs.id), cs.id
limit $1
"""

HISTORY_INSTALL_SQL = """
insert into citizen_installs (install_id, secret_hash, platform, created_at)
values ('history-' || gen_random_uuid(), '\\x00', 'android', now() - interval '90 days') returning id
"""

# `count` ratings of service $2, the first `low` of them scoring 1, the rest 5, served one
# every `step` going back from `newest` ago, linked to the official answering now.
HISTORY_SQL = """
insert into ratings (citizen_id, commune_service_id, commune_code, official_id, assignment_id, score, channel,
                     served_at, created_at, idempotency_key)
select $1, cs.id, cs.commune_code, a.official_id, a.id, case when g <= $4 then 1 else 5 end, 'app',
       now() - $5::interval - g * $6::interval, now() - $5::interval - g * $6::interval + interval '5 minutes',
       'history-' || gen_random_uuid()
from commune_services cs
left join assignments a on a.commune_service_id = cs.id and a.valid @> now()
cross join generate_series(1, $3::int) g
where cs.id = $2
"""


async def history(
    db: asyncpg.Connection, service: int, count: int, low: int, newest: timedelta, step: timedelta
) -> None:
    install = await db.fetchval(HISTORY_INSTALL_SQL)
    await db.execute(HISTORY_SQL, install, service, count, low, newest, step)


async def low_run(client: AsyncTestClient[Any], db: asyncpg.Connection, service: int) -> list[Any]:
    """Five ratings of 1 from five new installs; the reasons each was held for (None: counted)."""
    ids = []
    for _ in range(RUN):
        body = {"commune_service_id": service, "score": 1, "served_at": ago(minutes=20)}
        response = await rate(client, await new_citizen(client), body)
        assert response.status_code == 201, response.text
        ids.append(response.json()["id"])
    rows = await db.fetch("select quarantine_reasons from ratings where id = any($1::bigint[]) order by id", ids)
    return [r["quarantine_reasons"] for r in rows]


async def target_of(db: asyncpg.Connection, service: int) -> int:
    return int(
        await db.fetchval(
            "select rating_target(a.official_id, cs.id) from commune_services cs "
            "left join assignments a on a.commune_service_id = cs.id and a.valid @> now() where cs.id = $1",
            service,
        )
    )


async def noisy_sums(db: asyncpg.Connection, service: int) -> None:
    """Sums as a refresh would have left them for a noisy month of this service's target."""
    await db.execute(
        "insert into rating_baselines (target, ratings, low) values ($1, 4000, 3600) "
        "on conflict (target) do update set ratings = 4000, low = 3600",
        await target_of(db, service),
    )


async def month(db: asyncpg.Connection, service: int, low: int) -> None:
    """A month of 4,000 ratings ending two days ago; 3,600 low ones are about five an hour."""
    await history(db, service, 4000, low, timedelta(days=2), timedelta(minutes=9))


async def test_a_low_run_is_judged_alike_without_the_worker_with_its_sums_and_with_stale_ones(
    client: AsyncTestClient[Any], scoring_settings: Settings, db: asyncpg.Connection
) -> None:
    services = [r["id"] for r in await db.fetch(TARGETS_SQL, 9)]
    assert len(services) == 9, "the demo data has fewer distinct targets than this test needs"
    q1, n1, q2, n2, q3, n3, q4, n4, q5 = services
    for quiet in (q1, q2, q3, q4, q5):
        await month(db, quiet, low=0)
    for noisy in (n1, n2, n4):
        await month(db, noisy, low=3600)
    # n3's low scores are all recent (the 25 hours before the run), its older month all good.
    await history(db, n3, 3000, 3000, timedelta(hours=2), timedelta(seconds=30))
    await history(db, n3, 1000, 0, timedelta(days=2), timedelta(minutes=30))

    # No refresh yet: the ingest sums the hourly rollups itself.
    assert await db.fetchval("select count(*) from rating_baseline_runs") == 0
    assert await low_run(client, db, q1) == QUIET
    assert await low_run(client, db, n1) == NOISY

    # The worker's refresh (a startup cron): one row per target, summed up to a whole hour
    # at least a low-run window ago.
    await run_worker(scoring_settings)
    run = await db.fetchrow("select since, through from rating_baseline_runs")
    assert run is not None
    now = datetime.now(UTC)
    assert now - timedelta(hours=2) - timedelta(seconds=5) < run["through"] <= now - timedelta(hours=1)
    assert run["through"] - run["since"] == timedelta(days=30)
    sums = await db.fetchrow("select ratings, low from rating_baselines where target = $1", await target_of(db, n2))
    assert (sums["ratings"], sums["low"]) == (4000, 3600)
    assert await low_run(client, db, q2) == QUIET
    assert await low_run(client, db, n2) == NOISY
    # The ingest reads these sums: had the worker found q5 noisy, its run would count.
    await noisy_sums(db, q5)
    assert await low_run(client, db, q5) == NOISY

    # Sums that stop 31 hours ago: n3's low scores since then come from the hourly rows the
    # ingest adds to them. Without those it would look quiet and its run would be held.
    await refresh_baselines(
        db, now - timedelta(hours=30), scoring_settings.campaign_low_run_window, scoring_settings.campaign_baseline_days
    )
    assert await low_run(client, db, q3) == QUIET
    assert await low_run(client, db, n3) == NOISY

    # A refresh more than a day old is not used: a sum claiming q4 is noisy changes nothing,
    # and n4's month is still read whole from the rollups.
    await refresh_baselines(
        db, now - timedelta(days=3), scoring_settings.campaign_low_run_window, scoring_settings.campaign_baseline_days
    )
    await noisy_sums(db, q4)
    assert await low_run(client, db, q4) == QUIET
    assert await low_run(client, db, n4) == NOISY


@pytest.mark.parametrize(
    ("now", "window", "since", "through"),
    [
        # The last whole hour that starts a low-run window (one hour) or more before now.
        ("2026-11-29T10:04:00", 3600, "2026-10-30T09:00:00", "2026-11-29T09:00:00"),
        ("2026-11-29T10:00:00", 3600, "2026-10-30T09:00:00", "2026-11-29T09:00:00"),
        ("2026-11-29T09:59:59", 3600, "2026-10-30T08:00:00", "2026-11-29T08:00:00"),
        # A window of 90 minutes reaches back into the hour before.
        ("2026-11-29T10:04:00", 5400, "2026-10-30T08:00:00", "2026-11-29T08:00:00"),
        # Across midnight and a month's end, in UTC.
        ("2026-12-01T00:30:00", 3600, "2026-10-31T23:00:00", "2026-11-30T23:00:00"),
    ],
)
def test_baseline_span(now: str, window: int, since: str, through: str) -> None:
    def at(text: str) -> datetime:
        return datetime.fromisoformat(text).replace(tzinfo=UTC)

    assert baseline_span(at(now), window, 30) == (at(since), at(through))


# A year of hourly rollups for a dozen services, created as the ingest creates them: a row
# for an hour appears when its first rating arrives, so the table fills in hour order.
YEAR_OF_ROLLUPS_SQL = """
insert into rating_rollups_hourly (hour, commune_service_id, official_id, commune_code, province_code, ratings,
                                   score_counts)
select date_trunc('hour', now()) - h * interval '1 hour', cs.id, 0, cs.commune_code, c.province_code, 3,
       '{1,0,0,1,1}'
from generate_series(365 * 24, 24, -1) h
cross join (select id, commune_code from commune_services order by id limit 12) cs
join communes c on c.code = cs.commune_code
on conflict do nothing
"""


async def test_the_refresh_reads_the_month_not_every_month_of_rollups(db: asyncpg.Connection) -> None:
    """The hourly rollups are kept for good: the refresh finds its month through the block
    range index, so its cost follows the month, not the history."""
    await db.execute(YEAR_OF_ROLLUPS_SQL)
    await db.execute("analyze rating_rollups_hourly")
    since, through = baseline_span(datetime.now(UTC), 3600, 30)
    plan = "\n".join(r[0] for r in await db.fetch("explain " + REPLACE_SQL, since, through))
    assert "rating_rollups_hour_brin" in plan, plan
    assert "Seq Scan on rating_rollups_hourly" not in plan, plan


async def test_refreshes_at_once_wait_for_each_other(scoring_settings: Settings, db: asyncpg.Connection) -> None:
    """Two workers starting together both refresh at startup: neither fails, and the sums
    are the month's once, not twice."""
    service = (await db.fetch(TARGETS_SQL, 1))[0]["id"]
    await month(db, service, low=100)
    now = datetime.now(UTC)
    others = [await asyncpg.connect(scoring_settings.database_url) for _ in range(4)]
    try:
        window, days = scoring_settings.campaign_low_run_window, scoring_settings.campaign_baseline_days
        done = await asyncio.gather(*(refresh_baselines(conn, now, window, days) for conn in others))
    finally:
        for conn in others:
            await conn.close()
    assert len({d.targets for d in done}) == 1
    sums = await db.fetchrow(
        "select ratings, low from rating_baselines where target = $1", await target_of(db, service)
    )
    assert (sums["ratings"], sums["low"]) == (4000, 100)
