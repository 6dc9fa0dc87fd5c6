"""Stopping on SIGINT, SIGTERM and SIGHUP, embedded servers included.

Python's default for SIGTERM and SIGHUP is to die on the spot, skipping every `finally`:
the embedded PostgreSQL and Redis started for the run were left behind. Here all three
signals raise `Stopped` (a BaseException, like KeyboardInterrupt, so `except Exception`
does not swallow it) and the command unwinds through its `finally` blocks, which stop the
servers. While the API serves, uvicorn holds SIGINT and SIGTERM itself (it drains requests
and runs the app's shutdown, then raises the signal again, which lands here); SIGHUP is
turned into SIGTERM for it, and for the worker, which handles SIGINT and SIGTERM in its loop.

After the first signal, further ones are ignored until the cleanup is done: a second
Ctrl+C or a supervisor's repeated SIGTERM must not cut the stopping of the servers short
(a later start would find them anyway, see backend.embedded, but not stopped cleanly).
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import sys
import threading
from collections.abc import Iterator
from types import FrameType

log = logging.getLogger(__name__)

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


class Stopped(BaseException):  # like KeyboardInterrupt: an event, not an error
    """A stop signal arrived; `signum` says which."""

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


def _stop(signum: int, frame: FrameType | None) -> None:
    ignore_stop_signals()
    log.info("stopping", extra={"signal": signal.Signals(signum).name})
    raise Stopped(signum)


def install_stop_handlers() -> None:
    """From now on SIGINT, SIGTERM and SIGHUP raise Stopped in the main thread."""
    for signum in STOP_SIGNALS:
        signal.signal(signum, _stop)


def ignore_stop_signals() -> None:
    """Stopping already: further stop signals are ignored (logged) until the process ends."""

    def already(signum: int, frame: FrameType | None) -> None:
        log.info("already stopping", extra={"signal": signal.Signals(signum).name})

    for signum in STOP_SIGNALS:
        signal.signal(signum, already)


def _terminate_self(signum: int, frame: FrameType | None) -> None:
    os.kill(os.getpid(), signal.SIGTERM)


@contextlib.contextmanager
def hangup_as_terminate() -> Iterator[None]:
    """While the block runs, SIGHUP does what SIGTERM does (for uvicorn and the worker,
    which each handle SIGINT and SIGTERM but not SIGHUP)."""
    previous = signal.signal(signal.SIGHUP, _terminate_self)
    try:
        yield
    finally:
        # Unless stopping began meanwhile (then SIGHUP is already ignored: keep it so).
        if signal.getsignal(signal.SIGHUP) is _terminate_self:
            signal.signal(signal.SIGHUP, previous)


@contextlib.contextmanager
def stops_deferred() -> Iterator[None]:
    """Stop signals arriving in the block take effect at its end. Around starting and
    stopping an embedded server: interrupted halfway, a server would be running with no
    handle of ours to stop it by. Outside the commands (tests, other threads) a no-op."""
    if threading.current_thread() is not threading.main_thread() or signal.getsignal(signal.SIGTERM) is not _stop:
        yield
        return
    pending: list[int] = []

    def remember(signum: int, frame: FrameType | None) -> None:
        pending.append(signum)

    for signum in STOP_SIGNALS:
        signal.signal(signum, remember)
    try:
        yield
    finally:
        install_stop_handlers()
        if pending:
            _stop(pending[0], None)


def die_with_parent() -> None:
    """In a process `commune-pulse serve` started: be sent SIGTERM when that parent dies,
    even by `kill -9` (Linux's PR_SET_PDEATHSIG), so no API process outlives it holding the
    port. Elsewhere a no-op."""
    if not sys.platform.startswith("linux"):
        return
    import ctypes

    pr_set_pdeathsig = 1
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(pr_set_pdeathsig, int(signal.SIGTERM), 0, 0, 0) != 0:
        log.warning("cannot ask to be stopped with the parent process", extra={"errno": ctypes.get_errno()})
        return
    if os.getppid() == 1:  # the parent died before the request took effect
        os.kill(os.getpid(), signal.SIGTERM)
