"""An evidence bundle proves every item in it. Each test tampers with one kind of item the way a
forger would (changing the item, then rebuilding manifest.json so every file hash matches again)
and the verifier must refuse the bundle and name the item. With the gateway's public key, a chain
rebuilt from scratch or cut short is refused too."""

from __future__ import annotations

import hashlib
import io
import json
import zipfile
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from gateway.caller.consent import consent_detail
from gateway.exports.bundle import build_bundle, verify_bundle
from gateway.links import LinkState
from gateway.record import BlobStore, Conversations, Database, Incidents
from gateway.record.chain import GENESIS, canonical, detail_digest, entry_hash_v2
from gateway.record.checkpoints import Checkpoints
from gateway.record.conversation import FROM_CALLER, TO_CALLER
from gateway.record.database import utcnow
from gateway.record.evidence import export_incident

JPEG = b"\xff\xd8a snapshot\xff\xd9"
THUMB = b"\xff\xd8its thumbnail\xff\xd9"
STILL = b"\xff\xd8a still from the caller\xff\xd9"
VIDEO = b"\x00\x00\x00\x18ftypisom a recording segment"

Files = dict[str, bytes]


class Made:
    """A bundle of a real incident (every kind of item) from a real record, and its public key."""

    def __init__(self, data: bytes, key: Ed25519PrivateKey, record: dict[str, Any]) -> None:
        self.data, self.key, self.record = data, key, record

    @property
    def public(self):
        return self.key.public_key()


@pytest.fixture
async def made(tmp_path) -> Made:
    db = await Database.open(f"sqlite+aiosqlite:///{tmp_path / 'r.db'}")
    blobs = BlobStore(tmp_path / "blobs")
    incidents = Incidents(db)
    key = Ed25519PrivateKey.generate()
    try:
        other = await incidents.create("OTHER-1", "+447700900999", "handler2")  # must stay hidden
        inc = await incidents.create("WYP-1", "+447700900123", "handler1")
        link = await incidents.create_link(inc["id"], "a" * 64, utcnow() + timedelta(minutes=30), "handler1", "cy")
        await incidents.add_sms(
            inc["id"], link["id"], "+447700900123", "Tap to share: https://x/c/t", "outbox", "handler1"
        )
        sms = (await incidents.record(inc["id"]))["messages"][0]
        await incidents.update_sms(sms["id"], "sent", "outbox-1")
        await incidents.move_link(link["id"], LinkState.SENT, "gateway")
        await incidents.move_link(link["id"], LinkState.OPENED, "caller")
        await incidents.move_link(link["id"], LinkState.CONSENTED, "caller", consent_detail("cy"))
        session = await incidents.start_session(inc["id"], link["id"], "Mozilla/5.0 test")
        for seq in range(3):
            fix = {"latitude": 53.8 + seq / 1000, "longitude": -1.55, "accuracy": 12.5}
            await incidents.add_fix(inc["id"], session["id"], seq, fix, utcnow(), {"grid": "SE 29 33"})
        fix = await incidents.nearest_fix(inc["id"], utcnow())
        await incidents.add_snapshot(inc["id"], session["id"], blobs.put(JPEG), 640, 480, len(JPEG), utcnow(),
                                     "handler1", "manual", fix, thumb_sha256=blobs.put(THUMB))
        await incidents.add_snapshot(inc["id"], session["id"], blobs.put(STILL), 320, 240, len(STILL), utcnow(),
                                     "caller", "still", fix)
        await incidents.add_recording(inc["id"], session["id"], 0, blobs.put(VIDEO), len(VIDEO), 25, 640, 480,
                                      "h264", utcnow() - timedelta(seconds=1), utcnow())
        talk = Conversations(db)
        sent, _ = await talk.add(inc["id"], link["id"], TO_CALLER, "phrase", "Are you safe?", "en", "handler1",
                                 phrase="are_safe")
        await talk.mark_seen(link["id"], sent["id"])
        await talk.add(inc["id"], link["id"], FROM_CALLER, "answer", "yes", "en", "caller", in_reply_to=sent["id"])
        await db.record_action("handler2", "video.viewed", other["id"])
        made = await export_incident(db, incidents, Checkpoints(db, key), inc["id"], "supervisor1")
        data = build_bundle(made.record, made.chain, blobs.get, made.checkpoints, made.export)
        return Made(data, key, made.record)
    finally:
        await db.close()


def rebuild(data: bytes, change: Callable[[Files], None]) -> bytes:
    """Change files in the bundle, then rebuild manifest.json as a forger would."""
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        files = {name: archive.read(name) for name in archive.namelist()}
    change(files)
    manifest = json.loads(files["manifest.json"])
    manifest["files"] = {n: hashlib.sha256(b).hexdigest() for n, b in files.items() if n != "manifest.json"}
    files["manifest.json"] = json.dumps(manifest).encode()
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        for name, content in files.items():
            archive.writestr(name, content)
    return out.getvalue()


