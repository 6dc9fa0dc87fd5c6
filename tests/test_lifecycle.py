"""`commune-pulse dev`, `serve` and `worker` as the user runs them, with embedded servers in
a DATA_DIR of the test's own: SIGTERM, SIGHUP and SIGINT stop each cleanly, embedded
PostgreSQL and Redis included; after `kill -9` the next start stops or adopts what was
left, becomes ready, and leaves nothing behind when stopped in turn."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import psutil
import pytest

from backend.lifecycle import Stopped, hangup_as_terminate, ignore_stop_signals, install_stop_handlers

ROOT = Path(__file__).resolve().parent.parent
BANNER = "Commune Pulse is running"
START_SECONDS = 240  # the first start initialises PostgreSQL and loads the demo data
STOP_SECONDS = 60


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Run:
    """One `commune-pulse <command>` process, its output in a file."""

    def __init__(self, data_dir: Path, command: str, port: int, **env: str) -> None:
        self.data_dir, self.port = data_dir, port
        self.output = data_dir.parent / f"{command}-{time.monotonic_ns()}.log"
        environment = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL")}
        environment.update(DATA_DIR=str(data_dir), PORT=str(port), HOST="127.0.0.1", **env)
        with self.output.open("wb") as out:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "backend", command],
                cwd=ROOT,
                env=environment,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
            )

    def text(self) -> str:
        return self.output.read_text(encoding="utf-8", errors="replace")

    def wait_for(self, predicate: Callable[[Run], bool], what: str, seconds: float = START_SECONDS) -> None:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            code = self.process.poll()
            assert code is None, f"exited {code} before {what}:\n{self.text()[-3000:]}"
            if predicate(self):
                return
            time.sleep(0.2)
        raise AssertionError(f"no {what} within {seconds} s:\n{self.text()[-3000:]}")

    def ready(self) -> int:
        try:
            return httpx.get(f"http://127.0.0.1:{self.port}/health/ready", timeout=5).status_code
        except httpx.HTTPError:
            return 0

    def stop(self, signum: int) -> int:
        self.process.send_signal(signum)
        return self.process.wait(STOP_SECONDS)


def embedded_pids(data_dir: Path) -> dict[str, int]:
    """The embedded servers' pids from their pid files in DATA_DIR."""
    pids = {}
    postmaster = data_dir / "pg" / "postmaster.pid"
    if postmaster.exists():
        pids["postgres"] = int(postmaster.read_text().split()[0])
    record = data_dir / "redis" / "server.json"
    if record.exists():
        pids["redis"] = int(json.loads(record.read_text())["pid"])
    return pids


def left_under(data_dir: Path) -> list[str]:
    """Processes that still belong to this DATA_DIR: named in their command line or
    running in it (the embedded Redis runs in its data folder)."""
    found = []
    for process in psutil.process_iter(["pid", "cmdline", "cwd"]):
        cmdline = " ".join(process.info["cmdline"] or [])
        if str(data_dir) in cmdline or (process.info["cwd"] or "").startswith(str(data_dir)):
            found.append(f"{process.info['pid']} {cmdline}")
    return found


