"""An evidence bundle proves itself: any altered, added or removed file is found, and so is a
snapshot whose bytes no longer match the hash the record and the audit chain hold."""

import asyncio
import hashlib
import io
import json
import zipfile

import pytest

from gateway.exports.bundle import build_bundle, verify_bundle
from gateway.record import Database
from gateway.record.database import redact_for

JPEG = b"\xff\xd8fake jpeg bytes\xff\xd9"
SHA = hashlib.sha256(JPEG).hexdigest()


@pytest.fixture
def chain(tmp_path):
    async def build():
        db = await Database.open(f"sqlite+aiosqlite:///{tmp_path / 'r.db'}")
        await db.record_action("handler1", "incident.created", "inc_1", reference="WYP-1")
        await db.record_action(
            "handler2", "incident.created", "inc_2", reference="SECRET-2", caller_phone="+447400000000"
        )
        await db.record_action("handler1", "snapshot.taken", "inc_1", snapshot_id="snp_1", sha256=SHA)
        entries = await db.audit_entries()
        await db.close()
        return entries
    return asyncio.run(build())


RECORD = {"id": "inc_1", "reference": "WYP-1", "snapshots": [{"id": "snp_1", "sha256": SHA}], "recordings": []}


def rebuild(data: bytes, change) -> bytes:
    files = {}
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        for name in archive.namelist():
            files[name] = archive.read(name)
    change(files)
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        for name, content in files.items():
            archive.writestr(name, content)
    return out.getvalue()


def test_an_untouched_bundle_verifies_and_hides_other_incidents(chain):
    data = build_bundle(RECORD, redact_for(chain, "inc_1"), lambda sha: JPEG)
    report = verify_bundle(data)
    assert report.ok, report.problems
    assert report.files_checked == 3 and report.audit_head == chain[-1]["hash"]
    assert b"SECRET-2" not in data and b"+447400000000" not in data


def test_an_altered_snapshot_is_found(chain):
    data = build_bundle(RECORD, redact_for(chain, "inc_1"), lambda sha: JPEG)
    tampered = rebuild(data, lambda files: files.update({"snapshots/snp_1.jpg": JPEG + b"x"}))
    assert any("altered" in p for p in verify_bundle(tampered).problems)


def test_a_rebuilt_manifest_does_not_hide_a_swapped_snapshot(chain):
    data = build_bundle(RECORD, redact_for(chain, "inc_1"), lambda sha: JPEG)

    def swap(files):
        files["snapshots/snp_1.jpg"] = b"another picture"
        manifest = json.loads(files["manifest.json"])
        manifest["files"]["snapshots/snp_1.jpg"] = hashlib.sha256(b"another picture").hexdigest()
        files["manifest.json"] = json.dumps(manifest).encode()

    assert any("recorded SHA-256" in p for p in verify_bundle(rebuild(data, swap)).problems)


def test_an_edited_audit_entry_breaks_the_chain(chain):
    data = build_bundle(RECORD, redact_for(chain, "inc_1"), lambda sha: JPEG)

    def edit(files):
        audit = json.loads(files["audit.json"])
        audit[0]["actor"] = "someone else"
        files["audit.json"] = json.dumps(audit).encode()
        manifest = json.loads(files["manifest.json"])
        manifest["files"]["audit.json"] = hashlib.sha256(files["audit.json"]).hexdigest()
        files["manifest.json"] = json.dumps(manifest).encode()

    assert any("audit chain broken" in p for p in verify_bundle(rebuild(data, edit)).problems)


def test_missing_and_extra_files_and_garbage_are_reported(chain):
    data = build_bundle(RECORD, redact_for(chain, "inc_1"), lambda sha: JPEG)
    removed = rebuild(data, lambda files: files.pop("snapshots/snp_1.jpg"))
    assert any("missing" in p for p in verify_bundle(removed).problems)
    added = rebuild(data, lambda files: files.update({"note.txt": b"x"}))
    assert any("not in the manifest" in p for p in verify_bundle(added).problems)
    assert not verify_bundle(b"not a zip").ok
