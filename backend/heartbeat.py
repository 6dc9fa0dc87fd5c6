"""Worker liveness, written by the worker and read by the API.

Each worker process beats its row of worker_heartbeats every HEARTBEAT_SECONDS, whether or
not Redis answers (the row says which), and records when it last ran the minute sweep and
the outbox relay. /health/ready and /metrics read the rows: a worker whose beat is older
than WORKER_STALE_AFTER is dead or stuck.

The rows also tell a starting worker which earlier workers on its host are dead (their
process is gone), so the pushes they held are released at once (see
backend.services.notifications.release_leases) rather than after the lease.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import uuid
from pathlib import Path
from typing import Any, Literal

import asyncpg
import msgspec

from backend.services.notifications import release_leases

log = logging.getLogger(__name__)

HEARTBEAT_SECONDS = 5.0

BEAT_SQL = """
insert into worker_heartbeats (worker_id, host, pid, redis_connected) values ($1, $2, $3, $4)
on conflict (worker_id) do update set beat_at = now(), redis_connected = excluded.redis_connected
"""

# Rows of workers nobody stopped cleanly and nobody on their host restarted: kept a day for
# the curious, then dropped by whichever worker beats.
FORGET_SQL = "delete from worker_heartbeats where beat_at < now() - interval '1 day'"

MARK_SQL = {
    "sweep": "update worker_heartbeats set last_sweep_at = now() where worker_id = $1",
    "relay": "update worker_heartbeats set last_relay_at = now() where worker_id = $1",
}

SAME_HOST_SQL = "select worker_id, pid from worker_heartbeats where host = $1 and worker_id <> $2"

DELETE_SQL = "delete from worker_heartbeats where worker_id = any($1::uuid[])"

# What the API reports: the freshest beat decides.
STATUS_SQL = """
select count(*) filter (where beat_at > now() - make_interval(secs => $1)) as live,
       count(*) filter (where beat_at > now() - make_interval(secs => $1) and redis_connected) as connected,
       extract(epoch from now() - max(beat_at))::float8 as beat_age,
       extract(epoch from max(beat_at))::float8 as last_beat,
       extract(epoch from max(last_sweep_at))::float8 as last_sweep,
       extract(epoch from max(last_relay_at))::float8 as last_relay
from worker_heartbeats
"""


def host_identity() -> str:
    """The hostname, boot id and PID namespace: pids of two processes are comparable only
    when all three match (a container sharing the host's name has its own pid namespace)."""
    parts = [socket.gethostname()]
    try:
        parts.append(Path("/proc/sys/kernel/random/boot_id").read_text().strip())
    except OSError:
        parts.append("")
    try:
        parts.append(str(os.stat("/proc/self/ns/pid").st_ino))
    except OSError:
        parts.append("")
    return "|".join(parts)


def process_gone(pid: int, own_pid: int) -> bool:
    """Whether the process `pid` of this host (and pid namespace) no longer runs. Our own pid
    in another worker's row means that worker is gone (a container's pid 1, restarted)."""
    if pid == own_pid:
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:  # another user's process: alive
        return False
    return False


class Heartbeat:
    """One worker process's row, beaten by `run()` until cancelled."""

    def __init__(self, pool: asyncpg.Pool, worker_id: uuid.UUID) -> None:
        self.pool = pool
        self.worker_id = worker_id
        self.host = host_identity()
        self.redis_connected = False
        self._failing = False

    async def beat(self) -> None:
        await self.pool.execute(BEAT_SQL, self.worker_id, self.host, os.getpid(), self.redis_connected)

    async def run(self) -> None:
        """Beat every HEARTBEAT_SECONDS; a PostgreSQL outage is logged once and ridden out."""
        beats = 0
        while True:
            try:
                await self.beat()
                if beats % 720 == 0:  # hourly
                    await self.pool.execute(FORGET_SQL)
                beats += 1
                if self._failing:
                    log.info("worker heartbeat written again")
                    self._failing = False
            except (asyncpg.PostgresError, asyncpg.InterfaceError, OSError, TimeoutError) as exc:
                if not self._failing:
                    log.warning("worker heartbeat not written", extra={"error": repr(exc)})
                    self._failing = True
            await asyncio.sleep(HEARTBEAT_SECONDS)

    async def mark(self, what: Literal["sweep", "relay"]) -> None:
        await self.pool.execute(MARK_SQL[what], self.worker_id)

    async def reclaim_dead(self) -> list[uuid.UUID]:
        """Release the pushes held by workers of this host whose process is gone, and drop
        their rows; returns their ids."""
        async with self.pool.acquire() as conn:
            rows = await conn.fetch(SAME_HOST_SQL, self.host, self.worker_id)
            dead = [r["worker_id"] for r in rows if process_gone(r["pid"], os.getpid())]
            if not dead:
                return []
            async with conn.transaction():
                released = await release_leases(conn, dead)
                await conn.execute(DELETE_SQL, dead)
        log.info("dead workers' pushes released", extra={"workers": [str(d) for d in dead], "rows": released})
        return dead

    async def forget(self) -> None:
        """A clean stop: the row goes (a stopped worker is not a stale one)."""
        await self.pool.execute(DELETE_SQL, [self.worker_id])


class WorkerStatus(msgspec.Struct, frozen=True, kw_only=True):
    live: int
    """Workers whose last beat is fresh."""
    connected: int
    """Of those, the ones connected to Redis."""
    beat_age: float | None
    last_beat: float | None
    last_sweep: float | None
    last_relay: float | None
    """Unix times; None when no worker ever reported one."""

    def summary(self) -> str:
        """For /health/ready: ok, reconnecting (alive, waiting for Redis), stale or missing."""
        if self.live:
            return "ok" if self.connected else "reconnecting: alive, waiting for Redis"
        if self.beat_age is None:
            return "missing: no worker has reported"
        return f"stale: last heartbeat {self.beat_age:.0f} s ago"


async def worker_status(conn: Any, stale_after: float) -> WorkerStatus:
    row = await conn.fetchrow(STATUS_SQL, float(stale_after))
    return msgspec.convert(dict(row), WorkerStatus)
