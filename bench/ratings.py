"""Throughput and latency of citizen ratings, `POST /v1/ratings`, against a bare baseline.

What it measures, in one run on this machine:

- Phase A (capacity): a closed loop of C keep-alive connections (default 64) for 10 s after
  a 2 s warm-up, first against the full path (`commune-pulse serve`: auth, validation,
  linking to the accountable official, the insert, everything), then against the baseline
  (`bench.baseline`: bare Litestar + asyncpg, one autocommit insert of one row), both under
  uvicorn with the same number of worker processes and the same pool size. Prints
  ratings/s (2xx answers per second), p50/p99/max latency and the ratio full/baseline.
- Phase B (latency at a fixed rate): an open loop at 500 ratings/s for 10 s against the
  full path; latency runs from each request's *scheduled* send time (no coordinated
  omission), p50/p99/max.
- The targets of the issue, PASS or MISS: >= 2,000 ratings/s through the full path,
  >= 0.8 x the baseline, p99 <= 50 ms at 500 ratings/s. Every non-2xx answer is a failure
  and is counted and shown.

The load is realistic: ~1,000 citizen installs (anonymous tokens from
`POST /v1/auth/device-sessions`), ~500 communes spread over all 34 provinces with 10
services each, an official holding every service; bodies in Vietnamese with diacritics,
most naming the service by id, some by commune and procedure codes, ~20% by the code of a
completed dossier (verified ratings, each dossier rated once). The per-install daily
rating limit is lifted (RATING_DAILY_LIMIT=1000000) so the citizens can rate that often,
and so is the limit of new installs per address (all 1,000 come from 127.0.0.1).

Servers: DATABASE_URL / REDIS_URL from the environment when set (the benchmark creates and
finally drops a database `commune_pulse_bench` there, and uses its own Redis key prefix),
else embedded ones under var/bench/. The load generator is this process (a minimal asyncio
HTTP/1.1 client on uvloop); the API servers are subprocesses, so all of it shares the cores.

Run:
    .venv/bin/python -m bench.ratings              # or: make bench-ratings
    .venv/bin/python -m bench.ratings --quick      # 3 s phases, a smoke run
    .venv/bin/python -m bench.ratings --help       # workers, connections, rate, durations...
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import gc
import math
import os
import platform
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.parse
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncpg
import msgspec

from backend.cli import prepare_database
from backend.crypto import Fingerprints
from backend.embedded import start_postgres, start_redis, stop_redis, with_database
from backend.rating_codes import PURPOSE as RATING_CODE_PURPOSE
from backend.rating_codes import code_payload, generate_code
from backend.settings import Settings
from bench.baseline import TABLE_SQL
from bench.client import (
    HttpConnection,
    PhaseResult,
    closed_loop,
    cores,
    encode_request,
    event_loop_factory,
    open_loop,
    send,
)
from bench.dataset import Dataset, RatingBodies, create_dataset, encode, form_of

ROOT = Path(__file__).resolve().parent.parent
BENCH_DIR = Path("var/bench")
DATABASE = "commune_pulse_bench"
HOST = "127.0.0.1"
RATINGS_PATH = "/v1/ratings"
BASELINE_PATH = "/baseline/ratings"
DAILY_LIMIT = 1_000_000

TARGET_RATE = 2000.0
TARGET_RATIO = 0.8
TARGET_P99_MS = 50.0

ASSUMED_MAX_RATE = 6000.0
"""Ratings/s the dossier supply is sized for (20% of requests name a dossier, each once)."""


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench.ratings",
        description="Throughput and latency of POST /v1/ratings against a bare Litestar + asyncpg baseline.",
    )
    add = parser.add_argument
    add("--workers", type=int, default=2, help="API worker processes of each server (default 2)")
    add("--pool-size", type=int, default=None, help="asyncpg pool per process (default DB_POOL_SIZE or 10)")
    add("--connections", type=int, default=64, help="concurrent connections in phase A (default 64)")
    add("--warmup", type=float, help="seconds of warm-up before phase A counts (default 2, quick 1)")
    add("--duration", type=float, help="seconds phase A counts (default 10, quick 3)")
    add("--rate", type=float, default=500.0, help="ratings/s of the open loop of phase B (default 500)")
    add("--rate-duration", type=float, help="seconds of phase B (default 10, quick 3)")
    add("--citizens", type=int, default=1000, help="citizen installs (tokens) used (default 1000)")
    add("--communes", type=int, default=500, help="communes with services (default 500)")
    add("--procedures", type=int, default=10, help="procedures offered by each commune (default 10)")
    add("--history", type=int, default=200_000, help="earlier ratings already stored (default 200000)")
    add("--dossiers", type=int, default=0, help="completed dossiers to rate (default: enough for 20%% of requests)")
    add("--verified-share", type=float, default=0.2, help="share of ratings naming a dossier (default 0.2)")
    add(
        "--campaign-scoring",
        choices=("on", "off"),
        default="on",
        help="campaign scoring of every rating at ingest (default on, as in production)",
    )
    add("--quick", action="store_true", help="smoke run: 1 s warm-up, 3 s phases (explicit flags still win)")
    add("--strict", action="store_true", help="exit 1 when a target is missed")
    args = parser.parse_args(argv)
    quick = {"warmup": 1.0, "duration": 3.0, "rate_duration": 3.0}
    full = {"warmup": 2.0, "duration": 10.0, "rate_duration": 10.0}
    for name, value in (quick if args.quick else full).items():
        if getattr(args, name) is None:
            setattr(args, name, value)
    if args.pool_size is None:
        args.pool_size = int(os.environ.get("DB_POOL_SIZE") or Settings().db_pool_size)
    if not args.dossiers:
        requests = ASSUMED_MAX_RATE * (args.warmup + args.duration) + args.rate * args.rate_duration
        args.dossiers = max(2000, math.ceil(args.verified_share * requests) + 500)
    return args


# --- servers -----------------------------------------------------------------------------


@dataclass
class Backing:
    """The PostgreSQL and Redis the benchmark uses, and how to describe them."""

    admin_url: str
    redis_url: str
    postgres_label: str
    redis_label: str


@contextlib.contextmanager
def backing_servers() -> Iterator[Backing]:
    """DATABASE_URL / REDIS_URL when set, else embedded servers under var/bench/."""
    database_url, redis_url = os.environ.get("DATABASE_URL"), os.environ.get("REDIS_URL")
    pg_server: Any = None
    redis_server: Any = None
    try:
        if database_url:
            pg_label = f"PostgreSQL at {_where(database_url)} (DATABASE_URL)"
        else:
            print(f"starting embedded PostgreSQL in {BENCH_DIR / 'pg'} ...", flush=True)
            pg_server, database_url = start_postgres(BENCH_DIR / "pg")
            pg_label = f"embedded PostgreSQL ({BENCH_DIR / 'pg'})"
        if redis_url:
            redis_label = f"Redis at {_where(redis_url)} (REDIS_URL)"
        else:
            redis_server, redis_url = start_redis(BENCH_DIR / "redis")
            redis_label = f"embedded Redis ({BENCH_DIR / 'redis'})"
        admin_url = database_url
        if urllib.parse.urlsplit(admin_url).path.strip("/") == DATABASE:
            admin_url = with_database(admin_url, "postgres")  # never connected to the one we drop
        yield Backing(admin_url, redis_url, pg_label, redis_label)
    finally:
        if redis_server is not None:
            stop_redis(redis_server)
        if pg_server is not None:
            pg_server.cleanup()


def _where(url: str) -> str:
    """host:port of a URL, never its password."""
    parts = urllib.parse.urlsplit(url)
    return f"{parts.hostname or 'localhost'}:{parts.port or ''}".rstrip(":")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


class ServerProcess:
    """An API server run as a subprocess in its own process group, logging to a file."""

    def __init__(self, name: str, command: list[str], env: dict[str, str], port: int, ready_path: str) -> None:
        self.name, self.command, self.env, self.port, self.ready_path = name, command, env, port, ready_path
        self.log_path = BENCH_DIR / "logs" / f"{name}.log"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.log_path, "wb") as log:
            self.process = subprocess.Popen(
                self.command, env=self.env, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
            )

    async def wait_ready(self, patience: float = 90.0) -> None:
        request = encode_request("GET", self.ready_path, f"{HOST}:{self.port}", {})
        deadline = time.monotonic() + patience
        while time.monotonic() < deadline:
            assert self.process is not None
            if self.process.poll() is not None:
                raise RuntimeError(f"{self.name} server exited with {self.process.returncode}:\n{self.log_tail()}")
            conn = HttpConnection(HOST, self.port)
            status, _ = await send(conn, request)
            conn.close()
            if status == 200:
                return
            await asyncio.sleep(0.2)
        raise RuntimeError(f"{self.name} server not ready after {patience:.0f} s:\n{self.log_tail()}")

    def stop(self) -> None:
        """SIGTERM (uvicorn stops its workers), then SIGKILL to the whole group if it lingers."""
        process = self.process
        if process is None or process.poll() is not None:
            return
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=5)

    def log_tail(self, lines: int = 20) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def log_lines(self) -> int:
        try:
            return len(self.log_path.read_text(errors="replace").splitlines())
        except OSError:
            return 0


# Each completed dossier gets a rating code, stored as the API stores it (an HMAC under the
# full-path server's FINGERPRINT_KEYS), so dossier-coded ratings are verified as in service.
FINGERPRINT_KEY = secrets.token_bytes(32)

SET_RATING_CODES_SQL = """
update dossiers d set rating_code_hash = t.hash
from unnest($1::text[], $2::bytea[]) as t(code, hash) where d.code = t.code
"""


async def give_rating_codes(conn: Any, dossier_codes: list[str]) -> dict[str, str]:
    keys = Fingerprints([("bench", FINGERPRINT_KEY)])
    codes = {code: generate_code() for code in dossier_codes}
    hashes = [keys.sign(RATING_CODE_PURPOSE, code_payload(d, c)) for d, c in codes.items()]
    await conn.execute(SET_RATING_CODES_SQL, list(codes), hashes)
    return codes


def full_path_server(args: argparse.Namespace, database_url: str, redis_url: str, prefix: str) -> ServerProcess:
    port = free_port()
    # `-m` from the checkout (cwd=ROOT) runs this checkout's code; the installed
    # `commune-pulse` script would import whichever tree the environment was installed from.
    command = [sys.executable, "-m", "backend", "serve"]
    env = os.environ | {
        "DATABASE_URL": database_url,
        "REDIS_URL": redis_url,
        "REDIS_KEY_PREFIX": prefix,
        "JWT_SECRET": secrets.token_urlsafe(36),  # 48 characters
        "FEEDBACK_KEYS": "bench:" + base64.b64encode(secrets.token_bytes(32)).decode(),
        "FINGERPRINT_KEYS": "bench:" + base64.b64encode(FINGERPRINT_KEY).decode(),
        "HOST": HOST,
        "PORT": str(port),
        "API_WORKERS": str(args.workers),
        "DB_POOL_SIZE": str(args.pool_size),
        "LOG_LEVEL": "WARNING",
        "RATING_DAILY_LIMIT": str(DAILY_LIMIT),
        "NEW_INSTALLS_PER_ADDRESS": str(DAILY_LIMIT),
        "CAMPAIGN_SCORING": "false" if getattr(args, "campaign_scoring", "on") == "off" else "true",
        "DATA_DIR": str(BENCH_DIR / "data"),
    }
    return ServerProcess("full-path", command, env, port, "/health/ready")


def baseline_server(args: argparse.Namespace, database_url: str) -> ServerProcess:
    port = free_port()
    command = [sys.executable, "-m", "uvicorn", "bench.baseline:create_app", "--factory"]
    command += ["--host", HOST, "--port", str(port), "--workers", str(args.workers)]
    command += ["--no-access-log", "--log-level", "warning"]
    env = os.environ | {"DATABASE_URL": database_url, "DB_POOL_SIZE": str(args.pool_size)}
    return ServerProcess("baseline", command, env, port, "/baseline/ready")


# --- database ----------------------------------------------------------------------------


async def recreate_database(admin_url: str, create: bool = True) -> None:
    conn = await asyncpg.connect(admin_url)
    try:
        await conn.execute(f"drop database if exists {DATABASE} with (force)")
        if create:
            await conn.execute(
                f"create database {DATABASE} encoding 'UTF8' lc_collate 'C' lc_ctype 'C' template template0"
            )
    finally:
        await conn.close()


async def checkpoint(database_url: str) -> None:
    """Start each phase with the database settled: tables vacuumed and analysed (or
    autovacuum would pick the freshly written ones up in the middle of the next phase) and
    no dirty pages pending, so one phase's writes don't slow the next."""
    conn = await asyncpg.connect(database_url)
    try:
        await conn.execute("vacuum (analyze)")
        with contextlib.suppress(asyncpg.PostgresError):  # needs superuser or pg_checkpoint
            await conn.execute("checkpoint")
    finally:
        await conn.close()


async def age_installs(database_url: str) -> None:
    """The benchmark's citizens are long-lived installs, as most raters are: registered
    minutes before rating, a thousand of them from one address would be a campaign to the
    scoring, and held ratings skip the rollups (a cheaper path than the one measured)."""
    conn = await asyncpg.connect(database_url)
    try:
        await conn.execute("update citizen_installs set created_at = now() - interval '90 days'")
    finally:
        await conn.close()


STORED_SQL = """
select count(*) as ratings, count(*) filter (where verified) as verified, count(official_id) as linked,
       count(*) filter (where quarantine = 'held') as held,
       (select string_agg(reason || ' ' || n, ', ' order by n desc)
        from (select reason, count(*) as n from ratings, unnest(quarantine_reasons) reason group by 1) x) as reasons,
       count(distinct citizen_id) as citizens, count(distinct commune_code) as communes,
       count(distinct commune_service_id) as services,
       (select count(*) from bench_baseline_ratings) as baseline_rows
