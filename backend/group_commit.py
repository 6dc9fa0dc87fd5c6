"""Group commit: the writes of concurrent requests share one database round trip.

A commit per request makes the WAL flush and the round trips the limit of the hot rating
path. Here requests queue their items; a drainer (or a few) takes what has queued up and
writes it with one set-based function, in one transaction or in statements that each
commit atomically, and resolves every caller's future only after the commit, so a 201
still means the row is durable. Nothing waits on a timer: when the database is idle a
lone request goes straight through, and batches grow only while an earlier one is in
flight.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, Generic, TypeVar

import asyncpg

from backend.db import pooled, transaction
from backend.db_faults import is_database_fault
from backend.errors import database_unavailable

log = logging.getLogger(__name__)

I = TypeVar("I")  # noqa: E741 - item
O = TypeVar("O")  # noqa: E741 - outcome

# Seconds a batch waits for a connection when none is given (tests); the app passes its setting.
DEFAULT_ACQUIRE_TIMEOUT = 2.0


class GroupWriter(Generic[I, O]):
    def __init__(
        self,
        pool: asyncpg.Pool,
        write: Callable[[Any, list[I]], Awaitable[Sequence[O]]],
        *,
        max_batch: int = 200,
        drainers: int = 2,
        transaction: bool = True,
        acquire_timeout: float = DEFAULT_ACQUIRE_TIMEOUT,
        deadline: float | None = None,
    ) -> None:
        self._pool = pool
        self._acquire_timeout = acquire_timeout
        # Seconds a caller waits for its outcome, queueing included: behind a batch stalled
        # on the database a caller would otherwise wait for that batch and then its own.
        self._deadline = deadline
        self._write = write
        self._max_batch = max_batch
        self._drainers = drainers
        self._transaction = transaction
        self._queue: list[tuple[I, asyncio.Future[O]]] = []
        self._active = 0
        self._tasks: set[asyncio.Task[None]] = set()
        # Callers' deadlines, in submission order (the deadline is one constant, so that is
        # also the order they fall due in), watched by one timer for the whole writer: an
        # asyncio.timeout per request (a timer made, rescheduled and cancelled) was ~5 % of
        # a rating's API CPU.
        self._due: deque[tuple[float, list[asyncio.Future[O]]]] = deque()
        self._watch: asyncio.TimerHandle | None = None

    async def submit(self, items: Sequence[I]) -> list[O]:
        """Outcomes of `items`, in order, once the transaction holding them has committed."""
        loop = asyncio.get_running_loop()
        futures = [loop.create_future() for _ in items]
        self._queue.extend(zip(items, futures, strict=True))
        if self._active < self._drainers:
            self._active += 1
            task = loop.create_task(self._drain())
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        if self._deadline is not None and futures:
            # Answered callers leave from the front, so the queue holds about those waiting.
            while self._due and all(f.done() for f in self._due[0][1]):
                self._due.popleft()
            self._due.append((loop.time() + self._deadline, futures))
            if self._watch is None:
                self._watch = loop.call_at(self._due[0][0], self._expire)
        if len(futures) == 1:
            return [await futures[0]]
        return list(await asyncio.gather(*futures))

    def _expire(self) -> None:
        """Fail the callers whose deadline has passed; wait for the next one still waiting.

        A failed caller's futures are done, so the items still queued are dropped, and a
        batch in flight that commits after all is found by the caller's retry (same
        Idempotency-Key): the answer acknowledges nothing."""
        self._watch = None
        now = asyncio.get_running_loop().time()
        while self._due:
            due, futures = self._due[0]
            waiting = [f for f in futures if not f.done()]
            if waiting and due > now:
                self._watch = asyncio.get_running_loop().call_at(due, self._expire)
                return
            self._due.popleft()
            if waiting:
                log.warning(
                    "group write of %d items waited over %.1f s: database unavailable", len(futures), self._deadline
                )
                for future in waiting:
                    future.set_exception(database_unavailable())

    async def close(self) -> None:
        """Let the batches in flight finish (at shutdown)."""
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._watch is not None and not self._queue:
            self._watch.cancel()
            self._watch = None
            self._due.clear()

    async def _drain(self) -> None:
        try:
            while self._queue:
                batch = self._queue[: self._max_batch]
                del self._queue[: self._max_batch]
                batch = [(item, future) for item, future in batch if not future.done()]  # callers gone
                if batch:
                    await self._flush(batch)
        finally:
            self._active -= 1

    async def _flush(self, batch: list[tuple[I, asyncio.Future[O]]]) -> None:
        try:
            async with pooled(self._pool, self._acquire_timeout) as conn:
                items = [item for item, _ in batch]
                if self._transaction:
                    async with transaction(conn):
                        outcomes = await self._write(conn, items)
                else:
                    outcomes = await self._write(conn, items)
        except Exception as exc:
            if is_database_fault(exc):
                # Down, restarting or stalled: whether the last statement committed is unknown,
                # so no caller is told "stored". Each retries with its Idempotency-Key, which
                # finds the row if it was stored and stores it otherwise.
                log.warning("group write failed: database unavailable: %s: %s", type(exc).__name__, exc)
                self._fail(batch, database_unavailable())
                return
            if len(batch) > 1:
                # Something the write function did not foresee: isolate the item at fault so
                # that the others are still stored.
                log.exception("group write of %d items failed; writing them one by one", len(batch))
                for one in batch:
                    await self._flush([one])
            else:
                self._fail(batch, exc)
        else:
            for (_, future), outcome in zip(batch, outcomes, strict=True):
                if not future.done():  # the caller may have gone away
                    future.set_result(outcome)

    @staticmethod
    def _fail(batch: list[tuple[I, asyncio.Future[O]]], exc: BaseException) -> None:
        for _, future in batch:
            if not future.done():
                future.set_exception(exc)
