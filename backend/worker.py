"""The arq worker: background jobs and periodic maintenance.

Jobs take ids, re-read state from the database and are safe to run twice."""

from __future__ import annotations

import logging
from typing import Any

import msgspec
from arq import cron, func
from arq.connections import RedisSettings
from arq.worker import Worker

from backend.db import create_pool
from backend.push import create_push_provider
from backend.services.notifications import deliver_due
from backend.settings import Settings

log = logging.getLogger(__name__)

PURGE_SESSIONS_SQL = """
delete from staff_sessions
where expires_at < now() - interval '7 days' or revoked_at < now() - interval '7 days'
"""


async def purge_expired_sessions(ctx: dict[str, Any]) -> int:
    """Forget refresh tokens that ended more than a week ago (kept a while for support)."""
    status = await ctx["pool"].execute(PURGE_SESSIONS_SQL)
    removed = int(status.split()[-1])
    log.info("purged staff sessions", extra={"removed": removed})
    return removed


async def deliver_notifications(ctx: dict[str, Any], outbox_ids: list[int] | None = None) -> dict[str, int]:
    """Push these outbox rows (when due) and any other due ones. Idempotent: rows are claimed
    afresh from the database, and a row already delivered is not due."""
    report = msgspec.to_builtins(await deliver_due(ctx["pool"], ctx["push"], outbox_ids or ()))
    if report["rows"]:
        log.info("pushes delivered", extra=report)
    return report


async def relay_notifications(ctx: dict[str, Any]) -> dict[str, int]:
    """Every 10 s: deliver outbox rows whose enqueue was lost (Redis down at commit) and
    retries or quiet hours that have come due."""
    return await deliver_notifications(ctx)


async def startup(ctx: dict[str, Any]) -> None:
    settings: Settings = ctx.setdefault("settings", Settings.from_env())
    ctx["pool"] = await create_pool(settings)
    ctx["push"] = create_push_provider(settings)


async def shutdown(ctx: dict[str, Any]) -> None:
    push = ctx.get("push")
    if push is not None:
        await push.close()
    pool = ctx.get("pool")
    if pool is not None:
        await pool.close()


class WorkerSettings:
    """For arq's own CLI too (`arq backend.worker.WorkerSettings`, settings from the environment)."""

    functions: list[Any] = [purge_expired_sessions, func(deliver_notifications, keep_result=0)]
    cron_jobs = [
        cron(purge_expired_sessions, hour={3}, minute={17}, run_at_startup=False),
        cron(relay_notifications, second=set(range(0, 60, 10)), run_at_startup=True),
    ]
    on_startup = startup
    on_shutdown = shutdown


def create_worker(settings: Settings, *, handle_signals: bool = True, burst: bool = False) -> Worker:
    assert settings.redis_url, "servers must be resolved before the worker starts"
    return Worker(
        functions=WorkerSettings.functions,
        cron_jobs=WorkerSettings.cron_jobs,
        on_startup=WorkerSettings.on_startup,
        on_shutdown=WorkerSettings.on_shutdown,
        redis_settings=RedisSettings.from_dsn(settings.redis_url),
        queue_name=settings.queue_name,
        health_check_key=f"{settings.queue_name}:health-check",
        ctx={"settings": settings},
        handle_signals=handle_signals,
        burst=burst,
        poll_delay=0.2,
    )
