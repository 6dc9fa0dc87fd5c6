"""Production without the demo: `seed` makes no account, `create-admin` makes the first one.

The command runs as a real process against a fresh database; the account it makes is
checked by logging in through the HTTP API."""

from __future__ import annotations

import asyncio
import os
import pty
import select
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from litestar.testing import AsyncTestClient

from backend.app import create_app
from backend.bootstrap import password_problems
from backend.settings import Settings
from tests.conftest import FEEDBACK_KEYS, FINGERPRINT_KEYS, JWT_SECRET
from tests.served import ROOT, settings_env

STRONG = "Tram-Ba-Dinh-7!x"
STRONGER = "Ho-Guom-2026-sang$"


@pytest.mark.parametrize(
    ("password", "weak"),
    [
        ("short1!A", True),  # 8 characters
        ("alllowercaseletters", True),  # 19, one kind
        ("alllowercase123", True),  # two kinds below 20
        ("Lower-Upper-9", False),
        ("correct horse battery staple", False),  # a long passphrase needs no symbols
        ("Password123!", True),  # built on a common password
        ("Pulse-Demo-2026", True),  # the demo's public password, capitalised
        ("MatKhau123!!", True),
        ("Abc1!Abc1!Abc1!", True),  # one short pattern repeated
        ("aaaaaaaaaaaaaaaaaaaaaaaa", True),
        (" Leading-Space-1", True),
        ("Tab\tInside-Pass1", True),
        ("Root.Admin-2026!x", True),  # contains the username root.admin
        ("Mật-khẩu-Hà-Nội-9", False),  # Vietnamese letters count as letters
        (STRONG, False),
    ],
)
def test_password_strength(password: str, weak: bool) -> None:
    assert bool(password_problems(password, "root.admin")) is weak, password_problems(password, "root.admin")


def test_every_problem_is_named() -> None:
    assert password_problems("aaaa", "x.y") == [
        "shorter than 12 characters",
        "needs three of lower case, upper case, digits and symbols (or 20+ characters)",
        "repeats too few characters",
    ]


def fresh_settings(database_url: str, redis_url: str, data_dir: Path) -> Settings:
    return Settings(
        database_url=database_url,
        redis_url=redis_url,
        data_dir=str(data_dir),
        jwt_secret=JWT_SECRET,
        feedback_keys=FEEDBACK_KEYS,
        fingerprint_keys=FINGERPRINT_KEYS,
        redis_key_prefix=f"cpboot{uuid.uuid4().hex[:8]}",
        db_pool_size=3,
    )


@pytest.fixture
def prod(fresh_database: str, redis_url: str, tmp_path: Path) -> Settings:
    """Settings of an empty database, as production starts."""
    return fresh_settings(fresh_database, redis_url, tmp_path / "var")


def cli(
    settings: Settings, *args: str, password: str | None = None, log_level: str = "WARNING"
) -> subprocess.CompletedProcess[str]:
    env = settings_env(settings) | {"LOG_LEVEL": log_level}
    if password is not None:
        env["ADMIN_PASSWORD"] = password
    return subprocess.run(
        [sys.executable, "-m", "backend", *args],
        env=env,
        cwd=ROOT,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=120,
    )


async def query(settings: Settings, sql: str, *params: Any) -> Any:
    conn = await asyncpg.connect(settings.database_url)
    try:
        return await conn.fetch(sql, *params)
    finally:
        await conn.close()


async def log_in(settings: Settings, username: str, password: str) -> Any:
    async with AsyncTestClient(app=create_app(settings)) as client:
        return await client.post("/v1/auth/login", json={"username": username, "password": password})


def test_seed_alone_creates_no_account(prod: Settings) -> None:
    result = cli(prod, "seed")
    assert result.returncode == 0, result.stderr
    counts = asyncio.run(
        query(
            prod,
            "select (select count(*) from users) as users, (select count(*) from user_roles) as roles, "
            "(select count(*) from api_keys) as keys, (select count(*) from communes) as communes",
        )
    )[0]
    assert dict(counts) == {"users": 0, "roles": 0, "keys": 0, "communes": 3321}
    # Only the demo seed (what `dev` runs) makes accounts.
    assert cli(prod, "seed", "--demo").returncode == 0
    assert asyncio.run(query(prod, "select count(*) from users"))[0][0] > 0


