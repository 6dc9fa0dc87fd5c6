from __future__ import annotations

import asyncio
from typing import Any, Literal

from litestar import Controller, Response, get
from litestar.datastructures import State

from backend.heartbeat import worker_status
from schemas.health import Liveness, Readiness

CHECK_TIMEOUT_SECONDS = 2.0


class HealthController(Controller):
    path = "/health"
    tags = ["health"]

    @get("/live", operation_id="GetLiveness", summary="The process is up")
    async def live(self) -> Liveness:
        return Liveness(status="ok")

    @get("/ready", operation_id="GetReadiness", summary="PostgreSQL and Redis answer; is a worker live")
    async def ready(self, state: State) -> Response[Readiness]:
        """503 when PostgreSQL or Redis does not answer. A worker that stopped beating (or
        none at all) makes it 503 only with READY_REQUIRES_WORKER=true; otherwise the API is
        ready and the body says `degraded`, with `worker` telling why."""
        postgres, redis, worker = await asyncio.gather(
            _check_postgres(state), _check_redis(state), _check_worker(state)
        )
        ok = postgres == "ok" and redis == "ok"
        worker_ok = worker == "ok"
        if ok and not worker_ok and state.settings.ready_requires_worker:
            ok = False
        status: Literal["ok", "degraded", "unavailable"] = ("ok" if worker_ok else "degraded") if ok else "unavailable"
        body = Readiness(status=status, postgres=postgres, redis=redis, worker=worker)
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


async def _check_worker(state: State) -> str:
    try:
        async with asyncio.timeout(CHECK_TIMEOUT_SECONDS):
            async with state.pool.acquire() as conn:
                status = await worker_status(conn, state.settings.worker_stale_after)
        return status.summary()
    except Exception as exc:
        return _failure(exc)


def _failure(exc: Any) -> str:
    return f"error: {type(exc).__name__}"
