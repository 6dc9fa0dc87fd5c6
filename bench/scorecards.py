"""Scorecards at national scale: computing a month for the nation, and reading a scorecard.

Targets (issue 13): every official's and commune's scorecard of a month at national scale
(3,321 communes x 25 services) computed in under 10 s; a scorecard read p95 under 50 ms.

The dataset is written set-based in SQL for the month before the current one, as raw rows
(scorecards are computed from raw rows: only verified ratings that count, dossiers credited
to their handler), with triggers off (the rollups are not what is measured here):

* 25 of the 40 procedures per commune, five officials per commune; every other service
  changes hands in mid-month (so crediting by assignment is exercised);
* `--dossiers` dossiers per service in the month (default 30: 2.5 M nationally), received
  through the month, due after the statutory time, about 90 % on time, 3 % still open, 60 %
  reporting their channel, 10 % naming their handler;
* `--ratings` ratings per service (default 60: 5 M nationally, the watch benchmark's volume):
  one verified rating for about 60 % of completed dossiers, the rest unverified; 2 % held in
  quarantine; 60 % rate two dimensions;
* six forwarded feedback items per commune.

Measured: the national computation alone (`compute_provinces`, one pass), and computation
plus storing every province (`refresh_provinces`, what the daily job does), each timed on a
first and a second run; then `GET /v1/scorecards/{id}` and `GET /v1/scorecards?commune=`
through the app in this process (Litestar's test transport, no network, sequential), p50,
p95 and p99.

Servers: DATABASE_URL / REDIS_URL when set (a database `commune_pulse_bench_scorecards` is
created and finally dropped there), else embedded ones under var/bench/.

Run:
    .venv/bin/python -m bench.scorecards            # national
    .venv/bin/python -m bench.scorecards --quick    # 300 communes
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import random
import statistics
import sys
import time
from datetime import UTC, datetime
from typing import Any

import asyncpg
from litestar.testing import AsyncTestClient

from backend import scorecard_rules as rules
from backend.app import create_app
from backend.cli import prepare_database
from backend.db import connect, create_pool
from backend.embedded import with_database
from backend.services.auth import tool_access_token
from backend.services.scorecard_compute import compute_provinces
from backend.services.scorecard_jobs import refresh_provinces
from backend.settings import Settings
from backend.workdays import LOCAL_TZ
from bench.ratings import ROOT, Backing, backing_servers

DATABASE = "commune_pulse_bench_scorecards"
TARGET_COMPUTE_S = 10.0
TARGET_READ_P95_MS = 50.0
JWT_SECRET = "bench-scorecards-" + "x" * 32
KEY = "YmVuY2gtc2NvcmVjYXJkcy1rZXktMzItYnl0ZXMtb2s="


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.scorecards", description=__doc__.split("\n")[0])
    add = parser.add_argument
    add("--communes", type=int, help="communes with services (default all 3321, quick 300)")
    add("--services", type=int, default=25, help="services per commune (default 25)")
    add("--dossiers", type=int, default=30, help="dossiers per service in the month (default 30)")
    add("--ratings", type=int, default=60, help="ratings per service in the month (default 60)")
    add("--reads", type=int, help="reads of each kind (default 1000, quick 200)")
    add("--quick", action="store_true", help="300 communes, fewer reads")
    add("--strict", action="store_true", help="exit 1 when a target is missed")
    add("--keep", action="store_true", help="keep the database afterwards (to look at plans)")
    args = parser.parse_args(argv)
    if args.communes is None:
        args.communes = 300 if args.quick else 100_000
    if args.reads is None:
        args.reads = 200 if args.quick else 1000
    return args


COMMUNES_SQL = """
create temporary table bench_communes as
select code, province_code from (
    select code, province_code, row_number() over (partition by province_code order by code) as rn,
           count(*) over (partition by province_code) as n
    from communes
) ranked
order by (rn - 0.5) / n, province_code
limit $1
"""

SERVICES_SQL = """
insert into commune_services (commune_code, procedure_code, lead_agency, lead_agency_en)
select c.code, p.code, 'Bộ phận một cửa ' || c.full_name, 'One-stop shop of ' || c.full_name_en
from communes c
join bench_communes b on b.code = c.code
cross join lateral (select code from procedures order by md5(c.code || code) limit $1) p
"""

BENCH_SERVICES_SQL = """
create temporary table bench_services as
select cs.id, cs.commune_code, coalesce(p.statutory_days, 5) as statutory_days,
       row_number() over (partition by cs.commune_code order by cs.id) - 1 as i
