"""`commune-pulse restore-check DUMP`: prove a backup restores, before the day it must.

The dump (from `pg_dump -Fc`, a directory dump, or plain SQL) is restored into a new
database on the configured server, then checked:
- the restore itself ran without a single error;
- the migrations it records are ours, with the same checksums (a dump from an older
  version may lack the newest: reported as pending, `migrate` brings it up);
- every table holds as many rows as the dump carries for it (counted from the dump's data
  independently of the restore), so no table was silently skipped;
- sample queries: the newest rating joined to its commune, service and official, a search
  through `fold_vi()`, and the rollups recomputed from the raw rows equal the restored ones.
The scratch database is dropped afterwards unless --keep."""

from __future__ import annotations

import argparse
import asyncio
import functools
import importlib.util
import re
import secrets
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncpg

from backend import migrations
from backend.db import connect
from backend.embedded import servers_for, with_database
from backend.services.rollups import ROLLUP_TABLES
from backend.settings import Settings


class RestoreCheckFailed(Exception):
    """The dump does not restore into a working database; one line saying why."""


@dataclass
class Report:
    lines: list[str] = field(default_factory=list)

    def add(self, line: str) -> None:
        self.lines.append(line)
        print(f"  {line}", flush=True)


def dump_format(path: Path) -> str:
    """'custom' (pg_dump -Fc), 'directory' (-Fd), 'tar' (-Ft) or 'plain' SQL."""
    if not path.exists():
        raise RestoreCheckFailed(f"{path}: no such file or directory")
    if path.is_dir():
        if not (path / "toc.dat").is_file():
            raise RestoreCheckFailed(f"{path}: a directory without toc.dat is not a pg_dump -Fd dump")
        return "directory"
    with path.open("rb") as handle:
        head = handle.read(512)
    if head.startswith(b"PGDMP"):
        return "custom"
    if len(head) >= 262 and head[257:262] == b"ustar":
        return "tar"
    return "plain"


def _major_version(program: str) -> int:
    result = subprocess.run([program, "--version"], capture_output=True, text=True, timeout=30)
    match = re.search(r"\) (\d+)", result.stdout)
    return int(match[1]) if match else 0


@functools.cache
def pg_tool(name: str) -> str:
    """The newest of a PostgreSQL client program on PATH and the one in the pgserver wheel.

    Newest, because a client reads dumps and servers of its own version and older only: the
    system's pg_dump 15 cannot dump the embedded PostgreSQL 16."""
    candidates = [found for found in [shutil.which(name)] if found]
    # Found without importing pgserver, whose import warns about XDG_RUNTIME_DIR on servers.
    spec = importlib.util.find_spec("pgserver")
    if spec is not None and spec.submodule_search_locations:
        bundled = Path(next(iter(spec.submodule_search_locations))) / "pginstall" / "bin" / name
        if bundled.is_file():
            candidates.append(str(bundled))
    if not candidates:
        raise RestoreCheckFailed(f"{name} not found: install the PostgreSQL client (apt-get install postgresql-client)")
    return max(candidates, key=_major_version)


COPY_START = re.compile(r'^COPY (?:"?([A-Za-z0-9_]+)"?\.)?"?([A-Za-z0-9_]+)"? \(.*\) FROM stdin;$')


def count_copy_rows(lines: Any) -> dict[str, int]:
    """Rows per table in the COPY blocks of a SQL script (pg_dump's data)."""
    counts: dict[str, int] = {}
    table = None
    for raw in lines:
        line = raw.rstrip("\n")
        if table is None:
            match = COPY_START.match(line)
            if match:
                table = match[2]
                counts[table] = counts.get(table, 0)
        elif line == "\\.":
            table = None
        else:
            counts[table] += 1
    if table is not None:
        raise RestoreCheckFailed(f"the dump's data for {table} ends in the middle")
    return counts


