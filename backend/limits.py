"""Counters in fixed time windows, kept in Redis, for limits that protect the service.

Increment first, then decide: the count each caller gets back from INCR is its own, so
concurrent callers cannot all read "room left" and all go ahead. A refused attempt is
counted too, which is harmless: the window's end was fixed when it started.

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

    async def take(self, limit: int) -> int:
        """Count one more in the window; 0 when it fits within `limit`, else the seconds
        until the window ends (the Retry-After)."""
        try:
            async with self.redis.pipeline(transaction=True) as pipe:
                # SET NX EX starts the window; EXPIRE NX would need Redis 7.
                pipe.set(self.key, 0, ex=self.window, nx=True)
                pipe.incr(self.key)
                pipe.ttl(self.key)
                _, count, ttl = await pipe.execute()
        except RedisError as exc:
            log.warning("limiter unavailable", extra={"key": self.key, "error": str(exc)})
            return 0
        if int(count) <= limit:
            return 0
        return max(int(ttl), 1)
