"""Write transactions in one process queue before they take a connection: a crowd of writers never
fills the pool or waits out the database's busy timeout, and a writer that needs to read while it
holds the lock always gets a connection."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import select

from gateway.record import Database
from gateway.record.schema import audit

pytestmark = pytest.mark.parametrize("database_url", ["sqlite", "postgresql"], indirect=True)


async def test_a_writer_holding_the_lock_can_still_read_while_a_crowd_of_writers_waits(database_url):
    db = await Database.open(database_url)
    try:
        holding = asyncio.Event()
        crowd_waiting = asyncio.Event()

        async def first() -> int:
            async with db.begin() as conn:
                await db.audit(conn, "first", "test.write")
                holding.set()
                await crowd_waiting.wait()
                # Reads on other pooled connections while the write lock is held (as an export
                # reads the incident's record under it).
                async with db.connect() as reader:
                    return len((await reader.execute(select(audit.c.seq))).all())

        async def another(n: int) -> None:
            await db.record_action(f"writer{n}", "test.write", None, n=n)

        holder = asyncio.create_task(first())
        await holding.wait()
        # More writers than the pool and its overflow hold (5 + 10 by default).
        crowd = [asyncio.create_task(another(n)) for n in range(40)]
        # Give the crowd time to reach wherever it waits (a queue, or the database's lock).
        await asyncio.sleep(0.5)
        assert not any(task.done() for task in crowd)
        assert db.engine.pool.checkedout() == 1, "only the lock's holder holds a connection"
        crowd_waiting.set()
        assert await asyncio.wait_for(holder, timeout=10) == 0  # not yet committed: none to read
        await asyncio.wait_for(asyncio.gather(*crowd), timeout=30)
        assert (await db.verify())[0] == 41
    finally:
        await db.close()


async def test_a_write_transaction_opened_inside_another_is_refused_at_once(database_url):
    db = await Database.open(database_url)
    try:
        with pytest.raises(RuntimeError, match="inside another"):
            async with db.begin():
                async with db.begin():
                    pass
        # The outer transaction was rolled back and the lock released: the next writer goes on.
        await asyncio.wait_for(db.record_action("after", "test.write"), timeout=10)
        assert (await db.verify())[0] == 1
    finally:
        await db.close()
