"""Counters in fixed time windows, kept in Redis, for limits that protect the service.

Without Redis a limiter lets everything through (and says so in the log): people must be
able to work during a Redis outage; each limit has a slower line of defence behind it."""

from __future__ import annotations

import logging
from typing import Any

from redis.exceptions import RedisError

log = logging.getLogger(__name__)


class WindowLimiter:
    def __init__(self, redis: Any, key: str, window_seconds: int) -> None:
        self.redis, self.key, self.window = redis, key, window_seconds

    async def wait_for(self, limit: int) -> int:
        """Seconds until the window has room again; 0 when it has room now."""
        try:
            used = int(await self.redis.get(self.key) or 0)
            if used < limit:
                return 0
            return max(int(await self.redis.ttl(self.key)), 1)
        except RedisError as exc:
            log.warning("limiter unavailable", extra={"key": self.key, "error": str(exc)})
            return 0

    async def add(self) -> int | None:
        """Count one more in the window; the new count, or None without Redis."""
        try:
            async with self.redis.pipeline(transaction=True) as pipe:
                # SET NX EX starts the window; EXPIRE NX would need Redis 7.
                pipe.set(self.key, 0, ex=self.window, nx=True)
                pipe.incr(self.key)
                _, count = await pipe.execute()
            return int(count)
        except RedisError as exc:
            log.warning("limiter unavailable", extra={"key": self.key, "error": str(exc)})
            return None

    async def clear(self) -> None:
        try:
            await self.redis.delete(self.key)
        except RedisError as exc:
            log.warning("limiter unavailable", extra={"key": self.key, "error": str(exc)})
