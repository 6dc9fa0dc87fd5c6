"""The `commune-pulse` command."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import signal
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import asyncpg
import msgspec

from backend import backup, bootstrap, migrations
from backend.db import connect
from backend.embedded import EmbeddedServerError, servers_for
from backend.lifecycle import STOP_SIGNALS, Stopped, hangup_as_terminate, ignore_stop_signals, install_stop_handlers
from backend.log import configure_logging
from backend.ports import PortBusyError, ensure_port_free
from backend.security import jwt_secret
from backend.services.rollups import rebuild_rollups
from backend.settings import Settings, SettingsError, settings_table

OPENAPI_PATH = Path("openapi/openapi.json")


async def prepare_database(settings: Settings, *, reference: bool, demo: bool) -> list[str]:
    """Migrate, then load what was asked for; return what was done, for the user."""
    from backend.seed.demo import seed_demo_accounts, seed_demo_history
    from backend.seed.reference import load_reference

    done = []
    conn = await connect(settings)
    try:
        applied = await migrations.migrate(conn)
        done.append(f"migrations applied: {len(applied)}")
        if reference or demo:
            changed = await load_reference(conn)
            done.append("reference data changed: " + ", ".join(f"{k} {v}" for k, v in changed.items()))
        if demo:
            accounts = await seed_demo_accounts(conn)
            history = await seed_demo_history(conn)
            done.append(
                f"demo accounts {'loaded' if accounts else 'already there'}, "
                f"demo history {'loaded' if history else 'already there'}"
            )
    finally:
        await conn.close()
    return done


def cmd_migrate(settings: Settings, args: argparse.Namespace) -> int:
    with servers_for(settings) as resolved:
        for line in asyncio.run(prepare_database(resolved, reference=False, demo=False)):
            print(line)
    return 0


def cmd_seed(settings: Settings, args: argparse.Namespace) -> int:
    with servers_for(settings) as resolved:
        for line in asyncio.run(prepare_database(resolved, reference=True, demo=args.demo)):
            print(line)
    return 0


def cmd_rollups(settings: Settings, args: argparse.Namespace) -> int:
    async def rebuild(resolved: Settings) -> dict[str, int]:
        conn = await connect(resolved)
        try:
            return await rebuild_rollups(conn)
        finally:
            await conn.close()

    with servers_for(settings) as resolved:
        for table, rows in asyncio.run(rebuild(resolved)).items():
            print(f"{table}: {rows} rows")
    return 0


def uvicorn_options(settings: Settings) -> dict[str, Any]:
    """How every command runs uvicorn. proxy_headers off: uvicorn must not rewrite the
    client from X-Forwarded-For; who the client is is decided once, by
    backend.client_address with TRUSTED_PROXIES."""
    return {
        "host": settings.host,
        "port": settings.port,
        "log_config": None,
        "access_log": False,
        "proxy_headers": False,
    }


def cmd_serve(settings: Settings, args: argparse.Namespace) -> int:
    import uvicorn

    from backend.app import create_app
    from backend.crypto import feedback_keys_env, fingerprint_keys_env

    ensure_port_free(settings.host, settings.port)
    with servers_for(settings) as resolved:
        asyncio.run(prepare_database(resolved, reference=False, demo=False))
        options = uvicorn_options(resolved)
        if resolved.api_workers == 1:
            server = uvicorn.Server(uvicorn.Config(create_app(resolved), **options))
            with hangup_as_terminate():
                server.run()
        else:
            # Worker processes build their app from the environment: hand them the servers.
            os.environ.update(
                DATABASE_URL=resolved.database_url or "",
                REDIS_URL=resolved.redis_url or "",
                JWT_SECRET=jwt_secret(resolved),
                FEEDBACK_KEYS=feedback_keys_env(resolved),
                FINGERPRINT_KEYS=fingerprint_keys_env(resolved),
            )
            _run_api_processes(
                uvicorn.Config("backend.app:app_from_env", factory=True, workers=resolved.api_workers, **options)
            )
    return 0


def _run_api_processes(config: Any) -> None:
    """uvicorn's process supervisor, except that SIGHUP stops it like SIGTERM (uvicorn's
    own restarts the processes): closing the terminal or a supervisor's SIGHUP must not
    leave the servers running. The processes ignore SIGHUP (backend.app.app_from_env):
    the supervisor stops them with SIGTERM, which drains their requests."""
    from uvicorn.supervisors import Multiprocess

    class StopOnHangup(Multiprocess):
        def handle_hup(self) -> None:
            self.handle_term()

    sock = config.bind_socket()
    try:
        StopOnHangup(config, sockets=[sock]).run()
    finally:
        sock.close()


def cmd_worker(settings: Settings, args: argparse.Namespace) -> int:
    from backend.worker_runner import run_worker_process

    with servers_for(settings) as resolved:
        asyncio.run(prepare_database(resolved, reference=False, demo=False))
        with hangup_as_terminate():
            asyncio.run(run_worker_process(resolved))  # returns once SIGINT or SIGTERM let jobs finish
        ignore_stop_signals()  # the worker's loop gave SIGINT and SIGTERM back to their defaults
    return 0


def cmd_dev(settings: Settings, args: argparse.Namespace) -> int:
    ensure_port_free(settings.host, settings.port)
    with servers_for(settings) as resolved:
        for line in asyncio.run(prepare_database(resolved, reference=True, demo=True)):
            print(line, flush=True)
        asyncio.run(_run_api_and_worker(resolved))
    return 0


async def _run_api_and_worker(settings: Settings) -> None:
    import uvicorn

    from backend.app import create_app
    from backend.worker_runner import keep_running

    server = uvicorn.Server(uvicorn.Config(create_app(settings), **uvicorn_options(settings)))
    # Restarted (with backoff, logged) whenever it ends: the API would otherwise go on
    # answering with no sweep, relay or push behind it.
    worker_task = asyncio.create_task(keep_running(settings))

    announce_task = asyncio.create_task(announce_when_ready(settings, dev_banner(settings)))
    try:
        with hangup_as_terminate():
            await server.serve()
    finally:
        for task in (announce_task, worker_task):
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task


# How often the banner's readiness check asks, and after how long it says it is waiting.
READY_POLL_SECONDS = 0.25
READY_PATIENCE_SECONDS = 15.0


async def announce_when_ready(settings: Settings, banner: str) -> None:
    """Print the banner once GET /health/ready answers 200 (PostgreSQL, Redis and the worker
    all there), never before; say what is missing if that takes long."""
    import httpx

    host = "127.0.0.1" if settings.host in ("0.0.0.0", "::", "") else settings.host  # a wildcard: ask locally
    url = f"http://{host}:{settings.port}/health/ready"
    loop = asyncio.get_running_loop()
    started, told = loop.time(), False
    async with httpx.AsyncClient(timeout=5) as client:
        while True:
            try:
                response = await client.get(url)
                if response.status_code == 200:
                    print(banner, flush=True)
                    return
                missing = response.text
            except httpx.HTTPError as exc:
                missing = type(exc).__name__
            if not told and loop.time() - started > READY_PATIENCE_SECONDS:
                print(f"Waiting for {url} to answer 200 (now: {missing})", flush=True)
                told = True
            await asyncio.sleep(READY_POLL_SECONDS)


def dev_banner(settings: Settings) -> str:
    from backend.seed.demo import DEMO_ACCOUNTS, DEMO_API_KEY, DEMO_PASSWORD

    base = f"http://{settings.host}:{settings.port}"
    width = max(len(a.username) for a in DEMO_ACCOUNTS)
    roles: dict[str, list[str]] = {}
    for account in DEMO_ACCOUNTS:
        roles.setdefault(account.username, []).append(f"{account.role} of {account.scope_code or 'the nation'}")
    names = {a.username: a.display_name for a in DEMO_ACCOUNTS}
    lines = [
        "",
        "Commune Pulse is running with demo data.",
        f"  API docs     {base}/schema/swagger",
        f"  OpenAPI      {base}/schema/openapi.json",
        f"  Readiness    {base}/health/ready",
        "",
        f"Demo logins (POST {base}/v1/auth/login), password for all: {DEMO_PASSWORD}",
        *(f"  {name:<{width}}  {', '.join(held)}  ({names[name]})" for name, held in roles.items()),
        "",
        f"One-stop-shop API key of Phường Ba Đình (header X-API-Key): {DEMO_API_KEY}",
        "Press Ctrl+C to stop.",
        "",
    ]
    return "\n".join(lines)


def openapi_document() -> dict[str, object]:
    from backend.app import create_app

    # Default settings: the document must not depend on the machine's environment.
    app = create_app(Settings())
    schema: dict[str, object] = app.openapi_schema.to_schema()
    return schema


def render_openapi() -> str:
    document = msgspec.json.decode(msgspec.json.encode(openapi_document()))
    return json.dumps(document, indent=2, ensure_ascii=False, sort_keys=True) + "\n"


def cmd_openapi(settings: Settings, args: argparse.Namespace) -> int:
    output = Path(args.output)
    text = render_openapi()
    if args.check:
        if not output.exists() or output.read_text(encoding="utf-8") != text:
            print(f"commune-pulse: {output} is out of date; run `commune-pulse openapi`", file=sys.stderr)
            return 1
        print(f"{output} is up to date")
        return 0
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(text, encoding="utf-8")
    print(f"wrote {output}")
    return 0


def cmd_photos(settings: Settings, args: argparse.Namespace) -> int:
    from backend.photo_scrub import scrub_stored_photos
    from backend.storage import attachment_store

    async def scrub(resolved: Settings) -> list[str]:
        conn = await connect(resolved)
        try:
            report = await scrub_stored_photos(conn, attachment_store(resolved), drop_unreadable=args.drop_unreadable)
        finally:
            await conn.close()
        return report.lines()

    with servers_for(settings) as resolved:
        asyncio.run(prepare_database(resolved, reference=False, demo=False))
        for line in asyncio.run(scrub(resolved)):
            print(line)
    return 0


def cmd_settings(settings: Settings, args: argparse.Namespace) -> int:
    print(settings_table())
    return 0


COMMANDS: dict[str, tuple[Callable[[Settings, argparse.Namespace], int], str]] = {
    "dev": (cmd_dev, "migrate, load reference and demo data, run the API and the worker"),
    "serve": (cmd_serve, "apply pending migrations and run the API (API_WORKERS processes)"),
    "worker": (cmd_worker, "run the background worker"),
    "migrate": (cmd_migrate, "apply pending migrations"),
    "seed": (cmd_seed, "load the reference data (provinces, communes, procedures); --demo adds demo data"),
    "rollups": (cmd_rollups, "rebuild the indicator rollups from the raw ratings and dossiers (rollups rebuild)"),
    "photos": (cmd_photos, "re-encode stored photos from their pixels, dropping any metadata (photos scrub)"),
    "openapi": (cmd_openapi, "write the OpenAPI document (--check: fail if the file differs)"),
    "settings": (cmd_settings, "print the environment variables as a Markdown table"),
    "create-admin": (
        bootstrap.cmd_create_admin,
        f"create the first system admin (password from {bootstrap.PASSWORD_ENV} or asked twice); --reset",
    ),
    "restore-check": (
        backup.cmd_restore_check,
        "restore a pg_dump into a new database and check it (migrations, row counts, sample queries)",
    ),
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="commune-pulse", description="Citizen feedback and commune service monitoring backend."
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, (_, help_text) in COMMANDS.items():
        sub = commands.add_parser(name, help=help_text, description=help_text)
        if name == "seed":
            sub.add_argument("--demo", action="store_true", help="also load demo accounts and history")
        if name == "rollups":
            sub.add_argument("action", choices=["rebuild"])
        if name == "photos":
            sub.add_argument("action", choices=["scrub"])
            sub.add_argument(
                "--drop-unreadable", action="store_true", help="remove photos that do not decode (and their rows)"
            )
        if name == "create-admin":
            bootstrap.add_arguments(sub)
        if name == "restore-check":
            backup.add_arguments(sub)
        if name == "openapi":
            sub.add_argument("--output", default=str(OPENAPI_PATH))
            sub.add_argument("--check", action="store_true")
    args = parser.parse_args(argv)
    previous = {signum: signal.getsignal(signum) for signum in STOP_SIGNALS}
    install_stop_handlers()
    try:
        settings = Settings.from_env()
        configure_logging(settings.log_level)
        return COMMANDS[args.command][0](settings, args)
    except Stopped as stopped:
        # A stop asked for (SIGTERM, SIGHUP) is a success for a supervisor; Ctrl+C keeps
        # the shell's 130.
        return 130 if stopped.signum == signal.SIGINT else 0
    except (SettingsError, PortBusyError, migrations.MigrationError, EmbeddedServerError) as exc:
        print(f"commune-pulse: {exc}", file=sys.stderr)
        return 2
    except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
        print(f"commune-pulse: cannot reach a server: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


if __name__ == "__main__":
    sys.exit(main())