from commune_services cs join bench_communes b on b.code = cs.commune_code
join procedures p on p.code = cs.procedure_code
"""

OFFICIALS_SQL = """
insert into officials (commune_code, full_name, position, position_en)
select b.code, 'Cán bộ ' || (k + 1) || ' ' || b.code, 'Công chức', 'Civil servant'
from bench_communes b cross join generate_series(0, 4) k
"""

BENCH_OFFICIALS_SQL = """
create temporary table bench_officials as
select o.id, o.commune_code, row_number() over (partition by o.commune_code order by o.id) - 1 as k
from officials o join bench_communes b on b.code = o.commune_code
"""

# Even services: one holder all month; odd ones change hands on the 15th.
ASSIGNMENTS_SQL = """
insert into assignments (commune_service_id, official_id, valid)
select s.id, o.id,
       case when s.i % 2 = 0 then tstzrange($1::timestamptz - interval '90 days', null, '[)')
            when o.k = s.i % 5 then tstzrange($1::timestamptz - interval '90 days', $2::timestamptz, '[)')
            else tstzrange($2::timestamptz, null, '[)') end
from bench_services s
join bench_officials o on o.commune_code = s.commune_code
 and (o.k = s.i % 5 or (s.i % 2 = 1 and o.k = (s.i + 1) % 5))
"""

DOSSIERS_SQL = """
insert into dossiers (code, commune_service_id, status, received_at, due_at, completed_at, event_at, channel,
                      handling_official_id)
select 'BSC-' || x.id || '-' || x.g, x.id,
       case when x.u1 > 0.97 then 'processing' else 'completed' end,
       x.received_at, x.due_at,
       case when x.u1 <= 0.97 then least($3::timestamptz - interval '1 hour',
            x.received_at + (x.due_at - x.received_at) * case when x.u1 < 0.9 then 0.1 + 0.8 * x.u2
                                                              else 1.05 + 0.6 * x.u2 end) end,
       x.received_at,
       case when x.u3 < 0.24 then 'online' when x.u3 < 0.55 then 'in_person' when x.u3 < 0.6 then 'postal' end,
       case when x.u3 > 0.9 then (select o.id from bench_officials o
                                  where o.commune_code = x.commune_code and o.k = x.g % 5) end
from (
    select s.id, s.commune_code, g, r.received_at,
           r.received_at + interval '1 day' * (s.statutory_days * 7 / 5 + 1) as due_at,
           random() as u1, random() as u2, random() as u3
    from bench_services s
    cross join generate_series(1, $4::int) g
    cross join lateral (select $1::timestamptz + ($2::timestamptz - $1::timestamptz) * 0.85 * random()
                               + interval '0 second' * g as received_at) r
) x
"""

CITIZENS_SQL = """
insert into citizen_installs (install_id, secret_hash, platform)
select 'bench-sc-' || g, '\\x00', 'android' from generate_series(1, 1000) g
"""

BENCH_CITIZENS_SQL = """
create temporary table bench_citizens as
select row_number() over (order by id) - 1 as n, id from citizen_installs where install_id like 'bench-sc-%'
"""

# One verified rating for ~60 % of completed dossiers, linked to the official at completion.
VERIFIED_RATINGS_SQL = """
insert into ratings (citizen_id, commune_service_id, commune_code, official_id, dossier_id, verified, score,
                     score_attitude, score_timeliness, channel, served_at, idempotency_key, quarantine)
select bc.id, d.commune_service_id, s.commune_code, a.official_id, d.id, true, x.score,
       case when x.u < 0.6 then x.score end, case when x.u < 0.6 then greatest(1, x.score - 1) end,
       'app', d.completed_at, 'v' || d.id, case when x.u > 0.98 then 'held' end
from dossiers d
join bench_services s on s.id = d.commune_service_id
join bench_citizens bc on bc.n = d.id % 1000
left join assignments a on a.commune_service_id = d.commune_service_id and lower(a.valid) <= d.completed_at
                       and a.valid @> d.completed_at
cross join lateral (select case when random() < 0.88 then 4 + (random() < 0.55)::int
                                else 1 + floor(random() * 3)::int end + 0 * d.id as score,
                           random() + 0 * d.id as u) x
where d.completed_at is not null and random() < 0.6
"""

UNVERIFIED_RATINGS_SQL = """
insert into ratings (citizen_id, commune_service_id, commune_code, official_id, verified, score, channel,
                     served_at, idempotency_key)
select bc.id, s.id, s.commune_code, a.official_id, false, 1 + floor(random() * 5)::int, 'app', r.served_at,
       'u' || s.id || '-' || g
from bench_services s
left join (select commune_service_id, count(*)::int as n from ratings group by 1) v on v.commune_service_id = s.id
cross join generate_series(1, greatest(0, $3::int - coalesce(v.n, 0))) g
cross join lateral (select $1::timestamptz + ($2::timestamptz - $1::timestamptz) * random() + interval '0 second' * g
                    as served_at) r
