"""Rating ingest measured with a compiled load generator, as the ratings table grows.

`bench.ratings` drives the API from a Python client that shares the two cores with the
servers and caps both sides alike. This benchmark uses `wrk` (C, one thread) instead and
refuses to print a ratio when wrk itself used more than a quarter of the machine.

For each step it alternates the bare baseline (`bench.baseline`: Litestar + asyncpg, one
autocommit insert per request) and the full path (`commune-pulse serve`) for three rounds
and prints per side the median ratings/s, the median p50/p99, non-2xx answers, and the
CPU per request of the API processes and of PostgreSQL (this database's backends plus the
WAL writer), read from /proc before and after each round.

Steps: the table at 0 existing ratings, then bulk-loaded (set-based SQL, rollups kept by
their statement triggers) to 1 M and 10 M: a national month. After each load the step is
measured first *without any ANALYZE since the load* (autovacuum off for the table, as on
these machines), then after `VACUUM (ANALYZE)`. Each with one and with two API processes
per server. Before each, the load's one-off costs are settled (`settle`): every row of the
big tables read once and a CHECKPOINT, so the rounds measure ingest into a table as it is
weeks after its rows were written, not the write-out of the load itself. Then an open loop
at 500 ratings/s (p99 target 25 ms) on the final table.

The load: 100,000 app installs (>= 50,000; created weeks ago, tokens minted locally) with
the per-install daily limit left on (round robin keeps each under it), the demo's communes
plus synthetic ones in all 34 provinces, Vietnamese bodies, 20 % of them naming a completed
dossier (each once).

Run (wrk comes from Debian: `apt-get install wrk`):
    .venv/bin/python -m bench.ingest                    # or: make bench-ingest (about 25 min)
    .venv/bin/python -m bench.ingest --scales 0,1000000 --duration 5     # shorter
Servers: DATABASE_URL / REDIS_URL when set, else embedded ones (see bench.ratings).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import re
import secrets
import shutil
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncpg

from backend.cli import prepare_database
from backend.embedded import with_database
from backend.security import issue_token
from backend.services.campaign_baselines import refresh_baselines
from backend.settings import Settings
from bench.baseline import TABLE_SQL
from bench.client import cores, event_loop_factory, open_loop
from bench.dataset import RatingBodies, create_dataset, encode
from bench.ratings import (
    BENCH_DIR,
    DATABASE,
    HOST,
    ROOT,
    Backing,
    ServerProcess,
    backing_servers,
    baseline_server,
    clean_redis,
    full_path_server,
    recreate_database,
)

WRK_SCRIPT = ROOT / "bench" / "wrk_ratings.lua"
GENERATOR_SHARE_LIMIT = 0.25
TARGET_RATIO = 0.8
TARGET_P99_MS = 25.0
TARGET_GROWTH = 0.10
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.ingest", description=__doc__.split("\n\n")[0])
    add = parser.add_argument
    add("--scales", default="0,1000000,10000000", help="existing ratings at each step (default 0,1M,10M)")
    add("--workers", default="1,2", help="API processes per server to measure (default 1,2)")
    add("--rounds", type=int, default=3, help="alternating baseline/full rounds per measurement (default 3)")
    add("--duration", type=float, default=10.0, help="seconds per round (default 10)")
    add("--connections", type=int, default=64, help="wrk connections (default 64)")
    add("--installs", type=int, default=100_000, help="app installs (default 100000, at least 50000 asked)")
    add("--communes", type=int, default=700, help="communes with services, all provinces (default 700)")
    add("--procedures", type=int, default=10, help="procedures per commune (default 10)")
    add("--dossier-share", type=float, default=0.2, help="share of dossier-coded ratings (default 0.2)")
    add("--rate", type=float, default=500.0, help="ratings/s of the paced run (default 500)")
    add("--rate-duration", type=float, default=15.0, help="seconds of the paced run (default 15)")
    add("--pool-size", type=int, default=10, help="asyncpg pool per API process (default 10)")
    args = parser.parse_args(argv)
    args.scales = [int(float(s)) for s in args.scales.split(",")]
    args.workers = [int(w) for w in args.workers.split(",")]
    return args


# --- load generator ------------------------------------------------------------------------


@dataclass
class Round:
    side: str
    requests: int
    seconds: float
    non2xx: int
    socket_errors: int
    p50_ms: float
    p99_ms: float
    api_cpu_ms: float
    """API processes' CPU milliseconds per request."""
    pg_cpu_ms: float
    generator_share: float
    """wrk's CPU over the machine's capacity during the round."""
    wal_kb: float = 0.0
    """WAL kilobytes written per request (the server's WAL position before and after)."""
    reads: float = 0.0
    """Pages per request this database read from outside shared_buffers (pg_stat_database)."""

    @property
    def rate(self) -> float:
        return (self.requests - self.non2xx) / self.seconds if self.seconds else 0.0


