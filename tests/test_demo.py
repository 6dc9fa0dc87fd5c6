"""Demo data: deterministic, idempotent, linked as the product links."""

from datetime import UTC, datetime

import asyncpg

from backend.seed.demo import seed_demo_accounts, seed_demo_history

ANCHOR = datetime(2026, 11, 20, 8, 0, tzinfo=UTC)

FINGERPRINT_SQL = """
select (select count(*) from dossiers) as dossiers,
       (select count(*) from ratings) as ratings,
       (select count(*) from feedback) as feedback,
       (select md5(string_agg(code || coalesce(completed_at::text, ''), ',' order by code)) from dossiers) as d,
       (select md5(string_agg(idempotency_key || score, ',' order by idempotency_key)) from ratings) as r
"""


async def test_history_is_idempotent_and_deterministic(db: asyncpg.Connection) -> None:
    assert await seed_demo_accounts(db) is False  # the template already has the accounts
    assert await seed_demo_history(db, ANCHOR) is True
    first = dict(await db.fetchrow(FINGERPRINT_SQL))
    assert first["dossiers"] > 1000 and first["ratings"] > 500 and first["feedback"] > 50
    assert await seed_demo_history(db, ANCHOR) is False
    assert dict(await db.fetchrow(FINGERPRINT_SQL)) == first
    # Same anchor, same history: a fixed digest of this run (update it only on purpose).
    await db.execute(
        "delete from ratings; delete from feedback; delete from dossiers; delete from seed_runs "
        "where name = 'demo-history'"
    )
    assert await seed_demo_history(db, ANCHOR) is True
    assert dict(await db.fetchrow(FINGERPRINT_SQL)) == first


async def test_history_ratings_link_to_whoever_held_the_service_then(db: asyncpg.Connection) -> None:
    await seed_demo_history(db, ANCHOR)
    wrong = await db.fetchval(
        """
        select count(*) from ratings r
        left join assignments a on a.commune_service_id = r.commune_service_id and a.valid @> r.served_at
        where r.official_id is distinct from a.official_id
        """
    )
    assert wrong == 0
    # Birth registration in Ba Đình changed hands: both holders have rated work.
    holders = await db.fetchval(
        """
        select count(distinct r.official_id) from ratings r
        join commune_services cs on cs.id = r.commune_service_id
        where cs.commune_code = '00004' and cs.procedure_code = '1.001193'
        """
    )
    assert holders == 2
    assert await db.fetchval("select bool_and(verified) from ratings") is True
    # Sài Gòn is the struggling demo commune.
    rates = dict(
        await db.fetch("select commune_code, avg((score >= 4)::int)::float from ratings group by commune_code")
    )
    assert rates["26740"] < 0.75 < rates["00004"]
