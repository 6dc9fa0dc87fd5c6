"""Backups restore: `pg_dump` of a database with data, then `commune-pulse restore-check`.

The check passes on a good dump (as a process, and in-process with the restored database
kept to compare it table by table with the source), and fails on a truncated dump, a
dump with damaged bytes, one whose migrations were edited, and one whose rollups disagree
with its raw rows — leaving no scratch database behind."""

from __future__ import annotations

import asyncio
import re
import subprocess
import sys
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from litestar.testing import AsyncTestClient

from backend.backup import RestoreCheckFailed, count_copy_rows, dump_format, pg_tool, restore_check
from backend.embedded import with_database
from backend.settings import Settings
from tests.served import ROOT, settings_env


@pytest.fixture
async def with_data(client: AsyncTestClient[Any], citizen_headers: dict[str, str], db: asyncpg.Connection) -> int:
    """A few ratings through the API on top of the demo accounts; how many."""
    services = (await client.get("/v1/communes/00004/services", params={"limit": 5})).json()["items"]
    for index, service in enumerate(services):
        response = await client.post(
            "/v1/ratings",
            json={
                "commune_service_id": service["id"],
                "score": 1 + index % 5,
                "served_at": (datetime.now(UTC) - timedelta(hours=index + 1)).isoformat(),
            },
            headers={**citizen_headers, "idempotency-key": uuid.uuid4().hex},
        )
        assert response.status_code == 201, response.text
    return int(await db.fetchval("select count(*) from ratings"))


def pg_dump(settings: Settings, path: Path, *options: str) -> Path:
    assert settings.database_url
    subprocess.run([pg_tool("pg_dump"), *options, "--file", str(path), settings.database_url], check=True)
    return path


def run_check(settings: Settings, dump: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "backend", "restore-check", str(dump)],
        env=settings_env(settings),
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )


async def scratch_databases(settings: Settings) -> list[str]:
    conn = await asyncpg.connect(settings.database_url)
    try:
        rows = await conn.fetch("select datname from pg_database where datname like 'restore_check_%'")
        return [row["datname"] for row in rows]
    finally:
        await conn.close()


async def table_counts(url: str) -> dict[str, int]:
    conn = await asyncpg.connect(url)
    try:
        tables = [r[0] for r in await conn.fetch("select tablename from pg_tables where schemaname = 'public'")]
        return {t: int(await conn.fetchval(f'select count(*) from "{t}"')) for t in tables}
    finally:
        await conn.close()


async def test_a_good_dump_passes(settings: Settings, with_data: int, tmp_path: Path) -> None:
    assert with_data == 5
    dump = await asyncio.to_thread(pg_dump, settings, tmp_path / "pulse.dump", "--format=custom")
    before = await scratch_databases(settings)

    result = await asyncio.to_thread(run_check, settings, dump)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.rstrip().endswith("restore check passed")
    assert "restore: completed without errors" in result.stdout
    assert re.search(r"migrations: \d+ applied, all known to this code with the same checksums\n", result.stdout)
    assert "ratings 5" in result.stdout
    assert "rollups: equal to a rebuild" in result.stdout
    assert await scratch_databases(settings) == before

    # Kept, the restored database is the source, table by table.
    name, report = await restore_check(settings, dump, keep=True)
    assert settings.database_url
    restored = with_database(settings.database_url, name)
    try:
        assert await table_counts(restored) == await table_counts(settings.database_url)
        conn = await asyncpg.connect(restored)
        try:
            stars = await conn.fetchval("select sum(score) from ratings")
        finally:
            await conn.close()
        assert stars == 1 + 2 + 3 + 4 + 5
    finally:
        admin = await asyncpg.connect(settings.database_url)
        await admin.execute(f"drop database {name} with (force)")
        await admin.close()
    assert len(report.lines) == 6


async def test_a_plain_sql_dump_passes(settings: Settings, with_data: int, tmp_path: Path) -> None:
    dump = await asyncio.to_thread(pg_dump, settings, tmp_path / "pulse.sql")
    assert dump_format(dump) == "plain"
    result = await asyncio.to_thread(run_check, settings, dump)
    assert result.returncode == 0, result.stdout + result.stderr