@dataclass
class Files:
    tokens: Path
    plain: Path
    dossiers: Path
    dossier_next: int = 0
    token_next: int = 0


def _ticks(pid: int) -> int:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return 0
    return int(fields[11]) + int(fields[12])  # utime + stime


def _group_ticks(pgid: int) -> int:
    """CPU ticks of every live process in a process group (uvicorn and its workers)."""
    total = 0
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            with contextlib.suppress(OSError, IndexError, ValueError):
                fields = Path(f"/proc/{entry.name}/stat").read_text().rsplit(")", 1)[1].split()
                if int(fields[2]) == pgid:
                    total += int(fields[11]) + int(fields[12])
    return total


def _postgres_ticks() -> int:
    """CPU ticks of this database's backends and the WAL writer (shared, but ours dominates)."""
    total = 0
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        with contextlib.suppress(OSError):
            title = Path(f"/proc/{entry.name}/cmdline").read_bytes().replace(b"\0", b" ")
            if title.startswith(b"postgres: ") and (DATABASE.encode() in title or b"walwriter" in title):
                total += _ticks(int(entry.name))
    return total


BENCH_LINE = re.compile(rb"^BENCH (.*)$", re.M)


def run_wrk(server: ServerProcess, path: str, files: Files, args: argparse.Namespace, seconds: float) -> Round:
    """One wrk run against `server`; CPU of wrk (its rusage), the API group and PostgreSQL."""
    assert server.process is not None
    prefix = f"b{secrets.token_hex(4)}"
    command = ["wrk", "-t1", f"-c{args.connections}", f"-d{seconds:g}s", "--timeout", "10s", "-s", str(WRK_SCRIPT)]
    command += [f"http://{HOST}:{server.port}", "--", path, str(files.tokens), str(files.plain)]
    command += [str(files.dossiers), str(files.dossier_next), str(args.dossier_share), prefix]
    command += [str(files.token_next), "1"]
    api0, pg0, wall0 = _group_ticks(server.process.pid), _postgres_ticks(), time.perf_counter()
    child = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    assert child.stdout is not None
    output = child.stdout.read()
    _, status, usage = os.wait4(child.pid, 0)
    child.returncode = os.waitstatus_to_exitcode(status)
    wall = time.perf_counter() - wall0
    api1, pg1 = _group_ticks(server.process.pid), _postgres_ticks()
    match = BENCH_LINE.search(output)
    if child.returncode != 0 or match is None:
        raise RuntimeError(f"wrk failed ({child.returncode}): {output.decode(errors='replace')[-800:]}")
    got = {k.decode(): int(v) for k, v in (pair.split(b"=") for pair in match[1].split())}
    requests = got["requests"]
    if path.startswith("/v1/"):  # the baseline ignores tokens and dossiers: they stay fresh
        files.dossier_next += int(requests * args.dossier_share) + args.connections + 10
        files.token_next += requests + args.connections
    per_request = 1000 / CLOCK_TICKS / max(requests, 1)
    return Round(
        side=server.name,
        requests=requests,
        seconds=got["duration_us"] / 1e6,
        non2xx=got["non2xx"],
        socket_errors=got["connect"] + got["read"] + got["write"] + got["timeout"],
        p50_ms=got["p50_us"] / 1000,
        p99_ms=got["p99_us"] / 1000,
        api_cpu_ms=(api1 - api0) * per_request,
        pg_cpu_ms=(pg1 - pg0) * per_request,
        generator_share=(usage.ru_utime + usage.ru_stime) / (wall * cores()),
    )