from ratings
"""


async def stored_summary(database_url: str) -> str:
    """What the run left in the database: proof the load was spread as intended."""
    conn = await asyncpg.connect(database_url)
    try:
        row = await conn.fetchrow(STORED_SQL)
    except asyncpg.PostgresError as exc:
        return f"could not read: {exc}"
    finally:
        await conn.close()
    return (
        f"{row['ratings']} ratings ({row['verified']} verified, {row['linked']} linked to an official) from "
        f"{row['citizens']} citizens about {row['services']} services in {row['communes']} communes; "
        f"{row['baseline_rows']} baseline rows; {row['held']} held by campaign scoring"
        + (f" (rules fired: {row['reasons']})" if row["reasons"] else "")
    )


def clean_redis(redis_url: str, prefix: str) -> None:
    """Delete the benchmark's keys (its own prefix) and the arq jobs on its queue."""
    import redis

    client: Any = redis.Redis.from_url(redis_url, socket_timeout=5)  # sync client; its stubs mix in async types
    try:
        jobs = [j.decode() for j in client.zrange(f"{prefix}:queue", 0, -1)]
        keys = [f"arq:{kind}:{job}" for job in jobs for kind in ("job", "result", "retry", "in-progress")]
        keys += [k.decode() for k in client.scan_iter(match=f"{prefix}:*", count=1000)]
        for start in range(0, len(keys), 1000):
            client.delete(*keys[start : start + 1000])
    except redis.RedisError as exc:
        print(f"note: could not clean Redis keys {prefix}:*: {exc}", file=sys.stderr)
    finally:
        client.close()


