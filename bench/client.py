"""A minimal HTTP/1.1 keep-alive client and the two load shapes of the benchmark.

The client has to stay cheap: on a 2-core machine it shares the CPU with the servers it
measures. So requests are pre-encoded bytes written to an `asyncio.open_connection` stream,
and a response is read as a status line, headers up to the blank line, then Content-Length
bytes (chunked bodies are read too, for safety). No httpx, no aiohttp.

- `closed_loop`: C connections, each sends its next request as soon as the previous answer
  arrives; measures capacity (completions per second) and latency under saturation.
- `open_loop`: requests are sent on a fixed timetable whatever the server does, and latency
  is measured from the *scheduled* send time, so a stalled server cannot hide its stall by
  slowing the client down (no coordinated omission).
"""

from __future__ import annotations

import asyncio
import os
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

CONNECTION_ERROR = 0
"""Status recorded when the connection failed instead of answering."""


class HttpConnection:
    """One keep-alive connection; `request` sends raw bytes and returns (status, body)."""

    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def connect(self) -> None:
        self.reader, self.writer = await asyncio.open_connection(self.host, self.port)

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
        self.reader = self.writer = None

    async def request(self, data: bytes) -> tuple[int, bytes]:
        reused = self.writer is not None
        if not reused:
            await self.connect()
        assert self.reader is not None and self.writer is not None
        self.writer.write(data)
        reader = self.reader
        try:
            head = await reader.readuntil(b"\r\n\r\n")
        except (asyncio.IncompleteReadError, ConnectionResetError) as exc:
            if not reused or (isinstance(exc, asyncio.IncompleteReadError) and exc.partial):
                raise
            # The server closed this idle keep-alive connection as we reused it (uvicorn's
            # keep-alive timeout): nothing was read, so send again on a new connection, as
            # HTTP clients do. Ratings carry an Idempotency-Key, so a resend is safe anyway.
            self.close()
            return await self.request(data)
        status = int(head[9:12])
        lower = head.lower()
        start = lower.find(b"\r\ncontent-length:")
        if start >= 0:
            end = lower.index(b"\r\n", start + 2)
            body = await reader.readexactly(int(lower[start + 17 : end]))
        elif b"\r\ntransfer-encoding: chunked" in lower:
            body = await _read_chunked(reader)
        else:  # no length: the body runs to the end of the connection
            body = await reader.read()
            self.close()
            return status, body
        if b"\r\nconnection: close" in lower:
            self.close()
        return status, body


async def _read_chunked(reader: asyncio.StreamReader) -> bytes:
    parts: list[bytes] = []
    while True:
        size = int((await reader.readuntil(b"\r\n")).split(b";", 1)[0], 16)
        if size == 0:
            await reader.readuntil(b"\r\n")  # no trailers expected
            return b"".join(parts)
        parts.append(await reader.readexactly(size))
        await reader.readexactly(2)


async def send(conn: HttpConnection, data: bytes) -> tuple[int, bytes]:
    """A request that reports a broken connection as status 0 instead of raising."""
    try:
        return await conn.request(data)
    except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, ValueError) as exc:
        conn.close()
        return CONNECTION_ERROR, repr(exc).encode()


def encode_request(method: str, path: str, host: str, headers: dict[str, str], body: bytes = b"") -> bytes:
    """One complete request as bytes (for the odd request; hot paths assemble their own)."""
    lines = [f"{method} {path} HTTP/1.1", f"Host: {host}"]
    lines += [f"{name}: {value}" for name, value in headers.items()]
    if body or method in {"POST", "PUT", "PATCH"}:
        lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


@dataclass
class PhaseResult:
    """What one load phase saw: latencies of the counted requests, statuses of all of them."""

    name: str
    seconds: float
    latencies: list[float] = field(default_factory=list)
    statuses: Counter[int] = field(default_factory=Counter)
    error_samples: dict[int, bytes] = field(default_factory=dict)
    client_cpu: float = 0.0
    """CPU seconds of this (client) process during the phase, over its wall time."""
    machine_cpu: float = 0.0
    """Share of all cores busy during the phase (servers, database and client together)."""

    def record(self, status: int, latency: float, body: bytes) -> None:
        self.statuses[status] += 1
        self.latencies.append(latency)
        if not 200 <= status < 300 and status not in self.error_samples:
            self.error_samples[status] = body[:300]

    @property
    def ok(self) -> int:
        return sum(n for status, n in self.statuses.items() if 200 <= status < 300)

    @property
    def failed(self) -> int:
        return sum(self.statuses.values()) - self.ok

    @property
    def ok_per_second(self) -> float:
        return self.ok / self.seconds if self.seconds else 0.0

    def percentile(self, share: float) -> float:
        """Latency in milliseconds at `share` (0-1), nearest rank; NaN without samples."""
        if not self.latencies:
            return float("nan")
        ordered = sorted(self.latencies)
        rank = max(1, min(len(ordered), round(share * len(ordered) + 0.5)))
        return ordered[rank - 1] * 1000

    @property
    def max_ms(self) -> float:
        return max(self.latencies) * 1000 if self.latencies else float("nan")


