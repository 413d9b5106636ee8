"""The record asks the database a fixed number of questions, however much it holds: listing
incidents, the link sweep and a delivery receipt's lookup do not grow a query per row (N+1)."""

from __future__ import annotations

import contextlib
from datetime import timedelta

import pytest
from sqlalchemy import event, inspect

from gateway.links import LinkState
from gateway.record import Database, Incidents
from gateway.record.database import utcnow


@pytest.fixture
async def db(database_url):
    database = await Database.open(database_url)
    yield database
    await database.close()


@contextlib.contextmanager
def statements(db: Database):
    """Every SQL statement sent to the database inside the block (transaction control aside)."""
    seen: list[str] = []

    def note(_conn, _cursor, statement, _params, _context, _executemany) -> None:
        if statement.split(None, 1)[0].upper() not in ("BEGIN", "COMMIT", "ROLLBACK"):
            seen.append(statement)

    event.listen(db.engine.sync_engine, "before_cursor_execute", note)
    try:
        yield seen
    finally:
        event.remove(db.engine.sync_engine, "before_cursor_execute", note)


async def add_incidents(incidents: Incidents, count: int, start: int = 0) -> None:
    for n in range(start, start + count):
        inc = await incidents.create(f"WYP-{n:04d}", "+447400123456", "handler1")
        link = await incidents.create_link(inc["id"], f"{n:064x}", utcnow() + timedelta(minutes=30), "h")
        session = await incidents.start_session(inc["id"], link["id"], "UA")
        for seq in (1, 2):
            await incidents.add_fix(inc["id"], session["id"], seq, {"latitude": 53.8, "longitude": -1.5}, None, {})


async def test_listing_incidents_costs_the_same_for_3_as_for_30(db):
    incidents = Incidents(db)
    await add_incidents(incidents, 3)
    with statements(db) as for_3:
        listed = await incidents.list()
    assert len(listed) == 3 and all(i["latest_fix"]["seq"] == 2 and i["state"] == "created" for i in listed)
    await add_incidents(incidents, 27, start=3)
    with statements(db) as for_30:
        listed = await incidents.list()
    assert len(listed) == 30
    assert len(for_30) == len(for_3) == 3, for_30


async def test_an_incident_without_links_or_fixes_lists_with_neither(db):
    incidents = Incidents(db)
    await incidents.create("WYP-BARE", "+447400123456", "handler1")
    await add_incidents(incidents, 1)
    listed = {i["reference"]: i for i in await incidents.list()}
    assert listed["WYP-BARE"]["state"] is None and listed["WYP-BARE"]["latest_fix"] is None
    assert listed["WYP-0000"]["latest_fix"]["seq"] == 2


async def test_the_link_sweep_is_one_query_whatever_the_number_of_links(db):
    incidents = Incidents(db)
    await add_incidents(incidents, 5)
    with statements(db) as idle:
        due = await incidents.due_links(utcnow(), utcnow() - timedelta(hours=1))
    assert (due.expiring, due.overlong) == ([], []) and len(idle) == 1
    # Two links past their expiry, one opened too long ago: found by the same single query.
    inc = await incidents.create("WYP-OLD", "+447400123456", "handler1")
    for n in (1, 2):
        await incidents.create_link(inc["id"], f"{n:064x}".replace("0", "e"), utcnow() - timedelta(seconds=1), "h")
    old = await incidents.create("WYP-LONG", "+447400123456", "handler1")
    long_link = await incidents.create_link(old["id"], "f" * 64, utcnow() + timedelta(minutes=30), "h")
    await incidents.move_link(long_link["id"], LinkState.OPENED, "caller")
    with statements(db) as busy:
        due = await incidents.due_links(utcnow(), utcnow() + timedelta(seconds=1))
    assert len(busy) == 1
    # The first expired link was superseded (revoked) by the second: only the second is due.
    assert [link["incident_id"] for link in due.expiring] == [inc["id"]]
    assert [link["id"] for link in due.overlong] == [long_link["id"]]
    assert await incidents.expire_links(utcnow(), due.expiring) == [(inc["id"], due.expiring[0]["id"])]


async def test_a_delivery_receipt_finds_its_message_by_index(db):
    incidents = Incidents(db)
    inc = await incidents.create("WYP-SMS", "+447400123456", "handler1")
    sms = await incidents.add_sms(inc["id"], None, "+447400123456", "tap", "twilio", "h")
    await incidents.update_sms(sms["id"], "sent", provider_ref="SM123")
    assert (await incidents.sms_by_provider_ref("twilio", "SM123"))["id"] == sms["id"]
    assert await incidents.sms_by_provider_ref("notify", "SM123") is None
    async with db.connect() as conn:
        indexes = await conn.run_sync(lambda c: inspect(c).get_indexes("sms_messages"))
    assert ["provider", "provider_ref"] in [i["column_names"] for i in indexes]


async def test_a_bundle_reads_the_chain_in_batches_and_only_its_incidents_details(db):
    from gateway.record.database import redact_for

    for n in range(7):
        await db.record_action("handler1", "note", "inc_mine" if n % 3 == 0 else f"inc_other{n}", n=n, secret=f"s{n}")
    await db.record_action("cli", "operator.added", None, username="x")
    expected = redact_for(await db.audit_entries(), "inc_mine")
    with statements(db) as seen:
        streamed = [e async for e in db.chain_for("inc_mine", batch=3)]
    assert streamed == expected
    assert [e["seq"] for e in streamed] == list(range(1, 9))
    assert [e async for e in db.chain_for("inc_mine", until=5, batch=3)] == expected[:5]
    # Batches of 3 over 8 entries: 3 reads of the links, and a read of details only where it has some.
    assert len(seen) == 3 + 3, seen
    assert all("audit.detail" not in s or "audit.incident_id =" in s for s in seen)
