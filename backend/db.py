"""The asyncpg pool and the per-request connection."""

from __future__ import annotations

from collections.abc import AsyncGenerator

import asyncpg
import msgspec
from litestar.datastructures import State

from backend.settings import Settings

# Every statement the service runs touches a handful of rows through an index, but a
# generic plan over a big table, or one planned on stale statistics, can be costed above
# jit_above_cost; the server then JIT-compiles it on every execution (tens to hundreds of
# milliseconds for a 2 ms insert). Compilation never pays for itself here, so it is off for
# every connection the service opens; tests/test_jit.py pins it for the hot statements.
OLTP_SETTINGS = {"jit": "off"}


async def _init_connection(conn: asyncpg.Connection) -> None:
    for type_name in ("json", "jsonb"):
        await conn.set_type_codec(
            type_name,
            schema="pg_catalog",
            encoder=lambda v: msgspec.json.encode(v).decode(),
            decoder=msgspec.json.decode,
        )


async def _keep_session(conn: asyncpg.Connection) -> None:
    return None


async def create_pool(settings: Settings, *, max_size: int | None = None, generic_plans: bool = False) -> asyncpg.Pool:
    """The connection pool. `generic_plans` is for the hot batched statements: their plans
    do not depend on the values, and re-planning each execution costs more than running it."""
    assert settings.database_url, "servers must be resolved before the pool is opened"
    server_settings = {"application_name": "commune-pulse", "timezone": "UTC", **OLTP_SETTINGS}
    if generic_plans:
        server_settings["plan_cache_mode"] = "force_generic_plan"
    pool = await asyncpg.create_pool(
        settings.database_url,
        # A generic plan is fixed when prepared; re-preparing now and then lets it follow the
        # tables' growth (an empty table's plan would scan it forever).
        max_cached_statement_lifetime=60 if generic_plans else 300,
        # The batched writes leave no session state behind (no SET, LISTEN or advisory
        # lock), so the reset round trip on each release is skipped for them.
        reset=_keep_session if generic_plans else None,
        min_size=1,
        max_size=max_size or settings.db_pool_size,
        init=_init_connection,
        command_timeout=30,
        server_settings=server_settings,
    )
    assert pool is not None
    return pool


async def provide_db(state: State) -> AsyncGenerator[asyncpg.Connection, None]:
    """One connection and one transaction per request: committed before the response is
    sent, rolled back when the handler raises."""
    async with state.pool.acquire() as conn, conn.transaction():
        yield conn


async def connect(settings: Settings) -> asyncpg.Connection:
    """A single connection for commands (migrate, seed) outside the pool."""
    assert settings.database_url, "servers must be resolved before connecting"
    conn = await asyncpg.connect(settings.database_url, server_settings={"timezone": "UTC", **OLTP_SETTINGS})
    await _init_connection(conn)
    return conn
