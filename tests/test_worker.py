"""The arq worker runs jobs against real Redis and PostgreSQL (burst mode, in-process)."""

import asyncpg
from arq import create_pool
from arq.connections import RedisSettings

from backend.settings import Settings
from backend.worker import create_worker


async def test_purge_job_removes_only_long_ended_sessions(settings: Settings, db: asyncpg.Connection) -> None:
    user = await db.fetchval("select id from users where username = 'chair.badinh'")
    await db.execute(
        """
        insert into staff_sessions (user_id, refresh_hash, expires_at, revoked_at) values
            ($1, '\\x01', now() - interval '30 days', null),
            ($1, '\\x02', now() + interval '30 days', now() - interval '8 days'),
            ($1, '\\x03', now() + interval '30 days', null),
            ($1, '\\x04', now() + interval '30 days', now() - interval '1 day')
        """,
        user,
    )
    assert settings.redis_url
    redis = await create_pool(RedisSettings.from_dsn(settings.redis_url), default_queue_name=settings.queue_name)
    try:
        job = await redis.enqueue_job("purge_expired_sessions")
        assert job is not None
        worker = create_worker(settings, handle_signals=False, burst=True)
        try:
            await worker.async_run()
        finally:
            await worker.close()
        assert await job.result(timeout=5) == 2
    finally:
        await redis.aclose()
        await redis.connection_pool.disconnect()  # arq hands the client a pool it does not close
    left = await db.fetch("select refresh_hash from staff_sessions where user_id = $1 order by refresh_hash", user)
    assert [bytes(r["refresh_hash"]) for r in left] == [b"\x03", b"\x04"]


async def test_purge_job_forgets_past_days_of_install_usage(settings: Settings, db: asyncpg.Connection) -> None:
    installs = [
        await db.fetchval(
            "insert into citizen_installs (install_id, secret_hash, platform) values ($1, '\\x00', 'ios') returning id",
            f"usage-purge-{i}",
        )
        for i in range(3)
    ]
    await db.execute(
        """
        insert into install_daily_usage (citizen_id, local_day, feedback_items, photo_bytes) values
            ($1, current_date - 5, 3, 100), ($2, current_date - 1, 1, 0), ($3, current_date, 2, 10)
        """,
        *installs,
    )
    assert settings.redis_url
    redis = await create_pool(RedisSettings.from_dsn(settings.redis_url), default_queue_name=settings.queue_name)
    try:
        job = await redis.enqueue_job("purge_daily_usage")
        assert job is not None
        worker = create_worker(settings, handle_signals=False, burst=True)
        try:
            await worker.async_run()
        finally:
            await worker.close()
        assert await job.result(timeout=5) == 1
    finally:
        await redis.aclose()
        await redis.connection_pool.disconnect()
    left = await db.fetch("select citizen_id from install_daily_usage order by local_day")
    assert [r["citizen_id"] for r in left] == installs[1:]


async def test_purge_job_forgets_rating_activity_past_the_campaign_windows(
    settings: Settings, db: asyncpg.Connection
) -> None:
    await db.execute(
        """
        insert into rating_activity (target, minute, low, fresh) values
            (-1, date_trunc('minute', now() - interval '3 days'), 5, 5),
            (-1, date_trunc('minute', now() - interval '2 hours'), 2, 0),
            (7, date_trunc('minute', now()), 0, 1)
        """
    )
    assert settings.redis_url
    redis = await create_pool(RedisSettings.from_dsn(settings.redis_url), default_queue_name=settings.queue_name)
    try:
        job = await redis.enqueue_job("purge_rating_activity")
        assert job is not None
        worker = create_worker(settings, handle_signals=False, burst=True)
        try:
            await worker.async_run()
        finally:
            await worker.close()
        assert await job.result(timeout=5) == 1
    finally:
        await redis.aclose()
        await redis.connection_pool.disconnect()
    left = await db.fetch("select target, low, fresh from rating_activity order by minute")
    assert [tuple(r) for r in left] == [(-1, 2, 0), (7, 0, 1)]
