"""Failed-login budgets through the API: per (username, address), per address, global;
atomic under concurrency; a stranger cannot lock a chair out; a password spray is stopped.
Addresses are real: clients connect to a real uvicorn from different loopback addresses."""

from __future__ import annotations

import asyncio
from collections import Counter
from typing import Any

import asyncpg
import msgspec
from litestar.testing import AsyncTestClient

from backend.app import create_app
from backend.seed.demo import DEMO_PASSWORD
from backend.settings import Settings
from tests.live_server import client_from, live_server
from tests.test_database_faults import TERMINATE_BLOCKED_SQL, wait_until_blocked


async def log_in(client: Any, username: str, password: str) -> Any:
    return await client.post("/v1/auth/login", json={"username": username, "password": password})


def statuses(answers: list[Any]) -> Counter[int]:
    return Counter(a.status_code for a in answers)


async def test_concurrent_wrong_logins_never_exceed_the_budget(settings: Settings) -> None:
    """Thirty wrong passwords at once for one username: exactly the budget (3) is checked,
    the rest are refused before argon2 runs; then even the right password waits."""
    async with AsyncTestClient(app=create_app(settings)) as client:
        answers = await asyncio.gather(*(log_in(client, "chair.badinh", f"guess-{i}") for i in range(30)))
        assert statuses(answers) == Counter({401: 3, 429: 27})
        refused = [a for a in answers if a.status_code == 429]
        assert {a.json()["code"] for a in refused} == {"too_many_login_attempts"}
        assert {a.json()["budget"] for a in refused} == {"account"}
        assert all(0 < int(a.headers["retry-after"]) <= 900 for a in refused)
        assert (await log_in(client, "chair.badinh", DEMO_PASSWORD)).status_code == 429


async def test_concurrent_spray_never_exceeds_the_address_budget(settings: Settings, db: asyncpg.Connection) -> None:
    usernames = [r["username"] for r in await db.fetch("select username from users order by id")]
    assert len(usernames) >= 8
    tight = msgspec.structs.replace(settings, login_address_failures=5)
    async with AsyncTestClient(app=create_app(tight)) as client:
        answers = await asyncio.gather(*(log_in(client, name, "Password123") for name in usernames * 3))
        assert statuses(answers) == Counter({401: 5, 429: len(usernames) * 3 - 5})


async def test_a_success_gives_its_attempt_back(settings: Settings) -> None:
    async with AsyncTestClient(app=create_app(settings)) as client:
        for _ in range(2):
            assert (await log_in(client, "front.badinh", "wrong")).status_code == 401
        assert (await log_in(client, "front.badinh", DEMO_PASSWORD)).status_code == 200
        # The pair starts afresh: three more mistakes are allowed before the lock.
        assert [(await log_in(client, "front.badinh", "wrong")).status_code for _ in range(4)] == [401, 401, 401, 429]


async def test_a_stranger_elsewhere_cannot_lock_a_chair_out(settings: Settings, unused_tcp_port: int) -> None:
    async with live_server(settings, unused_tcp_port) as url:
        async with client_from(url, "127.0.0.2") as stranger, client_from(url, "127.0.0.3") as chair:
            tries = [(await log_in(stranger, "chair.badinh", f"guess-{i}")).status_code for i in range(6)]
            assert tries == [401, 401, 401, 429, 429, 429]
            assert (await log_in(stranger, "chair.badinh", DEMO_PASSWORD)).status_code == 429
            assert (await log_in(chair, "chair.badinh", DEMO_PASSWORD)).status_code == 200


async def test_a_password_sprayed_over_every_chair_is_stopped_at_the_address(
    settings: Settings, unused_tcp_port: int, db: asyncpg.Connection
) -> None:
    chairs = [r["username"] for r in await db.fetch("select username from users where username like 'chair.%'")]
    others = [r["username"] for r in await db.fetch("select username from users where username not like 'chair.%'")]
    # The spray needs more usernames than the address budget: the demo's chairs and everyone else.
    sprayed = (chairs + others)[:8]
    assert len(sprayed) == 8 and chairs[0] in sprayed
    tight = msgspec.structs.replace(settings, login_address_failures=5)
    async with live_server(tight, unused_tcp_port) as url:
        async with client_from(url, "127.0.0.2") as sprayer, client_from(url, "127.0.0.3") as colleague:
            answers = [await log_in(sprayer, name, "Matkhau@2026") for name in sprayed]
            assert [a.status_code for a in answers] == [401] * 5 + [429] * 3
            assert {a.json()["budget"] for a in answers[5:]} == {"address"}
            # Each username was tried at most once: no account's own budget is anywhere near spent,
            # yet nothing more is checked from this address, not even a right password.
            assert (await log_in(sprayer, sprayed[-1], DEMO_PASSWORD)).status_code == 429
            # Staff at another address are not affected.
            assert (await log_in(colleague, chairs[0], DEMO_PASSWORD)).status_code == 200


