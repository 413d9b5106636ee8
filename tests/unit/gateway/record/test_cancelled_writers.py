"""A write transaction cancelled anywhere (a request's deadline, a client gone) never leaves SQLite's
write lock held: once the cancelled writer's task has finished, the lock is free, no connection is
checked out, and the next writer goes on at once.

"Another process" below is a plain sqlite3 connection on the same file, as a command run beside the
gateway would be. The garbage collector is kept off where a lock left behind would otherwise be
released by it at some unpredictable moment: the lock must be released by the writer's own ending.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import random
import sqlite3
import threading
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from sqlalchemy import Connection, text

from gateway.record import Database
from gateway.record.database import audit_many_sync

# How long the lock may take to come free after the last writer has finished: far less than the
# busy timeout a writer left behind it would make the next writer wait out.
PROMPTLY = 3.0


@pytest.fixture
def database_url(tmp_path: Path) -> str:
    """The record in a SQLite file (the lock in question is SQLite's; PostgreSQL's advisory lock ends
    with its transaction, which the server rolls back when the connection goes)."""
    return f"sqlite+aiosqlite:///{tmp_path / 'record.db'}"


@pytest.fixture
async def db(database_url: str) -> AsyncIterator[Database]:
    record = await Database.open(database_url)
    try:
        yield record
    finally:
        await record.close()


def database_file(url: str) -> str:
    return url.split("///", 1)[1]


def write_lock_is_free(path: str) -> bool:
    """Whether another process could take the database's write lock right now, without waiting."""
    other = sqlite3.connect(path, timeout=0, isolation_level=None)
    try:
        other.execute("BEGIN IMMEDIATE")
        other.execute("ROLLBACK")
        return True
    except sqlite3.OperationalError:
        return False
    finally:
        other.close()


async def eventually(condition, what: str, within: float = PROMPTLY) -> None:
    deadline = time.monotonic() + within
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {within} s: {what}")
        await asyncio.sleep(0.02)


async def assert_left_clean(db: Database, path: str) -> None:
    await eventually(lambda: write_lock_is_free(path), "the write lock came free")
    assert db.engine.pool.checkedout() == 0, "no connection is left checked out"
    await asyncio.wait_for(db.record_action("next", "test.after"), timeout=PROMPTLY)


@contextmanager
def no_garbage_collection() -> Iterator[None]:
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


