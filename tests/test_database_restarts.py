"""A PostgreSQL of this test's own, restarted and frozen under load, behind the real API.

Ratings are sent by concurrent phones that retry with the same Idempotency-Key until they
get an answer, as the app does, while PostgreSQL is restarted (`pg_ctl restart -m fast`)
and later frozen (SIGSTOP of the postmaster and every backend, then SIGCONT). Nothing may
answer 500; every acknowledged rating is stored exactly once; nothing unacknowledged
lingers; frozen, requests answer 503 within DB_ACQUIRE_TIMEOUT + DB_COMMAND_TIMEOUT.
The machine's shared PostgreSQL is never touched."""

from __future__ import annotations

import asyncio
import contextlib
import signal
import subprocess
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import asyncpg
import httpx
import psutil
import pytest

from backend import migrations
from backend.db import connect, create_pool, pooled, transaction
from backend.db_faults import is_database_fault
from backend.embedded import with_database
from backend.seed.demo import seed_demo_accounts
from backend.seed.reference import load_reference
from backend.settings import Settings
from tests.conftest import FEEDBACK_KEYS, FINGERPRINT_KEYS, JWT_SECRET
from tests.test_database_faults import new_citizen, serve

ACQUIRE, COMMAND = 1.0, 2.0  # the bound under test: a frozen database answers 503 within 3 s


class OwnPostgres:
    """An embedded PostgreSQL (pgserver wheel) in a temporary folder, restartable; reached
    through its Unix socket, or over TCP on a free port of its own (as in production)."""

    def __init__(self, folder: Path, tcp_port: int | None = None) -> None:
        import pgserver

        self.server = pgserver.get_server(folder, cleanup_mode="stop")
        self.folder = folder
        self.url = self.server.get_uri()
        if tcp_port is not None:
            # Listening on loopback TCP too; restarts keep these options (postmaster.opts).
            self.pg_ctl("-m", "fast", "-o", f"-h 127.0.0.1 -p {tcp_port} -k {folder}", "restart")
            self.url = f"postgresql://postgres@127.0.0.1:{tcp_port}/postgres"

    def pg_ctl(self, *args: str) -> None:
        from pgserver._commands import POSTGRES_BIN_PATH

        # The server's output goes to its log file, never to a pipe of ours (pg_ctl would
        # wait for the pipe to close).
        command = [str(POSTGRES_BIN_PATH / "pg_ctl"), "-D", str(self.folder), "-l", str(self.folder / "log"), "-w"]
        done = subprocess.run(
            [*command, *args],
            user=self.server.system_user,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            timeout=60,
            check=False,
        )
        assert done.returncode == 0, f"pg_ctl {args}: {done.stderr.decode()}"

    def postmaster(self) -> psutil.Process:
        pid = int((self.folder / "postmaster.pid").read_text().split()[0])
        return psutil.Process(pid)

    def processes(self) -> list[psutil.Process]:
        postmaster = self.postmaster()
        return [postmaster, *postmaster.children(recursive=True)]

    def stop(self) -> None:
        if (self.folder / "postmaster.pid").exists():
            self.pg_ctl("-m", "fast", "stop")
        self.server.cleanup()


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def signal_all(processes: list[psutil.Process], signum: int) -> None:
    for process in processes:
        with contextlib.suppress(psutil.NoSuchProcess):  # a backend that ended meanwhile
            process.send_signal(signum)


@pytest.fixture(params=["unix", "tcp"])
def own_postgres(request: pytest.FixtureRequest, server_dir: Path) -> Iterator[OwnPostgres]:
    # Restarting, a server on a Unix socket has no socket file (FileNotFoundError); on TCP
    # it refuses connections (ConnectionRefusedError). Both must be 503s.
    port = free_port() if request.param == "tcp" else None
    server = OwnPostgres(server_dir / "pg", port)
    try:
        yield server
    finally:
        if (server.folder / "postmaster.pid").exists():
            signal_all(server.processes(), signal.SIGCONT)  # never leave it frozen
        server.stop()


@pytest.fixture
async def database_url(own_postgres: OwnPostgres) -> str:
    admin = await asyncpg.connect(own_postgres.url)
    try:
        await admin.execute("create database faults encoding 'UTF8' lc_collate 'C' lc_ctype 'C' template template0")
    finally:
        await admin.close()
    url = with_database(own_postgres.url, "faults")
    conn = await connect(Settings(database_url=url))
    try:
        await migrations.migrate(conn)
        await load_reference(conn)
        await seed_demo_accounts(conn)
    finally:
        await conn.close()
    return url


@pytest.fixture
async def api(
    database_url: str, redis_url: str, tmp_path: Path, unused_tcp_port: int
) -> AsyncIterator[httpx.AsyncClient]:
    settings = Settings(
        database_url=database_url,
        redis_url=redis_url,
        data_dir=str(tmp_path),
        jwt_secret=JWT_SECRET,
        feedback_keys=FEEDBACK_KEYS,
        fingerprint_keys=FINGERPRINT_KEYS,
        redis_key_prefix=f"cpfault{uuid.uuid4().hex[:8]}",
        rating_daily_limit=100_000,
        db_acquire_timeout=ACQUIRE,
        db_command_timeout=COMMAND,
    )
    async for http in serve(settings, unused_tcp_port):
        yield http


