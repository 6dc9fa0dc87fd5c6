"""The group writer against real PostgreSQL: concurrent submits share transactions, each
caller hears back only after COMMIT, and an item that breaks the write is isolated."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import pytest

from backend.errors import AppError
from backend.group_commit import GroupWriter
from backend.settings import Settings


@pytest.fixture
async def pool(settings: Settings, db: asyncpg.Connection) -> AsyncIterator[asyncpg.Pool]:
    await db.execute("create table group_probe (n int primary key check (n >= 0), tx bigint not null)")
    pool = await asyncpg.create_pool(settings.database_url, min_size=1, max_size=4)
    assert pool is not None
    yield pool
    await pool.close()
    await db.execute("drop table group_probe")


async def insert_all(conn: Any, items: list[int]) -> list[int]:
    await conn.execute("insert into group_probe (n, tx) select n, txid_current() from unnest($1::int[]) n", items)
    return [n * 10 for n in items]


async def test_concurrent_submits_share_transactions(pool: asyncpg.Pool, db: asyncpg.Connection) -> None:
    writer: GroupWriter[int, int] = GroupWriter(pool, insert_all, drainers=2)
    results = await asyncio.gather(*(writer.submit([n]) for n in range(200)))
    assert results == [[n * 10] for n in range(200)]
    # Every caller's row is committed by the time its submit returns.
    assert await db.fetchval("select count(*) from group_probe") == 200
    transactions = await db.fetchval("select count(distinct tx) from group_probe")
    assert transactions < 50  # 200 requests, far fewer commits


@pytest.mark.parametrize("transaction", [True, False])
async def test_an_item_that_breaks_the_write_is_isolated(
    pool: asyncpg.Pool, db: asyncpg.Connection, transaction: bool
) -> None:
    writer: GroupWriter[int, int] = GroupWriter(pool, insert_all, drainers=1, transaction=transaction)
    outcomes = await asyncio.gather(*(writer.submit([n]) for n in (1, 2, -3, 4)), return_exceptions=True)
    assert outcomes[0] == [10] and outcomes[1] == [20] and outcomes[3] == [40]
    assert isinstance(outcomes[2], asyncpg.CheckViolationError)
    assert sorted(await db.fetchval("select array_agg(n) from group_probe")) == [1, 2, 4]


async def test_an_unreachable_database_is_503(settings: Settings, unused_tcp_port: int) -> None:
    pool = await asyncpg.create_pool(f"postgresql://postgres@127.0.0.1:{unused_tcp_port}/x", min_size=0, max_size=1)
    assert pool is not None
    writer: GroupWriter[int, int] = GroupWriter(pool, insert_all)
    with pytest.raises(AppError) as caught:
        await writer.submit([1])
    assert caught.value.code == "database_unavailable"
    assert caught.value.status == 503 and caught.value.headers["retry-after"].isdigit()
    await pool.close()


async def test_a_caller_waits_no_longer_than_the_deadline(pool: asyncpg.Pool, db: asyncpg.Connection) -> None:
    release = asyncio.Event()

    async def stalled(conn: Any, items: list[int]) -> list[int]:
        await release.wait()  # a database that does not answer
        return await insert_all(conn, items)

    writer: GroupWriter[int, int] = GroupWriter(pool, stalled, drainers=1, deadline=0.3)
    started = asyncio.get_running_loop().time()
    in_flight = asyncio.ensure_future(writer.submit([1]))
    await asyncio.sleep(0.05)
    queued = asyncio.ensure_future(writer.submit([2]))  # behind the stalled batch
    outcomes = await asyncio.gather(in_flight, queued, return_exceptions=True)
    assert asyncio.get_running_loop().time() - started < 1
    for outcome in outcomes:
        assert isinstance(outcome, AppError) and outcome.code == "database_unavailable"
    release.set()
    await writer.close()
    # The batch in flight commits after all (its caller's retry finds the row: no double);
    # the queued item whose caller is gone is never written.
    assert await db.fetchval("select array_agg(n) from group_probe") == [1]


async def test_each_caller_has_its_own_deadline(pool: asyncpg.Pool, db: asyncpg.Connection) -> None:
    """One timer watches every caller, yet each waits its own deadline from its own submit:
    a caller that came later is failed later, a batch of items fails whole, a caller that
    went away is skipped, and an answered caller is never failed afterwards."""
    release = asyncio.Event()
    loop = asyncio.get_running_loop()

    async def stalled(conn: Any, items: list[int]) -> list[int]:
        if 100 not in items:  # the first, answered batch goes through
            await release.wait()
        return await insert_all(conn, items)

    writer: GroupWriter[int, int] = GroupWriter(pool, stalled, drainers=1, deadline=0.4)
    assert await writer.submit([100]) == [1000]
    started = loop.time()
    ended: dict[str, float] = {}

    async def timed(name: str, items: list[int]) -> Any:
        try:
            return await writer.submit(items)
        except AppError as exc:
            ended[name] = loop.time() - started
            return exc

    first = asyncio.ensure_future(timed("first", [1]))
    await asyncio.sleep(0.2)
    gone = asyncio.ensure_future(timed("gone", [2]))
    batch = asyncio.ensure_future(timed("batch", [3, 4, 5]))
    await asyncio.sleep(0.05)
    gone.cancel()
    outcomes = await asyncio.gather(first, batch)
    for outcome in outcomes:
        assert isinstance(outcome, AppError) and outcome.code == "database_unavailable"
    assert 0.35 <= ended["first"] < 0.55
    assert 0.55 <= ended["batch"] < 0.8  # its own 0.4 s from 0.2 s, not the first caller's
    assert "gone" not in ended
    release.set()
    await writer.close()
    # Only the batch in flight (item 1) commits; the items queued behind it were dropped.
    assert sorted(await db.fetchval("select array_agg(n) from group_probe")) == [1, 100]
