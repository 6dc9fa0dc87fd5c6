"""A busy port stops `serve` and `dev` at once, in one line, before anything starts."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from backend.ports import PortBusyError, ensure_port_free


@pytest.fixture
def busy_port() -> Iterator[int]:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield int(sock.getsockname()[1])


def test_a_free_port_passes_and_stays_free(unused_tcp_port: int) -> None:
    ensure_port_free("127.0.0.1", unused_tcp_port)
    ensure_port_free("127.0.0.1", unused_tcp_port)  # the check let it go again


def test_a_listening_port_is_refused(busy_port: int) -> None:
    with pytest.raises(PortBusyError) as caught:
        ensure_port_free("127.0.0.1", busy_port)
    assert str(caught.value) == (
        f"PORT: 127.0.0.1:{busy_port} is already in use (another commune-pulse?); stop it or set PORT"
    )


def test_all_addresses_clash_with_a_loopback_listener(busy_port: int) -> None:
    with pytest.raises(PortBusyError, match="already in use"):
        ensure_port_free("0.0.0.0", busy_port)


def test_an_unknown_host_is_named() -> None:
    with pytest.raises(PortBusyError, match=r"^HOST: cannot listen on 'no-such-host\.invalid'"):
        ensure_port_free("no-such-host.invalid", 8000)


@pytest.mark.parametrize("command", ["serve", "dev"])
def test_the_command_stops_before_migrations(command: str, busy_port: int, tmp_path: Path) -> None:
    started = time.monotonic()
    result = subprocess.run(
        [sys.executable, "-m", "backend", command],
        env={"PATH": "/usr/bin:/bin", "DATA_DIR": str(tmp_path / "var"), "PORT": str(busy_port)},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert result.stderr == (
        f"commune-pulse: PORT: 127.0.0.1:{busy_port} is already in use (another commune-pulse?); stop it or set PORT\n"
    )
    assert result.stdout == ""
    # No embedded server was started, no migration ran: nothing was written under DATA_DIR.
    assert not (tmp_path / "var").exists()
    assert time.monotonic() - started < 20


def test_a_host_that_is_not_ours_is_named(unused_tcp_port: int) -> None:
    # 192.0.2.1 (TEST-NET-1) is on no interface of this machine.
    with pytest.raises(PortBusyError, match=r"^HOST: cannot listen on 192\.0\.2\.1:\d+: "):
        ensure_port_free("192.0.2.1", unused_tcp_port)


def test_localhost_is_checked_as_uvicorn_binds_it(busy_port: int) -> None:
    with pytest.raises(PortBusyError, match=f"^PORT: localhost:{busy_port} is already in use"):
        ensure_port_free("localhost", busy_port)
