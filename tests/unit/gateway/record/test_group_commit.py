"""Fixes are group-committed: those that arrive together are written in one transaction, each its
own chain entry in the order it came, each caller answered only once its fix is committed, and a
fix at fault fails alone. On real SQLite and PostgreSQL databases."""

import asyncio
from datetime import timedelta

import pytest
from sqlalchemy import func, select
from sqlalchemy.exc import OperationalError

from gateway.record import Database, Incidents
from gateway.record.database import utcnow
from gateway.record.schema import fixes

SENT = 30


@pytest.fixture
async def db(database_url):
    database = await Database.open(database_url)
    yield database
    await database.close()


async def caller(incidents: Incidents, ref: str) -> tuple[str, str, str]:
    """(incident, link, session) of a caller sharing location."""
    inc = await incidents.create(ref, "+447400123456", "handler1")
    link = await incidents.create_link(inc["id"], ref.encode().hex().ljust(64, "0"), utcnow() + timedelta(hours=1), "h")
    session = await incidents.start_session(inc["id"], link["id"], "UA")
    return inc["id"], link["id"], session["id"]


def fix(n: int) -> dict[str, float]:
    return {"latitude": 53.8 + n * 1e-4, "longitude": -1.55, "accuracy": 8.0}


async def test_fixes_sent_together_share_a_transaction_each_with_its_own_entry_in_order(db):
    incidents = Incidents(db)
    calls = [await caller(incidents, f"WYP-{n}") for n in range(3)]
    head = (await db.head())["seq"]
    sent = [(calls[n % 3], n // 3 + 1) for n in range(SENT)]
    stored = await asyncio.gather(*(
        incidents.add_fix(inc, session, seq, fix(seq), None, {}) for (inc, _, session), seq in sent
    ))
    assert all(s is not None for s in stored)
    assert db.batches("fixes") < SENT
    entries = (await db.audit_entries())[head:]
    assert [(e["action"], e["incident_id"], e["detail"]["session_id"], e["detail"]["seq"]) for e in entries] == [
        ("fix.recorded", inc, session, seq) for (inc, _, session), seq in sent
    ]
    assert [e["detail"]["sha256"] for e in entries] == [s["sha256"] for s in stored]
    assert (await db.verify())[1] is None


async def test_one_transaction_per_fix_when_the_limit_is_one(database_url):
    db = await Database.open(database_url, batch_limit=1)
    try:
        incidents = Incidents(db)
        inc, _, session = await caller(incidents, "WYP-1")
        await asyncio.gather(*(incidents.add_fix(inc, session, seq, fix(seq), None, {}) for seq in range(1, 6)))
        assert db.batches("fixes") == 5
        assert (await db.verify())[1] is None
    finally:
        await db.close()


async def test_a_fix_is_acknowledged_only_once_another_connection_can_read_it(db, database_url):
    incidents = Incidents(db)
    inc, _, session = await caller(incidents, "WYP-1")
    other = await Database.open(database_url, migrate=False)  # another handle: its own connections

    async def send_and_read_back(seq: int) -> int:
        stored = await incidents.add_fix(inc, session, seq, fix(seq), None, {})
        async with other.connect() as conn:
            return (await conn.execute(select(func.count()).where(fixes.c.id == stored["id"]))).scalar_one()

    try:
        assert await asyncio.gather(*(send_and_read_back(seq) for seq in range(1, 11))) == [1] * 10
    finally:
        await other.close()


async def test_the_same_fix_twice_in_one_batch_or_through_another_session_of_its_link_is_stored_once(db):
    incidents = Incidents(db)
    inc, link, first = await caller(incidents, "WYP-1")
    second = (await incidents.start_session(inc, link, "UA, over HTTPS"))["id"]
    at = utcnow()
    await incidents.add_fix(inc, first, 1, fix(1), at, {})
    results = await asyncio.gather(
        incidents.add_fix(inc, first, 2, fix(2), at, {}),
        incidents.add_fix(inc, second, 2, fix(2), at, {}),  # the same fix, resent the other way
        incidents.add_fix(inc, second, 1, fix(1), at, {}),  # already stored through the link
        incidents.add_fix(inc, second, 3, fix(3), at, {}),
    )
    assert [r is not None for r in results] == [True, False, False, True]
    record = await incidents.record(inc)
    assert sorted(f["seq"] for f in record["fixes"]) == [1, 2, 3]
    assert (await db.verify())[1] is None


async def test_a_fix_at_fault_fails_alone_and_the_rest_of_its_batch_is_stored(db):
    incidents = Incidents(db)
    inc, _, session = await caller(incidents, "WYP-1")
    results = await asyncio.gather(
        incidents.add_fix(inc, session, 1, fix(1), None, {}),
        incidents.add_fix(inc, "ses_no_such_session", 1, fix(1), None, {}),  # breaks a foreign key
        incidents.add_fix(inc, session, 2, fix(2), None, {}),
    )
    assert [r is not None for r in results] == [True, False, True]
    record = await incidents.record(inc)
    assert [f["seq"] for f in record["fixes"]] == [1, 2]
    assert (await db.verify())[1] is None


async def test_when_no_transaction_can_be_opened_every_waiting_caller_is_told(tmp_path):
    db = await Database.open(f"sqlite+aiosqlite:///{tmp_path / 'missing' / 'record.db'}", migrate=False)
    try:
        incidents = Incidents(db)
        results = await asyncio.gather(
            *(incidents.add_fix("inc_x", "ses_x", seq, fix(seq), None, {}) for seq in (1, 2, 3)),
            return_exceptions=True,
        )
        assert all(isinstance(r, OperationalError) for r in results), results
        assert db.batches("fixes") == 0
    finally:
        await db.close()  # returns: nothing is left queued or being retried
