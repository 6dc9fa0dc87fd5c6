"""The first system administrator of a production database: `commune-pulse create-admin`.

Production starts without the demo (whose password is public), so nobody could log in to
grant the first roles. This command makes a system admin; the password comes from
ADMIN_PASSWORD or is asked twice on the terminal, is never echoed, logged or put in the
audit row, and must not be weak. It refuses a username that exists unless told --reset,
which sets a new password, reactivates the account, restores the role and ends its
sessions (a forgotten or leaked admin password)."""

from __future__ import annotations

import argparse
import asyncio
import getpass
import os
import re
import sys
from dataclasses import dataclass
from typing import Any, TextIO

from backend import migrations
from backend.audit import record_audit
from backend.db import connect
from backend.embedded import servers_for
from backend.security import hash_password
from backend.settings import Settings

PASSWORD_ENV = "ADMIN_PASSWORD"
MIN_LENGTH = 12
PASSPHRASE_LENGTH = 20
USERNAME_PATTERN = re.compile(r"^[a-z0-9][a-z0-9._-]{2,63}$")
DEFAULT_DISPLAY_NAME = "Quản trị hệ thống"

# Passwords that every guessing list starts with, and ours that are public (the demo's).
COMMON_PASSWORDS = frozenset(
    {
        "pulse-demo-2026",
        "password",
        "password1",
        "password123",
        "123456789012",
        "qwertyuiop",
        "admin",
        "administrator",
        "letmein",
        "changeme",
        "welcome",
        "iloveyou",
        "matkhau",
        "matkhau123",
        "quantri",
        "commune-pulse",
        "communepulse",
    }
)


class BootstrapError(Exception):
    """The admin cannot be made as asked; one line saying why (never the password)."""


def password_problems(password: str, username: str) -> list[str]:
    """Why a password is too weak for a system admin; empty when it will do.

    Long enough (12, or 20 for a passphrase of any letters), three kinds of character below
    that, not built on the username, a common password or the demo's, not one repeated
    pattern. Pure: the table in tests/test_bootstrap.py is its specification."""
    problems = []
    if len(password) < MIN_LENGTH:
        problems.append(f"shorter than {MIN_LENGTH} characters")
    if password != password.strip() or any(ord(c) < 32 or ord(c) == 127 for c in password):
        problems.append("starts or ends with a space or holds control characters")
    kinds = sum(
        (
            any(c.islower() for c in password),
            any(c.isupper() for c in password),
            any(c.isdigit() for c in password),
            any(not c.isalnum() for c in password),
        )
    )
    if len(password) < PASSPHRASE_LENGTH and kinds < 3:
        problems.append(
            f"needs three of lower case, upper case, digits and symbols (or {PASSPHRASE_LENGTH}+ characters)"
        )
    folded = re.sub(r"[^a-z0-9]", "", password.lower())
    if username and re.sub(r"[^a-z0-9]", "", username.lower()) in folded:
        problems.append("contains the username")
    if password.lower() in COMMON_PASSWORDS or any(
        word.replace("-", "") in folded and len(folded) - len(word.replace("-", "")) < 6 for word in COMMON_PASSWORDS
    ):
        problems.append("is, or is built on, a well-known password")
    if len(set(password)) < 6 or re.fullmatch(r"(.{1,4})\1+", password):
        problems.append("repeats too few characters")
    return problems


def read_password(environ: dict[str, str] | os._Environ[str], stdin: TextIO, username: str) -> str:
    """ADMIN_PASSWORD if set, else asked twice on the terminal without echo."""
    if PASSWORD_ENV in environ:
        password = environ[PASSWORD_ENV]
        if password == "":
            raise BootstrapError(f"{PASSWORD_ENV}: set to an empty value; unset it to be asked on the terminal")
        source = PASSWORD_ENV
    else:
        if not stdin.isatty():
            raise BootstrapError(f"no terminal to ask the password on: set {PASSWORD_ENV}")
        password = getpass.getpass(f"Password for {username}: ")
        if getpass.getpass("The same password again: ") != password:
            raise BootstrapError("the two passwords differ; nothing was changed")
        source = "the password"
    problems = password_problems(password, username)
    if problems:
        raise BootstrapError(f"{source} is too weak: " + "; ".join(problems))
    return password


