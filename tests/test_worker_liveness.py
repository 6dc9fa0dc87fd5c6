"""Worker liveness: the heartbeat, /health/ready's worker field, the background gauges at
/metrics, the reconnect backoff, and `dev`'s restart of a worker that exits."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import re
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import msgspec
import pytest
from litestar.testing import AsyncTestClient

from backend import worker_runner
from backend.app import create_app
from backend.db import create_pool
from backend.heartbeat import Heartbeat, WorkerStatus, process_gone
from backend.push import LogPush
from backend.services.notifications import LEASE_SECONDS, deliver_due, queue_notifications
from backend.settings import Settings
from backend.worker_runner import RECONNECT_CAP_SECONDS, keep_running, reconnect_delay
from tests.fcm_server import FakeFcm
from tests.test_health import METRICS_TOKEN
from tests.test_push import NO_QUIET_HOURS, add_device, alert_push, make_alert, user_id


@pytest.fixture
async def pool(settings: Settings) -> AsyncIterator[asyncpg.Pool]:
    pool = await create_pool(settings)
    yield pool
    await pool.close()


@pytest.mark.parametrize(
    ("failures", "rng", "expected"),
    [
        (0, 1.0, 0.5),
        (0, 0.0, 0.25),
        (1, 1.0, 1.0),
        (3, 1.0, 4.0),
        (4, 1.0, RECONNECT_CAP_SECONDS),
        (40, 0.0, RECONNECT_CAP_SECONDS / 2),
    ],
)
def test_reconnect_delay(failures: int, rng: float, expected: float) -> None:
    assert reconnect_delay(failures, lambda: rng) == pytest.approx(expected)


def finished_pid() -> int:
    """The pid of a process that has come and gone."""
    finished = subprocess.Popen([sys.executable, "-c", "pass"])
    finished.wait()
    return finished.pid


def test_a_process_is_gone_when_it_no_longer_runs_or_its_pid_is_ours() -> None:
    assert not process_gone(os.getppid(), os.getpid())
    assert process_gone(os.getpid(), os.getpid())  # our pid in another worker's row: reused
    assert process_gone(finished_pid(), os.getpid())


@pytest.mark.parametrize(
    ("status", "summary"),
    [
        (dict(live=2, connected=1, beat_age=1.0), "ok"),
        (dict(live=1, connected=0, beat_age=1.0), "reconnecting: alive, waiting for Redis"),
        (dict(live=0, connected=0, beat_age=94.4), "stale: last heartbeat 94 s ago"),
        (dict(live=0, connected=0, beat_age=None), "missing: no worker has reported"),
    ],
)
def test_worker_summary(status: dict[str, Any], summary: str) -> None:
    assert WorkerStatus(**status, last_beat=None, last_sweep=None, last_relay=None).summary() == summary


async def test_ready_reports_a_stale_worker_and_503_only_when_asked(
    settings: Settings, pool: asyncpg.Pool, db: asyncpg.Connection
) -> None:
    beat = Heartbeat(pool, uuid.uuid4())
    beat.redis_connected = True
    await beat.beat()
    async with AsyncTestClient(app=create_app(settings)) as client:
        ready = await client.get("/health/ready")
        assert (ready.status_code, ready.json()["status"], ready.json()["worker"]) == (200, "ok", "ok")
        # The worker stops beating (killed): once its beat is older than WORKER_STALE_AFTER...
        await db.execute("update worker_heartbeats set beat_at = now() - interval '95 seconds'")
        ready = await client.get("/health/ready")
        assert ready.status_code == 200  # ...the API is still ready to serve,
        assert ready.json()["status"] == "degraded"  # but says so.
        assert re.fullmatch(r"stale: last heartbeat 9[4-6] s ago", ready.json()["worker"])
    strict = msgspec.structs.replace(settings, ready_requires_worker=True)
    async with AsyncTestClient(app=create_app(strict)) as client:
        ready = await client.get("/health/ready")
        assert ready.status_code == 503 and ready.json()["status"] == "unavailable"
        await beat.beat()  # it beats again
        ready = await client.get("/health/ready")
        assert ready.status_code == 200 and ready.json()["worker"] == "ok"
        await beat.forget()  # a clean stop: no worker at all
        ready = await client.get("/health/ready")
        assert ready.status_code == 503 and ready.json()["worker"] == "missing: no worker has reported"


def gauge(text: str, name: str) -> float:
    match = re.search(rf"^{name} (\S+)$", text, re.MULTILINE)
    assert match, f"{name} not exposed"
    return float(match[1])


async def test_metrics_show_the_outbox_backlog_and_the_workers_last_runs(
    settings: Settings, pool: asyncpg.Pool, db: asyncpg.Connection
) -> None:
    alert, chair = await make_alert(db), await user_id(db)
    await add_device(db, chair, quiet=NO_QUIET_HOURS)
    ids = await queue_notifications(db, [alert_push(alert, chair, key=f"metrics:{i}") for i in range(3)])
    # Nobody delivered them for two minutes: the oldest has been due that long.
    await db.execute(
        "update notification_outbox set created_at = now() - interval '2 minutes', "
        "next_attempt_at = now() - interval '2 minutes', not_before = now() - interval '2 minutes' where id = $1",
        ids[0],
    )
    scraper = {"authorization": f"Bearer {METRICS_TOKEN}"}  # /metrics is not public
    async with AsyncTestClient(
        app=create_app(msgspec.structs.replace(settings, metrics_token=METRICS_TOKEN))
    ) as client:
        text = (await client.get("/metrics", headers=scraper)).text
        assert gauge(text, "commune_pulse_outbox_pending") == 3
        assert gauge(text, "commune_pulse_outbox_due") == 3
        assert 119 <= gauge(text, "commune_pulse_outbox_oldest_pending_age_seconds") <= 125
        assert 119 <= gauge(text, "commune_pulse_outbox_oldest_due_wait_seconds") <= 125
        assert gauge(text, "commune_pulse_workers_live") == 0
        assert gauge(text, "commune_pulse_worker_last_relay_timestamp_seconds") == 0

        # A worker beats and relays: the backlog is gone, the times are now.
        beat = Heartbeat(pool, uuid.uuid4())
        await beat.beat()
        report = await deliver_due(pool, LogPush(), holder=beat.worker_id)
        assert report.sent == 3
        await beat.mark("relay")
        await beat.mark("sweep")
        text = (await client.get("/metrics", headers=scraper)).text
        now = datetime.now(UTC).timestamp()
        assert gauge(text, "commune_pulse_outbox_pending") == 0
        assert gauge(text, "commune_pulse_outbox_oldest_due_wait_seconds") == 0
        assert gauge(text, "commune_pulse_workers_live") == 1
        for name in ("heartbeat", "relay", "sweep"):
            assert abs(gauge(text, f"commune_pulse_worker_last_{name}_timestamp_seconds") - now) < 5


async def test_a_dead_workers_pushes_are_released_by_the_next_worker_on_its_host(
    pool: asyncpg.Pool, db: asyncpg.Connection
) -> None:
    alert, chair = await make_alert(db), await user_id(db)
    await add_device(db, chair, quiet=NO_QUIET_HOURS)
    (row,) = await queue_notifications(db, [alert_push(alert, chair)])
    # A worker claimed the row and died (its process is gone) before recording anything.
    gone = finished_pid()
    dead, live = uuid.uuid4(), uuid.uuid4()
    host = Heartbeat(pool, live).host
    await db.execute("insert into worker_heartbeats (worker_id, host, pid) values ($1, $2, $3)", dead, host, gone)
    await db.execute(
        "insert into worker_heartbeats (worker_id, host, pid) values ($1, 'elsewhere|boot|1', $2)",
        uuid.uuid4(),
        gone,
    )
    await db.execute(
        "update notification_outbox set lease_holder = $1, lease_token = $2, "
        "next_attempt_at = now() + interval '15 seconds' where id = $3",
        dead,
        uuid.uuid4(),
        row,
    )
    assert (await deliver_due(pool, LogPush())).rows == 0  # held

    assert await Heartbeat(pool, live).reclaim_dead() == [dead]
    assert (await deliver_due(pool, LogPush())).sent == 1  # released at once
    # The other host's worker is not judged from here; the dead one's row is gone.
    hosts = await db.fetch("select host from worker_heartbeats")
    assert [h["host"] for h in hosts] == ["elsewhere|boot|1"]


async def test_a_row_held_by_a_worker_nobody_can_judge_is_due_again_after_the_lease(
    pool: asyncpg.Pool, db: asyncpg.Connection
) -> None:
    alert, chair = await make_alert(db), await user_id(db)
    device = await add_device(db, chair, quiet=NO_QUIET_HOURS)
    (row,) = await queue_notifications(db, [alert_push(alert, chair)])
    # Claimed by a worker on another host, which then went silent before sending anything.
    claimed_at = datetime.now(UTC)
    await db.execute(
        "update notification_outbox set lease_holder = $1, lease_token = $2, "
        "next_attempt_at = $3::timestamptz + make_interval(secs => $4) where id = $5",
        uuid.uuid4(),
        uuid.uuid4(),
        claimed_at,
        float(LEASE_SECONDS),
        row,
    )
    log_push = LogPush()
    assert (await deliver_due(pool, log_push, now=claimed_at + timedelta(seconds=LEASE_SECONDS - 1))).rows == 0
    report = await deliver_due(pool, log_push, now=claimed_at + timedelta(seconds=LEASE_SECONDS))
    assert (report.rows, report.sent, report.finished) == (1, 1, 1)
    assert [m.device_id for m in log_push.sent] == [device]
    finished = await db.fetchrow("select status, lease_holder, lease_token from notification_outbox where id = $1", row)
    assert tuple(finished) == ("delivered", None, None)


async def test_a_round_that_stalls_past_its_lease_repeats_sends_but_never_finishes_anothers_row(
    fcm_settings: Settings,
    pool: asyncpg.Pool,
    db: asyncpg.Connection,
    fcm_server: FakeFcm,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The residual window the README names: a worker frozen past its lease (renewal off
    here) loses the row to another; the devices it had not recorded get the push twice,
    and each device's answers are all kept, but only the round holding the row finishes it."""
    import backend.services.notifications as notifications
    from backend.push import create_push_provider

    monkeypatch.setattr(notifications, "LEASE_SECONDS", 0.5)
    monkeypatch.setattr(notifications, "LEASE_RENEW_SECONDS", 3600)
    alert, chair = await make_alert(db), await user_id(db)
    devices = [await add_device(db, chair, quiet=NO_QUIET_HOURS) for _ in range(3)]
    (row,) = await queue_notifications(db, [alert_push(alert, chair)])
    fcm_server.delay = 3.0
    provider = create_push_provider(fcm_settings)
    rival = LogPush()
    try:
        stalled = asyncio.create_task(deliver_due(pool, provider))
        await claimed(db, row)
        for _ in range(25):  # past the lease, the sends still in flight, another worker takes it
            await asyncio.sleep(0.1)
            taken = await deliver_due(pool, rival)
            if taken.rows:
                break
        assert not stalled.done()
        assert (taken.rows, taken.sent, taken.finished) == (1, 3, 1)
        late = await stalled
    finally:
        await provider.close()
    assert (late.rows, late.sent, late.finished) == (1, 3, 0)  # sent, recorded, not finished
    outcomes = await db.fetch(
        "select device_id, outcome from notification_deliveries where outbox_id = $1 order by device_id, outcome", row
    )
    assert [(r["device_id"], r["outcome"]) for r in outcomes] == [
        (device, outcome) for device in devices for outcome in ("logged", "sent")
    ]
    assert await db.fetchval("select status from notification_outbox where id = $1", row) == "delivered"


