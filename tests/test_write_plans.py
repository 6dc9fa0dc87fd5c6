"""The batched rating writes never scan a table or hash-join, however small it was when planned.

The write pool's statements run with generic plans fixed when prepared (backend.db). Planned
while `ratings` was small, the resolve statement hash-joined a sequential scan of the whole
table to find one request's idempotency key, and kept that plan as the table grew (10 ms a
batch at a few tens of thousands of ratings). The write pool rules out scans and hash or
merge joins (backend.db.KEYED_WRITE_SETTINGS).

Nor may they join two lists of rows without an index between them: with hash joins ruled
out that is a nested loop over both, quadratic in the batch (joining a 2,000-rating batch's
inserted rows back to its input rows took a second).

auto_explain logs the plan of every statement a real batch runs, the rollup triggers'
statements included, on a write-pool connection of this test's small database (the worst
case: every table is tiny). The same batch on a connection that allows scans shows them, so
the check has teeth.
"""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import pytest

from backend.campaign_rules import CampaignThresholds
from backend.crypto import fingerprints
from backend.db import create_pool
from backend.services import ratings
from backend.settings import Settings
from schemas.ratings import RatingCreate

# Bookkeeping tables with no index a write could use: a scan of their one or few rows is the plan.
SCANNED_WHOLE = {"rating_baseline_runs"}
# Row lists with no index: a nested loop with one of them inside runs it once per outer row.
UNINDEXED = {"CTE Scan", "Function Scan", "Named Tuplestore Scan", "Values Scan", "Materialize"}


async def _batch_plans(conn: Any, settings: Settings, batch: list[ratings.RatingRequest]) -> list[str]:
    """The plans auto_explain logs for every statement (nested ones too) of one write."""
    plans: list[str] = []

    def listen(_conn: Any, message: Any) -> None:
        plans.append(message.message)

    conn.add_log_listener(listen)
    try:
        return await _logged_write(conn, settings, batch, plans)
    finally:
        # A connection given back with a listener warns, and warnings are errors here.
        conn.remove_log_listener(listen)


async def _logged_write(
    conn: Any, settings: Settings, batch: list[ratings.RatingRequest], plans: list[str]
) -> list[str]:
    try:
        await conn.execute("load 'auto_explain'")
    except asyncpg.PostgresError as exc:  # a server built without contrib
        pytest.skip(f"auto_explain is not available: {exc}")
    for setting, value in (
        ("auto_explain.log_min_duration", "0"),
        ("auto_explain.log_nested_statements", "on"),
        ("auto_explain.log_level", "notice"),
        ("auto_explain.log_format", "json"),
        ("client_min_messages", "notice"),
    ):
        await conn.execute(f"set {setting} = {value}")
    limits = ratings.RatingLimits(
        daily=settings.rating_daily_limit,
        window=timedelta(seconds=settings.rating_window),
        # Scoring on, as in production (the test settings turn it off): its probes and the
        # activity counts are part of the write.
        campaign=CampaignThresholds(),
    )
    tx = conn.transaction()
    await tx.start()
    try:
        outcomes = await ratings.write_ratings(conn, batch, limits)
        # A replay of the same batch runs the read-back of stored ratings as well.
        replays = await ratings.write_ratings(conn, batch, limits)
    finally:
        await tx.rollback()
    assert [o.status for o in outcomes] == [201] * len(batch), [o.error for o in outcomes]
    assert [o.status for o in replays] == [200] * len(batch)
    return plans