async def test_create_admin_on_a_fresh_database_logs_in(prod: Settings) -> None:
    result = await asyncio.to_thread(
        cli, prod, "create-admin", "--username", "Root.Admin", password=STRONG, log_level="DEBUG"
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("created system admin 'root.admin' (user ")
    assert '"level":"debug"' in result.stderr  # the log ran at its most talkative
    assert STRONG not in result.stdout + result.stderr  # nor in the DEBUG log

    response = await log_in(prod, "root.admin", STRONG)
    assert response.status_code == 200, response.text
    assert response.json()["user"]["roles"] == [{"role": "system_admin", "scope_kind": "national"}]
    audit = await query(prod, "select actor_kind, action, data::text as data from audit_log where action like 'admin%'")
    assert [(a["actor_kind"], a["action"]) for a in audit] == [("system", "admin_created")]
    assert STRONG not in audit[0]["data"]
    hashes = await query(prod, "select password_hash from users")
    assert hashes[0]["password_hash"].startswith("$argon2")


async def test_an_existing_user_is_refused_unless_reset(prod: Settings) -> None:
    assert (
        await asyncio.to_thread(cli, prod, "create-admin", "--username", "root.admin", password=STRONG)
    ).returncode == 0
    first = await log_in(prod, "root.admin", STRONG)
    refresh_token = first.json()["refresh_token"]
    await query(prod, "update users set is_active = false")  # locked out, say

    again = await asyncio.to_thread(cli, prod, "create-admin", "--username", "root.admin", password=STRONGER)
    assert again.returncode == 2
    assert again.stderr == (
        "commune-pulse: user 'root.admin' already exists; nothing was changed (--reset sets a new password)\n"
    )
    assert (await log_in(prod, "root.admin", STRONG)).status_code == 401  # still inactive, unchanged

    reset = await asyncio.to_thread(cli, prod, "create-admin", "--username", "root.admin", "--reset", password=STRONGER)
    assert reset.returncode == 0, reset.stderr
    assert "1 session(s) ended" in reset.stdout
    assert (await log_in(prod, "root.admin", STRONG)).status_code == 401
    assert (await log_in(prod, "root.admin", STRONGER)).status_code == 200
    async with AsyncTestClient(app=create_app(prod)) as client:
        stale = await client.post("/v1/auth/refresh", json={"refresh_token": refresh_token})
    assert stale.status_code == 401
    roles = await query(prod, "select role from user_roles")
    assert [r["role"] for r in roles] == ["system_admin"]  # the role is not granted twice


@pytest.mark.parametrize(
    ("args", "password", "message"),
    [
        (["--username", "root.admin"], "Password123!", "ADMIN_PASSWORD is too weak: is, or is built on,"),
        (["--username", "root.admin"], "", "ADMIN_PASSWORD: set to an empty value"),
        (["--username", "root.admin"], None, "no terminal to ask the password on: set ADMIN_PASSWORD"),
        (["--username", "x"], STRONG, "--username: expected 3-64 of a-z"),
    ],
)
def test_refusals_change_nothing_and_start_nothing(
    prod: Settings, args: list[str], password: str | None, message: str
) -> None:
    result = cli(prod, "create-admin", *args, password=password)
    assert result.returncode == 2
    assert result.stderr.startswith(f"commune-pulse: {message}")
    assert result.stderr.count("\n") == 1
    if password:
        assert password not in result.stderr
    # Refused before migrations: the database is still empty.
    assert asyncio.run(query(prod, "select to_regclass('users') is null as empty"))[0]["empty"]


def run_on_terminal(settings: Settings, answers: list[str]) -> tuple[int, str]:
    """Run create-admin on a pseudo-terminal of its own, typing the answers at each prompt."""
    primary, secondary = pty.openpty()
    process = subprocess.Popen(
        [sys.executable, "-m", "backend", "create-admin", "--username", "root.admin"],
        env=settings_env(settings),
        cwd=ROOT,
        stdin=secondary,
        stdout=secondary,
        stderr=secondary,
        start_new_session=True,  # no controlling terminal: getpass uses this one
    )
    os.close(secondary)
    seen = b""
    pending = list(answers)
    deadline = time.monotonic() + 120
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([primary], [], [], 0.5)
            if ready:
                try:
                    chunk = os.read(primary, 4096)
                except OSError:  # the process closed its terminal
                    break
                if not chunk:
                    break
                seen += chunk
                if pending and seen.endswith(b": "):  # a prompt, echo already off
                    os.write(primary, pending.pop(0).encode() + b"\n")
            elif process.poll() is not None:
                break
        return process.wait(timeout=60), seen.decode(errors="replace")
    finally:
        os.close(primary)
        if process.poll() is None:
            process.kill()


def test_the_password_is_asked_twice_without_echo(prod: Settings) -> None:
    code, screen = run_on_terminal(prod, [STRONG, STRONG])
    assert code == 0, screen
    assert "Password for root.admin:" in screen and "The same password again:" in screen
    assert STRONG not in screen  # never echoed
    assert "created system admin 'root.admin'" in screen
    assert asyncio.run(log_in(prod, "root.admin", STRONG)).status_code == 200


def test_two_different_answers_change_nothing(prod: Settings) -> None:
    code, screen = run_on_terminal(prod, [STRONG, STRONGER])
    assert code == 2
    assert "the two passwords differ; nothing was changed" in screen
    assert STRONG not in screen and STRONGER not in screen
    assert asyncio.run(query(prod, "select to_regclass('users') is null as empty"))[0]["empty"]
