"""Two processes writing to one record at once leave one unbroken chain: the head is read and
extended under the database's own lock (SQLite ``BEGIN IMMEDIATE``, PostgreSQL an advisory lock),
not an in-process one that a second process or node never sees."""

from __future__ import annotations

import asyncio
import itertools
import multiprocessing
import secrets
import time
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import create_async_engine

from gateway.record import Database
from gateway.record.chain import GENESIS
from gateway.record.database import utcnow
from gateway.record.schema import audit

WRITES = 50
PG_SOCKET = "/var/run/postgresql"


def _writer(url: str, name: str, barrier: Any, done: Any, other: Any) -> None:
    async def run() -> None:
        db = await Database.open(url, migrate=False)
        try:
            barrier.wait(timeout=60)
            for i in range(WRITES):
                # Keep within one write of the other process, so that every write races one of
                # theirs (SQLite's busy handler would otherwise let one process run far ahead).
                deadline = time.monotonic() + 30
                while other.value < i - 1:
                    if time.monotonic() > deadline:
                        raise RuntimeError(f"{name}: the other writer stopped at {other.value}")
                    await asyncio.sleep(0.001)
                await db.record_action(name, "test.write", None, i=i)
                done.value = i + 1
        finally:
            await db.close()

    asyncio.run(run())


async def _two_processes_write(url: str) -> list[dict[str, Any]]:
    db = await Database.open(url)  # migrates once, before the writers start
    await db.close()
    context = multiprocessing.get_context("spawn")
    barrier = context.Barrier(2)
    counts = [context.Value("i", 0), context.Value("i", 0)]
    workers = [
        context.Process(target=_writer, args=(url, f"writer{n + 1}", barrier, counts[n], counts[1 - n]))
        for n in (0, 1)
    ]
    for worker in workers:
        worker.daemon = True
        worker.start()
    try:
        for worker in workers:
            await asyncio.to_thread(worker.join, 120)
    finally:
        for worker in workers:
            if worker.is_alive():
                worker.kill()
    assert [w.exitcode for w in workers] == [0, 0]
    db = await Database.open(url, migrate=False)
    try:
        entries = await db.audit_entries()
        checked, broken = await db.verify()
    finally:
        await db.close()
    assert broken is None, str(broken)
    assert checked == len(entries) == 2 * WRITES
    return entries


def _assert_interleaved(entries: list[dict[str, Any]]) -> None:
    actors = [e["actor"] for e in entries]
    switches = sum(1 for a, b in itertools.pairwise(actors) if a != b)
    # Both ran at once (the test proves nothing if one writer finished before the other began).
    assert switches >= WRITES // 2, actors
    assert [e["seq"] for e in entries] == list(range(1, 2 * WRITES + 1))


async def test_two_processes_on_one_sqlite_file_keep_one_chain(tmp_path):
    entries = await _two_processes_write(f"sqlite+aiosqlite:///{tmp_path / 'record.db'}")
    _assert_interleaved(entries)


@pytest.fixture
async def pg_url():
    name = f"scenelink_chain_{secrets.token_hex(4)}"
    admin = create_async_engine(
        f"postgresql+asyncpg://postgres@/postgres?host={PG_SOCKET}", isolation_level="AUTOCOMMIT"
    )
    async with admin.connect() as conn:
        await conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield f"postgresql+asyncpg://postgres@/{name}?host={PG_SOCKET}"
    finally:
        async with admin.connect() as conn:
            await conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        await admin.dispose()


async def test_two_processes_on_postgresql_keep_one_chain(pg_url):
    entries = await _two_processes_write(pg_url)
    _assert_interleaved(entries)


async def test_a_second_entry_on_the_same_head_is_refused_by_the_database(tmp_path):
    """The second line: even a writer that skipped the lock cannot fork the chain."""
    db = await Database.open(f"sqlite+aiosqlite:///{tmp_path / 'r.db'}")
    try:
        await db.record_action("h", "first")
        with pytest.raises(IntegrityError):
            async with db.begin() as conn:
                await conn.execute(audit.insert().values(
                    seq=2, version=2, at=utcnow(), actor="x", action="fork", detail="{}",
                    prev_hash=GENESIS, hash="f" * 64,
                ))
    finally:
        await db.close()
