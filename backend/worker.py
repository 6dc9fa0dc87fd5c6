"""The arq worker: background jobs and periodic maintenance.

Jobs take ids, re-read state from the database and are safe to run twice."""

from __future__ import annotations

import dataclasses
import logging
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

import msgspec
from arq import cron, func
from arq.connections import ArqRedis, RedisSettings
from arq.worker import Worker

from backend.db import create_pool
from backend.evaluation_schedule import schedule_evaluation, take_dirty
from backend.push import create_push_provider
from backend.services.campaign_baselines import refresh_baselines
from backend.services.campaign_signals import PRUNE_ACTIVITY_SQL
from backend.services.evaluator import EvaluationResult, evaluate, evaluate_unless_busy
from backend.services.feedback_deadlines import check_deadlines
from backend.services.notifications import deliver_due
from backend.services.scorecard_jobs import queue_chair_digests, recheck_scorecards
from backend.settings import Settings
from backend.workdays import LOCAL_TZ

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


PURGE_DAILY_USAGE_SQL = "delete from install_daily_usage where local_day < current_date - 2"


async def purge_daily_usage(ctx: dict[str, Any]) -> int:
    """Forget installs' daily feedback usage once its day is over (two days of margin for
    the time zone): only today's row is ever read."""
    status = await ctx["pool"].execute(PURGE_DAILY_USAGE_SQL)
    removed = int(status.split()[-1])
    log.info("purged daily usage", extra={"removed": removed})
    return removed


async def purge_rating_activity(ctx: dict[str, Any]) -> int:
    """Forget the per-target minute counts campaign scoring no longer looks at (older than
    its longest window, with a day of margin)."""
    settings: Settings = ctx["settings"]
    keep = max(settings.campaign_burst_window, settings.campaign_low_run_window) + 86400
    status = await ctx["pool"].execute(PRUNE_ACTIVITY_SQL, datetime.now(UTC) - timedelta(seconds=keep))
    removed = int(status.split()[-1])
    log.info("purged rating activity", extra={"removed": removed})
    return removed


async def refresh_rating_baselines(ctx: dict[str, Any]) -> int:
    """Sum every campaign-scoring target's baseline up to the last whole hour before a low-run
    window (backend.services.campaign_baselines), so the ingest reads one row per target."""
    settings: Settings = ctx["settings"]
    if not settings.campaign_scoring:
        return 0
    async with ctx["pool"].acquire() as conn:
        done = await refresh_baselines(
            conn, datetime.now(UTC), settings.campaign_low_run_window, settings.campaign_baseline_days
        )
    log.info("refreshed rating baselines", extra={"targets": done.targets, "through": done.through.isoformat()})
    return done.targets


async def deliver_notifications(ctx: dict[str, Any], outbox_ids: list[int] | None = None) -> dict[str, int]:
    """Push these outbox rows (when due) and any other due ones. Idempotent: rows are claimed
    afresh from the database, and a row already delivered is not due."""
    report = msgspec.to_builtins(
        await deliver_due(ctx["pool"], ctx["push"], outbox_ids or (), holder=ctx.get("worker_id"))
    )
    if report["rows"]:
        log.info("pushes delivered", extra=report)
    return report


async def relay_notifications(ctx: dict[str, Any]) -> dict[str, int]:
    """Every 10 s: deliver outbox rows whose enqueue was lost (Redis down at commit) and
    retries or quiet hours that have come due."""
    report = await deliver_notifications(ctx)
    await _mark(ctx, "relay")
    return report


async def evaluate_dirty(ctx: dict[str, Any]) -> dict[str, Any]:
    """Judge the communes whose ratings or dossiers changed since the last run (debounced)."""
    prefix = ctx["settings"].redis_key_prefix
    communes = await take_dirty(ctx["redis"], prefix)
    if not communes:
        return {"communes": 0}
    report = await _evaluate(ctx, communes, wait=False)
    if report is None:
        # Another evaluation (the minute sweep) holds the lock: rather than queue behind it,
        # hand the communes to the next debounced run.
        await schedule_evaluation(ctx["redis"], prefix, communes)
        return {"communes": len(communes), "deferred": True}
    return report


async def sweep_thresholds(ctx: dict[str, Any]) -> dict[str, Any]:
    """Every minute: judge every rule over every commune (windows move, silences and repeat
    intervals expire, and the event path may have missed a commune)."""
    report = await _evaluate(ctx, None)
    assert report is not None
    await _mark(ctx, "sweep")
    return report


async def _mark(ctx: dict[str, Any], what: Literal["sweep", "relay"]) -> None:
    """Note the run on the worker's heartbeat row (for /metrics), when run by a WorkerRunner."""
    heartbeat = ctx.get("heartbeat")
    if heartbeat is not None:
        await heartbeat.mark(what)


async def _evaluate(ctx: dict[str, Any], communes: list[str] | None, *, wait: bool = True) -> dict[str, Any] | None:
    async with ctx["pool"].acquire() as conn:
        if wait:
            result: EvaluationResult | None = await evaluate(conn, communes=communes)
        else:
            result = await evaluate_unless_busy(conn, communes=communes)
    if result is None:
        return None
    if result.outbox_ids:
        # Delivered here rather than through another job: a chair hears sooner, and a
        # failure leaves the rows to the outbox's own retries and the relay.
        await deliver_due(ctx["pool"], ctx["push"], result.outbox_ids, holder=ctx.get("worker_id"))
    report = {"communes": len(communes) if communes is not None else "all", "evaluated": result.evaluated}
    if result.transitions:
        log.info("alerts moved", extra={**report, "transitions": result.transitions, "pushes": len(result.outbox_ids)})
    return {**report, "transitions": result.transitions, "pushes": len(result.outbox_ids)}


