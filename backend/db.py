"""The asyncpg pool and the per-request connection."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncGenerator, AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import asyncpg
import msgspec
from litestar.datastructures import State

from backend.db_faults import DatabaseUnreachable, is_database_fault
from backend.settings import Settings

log = logging.getLogger(__name__)

# Statement bound of pools that run batch jobs (the worker): sweeps and rebuilds over big
# tables are slower than any request, but a stalled server must still not hold them forever.
JOB_COMMAND_TIMEOUT = 30.0

# Every statement the service runs touches a handful of rows through an index, but a
# generic plan over a big table, or one planned on stale statistics, can be costed above
# jit_above_cost; the server then JIT-compiles it on every execution (tens to hundreds of
# milliseconds for a 2 ms insert). Compilation never pays for itself here, so it is off for
# every connection the service opens; tests/test_jit.py pins it for the hot statements.
OLTP_SETTINGS = {"jit": "off"}

# The batched rating writes reach every row they touch by key. Their plans are generic (see
# create_pool), fixed when prepared: planned while a table is small (a new deployment, a
# fresh month's partition of work, statistics no ANALYZE has refreshed), the planner picks a
# sequential scan and a hash join, and keeps them as the table grows: at a few tens of
# thousands of ratings the resolve statement spent 10 ms per batch scanning `ratings` for the
# idempotency keys of one request. Scans and hash or merge joins are never the right plan for
# them, so their connections rule them out whatever the statistics say; tables without a
# usable index (a one-row bookkeeping table) are still scanned. tests/test_write_plans.py
# pins the shapes.
KEYED_WRITE_SETTINGS = {"enable_seqscan": "off", "enable_hashjoin": "off", "enable_mergejoin": "off"}


def _dropped_on_timeout(name: str) -> Any:
    run = getattr(asyncpg.Connection, name)

    async def method(self: asyncpg.Connection, *args: Any, **kwargs: Any) -> Any:
        try:
            return await run(self, *args, **kwargs)
        except TimeoutError:
            # The statement outlived its bound: the server is stalled (or the statement
            # blocked). asyncpg would cancel it in the background and hold the next
            # statement on this connection (a savepoint's ROLLBACK TO, the ROLLBACK, the
            # reset on release) until that cancel got through, each up to the bound again.
            # Dropped now, those fail at once and the request answers 503 within its bound.
            self.terminate()
            raise

    method.__name__ = name
    return method


class FailFastConnection(asyncpg.Connection):
    """A connection that is dropped as soon as one of its statements times out."""

    execute = _dropped_on_timeout("execute")
    executemany = _dropped_on_timeout("executemany")
    fetch = _dropped_on_timeout("fetch")
    fetchrow = _dropped_on_timeout("fetchrow")
    fetchval = _dropped_on_timeout("fetchval")
    fetchmany = _dropped_on_timeout("fetchmany")


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


async def create_pool(
    settings: Settings,
    *,
    max_size: int | None = None,
    generic_plans: bool = False,
    command_timeout: float = JOB_COMMAND_TIMEOUT,
) -> asyncpg.Pool:
    """The connection pool. `generic_plans` is for the hot batched statements: their plans
    do not depend on the values, and re-planning each execution costs more than running it.
    `command_timeout` bounds every statement, the cancel of a timed-out one and connecting."""
    assert settings.database_url, "servers must be resolved before the pool is opened"
    server_settings = {"application_name": "commune-pulse", "timezone": "UTC", **OLTP_SETTINGS}
    if generic_plans:
        server_settings["plan_cache_mode"] = "force_generic_plan"
        server_settings.update(KEYED_WRITE_SETTINGS)
    pool = await asyncpg.create_pool(
        settings.database_url,
        # A generic plan is fixed when prepared; re-preparing now and then lets its estimates
        # follow the tables' growth (the plan's shape is pinned by KEYED_WRITE_SETTINGS).
        max_cached_statement_lifetime=60 if generic_plans else 300,
        # The batched writes leave no session state behind (no SET, LISTEN or advisory
        # lock), so the reset round trip on each release is skipped for them.
        reset=_keep_session if generic_plans else None,
        min_size=1,
        max_size=max_size or settings.db_pool_size,
        init=_init_connection,
        connection_class=FailFastConnection,
        command_timeout=command_timeout,
        timeout=command_timeout,  # connecting to a stalled server
        server_settings=server_settings,
    )
    assert pool is not None
    return pool


@asynccontextmanager
async def pooled(pool: asyncpg.Pool, wait: float) -> AsyncIterator[asyncpg.Connection]:
    """A pooled connection, waited for at most `wait` seconds (TimeoutError: a 503).

    When the database fails under it, the connection is dropped at once rather than given
    back: a graceful release would first wait for the cancel of a stalled statement and
    then send a reset to a server that may not answer."""
    try:
        conn = await pool.acquire(timeout=wait)
    except OSError as exc:
        if isinstance(exc, ConnectionError | TimeoutError):
            raise
        raise DatabaseUnreachable(exc.errno, f"cannot connect to PostgreSQL: {exc}") from exc
    try:
        yield conn
    except BaseException as exc:
        if is_database_fault(exc):
            # asyncpg gives a connection it saw die back to the pool by itself; the proxy
            # then refuses every call, terminate() included.
            with contextlib.suppress(asyncpg.InterfaceError):
                conn.terminate()
        raise
    finally:
        try:
            await pool.release(conn)
        except Exception as exc:
            # The reset on release met a dead connection (asyncpg has dropped it). What the
            # block did stands: a COMMIT that returned is durable, so no error is made of it.
            if not is_database_fault(exc):
                raise
            log.warning("pooled connection dropped on release: %s: %s", type(exc).__name__, exc)


@asynccontextmanager
async def transaction(conn: asyncpg.Connection) -> AsyncIterator[asyncpg.Connection]:
    """conn.transaction(), except that after a database fault it does not send ROLLBACK:
    the server ends the transaction when `pooled` drops the connection, and a ROLLBACK
    would wait on a server that may not answer."""
    tx = conn.transaction()
    await tx.start()
    try:
        yield conn
    except BaseException as exc:
        if not is_database_fault(exc):
            await tx.rollback()
        raise
    # A COMMIT that fails leaves the outcome unknown: the caller hears 503 and retries
    # with its Idempotency-Key, which finds the row if it was stored.
    await tx.commit()


async def provide_db(state: State) -> AsyncGenerator[asyncpg.Connection, None]:
    """One connection and one transaction per request: committed before the response is
    sent, rolled back when the handler raises."""
    async with pooled(state.pool, state.settings.db_acquire_timeout) as conn, transaction(conn):
        yield conn


async def close_pool(pool: asyncpg.Pool, wait: float) -> None:
    """Close the pool gracefully within `wait` seconds, else drop its connections: at
    shutdown a stalled database must not hold the process (a graceful close sends each
    connection's goodbye and waits for the server)."""
    try:
        async with asyncio.timeout(wait):
            await pool.close()
    except Exception as exc:
        log.warning("PostgreSQL pool closed by force: %s: %s", type(exc).__name__, exc)
        pool.terminate()


async def connect(settings: Settings) -> asyncpg.Connection:
    """A single connection for commands (migrate, seed) outside the pool."""
    assert settings.database_url, "servers must be resolved before connecting"
    conn = await asyncpg.connect(settings.database_url, server_settings={"timezone": "UTC", **OLTP_SETTINGS})
    await _init_connection(conn)
    return conn