# --- data ----------------------------------------------------------------------------------

# Installs created three to sixty days ago, as the app's users are; tokens are minted here
# with the server's secret, as POST /v1/auth/device-sessions would mint them.
INSTALLS_SQL = """
insert into citizen_installs (install_id, secret_hash, platform, created_at, last_seen_at)
select 'bench-ingest-' || g, '\\x00', case when g % 4 = 0 then 'ios' else 'android' end,
       now() - interval '3 days' - interval '1 minute' * (g * 37 % 82080), now() - interval '1 day'
from generate_series(1, $1::int) g
returning id
"""

# A national month of earlier ratings from 20,000 other installs, spread over the 30 days
# before today over every service; one statement per chunk so the rollup triggers
# (statement level, transition tables) keep the rollups consistent as they go.
HISTORY_INSTALLS_SQL = """
insert into citizen_installs (install_id, secret_hash, platform, created_at)
select 'bench-history-' || g, '\\x00', 'android', now() - interval '90 days' from generate_series(1, 20000) g
on conflict (install_id) do nothing
"""

HISTORY_SQL = """
with installs as (
    select id, row_number() over (order by install_id) as rn from citizen_installs
    where install_id like 'bench-history-%'
),
services as (
    select cs.id, cs.commune_code, row_number() over (order by cs.id) as rn from commune_services cs
)
insert into ratings (citizen_id, commune_service_id, commune_code, official_id, assignment_id, score, channel,
                     comment, served_at, created_at, idempotency_key, request_hash)
select i.id, s.id, s.commune_code, a.official_id, a.id, 1 + (g * 7) % 5, 'app',
       case when g % 5 = 0 then 'Thủ tục nhanh gọn, cán bộ nhiệt tình số ' || g end,
       now() - interval '1 day' - interval '1 second' * (g * 7919 % 2505600) - interval '1 hour',
       now() - interval '1 day' - interval '1 second' * (g * 7919 % 2505600),
       'history-' || g, sha256(convert_to('history-' || g, 'UTF8'))
from generate_series($1::bigint, $2::bigint) as g
join installs i on i.rn = 1 + g % 20000
-- The count as a scalar keeps this an equality the planner can hash: with the row's own
-- `count(*) over ()` it was a nested loop over every service for every rating (minutes per 1 M).
join services s on s.rn = 1 + (g * 104729) % (select count(*) from commune_services)
left join assignments a on a.commune_service_id = s.id and upper_inf(a.valid)
"""

CHUNK = 1_000_000


async def grow_to(conn: Any, target: int) -> float:
    """Add earlier ratings until the table holds `target`; the seconds it took."""
    began = time.perf_counter()
    await conn.execute(HISTORY_INSTALLS_SQL)
    have = await conn.fetchval("select count(*) from ratings")
    start = await conn.fetchval(
        "select coalesce(max(substr(idempotency_key, 9)::bigint), 0) + 1 "
        "from ratings where idempotency_key like 'history-%'"
    )
    while have < target:
        n = min(CHUNK, target - have)
        await conn.execute(HISTORY_SQL, start, start + n - 1)
        start, have = start + n, have + n
        print(f"    {have:,} ratings ({time.perf_counter() - began:.0f} s)", flush=True)
    return time.perf_counter() - began


# Tables this big are read once before the rounds (see settle).
SETTLE_BYTES = 8 * 1024 * 1024
BIG_TABLES_SQL = """
select c.oid::regclass::text from pg_class c join pg_namespace n on n.oid = c.relnamespace
where n.nspname = 'public' and c.relkind = 'r' and pg_relation_size(c.oid) > $1
order by 1
"""