class Phones:
    """Phones that each send ratings one after another, retrying a rating with the same key
    and body until it is answered 2xx, as the app's outbox does."""

    def __init__(self, http: httpx.AsyncClient, service_id: int) -> None:
        self.http, self.service_id = http, service_id
        self.statuses: Counter[int] = Counter()
        self.acknowledged: list[str] = []
        self.attempted: set[str] = set()
        self.stopping = asyncio.Event()

    async def rate_until_answered(self, headers: dict[str, str], key: str, *, patience: float = 30) -> float:
        """Seconds until 2xx; every answer's status is counted."""
        served = (datetime.now(UTC) - timedelta(days=1)).isoformat()
        body = {"commune_service_id": self.service_id, "score": 4, "served_at": served}
        self.attempted.add(key)
        started = time.monotonic()
        while time.monotonic() - started < patience:
            try:
                response = await self.http.post("/v1/ratings", json=body, headers={**headers, "idempotency-key": key})
            except httpx.TransportError:
                await asyncio.sleep(0.1)
                continue
            self.statuses[response.status_code] += 1
            if response.status_code in (200, 201):
                self.acknowledged.append(key)
                return time.monotonic() - started
            assert response.status_code == 503, response.text
            assert response.json()["code"] == "database_unavailable" and response.headers["retry-after"]
            await asyncio.sleep(0.1)
        raise AssertionError(f"rating {key} was never answered 2xx")

    async def phone(self, headers: dict[str, str]) -> None:
        while not self.stopping.is_set():
            await self.rate_until_answered(headers, uuid.uuid4().hex)

    async def batch_phone(self, headers: dict[str, str], size: int = 5) -> None:
        """A phone flushing its queue in batches: the whole batch is resent until every item
        is answered 2xx (a batch that met the fault is a 503, or carries 503 items)."""
        while not self.stopping.is_set():
            served = (datetime.now(UTC) - timedelta(days=1)).isoformat()
            items = [
                {
                    "idempotency_key": uuid.uuid4().hex,
                    "commune_service_id": self.service_id,
                    "score": 3,
                    "served_at": served,
                }
                for _ in range(size)
            ]
            self.attempted.update(item["idempotency_key"] for item in items)
            for _ in range(300):
                try:
                    response = await self.http.post("/v1/ratings/batch", json={"items": items}, headers=headers)
                except httpx.TransportError:
                    await asyncio.sleep(0.1)
                    continue
                self.statuses[response.status_code] += 1
                if response.status_code == 200:
                    statuses = [r["status"] for r in response.json()["results"]]
                    assert set(statuses) <= {200, 201, 503}, response.text
                    if set(statuses) <= {200, 201}:
                        self.acknowledged.extend(item["idempotency_key"] for item in items)
                        break
                else:
                    assert response.status_code == 503, response.text
                await asyncio.sleep(0.1)
            else:
                raise AssertionError("a batch was never answered 2xx")

    async def reader(self, headers: dict[str, str]) -> None:
        while not self.stopping.is_set():
            response = await self.http.get("/v1/me/ratings", headers=headers, params={"limit": 5})
            self.statuses[response.status_code] += 1
            assert response.status_code in (200, 503), response.text
            await asyncio.sleep(0.02)


async def stored_counts(database_url: str) -> Counter[str]:
    conn = await asyncpg.connect(database_url)
    try:
        rows = await conn.fetch("select idempotency_key, count(*) as n from ratings group by idempotency_key")
    finally:
        await conn.close()
    return Counter({r["idempotency_key"]: r["n"] for r in rows})


async def a_service(http: httpx.AsyncClient) -> int:
    response = await http.get("/v1/communes/00004/services", params={"limit": 1})
    return int(response.json()["items"][0]["id"])


