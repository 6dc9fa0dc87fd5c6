"""Which exceptions are a database fault (503 database_unavailable) and which are bugs (500):
a table over asyncpg's server errors by SQLSTATE, its client errors and socket errors."""

from __future__ import annotations

import errno

import asyncpg
import pytest
from asyncpg import exceptions as pg

from backend.db_faults import DatabaseUnreachable, is_database_fault


def chained(outer: BaseException, cause: BaseException) -> BaseException:
    outer.__context__ = cause
    return outer


FAULTS = [
    pg.AdminShutdownError("terminating connection due to administrator command"),  # 57P01, fast shutdown
    pg.CrashShutdownError("terminating connection because of crash of another server process"),  # 57P02
    pg.CannotConnectNowError("the database system is starting up"),  # 57P03
    pg.CannotConnectNowError("the database system is shutting down"),
    pg.IdleSessionTimeoutError("idle session timeout"),  # 57P05
    pg.ConnectionDoesNotExistError("connection was closed in the middle of operation"),  # 08003
    pg.ConnectionFailureError("connection failure"),  # 08006
    pg.ClientCannotConnectError("cannot connect"),  # 08001
    pg.TooManyConnectionsError("sorry, too many clients already"),  # 53300
    pg.DiskFullError("could not extend file"),  # 53100
    pg.QueryCanceledError("canceling statement due to statement timeout"),  # 57014
    asyncpg.InterfaceError("cannot call Connection.fetch(): connection is closed"),
    asyncpg.InterfaceError("pool is closing"),
    pg.InternalClientError("cannot switch to state 15; another operation (2) is in progress"),  # server hung up
    TimeoutError(),  # a pool acquire, a connect or a statement waited its bound (asyncio.TimeoutError too)
    ConnectionRefusedError(errno.ECONNREFUSED, "Connection refused"),
    ConnectionResetError(errno.ECONNRESET, "Connection reset by peer"),
    BrokenPipeError(errno.EPIPE, "Broken pipe"),
    DatabaseUnreachable(errno.ENOENT, "cannot connect to PostgreSQL: no socket file"),  # restarting
    OSError(errno.EHOSTUNREACH, "No route to host"),
    OSError(errno.ENETUNREACH, "Network is unreachable"),
    # A second error raised while cleaning up after the fault still counts as the fault.
    chained(asyncpg.InterfaceError("cannot perform operation: another operation is in progress"), TimeoutError()),
    chained(RuntimeError("cleanup failed"), pg.AdminShutdownError("terminating connection")),
    ExceptionGroup("several", [ValueError("x"), pg.CannotConnectNowError("starting up")]),
]

BUGS = [
    pg.UniqueViolationError("duplicate key value violates unique constraint"),  # 23505
    pg.UndefinedColumnError("column does not exist"),  # 42703
    pg.DataError("invalid input syntax"),  # 22000
    pg.CheckViolationError("violates check constraint"),  # 23514
    pg.SerializationError("could not serialize access"),  # 40001: a retry inside the app, not an outage
    pg.InsufficientPrivilegeError("permission denied"),  # 42501
    asyncpg.InterfaceError("the server expects 2 arguments for this query, 1 was passed"),
    asyncpg.InterfaceError("cannot perform operation: another operation is in progress"),
    FileNotFoundError(errno.ENOENT, "No such file or directory"),  # an attachment, not the database
    OSError(errno.ENOSPC, "No space left on device"),
    ValueError("bad value"),
    KeyError("missing"),
    ExceptionGroup("several", [ValueError("x"), KeyError("y")]),
]


@pytest.mark.parametrize("exc", FAULTS, ids=lambda e: f"{type(e).__name__}:{e}")
def test_database_faults_are_recognised(exc: BaseException) -> None:
    assert is_database_fault(exc)


@pytest.mark.parametrize("exc", BUGS, ids=lambda e: f"{type(e).__name__}:{e}")
def test_other_errors_are_not_database_faults(exc: BaseException) -> None:
    assert not is_database_fault(exc)


def test_a_cycle_of_causes_ends() -> None:
    first, second = ValueError("a"), ValueError("b")
    first.__context__, second.__context__ = second, first
    assert not is_database_fault(first)
