"""An export checks the stored chain onwards from the newest checkpoint the gateway's key vouches
for; `scenelink verify` checks it all. A change after that checkpoint is still found, and a
checkpoint tampered with sends the export back to the full check, which refuses it. On real
SQLite and PostgreSQL databases."""

import pytest
from sqlalchemy import update

from gateway.__main__ import main
from gateway.record import Database, Incidents
from gateway.record.checkpoints import Checkpoints
from gateway.record.evidence import ChainBroken, export_incident
from gateway.record.schema import audit, checkpoints
from gateway.record.signing import load_or_create_key
from gateway.record.verification import check_stored_chain, trusted_checkpoint


class Scene:
    def __init__(self, db: Database, incidents: Incidents, signer: Checkpoints, incident_id: str, signed_at: int):
        self.db, self.incidents, self.signer, self.incident_id, self.signed_at = (
            db, incidents, signer, incident_id, signed_at
        )

    async def export(self):
        return await export_incident(self.db, self.incidents, self.signer, self.incident_id, "supervisor1")

    async def tamper(self, seq: int) -> None:
        async with self.db.begin() as conn:
            await conn.execute(update(audit).where(audit.c.seq == seq).values(actor="someone else"))


@pytest.fixture
async def scene(database_url, tmp_path):
    """An incident whose chain was signed at an interval, with entries written after the signature."""
    db = await Database.open(database_url)
    try:
        incidents = Incidents(db)
        signer = Checkpoints(db, load_or_create_key(tmp_path / "keys" / "checkpoint.key"))
        inc = await incidents.create("WYP-1", "+447700900123", "handler1")
        for n in range(4):
            await db.record_action("handler1", "video.viewed", inc["id"], n=n)
        signed = await signer.sign_head("interval")
        for n in range(3):
            await db.record_action("handler1", "video.viewed", inc["id"], n=n)
        yield Scene(db, incidents, signer, inc["id"], signed["seq"])
    finally:
        await db.close()


async def test_an_export_checks_the_chain_only_after_the_newest_trusted_checkpoint(scene):
    assert scene.signed_at == 5
    made = await scene.export()
    assert made.verified_after == 5
    # The export's own checkpoint is the newest now: the next export starts there.
    assert (await scene.export()).verified_after == made.export["seq"]


async def test_without_a_checkpoint_the_export_checks_from_the_first_entry(scene):
    async with scene.db.begin() as conn:
        await conn.execute(checkpoints.delete())
    assert (await scene.export()).verified_after == 0


async def test_an_entry_changed_after_the_checkpoint_is_found(scene):
    await scene.tamper(scene.signed_at + 2)
    with pytest.raises(ChainBroken, match=f"entry {scene.signed_at + 2}"):
        await scene.export()


async def test_a_tampered_checkpoint_sends_the_export_to_the_full_check_which_refuses_it(scene):
    # An entry before the checkpoint is edited, and the checkpoint altered (a forger who rebuilt
    # the chain would have to change its hash, and could not sign it again): no longer trusted, it
    # cannot be resumed from, and the check from the first entry finds the edit.
    await scene.tamper(3)
    async with scene.db.begin() as conn:
        await conn.execute(update(checkpoints).values(signature="00" * 64))
    assert await trusted_checkpoint(scene.db, scene.signer.key.public_key()) is None
    with pytest.raises(ChainBroken, match="entry 3"):
        await scene.export()


async def test_a_checkpoint_whose_signature_fails_is_refused_by_the_full_check(scene):
    async with scene.db.begin() as conn:
        await conn.execute(update(checkpoints).values(signature="00" * 64))
    with pytest.raises(ChainBroken, match="signature does not match"):
        await scene.export()


async def test_an_entry_changed_before_the_checkpoint_is_left_to_the_full_check(scene, database_url, tmp_path,
                                                                               monkeypatch, capsys):
    await scene.tamper(2)
    # The checkpoint still vouches for entry 5 by its hash; the export trusts what it signed...
    assert (await scene.export()).verified_after == 5
    # ...and the full check, which reads every entry, finds the change.
    with pytest.raises(ChainBroken, match="entry 2"):
        await check_stored_chain(scene.db, scene.signer.key.public_key())
    monkeypatch.setenv("SCENELINK_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("SCENELINK_DATABASE_URL", database_url)
    assert await _cli(["verify"]) == 1
    out = capsys.readouterr().out
    assert "entry 2" in out and "NOT verified" in out


async def test_scenelink_verify_checks_every_entry_and_checkpoint(scene, database_url, tmp_path, monkeypatch, capsys):
    await scene.export()
    monkeypatch.setenv("SCENELINK_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("SCENELINK_DATABASE_URL", database_url)
    assert await _cli(["verify"]) == 0
    out = capsys.readouterr().out
    head = await scene.db.head()
    assert f"audit chain verified: {head['seq']:,} entries, head {head['hash']}; 2 signed checkpoint(s)" in out


async def _cli(argv: list[str]) -> int:
    """``scenelink`` in a thread: it runs its own event loop."""
    import asyncio

    return await asyncio.to_thread(main, argv)
