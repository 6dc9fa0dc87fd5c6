"""What campaign scoring costs on the rating write path, A/B in one run.

`bench.ratings` measures the whole HTTP path against a bare baseline; on a shared machine
its figures move by more than the scoring costs. This isolates the write itself: the group
writer's function (`backend.services.ratings.write_ratings`: the resolving SELECT and the
INSERT, with the rollup triggers) on one connection of the writer's pool shape (generic
plans, JIT off), batches of `--batch` ratings from long-lived installs, alternating rounds
with scoring off and on so both sides see the same load, on the same data as
`bench.ratings` (500 communes, 200,000 earlier ratings). Prints ratings/s and ms per batch
per side (medians over the rounds) and the ratio on/off.

Run:
    .venv/bin/python -m bench.campaign_scoring            # --rounds, --batches, --batch, --history
Servers: DATABASE_URL (database `commune_pulse_bench_campaign`, dropped after) or embedded.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import secrets
import statistics
import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import msgspec

from backend.campaign_rules import CampaignThresholds
from backend.cli import prepare_database
from backend.crypto import Fingerprints
from backend.db import create_pool
from backend.embedded import start_postgres, with_database
from backend.services.ratings import RatingLimits, RatingRequest, rating_request, write_ratings
from backend.settings import Settings
from bench.dataset import RatingBodies, create_dataset
from bench.ratings import BENCH_DIR
from schemas.ratings import RatingCreate

DATABASE = "commune_pulse_bench_campaign"
INSTALLS_SQL = """
insert into citizen_installs (install_id, secret_hash, platform, created_at)
select 'campaign-ab-' || g, '\\x00', 'android', now() - interval '90 days' from generate_series(1, $1) g
returning id
"""


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.campaign_scoring", description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=6, help="rounds per side, alternating (default 6)")
    parser.add_argument("--batches", type=int, default=25, help="batches per round (default 25)")
    parser.add_argument("--batch", type=int, default=64, help="ratings per batch (default 64)")
    parser.add_argument("--history", type=int, default=200_000, help="earlier ratings (default 200000)")
    parser.add_argument("--installs", type=int, default=1000, help="long-lived installs rating (default 1000)")
    return parser.parse_args()


async def main_async(args: argparse.Namespace) -> None:
    admin_url = os.environ.get("DATABASE_URL")
    server: Any = None
    if not admin_url:
        server, admin_url = start_postgres(BENCH_DIR / "pg")
    admin = await asyncpg.connect(admin_url)
    await admin.execute(f"drop database if exists {DATABASE} with (force)")
    await admin.execute(f"create database {DATABASE} encoding 'UTF8' lc_collate 'C' lc_ctype 'C' template template0")
    url = with_database(admin_url, DATABASE)
    try:
        await prepare_database(Settings(database_url=url), reference=True, demo=False)
        setup = await asyncpg.connect(url)
        data = await create_dataset(setup, 500, 10, 0, args.history)
        installs = [r["id"] for r in await setup.fetch(INSTALLS_SQL, args.installs)]
        await setup.execute("vacuum (analyze)")
        await setup.close()
        # The group writer's own pool shape: generic plans, JIT off (backend.db, backend.app).
        pool = await create_pool(Settings(database_url=url), max_size=1, generic_plans=True)
        conn = await pool.acquire()
        keys = Fingerprints([("ab", secrets.token_bytes(32))])
        bodies = RatingBodies(data.services, seed=11)
        limits = {
            "off": RatingLimits(daily=1_000_000, window=timedelta(days=30)),
            "on": RatingLimits(daily=1_000_000, window=timedelta(days=30), campaign=CampaignThresholds()),
        }
        counter = iter(range(10**9))

        def batch() -> list[RatingRequest]:
            out = []
            for _ in range(args.batch):
                n = next(counter)
                body = msgspec.convert(bodies.plain(), RatingCreate)
                out.append(rating_request(installs[n % len(installs)], uuid.uuid4().hex, body, keys, "10.0.0.7"))
            return out

        per_side: dict[str, list[float]] = {"off": [], "on": []}
        print(f"{args.rounds} rounds x {args.batches} batches x {args.batch} ratings per side, alternating ...")
        for _ in range(args.rounds):
            for side in ("off", "on"):
                prepared = [batch() for _ in range(args.batches)]
                began = time.perf_counter()
                for requests in prepared:
                    outcomes = await write_ratings(conn, requests, limits[side], datetime.now(UTC))
                    assert all(o.status == 201 for o in outcomes), [o.error for o in outcomes if o.error]
                per_side[side].append(args.batches * args.batch / (time.perf_counter() - began))
        held = await conn.fetchval("select count(*) from ratings where quarantine = 'held'")
        await pool.release(conn)
        await pool.close()
        off, on = statistics.median(per_side["off"]), statistics.median(per_side["on"])
        print(f"\nwrite_ratings, one generic-plan connection, batches of {args.batch}, {args.history} earlier ratings")
        print(f"load average {os.getloadavg()[0]:.2f} (shared machine)")
        print(f"{'':14} {'ratings/s':>10} {'ms/batch':>9}   rounds (ratings/s)")
        for side, value in (("scoring off", off), ("scoring on", on)):
            rounds = ", ".join(f"{v:.0f}" for v in per_side[side.split()[1]])
            print(f"{side:14} {value:>10.0f} {1000 * args.batch / value:>9.1f}   {rounds}")
        print(f"ratio on/off   {on / off:>10.2f}")
        print(f"held by scoring: {held} of {args.rounds * args.batches * args.batch} scored ratings")
    finally:
        await admin.execute(f"drop database if exists {DATABASE} with (force)")
        await admin.close()
        if server is not None:
            server.cleanup()


def main() -> None:
    asyncio.run(main_async(parse_args()))


if __name__ == "__main__":
    main()
