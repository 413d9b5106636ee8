"""The retention purge on a real record: contents and files go, hashes stay, so the chain and a
bundle exported before the purge still verify, and a bundle exported after it says what was purged
and when. A legal hold keeps everything until it is lifted; holds and purges are audited. On SQLite
and on PostgreSQL."""

from __future__ import annotations

import hashlib
import io
import json
import zipfile
from datetime import timedelta

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from gateway.config import RetentionSettings
from gateway.exports.bundle import build_bundle, verify_bundle
from gateway.record import BlobStore, Conversations, Database, Incidents
from gateway.record.checkpoints import Checkpoints
from gateway.record.conversation import FROM_CALLER
from gateway.record.database import utcnow
from gateway.record.evidence import export_incident
from gateway.record.purge import HoldConflict, Retention

from ..exports.test_bundle import rebuild

JPEG = b"\xff\xd8a snapshot to purge\xff\xd9"
THUMB = b"\xff\xd8its thumbnail\xff\xd9"
VIDEO = b"\x00\x00\x00\x18ftypisom a segment to purge"


class Scene:
    def __init__(self, db, blobs, incidents, retention, signer, incident_id):
        self.db, self.blobs, self.incidents = db, blobs, incidents
        self.retention, self.signer, self.incident_id = retention, signer, incident_id

    async def bundle(self) -> bytes:
        made = await export_incident(self.db, self.incidents, self.signer, self.incident_id, "super1")
        return build_bundle(made.record, made.chain, self.blobs.get, made.checkpoints, made.export)


@pytest.fixture
async def scene(database_url, tmp_path):
    db = await Database.open(database_url)
    blobs = BlobStore(tmp_path / "blobs")
    incidents = Incidents(db)
    try:
        inc = await incidents.create("WYP-9", "+447700900123", "handler1")
        link = await incidents.create_link(inc["id"], "a" * 64, utcnow() + timedelta(minutes=30), "handler1")
        sms = await incidents.add_sms(
            inc["id"], link["id"], "+447700900123", "Tap: https://x/c/t", "outbox", "handler1"
        )
        await incidents.update_sms(sms["id"], "sent", "outbox-0123abcd")
        outbox = tmp_path / "outbox"
        outbox.mkdir()
        (outbox / "outbox-0123abcd.json").write_text('{"to": "+447700900123"}')
        session = await incidents.start_session(inc["id"], link["id"], "test")
        await incidents.add_fix(inc["id"], session["id"], 1, {"latitude": 53.8, "longitude": -1.55}, utcnow(), {})
        fix = await incidents.nearest_fix(inc["id"], utcnow())
        await incidents.add_snapshot(inc["id"], session["id"], blobs.put(JPEG), 64, 48, len(JPEG), utcnow(),
                                     "handler1", "manual", fix, thumb_sha256=blobs.put(THUMB))
        await incidents.add_recording(inc["id"], session["id"], 0, blobs.put(VIDEO), len(VIDEO), 1, 64, 48, "h264",
                                      utcnow(), utcnow())
        await Conversations(db).add(inc["id"], link["id"], FROM_CALLER, "answer", "yes", "en", "caller")
        await incidents.mark_ended(inc["id"], "handler1")
        retention = Retention(db, blobs, RetentionSettings(), outbox)
        yield Scene(db, blobs, incidents, retention, Checkpoints(db, Ed25519PrivateKey.generate()), inc["id"])
    finally:
        await db.close()


def later(days: int):
    return utcnow() + timedelta(days=days)


