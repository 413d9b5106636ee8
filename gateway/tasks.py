"""The background tasks one part of the gateway started, and must account for when it stops."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Collection
from typing import Any

log = logging.getLogger(__name__)


class TaskSet:
    """Keeps its tasks referenced (asyncio holds only weak ones), logs their failures, ends them."""

    def __init__(self, owner: str) -> None:
        self.owner = owner
        self._tasks: set[asyncio.Task] = set()

    def spawn(self, coro: Awaitable[Any]) -> asyncio.Task:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._done)
        return task

    def _done(self, task: asyncio.Task) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("%s: background task failed", self.owner, exc_info=task.exception())

    def __len__(self) -> int:
        return len(self._tasks)

    async def cancel(self) -> None:
        """Cancel every task (but the caller's own) and wait until they have all finished."""
        await self.drain(cancel=self._tasks)

    async def drain(self, cancel: Collection[asyncio.Task] = ()) -> None:
        """Cancel the tasks in ``cancel``; let the others (such as evidence being stored) finish."""
        current = asyncio.current_task()
        pending = [t for t in self._tasks if t is not current]
        for task in pending:
            if task in cancel:
                task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)
