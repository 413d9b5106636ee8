"""The whole gateway on PostgreSQL: a caller shares camera and location with a handler, as in the
walking skeleton, with the record in the machine's PostgreSQL instead of SQLite."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from gateway.record import Database
from tests import databases

from .conftest import Gateway, running_gateway
from .walkthrough import CALLER_POSITION, EXPECTED_FORCE, Walkthrough, area_name, sha256

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def postgres_gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gateway]:
    databases.require_postgres()
    name = databases.create_database()
    try:
        env = {"SCENELINK_DATABASE_URL": databases.postgres_url(name)}
        with running_gateway(tmp_path_factory.mktemp("gateway-pg"), env) as gw:
            gw.env["TEST_DATABASE"] = name
            yield gw
    finally:
        databases.drop_database(name)


async def test_a_call_is_recorded_in_postgresql(browser, postgres_gateway):
    gateway = postgres_gateway
    w = Walkthrough(browser, gateway.base_url, gateway.passwords)
    try:
        await w.handler_sends_link()
        await w.caller_shares()
        video = await w.handler_sees_video()
        assert video["width"] > 0 and video["height"] > 0, video
        snap, jpeg, _ = await w.handler_takes_snapshot()
        assert sha256(jpeg) == snap["sha256"], snap
        await w.handler_sees_position()
        await w.handler_ends()
        record = await w.record()
        fix = record["fixes"][-1]
        assert abs(fix["latitude"] - CALLER_POSITION["latitude"]) < 1e-6, fix
        assert area_name(fix["placement"], "force") == EXPECTED_FORCE, fix["placement"]
        assert any(s["id"] == snap["id"] for s in record["snapshots"]), record["snapshots"]
        assert record["state"] == "ended" and record["sessions"][-1]["ended_by"] == "handler1", record
        assert not w.problems.found, w.problems.found
    finally:
        await w.close()

    # It is all in PostgreSQL (no SQLite record was made), and the chain verifies there.
    assert not (gateway.data_dir / "scenelink.db").exists()
    db = await Database.open(databases.postgres_url(gateway.env["TEST_DATABASE"]), migrate=False)
    try:
        checked, broken = await db.verify()
        entries = await db.audit_entries(w.incident_id)
    finally:
        await db.close()
    assert broken is None, str(broken)
    actions = {e["action"] for e in entries}
    assert {"incident.created", "link.created", "fix.recorded", "snapshot.taken", "incident.ended"} <= actions, actions
    assert checked >= len(entries)