# --- requests ----------------------------------------------------------------------------


class RequestFactory:
    """Pre-encoded rating requests: per request only the token, a fresh Idempotency-Key and
    a body are joined. Plain bodies cycle through a pool; dossier bodies are used once."""

    PATTERN = 9973  # a prime, so the verified/plain pattern does not beat with the pools

    def __init__(
        self,
        path: str,
        port: int,
        tokens: list[str],
        dataset: Dataset,
        verified_share: float,
        seed: int,
        rating_codes: dict[str, str],
        plain_pool: int = 8192,
    ) -> None:
        bodies = RatingBodies(dataset.services, seed)
        self.head = f"POST {path} HTTP/1.1\r\nHost: {HOST}:{port}\r\nContent-Type: application/json\r\n".encode()
        self.auth = [f"Authorization: Bearer {t}\r\n".encode() for t in tokens] or [b""]
        plain = [bodies.plain() for _ in range(plain_pool)]
        self.plain = [_tail(encode(b)) for b in plain]
        self.plain_forms = [form_of(b) for b in plain]
        self.plain_comments = [("comment" in b) for b in plain]
        verified = [bodies.verified(code) | {"rating_code": rating_codes[code]} for code in dataset.dossier_codes]
        self.verified = [(_tail(encode(b)), "comment" in b) for b in reversed(verified)]
        self.verified_comments = 0
        self.pattern = [bodies.rng.random() < verified_share for _ in range(self.PATTERN)]
        self.key_prefix = b"Idempotency-Key: bench-" + secrets.token_hex(6).encode() + b"-"
        self.sent = 0
        self.sent_verified = 0

    def __call__(self) -> bytes:
        n = self.sent
        self.sent = n + 1
        if self.pattern[n % self.PATTERN] and self.verified:
            self.sent_verified += 1
            tail, commented = self.verified.pop()
            self.verified_comments += commented
        else:
            tail = self.plain[n % len(self.plain)]
        return b"".join((self.head, self.auth[n % len(self.auth)], self.key_prefix, b"%x\r\n" % n, tail))

    def mix(self) -> dict[str, float]:
        """Share of each way of naming the service among the requests made."""
        if not self.sent:
            return {}
        plain = self.sent - self.sent_verified
        forms = {"dossier_code": float(self.sent_verified)}
        size = len(self.plain_forms)
        for form in ("commune_service_id", "commune_code+procedure_code"):
            share = sum(1 for f in self.plain_forms if f == form) / size
            forms[form] = plain * share
        forms["with comment"] = plain * sum(self.plain_comments) / size + self.verified_comments
        return {k: v / self.sent for k, v in forms.items()}