async def test_a_lease_is_renewed_while_a_slow_fan_out_works(
    fcm_settings: Settings,
    pool: asyncpg.Pool,
    db: asyncpg.Connection,
    fcm_server: FakeFcm,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import backend.services.notifications as notifications
    from backend.push import create_push_provider

    monkeypatch.setattr(notifications, "LEASE_SECONDS", 1.0)
    monkeypatch.setattr(notifications, "LEASE_RENEW_SECONDS", 0.3)
    monkeypatch.setattr(notifications, "SEND_CHUNK", 1)
    alert, chair = await make_alert(db), await user_id(db)
    for _ in range(4):
        await add_device(db, chair, quiet=NO_QUIET_HOURS)
    (row,) = await queue_notifications(db, [alert_push(alert, chair)])
    fcm_server.delay = 0.6  # four sends take 2.4 s, more than twice the lease
    provider = create_push_provider(fcm_settings)
    rival = LogPush()
    try:
        first = asyncio.create_task(deliver_due(pool, provider))
        await claimed(db, row)
        for _ in range(8):  # a second worker keeps trying to take the row meanwhile
            await asyncio.sleep(0.3)
            await deliver_due(pool, rival)
        report = await first
    finally:
        await provider.close()
    assert report.sent == 4 and list(rival.sent) == []
    assert await db.fetchval("select status from notification_outbox where id = $1", row) == "delivered"


async def claimed(db: asyncpg.Connection, row: int) -> None:
    """Wait until a round holds the row."""
    for _ in range(100):
        if await db.fetchval("select lease_token is not null from notification_outbox where id = $1", row):
            return
        await asyncio.sleep(0.02)
    raise AssertionError("the row was never claimed")


def swap_text(path: Path, text: str) -> str:
    """Write `text` into the file; return what it held."""
    old = path.read_text()
    path.write_text(text)
    return old


async def test_dev_restarts_a_worker_that_exits(
    fcm_settings: Settings, db: asyncpg.Connection, fcm_server: FakeFcm, caplog: pytest.LogCaptureFixture
) -> None:
    # The service-account file is broken: the worker cannot start, and ends...
    assert fcm_server.credentials_path is not None
    path = Path(fcm_server.credentials_path)
    good = swap_text(path, "{not json")
    with caplog.at_level(logging.INFO, logger="backend.worker_runner"):
        running = asyncio.create_task(keep_running(fcm_settings))
        try:
            for _ in range(100):
                await asyncio.sleep(0.1)
                if sum(r.getMessage() == "worker exited; restarting it" for r in caplog.records) >= 2:
                    break
            else:
                raise AssertionError("the worker was not restarted")
            assert await db.fetchval("select count(*) from worker_heartbeats") == 0
            # ...until the file is fixed: the next restart runs, and beats.
            swap_text(path, good)
            for _ in range(100):
                await asyncio.sleep(0.1)
                if await db.fetchval("select count(*) from worker_heartbeats where redis_connected"):
                    break
            else:
                raise AssertionError("the restarted worker never connected")
        finally:
            running.cancel()
            with pytest.raises(asyncio.CancelledError):
                await running
    assert await db.fetchval("select count(*) from worker_heartbeats") == 0
    assert any(r.getMessage() == "worker restart scheduled" for r in caplog.records)


async def test_a_connection_that_never_comes_back_does_not_keep_a_stopping_worker_alive(
    fcm_settings: Settings, db: asyncpg.Connection, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The pool's close() waits for every connection to be released; one that a task never
    gives back used to hold a stopping worker forever. It is closed after POOL_CLOSE_SECONDS."""
    monkeypatch.setattr(worker_runner, "POOL_CLOSE_SECONDS", 1.0)
    runner = worker_runner.WorkerRunner(fcm_settings)
    running = asyncio.create_task(runner.run())
    try:
        for _ in range(100):
            await asyncio.sleep(0.1)
            if runner._worker is not None and runner._worker.main_task is not None:
                break
        else:
            raise AssertionError("the worker never started")
        await runner._worker.ctx["pool"].acquire()  # never released
        with caplog.at_level(logging.WARNING, logger="backend.worker_runner"):
            runner.stop()
            await asyncio.wait_for(running, 15)
        assert "did not come back" in caplog.text
    finally:
        running.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await running


class AbsorbingWorker:
    """An arq Worker whose poll loop ends quietly when cancelled, as arq's can when the
    cancel lands in one of its Redis calls: the runner sees async_run() return normally."""

    def __init__(self, redis: Any) -> None:
        self.main_task: asyncio.Task[None] | None = None
        self.tasks: dict[str, asyncio.Task[Any]] = {}
        self._pool = redis  # the runner's Redis client, closed by the runner as arq's
        self.allow_pick_jobs = True
        self.health_check_key = "absorbing"
        self.absorb = True

    async def async_run(self) -> None:
        async def main() -> None:
            try:
                await asyncio.sleep(3600)
            except asyncio.CancelledError:
                if not self.absorb:
                    raise

        self.main_task = asyncio.create_task(main())
        await self.main_task


async def test_dev_stops_its_worker_even_when_arq_absorbs_the_cancel(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`dev` stops its in-process worker by cancelling it. Twice in CI the cancel reached
    arq's poll loop, which ended without raising; the runner then connected again and
    `dev` never exited (test_lifecycle's SIGTERM timed out)."""
    made: list[AbsorbingWorker] = []

    def absorbing(*args: Any, **kwargs: Any) -> AbsorbingWorker:
        made.append(AbsorbingWorker(kwargs["redis"]))
        return made[-1]

    monkeypatch.setattr(worker_runner, "create_worker", absorbing)
    running = asyncio.create_task(keep_running(settings))
    for _ in range(100):
        await asyncio.sleep(0.05)
        if made and made[-1].main_task is not None:
            break
    else:
        raise AssertionError("the worker never started")
    running.cancel()
    done, _ = await asyncio.wait({running}, timeout=15)
    if not done:  # the cancel was absorbed: stop it for good before failing
        for worker in made:
            worker.absorb = False
        while not running.done():
            running.cancel()
            await asyncio.sleep(0.1)
        raise AssertionError(f"the cancelled worker went on running ({len(made)} workers made)")
    with pytest.raises(asyncio.CancelledError):
        await running
    assert len(made) == 1