def damage(source: Path, target: Path, how: str) -> Path:
    data = bytearray(source.read_bytes())
    if how == "truncated":
        data = data[: len(data) * 2 // 3]
    else:  # bytes zeroed among the table data, which follows the table of contents
        at = len(data) * 9 // 10
        data[at : at + 256] = bytes(256)
    target.write_bytes(bytes(data))
    return target


@pytest.mark.parametrize(
    ("how", "reason"),
    [
        ("truncated", "the restore failed: pg_restore: error: could not read from input file: end of file"),
        ("zeroed", "the restore failed: pg_restore: error: could not uncompress data"),
    ],
)
async def test_a_corrupted_dump_fails(
    settings: Settings, with_data: int, tmp_path: Path, how: str, reason: str
) -> None:
    good = await asyncio.to_thread(pg_dump, settings, tmp_path / "pulse.dump", "--format=custom")
    before = await scratch_databases(settings)
    result = await asyncio.to_thread(run_check, settings, damage(good, tmp_path / f"{how}.dump", how))
    assert result.returncode == 1
    assert result.stderr.startswith(f"restore check FAILED: {reason}"), result.stderr
    assert "restore check passed" not in result.stdout
    assert await scratch_databases(settings) == before


async def test_edited_migrations_fail(settings: Settings, with_data: int, tmp_path: Path) -> None:
    text = (await asyncio.to_thread(pg_dump, settings, tmp_path / "pulse.sql")).read_text(encoding="utf-8")
    # The checksum recorded for migration 1, as if the schema came from another file.
    edited, replaced = re.subn(r"(?m)^(1\t[a-z0-9_]+\t)[0-9a-f]{64}", r"\g<1>" + "0" * 64, text)
    assert replaced == 1
    dump = tmp_path / "edited.sql"
    dump.write_text(edited, encoding="utf-8")
    result = await asyncio.to_thread(run_check, settings, dump)
    assert result.returncode == 1
    assert result.stderr.startswith("restore check FAILED: migrations do not match this code: 0001_")
    assert "was edited after it was applied" in result.stderr


async def test_rollups_that_disagree_with_the_raw_rows_fail(
    settings: Settings, with_data: int, db: asyncpg.Connection, tmp_path: Path
) -> None:
    changed = await db.execute("update commune_rollups_daily set ratings = ratings + 1 where commune_code = '00004'")
    assert changed != "UPDATE 0"
    dump = await asyncio.to_thread(pg_dump, settings, tmp_path / "pulse.dump", "--format=custom")
    result = await asyncio.to_thread(run_check, settings, dump)
    assert result.returncode == 1
    assert result.stderr.startswith("restore check FAILED: rollups differ from a rebuild from the raw rows:")
    assert "commune_rollups_daily" in result.stderr


async def test_not_a_dump_and_a_missing_file(settings: Settings, tmp_path: Path) -> None:
    before = await scratch_databases(settings)
    empty = tmp_path / "notes.sql"
    empty.write_text("select 1;\n", encoding="utf-8")
    with pytest.raises(RestoreCheckFailed, match="no schema_migrations table: not a Commune Pulse database"):
        await restore_check(settings, empty)
    with pytest.raises(RestoreCheckFailed, match="no such file or directory"):
        await restore_check(settings, tmp_path / "missing.dump")
    assert await scratch_databases(settings) == before


def test_copy_rows_are_counted_per_table() -> None:
    script = [
        "SET client_encoding = 'UTF8';\n",
        "COPY public.ratings (id, score) FROM stdin;\n",
        "1\t5\n",
        "2\t4\n",
        "\\.\n",
        'COPY public."users" (id) FROM stdin;\n',
        "\\.\n",
        "COPY public.feedback (id, body) FROM stdin;\n",
        "7\tCOPY public.x (a) FROM stdin;\n",  # data that looks like a statement stays data
        "\\.\n",
    ]
    assert count_copy_rows(script) == {"ratings": 2, "users": 0, "feedback": 1}
    with pytest.raises(RestoreCheckFailed, match="the dump's data for ratings ends in the middle"):
        count_copy_rows(script[:3])