def _tail(body: bytes) -> bytes:
    return b"Content-Length: %d\r\n\r\n%s" % (len(body), body)


async def open_citizen_sessions(port: int, count: int, concurrency: int = 32) -> list[str]:
    """`count` anonymous citizen tokens, as `count` app installs would get them."""
    run = secrets.token_hex(4)
    tokens: list[str] = []
    numbers = iter(range(count))

    async def opener() -> None:
        conn = HttpConnection(HOST, port)
        try:
            for n in numbers:
                body = msgspec.json.encode({"install_id": f"bench-{n}-{run}", "platform": "android"})
                request = encode_request(
                    "POST",
                    "/v1/auth/device-sessions",
                    f"{HOST}:{port}",
                    {"Content-Type": "application/json"},
                    body,
                )
                status, answer = await send(conn, request)
                if status != 201:
                    raise RuntimeError(f"POST /v1/auth/device-sessions answered {status}: {answer[:300]!r}")
                tokens.append(msgspec.json.decode(answer)["access_token"])
        finally:
            conn.close()

    await asyncio.gather(*(opener() for _ in range(concurrency)))
    return tokens


# --- the run -----------------------------------------------------------------------------


@dataclass
class Report:
    args: argparse.Namespace
    backing: Backing
    postgres_version: str = ""
    redis_version: str = ""
    dataset: Dataset | None = None
    rating_codes: dict[str, str] = field(default_factory=dict)
    citizens: int = 0
    setup_seconds: float = 0.0
    endpoint_status: int = 0
    endpoint_answer: bytes = b""
    full: PhaseResult | None = None
    baseline: PhaseResult | None = None
    fixed_rate: PhaseResult | None = None
    fixed_rate_target: str = "full path"
    mix: dict[str, float] = field(default_factory=dict)
    stored: str = ""
    server_logs: dict[str, tuple[Path, int]] = field(default_factory=dict)