class CpuMeter:
    """Client-process and whole-machine CPU use between `__init__` and `stop`."""

    def __init__(self) -> None:
        self.wall, self.process = time.perf_counter(), time.process_time()
        self.busy, self.total = _machine_ticks()

    def stop(self, result: PhaseResult) -> None:
        wall = time.perf_counter() - self.wall
        result.client_cpu = (time.process_time() - self.process) / wall if wall else 0.0
        busy, total = _machine_ticks()
        result.machine_cpu = (busy - self.busy) / (total - self.total) if total > self.total else 0.0


def _machine_ticks() -> tuple[int, int]:
    """(busy, total) jiffies of all CPUs from /proc/stat; zeros where there is none."""
    try:
        with open("/proc/stat", encoding="ascii") as stat:
            values = [int(v) for v in stat.readline().split()[1:]]
    except OSError:
        return 0, 0
    idle = values[3] + (values[4] if len(values) > 4 else 0)  # idle + iowait
    return sum(values[:8]) - idle, sum(values[:8])


async def closed_loop(
    name: str,
    host: str,
    port: int,
    make_request: Callable[[], bytes],
    connections: int,
    warmup: float,
    duration: float,
) -> PhaseResult:
    """Saturate the server with `connections` back-to-back senders; count what completes in
    the `duration` seconds after `warmup`."""
    conns = [HttpConnection(host, port) for _ in range(connections)]
    await asyncio.gather(*(c.connect() for c in conns))
    result = PhaseResult(name, duration)
    loop_start = time.perf_counter()
    measure_from, measure_until = loop_start + warmup, loop_start + warmup + duration
    meter: list[CpuMeter] = []

    async def sender(conn: HttpConnection) -> None:
        perf = time.perf_counter
        while True:
            started = perf()
            if started >= measure_until:
                return
            status, body = await send(conn, make_request())
            done = perf()
            if measure_from <= done < measure_until:
                result.record(status, done - started, body)

    async def start_meter() -> None:
        await asyncio.sleep(warmup)
        meter.append(CpuMeter())

    await asyncio.gather(start_meter(), *(sender(c) for c in conns))
    if meter:
        meter[0].stop(result)
    for conn in conns:
        conn.close()
    return result


async def open_loop(
    name: str,
    host: str,
    port: int,
    make_request: Callable[[], bytes],
    rate: float,
    duration: float,
    preopen: int = 64,
    max_connections: int = 1024,
) -> PhaseResult:
    """Send `rate` requests per second for `duration` seconds on a fixed timetable; latency
    runs from each request's scheduled time to its answer, whatever delayed it."""
    idle: asyncio.LifoQueue[HttpConnection] = asyncio.LifoQueue()
    opened = 0
    for _ in range(preopen):
        conn = HttpConnection(host, port)
        await conn.connect()
        idle.put_nowait(conn)
        opened += 1
    result = PhaseResult(name, duration)
    total = int(rate * duration)
    perf = time.perf_counter

    async def one(scheduled: float) -> None:
        nonlocal opened
        try:
            conn = idle.get_nowait()
        except asyncio.QueueEmpty:
            if opened < max_connections:
                opened += 1
                conn = HttpConnection(host, port)
            else:
                conn = await idle.get()
        status, body = await send(conn, make_request())
        result.record(status, perf() - scheduled, body)
        idle.put_nowait(conn)

    meter = CpuMeter()
    start = perf() + 0.01
    tasks = []
    for i in range(total):
        scheduled = start + i / rate
        delay = scheduled - perf()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(one(scheduled)))
    await asyncio.gather(*tasks)
    result.seconds = perf() - start
    meter.stop(result)
    while not idle.empty():
        idle.get_nowait().close()
    return result


def cores() -> int:
    """Cores this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def event_loop_factory() -> Callable[[], asyncio.AbstractEventLoop] | None:
    """uvloop's event loop when it is installed (the API runs on it), else asyncio's."""
    try:
        import uvloop
    except ImportError:
        return None
    return uvloop.new_event_loop
