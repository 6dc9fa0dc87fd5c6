"""The migration runner, and the constraints the schema enforces."""

import asyncio
import shutil
from pathlib import Path

import asyncpg
import msgspec
import pytest
from litestar.testing import AsyncTestClient

from backend import migrations
from backend.app import create_app
from backend.migrations import MigrationError, load_migrations, migrations_dir
from backend.settings import Settings


async def test_migrate_twice_applies_nothing_the_second_time(fresh_database: str) -> None:
    conn = await asyncpg.connect(fresh_database)
    try:
        first = await migrations.migrate(conn)
        assert [m.version for m in first] == [m.version for m in load_migrations()]
        assert await migrations.migrate(conn) == []
        rows = await conn.fetch("select version, checksum from schema_migrations order by version")
        assert [(r["version"], r["checksum"]) for r in rows] == [(m.version, m.checksum) for m in first]
    finally:
        await conn.close()


async def test_concurrent_starts_apply_each_migration_once(fresh_database: str) -> None:
    conns = [await asyncpg.connect(fresh_database) for _ in range(3)]
    try:
        results = await asyncio.gather(*(migrations.migrate(c) for c in conns))
        assert sorted(len(r) for r in results) == [0, 0, len(load_migrations())]
    finally:
        for conn in conns:
            await conn.close()


async def test_an_edited_migration_stops_start_up(fresh_database: str, tmp_path: Path) -> None:
    folder = tmp_path / "migrations"
    shutil.copytree(migrations_dir(), folder)
    conn = await asyncpg.connect(fresh_database)
    try:
        await migrations.migrate(conn, folder)
        edited = folder / "0002_people.sql"
        edited.write_text(edited.read_text() + "\n-- a harmless-looking edit\n")
        with pytest.raises(MigrationError, match=r"0002_people\.sql was edited after it was applied"):
            await migrations.migrate(conn, folder)
        with pytest.raises(MigrationError, match="edited"):
            await migrations.pending(conn, folder)
        edited.unlink()
        with pytest.raises(MigrationError, match="missing from migrations"):
            await migrations.migrate(conn, folder)
    finally:
        await conn.close()


async def test_a_failing_migration_leaves_nothing_half_applied(fresh_database: str, tmp_path: Path) -> None:
    folder = tmp_path / "migrations"
    folder.mkdir()
    (folder / "0001_ok.sql").write_text("create table a (id int);")
    (folder / "0002_broken.sql").write_text("create table b (id int); select * from no_such_table;")
    conn = await asyncpg.connect(fresh_database)
    try:
        with pytest.raises(MigrationError, match=r"0002_broken\.sql failed"):
            await migrations.migrate(conn, folder)
        assert await conn.fetchval("select array_agg(version) from schema_migrations") == [1]
        assert await conn.fetchval("select to_regclass('b')") is None
    finally:
        await conn.close()


def test_badly_named_files_are_refused(tmp_path: Path) -> None:
    (tmp_path / "1_first.sql").write_text("select 1;")
    with pytest.raises(MigrationError, match=r"NNNN_name\.sql"):
        load_migrations(tmp_path)


async def _a_service(db: asyncpg.Connection) -> int:
    return int(
        await db.fetchval(
            "select id from commune_services where commune_code = '00004' and procedure_code = '1.001193'"
        )
    )


async def test_overlapping_assignments_are_refused(db: asyncpg.Connection) -> None:
    service = await _a_service(db)
    official = await db.fetchval("select id from officials where commune_code = '00004' limit 1")
    # The demo holder's open-ended assignment overlaps anything that starts now.
    with pytest.raises(asyncpg.ExclusionViolationError):
        await db.execute(
            "insert into assignments (commune_service_id, official_id, valid) values ($1, $2, tstzrange(now(), null))",
            service,
            official,
        )
    # Adjacent intervals are fine: that is how a rotation is recorded.
    await db.execute(
        "insert into assignments (commune_service_id, official_id, valid) "
        "values ($1, $2, tstzrange('2020-01-01', '2020-06-01')), ($1, $2, tstzrange('2020-06-01', '2020-12-01'))",
        service,
        official,
    )


