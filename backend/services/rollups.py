"""Rollup maintenance. The rollups are kept current by triggers (migrations/0009, 0014);
this recomputes them from the raw ratings, dossiers and feedback, for repair and checking."""

from __future__ import annotations

from typing import Any

ROLLUP_TABLES = (
    "rating_rollups_hourly",
    "commune_rollups_daily",
    "dossier_rollups_hourly",
    "dossier_processing_hourly",
    "commune_processing_daily",
    "feedback_rollups_daily",
    "feedback_answer_time_daily",
)

REBUILD_SQL = "select rebuild_rollups()"
COUNT_SQL = " union all ".join(f"select '{t}' as name, count(*) as n from {t}" for t in ROLLUP_TABLES)


async def rebuild_rollups(conn: Any) -> dict[str, int]:
    """Recompute every rollup from the raw rows in one transaction (writers wait for it);
    returns the rows per rollup table."""
    async with conn.transaction():
        await conn.execute(REBUILD_SQL)
        return {row["name"]: row["n"] for row in await conn.fetch(COUNT_SQL)}
