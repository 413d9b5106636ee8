"""Group commit: items that arrive while the writer lock is busy are written together, in one
write transaction, instead of one transaction each.

A write transaction costs the same few round trips (take the lock, read the chain's head, commit)
whether it holds one item or fifty, and every writer waits for the lock anyway: at 20 fixes a
second, one transaction per fix keeps the lock busy and builds a queue behind it. Here each
:class:`GroupCommit` has one task that, once it holds a write transaction, takes every item
queued so far (up to ``Database.batch_limit``), writes them with one call of its ``write``
function (synchronous: on SQLite the whole transaction runs in one call to the database's
writer thread, see ``Database.write_sync``), commits, and only then answers each caller: nothing
acknowledged is ever lost with its batch. The items keep their order (each still gets its own
audit entry, in turn).

A batch that fails (an item breaking a constraint) is written again one item per transaction,
so only the item at fault gets the error.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from functools import partial
from typing import TYPE_CHECKING, Generic, TypeVar

from sqlalchemy import Connection

if TYPE_CHECKING:
    from .database import Database

T = TypeVar("T")
R = TypeVar("R")

# Writes a batch within a write transaction of Database.write_sync; one result per item, in order.
BatchWriter = Callable[[Connection, Sequence[T]], Sequence[R]]


class GroupCommit(Generic[T, R]):
    """Writes the items handed to :meth:`submit` in batches; one task of its own does the writing."""

    def __init__(self, db: Database, write: BatchWriter[T, R]) -> None:
        self.db = db
        self.write = write
        self._queue: list[tuple[T, asyncio.Future[R]]] = []
        self._task: asyncio.Task[None] | None = None
        self.batches = 0  # transactions committed (for the benchmark and the tests)

    async def submit(self, item: T) -> R:
        """Write ``item`` with whatever else is queued; returns once its transaction committed."""
        if self.db.writing_in_this_task():
            # The writer task would wait for this task's transaction, and this task for it.
            raise RuntimeError("an item was submitted for group commit inside a write transaction")
        future: asyncio.Future[R] = asyncio.get_running_loop().create_future()
        self._queue.append((item, future))
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._drain(), name="group-commit")
        return await future

    async def idle(self) -> None:
        """Wait until everything submitted so far is written."""
        while self._task is not None and not self._task.done():
            await asyncio.wait([self._task])

    def write_one(self, item: T, conn: Connection) -> Sequence[R]:
        return self.write(conn, [item])

    def _take(self) -> list[tuple[T, asyncio.Future[R]]]:
        # Only this group's writing removes from the queue, and only from its head; submit()
        # appends at its tail: the two never step on each other, in whichever thread this runs.
        batch = self._queue[: self.db.batch_limit]
        del self._queue[: len(batch)]
        return batch

    def _write_queued(self, batch: list[tuple[T, asyncio.Future[R]]], conn: Connection) -> Sequence[R]:
        # Taken once the lock is held: whatever queued while waiting for it comes too.
        batch.extend(self._take())
        return self.write(conn, [item for item, _ in batch])

    async def _drain(self) -> None:
        while self._queue:
            batch: list[tuple[T, asyncio.Future[R]]] = []
            try:
                results = await self.db.write_sync(partial(self._write_queued, batch))
                self.batches += 1
            except asyncio.CancelledError:
                _fail(batch + self._queue, RuntimeError("the database was closed before the item was written"))
                self._queue.clear()
                raise
            except Exception as exc:  # noqa: BLE001 - answered to the callers, item by item
                if not batch:
                    # No transaction at all (the database unreachable): everyone waiting is told.
                    waiting, self._queue = self._queue, []
                    _fail(waiting, exc)
                elif len(batch) == 1:
                    _fail(batch, exc)
                else:
                    await self._one_by_one(batch)
                continue
            for (_, future), result in zip(batch, results, strict=True):
                if not future.done():
                    future.set_result(result)

    async def _one_by_one(self, batch: list[tuple[T, asyncio.Future[R]]]) -> None:
        for item, future in batch:
            try:
                (result,) = await self.db.write_sync(partial(self.write_one, item))
                self.batches += 1
            except Exception as exc:  # noqa: BLE001
                _fail([(item, future)], exc)
            else:
                if not future.done():
                    future.set_result(result)


def _fail(batch: Sequence[tuple[object, asyncio.Future]], exc: BaseException) -> None:
    for _, future in batch:
        if not future.done():
            future.set_exception(exc)