def alive(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


@pytest.fixture
def data_dir(server_dir: Path) -> Iterator[Path]:
    folder = server_dir / "data"
    try:
        yield folder
    finally:
        # Whatever a failed test left behind, and only that, is ended here.
        for process in psutil.process_iter(["cmdline", "cwd"]):
            cmdline = " ".join(process.info["cmdline"] or [])
            if str(folder) in cmdline or (process.info["cwd"] or "").startswith(str(folder)):
                process.kill()


def start_dev(data_dir: Path, port: int) -> Run:
    run = Run(data_dir, "dev", port)
    run.wait_for(lambda r: BANNER in r.text(), "banner")
    # The banner comes only once readiness is 200 (and it stays so).
    assert run.ready() == 200
    return run


def test_dev_stops_on_each_signal_and_recovers_from_kill_9(data_dir: Path) -> None:
    port = free_port()
    # Stopped while the embedded PostgreSQL is starting: it is started, then stopped.
    run = Run(data_dir, "dev", port)
    run.wait_for(lambda r: (data_dir / "pg" / "postmaster.pid").exists(), "PostgreSQL starting")
    assert run.stop(signal.SIGTERM) == 0, run.text()[-3000:]
    assert left_under(data_dir) == [], run.text()[-3000:]

    for signum, code in ((signal.SIGTERM, 0), (signal.SIGHUP, 0), (signal.SIGINT, 130)):
        run = start_dev(data_dir, port)
        servers = embedded_pids(data_dir)
        assert set(servers) == {"postgres", "redis"} and all(alive(pid) for pid in servers.values())
        assert run.stop(signum) == code, run.text()[-3000:]
        assert not any(alive(pid) for pid in servers.values()), (signum, servers)
        assert left_under(data_dir) == [], signum

    # kill -9: nothing runs the cleanup; both servers outlive the run.
    run = start_dev(data_dir, port)
    orphans = embedded_pids(data_dir)
    assert run.stop(signal.SIGKILL) == -signal.SIGKILL
    assert all(alive(pid) for pid in orphans.values())

    run = start_dev(data_dir, port)
    text = run.text()
    assert "adopting it" in text and "stopping it" in text
    servers = embedded_pids(data_dir)
    assert servers["postgres"] == orphans["postgres"]  # adopted
    assert not alive(orphans["redis"]) and alive(servers["redis"])  # the orphan stopped, a new one running
    assert run.stop(signal.SIGTERM) == 0
    assert not any(alive(pid) for pid in servers.values())
    assert left_under(data_dir) == []


def test_serve_and_worker_stop_on_hangup_and_terminate(data_dir: Path) -> None:
    port = free_port()
    # Several API processes: SIGHUP stops them all (uvicorn would restart them instead).
    serve = Run(data_dir, "serve", port, API_WORKERS="2")
    serve.wait_for(lambda r: r.ready() == 200, "readiness")
    processes = [psutil.Process(serve.process.pid), *psutil.Process(serve.process.pid).children(recursive=True)]
    servers = embedded_pids(data_dir)
    assert len(processes) >= 3 and set(servers) == {"postgres", "redis"}
    assert serve.stop(signal.SIGHUP) == 0, serve.text()[-3000:]
    # multiprocessing's resource tracker ends when it sees its parent gone: a moment later.
    _, remaining = psutil.wait_procs(processes[1:], timeout=10)
    assert [p for p in remaining if p.status() != psutil.STATUS_ZOMBIE] == []
    assert not any(alive(pid) for pid in servers.values())
    assert left_under(data_dir) == []

    # kill -9 of the supervisor: its API processes follow it (they are sent SIGTERM), so the
    # port is free for the next start, which adopts or stops the servers left running.
    serve = Run(data_dir, "serve", port, API_WORKERS="2")
    serve.wait_for(lambda r: r.ready() == 200 and len(psutil.Process(r.process.pid).children()) >= 2, "readiness")
    children = psutil.Process(serve.process.pid).children(recursive=True)
    assert serve.stop(signal.SIGKILL) == -signal.SIGKILL
    _, remaining = psutil.wait_procs(children, timeout=15)
    assert [p for p in remaining if p.status() != psutil.STATUS_ZOMBIE] == []
    serve = Run(data_dir, "serve", port)
    serve.wait_for(lambda r: r.ready() == 200, "readiness after kill -9")
    servers = embedded_pids(data_dir)
    assert serve.stop(signal.SIGTERM) == 0, serve.text()[-3000:]
    assert not any(alive(pid) for pid in servers.values())
    assert left_under(data_dir) == []

    for signum in (signal.SIGTERM, signal.SIGHUP):
        worker = Run(data_dir, "worker", port)
        worker.wait_for(lambda r: "Starting worker" in r.text(), "the worker's poll loop")
        servers = embedded_pids(data_dir)
        assert worker.stop(signum) == 0, worker.text()[-3000:]
        assert not any(alive(pid) for pid in servers.values())
        assert left_under(data_dir) == []


def test_stop_signals_raise_stopped_once_then_are_ignored() -> None:
    previous = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)}
    try:
        install_stop_handlers()
        with pytest.raises(Stopped) as stopped:
            signal.raise_signal(signal.SIGHUP)
        assert stopped.value.signum == signal.SIGHUP
        # Stopping: a second signal must not interrupt the cleanup.
        signal.raise_signal(signal.SIGTERM)
        signal.raise_signal(signal.SIGINT)
        install_stop_handlers()
        # While a server holds SIGTERM, SIGHUP becomes SIGTERM for it.
        received: list[int] = []
        signal.signal(signal.SIGTERM, lambda signum, frame: received.append(signum))
        with hangup_as_terminate():
            signal.raise_signal(signal.SIGHUP)
        assert received == [signal.SIGTERM]
        ignore_stop_signals()
        signal.raise_signal(signal.SIGTERM)
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
