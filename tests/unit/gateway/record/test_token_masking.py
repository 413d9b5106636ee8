"""Upgrading masks the link tokens that earlier releases stored whole, and the record still proves
itself: the chain verifies, no entry of it is rewritten, and an exported bundle ties each masked SMS
to the chain through the ``sms.masked`` entry the upgrade added.

The old data directory is made as those releases left it: a record from before migrations (its
SMS holding the caller's whole link, as every release then recorded it), carried on to the last
revision before masking, where a later incident's link is texted as the release then did (the
whole text recorded, its salted digest in the chain, the ``sms.sent`` event queued for a webhook,
the outbox file written whole).
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import json
from datetime import timedelta
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import String, Text, inspect, text
from sqlalchemy.ext.asyncio import create_async_engine

from gateway.__main__ import main
from gateway.exports.bundle import build_bundle, verify_bundle
from gateway.i18n import sms_text
from gateway.links import link_url, mask_tokens, new_token, token_hash
from gateway.record import Database, Incidents, verify_chain
from gateway.record.checkpoints import Checkpoints
from gateway.record.database import utcnow
from gateway.record.evidence import export_incident
from gateway.record.migrate import current, head, upgrade
from gateway.record.outbox import Outbox
from gateway.sms.outbox import MASKED_MARK

from ..exports.test_bundle import edit_json, rebuild
from .test_migrations import make_release_database

BEFORE_MASKING = "0007_link_mode"
PUBLIC_URL = "https://scenelink.example.police.uk"


async def make_old_data_directory(url: str, data_dir: Path) -> dict:
    """A record and outbox as the releases that kept links whole left them; what was written."""
    first_token, later_token = new_token(), new_token()
    written = await make_release_database(url, "last release")
    first_body = sms_text(None, "West Yorkshire Police", link_url(PUBLIC_URL, first_token))
    engine = create_async_engine(url)
    try:
        async with engine.begin() as conn:
            await conn.execute(text("UPDATE sms_messages SET body = :body"), {"body": first_body})
        await upgrade(engine, BEFORE_MASKING)
    finally:
        await engine.dispose()

    db = await Database.open(url, migrate=False)
    try:
        incidents = Incidents(db)
        incident = await incidents.create("WYP-20261201-0007", "+447700900456", "handler1")
        link = await incidents.create_link(
            incident["id"], token_hash(later_token), utcnow() + timedelta(minutes=30), "handler1"
        )
        later_body = sms_text(None, "999 Control Room", link_url(PUBLIC_URL, later_token))
        message = await incidents.add_sms(
            incident["id"], link["id"], incident["caller_phone"], later_body, "outbox", "handler1"
        )
        await incidents.update_sms(message["id"], "sent", provider_ref="outbox-0123456789abcdef")
        message["status"] = "sent"
        await Outbox(db).add(["cad"], incident["id"], "sms.sent",
                             {"type": "sms.sent", "incident_id": incident["id"], "data": message})
        chain = await db.audit_entries()
    finally:
        await db.close()
    outbox = data_dir / "outbox"
    outbox.mkdir(parents=True)
    (outbox / "outbox-0123456789abcdef.json").write_text(json.dumps(
        {"id": "outbox-0123456789abcdef", "to": "+447700900456", "body": later_body, "at": "2026-12-01T09:00:00Z"},
        indent=2,
    ))
    return {
        "tokens": (first_token, later_token), "bodies": {written["incident"]: first_body, incident["id"]: later_body},
        "incident": incident["id"], "sms": message["id"], "chain": chain,
    }


def db_command(*args: str) -> tuple[int, str]:
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        code = main(["db", *args])
    return code, out.getvalue()


async def text_holding(engine, needle: str) -> list[str]:
    """Every table.column of the database with a row that contains ``needle``."""
    async with engine.connect() as conn:
        columns = await conn.run_sync(lambda c: [
            (table, column["name"]) for table in inspect(c).get_table_names()
            for column in inspect(c).get_columns(table) if isinstance(column["type"], String | Text)
        ])
        found = []
        for table, column in columns:
            hits = await conn.execute(
                text(f'SELECT COUNT(*) FROM "{table}" WHERE "{column}" LIKE :needle'), {"needle": f"%{needle}%"}
            )
            if hits.scalar_one():
                found.append(f"{table}.{column}")
    return found


def test_an_upgrade_masks_every_whole_token_and_the_record_still_proves_itself(
    bare_database_url, tmp_path: Path, monkeypatch
):
    url = bare_database_url
    monkeypatch.setenv("SCENELINK_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("SCENELINK_DATABASE_URL", url)
    old = asyncio.run(make_old_data_directory(url, tmp_path))

    async def holding(token: str) -> list[str]:
        engine = create_async_engine(url)
        try:
            return await text_holding(engine, token)
        finally:
            await engine.dispose()

    # As the releases left it: the whole token in the SMS texts, the webhook delivery and the outbox.
    assert asyncio.run(holding(old["tokens"][0])) == ["sms_messages.body"]
    assert asyncio.run(holding(old["tokens"][1])) == ["sms_messages.body", "webhook_outbox.body"]
    outbox_file = tmp_path / "outbox" / "outbox-0123456789abcdef.json"
    assert old["tokens"][1] in outbox_file.read_text()

    code, said = db_command("upgrade")
    assert code == 0 and f"{BEFORE_MASKING} -> {head()}" in said
    assert "link tokens masked in 1 outbox files" in said

    for token in old["tokens"]:
        assert asyncio.run(holding(token)) == []
        assert token not in outbox_file.read_text()
    assert json.loads(outbox_file.read_text())["body"] == mask_tokens(old["bodies"][old["incident"]])
    assert (tmp_path / "outbox" / MASKED_MARK).exists()

    async def after() -> None:
        db = await Database.open(url, migrate=False)
        try:
            assert await current(db.engine) == head()
            incidents = Incidents(db)
            for incident_id, body in old["bodies"].items():
                [sms] = (await incidents.record(incident_id))["messages"]
                # What a person can still read: the text as sent, its token cut to four characters.
                assert sms["body"] == mask_tokens(body) and sms["body"] != body
            async with db.connect() as conn:
                [delivery] = (await conn.execute(text("SELECT body FROM webhook_outbox"))).scalars().all()
            assert json.loads(delivery)["data"]["body"] == mask_tokens(old["bodies"][old["incident"]])

            entries = await db.audit_entries()
            assert verify_chain(entries) is None
            # Nothing written before was rewritten; one entry was added, for the SMS whose digest
            # the chain held (the first release's SMS was recorded without one).
            assert entries[: len(old["chain"])] == old["chain"]
            [added] = entries[len(old["chain"]):]
            assert (added["actor"], added["action"], added["incident_id"]) == ("gateway", "sms.masked", old["incident"])
            assert added["detail"]["sms_id"] == old["sms"]
            [queued] = [e for e in old["chain"] if e["action"] == "sms.queued" and e["detail"]["sms_id"] == old["sms"]]
            assert added["detail"]["was_sha256"] == queued["detail"]["item_sha256"]

            key = Ed25519PrivateKey.generate()
            made = await export_incident(db, incidents, Checkpoints(db, key), old["incident"], "supervisor1")
            bundle = build_bundle(made.record, made.chain, lambda sha: b"", made.checkpoints, made.export)
        finally:
            await db.close()
        report = verify_bundle(bundle, key.public_key())
        assert report.problems == []
        assert f"SMS {old['sms']}: its link token was masked at rest after it was sent (sms.masked)" in report.notes
        # The entry vouches for the masked text only: any other text is still caught.

        def reword(record: dict) -> None:
            record["messages"][0]["body"] = record["messages"][0]["body"].replace("tap this link", "open this link")

        altered = verify_bundle(rebuild(bundle, edit_json("record.json", reword)), key.public_key())
        assert any(f"SMS {old['sms']}: its number or text differ" in p for p in altered.problems), altered.problems

    asyncio.run(after())

    code, said = db_command("upgrade")
    assert code == 0 and "already at" in said and "outbox" not in said