async def test_rating_constraints(db: asyncpg.Connection) -> None:
    service = await _a_service(db)
    citizen = await db.fetchval(
        "insert into citizen_installs (install_id, secret_hash, platform) values ('fid-constraints', '\\x00', 'ios') "
        "returning id"
    )
    dossier = await db.fetchval(
        "insert into dossiers (code, commune_service_id, status, received_at, completed_at, event_at) "
        "values ('00004-TEST-1', $1, 'completed', now() - interval '1 day', now(), now()) returning id",
        service,
    )
    insert = (
        "insert into ratings (citizen_id, commune_service_id, commune_code, score, channel, served_at, "
        "idempotency_key, request_hash, dossier_id) values ($1, $2, '00004', $3, 'app', now(), $4, '\\x00', $5)"
    )
    with pytest.raises(asyncpg.CheckViolationError):
        await db.execute(insert, citizen, service, 6, "k1", None)
    await db.execute(insert, citizen, service, 5, "k2", dossier)
    with pytest.raises(asyncpg.UniqueViolationError):  # one rating per dossier
        await db.execute(insert, citizen, service, 4, "k3", dossier)
    with pytest.raises(asyncpg.UniqueViolationError):  # one row per idempotency key
        await db.execute(insert, citizen, service, 4, "k2", None)


async def test_role_scopes_are_constrained(db: asyncpg.Connection) -> None:
    user = await db.fetchval("select id from users where username = 'front.badinh'")
    with pytest.raises(asyncpg.CheckViolationError):  # a chair of a province does not exist
        await db.execute(
            "insert into user_roles (user_id, role, scope_kind, province_code) "
            "values ($1, 'commune_chair', 'province', '01')",
            user,
        )


async def test_audit_log_is_append_only(db: asyncpg.Connection) -> None:
    await db.execute("insert into audit_log (actor_kind, action) values ('system', 'test')")
    with pytest.raises(asyncpg.RaiseError, match="append-only"):
        await db.execute("update audit_log set action = 'rewritten'")
    with pytest.raises(asyncpg.RaiseError, match="append-only"):
        await db.execute("delete from audit_log")
    with pytest.raises(asyncpg.RaiseError, match="append-only"):
        await db.execute("truncate audit_log")
    assert await db.fetchval("select action from audit_log where action = 'test'") == "test"


async def test_wrongdoing_contact_is_never_stored_in_clear(db: asyncpg.Connection) -> None:
    # The only contact columns are ciphertext; an anonymous report may not carry any.
    columns = {
        r["column_name"]
        for r in await db.fetch("select column_name from information_schema.columns where table_name = 'feedback'")
    }
    assert not columns & {"contact_name", "contact_phone", "contact_email", "reporter_name"}
    with pytest.raises(asyncpg.CheckViolationError):
        await db.execute(
            "insert into feedback (reference, category, commune_code, body, is_anonymous, contact_ciphertext, "
            "contact_key_id) values ('T-1', 'wrongdoing_report', '00004', 'x', true, '\\x01', 'k1')"
        )
    # ...while a proper anonymous report is accepted.
    await db.execute(
        "insert into feedback (reference, category, commune_code, body, is_anonymous) "
        "values ('T-2', 'wrongdoing_report', '00004', 'Có dấu hiệu vòi vĩnh', true)"
    )


async def test_the_api_refuses_to_start_on_a_database_behind_the_code(fresh_database: str, settings: Settings) -> None:
    behind = msgspec.structs.replace(settings, database_url=fresh_database)
    with pytest.raises(BaseException) as caught:
        async with AsyncTestClient(app=create_app(behind)) as client:
            await client.get("/health/ready")  # never reached: start-up fails first
    errors, found = [caught.value], []
    while errors:  # the test client wraps lifespan failures in exception groups
        error = errors.pop()
        errors += getattr(error, "exceptions", [])
        found += [error] if isinstance(error, MigrationError) else []
    assert found and "run `commune-pulse migrate`" in str(found[0])