async def settle(conn: Any) -> float:
    """Leave a bulk load's one-off costs out of the measured rounds; the seconds it took.

    The first read of a freshly loaded row sets its hint bits and so dirties its page, and
    the load leaves gigabytes of dirty pages for checkpoints to write: in the first rounds
    after a 9 M-row load both landed on the measured requests, and the *baseline*, which
    never touches these tables, ran 7-30 % slower than at 1 M. A month-old table's rows were
    read and written out long ago. Reading every row once (a plain count) and a CHECKPOINT
    change no planner statistics, so the stale-statistics step stays stale."""
    began = time.perf_counter()
    for table in await conn.fetch(BIG_TABLES_SQL, SETTLE_BYTES):
        await conn.execute(f"select count(*) from {table[0]}", timeout=None)
    try:
        await conn.execute("checkpoint", timeout=None)
    except asyncpg.InsufficientPrivilegeError:
        print("  (no CHECKPOINT: the benchmark's role may not; the rounds may write the load out)", flush=True)
    return time.perf_counter() - began


async def write_files(conn: Any, args: argparse.Namespace, secret: str, folder: Path) -> Files:
    ids = [r["id"] for r in await conn.fetch(INSTALLS_SQL, args.installs)]
    ttl = 86400
    tokens = folder / "tokens.txt"
    tokens.write_text("\n".join(issue_token(secret, f"citizen:{i}", "citizen", ttl)[0] for i in ids) + "\n")
    services = await conn.fetch("select id, commune_code, procedure_code from commune_services order by id")
    from bench.dataset import Service

    bodies = RatingBodies([Service(r["id"], r["commune_code"], r["procedure_code"], 1.0) for r in services], 7)
    plain = folder / "plain.txt"
    plain.write_bytes(b"\n".join(encode(bodies.plain()) for _ in range(8192)) + b"\n")
    return Files(tokens, plain, folder / "dossiers.txt")


async def write_dossier_bodies(files: Files, codes: list[str]) -> None:
    bodies = RatingBodies([], 11)
    files.dossiers.write_bytes(b"\n".join(encode(bodies.verified(code)) for code in codes) + b"\n")


# --- the run -------------------------------------------------------------------------------


@dataclass
class Measurement:
    scale: int
    statistics: str
    workers: int
    rounds: list[Round] = field(default_factory=list)

    def side(self, name: str) -> list[Round]:
        return [r for r in self.rounds if r.side == name]


def median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


# The WAL position is exact; blks_read is flushed by each backend at most once a second and
# when it goes idle, so a round of 10 s may miss about its last second: a guide, not a count.
PG_SNAPSHOT_SQL = """
select pg_current_wal_lsn() - '0/0'::pg_lsn as wal, blks_read from pg_stat_database where datname = current_database()
"""


async def measured_round(conn: Any, server: ServerProcess, path: str, files: Files, args: argparse.Namespace) -> Round:
    """One round with the WAL written and the pages read from outside shared_buffers."""
    before = await conn.fetchrow(PG_SNAPSHOT_SQL)
    result = run_wrk(server, path, files, args, args.duration)
    await asyncio.sleep(1.2)  # let idle backends flush their counters
    after = await conn.fetchrow(PG_SNAPSHOT_SQL)
    n = max(result.requests, 1)
    result.wal_kb = float(after["wal"] - before["wal"]) / 1024 / n
    result.reads = (after["blks_read"] - before["blks_read"]) / n
    return result


async def measure(
    args: argparse.Namespace,
    scale: int,
    stats: str,
    workers: int,
    full: ServerProcess,
    base: ServerProcess,
    files: Files,
    conn: Any,
) -> Measurement:
    result = Measurement(scale, stats, workers)
    print(f"  {scale:>10,} ratings, {stats} statistics, {workers} process(es): ", end="", flush=True)
    # A short unmeasured run each, so connections and plans are warm.
    for server, path in ((base, "/baseline/ratings"), (full, "/v1/ratings")):
        run_wrk(server, path, files, args, 2)
    for _ in range(args.rounds):
        for server, path in ((base, "/baseline/ratings"), (full, "/v1/ratings")):
            result.rounds.append(await measured_round(conn, server, path, files, args))
            print(".", end="", flush=True)
    print(flush=True)
    return result