def edit_json(name: str, change: Callable[[Any], None]) -> Callable[[Files], None]:
    def apply(files: Files) -> None:
        value = json.loads(files[name])
        change(value)
        files[name] = json.dumps(value).encode()
    return apply


def problems(made: Made, data: bytes, with_key: bool = True) -> list[str]:
    report = verify_bundle(data, made.public if with_key else None)
    assert not report.ok
    return report.problems


def test_an_untouched_bundle_verifies_with_the_gateways_key_and_hides_other_incidents(made):
    report = verify_bundle(made.data, made.public)
    assert report.ok, report.problems
    assert report.signed_head is True
    record = made.record
    # Every item was checked: 3 fixes, 2 snapshots, 1 recording, 1 SMS, 2 messages and the link's states.
    assert report.items_checked == 3 + 2 + 1 + 1 + 2 + len(record["links"][0]["states"])
    assert b"OTHER-1" not in made.data and b"+447700900999" not in made.data
    with zipfile.ZipFile(io.BytesIO(made.data)) as archive:
        names = set(archive.namelist())
    snap = record["snapshots"][0]
    assert {f"snapshots/{snap['id']}.jpg", f"thumbnails/{snap['id']}.jpg", "checkpoints.json"} <= names


def test_without_the_key_the_bundle_is_only_consistent(made):
    report = verify_bundle(made.data)
    assert report.ok and report.signed_head is None
    assert any("signatures not checked" in n for n in report.notes)


def test_a_fix_moved_elsewhere_is_named(made):
    fix_id = made.record["fixes"][1]["id"]

    def move(record):
        record["fixes"][1]["latitude"] = 51.5

    found = problems(made, rebuild(made.data, edit_json("record.json", move)))
    assert any(p.startswith(f"fix {fix_id}:") and "position" in p for p in found), found


def test_a_removed_fix_is_missed(made):
    found = problems(made, rebuild(made.data, edit_json("record.json", lambda r: r["fixes"].pop(0))))
    assert any("fix recorded at audit entry" in p and "missing from the record" in p for p in found), found


def test_a_swapped_snapshot_is_named(made):
    snap = made.record["snapshots"][0]["id"]
    found = problems(made, rebuild(made.data, lambda f: f.update({f"snapshots/{snap}.jpg": b"another picture"})))
    assert any(p.startswith(f"snapshot {snap}:") for p in found), found


def test_a_swapped_thumbnail_is_named(made):
    snap = made.record["snapshots"][0]["id"]
    found = problems(made, rebuild(made.data, lambda f: f.update({f"thumbnails/{snap}.jpg": b"another"})))
    assert any(p.startswith(f"thumbnail of snapshot {snap}") for p in found), found


def test_a_still_credited_to_someone_else_is_named(made):
    still = next(s for s in made.record["snapshots"] if s["reason"] == "still")

    def recredit(record):
        next(s for s in record["snapshots"] if s["id"] == still["id"])["taken_by"] = "handler1"

    found = problems(made, rebuild(made.data, edit_json("record.json", recredit)))
    assert any(p.startswith(f"snapshot {still['id']}:") and "details" in p for p in found), found


def test_a_still_swapped_with_its_hash_changed_too_is_named(made):
    still = next(s for s in made.record["snapshots"] if s["reason"] == "still")

    def swap(files):
        files[f"snapshots/{still['id']}.jpg"] = b"forged"
        edit_json("record.json", lambda r: next(s for s in r["snapshots"] if s["id"] == still["id"]).update(
            sha256=hashlib.sha256(b"forged").hexdigest()))(files)

    found = problems(made, rebuild(made.data, swap))
    assert any(p.startswith(f"snapshot {still['id']}:") and "audit chain" in p for p in found), found


def test_a_swapped_recording_is_named(made):
    rec = made.record["recordings"][0]
    name = f"recordings/{rec['segment']:05d}-{rec['id']}.mp4"
    found = problems(made, rebuild(made.data, lambda f: f.update({name: b"other video"})))
    assert any(p.startswith(f"recording {rec['id']}:") for p in found), found


def test_a_forged_link_history_entry_is_named(made):
    link_id = made.record["links"][0]["id"]

    def forge(record):
        forged = {"state": "revoked", "at": "2026-01-01T00:00:00.000Z", "detail": "revoked by the handler"}
        record["links"][0]["states"].insert(1, forged)

    found = problems(made, rebuild(made.data, edit_json("record.json", forge)))
    assert any(p.startswith(f"link {link_id} state revoked") and "not in the audit chain" in p for p in found), found


def test_consent_claimed_for_another_text_is_named(made):
    link_id = made.record["links"][0]["id"]

    def other_text(record):
        state = next(s for s in record["links"][0]["states"] if s["state"] == "consented")
        state["detail"] = consent_detail("en")

    found = problems(made, rebuild(made.data, edit_json("record.json", other_text)))
    assert any(p.startswith(f"link {link_id} state consented") for p in found), found


def test_the_consent_names_its_text_version_and_language(made):
    consented = next(s for s in made.record["links"][0]["states"] if s["state"] == "consented")
    assert consented["detail"] == consent_detail("cy") and consented["detail"].endswith(" in cy")