async def test_restart_and_freeze_under_load(
    api: httpx.AsyncClient, own_postgres: OwnPostgres, database_url: str
) -> None:
    phones = Phones(api, await a_service(api))
    citizens = [await new_citizen(api) for _ in range(9)]
    load = [asyncio.create_task(phones.phone(h)) for h in citizens[:5]]
    load += [asyncio.create_task(phones.batch_phone(citizens[5]))]
    load += [asyncio.create_task(phones.reader(h)) for h in citizens[6:8]]

    # A fast restart in the middle of the load.
    await asyncio.sleep(1.5)
    before = len(phones.acknowledged)
    old_postmaster = own_postgres.postmaster().pid
    await asyncio.to_thread(own_postgres.pg_ctl, "-m", "fast", "restart")
    assert own_postgres.postmaster().pid != old_postmaster
    await asyncio.sleep(2)
    phones.stopping.set()
    await asyncio.gather(*load)

    print(f"restart: {len(phones.acknowledged)} ratings acknowledged, answers {dict(phones.statuses)}")
    assert before > 0 and len(phones.acknowledged) > before  # ratings went through on both sides
    assert set(phones.statuses) <= {200, 201, 503}, phones.statuses
    assert phones.statuses[503] > 0, "the restart was not seen by any request"
    stored = await stored_counts(database_url)
    assert set(phones.acknowledged) == phones.attempted  # every rating was answered in the end
    assert len(phones.acknowledged) == len(set(phones.acknowledged))
    assert all(stored[key] == 1 for key in phones.acknowledged), "a rating was stored twice or lost"
    assert set(stored) == set(phones.acknowledged)  # nothing stored that nobody asked for

    # Frozen: every request answers 503 within the bound, none waits for the thaw.
    frozen = own_postgres.processes()
    signal_all(frozen, signal.SIGSTOP)
    try:
        started = time.monotonic()
        keys = [uuid.uuid4().hex for _ in range(3)]
        served = (datetime.now(UTC) - timedelta(days=1)).isoformat()
        body = {"commune_service_id": phones.service_id, "score": 2, "served_at": served}
        answers = await asyncio.gather(
            *(api.post("/v1/ratings", json=body, headers={**citizens[0], "idempotency-key": key}) for key in keys),
            *(api.get("/v1/me/ratings", headers=h) for h in citizens[6:8]),
            api.get("/v1/me/ratings", headers=citizens[1]),
        )
        waited = time.monotonic() - started
        print(f"frozen: {len(answers)} requests answered {[a.status_code for a in answers]} in {waited:.2f} s")
        assert [a.status_code for a in answers] == [503] * len(answers), [a.text for a in answers]
        assert all(a.json()["code"] == "database_unavailable" for a in answers)
        assert waited < ACQUIRE + COMMAND + 1.5, waited
        # Still frozen: a new request does not queue behind the stalled ones either.
        started = time.monotonic()
        late = await api.get("/v1/me/ratings", headers=citizens[2])
        assert late.status_code == 503 and time.monotonic() - started < ACQUIRE + COMMAND + 1.5
    finally:
        signal_all(frozen[::-1], signal.SIGCONT)

    # Thawed: the same keys are stored once each on retry.
    for key in keys:
        assert await phones.rate_until_answered(citizens[0], key, patience=20) < 20
    stored = await stored_counts(database_url)
    assert all(stored[key] == 1 for key in keys)


async def test_the_api_stops_promptly_while_the_database_is_frozen(
    api: httpx.AsyncClient, own_postgres: OwnPostgres
) -> None:
    citizen = await new_citizen(api)
    assert (await api.get("/v1/me/ratings", headers=citizen)).status_code == 200
    frozen = own_postgres.processes()
    signal_all(frozen, signal.SIGSTOP)
    try:
        # A request in flight on the frozen database when the stop comes.
        pending = asyncio.ensure_future(api.get("/v1/me/ratings", headers=citizen))
        await asyncio.sleep(0.3)
        server = api.uvicorn  # type: ignore[attr-defined]
        started = time.monotonic()
        server.should_exit = True  # what SIGTERM does
        answer = await pending
        await asyncio.wait_for(asyncio.shield(api.uvicorn_task), 60)  # type: ignore[attr-defined]
        stopped_in = time.monotonic() - started
        print(f"stopped in {stopped_in:.2f} s with the database frozen")
        assert answer.status_code == 503
        assert stopped_in < ACQUIRE + COMMAND + 3, stopped_in
    finally:
        signal_all(frozen[::-1], signal.SIGCONT)


async def test_after_a_statement_timeout_the_rest_of_the_request_fails_fast(
    own_postgres: OwnPostgres, database_url: str
) -> None:
    """A savepoint's ROLLBACK TO, the transaction's ROLLBACK, the release: once a statement
    has timed out on a frozen server, none of them waits on it again."""
    pool = await create_pool(Settings(database_url=database_url), command_timeout=COMMAND)
    try:
        async with pooled(pool, ACQUIRE) as conn:
            assert await conn.fetchval("select 1") == 1
        frozen = own_postgres.processes()
        try:
            with pytest.raises(Exception) as caught:
                async with pooled(pool, ACQUIRE) as conn, transaction(conn):
                    async with conn.transaction():  # a savepoint, as some services take
                        signal_all(frozen, signal.SIGSTOP)
                        started = time.monotonic()
                        await conn.fetchval("select count(*) from ratings")
            elapsed = time.monotonic() - started
        finally:
            signal_all(frozen[::-1], signal.SIGCONT)
        print(f"savepoint request failed in {elapsed:.2f} s: {caught.value!r}")
        assert is_database_fault(caught.value)
        assert elapsed < COMMAND + 0.8, elapsed  # the statement's bound, then nothing waits
        async with pooled(pool, ACQUIRE) as conn:  # the pool has a good connection again
            assert await conn.fetchval("select 1") == 1
    finally:
        await pool.close()