def start_servers(
    args: argparse.Namespace, workers: int, database_url: str, redis_url: str, prefix: str, secret: str
) -> tuple[ServerProcess, ServerProcess]:
    shape = argparse.Namespace(workers=workers, pool_size=args.pool_size)
    full = full_path_server(shape, database_url, redis_url, prefix)
    # The limits stay on: the default daily limit per install, no lifted install limit.
    full.env = {k: v for k, v in full.env.items() if k not in {"RATING_DAILY_LIMIT", "NEW_INSTALLS_PER_ADDRESS"}}
    full.env["JWT_SECRET"] = secret
    # wrk's requests name each install's own address (X-Forwarded-For, bench/wrk_ratings.lua).
    full.env["TRUSTED_PROXIES"] = HOST
    base = baseline_server(shape, database_url)
    full.start()
    base.start()
    return full, base


async def run(args: argparse.Namespace, backing: Backing) -> tuple[list[Measurement], Any, dict[str, Any]]:
    database_url = with_database(backing.admin_url, DATABASE)
    prefix = f"bench-{secrets.token_hex(4)}"
    secret = secrets.token_urlsafe(36)
    info: dict[str, Any] = {}
    print(f"creating database {DATABASE} ...", flush=True)
    await recreate_database(backing.admin_url)
    measurements: list[Measurement] = []
    paced = None
    try:
        settings = Settings(database_url=database_url, redis_url=backing.redis_url, redis_key_prefix=prefix)
        await prepare_database(settings, reference=True, demo=True)
        conn = await asyncpg.connect(database_url)
        try:
            budget = len(args.scales) * 2 * len(args.workers) * args.rounds * args.duration * 4000
            dossiers = int(budget * args.dossier_share) + 20_000
            data = await create_dataset(conn, args.communes, args.procedures, dossiers)
            await conn.execute(TABLE_SQL)
            (BENCH_DIR / "ingest").mkdir(parents=True, exist_ok=True)
            files = await write_files(conn, args, secret, BENCH_DIR / "ingest")
            await write_dossier_bodies(files, data.dossier_codes)
            info["postgres"] = await conn.fetchval("show server_version")
            info["jit"] = await conn.fetchval("select pg_jit_available()")
            info["autovacuum"] = await conn.fetchval("show autovacuum")
            info["data"] = (
                f"{len(data.communes)} communes in {data.provinces} provinces (plus the demo's), "
                f"{len(data.services)} services, {data.officials} officials, {len(data.dossier_codes):,} dossiers, "
                f"{args.installs:,} installs"
            )
            limit = Settings().rating_daily_limit
            info["limit"] = limit
            for scale in args.scales:
                if scale:
                    print(f"growing the ratings table to {scale:,} ...", flush=True)
                    await conn.execute("alter table ratings set (autovacuum_enabled = false)")
                    info[f"load {scale}"] = await grow_to(conn, scale)
                # What the worker's hourly cron does in production (bench runs no worker):
                # campaign scoring reads each target's month from these sums.
                began = time.perf_counter()
                defaults = Settings()
                await refresh_baselines(
                    conn, datetime.now(UTC), defaults.campaign_low_run_window, defaults.campaign_baseline_days
                )
                info[f"baselines {scale}"] = time.perf_counter() - began
                for stats in ("stale", "fresh") if scale else ("fresh",):
                    if stats == "fresh":
                        await conn.execute("alter table ratings reset (autovacuum_enabled)")
                        await conn.execute("vacuum (analyze)")
                    info[f"settle {scale} {stats}"] = await settle(conn)
                    for workers in args.workers:
                        full, base = start_servers(args, workers, database_url, backing.redis_url, prefix, secret)
                        try:
                            await asyncio.gather(full.wait_ready(), base.wait_ready())
                            measurements.append(await measure(args, scale, stats, workers, full, base, files, conn))
                            last = scale == args.scales[-1] and stats == "fresh" and workers == args.workers[0]
                            if last:
                                paced = await paced_run(args, full, files)
                        finally:
                            full.stop()
                            base.stop()
            info["stored"] = await conn.fetchval("select count(*) from ratings")
        finally:
            await conn.close()
    finally:
        await recreate_database(backing.admin_url, create=False)
        clean_redis(backing.redis_url, prefix)
    return measurements, paced, info