async def test_the_global_budget_stops_guessing_spread_over_addresses(settings: Settings, unused_tcp_port: int) -> None:
    tight = msgspec.structs.replace(settings, login_global_failures=5)
    async with live_server(tight, unused_tcp_port) as url:
        async with (
            client_from(url, "127.0.0.2") as first,
            client_from(url, "127.0.0.3") as second,
            client_from(url, "127.0.0.4") as third,
        ):
            # The first address spends its pair budget (3); its refused attempts spend nothing more.
            assert [(await log_in(first, "chair.badinh", "x")).status_code for _ in range(6)] == [401] * 3 + [429] * 3
            assert [(await log_in(second, "front.badinh", "x")).status_code for _ in range(3)] == [401, 401, 429]
            refused = await log_in(third, "admin.hanoi", "x")
            assert refused.status_code == 429 and refused.json()["budget"] == "global"


async def test_a_flood_that_spends_the_global_budget_does_not_lock_out_known_staff(
    settings: Settings, unused_tcp_port: int
) -> None:
    # With IPv6 counted per /64, one /56 holds 256 address budgets: a single stranger could
    # spend the global budget and keep every official out for as long as the flood lasted.
    tight = msgspec.structs.replace(settings, login_global_failures=5, login_max_failures=3)
    async with live_server(tight, unused_tcp_port) as url:
        async with (
            client_from(url, "127.0.0.5") as office,
            client_from(url, "127.0.0.2") as first,
            client_from(url, "127.0.0.3") as second,
            client_from(url, "127.0.0.6") as elsewhere,
        ):
            assert (await log_in(office, "chair.badinh", DEMO_PASSWORD)).status_code == 200
            assert [(await log_in(first, "front.badinh", "x")).status_code for _ in range(3)] == [401] * 3
            assert [(await log_in(second, "admin.hanoi", "x")).status_code for _ in range(3)] == [401, 401, 429]
            spent = await log_in(elsewhere, "chair.badinh", DEMO_PASSWORD)
            assert spent.status_code == 429 and spent.json()["budget"] == "global"
            # From the office, where the chair logged in before, the chair still gets in ...
            assert (await log_in(office, "chair.badinh", DEMO_PASSWORD)).status_code == 200
            # ... and guesses there are still bounded by the pair's own budget.
            guesses = [(await log_in(office, "chair.badinh", f"guess-{i}")).status_code for i in range(4)]
            assert guesses == [401, 401, 401, 429]
            # A stranger at the office address with another username is not known: refused.
            assert (await log_in(office, "front.badinh", DEMO_PASSWORD)).status_code == 429


async def test_an_attempt_cut_off_by_a_database_fault_is_not_counted(
    settings: Settings, unused_tcp_port: int, db: asyncpg.Connection
) -> None:
    """Our outage is not the caller's guess: logins cut off (503) give their attempt back."""
    observer = await asyncpg.connect(settings.database_url)
    try:
        async with live_server(settings, unused_tcp_port) as url, client_from(url, "127.0.0.2") as staff:
            for _ in range(settings.login_max_failures):
                async with db.transaction():
                    await db.execute("lock table users in access exclusive mode")
                    pending = asyncio.ensure_future(log_in(staff, "chair.badinh", "guess"))
                    await wait_until_blocked(observer)
                    assert await observer.fetchval(TERMINATE_BLOCKED_SQL) == 1
                    cut_off = await pending
                assert cut_off.status_code == 503, cut_off.text
            # The whole budget is still there: three guesses are checked, the fourth refused.
            tries = [(await log_in(staff, "chair.badinh", "guess")).status_code for _ in range(4)]
            assert tries == [401, 401, 401, 429]
    finally:
        await observer.close()