async def run(args: argparse.Namespace, backing: Backing) -> Report:
    report = Report(args, backing)
    began = time.perf_counter()
    database_url = with_database(backing.admin_url, DATABASE)
    prefix = f"bench-{secrets.token_hex(4)}"
    print(f"creating database {DATABASE} (migrations, reference data, {args.communes} communes) ...", flush=True)
    await recreate_database(backing.admin_url)
    try:
        settings = Settings(database_url=database_url, redis_url=backing.redis_url, redis_key_prefix=prefix)
        await prepare_database(settings, reference=True, demo=False)
        conn = await asyncpg.connect(database_url)
        try:
            report.dataset = await create_dataset(conn, args.communes, args.procedures, args.dossiers, args.history)
            report.rating_codes = await give_rating_codes(conn, report.dataset.dossier_codes)
            await conn.execute(TABLE_SQL)
            report.postgres_version = str(await conn.fetchval("show server_version"))
        finally:
            await conn.close()
        report.redis_version = _redis_version(backing.redis_url)

        full = full_path_server(args, database_url, backing.redis_url, prefix)
        base = baseline_server(args, database_url)
        try:
            print("starting the servers ...", flush=True)
            full.start()
            base.start()
            await asyncio.gather(full.wait_ready(), base.wait_ready())
            print(f"opening {args.citizens} citizen sessions ...", flush=True)
            tokens = await open_citizen_sessions(full.port, args.citizens)
            await age_installs(database_url)
            report.citizens = len(tokens)
            report.setup_seconds = time.perf_counter() - began
            await _measure(args, report, full, base, tokens, database_url)
        finally:
            full.stop()
            base.stop()
            report.server_logs = {s.name: (s.log_path, s.log_lines()) for s in (full, base)}
        report.stored = await stored_summary(database_url)
    finally:
        await recreate_database(backing.admin_url, create=False)
        clean_redis(backing.redis_url, prefix)
    return report


