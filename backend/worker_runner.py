"""Keeps the arq worker running unattended.

arq's poll loop ends on the first Redis connection error, and a worker started while Redis
is down gives up after a few tries. `WorkerRunner` holds what outlives one arq Worker (the
PostgreSQL pool, the push provider, the heartbeat) and runs a fresh arq Worker after each
connection error, with backoff, for as long as it takes. While Redis is away it goes on
with what needs only PostgreSQL: the outbox relay every RELAY_SECONDS, the minute sweep and
the feedback deadlines, so queued pushes still go out. `keep_running` (used by `dev`) restarts the whole runner
whatever ended it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import signal
import uuid
from collections.abc import Callable
from typing import Any

import asyncpg
from arq.connections import ArqRedis
from arq.worker import Worker
from redis.asyncio import ConnectionPool
from redis.exceptions import RedisError

from backend.db import create_pool
from backend.heartbeat import Heartbeat
from backend.push import create_push_provider
from backend.settings import Settings
from backend.worker import create_worker, feedback_deadlines, relay_notifications, sweep_thresholds

log = logging.getLogger(__name__)

# What a lost or refused connection raises (Redis, PostgreSQL or the network): the runner
# reconnects. Anything else is a bug, and ends the runner.
CONNECTION_ERRORS: tuple[type[BaseException], ...] = (
    RedisError,
    OSError,
    TimeoutError,
    asyncpg.PostgresConnectionError,
    asyncpg.InterfaceError,
    asyncpg.exceptions.OperatorInterventionError,  # shutting down, starting up
)
# arq's commands never block on the server (it polls), so none should take this long.
REDIS_TIMEOUT_SECONDS = 5.0
RECONNECT_BASE_SECONDS = 0.5
RECONNECT_CAP_SECONDS = 5.0
# A worker that ran this long before losing its connection starts the backoff afresh.
STEADY_SECONDS = 60.0
# Jobs running when the connection drops, or when asked to stop, get this long to finish
# (a fan-out in flight records what it sent) before they are cancelled.
JOB_GRACE_SECONDS = 20.0
POOL_CLOSE_SECONDS = 10.0
# While Redis is away: the relay, the sweep and the feedback deadlines, run by the runner
# itself on arq's own schedule. Each is safe when several workers run it at once (skip
# locked claims, advisory locks, dedupe keys), as they do without arq's unique cron jobs.
RELAY_SECONDS = 10.0
SWEEP_SECONDS = 60.0
DEADLINES_SECONDS = 300.0


def _cancel_requested() -> bool:
    """This task was asked to stop (Task.cancel) even if no CancelledError reached us: a
    cancel delivered to a task we were awaiting (arq's poll loop) can end it normally."""
    task = asyncio.current_task()
    return task is not None and task.cancelling() > 0


def reconnect_delay(failures: int, rng: Callable[[], float] = random.random) -> float:
    """Seconds before the next attempt after `failures` consecutive failed ones: from half a
    second, doubling up to RECONNECT_CAP_SECONDS, with jitter (between half and all of it)
    so workers do not all come back at one instant."""
    backoff = min(RECONNECT_CAP_SECONDS, RECONNECT_BASE_SECONDS * 2 ** max(0, failures))
    return backoff * (0.5 + 0.5 * rng())


class WorkerRunner:
    """Runs arq Workers one after another until `stop()`; returns only then (or at the end
    of a burst run)."""

    def __init__(self, settings: Settings, *, burst: bool = False) -> None:
        self.settings = settings
        self.burst = burst
        self.worker_id = uuid.uuid4()
        self._stopping = asyncio.Event()
        self._worker: Worker | None = None
        self._last_relay = self._last_sweep = self._last_deadlines = float("-inf")

    def stop(self) -> None:
        """Stop taking jobs, let the running ones finish (up to JOB_GRACE_SECONDS), return."""
        self._stopping.set()
        worker = self._worker
        if worker is not None:
            worker.allow_pick_jobs = False
            if worker.main_task is not None:
                worker.main_task.cancel()

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        pool = await self._connect_postgres()
        if pool is None:
            return  # stopped before PostgreSQL ever answered
        push = None
        beating = None
        active: Worker | None = None
        try:
            push = create_push_provider(self.settings)
            heartbeat = Heartbeat(pool, self.worker_id)
            beating = asyncio.create_task(heartbeat.run(), name="worker-heartbeat")
            try:
                await heartbeat.reclaim_dead()
            except CONNECTION_ERRORS as exc:
                log.warning("dead workers' pushes not released; their leases will run out", extra={"error": repr(exc)})
            ctx: dict[str, Any] = {
                "settings": self.settings,
                "pool": pool,
                "push": push,
                "worker_id": self.worker_id,
                "heartbeat": heartbeat,
            }
            failures = 0
            lost_at: float | None = None  # when Redis was lost, and attempts since
            tries = 0
            while not self._stopping.is_set():
                started = loop.time()
                try:
                    redis = await self._connect_redis()
                    if lost_at is not None:
                        log.info(
                            "worker reaches Redis again",
                            extra={"attempts": tries, "down_seconds": round(loop.time() - lost_at, 1)},
                        )
                        lost_at, tries = None, 0
                    active = create_worker(
                        self.settings, handle_signals=False, burst=self.burst, ctx=dict(ctx), redis=redis
                    )
                    self._worker = active
                    if self._stopping.is_set():
                        break  # stop() came while connecting: its poll loop never started
                    await active.async_run()
                    if self.burst:
                        return
                    if _cancel_requested():
                        # Cancelled while awaiting arq's poll loop, which ended without
                        # raising (the cancel reached its task and was absorbed there):
                        # looping on would keep `dev` from ever stopping.
                        raise asyncio.CancelledError
                except asyncio.CancelledError:
                    current = asyncio.current_task()
                    if self._stopping.is_set() and (current is None or current.cancelling() == 0):
                        break  # stop() cancelled the poll loop
                    raise
                except CONNECTION_ERRORS as exc:
                    if loop.time() - started >= STEADY_SECONDS:
                        failures = 0
                    delay = reconnect_delay(failures)
                    failures += 1
                    # Once when the connection goes, then about once a minute (not every try).
                    level = logging.WARNING if lost_at is None or failures % 12 == 0 else logging.DEBUG
                    if lost_at is None:
                        lost_at = loop.time()
                    tries += 1
                    log.log(
                        level,
                        "worker lost its connection; reconnecting",
                        extra={"error": repr(exc), "attempt": failures, "retry_in": round(delay, 2)},
                    )
                    heartbeat.redis_connected = False
                    with contextlib.suppress(*CONNECTION_ERRORS, asyncpg.PostgresError):
                        await heartbeat.beat()  # say so now, not at the next beat
                    self._worker = None
                    if active is not None:
                        await self._discard(active)
                        active = None
                    await self._wait_degraded(ctx, delay)
        finally:
            self._worker = None
            if active is not None:
                await self._discard(active)
            if beating is not None:
                beating.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await beating
                with contextlib.suppress(*CONNECTION_ERRORS, asyncpg.PostgresError):
                    await heartbeat.forget()
            if push is not None:
                await push.close()
            # close() waits for every connection to come back; one that never does (a task
            # cancelled at the wrong moment) must not keep a stopping worker alive: after
            # POOL_CLOSE_SECONDS the pool is terminated (asyncpg does so when close() is
            # cancelled).
            try:
                await asyncio.wait_for(pool.close(), POOL_CLOSE_SECONDS)
            except TimeoutError:
                log.warning("worker's database connections did not come back; closed them")

    async def _connect_redis(self) -> ArqRedis:
        """A client for one arq Worker, once Redis answers. Every command has a timeout, so a
        Redis that hangs (frozen, a dead link that sends no reset) counts as lost too."""
        assert self.settings.redis_url, "servers must be resolved before the worker starts"
        pool = ConnectionPool.from_url(
            self.settings.redis_url,
            socket_timeout=REDIS_TIMEOUT_SECONDS,
            socket_connect_timeout=REDIS_TIMEOUT_SECONDS,
        )
        redis = ArqRedis(pool, default_queue_name=self.settings.queue_name)
        try:
            await redis.ping()
        except BaseException:
            await redis.aclose()
            await pool.disconnect()
            raise
        return redis

    async def _connect_postgres(self) -> asyncpg.Pool | None:
        """The pool, once PostgreSQL answers (it may be starting too); None if stopped first."""
        failures = 0
        while True:
            try:
                return await create_pool(self.settings)
            except CONNECTION_ERRORS as exc:
                delay = reconnect_delay(failures)
                failures += 1
                log.warning(
                    "worker cannot reach PostgreSQL; retrying",
                    extra={"error": repr(exc), "attempt": failures, "retry_in": round(delay, 2)},
                )
                if await self._stopped_within(delay):
                    return None

    async def _stopped_within(self, seconds: float) -> bool:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stopping.wait(), seconds)
        return self._stopping.is_set()

    async def _wait_degraded(self, ctx: dict[str, Any], delay: float) -> None:
        """Wait `delay` seconds (less if stopped), running the relay, the sweep and the
        feedback deadlines when due: they need only PostgreSQL, and a queued push should not
        wait for Redis."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + delay
        while not self._stopping.is_set() and loop.time() < deadline:
            now = loop.time()
            for name, job, every, attr in (
                ("relay", relay_notifications, RELAY_SECONDS, "_last_relay"),
                ("sweep", sweep_thresholds, SWEEP_SECONDS, "_last_sweep"),
                ("feedback deadlines", feedback_deadlines, DEADLINES_SECONDS, "_last_deadlines"),
            ):
                if now - getattr(self, attr) >= every:
                    setattr(self, attr, now)
                    try:
                        await job(ctx)
                    except Exception as exc:  # logged; the next pass tries again
                        log.warning("%s without Redis failed", name, extra={"error": repr(exc)})
            await self._stopped_within(max(0.0, min(1.0, deadline - loop.time())))

    async def _discard(self, worker: Worker) -> None:
        """Let the worker's running jobs finish (up to JOB_GRACE_SECONDS), then drop its
        Redis connections, without arq's close(): that needs Redis and closes our pool."""
        tasks = list(worker.tasks.values())
        if tasks:
            _, pending = await asyncio.wait(tasks, timeout=JOB_GRACE_SECONDS)
            for task in pending:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
        worker.tasks.clear()
        redis = worker._pool
        if redis is not None:
            with contextlib.suppress(Exception):
                await redis.delete(worker.health_check_key)
            with contextlib.suppress(Exception):
                await redis.aclose(close_connection_pool=True)
            worker._pool = None


async def run_worker_process(settings: Settings) -> None:
    """`commune-pulse worker`: run until SIGINT or SIGTERM (each lets running jobs finish)."""
    runner = WorkerRunner(settings)
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, runner.stop)
    try:
        await runner.run()
    finally:
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(signum)


async def keep_running(settings: Settings) -> None:
    """For `dev`: run the worker, and start it again (with backoff, logged) whenever it
    ends, for any reason, until cancelled."""
    loop = asyncio.get_running_loop()
    failures = 0
    while True:
        started = loop.time()
        try:
            await WorkerRunner(settings).run()
            if _cancel_requested():
                raise asyncio.CancelledError  # a cancel absorbed below: stop, do not restart
            log.error("worker stopped; restarting it")
        except Exception:
            log.exception("worker exited; restarting it")
        if loop.time() - started >= STEADY_SECONDS:
            failures = 0
        delay = reconnect_delay(failures)
        failures += 1
        log.info("worker restart scheduled", extra={"attempt": failures, "retry_in": round(delay, 2)})
        await asyncio.sleep(delay)
