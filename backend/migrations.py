"""Apply the numbered SQL files in migrations/, each once, in its own transaction.

Applied versions and their checksums live in the database (schema_migrations). An advisory
lock serialises processes that start together; an applied file that was edited since, or
one that disappeared, stops start-up instead of leaving the schema in an unknown state.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path

import asyncpg

# Any constant works as long as nothing else in the database uses it; this one spells "cpmg".
MIGRATION_LOCK_ID = 0x63706D67

FILE_PATTERN = re.compile(r"^(\d{4})_([a-z0-9_]+)\.sql$")


class MigrationError(Exception):
    """The schema cannot be brought up to date safely; the message names the file."""


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    sql: str
    checksum: str


def migrations_dir() -> Path:
    """The repository's migrations/ in a checkout, or the copy packed into a wheel."""
    packaged = Path(__file__).parent / "_migrations"
    if packaged.is_dir():
        return packaged
    return Path(__file__).resolve().parent.parent / "migrations"


def load_migrations(folder: Path | None = None) -> list[Migration]:
    folder = folder or migrations_dir()
    found: dict[int, Migration] = {}
    for path in sorted(folder.glob("*.sql")):
        match = FILE_PATTERN.match(path.name)
        if not match:
            raise MigrationError(f"{path.name}: migration files are named NNNN_name.sql")
        version = int(match[1])
        if version in found:
            raise MigrationError(f"{path.name}: version {version} is used twice")
        text = path.read_bytes().replace(b"\r\n", b"\n")
        found[version] = Migration(version, match[2], text.decode("utf-8"), hashlib.sha256(text).hexdigest())
    return [found[v] for v in sorted(found)]


ENSURE_TABLE_SQL = """
create table if not exists schema_migrations (
    version    integer primary key,
    name       text not null,
    checksum   text not null,
    applied_at timestamptz not null default now()
)
"""

APPLIED_SQL = "select version, name, checksum from schema_migrations order by version"

RECORD_SQL = "insert into schema_migrations (version, name, checksum) values ($1, $2, $3)"


async def migrate(conn: asyncpg.Connection, folder: Path | None = None) -> list[Migration]:
    """Apply pending migrations; return the ones applied now. Safe to run from many processes."""
    migrations = load_migrations(folder)
    await conn.execute("select pg_advisory_lock($1)", MIGRATION_LOCK_ID)
    try:
        await conn.execute(ENSURE_TABLE_SQL)
        applied = {r["version"]: r for r in await conn.fetch(APPLIED_SQL)}
        _check_applied(migrations, applied)
        done = []
        for migration in migrations:
            if migration.version in applied:
                continue
            async with conn.transaction():
                try:
                    await conn.execute(migration.sql)
                except asyncpg.PostgresError as exc:
                    raise MigrationError(f"{migration.version:04d}_{migration.name}.sql failed: {exc}") from exc
                await conn.execute(RECORD_SQL, migration.version, migration.name, migration.checksum)
            done.append(migration)
        return done
    finally:
        await conn.execute("select pg_advisory_unlock($1)", MIGRATION_LOCK_ID)


def _check_applied(migrations: list[Migration], applied: dict[int, asyncpg.Record]) -> None:
    by_version = {m.version: m for m in migrations}
    for version, row in applied.items():
        file = by_version.get(version)
        label = f"{version:04d}_{row['name']}.sql"
        if file is None:
            raise MigrationError(f"{label} was applied to this database but is missing from migrations/")
        if file.checksum != row["checksum"]:
            raise MigrationError(f"{label} was edited after it was applied; add a new migration instead of changing it")


async def pending(conn: asyncpg.Connection, folder: Path | None = None) -> list[Migration]:
    """Migrations not yet applied (after checking the applied ones are unchanged)."""
    migrations = load_migrations(folder)
    exists = await conn.fetchval("select to_regclass('schema_migrations') is not null")
    applied = {r["version"]: r for r in await conn.fetch(APPLIED_SQL)} if exists else {}
    _check_applied(migrations, applied)
    return [m for m in migrations if m.version not in applied]