async def test_a_purge_keeps_the_chain_and_an_earlier_bundle_verifying(scene):
    before = await scene.bundle()
    key = scene.signer.key.public_key()
    (line,) = await scene.retention.report(later(32))
    assert {d["kind"] for d in line["due"]} == {"recordings", "snapshots", "fixes", "conversation", "caller_phone"}
    assert all("kept 31 days after the incident ended" in d["why"] for d in line["due"])

    done = await scene.retention.purge(later(32))
    assert {r.kind for r in done} == {"recordings", "snapshots", "fixes", "conversation", "caller_phone"}

    for data in (JPEG, THUMB, VIDEO):
        with pytest.raises(FileNotFoundError):
            scene.blobs.get(hashlib.sha256(data).hexdigest())
    assert not list(scene.retention.outbox_dir.iterdir()), "the outbox's copy of the text goes too"
    checked, broken = await scene.db.verify()
    assert broken is None and checked > 10
    assert verify_bundle(before, key).ok, verify_bundle(before, key).problems

    record = await scene.incidents.record(scene.incident_id)
    assert record["caller_phone"] == "" and record["phone_purged_at"]
    fix = record["fixes"][0]
    assert fix["latitude"] is None and fix["placement"] is None and fix["purged_at"] and fix["sha256"]
    assert record["conversation"][0]["text"] == "" and record["messages"][0]["body"] == ""
    assert b"+447700900123" not in json.dumps(await scene.db.audit_entries(scene.incident_id)).encode()
    purges = [e for e in await scene.db.audit_entries(scene.incident_id) if e["action"] == "retention.purged"]
    assert {e["detail"]["kind"] for e in purges} == {"recordings", "snapshots", "fixes", "conversation",
                                                      "caller_phone"}

    after = await scene.bundle()
    report = verify_bundle(after, key)
    assert report.ok, report.problems
    assert any("purged at" in n for n in report.notes)
    with zipfile.ZipFile(io.BytesIO(after)) as archive:
        manifest = json.loads(archive.read("manifest.json"))
        assert not [n for n in archive.namelist() if n.startswith(("snapshots/", "recordings/", "thumbnails/"))]
    assert {p["kind"] for p in manifest["purged"]} == {"snapshot", "recording", "fix", "message", "sms"}
    assert all(p["purged_at"] for p in manifest["purged"])
    assert await scene.retention.report(later(400)) == []  # nothing left to purge


async def test_an_item_marked_purged_without_a_purge_in_the_chain_is_tampering(scene):
    await scene.retention.purge(later(32))
    data = await scene.bundle()

    def drop_purge(files):
        """A forger removes the chain's record of the fixes' purge, to pass off a deletion."""
        audit = json.loads(files["audit.json"])
        files["audit.json"] = json.dumps([e for e in audit if (e.get("detail") or {}).get("kind") != "fixes"]).encode()

    found = verify_bundle(rebuild(data, drop_purge)).problems
    assert any("marked as purged, but no purge of it" in p for p in found), found


async def test_a_legal_hold_keeps_everything_until_it_is_lifted(scene):
    await scene.retention.hold(scene.incident_id, "super1", "Crown Court case 123")
    with pytest.raises(HoldConflict):
        await scene.retention.hold(scene.incident_id, "super1", "again")
    (line,) = await scene.retention.report(later(400))
    assert line["held"]["reason"] == "Crown Court case 123" and line["due"] == []
    assert await scene.retention.purge(later(400)) == []
    assert scene.blobs.get(hashlib.sha256(VIDEO).hexdigest()) == VIDEO
    record = await scene.incidents.record(scene.incident_id)
    assert record["legal_hold"]["held_by"] == "super1" and record["caller_phone"] == "+447700900123"

    await scene.retention.lift(scene.incident_id, "super2", "case closed")
    assert len(await scene.retention.purge(later(400))) == 5
    actions = [(e["action"], e["actor"], (e["detail"] or {}).get("reason"))
               for e in await scene.db.audit_entries(scene.incident_id) if e["action"].startswith("legal_hold")]
    assert actions == [("legal_hold.placed", "super1", "Crown Court case 123"),
                       ("legal_hold.lifted", "super2", "case closed")]


async def test_an_open_incident_is_not_purged(scene):
    other = await scene.incidents.create("WYP-10", "+447700900124", "handler1")
    await scene.retention.purge(later(400))
    assert (await scene.incidents.get(other["id"]))["caller_phone"] == "+447700900124"
