"""Migrations: a new database gets exactly the schema the code expects, and a data directory made by a
release before migrations is recognised, upgraded, and still shows every row and a whole chain."""

from __future__ import annotations

import contextlib
import io
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import inspect
from sqlalchemy.ext.asyncio import create_async_engine

from gateway.__main__ import main
from gateway.record import Accounts, Conversations, Database, Incidents, verify_chain
from gateway.record.migrate import alembic_config, current, head
from gateway.record.schema import metadata

from .frozen_release import STAGES, fill, release_metadata


def _differences(conn) -> list:
    context = MigrationContext.configure(conn, opts={"compare_type": True})
    return [d for d in compare_metadata(context, metadata) if not _is_alembic_own(d)]


def _is_alembic_own(diff) -> bool:
    return diff[0] == "remove_table" and diff[1].name == "alembic_version"


async def schema_differences(db: Database) -> list:
    async with db.connect() as conn:
        return await conn.run_sync(_differences)


def test_the_migrations_form_one_line_from_the_baseline():
    scripts = ScriptDirectory.from_config(alembic_config())
    assert len(scripts.get_heads()) == 1, "two revisions share a parent: re-point the newer one's down_revision"
    assert [r.revision for r in scripts.walk_revisions()][-1] == "0001_baseline"


async def test_a_new_database_gets_exactly_the_schema_of_schema_py(bare_database_url):
    db = await Database.open(bare_database_url)
    try:
        assert await current(db.engine) == head()
        assert await schema_differences(db) == []
    finally:
        await db.close()


async def test_opening_again_changes_nothing(bare_database_url):
    for _ in range(2):
        db = await Database.open(bare_database_url)
        await db.close()
    db = await Database.open(bare_database_url)
    try:
        assert await current(db.engine) == head()
        assert await schema_differences(db) == []
    finally:
        await db.close()


async def make_release_database(url: str, stage: str) -> dict:
    engine = create_async_engine(url)
    frozen = release_metadata(stage)
    try:
        async with engine.begin() as conn:
            await conn.run_sync(frozen.create_all)
            written = await conn.run_sync(fill, frozen)
        async with engine.connect() as conn:
            tables = await conn.run_sync(lambda c: set(inspect(c).get_table_names()))
        assert "alembic_version" not in tables  # as those releases left it
        assert await current(engine) is None
    finally:
        await engine.dispose()
    return written


@pytest.mark.parametrize("stage", STAGES)
async def test_a_database_from_before_migrations_upgrades_and_reads_back(bare_database_url, stage):
    written = await make_release_database(bare_database_url, stage)
    db = await Database.open(bare_database_url)
    try:
        assert await current(db.engine) == head()
        assert await schema_differences(db) == []
        incidents = Incidents(db)
        record = await incidents.record(written["incident"])
        assert record["reference"] == "WYP-20261120-0042" and record["caller_phone"] == "+447700900123"
        assert record["created_at"] == "2026-11-20T14:30:00.000Z" and record["ended_at"] == "2026-11-20T14:39:00.000Z"
        # Columns an older database lacked read as the release that added them wrote new rows.
        assert record["media_policy"] == {
            "snapshot_interval_seconds": None, "scene_change_snapshots": True, "recording": False,
        } or stage == "last release"
        [link] = record["links"]
        assert link["id"] == written["link"] and link["state"] == "opened"
        assert [s["state"] for s in link["states"]] == ["created", "sent", "delivered", "opened"]
        assert link["opened_at"] == "2026-11-20T14:32:00.000Z"
        [session] = record["sessions"]
        assert session["id"] == written["session"] and session["end_reason"] == "handler ended"
        assert [(f["seq"], f["latitude"], f["accuracy"], f["device_time"], f["sha256"]) for f in record["fixes"]] == [
            (
                f["seq"],
                f["latitude"],
                f["accuracy"],
                f["device_time"].isoformat(timespec="milliseconds").replace("+00:00", "Z"),
                f["sha256"],
            )
            for f in written["fixes"]
        ]
        assert record["fixes"][0]["placement"] == {"layers": {"district": "Leeds"}}
        assert record["latest_fix"]["seq"] == 3
        [snapshot] = record["snapshots"]
        assert snapshot["sha256"] == "5" * 64 and snapshot["fix"]["seq"] == 3 and snapshot["thumbnail_url"] is None
        [sms] = record["messages"]
        assert sms["status"] == "delivered" and sms["to"] == "+447700900123"
        receipt = await incidents.sms_by_provider_ref("twilio", "SM0123456789abcdef")
        assert receipt["incident_id"] == written["incident"]
        if "message" in written:
            [message] = await Conversations(db).for_incident(written["incident"])
            assert message["text"] == written["message"]["text"] and message["seen_at"] is None
            assert message["delivered_at"] == "2026-11-20T14:35:01.000Z"
            assert len(record["recordings"]) == 1 and record["recordings"][0]["codec"] == "h264"
            assert await Accounts(db).embed_incident("e" * 64) == written["incident"]
        accounts = Accounts(db)
        operator = await accounts.operator_by_name("handler1")
        assert operator["must_change_password"] is False and await accounts.preferences("handler1") == {}
        assert (await accounts.token_by_hash("c" * 64))["name"] == "cad"

        entries = await db.audit_entries()
        assert [e["hash"] for e in entries] == [e["hash"] for e in written["chain"]]
        assert verify_chain(entries) is None
        # The upgraded record goes on: new rows chain on from the release's last entry.
        await accounts.set_preferences("handler1", {"blur": True})
        await incidents.add_fix(
            written["incident"], written["session"], 4, {"latitude": 53.8, "longitude": -1.5}, None, {}
        )
        entries = await db.audit_entries()
        assert len(entries) == len(written["chain"]) + 2 and verify_chain(entries) is None
        assert (await incidents.get(written["incident"]))["latest_fix"]["seq"] == 4
    finally:
        await db.close()


def test_the_db_commands_recognise_and_upgrade_an_old_data_directory(tmp_path: Path, monkeypatch):
    import asyncio

    monkeypatch.setenv("SCENELINK_DATA_DIR", str(tmp_path))
    url = f"sqlite+aiosqlite:///{tmp_path / 'scenelink.db'}"
    asyncio.run(make_release_database(url, "first release, later started"))

    def run(*args: str) -> tuple[int, str]:
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            code = main(["db", *args])
        return code, out.getvalue()

    code, said = run("current")
    assert code == 1 and "before migrations" in said and "scenelink db upgrade" in said
    code, said = run("upgrade")
    assert code == 0 and f"-> {head()}" in said
    code, said = run("current")
    assert code == 0 and "up to date" in said
    code, said = run("upgrade")
    assert code == 0 and "already at" in said