def rows_in_dump(path: Path, kind: str) -> dict[str, int]:
    if kind == "plain":
        with path.open(encoding="utf-8", errors="replace") as handle:
            return count_copy_rows(handle)
    with subprocess.Popen(
        [pg_tool("pg_restore"), "--data-only", "--file=-", str(path)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        encoding="utf-8",
        errors="replace",
    ) as process:
        assert process.stdout is not None and process.stderr is not None
        counts = count_copy_rows(process.stdout)  # streamed: a dump may be larger than memory
        error = process.stderr.read()
    if process.returncode != 0:
        raise RestoreCheckFailed(f"pg_restore cannot read the dump's data: {last_line(error)}")
    return counts


def last_line(text: str) -> str:
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    return lines[-1] if lines else "(no message)"


def restore(path: Path, kind: str, url: str) -> None:
    if kind == "plain":
        command = [pg_tool("psql"), "--quiet", "--no-psqlrc", "-v", "ON_ERROR_STOP=1", "--single-transaction"]
        command += ["--file", str(path), "--dbname", url]
    else:
        command = [
            pg_tool("pg_restore"),
            "--exit-on-error",
            "--no-owner",
            "--no-privileges",
            "--dbname",
            url,
            str(path),
        ]
    result = subprocess.run(command, capture_output=True, text=True, encoding="utf-8", errors="replace")
    if result.returncode != 0:
        raise RestoreCheckFailed(f"the restore failed: {last_line(result.stderr)}")


async def check_migrations(conn: asyncpg.Connection, report: Report) -> None:
    if not await conn.fetchval("select to_regclass('schema_migrations') is not null"):
        raise RestoreCheckFailed("no schema_migrations table: not a Commune Pulse database")
    applied = await conn.fetchval("select count(*) from schema_migrations")
    if applied == 0:
        raise RestoreCheckFailed("schema_migrations is empty")
    try:
        pending = await migrations.pending(conn)
    except migrations.MigrationError as exc:
        raise RestoreCheckFailed(f"migrations do not match this code: {exc}") from None
    note = f", {len(pending)} pending (run `commune-pulse migrate` after restoring)" if pending else ""
    report.add(f"migrations: {applied} applied, all known to this code with the same checksums{note}")


TABLES_SQL = "select tablename from pg_tables where schemaname = 'public' order by tablename"


async def check_row_counts(conn: asyncpg.Connection, expected: dict[str, int], report: Report) -> None:
    tables = [row["tablename"] for row in await conn.fetch(TABLES_SQL)]
    missing = sorted(set(expected) - set(tables))
    if missing:
        raise RestoreCheckFailed(f"tables in the dump but not restored: {', '.join(missing)}")
    total = 0
    for table in tables:
        restored = int(await conn.fetchval(f'select count(*) from "{table}"'))
        if restored != expected.get(table, 0):
            raise RestoreCheckFailed(f"{table}: {restored} rows restored, the dump holds {expected.get(table, 0)}")
        total += restored
    shown = ", ".join(f"{t} {expected.get(t, 0)}" for t in ("communes", "users", "ratings", "dossiers", "feedback"))
    report.add(f"rows: {total} in {len(tables)} tables, each as many as in the dump ({shown})")


NEWEST_RATING_SQL = """
select r.id, c.full_name, p.name_vi, o.full_name as official
from ratings r
join commune_services cs on cs.id = r.commune_service_id
join communes c on c.code = cs.commune_code
join procedures p on p.code = cs.procedure_code
left join officials o on o.id = r.official_id
order by r.created_at desc, r.id desc
limit 1
"""

FOLD_SEARCH_SQL = "select count(*) from communes where fold_vi(full_name) like '%' || fold_vi($1) || '%'"


def rollups_digest_sql() -> str:
    """One md5 per rollup table over its rows in a fixed order."""
    parts = [
        f"select '{t}' as name, md5(coalesce(string_agg(x::text, '|' order by x::text), '')) from {t} x"
        for t in ROLLUP_TABLES
    ]
    return " union all ".join(parts)


async def check_sample_queries(conn: asyncpg.Connection, report: Report) -> None:
    ratings = int(await conn.fetchval("select count(*) from ratings"))
    if ratings:
        newest = await conn.fetchrow(NEWEST_RATING_SQL)
        if newest is None:
            raise RestoreCheckFailed("the newest rating does not join to its commune service, commune and procedure")
        report.add(f"newest rating {newest['id']}: {newest['name_vi']}, {newest['full_name']}")
    communes = int(await conn.fetchval("select count(*) from communes"))
    if communes:
        found = int(await conn.fetchval(FOLD_SEARCH_SQL, "ba dinh"))
        if found == 0:
            raise RestoreCheckFailed("searching communes for 'ba dinh' through fold_vi() found nothing")
        report.add(f"search without diacritics: 'ba dinh' finds {found} commune(s) of {communes}")
    before = {row[0]: row[1] for row in await conn.fetch(rollups_digest_sql())}
    async with conn.transaction():
        await conn.execute("select rebuild_rollups()")
        after = {row[0]: row[1] for row in await conn.fetch(rollups_digest_sql())}
    differ = [table for table in ROLLUP_TABLES if before[table] != after[table]]
    if differ:
        raise RestoreCheckFailed(f"rollups differ from a rebuild from the raw rows: {', '.join(differ)}")
    report.add("rollups: equal to a rebuild from the raw ratings, dossiers and feedback")


async def restore_check(settings: Settings, path: Path, *, keep: bool = False) -> tuple[str, Report]:
    """Restore `path` into a new database and check it; return the database's name and the report.

    Raises RestoreCheckFailed at the first failed check (the database is dropped unless keep)."""
    kind = await asyncio.to_thread(dump_format, path)
    assert settings.database_url is not None
    name = f"restore_check_{datetime.now(UTC):%Y%m%d%H%M%S}_{secrets.token_hex(3)}"
    target = with_database(settings.database_url, name)
    report = Report()
    admin = await asyncpg.connect(settings.database_url)
    try:
        try:
            await admin.execute(
                f"create database {name} encoding 'UTF8' lc_collate 'C' lc_ctype 'C' template template0"
            )
        except asyncpg.PostgresError as exc:
            raise RestoreCheckFailed(f"cannot create a scratch database on the server: {exc}") from None
        print(f"restoring {path} ({kind} dump) into database {name}", flush=True)
        try:
            await asyncio.to_thread(restore, path, kind, target)
            report.add("restore: completed without errors")
            expected = await asyncio.to_thread(rows_in_dump, path, kind)
            conn = await connect(msgspec_replace(settings, target))
            try:
                await check_migrations(conn, report)
                await check_row_counts(conn, expected, report)
                await check_sample_queries(conn, report)
            finally:
                await conn.close()
        finally:
            if not keep:
                await admin.execute(f"drop database if exists {name} with (force)")
    finally:
        await admin.close()
    return name, report


def msgspec_replace(settings: Settings, database_url: str) -> Settings:
    import msgspec

    return msgspec.structs.replace(settings, database_url=database_url)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("dump", type=Path, help="a pg_dump file (-Fc, -Fd, -Ft or plain SQL)")
    parser.add_argument("--keep", action="store_true", help="keep the restored database (its name is printed)")


def cmd_restore_check(settings: Settings, args: argparse.Namespace) -> int:
    try:
        with servers_for(settings) as resolved:
            name, _ = asyncio.run(restore_check(resolved, args.dump, keep=args.keep))
    except RestoreCheckFailed as exc:
        print(f"restore check FAILED: {exc}", file=sys.stderr)
        return 1
    kept = f"; database {name} kept" if args.keep else ""
    print(f"restore check passed{kept}")
    return 0
