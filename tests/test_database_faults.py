"""Database faults through the HTTP API answer 503 database_unavailable with Retry-After,
never 500, within the configured bound; a rating whose request failed is stored once when
retried with the same Idempotency-Key.

These tests fault only this test's own database: its backends are terminated (what a fast
shutdown does to them, SQLSTATE 57P01) or blocked behind a lock held by the test (a stalled
statement). tests/test_database_restarts.py restarts and freezes a PostgreSQL of its own."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import httpx
import msgspec
import pytest
import uvicorn

from backend.app import create_app
from backend.settings import Settings

BLOCKED_SQL = """
select count(*) from pg_stat_activity
where datname = current_database() and application_name = 'commune-pulse' and wait_event_type = 'Lock'
"""
TERMINATE_BLOCKED_SQL = """
select count(pg_terminate_backend(pid)) from pg_stat_activity
where datname = current_database() and application_name = 'commune-pulse' and wait_event_type = 'Lock'
"""


@pytest.fixture
async def observer(settings: Settings) -> AsyncIterator[asyncpg.Connection]:
    """A connection outside the lock holder's transaction: inside one, pg_stat_activity is a
    snapshot taken at its first read."""
    conn = await asyncpg.connect(settings.database_url)
    yield conn
    await conn.close()


async def wait_until_blocked(observer: asyncpg.Connection, count: int = 1) -> None:
    for _ in range(200):
        if await observer.fetchval(BLOCKED_SQL) >= count:
            return
        await asyncio.sleep(0.05)
    raise AssertionError("the request never reached the database")


def assert_database_unavailable(response: Any) -> None:
    assert response.status_code == 503, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    assert int(response.headers["retry-after"]) > 0
    body = response.json()
    assert body["code"] == "database_unavailable"
    assert "Cơ sở dữ liệu" in body["messages"]["vi"] and "database" in body["messages"]["en"]


def rating(sid: int) -> dict[str, Any]:
    served = (datetime.now(UTC) - timedelta(days=1)).isoformat()
    return {"commune_service_id": sid, "score": 4, "served_at": served}


async def serve(settings: Settings, port: int) -> AsyncIterator[httpx.AsyncClient]:
    """The app behind a real uvicorn in this loop: the test client of Litestar blocks the
    loop for the length of a request, and these tests act while requests are in flight."""
    server = uvicorn.Server(
        uvicorn.Config(create_app(settings), host="127.0.0.1", port=port, log_config=None, access_log=False)
    )
    task = asyncio.create_task(server.serve())
    while not server.started:  # uvicorn offers a flag, not an event
        if task.done():
            task.result()
        await asyncio.sleep(0.02)
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=30) as http:
            # For tests that stop the server themselves.
            http.uvicorn, http.uvicorn_task = server, task  # type: ignore[attr-defined]
            yield http
    finally:
        server.should_exit = True
        await task


@pytest.fixture
async def client(settings: Settings, unused_tcp_port: int) -> AsyncIterator[httpx.AsyncClient]:
    async for http in serve(settings, unused_tcp_port):
        yield http


@pytest.fixture
async def fast_client(settings: Settings, unused_tcp_port: int) -> AsyncIterator[httpx.AsyncClient]:
    """The app with a one-second statement bound, so a stall shows within the test."""
    bounded = msgspec.structs.replace(settings, db_command_timeout=1.0, db_acquire_timeout=1.0)
    async for http in serve(bounded, unused_tcp_port):
        yield http


async def new_citizen(client: httpx.AsyncClient) -> dict[str, str]:
    response = await client.post(
        "/v1/auth/device-sessions", json={"install_id": f"test-install-{uuid.uuid4().hex}", "platform": "android"}
    )
    assert response.status_code == 201, response.text
    return {"authorization": f"Bearer {response.json()['access_token']}"}


async def a_service(client: httpx.AsyncClient) -> int:
    response = await client.get("/v1/communes/00004/services", params={"limit": 1})
    return int(response.json()["items"][0]["id"])


async def test_a_terminated_read_is_503_and_the_next_request_works(
    client: httpx.AsyncClient, db: asyncpg.Connection, observer: asyncpg.Connection
) -> None:
    citizen_headers = await new_citizen(client)
    async with db.transaction():
        await db.execute("lock table ratings in access exclusive mode")
        pending = asyncio.ensure_future(client.get("/v1/me/ratings", headers=citizen_headers))
        await wait_until_blocked(observer)
        started = time.monotonic()
        assert await observer.fetchval(TERMINATE_BLOCKED_SQL) == 1
        response = await pending
        assert time.monotonic() - started < 1  # the fault is answered at once, not after a timeout
    assert_database_unavailable(response)
    # The pool replaces the dropped connection: the API is back at once.
    assert (await client.get("/v1/me/ratings", headers=citizen_headers)).status_code == 200


async def test_a_rating_cut_off_mid_write_is_503_then_stored_once_on_retry(
    client: httpx.AsyncClient, db: asyncpg.Connection, observer: asyncpg.Connection
) -> None:
    citizen_headers = await new_citizen(client)
    sid, key = await a_service(client), uuid.uuid4().hex
    headers, body = {**citizen_headers, "idempotency-key": key}, rating(sid)
    async with db.transaction():
        await db.execute("lock table ratings in exclusive mode")  # reads pass, inserts wait
        pending = asyncio.ensure_future(client.post("/v1/ratings", json=body, headers=headers))
        await wait_until_blocked(observer)
        started = time.monotonic()
        assert await observer.fetchval(TERMINATE_BLOCKED_SQL) == 1
        response = await pending
        assert time.monotonic() - started < 1
    assert_database_unavailable(response)
    assert await db.fetchval("select count(*) from ratings where idempotency_key = $1", key) == 0
    retried = await client.post("/v1/ratings", json=body, headers=headers)
    assert retried.status_code == 201, retried.text
    again = await client.post("/v1/ratings", json=body, headers=headers)
    assert again.status_code == 201 and again.headers["idempotent-replayed"] == "true"
    assert again.json()["id"] == retried.json()["id"]
    assert await db.fetchval("select count(*) from ratings where idempotency_key = $1", key) == 1


async def test_a_stalled_statement_is_503_within_the_bound(
    fast_client: httpx.AsyncClient, db: asyncpg.Connection
) -> None:
    citizen_headers = await new_citizen(fast_client)
    sid = await a_service(fast_client)
    async with db.transaction():
        await db.execute("lock table ratings in access exclusive mode")
        started = time.monotonic()
        read, write = await asyncio.gather(
            fast_client.get("/v1/me/ratings", headers=citizen_headers),
            fast_client.post(
                "/v1/ratings", json=rating(sid), headers={**citizen_headers, "idempotency-key": uuid.uuid4().hex}
            ),
        )
        elapsed = time.monotonic() - started
    assert_database_unavailable(read)
    assert_database_unavailable(write)
    # Statement bound 1 s, acquire bound 1 s: the answers come well before the lock is gone.
    assert elapsed < 4, elapsed
    assert (await fast_client.get("/v1/me/ratings", headers=citizen_headers)).status_code == 200