async def feedback_deadlines(ctx: dict[str, Any]) -> dict[str, int]:
    """Every five minutes: mark overdue feedback, remind authorities, escalate past the grace."""
    settings: Settings = ctx["settings"]
    async with ctx["pool"].acquire() as conn:
        report = await check_deadlines(conn, timedelta(seconds=settings.feedback_escalation_grace))
    if report.outbox_ids:
        await deliver_due(ctx["pool"], ctx["push"], report.outbox_ids, holder=ctx.get("worker_id"))
    result = {"overdue": report.overdue, "reminded": report.reminded, "escalated": report.escalated}
    if report.overdue or report.escalated:
        log.info("feedback deadlines", extra=result)
    return result


async def scorecard_recheck(ctx: dict[str, Any]) -> dict[str, int]:
    """Daily: freeze the scorecards of periods past their freeze time, and recheck frozen ones
    (late dossier events, re-linked or reviewed ratings) into amendments."""
    report = await recheck_scorecards(ctx["pool"], ctx["settings"])
    result = dataclasses.asdict(report)
    if report.frozen or report.amendments:
        log.info("scorecards rechecked", extra=result)
    return result


async def scorecard_digests(ctx: dict[str, Any]) -> dict[str, int]:
    """Each morning: on the first working day of a month, push each commune chair the summary of
    the month before (held through their quiet hours by the delivery)."""
    today = datetime.now(UTC).astimezone(LOCAL_TZ).date()
    outbox_ids = await queue_chair_digests(ctx["pool"], ctx["settings"], today)
    if outbox_ids:
        await deliver_due(ctx["pool"], ctx["push"], outbox_ids, holder=ctx.get("worker_id"))
        log.info("scorecard digests queued", extra={"pushes": len(outbox_ids)})
    return {"pushes": len(outbox_ids)}


async def startup(ctx: dict[str, Any]) -> None:
    """Open what the jobs need, unless a WorkerRunner handed it over (it outlives one arq
    Worker: see backend.worker_runner); tell the heartbeat Redis answers again."""
    settings: Settings = ctx.setdefault("settings", Settings.from_env())
    if "pool" not in ctx:
        ctx["pool"] = await create_pool(settings)
        ctx["push"] = create_push_provider(settings)
        ctx["owns_resources"] = True
    heartbeat = ctx.get("heartbeat")
    if heartbeat is not None:
        heartbeat.redis_connected = True
        await heartbeat.beat()
        log.info("worker connected to Redis")


async def shutdown(ctx: dict[str, Any]) -> None:
    if not ctx.get("owns_resources"):
        return
    push = ctx.get("push")
    if push is not None:
        await push.close()
    pool = ctx.get("pool")
    if pool is not None:
        await pool.close()


class WorkerSettings:
    """For arq's own CLI too (`arq backend.worker.WorkerSettings`, settings from the environment)."""

    functions: list[Any] = [
        purge_expired_sessions,
        purge_daily_usage,
        purge_rating_activity,
        func(deliver_notifications, keep_result=0),
        func(evaluate_dirty, keep_result=0),
    ]
    cron_jobs = [
        cron(purge_expired_sessions, hour={3}, minute={17}, run_at_startup=False),
        cron(purge_daily_usage, hour={3}, minute={23}, run_at_startup=False),
        cron(purge_rating_activity, minute={41}, run_at_startup=False, keep_result=0),
        # At startup too: a new or restarted worker gives the ingest its baselines at once.
        cron(refresh_rating_baselines, minute={4}, run_at_startup=True, keep_result=0),
        cron(relay_notifications, second=set(range(0, 60, 10)), run_at_startup=True),
        cron(sweep_thresholds, second={30}, run_at_startup=True, keep_result=0),
        cron(feedback_deadlines, minute=set(range(2, 60, 5)), second={15}, run_at_startup=True, keep_result=0),
        # 19:40 UTC is 02:40 in Vietnam: after the day's late events, before anyone reads.
        cron(scorecard_recheck, hour={19}, minute={40}, run_at_startup=False, keep_result=0),
        # 01:05 UTC is 08:05 in Vietnam, the start of the working day.
        cron(scorecard_digests, hour={1}, minute={5}, run_at_startup=False, keep_result=0),
    ]
    on_startup = startup
    on_shutdown = shutdown


def create_worker(
    settings: Settings,
    *,
    handle_signals: bool = True,
    burst: bool = False,
    ctx: dict[str, Any] | None = None,
    redis: ArqRedis | None = None,
) -> Worker:
    """One arq Worker, on `redis` if given. It ends on the first Redis connection error
    (arq's own retries are off: backend.worker_runner reconnects, with backoff, for as long
    as it takes)."""
    assert settings.redis_url, "servers must be resolved before the worker starts"
    redis_settings = dataclasses.replace(RedisSettings.from_dsn(settings.redis_url), conn_retries=0, conn_timeout=2)
    return Worker(
        functions=WorkerSettings.functions,
        # arq keeps each cron's next run on the CronJob itself: fresh copies, so every
        # worker in a process runs its startup crons (sweep, relay) and its own schedule.
        cron_jobs=[dataclasses.replace(job, next_run=None) for job in WorkerSettings.cron_jobs],
        on_startup=WorkerSettings.on_startup,
        on_shutdown=WorkerSettings.on_shutdown,
        redis_settings=redis_settings,
        redis_pool=redis,
        queue_name=settings.queue_name,
        health_check_key=f"{settings.queue_name}:health-check",
        ctx={"settings": settings, **(ctx or {})},
        handle_signals=handle_signals,
        burst=burst,
        poll_delay=0.2,
    )