join bench_citizens bc on bc.n = (s.id + g) % 1000
left join assignments a on a.commune_service_id = s.id and lower(a.valid) <= r.served_at
                       and a.valid @> r.served_at
"""

FEEDBACK_SQL = """
with items as (
    insert into feedback (reference, category, commune_code, official_id, status, body, is_anonymous)
    select 'BSC-' || b.code || '-' || g, (array['suggestion', 'complaint', 'question'])[1 + g % 3], b.code,
           null, case when g % 4 = 0 then 'forwarded' else 'answered' end, 'Phản ánh ' || g, true
    from bench_communes b cross join generate_series(1, 6) g
    returning id, commune_code, category, status, reference
)
insert into feedback_forwards (feedback_id, official_id, commune_code, redacted_body, due_at, status, answered_at,
                               created_at, category)
select i.id, o.id, i.commune_code, 'Phản ánh', $1::timestamptz + interval '1 day' * (3 + i.id % 25),
       case when i.status = 'answered' then 'answered' else 'open' end,
       case when i.status = 'answered' then $1::timestamptz + interval '1 day' * (1 + i.id % 27) end,
       $1::timestamptz, i.category
from items i
join bench_officials o on o.commune_code = i.commune_code and o.k = i.id % 5
"""

SIZES_SQL = """
select (select count(*) from commune_services) as services, (select count(*) from officials) as officials,
       (select count(*) from dossiers) as dossiers, (select count(*) from ratings) as ratings,
       (select count(*) from ratings where verified) as verified, (select count(*) from feedback_forwards) as forwards
