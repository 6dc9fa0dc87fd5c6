"""The hot statements never JIT-compile, however the planner costs them.

With a few hundred thousand ratings (or stale statistics) the generic plan of the rating
resolve statement is costed above jit_above_cost, and the server then spends 30-500 ms
compiling a 2 ms statement on every execution. The service turns JIT off for its
connections (backend.db.OLTP_SETTINGS). Here the planner is pushed to the worst case
(jit_above_cost = 0, forced generic plans) on the app's own pools, and EXPLAIN must show no
JIT section; the same EXPLAIN on a plain connection shows one, so the check has teeth.
"""

from __future__ import annotations

from typing import Any

import asyncpg
import pytest

from backend import auth
from backend.db import create_pool
from backend.services import auth as auth_service
from backend.services import devices, dossiers, ratings
from backend.settings import Settings

HOT_STATEMENTS = {
    "ratings.RESOLVE_SQL": ratings.RESOLVE_SQL,
    "ratings.INSERT_SQL": ratings.INSERT_SQL,
    "ratings.INSERT_SCORED_SQL": ratings.INSERT_SCORED_SQL,
    "ratings.RATINGS_BY_ID_SQL": ratings.RATINGS_BY_ID_SQL,
    "ratings.MY_RATINGS_SQL": ratings.MY_RATINGS_SQL,
    "auth.STAFF_SQL": auth.STAFF_SQL,
    "auth.API_KEY_SQL": auth.API_KEY_SQL,
    "services.auth.INSTALL_SQL": auth_service.INSTALL_SQL,
    "devices.INSTALL_SQL": devices.INSTALL_SQL,
    "dossiers.RESOLVE_SERVICES_SQL": dossiers.RESOLVE_SERVICES_SQL,
    "dossiers.UPSERT_SQL": dossiers.UPSERT_SQL,
    "dossiers.VERIFY_RATINGS_SQL": dossiers.VERIFY_RATINGS_SQL,
}


async def _worst_case_plan(conn: Any, sql: str) -> str:
    """The generic plan of `sql`, as EXPLAIN prints it, with JIT considered for any cost."""
    async with conn.transaction():
        await conn.execute("set local jit_above_cost = 0")
        await conn.execute("set local plan_cache_mode = force_generic_plan")
        statement = await conn.prepare(sql)
        nulls = ", ".join("null" for _ in statement.get_parameters())
        await conn.execute(f"prepare jit_probe as {sql}")
        try:
            rows = await conn.fetch(f"explain execute jit_probe({nulls})" if nulls else "explain execute jit_probe")
        finally:
            await conn.execute("deallocate jit_probe")
    return "\n".join(r[0] for r in rows)


@pytest.mark.parametrize("name", sorted(HOT_STATEMENTS))
async def test_hot_statement_never_jits_on_the_service_pools(name: str, settings: Settings) -> None:
    # The two pool shapes the app opens (backend.app): the general one and the batched writers'.
    for generic_plans in (False, True):
        pool = await create_pool(settings, max_size=1, generic_plans=generic_plans)
        try:
            async with pool.acquire() as conn:
                assert await conn.fetchval("show jit") == "off"
                plan = await _worst_case_plan(conn, HOT_STATEMENTS[name])
        finally:
            await pool.close()
        assert "JIT:" not in plan, f"{name} is JIT-compiled:\n{plan}"


async def test_the_probe_sees_jit_when_the_connection_allows_it(settings: Settings) -> None:
    """Without the service's setting the same probe finds JIT, so the test above can fail."""
    conn = await asyncpg.connect(settings.database_url)
    try:
        if not await conn.fetchval("select pg_jit_available()"):
            pytest.skip("this PostgreSQL has no JIT provider; the pin above holds trivially")
        await conn.execute("set jit = on")
        plan = await _worst_case_plan(conn, ratings.RESOLVE_SQL)
    finally:
        await conn.close()
    assert "JIT:" in plan