async def _batch(db: asyncpg.Connection, settings: Settings) -> list[ratings.RatingRequest]:
    """Ratings of each shape: by service id, by commune and procedure, low scores (the campaign
    probes read the baselines), a comment (the copy probe), from two installs."""
    installs = [
        await db.fetchval(
            "insert into citizen_installs (install_id, secret_hash, platform, created_at)"
            " values ($1, '\\x00', 'android', now() - interval '90 days') returning id",
            f"plan-test-{uuid.uuid4().hex}",
        )
        for _ in range(2)
    ]
    services = await db.fetch(
        "select cs.id, cs.commune_code, cs.procedure_code from commune_services cs"
        " join assignments a on a.commune_service_id = cs.id where cs.is_active order by cs.id limit 3"
    )
    assert len(services) == 3
    served = datetime.now(UTC) - timedelta(hours=2)
    bodies = [
        RatingCreate(score=5, commune_service_id=services[0]["id"], served_at=served),
        RatingCreate(score=1, commune_service_id=services[1]["id"], served_at=served),
        RatingCreate(
            score=2,
            commune_code=services[2]["commune_code"],
            procedure_code=services[2]["procedure_code"],
            served_at=served,
            comment="Cán bộ hẹn lại nhiều lần, chờ cả buổi sáng mới được tiếp",
        ),
    ]
    keys = fingerprints(settings)
    return [
        ratings.rating_request(install, f"plan-{uuid.uuid4().hex}", body, keys, "203.0.113.7")
        for install in installs
        for body in bodies
    ]


def _nodes(plans: list[str]) -> list[dict[str, Any]]:
    """Every plan node of the logged plans ("duration: ... plan:" and the JSON)."""
    found: list[dict[str, Any]] = []

    def walk(node: dict[str, Any]) -> None:
        found.append(node)
        for child in node.get("Plans", []):
            walk(child)

    for message in plans:
        logged = json.loads(message.partition("plan:")[2])
        # asyncpg's own look-up of a type it has not met on this connection: not ours to shape.
        if "typeinfo_tree" not in logged.get("Query Text", ""):
            walk(logged["Plan"])
    return found


def _shape_faults(plans: list[str]) -> tuple[set[str], set[str]]:
    """(tables scanned whole, joins that are not keyed lookups)."""
    scans, joins = set(), set()
    for node in _nodes(plans):
        kind = node["Node Type"]
        if kind == "Seq Scan" and node["Relation Name"] not in SCANNED_WHOLE:
            scans.add(node["Relation Name"])
        elif kind in ("Hash Join", "Merge Join"):
            joins.add(kind)
        elif kind == "Nested Loop":
            inner = next(c for c in node["Plans"] if c.get("Parent Relationship") == "Inner")
            if inner["Node Type"] in UNINDEXED:
                joins.add(f"Nested Loop over {inner['Node Type']}")
    return scans, joins


async def test_the_batched_writes_reach_rows_by_key_on_a_small_database(
    db: asyncpg.Connection, settings: Settings
) -> None:
    batch = await _batch(db, settings)
    pool = await create_pool(settings, max_size=1, generic_plans=True)
    try:
        async with pool.acquire() as conn:
            plans = await _batch_plans(conn, settings, batch)
    finally:
        await pool.close()
    text = "\n".join(plans)
    # Every statement of the write was seen: the resolve, the insert with its activity counts,
    # the rollup trigger's statements, the read-back of the replays.
    touched = {node.get("Relation Name") for node in _nodes(plans) if node["Node Type"] != "Seq Scan"}
    for table in ("citizen_installs", "ratings", "rating_activity", "rating_rollups_hourly", "commune_rollups_daily"):
        assert table in touched, f"no plan touches {table}"
    scans, joins = _shape_faults(plans)
    assert not scans, f"tables scanned whole: {sorted(scans)}\n{text}"
    assert not joins, f"joins that are not keyed lookups: {sorted(joins)}\n{text}"


async def test_the_same_batch_scans_where_the_planner_is_left_free(db: asyncpg.Connection, settings: Settings) -> None:
    """Without the write pool's settings the small tables are scanned: the test above can fail."""
    batch = await _batch(db, settings)
    pool = await create_pool(settings, max_size=1, generic_plans=True)
    try:
        async with pool.acquire() as conn:
            for setting in ("enable_seqscan", "enable_hashjoin", "enable_mergejoin"):
                await conn.execute(f"set {setting} = on")
            plans = await _batch_plans(conn, settings, batch)
    finally:
        await pool.close()
    scans, joins = _shape_faults(plans)
    assert scans or joins