"""


async def build(conn: Any, args: argparse.Namespace, period: rules.Period) -> dict[str, int]:
    mid = rules.local_midnight_utc(period.start.replace(day=15))
    now = datetime.now(UTC)
    await conn.execute("set session_replication_role = replica")  # no rollup triggers: not measured here
    steps: list[tuple[str, str, tuple[Any, ...]]] = [
        ("communes", COMMUNES_SQL, (args.communes,)),
        ("services", SERVICES_SQL, (args.services,)),
        ("service plan", BENCH_SERVICES_SQL, ()),
        ("officials", OFFICIALS_SQL, ()),
        ("official plan", BENCH_OFFICIALS_SQL, ()),
        ("official plan index", "create index on bench_officials (commune_code, k)", ()),
        ("analyze", "analyze bench_services, bench_officials, assignments", ()),
        ("assignments", ASSIGNMENTS_SQL, (period.start_utc, mid)),
        ("dossiers", DOSSIERS_SQL, (period.start_utc, period.end_utc, now, args.dossiers)),
        ("citizens", CITIZENS_SQL, ()),
        ("citizen plan", BENCH_CITIZENS_SQL, ()),
        ("analyze", "analyze bench_services, bench_citizens, bench_officials, assignments, dossiers", ()),
        ("verified ratings", VERIFIED_RATINGS_SQL, ()),
        ("analyze", "analyze ratings", ()),
        ("unverified ratings", UNVERIFIED_RATINGS_SQL, (period.start_utc, period.end_utc, args.ratings)),
        ("feedback", FEEDBACK_SQL, (period.start_utc,)),
    ]
    for name, sql, params in steps:
        began = time.perf_counter()
        status = await conn.execute(sql, *params)
        print(f"  {name}: {status.split()[-1]} rows, {time.perf_counter() - began:.1f} s", flush=True)
    await conn.execute("set session_replication_role = origin")
    began = time.perf_counter()
    await conn.execute("vacuum (analyze)")
    with contextlib.suppress(asyncpg.PostgresError):
        await conn.execute("checkpoint")
    print(f"  vacuum analyze + checkpoint: {time.perf_counter() - began:.1f} s", flush=True)
    row = await conn.fetchrow(SIZES_SQL)
    return dict(row)


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


async def time_reads(client: AsyncTestClient[Any], headers: dict[str, str], paths: list[str]) -> list[float]:
    took = []
    for path in paths:
        began = time.perf_counter()
        response = await client.get(path, headers=headers)
        took.append((time.perf_counter() - began) * 1000)
        if response.status_code != 200:
            raise RuntimeError(f"{path}: {response.status_code} {response.text[:300]}")
    return took


async def run(args: argparse.Namespace, backing: Backing) -> int:
    period = rules.previous_month(datetime.now(UTC).astimezone(LOCAL_TZ).date())
    database_url = with_database(backing.admin_url, DATABASE)
    admin = await asyncpg.connect(backing.admin_url)
    try:
        await admin.execute(f"drop database if exists {DATABASE} with (force)")
        await admin.execute(
            f"create database {DATABASE} encoding 'UTF8' lc_collate 'C' lc_ctype 'C' template template0"
        )
    finally:
        await admin.close()
    settings = Settings(
        database_url=database_url,
        redis_url=backing.redis_url,
        redis_key_prefix="bench-scorecards",
        jwt_secret=JWT_SECRET,
        feedback_keys=(("b1", KEY),),
        fingerprint_keys=(("f1", KEY),),
        scorecard_refresh=86400,
        scorecard_freeze_days=366,
    )
    met = True
    try:
        print(f"creating {DATABASE}, month {period.label}, {args.communes} communes at most ...", flush=True)
        await prepare_database(settings, reference=True, demo=False)
        conn = await connect(settings)
        try:
            sizes = await build(conn, args, period)
            provinces = [
                r["province_code"] for r in await conn.fetch("select distinct province_code from bench_communes")
            ]
            admin_id = await conn.fetchval(
                "insert into users (username, password_hash, display_name) "
                "values ('bench.sc', '!', 'Bench') returning id"
            )
            await conn.execute(
                "insert into user_roles (user_id, role, scope_kind) values ($1, 'system_admin', 'national')", admin_id
            )
        finally:
            await conn.close()
        pool = await create_pool(settings)
        try:
            compute_s = []
            for _ in range(2):
                async with pool.acquire() as c:
                    began = time.perf_counter()
                    computed = await compute_provinces(c, settings, provinces, period, datetime.now(UTC), pool=pool)
                    compute_s.append(time.perf_counter() - began)
            cards = sum(len(v) for v in computed.values())
            refresh_s = []
            for _ in range(2):
                began = time.perf_counter()
                await refresh_provinces(pool, settings, provinces, period, datetime.now(UTC))
                refresh_s.append(time.perf_counter() - began)
            async with pool.acquire() as c:
                ids = [r["id"] for r in await c.fetch("select id from scorecards")]
                token = await tool_access_token(c, JWT_SECRET, admin_id, 3600)
                communes = [
                    r["commune_code"]
                    for r in await c.fetch(
                        "select distinct commune_code from scorecards where subject_kind = 'official'"
                    )
                ]
        finally:
            await pool.close()

        rng = random.Random(13)
        headers = {"authorization": f"Bearer {token}"}
        async with AsyncTestClient(app=create_app(settings)) as client:
            card_paths = [f"/v1/scorecards/{rng.choice(ids)}" for _ in range(args.reads)]
            list_paths = [
                f"/v1/scorecards?period={period.label}&commune={rng.choice(communes)}" for _ in range(args.reads)
            ]
            await time_reads(client, headers, card_paths[:20])  # warm the pool and plans
            card_ms = await time_reads(client, headers, card_paths)
            list_ms = await time_reads(client, headers, list_paths)
    finally:
        if not args.keep:
            admin = await asyncpg.connect(backing.admin_url)
            try:
                await admin.execute(f"drop database if exists {DATABASE} with (force)")
            finally:
                await admin.close()

    def ms(values: list[float]) -> str:
        return (
            f"p50 {statistics.median(values):.1f} ms, p95 {percentile(values, 0.95):.1f} ms, "
            f"p99 {percentile(values, 0.99):.1f} ms ({len(values)} reads)"
        )

    compute_ok = max(refresh_s) < TARGET_COMPUTE_S
    read_ok = percentile(card_ms, 0.95) < TARGET_READ_P95_MS
    met = compute_ok and read_ok
    print()
    print(f"Scorecards benchmark, month {period.label}, {os.cpu_count()} cores, {backing.postgres_label}")
    print(
        f"  data: {len(provinces)} provinces, {sizes['services']} services, {sizes['officials']} officials, "
        f"{sizes['dossiers']} dossiers, {sizes['ratings']} ratings ({sizes['verified']} verified), "
        f"{sizes['forwards']} forwarded feedback"
    )
    print(f"  scorecards: {cards} (officials and communes)")
    print(f"  compute only (one pass): first {compute_s[0]:.2f} s, second {compute_s[1]:.2f} s")
    print(
        f"  compute + store every province: first {refresh_s[0]:.2f} s, second {refresh_s[1]:.2f} s "
        f"(target < {TARGET_COMPUTE_S:g} s: {'met' if compute_ok else 'MISSED'})"
    )
    print(f"  GET /v1/scorecards/{{id}}: {ms(card_ms)} (target p95 < {TARGET_READ_P95_MS:g} ms: "
          f"{'met' if read_ok else 'MISSED'})")  # fmt: skip
    print(f"  GET /v1/scorecards?commune=: {ms(list_ms)}")
    print("  reads: in this process through Litestar's test transport, sequential, stored (fresh) scorecards")
    return 0 if met or not args.strict else 1


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    os.chdir(ROOT)
    with backing_servers() as backing:
        return asyncio.run(run(args, backing))


if __name__ == "__main__":
    sys.exit(main())