async def _measure(
    args: argparse.Namespace,
    report: Report,
    full: ServerProcess,
    base: ServerProcess,
    tokens: list[str],
    database_url: str,
) -> None:
    assert report.dataset is not None
    codes = report.rating_codes
    make_full = RequestFactory(RATINGS_PATH, full.port, tokens, report.dataset, args.verified_share, 1, codes)
    make_base = RequestFactory(BASELINE_PATH, base.port, tokens, report.dataset, args.verified_share, 1, codes)
    gc.collect()
    gc.freeze()  # the long-lived setup objects need no more scanning during the phases

    probe = HttpConnection(HOST, full.port)
    report.endpoint_status, report.endpoint_answer = await send(probe, make_full())
    probe.close()
    available = report.endpoint_status not in (0, 404, 405)
    if available:
        print(f"phase A: full path, {args.connections} connections, {args.warmup:g}+{args.duration:g} s ...")
        await checkpoint(database_url)
        report.full = await closed_loop(
            "full path", HOST, full.port, make_full, args.connections, args.warmup, args.duration
        )
    else:
        print(f"POST {RATINGS_PATH} is not there yet (answered {report.endpoint_status}): baseline only")

    print(f"phase A: baseline, {args.connections} connections, {args.warmup:g}+{args.duration:g} s ...", flush=True)
    await checkpoint(database_url)
    report.baseline = await closed_loop(
        "baseline", HOST, base.port, make_base, args.connections, args.warmup, args.duration
    )

    target, port, make = ("full path", full.port, make_full) if available else ("baseline", base.port, make_base)
    print(f"phase B: {target}, {args.rate:g} ratings/s for {args.rate_duration:g} s ...", flush=True)
    await checkpoint(database_url)
    await asyncio.sleep(1)
    report.fixed_rate = await open_loop(target, HOST, port, make, args.rate, args.rate_duration)
    report.fixed_rate_target = target
    report.mix = (make_full if available else make_base).mix()
    gc.unfreeze()