@dataclass(frozen=True)
class AdminResult:
    user_id: int
    created: bool
    sessions_ended: int

    def line(self, username: str) -> str:
        if self.created:
            return f"created system admin {username!r} (user {self.user_id}); log in at POST /v1/auth/login"
        return (
            f"reset system admin {username!r} (user {self.user_id}): new password, active, "
            f"role system_admin, {self.sessions_ended} session(s) ended"
        )


CREATE_USER_SQL = """
insert into users (username, password_hash, display_name)
values ($1, $2, $3)
on conflict (username) do nothing
returning id
"""

RESET_USER_SQL = """
update users
set password_hash = $2, is_active = true, password_changed_at = now(), updated_at = now()
where username = $1
returning id
"""

GRANT_SYSTEM_ADMIN_SQL = """
insert into user_roles (user_id, role, scope_kind)
select $1, 'system_admin', 'national'
where not exists (select 1 from user_roles where user_id = $1 and role = 'system_admin')
"""

END_SESSIONS_SQL = """
with ended as (
    update staff_sessions set revoked_at = now()
    where user_id = $1 and revoked_at is null
    returning 1
)
select count(*) from ended
"""


async def create_admin(
    conn: Any, username: str, password_hash: str, *, display_name: str = DEFAULT_DISPLAY_NAME, reset: bool = False
) -> AdminResult:
    """Create (or with reset, restore) a system admin, audited, in one transaction."""
    async with conn.transaction():
        user_id = await conn.fetchval(CREATE_USER_SQL, username, password_hash, display_name)
        created = user_id is not None
        ended = 0
        if not created:
            if not reset:
                raise BootstrapError(
                    f"user {username!r} already exists; nothing was changed (--reset sets a new password)"
                )
            user_id = await conn.fetchval(RESET_USER_SQL, username, password_hash)
            ended = int(await conn.fetchval(END_SESSIONS_SQL, user_id))
        await conn.execute(GRANT_SYSTEM_ADMIN_SQL, user_id)
        await record_audit(
            conn,
            actor_kind="system",
            action="admin_created" if created else "admin_reset",
            object_kind="user",
            object_id=user_id,
            data={"username": username, "via": "commune-pulse create-admin", "sessions_ended": ended},
        )
    return AdminResult(int(user_id), created, ended)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--username", required=True, help="login name: 3-64 of a-z 0-9 . _ -")
    parser.add_argument("--display-name", default=DEFAULT_DISPLAY_NAME, help="name shown to other staff")
    parser.add_argument(
        "--reset",
        action="store_true",
        help="if the user exists: new password, reactivate, restore the role, end its sessions",
    )


def check_arguments(args: argparse.Namespace) -> tuple[str, str]:
    username = args.username.strip().lower()
    if not USERNAME_PATTERN.fullmatch(username):
        raise BootstrapError(f"--username: expected 3-64 of a-z, 0-9, '.', '_', '-' (got {args.username!r})")
    display_name = args.display_name.strip()
    if not 1 <= len(display_name) <= 200 or any(ord(c) < 32 for c in display_name):
        raise BootstrapError("--display-name: expected 1-200 characters on one line")
    return username, display_name


def password_hash_from_user(username: str) -> str:
    """Read and check the password, hash it, and let the plain text go."""
    return hash_password(read_password(os.environ, sys.stdin, username))


def cmd_create_admin(settings: Settings, args: argparse.Namespace) -> int:
    """`commune-pulse create-admin`: migrate, then create or reset the admin."""
    try:
        username, display_name = check_arguments(args)
        # Asked (and judged) before any server starts or migration runs.
        password_hash = password_hash_from_user(username)

        async def run(resolved: Settings) -> AdminResult:
            conn = await connect(resolved)
            try:
                await migrations.migrate(conn)
                return await create_admin(conn, username, password_hash, display_name=display_name, reset=args.reset)
            finally:
                await conn.close()

        with servers_for(settings) as resolved:
            print(asyncio.run(run(resolved)).line(username))
    except BootstrapError as exc:
        print(f"commune-pulse: {exc}", file=sys.stderr)
        return 2
    return 0
