"""Two processes writing to one record at once leave one unbroken chain: the head is read and
extended under the database's own lock (SQLite ``BEGIN IMMEDIATE``, PostgreSQL an advisory lock),
not an in-process one that a second process or node never sees."""

from __future__ import annotations

import asyncio
import itertools
import multiprocessing
import secrets
import time
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import create_async_engine

from gateway.record import Database, Incidents
from gateway.record.chain import GENESIS
from gateway.record.database import utcnow
from gateway.record.schema import audit

WRITES = 50
PG_SOCKET = "/var/run/postgresql"


def _writer(url: str, name: str, barrier: Any, done: Any, other: Any, call: tuple[str, str] | None) -> None:
    """Writes ``WRITES`` audited actions, or with ``call`` (incident, session) that many fixes
    (group-committed: on SQLite through the writer thread's own connection)."""

    async def run() -> None:
        db = await Database.open(url, migrate=False)
        incidents = Incidents(db)
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
                if call:
                    fix = {"latitude": 53.8, "longitude": -1.55 + i * 1e-4}
                    assert await incidents.add_fix(call[0], call[1], i + 1, fix, None, {})
                else:
                    await db.record_action(name, "test.write", None, i=i)
                done.value = i + 1
        finally:
            await db.close()

    asyncio.run(run())


async def _two_processes_write(url: str, fixes: bool = False) -> list[dict[str, Any]]:
    db = await Database.open(url)  # migrates once, before the writers start
    call = None
    try:
        if fixes:
            incidents = Incidents(db)
            inc = await incidents.create("WYP-1", "+447400123456", "h")
            link = await incidents.create_link(inc["id"], "a" * 64, utcnow() + timedelta(hours=1), "h")
            call = (inc["id"], (await incidents.start_session(inc["id"], link["id"], "UA"))["id"])
        before = len(await db.audit_entries())
    finally:
        await db.close()
    context = multiprocessing.get_context("spawn")
    barrier = context.Barrier(2)
    counts = [context.Value("i", 0), context.Value("i", 0)]
    workers = [
        context.Process(
            target=_writer, args=(url, f"writer{n + 1}", barrier, counts[n], counts[1 - n], call if n == 0 else None)
        )
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
    assert checked == len(entries) == before + 2 * WRITES
    return entries[before:]


def _assert_interleaved(entries: list[dict[str, Any]]) -> None:
    actors = [e["actor"] for e in entries]
    switches = sum(1 for a, b in itertools.pairwise(actors) if a != b)
    # Both ran at once (the test proves nothing if one writer finished before the other began).
    assert switches >= WRITES // 2, actors
    first = entries[0]["seq"]
    assert [e["seq"] for e in entries] == list(range(first, first + 2 * WRITES))


async def test_two_processes_on_one_sqlite_file_keep_one_chain(tmp_path):
    entries = await _two_processes_write(f"sqlite+aiosqlite:///{tmp_path / 'record.db'}")
    _assert_interleaved(entries)


async def test_group_committed_fixes_and_another_process_keep_one_chain_on_sqlite(tmp_path):
    entries = await _two_processes_write(f"sqlite+aiosqlite:///{tmp_path / 'record.db'}", fixes=True)
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


async def test_group_committed_fixes_and_another_process_keep_one_chain_on_postgresql(pg_url):
    entries = await _two_processes_write(pg_url, fixes=True)
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