def _redis_version(url: str) -> str:
    import redis

    client: Any = redis.Redis.from_url(url, socket_timeout=5)
    try:
        return str(client.info("server").get("redis_version", "?"))
    except redis.RedisError:
        return "?"
    finally:
        client.close()


# --- the report --------------------------------------------------------------------------


def _cpu_model() -> str:
    with contextlib.suppress(OSError):  # not Linux: fall back to what platform knows
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine()


def _verdict(ok: bool | None) -> str:
    return "n/a " if ok is None else "PASS" if ok else "MISS"


def _statuses(result: PhaseResult) -> str:
    names = {0: "connection error"}
    return ", ".join(f"{names.get(s, s)}: {n}" for s, n in sorted(result.statuses.items())) or "none"


def render(report: Report) -> tuple[str, bool]:
    """The report as text, and whether every target was met."""
    args, data = report.args, report.dataset
    lines = [
        "",
        f"Commune Pulse — POST {RATINGS_PATH} benchmark",
        "",
        f"machine   {cores()} cores ({_cpu_model()}), Python {platform.python_version()}, "
        f"PostgreSQL {report.postgres_version}, Redis {report.redis_version}",
        f"servers   {report.backing.postgres_label}; {report.backing.redis_label}; database {DATABASE} (dropped after)",
        f"settings  API_WORKERS={args.workers} for both servers, DB_POOL_SIZE={args.pool_size} per process, "
        f"uvicorn; no arq worker running; LOG_LEVEL=WARNING",
        f"          RATING_DAILY_LIMIT={DAILY_LIMIT}, NEW_INSTALLS_PER_ADDRESS={DAILY_LIMIT} (limits lifted for the "
        "benchmark: its citizens rate far more often than people do, from one address)",
        f"          CAMPAIGN_SCORING={args.campaign_scoring} (every rating scored at ingest; the citizens' installs "
        "are aged 90 days, as long-lived installs)",
        f"load      client in this process (asyncio HTTP/1.1 keep-alive, "
        f"{'uvloop' if event_loop_factory() else 'asyncio loop'}), sharing the {cores()} cores with the servers",
        f"          phase A: closed loop, {args.connections} connections, {args.warmup:g} s warm-up + "
        f"{args.duration:g} s counted; phase B: open loop {args.rate:g}/s for {args.rate_duration:g} s",
    ]
    if data is not None:
        lines.append(
            f"data      {len(data.communes)} communes in {data.provinces} provinces, {len(data.services)} commune "
            f"services, {data.officials} officials, {len(data.dossier_codes)} completed dossiers, "
            f"{data.history} earlier ratings, "
            f"{report.citizens} citizen tokens (setup {report.setup_seconds:.0f} s)"
        )
    if report.mix:
        mix = ", ".join(f"{name} {share:.0%}" for name, share in report.mix.items())
        lines.append(f"bodies    {mix} (Vietnamese comments, scores 1-5 weighted 5/7/15/35/38%)")
    lines.append("")

    full, base, fixed = report.full, report.baseline, report.fixed_rate
    header = f"{'':34} {'ratings/s':>10} {'p50 ms':>8} {'p99 ms':>8} {'max ms':>8} {'2xx':>8} {'non-2xx':>8}"
    lines += ["Phase A — capacity (closed loop)", header]
    for label, result in ((f"full path  POST {RATINGS_PATH}", full), (f"baseline   POST {BASELINE_PATH}", base)):
        if result is None:
            lines.append(f"{label:34} {'—':>10}  not measured: POST {RATINGS_PATH} answered {report.endpoint_status}")
            continue
        lines.append(
            f"{label:34} {result.ok_per_second:>10.0f} {result.percentile(0.5):>8.1f} {result.percentile(0.99):>8.1f} "
            f"{result.max_ms:>8.1f} {result.ok:>8} {result.failed:>8}"
        )
    ratio = full.ok_per_second / base.ok_per_second if full and base and base.ok_per_second else None
    lines.append(f"{'ratio full path / baseline':34} {f'{ratio:.2f}' if ratio is not None else '—':>10}")
    for result in (full, base):
        if result is not None:
            lines.append(
                f"  {result.name}: client CPU {result.client_cpu:.0%} of one core, machine "
                f"{result.machine_cpu:.0%} busy; statuses {_statuses(result)}"
            )
    lines.append("")
    if fixed is not None:
        lines += [
            f"Phase B — {args.rate:g} ratings/s, open loop, latency from the scheduled send time ({fixed.name})",
            f"{'':34} {'sent/s':>10} {'p50 ms':>8} {'p99 ms':>8} {'max ms':>8} {'2xx':>8} {'non-2xx':>8}",
            f"{fixed.name:34} {sum(fixed.statuses.values()) / fixed.seconds:>10.0f} {fixed.percentile(0.5):>8.1f} "
            f"{fixed.percentile(0.99):>8.1f} {fixed.max_ms:>8.1f} {fixed.ok:>8} {fixed.failed:>8}",
            f"  client CPU {fixed.client_cpu:.0%} of one core, machine {fixed.machine_cpu:.0%} busy; "
            f"statuses {_statuses(fixed)}",
            "",
        ]

    fixed_full = fixed if report.fixed_rate_target == "full path" else None
    failures = sum(r.failed for r in (full, fixed_full) if r is not None)
    checks: list[tuple[str, str, bool | None]] = [
        (
            f"full path >= {TARGET_RATE:,.0f} ratings/s",
            f"{full.ok_per_second:,.0f}/s" if full else "—",
            full.ok_per_second >= TARGET_RATE if full else None,
        ),
        (
            f"full path >= {TARGET_RATIO} x baseline",
            f"{ratio:.2f} x" if ratio is not None else "—",
            ratio >= TARGET_RATIO if ratio is not None else None,
        ),
        (
            f"p99 <= {TARGET_P99_MS:g} ms at {args.rate:g} ratings/s",
            f"{fixed_full.percentile(0.99):.1f} ms" if fixed_full else "—",
            fixed_full.percentile(0.99) <= TARGET_P99_MS if fixed_full else None,
        ),
        (
            "no failed ratings (non-2xx) on the full path",
            str(failures) if full else "—",
            failures == 0 if full else None,
        ),
    ]
    lines.append("Targets")
    lines += [f"  {_verdict(ok)}  {what:44} {value:>12}" for what, value, ok in checks]

    samples = [(r.name, s, b) for r in (full, base, fixed) if r is not None for s, b in r.error_samples.items()]
    if samples or (full is None and report.endpoint_status):
        lines += ["", "First answer of each failing status:"]
        if full is None:
            lines.append(f"  probe POST {RATINGS_PATH} -> {report.endpoint_status}: {report.endpoint_answer[:200]!r}")
        lines += [f"  {name} -> {status}: {body[:200]!r}" for name, status, body in samples]
    if report.stored:
        lines += ["", f"stored    {report.stored}"]
    logs = ", ".join(f"{name} {path} ({n} lines)" for name, (path, n) in report.server_logs.items())
    lines += ["", f"server logs (WARNING and above): {logs}", ""]
    return "\n".join(lines), all(ok for _, _, ok in checks)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    os.chdir(ROOT)
    loop_factory = event_loop_factory()
    try:
        with backing_servers() as backing, asyncio.Runner(loop_factory=loop_factory) as runner:
            report = runner.run(run(args, backing))
    except KeyboardInterrupt:
        return 130
    text, met = render(report)
    print(text)
    return 1 if args.strict and not met else 0


if __name__ == "__main__":
    sys.exit(main())
