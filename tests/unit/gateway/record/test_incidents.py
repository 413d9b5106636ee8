"""The incident record on real SQLite and PostgreSQL databases: nothing lost, nothing stored twice, all chained."""

from datetime import timedelta

import pytest
from sqlalchemy import update

from gateway.links import LinkState
from gateway.record import Database, Incidents, verify_chain
from gateway.record.database import utcnow
from gateway.record.incidents import DuplicateReference
from gateway.record.schema import audit


@pytest.fixture
async def db(database_url):
    database = await Database.open(database_url)
    yield database
    await database.close()


@pytest.fixture
async def incidents(db):
    return Incidents(db)


async def new_incident(incidents, ref="WYP-1"):
    return await incidents.create(ref, "+447400123456", "handler1")


async def test_an_incident_reference_is_unique(incidents):
    await new_incident(incidents)
    with pytest.raises(DuplicateReference):
        await new_incident(incidents)


async def test_a_new_link_supersedes_the_live_one(incidents):
    inc = await new_incident(incidents)
    first = await incidents.create_link(inc["id"], "a" * 64, utcnow() + timedelta(minutes=30), "h")
    await incidents.create_link(inc["id"], "b" * 64, utcnow() + timedelta(minutes=30), "h")
    old = await incidents.link_by_token_hash("a" * 64)
    assert old["id"] == first["id"] and old["state"] == "revoked"
    assert (await incidents.get(inc["id"]))["state"] == "created"


async def test_only_the_first_device_binds_a_link(incidents):
    inc = await new_incident(incidents)
    link = await incidents.create_link(inc["id"], "a" * 64, utcnow() + timedelta(minutes=30), "h")
    assert await incidents.bind_device(link["id"], "d1")
    assert not await incidents.bind_device(link["id"], "d2")


async def test_link_states_refuse_impossible_moves_and_keep_history(incidents):
    inc = await new_incident(incidents)
    link = await incidents.create_link(inc["id"], "a" * 64, utcnow() + timedelta(minutes=30), "h")
    assert await incidents.move_link(link["id"], LinkState.SENT, "h")
    assert await incidents.move_link(link["id"], LinkState.ENDED, "h")
    assert await incidents.move_link(link["id"], LinkState.OPENED, "caller") is None
    record = await incidents.record(inc["id"])
    assert [s["state"] for s in record["links"][0]["states"]] == ["created", "sent", "ended"]


async def test_a_resent_fix_is_stored_once(incidents):
    inc = await new_incident(incidents)
    link = await incidents.create_link(inc["id"], "a" * 64, utcnow() + timedelta(minutes=30), "h")
    ses = await incidents.start_session(inc["id"], link["id"], "UA")
    fix = {"latitude": 53.8, "longitude": -1.55, "accuracy": 10.0}
    first = await incidents.add_fix(inc["id"], ses["id"], 1, fix, None, {"layers": {}})
    again = await incidents.add_fix(inc["id"], ses["id"], 1, fix, None, {"layers": {}})
    assert first is not None and again is None
    record = await incidents.record(inc["id"])
    assert len(record["fixes"]) == 1 and len(record["fixes"][0]["sha256"]) == 64
    assert record["latest_fix"]["seq"] == 1


async def test_the_nearest_fix_in_time_is_found_either_side(incidents):
    inc = await new_incident(incidents)
    link = await incidents.create_link(inc["id"], "a" * 64, utcnow() + timedelta(minutes=30), "h")
    ses = await incidents.start_session(inc["id"], link["id"], "UA")
    for seq in (1, 2):
        await incidents.add_fix(inc["id"], ses["id"], seq, {"latitude": 53.0 + seq, "longitude": -1.0}, None, {})
    near = await incidents.nearest_fix(inc["id"], utcnow() + timedelta(seconds=5))
    assert near["seq"] == 2
    assert (await incidents.nearest_fix(inc["id"], utcnow() - timedelta(hours=1)))["seq"] == 1


async def test_every_action_is_in_a_hash_chain_that_detects_tampering(db, incidents):
    inc = await new_incident(incidents)
    await incidents.create_link(inc["id"], "a" * 64, utcnow() + timedelta(minutes=30), "h")
    await db.record_action("handler1", "video.viewed", inc["id"])
    entries = await db.audit_entries()
    assert [e["action"] for e in entries] == ["incident.created", "link.created", "video.viewed"]
    assert verify_chain(entries) is None
    async with db.begin() as conn:
        await conn.execute(update(audit).where(audit.c.id == 2).values(actor="someone else"))
    broken = verify_chain(await db.audit_entries())
    assert broken is not None and broken.seq == 2


async def test_unopened_links_past_their_expiry_are_expired(incidents):
    inc = await new_incident(incidents)
    await incidents.create_link(inc["id"], "a" * 64, utcnow() - timedelta(seconds=1), "h")
    assert len(await incidents.expire_links(utcnow())) == 1
    assert (await incidents.get(inc["id"]))["state"] == "expired"