def install_address(install: int) -> bytes:
    """The address install number `install` sends from, as bench/wrk_ratings.lua gives it."""
    return b"198.%d.%d.%d" % (18 + install // 65536 % 2, install // 256 % 256, install % 256)


async def paced_run(args: argparse.Namespace, full: ServerProcess, files: Files) -> Any:
    """An open loop at a fixed rate (Python client, light at 500/s), latency from schedule."""
    tokens = files.tokens.read_text().split()
    plain = files.plain.read_bytes().split(b"\n")
    head = f"POST /v1/ratings HTTP/1.1\r\nHost: {HOST}:{full.port}\r\nContent-Type: application/json\r\n".encode()
    counter = iter(range(10**9))
    start = files.token_next

    def make() -> bytes:
        n = next(counter)
        body = plain[n % (len(plain) - 1)]
        install = (start + n) % len(tokens)
        return (
            b"%sAuthorization: Bearer %s\r\nX-Forwarded-For: %s\r\nIdempotency-Key: paced-%d-%s\r\n"
            b"Content-Length: %d\r\n\r\n%s"
        ) % (
            head,
            tokens[install].encode(),
            install_address(install),
            n,
            files.plain.name.encode(),
            len(body),
            body,
        )

    print(f"  paced: {args.rate:g} ratings/s for {args.rate_duration:g} s ...", flush=True)
    result = await open_loop("paced", HOST, full.port, make, args.rate, args.rate_duration)
    files.token_next += int(args.rate * args.rate_duration)
    return result


# --- the report ----------------------------------------------------------------------------


def render(measurements: list[Measurement], paced: Any, info: dict[str, Any], args: argparse.Namespace) -> str:
    lines = [
        "",
        "Commune Pulse — rating ingest with wrk, as the table grows",
        "",
        f"machine   {cores()} cores, PostgreSQL {info.get('postgres')} (JIT available: {info.get('jit')}, "
        f"autovacuum {info.get('autovacuum')}), load average now {os.getloadavg()[0]:.2f}",
        f"data      {info.get('data')}; RATING_DAILY_LIMIT={info.get('limit')} left on; "
        "CAMPAIGN_SCORING=true (every rating scored at ingest)",
        f"load      wrk -t1 -c{args.connections}, {args.rounds} rounds of {args.duration:g} s alternating baseline "
        f"and full path; {args.dossier_share:.0%} dossier-coded bodies",
        "",
        f"{'existing':>10} {'stats':>6} {'proc':>4} | {'base/s':>7} {'full/s':>7} {'ratio':>6} | "
        f"{'p50':>5} {'p99':>6} {'p50':>5} {'p99':>6} | {'non2xx':>6} | {'API ms':>6} {'PG ms':>6} "
        f"{'API ms':>6} {'PG ms':>6} | {'WAL kB':>6} {'reads':>5} | {'wrk':>4}",
        f"{'':>10} {'':>6} {'':>4} | {'':>7} {'':>7} {'':>6} | {'base ms':>12} {'full ms':>12} | {'':>6} | "
        f"{'base CPU/request':>13} {'full CPU/request':>13} | {'full/request':>12} |",
    ]
    full_rates: dict[tuple[int, str, int], float] = {}
    for m in measurements:
        base, full = m.side("baseline"), m.side("full-path")
        share = max(r.generator_share for r in m.rounds)
        base_rate, full_rate = median([r.rate for r in base]), median([r.rate for r in full])
        full_rates[(m.scale, m.statistics, m.workers)] = full_rate
        ratio = f"{full_rate / base_rate:.2f}" if share <= GENERATOR_SHARE_LIMIT and base_rate else "refused"
        lines.append(
            f"{m.scale:>10,} {m.statistics:>6} {m.workers:>4} | {base_rate:>7.0f} {full_rate:>7.0f} {ratio:>6} | "
            f"{median([r.p50_ms for r in base]):>5.1f} {median([r.p99_ms for r in base]):>6.1f} "
            f"{median([r.p50_ms for r in full]):>5.1f} {median([r.p99_ms for r in full]):>6.1f} | "
            f"{sum(r.non2xx + r.socket_errors for r in full):>6} | "
            f"{median([r.api_cpu_ms for r in base]):>6.2f} {median([r.pg_cpu_ms for r in base]):>6.2f} "
            f"{median([r.api_cpu_ms for r in full]):>6.2f} {median([r.pg_cpu_ms for r in full]):>6.2f} | "
            f"{median([r.wal_kb for r in full]):>6.1f} {median([r.reads for r in full]):>5.2f} | "
            f"{share:>4.0%}"
        )
    lines += ["", "Targets"]
    for m in measurements:
        if m.statistics != "fresh":
            continue
        base_rate = median([r.rate for r in m.side("baseline")])
        share = max(r.generator_share for r in m.rounds)
        target = f"full >= {TARGET_RATIO} x baseline at {m.scale:,}, {m.workers} proc"
        if share > GENERATOR_SHARE_LIMIT or not base_rate:  # as in the table: no ratio to judge
            lines.append(f"  ----  {target}: refused (wrk used {share:.0%} of the machine)")
            continue
        measured = full_rates[(m.scale, m.statistics, m.workers)] / base_rate
        ok = "PASS" if measured >= TARGET_RATIO else "MISS"
        lines.append(f"  {ok}  {target}: {measured:.2f}")
    if len(args.scales) >= 2:
        big, previous = args.scales[-1], args.scales[-2]
        for stats in ("fresh", "stale"):
            for workers in args.workers:
                a, b = full_rates.get((previous, stats, workers)), full_rates.get((big, stats, workers))
                if a and b:
                    change = b / a - 1
                    ok = "PASS" if change >= -TARGET_GROWTH else "MISS"
                    lines.append(
                        f"  {ok}  ingest at {big:,} within {TARGET_GROWTH:.0%} of {previous:,} "
                        f"({stats}, {workers} proc): {change:+.1%}"
                    )
    if paced is not None:
        p99 = paced.percentile(0.99)
        ok = "PASS" if p99 <= TARGET_P99_MS and paced.failed == 0 else "MISS"
        lines.append(
            f"  {ok}  p99 <= {TARGET_P99_MS:g} ms at {args.rate:g}/s: p50 {paced.percentile(0.5):.1f} ms, "
            f"p99 {p99:.1f} ms, {paced.failed} non-2xx"
        )
    loads = ", ".join(f"{k.split()[1]} in {v:.0f} s" for k, v in info.items() if k.startswith("load "))
    if loads:
        lines.append(f"\nbulk loads: {loads}; {info.get('stored', 0):,} ratings at the end")
    settled = ", ".join(
        f"{int(k.split()[1]):,} {k.split()[2]}: {v:.0f} s" for k, v in info.items() if k.startswith("settle ")
    )
    if settled:
        lines.append(f"settled before the rounds (every row of the big tables read once, CHECKPOINT): {settled}")
    refreshes = ", ".join(f"{k.split()[1]}: {v:.1f} s" for k, v in info.items() if k.startswith("baselines "))
    if refreshes:
        lines.append(f"campaign baselines refreshed (the worker's hourly job) at {refreshes}")
    lines.append(
        f"ratio refused when wrk used more than {GENERATOR_SHARE_LIMIT:.0%} of the machine; CPU per request from "
        "/proc (API: the server's process group; PG: this database's backends + WAL writer); WAL kB and "
        "pages read from outside shared_buffers per full-path request"
    )
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if shutil.which("wrk") is None:
        print("wrk is not installed: apt-get install wrk (Debian) — the benchmark needs a compiled generator")
        return 2
    os.chdir(ROOT)
    with backing_servers() as backing, asyncio.Runner(loop_factory=event_loop_factory()) as runner:
        measurements, paced, info = runner.run(run(args, backing))
    print(render(measurements, paced, info, args))
    return 0


if __name__ == "__main__":
    sys.exit(main())
