"""Password hashing on its own small, bounded pool of threads.

argon2 is built to be slow and memory-hard. On the default executor, a burst of sign-ins would
take every worker thread and both cores from the media work that callers depend on. Here it gets
``threads`` threads and at most ``queue`` more waiting; beyond that a request is refused at once
(:class:`Busy`, answered 503 with ``Retry-After``) rather than queued without bound.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

from .auth import hash_password, verify_password

T = TypeVar("T")


class Busy(RuntimeError):
    """Too many password checks in progress: try again shortly."""


class PasswordPool:
    def __init__(self, threads: int = 1, queue: int = 8) -> None:
        if threads < 1 or queue < 0:
            raise ValueError("a password pool needs at least one thread and a queue of zero or more")
        self.threads = threads
        self.capacity = threads + queue
        self.in_flight = 0
        self._executor = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="password-hash")

    async def run(self, work: Callable[..., T], *args: str) -> T:
        """Run ``work(*args)`` on the pool; :class:`Busy` at once when it is full."""
        if self.in_flight >= self.capacity:
            raise Busy("too many sign-ins at once")
        self.in_flight += 1
        try:
            return await asyncio.get_running_loop().run_in_executor(self._executor, work, *args)
        finally:
            self.in_flight -= 1

    async def verify(self, stored_hash: str, password: str) -> bool:
        return await self.run(verify_password, stored_hash, password)

    async def hash(self, password: str) -> str:
        return await self.run(hash_password, password)

    def close(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)