def test_an_altered_sms_is_named(made):
    sms_id = made.record["messages"][0]["id"]
    found = problems(made, rebuild(made.data, edit_json("record.json", lambda r: r["messages"][0].update(
        body="Tap to share: https://evil/c/t"))))
    assert any(p.startswith(f"SMS {sms_id}:") for p in found), found
    delivered = edit_json("record.json", lambda r: r["messages"][0].update(status="delivered"))
    found = problems(made, rebuild(made.data, delivered))
    assert any(p.startswith(f"SMS {sms_id}:") and "status" in p for p in found), found


def test_an_altered_message_is_named(made):
    answer = next(m for m in made.record["conversation"] if m["direction"] == "from_caller")

    def alter(record):
        next(m for m in record["conversation"] if m["id"] == answer["id"])["text"] = "no"

    found = problems(made, rebuild(made.data, edit_json("record.json", alter)))
    assert any(p.startswith(f"message {answer['id']}:") and "text" in p for p in found), found


def test_a_message_said_to_be_seen_earlier_is_named(made):
    sent = next(m for m in made.record["conversation"] if m["direction"] == "to_caller")

    def earlier(record):
        next(m for m in record["conversation"] if m["id"] == sent["id"])["seen_at"] = sent["sent_at"]

    found = problems(made, rebuild(made.data, edit_json("record.json", earlier)))
    assert any(p.startswith(f"message {sent['id']}:") and "seen" in p for p in found), found


def test_an_edited_audit_entry_breaks_the_chain(made):
    def edit(audit):
        next(e for e in audit if e.get("action") == "incident.created")["actor"] = "someone else"

    found = problems(made, rebuild(made.data, edit_json("audit.json", edit)), with_key=False)
    assert any("audit chain broken" in p for p in found), found


def test_dropping_the_last_audit_entry_is_found_with_and_without_the_key(made):
    dropped = rebuild(made.data, edit_json("audit.json", lambda audit: audit.pop()))
    assert any("cut short" in p for p in problems(made, dropped))
    # Without the key the export itself is found missing from the chain.
    found = problems(made, dropped, with_key=False)
    assert any(p.startswith("export ") and "not in the audit chain" in p for p in found)


def test_a_chain_rebuilt_from_scratch_is_found_only_with_the_key(made):
    """The forger moves a fix and rewrites every hash after it: consistent, but not what was signed."""

    def rewrite(files):
        record = json.loads(files["record.json"])
        audit = json.loads(files["audit.json"])
        from gateway.record.items import item_digest

        fix = record["fixes"][0]
        old = fix["sha256"]
        fix["latitude"] = 51.5
        fix["sha256"] = item_digest("fix", fix)
        prev = GENESIS
        for entry in audit:
            if entry.get("action") == "fix.recorded" and entry["detail"]["sha256"] == old:
                entry["detail"]["sha256"] = fix["sha256"]
                entry["detail_sha256"] = detail_digest(entry["detail"], entry["nonce"])
            entry["prev_hash"] = prev
            if "action" in entry:
                entry["hash"] = entry_hash_v2(entry["seq"], prev, entry["at"], entry["actor"], entry["action"],
                                              entry["incident_id"], entry["detail_sha256"])
            else:  # another incident's entry: its content is not in the bundle, so its hash is made up
                entry["hash"] = hashlib.sha256(canonical(entry).encode()).hexdigest()
            prev = entry["hash"]
        checkpoints = json.loads(files["checkpoints.json"])
        checkpoints[-1]["hash"] = prev
        files["record.json"] = json.dumps(record).encode()
        files["audit.json"] = json.dumps(audit).encode()
        files["checkpoints.json"] = json.dumps(checkpoints).encode()

    forged = rebuild(made.data, rewrite)
    assert verify_bundle(forged).ok  # consistent in itself: only the signature can tell
    found = problems(made, forged)
    assert any("signature does not match" in p for p in found), found


def test_a_forged_export_is_named(made):
    def forge(files):
        manifest = json.loads(files["manifest.json"])
        manifest["export"]["id"] = "exp_forged"
        files["manifest.json"] = json.dumps(manifest).encode()

    found = problems(made, rebuild(made.data, forge))
    assert any(p.startswith("export exp_forged") for p in found), found


def test_a_key_other_than_the_gateways_does_not_vouch_for_the_chain(made):
    report = verify_bundle(made.data, Ed25519PrivateKey.generate().public_key())
    assert not report.ok and any("no checkpoint signed with this key" in p for p in report.problems)


def test_missing_and_extra_files_and_garbage_are_reported(made):
    snap = made.record["snapshots"][0]["id"]
    removed = rebuild(made.data, lambda files: files.pop(f"snapshots/{snap}.jpg"))
    assert any(f"snapshot {snap}" in p and "missing" in p for p in problems(made, removed))
    added = rebuild(made.data, lambda files: files.update({"recordings/00009-99.mp4": b"x"}))
    assert any("no item of the record names" in p for p in problems(made, added))
    assert not verify_bundle(b"not a zip").ok