@contextmanager
def another_process_holding_the_lock(path: str) -> Iterator[sqlite3.Connection]:
    other = sqlite3.connect(path, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    try:
        yield other
    finally:
        if other.in_transaction:
            other.execute("ROLLBACK")
        other.close()


async def entries(db: Database) -> list[str]:
    return [entry["action"] for entry in await db.audit_entries()]


async def test_a_writer_cancelled_while_its_query_runs_leaves_the_lock_free(db, database_url):
    path = database_file(database_url)
    await db.record_action("before", "test.one")
    await db.record_action("before", "test.two")
    in_query = threading.Event()
    let_go = threading.Event()

    def slow(value: int) -> int:  # runs in the connection's thread, inside the statement
        in_query.set()
        let_go.wait(10)
        return value

    async def writer() -> None:
        async with db.begin() as conn:
            raw = await conn.get_raw_connection()
            await raw.driver_connection.create_function("slow", 1, slow)
            await db.audit(conn, "cancelled", "test.cancelled")
            # A query with rows still to come when it is cancelled (its cursor left pending).
            await conn.execute(text("SELECT slow(seq) FROM audit"))

    with no_garbage_collection():
        task = asyncio.create_task(writer())
        await eventually(in_query.is_set, "the writer's query started")
        task.cancel()
        let_go.set()
        with pytest.raises(asyncio.CancelledError):
            await task
        await assert_left_clean(db, path)
    assert await entries(db) == ["test.one", "test.two", "test.after"]


async def test_a_writer_cancelled_while_it_waits_for_another_process_lock_leaves_nothing_behind(db, database_url):
    path = database_file(database_url)
    await db.record_action("before", "test.one")  # the schema made and a connection pooled
    with no_garbage_collection():
        with another_process_holding_the_lock(path):
            async def writer() -> None:
                async with asyncio.timeout(0.1):
                    await db.record_action("cancelled", "test.cancelled")

            task = asyncio.create_task(writer())
            # Its BEGIN IMMEDIATE cannot be taken back from the connection's thread; the
            # writer ends once it has returned, whatever the other process does meanwhile.
            done, _ = await asyncio.wait({task}, timeout=0.5)
            assert not done
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(task, timeout=PROMPTLY + 10)
        await assert_left_clean(db, path)
    assert await entries(db) == ["test.one", "test.after"]


async def test_a_cancelled_write_sync_keeps_the_writer_lock_until_its_transaction_is_over(db, database_url):
    path = database_file(database_url)
    await db.record_action("before", "test.one")
    writing = threading.Event()
    let_go = threading.Event()

    def write(conn: Connection) -> None:  # runs whole in the writer thread
        audit_many_sync(conn, [("cancelled", "test.thread", None, None)])
        writing.set()
        let_go.wait(10)

    task = asyncio.create_task(db.write_sync(write))
    await eventually(writing.is_set, "the thread's transaction started")
    task.cancel()
    follower = asyncio.create_task(db.record_action("follower", "test.follower"))
    done, _ = await asyncio.wait({task, follower}, timeout=0.5)
    assert not done, "neither the cancelled writer nor the next has finished"
    assert db.engine.pool.checkedout() == 0, "the next writer waits in this process, not on SQLite"
    let_go.set()
    with pytest.raises(asyncio.CancelledError):
        await asyncio.wait_for(task, timeout=PROMPTLY)
    await asyncio.wait_for(follower, timeout=PROMPTLY)
    await assert_left_clean(db, path)
    # The thread's transaction could not be taken back: it committed, before the next writer.
    assert await entries(db) == ["test.one", "test.thread", "test.follower", "test.after"]
    assert (await db.verify())[1] is None


async def test_a_write_sync_cancelled_while_it_waits_for_another_process_lock_ends_after_it(db, database_url):
    path = database_file(database_url)
    await db.record_action("before", "test.one")

    def write(conn: Connection) -> None:
        audit_many_sync(conn, [("cancelled", "test.thread", None, None)])

    async def writer() -> None:
        async with asyncio.timeout(0.1):
            await db.write_sync(write)

    with another_process_holding_the_lock(path):
        task = asyncio.create_task(writer())
        done, _ = await asyncio.wait({task}, timeout=0.5)
        assert not done, "the cancelled writer waits for its thread"
    with pytest.raises(TimeoutError):
        await asyncio.wait_for(task, timeout=PROMPTLY)
    await assert_left_clean(db, path)
    assert await entries(db) == ["test.one", "test.thread", "test.after"]


@pytest.mark.parametrize("seed", range(6))
async def test_crowds_of_writers_cancelled_at_random_moments_leave_the_lock_free(db, database_url, seed):
    rng = random.Random(seed)
    path = database_file(database_url)

    async def through_begin(n: int) -> None:
        async with db.begin() as conn:
            await db.audit(conn, "begin", "test.first", None, {"n": n})
            await conn.execute(text("SELECT count(*) FROM audit"))
            await db.audit(conn, "begin", "test.second", None, {"n": n})

    async def through_thread(n: int) -> None:
        many = rng.randint(1, 50)
        await db.write_sync(lambda conn: audit_many_sync(conn, [("thread", "test.many", None, {"n": n})] * many))

    async def within(budget: float, n: int) -> None:
        write = rng.choice([through_begin, through_thread])
        try:
            async with asyncio.timeout(budget):
                await write(n)
        except TimeoutError:
            pass

    with no_garbage_collection():
        tasks = []
        for n in range(40):
            budget = rng.choice([0, 0.0001, 0.001, 0.003, 0.01, 0.03, 1])
            tasks.append(asyncio.create_task(within(budget, n)))
            if rng.random() < 0.2:
                tasks[rng.randrange(len(tasks))].cancel()  # as when a client goes away
            if rng.random() < 0.3:
                await asyncio.sleep(rng.random() * 0.005)
        await asyncio.wait_for(asyncio.gather(*tasks, return_exceptions=True), timeout=60)
        await assert_left_clean(db, path)
    assert (await db.verify())[1] is None


async def test_a_writer_kept_waiting_is_logged_with_the_writer_it_waits_for(db, database_url, caplog):
    db.writer_wait_warning = 0.05
    holding = asyncio.Event()
    finish = asyncio.Event()

    async def holder() -> None:
        async with db.begin() as conn:
            await db.audit(conn, "holder", "test.hold")
            holding.set()
            await finish.wait()

    first = asyncio.create_task(holder(), name="the-holder")
    await holding.wait()
    with caplog.at_level(logging.WARNING, logger="gateway.record.database"):
        second = asyncio.create_task(db.record_action("waiter", "test.wait"), name="the-waiter")
        await eventually(lambda: any("the-holder" in r.getMessage() for r in caplog.records),
                         "a warning naming the holder")
    message = next(r.getMessage() for r in caplog.records if "the-holder" in r.getMessage())
    assert "the-waiter" in message
    assert "holder" in message.split("the-holder", 1)[1], "where the holder is waiting is named"
    finish.set()
    await asyncio.wait_for(asyncio.gather(first, second), timeout=PROMPTLY)


def test_every_connection_the_record_opens_rolls_back_before_closing(tmp_path: Path):
    """The cancelled-query case at its root: a connection closed with a statement still pending
    releases its write lock at once instead of when the garbage collector reaches the statement."""
    from gateway.record.database import _RollingBackConnection

    path = str(tmp_path / "plain.db")
    setup = sqlite3.connect(path, isolation_level=None)
    setup.execute("CREATE TABLE t (n INTEGER)")
    setup.executemany("INSERT INTO t VALUES (?)", [(1,), (2,), (3,)])
    setup.close()
    with no_garbage_collection():
        for factory, released in ((sqlite3.Connection, False), (_RollingBackConnection, True)):
            conn = sqlite3.connect(path, isolation_level=None, factory=factory)
            conn.execute("BEGIN IMMEDIATE")
            pending = conn.execute("SELECT n FROM t")
            pending.fetchone()
            conn.close()
            assert write_lock_is_free(path) is released
            del pending
            gc.collect()
            assert write_lock_is_free(path)
