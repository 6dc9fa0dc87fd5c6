"""Which exceptions mean "the database is down, restarting or stalled" rather than a bug.

A PostgreSQL shutdown, restart, crash or network fault reaches the code as one of many
exception types: asyncpg's server errors of SQLSTATE class 08 (connection), 57P (the
server is going or not yet up) or 53 (out of connections or resources), a statement
cancelled by a timeout (57014), the client's own InterfaceError once the connection is
closed, a refused or reset socket, or a timeout while waiting on a stalled server. All of
them are answered 503 database_unavailable with Retry-After (backend.errors), so a client
retries with the same Idempotency-Key instead of taking a 500 as final.
"""

from __future__ import annotations

import errno

import asyncpg

# Seconds a client is asked to wait before retrying: a fast restart takes about this long.
RETRY_AFTER_SECONDS = 5

# SQLSTATE prefixes of server-side faults: connection exceptions (08xxx), operator
# intervention such as admin/crash shutdown and "the database system is starting up"
# (57P01-57P05), query_canceled (57014: statement_timeout or our cancel of a stalled
# statement), insufficient resources (53xxx: too many connections, disk full).
FAULT_SQLSTATES = ("08", "57P", "57014", "53")

# InterfaceError texts of a connection or pool that is closed or closing; the other
# InterfaceErrors (wrong argument counts, nested acquire...) are bugs and stay 500s.
_CLOSED_TEXTS = ("connection is closed", "connection was closed", "pool is closing", "pool is closed")

# Socket errors of an unreachable server (no route, network down) besides ConnectionError.
_NETWORK_ERRNOS = {errno.EHOSTUNREACH, errno.ENETUNREACH, errno.ENETDOWN, errno.ETIMEDOUT, errno.ECONNREFUSED}


class DatabaseUnreachable(ConnectionError):
    """Opening a connection failed at the socket: refused, reset, or no socket file (a
    server on a Unix socket removes it while it restarts). Raised by backend.db.pooled so
    that such an OSError is told apart from, say, a missing attachment file."""


def _is_fault(exc: BaseException) -> bool:
    if isinstance(exc, asyncpg.PostgresError):
        sqlstate = getattr(exc, "sqlstate", None) or ""
        return sqlstate.startswith(FAULT_SQLSTATES)
    if isinstance(exc, asyncpg.InterfaceError):
        return any(text in str(exc) for text in _CLOSED_TEXTS)
    if isinstance(exc, asyncpg.exceptions.InternalClientError):
        # The protocol met a message it did not expect, as when the server ends the session
        # between statements (a fast shutdown): the connection is unusable, not the query wrong.
        return True
    # TimeoutError (asyncio's too): a pool acquire, a connect or a statement waited its bound.
    if isinstance(exc, TimeoutError | ConnectionError):
        return True
    return isinstance(exc, OSError) and exc.errno in _NETWORK_ERRNOS


def is_database_fault(exc: BaseException) -> bool:
    """True when `exc`, or what caused it, says the database cannot be reached right now.

    The causes are followed because a fault often surfaces as a second error raised while
    cleaning up after the first (ROLLBACK on a connection the server just closed)."""
    seen: set[int] = set()
    pending: list[BaseException] = [exc]
    while pending:
        current = pending.pop()
        if id(current) in seen or len(seen) > 20:
            continue
        seen.add(id(current))
        if isinstance(current, BaseExceptionGroup):
            pending.extend(current.exceptions)
            continue
        if _is_fault(current):
            return True
        for linked in (current.__cause__, current.__context__):
            if linked is not None:
                pending.append(linked)
    return False
