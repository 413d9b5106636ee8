"""Password hashing runs on its own bounded pool and refuses work beyond it at once."""

from __future__ import annotations

import asyncio
import threading
import time

import pytest

from gateway.auth import hash_password
from gateway.passwords import Busy, PasswordPool


async def wait_until(condition, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not reached"
        await asyncio.sleep(0.01)


async def test_work_beyond_threads_and_queue_is_refused_at_once() -> None:
    pool = PasswordPool(threads=1, queue=2)
    release = threading.Event()
    names: list[str] = []

    def hold() -> None:
        names.append(threading.current_thread().name)
        release.wait(30)

    held = [asyncio.ensure_future(pool.run(hold)) for _ in range(3)]
    await wait_until(lambda: pool.in_flight == 3 and names)
    stored = hash_password("correct horse battery")
    started = time.monotonic()
    with pytest.raises(Busy):
        await pool.verify(stored, "correct horse battery")
    assert time.monotonic() - started < 1.0
    # The default executor is not the pool: it still runs work while the pool is full.
    assert await asyncio.wait_for(asyncio.to_thread(lambda: 42), 10) == 42
    release.set()
    await asyncio.gather(*held)
    assert pool.in_flight == 0 and names == ["password-hash_0"] * 3  # one thread of its own, in turn
    assert await pool.verify(stored, "correct horse battery") is True
    assert await pool.verify(await pool.hash("another long password"), "another long password") is True
    pool.close()
