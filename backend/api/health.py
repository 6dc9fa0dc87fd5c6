from __future__ import annotations

import asyncio
from typing import Any

from litestar import Controller, Response, get
from litestar.datastructures import State

from schemas.health import Liveness, Readiness

CHECK_TIMEOUT_SECONDS = 2.0


class HealthController(Controller):
    path = "/health"
    tags = ["health"]

    @get("/live", operation_id="GetLiveness", summary="The process is up")
    async def live(self) -> Liveness:
        return Liveness(status="ok")

    @get("/ready", operation_id="GetReadiness", summary="PostgreSQL and Redis answer")
    async def ready(self, state: State) -> Response[Readiness]:
        postgres, redis = await asyncio.gather(_check_postgres(state), _check_redis(state))
        ok = postgres == "ok" and redis == "ok"
        body = Readiness(status="ok" if ok else "unavailable", postgres=postgres, redis=redis)
        return Response(body, status_code=200 if ok else 503)


async def _check_postgres(state: State) -> str:
    try:
        async with asyncio.timeout(CHECK_TIMEOUT_SECONDS):
            async with state.pool.acquire() as conn:
                await conn.fetchval("select 1")
        return "ok"
    except Exception as exc:
        return _failure(exc)


async def _check_redis(state: State) -> str:
    try:
        async with asyncio.timeout(CHECK_TIMEOUT_SECONDS):
            await state.redis.ping()
        return "ok"
    except Exception as exc:
        return _failure(exc)


def _failure(exc: Any) -> str:
    return f"error: {type(exc).__name__}"
