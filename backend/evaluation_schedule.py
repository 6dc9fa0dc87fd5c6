"""Debounced evaluation after ingest.

An API process marks the communes whose ratings or dossiers it stored; marks are gathered
in memory for a moment, added to one Redis set, and one `evaluate_dirty` job per half
second (its job id is the half second) evaluates whatever the set holds by then. Marking
never waits on Redis: while Redis is down marks are dropped and the worker's minute sweep
judges those communes anyway.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from redis.exceptions import RedisError

log = logging.getLogger(__name__)

EVALUATE_JOB = "evaluate_dirty"
GATHER_SECONDS = 0.05
DEBOUNCE_SECONDS = 0.5
REDIS_TIMEOUT = 1.0
BACKOFF_SECONDS = 10.0


def dirty_key(prefix: str) -> str:
    return f"{prefix}:evaluate:dirty"


async def schedule_evaluation(redis: Any, prefix: str, communes: Iterable[str], now: float | None = None) -> None:
    """Add communes to the dirty set and make sure an evaluation runs within half a second."""
    codes = sorted(set(communes))
    if not codes:
        return
    await redis.sadd(dirty_key(prefix), *codes)
    slot = int((now or time.time()) / DEBOUNCE_SECONDS) + 1
    await redis.enqueue_job(
        EVALUATE_JOB, _job_id=f"{prefix}:evaluate:{slot}", _defer_until=_at(slot * DEBOUNCE_SECONDS)
    )


def _at(epoch: float) -> datetime:
    return datetime.fromtimestamp(epoch, UTC)


TAKE_SCRIPT = """
local members = redis.call('SMEMBERS', KEYS[1])
redis.call('DEL', KEYS[1])
return members
"""


async def take_dirty(redis: Any, prefix: str) -> list[str]:
    """Empty the dirty set atomically and return what it held."""
    members = await redis.eval(TAKE_SCRIPT, 1, dirty_key(prefix))
    return sorted(m.decode() if isinstance(m, bytes) else m for m in members)


class EvaluationScheduler:
    """Per API process: `mark` is called on the write path and returns at once."""

    def __init__(self, redis: Any, prefix: str) -> None:
        self._redis, self._prefix = redis, prefix
        self._pending: set[str] = set()
        self._task: asyncio.Task[None] | None = None
        self._down_until = 0.0

    def mark(self, communes: Iterable[str]) -> None:
        self._pending.update(communes)
        if self._pending and self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._flush())

    async def _flush(self) -> None:
        try:
            await asyncio.sleep(GATHER_SECONDS)
            while self._pending:
                batch, self._pending = self._pending, set()
                if time.monotonic() < self._down_until:
                    continue
                try:
                    await asyncio.wait_for(schedule_evaluation(self._redis, self._prefix, batch), REDIS_TIMEOUT)
                except (RedisError, OSError, TimeoutError) as exc:
                    self._down_until = time.monotonic() + BACKOFF_SECONDS
                    log.warning(
                        "evaluation not scheduled; the minute sweep will judge these communes",
                        extra={"communes": len(batch), "error": repr(exc)},
                    )
        finally:
            self._task = None

    async def close(self) -> None:
        if self._task is not None:
            await asyncio.gather(self._task, return_exceptions=True)
