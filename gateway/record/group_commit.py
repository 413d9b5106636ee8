"""Group commit: items that arrive while the writer lock is busy are written together, in one
write transaction, instead of one transaction each.

A write transaction costs the same few round trips (take the lock, read the chain's head, commit)
whether it holds one item or fifty, and every writer waits for the lock anyway: at 20 fixes a
second, one transaction per fix keeps the lock busy and builds a queue behind it. Here each
:class:`GroupCommit` has one task that, once it holds a write transaction, takes every item
queued so far (up to ``Database.batch_limit``), writes them with one call of its ``write``
function, commits, and only then answers each caller: nothing acknowledged is ever lost with
its batch. The items keep their order (each still gets its own audit entry, in turn).

A batch that fails (an item breaking a constraint) is written again one item per transaction,
so only the item at fault gets the error.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from typing import TYPE_CHECKING, Generic, TypeVar

from sqlalchemy.ext.asyncio import AsyncConnection

if TYPE_CHECKING:
    from .database import Database

T = TypeVar("T")
R = TypeVar("R")

BatchWriter = Callable[[AsyncConnection, Sequence[T]], Awaitable[Sequence[R]]]


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

    async def _drain(self) -> None:
        while self._queue:
            batch: list[tuple[T, asyncio.Future[R]]] = []
            try:
                async with self.db.begin() as conn:
                    # Taken once the lock is held: whatever queued while waiting for it comes too.
                    batch = self._queue[: self.db.batch_limit]
                    del self._queue[: len(batch)]
                    results = await self.write(conn, [item for item, _ in batch])
                self.batches += 1
            except asyncio.CancelledError:
                _fail(batch + self._queue, RuntimeError("the database was closed before the item was written"))
                self._queue.clear()
                raise
            except Exception as exc:  # noqa: BLE001 - answered to the callers, item by item
                if not batch:
                    # No transaction at all (the database unreachable): everyone waiting is told.
                    batch, self._queue = self._queue, []
                    _fail(batch, exc)
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
                async with self.db.begin() as conn:
                    (result,) = await self.write(conn, [item])
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
