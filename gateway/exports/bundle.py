"""Evidence bundles: one zip holding an incident's record, the audit chain, the signed checkpoints,
snapshots, thumbnails and recordings, with a manifest of SHA-256 hashes; and the check that proves
a bundle: every file against the manifest, every item against the chain (exports/proof.py), the
chain against itself, and the chain against the gateway's signatures.

The manifest alone proves nothing (anyone can rebuild it); the chain ties every item, and the
signed checkpoints tie the chain to the gateway's key, which a force keeps apart from the gateway
(docs/security.md). Without ``--public-key`` a verifier can only say the bundle is consistent.
"""

from __future__ import annotations

import hashlib
import io
import json
import zipfile
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from ..record.chain import verify_chain
from ..record.signing import chain_against_checkpoints, signature_problem
from .proof import prove_record

MANIFEST = "manifest.json"
FORMAT = 2


def build_bundle(
    record: Mapping[str, Any],
    audit: Iterable[Mapping[str, Any]],
    blob: Callable[[str], bytes],
    checkpoints: Iterable[Mapping[str, Any]] = (),
    export: Mapping[str, Any] | None = None,
    extra: Mapping[str, bytes] = {},
) -> bytes:
    """The zip's bytes. ``blob(sha256)`` reads a stored snapshot, thumbnail or recording.

    ``audit`` is the chain up to the last checkpoint in ``checkpoints`` (the one signed for this
    export), with other incidents' entries redacted to their hashes (see :func:`redact_for`), so
    the chain can be checked end to end without revealing them.
    """
    files: dict[str, bytes] = {"record.json": _json(record), **extra}
    purged = []
    for snap in record.get("snapshots", []):
        if snap.get("purged_at"):
            purged.append({"kind": "snapshot", "id": snap["id"], "purged_at": snap["purged_at"]})
            continue
        files[f"snapshots/{snap['id']}.jpg"] = blob(snap["sha256"])
        if snap.get("thumb_sha256"):
            files[f"thumbnails/{snap['id']}.jpg"] = blob(snap["thumb_sha256"])
    for rec in record.get("recordings", []):
        if rec.get("purged_at"):
            purged.append({"kind": "recording", "id": rec["id"], "purged_at": rec["purged_at"]})
            continue
        files[recording_name(rec)] = blob(rec["sha256"])
    for kind, plural in (("fix", "fixes"), ("message", "conversation"), ("sms", "messages")):
        purged += [{"kind": kind, "id": i["id"], "purged_at": i["purged_at"]}
                   for i in record.get(plural, []) if i.get("purged_at")]
    chain = list(audit)
    signed = list(checkpoints)
    files["audit.json"] = _json(chain)
    files["checkpoints.json"] = _json(signed)
    manifest = {
        "format": FORMAT, "incident": record["id"], "reference": record["reference"],
        "export": dict(export) if export else None,
        "audit_head": {"seq": chain[-1]["seq"], "hash": chain[-1]["hash"]} if chain else None,
        "purged": purged,
        "files": {name: hashlib.sha256(data).hexdigest() for name, data in sorted(files.items())},
    }
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in files.items():
            # JPEG and video are already compressed; storing them keeps the export quick.
            method = zipfile.ZIP_STORED if name.endswith((".jpg", ".mp4", ".webm")) else zipfile.ZIP_DEFLATED
            archive.writestr(name, data, compress_type=method)
        archive.writestr(MANIFEST, _json(manifest))
    return out.getvalue()


def recording_name(rec: Mapping[str, Any]) -> str:
    suffix = "mp4" if rec["codec"] == "h264" else "webm"
    return f"recordings/{rec['segment']:05d}-{rec['id']}.{suffix}"


@dataclass
class BundleReport:
    files_checked: int = 0
    items_checked: int = 0
    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    # The chain's last entry in the bundle, and whether a checkpoint signed with the given public
    # key covers it (None: no key given, so no signature was checked).
    audit_head: str | None = None
    audit_seq: int | None = None
    signed_head: bool | None = None

    @property
    def ok(self) -> bool:
        return not self.problems


def verify_bundle(data: bytes, public_key: Ed25519PublicKey | None = None) -> BundleReport:
    """Check every file against the manifest, every item against the chain, the chain against itself
    and against its signed checkpoints (their signatures too, given the gateway's public key)."""
    report = BundleReport()
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
        manifest = json.loads(archive.read(MANIFEST))
        listed = manifest["files"]
    except (zipfile.BadZipFile, KeyError, ValueError, TypeError) as exc:
        report.problems.append(f"not a readable bundle: {exc}")
        return report
    names = set(archive.namelist()) - {MANIFEST}
    for missing in sorted(set(listed) - names):
        report.problems.append(f"{missing}: listed in the manifest but missing")
    for extra in sorted(names - set(listed)):
        report.problems.append(f"{extra}: in the bundle but not in the manifest")
    for name in sorted(names & set(listed)):
        report.files_checked += 1
        if hashlib.sha256(archive.read(name)).hexdigest() != listed[name]:
            report.problems.append(f"{name}: altered (its SHA-256 differs from the manifest)")
    if report.problems:
        return report
    try:
        record = json.loads(archive.read("record.json"))
        audit = json.loads(archive.read("audit.json"))
        checkpoints = json.loads(archive.read("checkpoints.json")) if "checkpoints.json" in names else []
    except (KeyError, ValueError) as exc:
        report.problems.append(f"not a complete bundle: {exc}")
        return report

    report.audit_head = audit[-1]["hash"] if audit else None
    report.audit_seq = int(audit[-1]["seq"]) if audit else 0
    broken = verify_chain(audit)
    if broken is not None:
        report.problems.append(str(broken))
    _check_signatures(report, audit, checkpoints, public_key)
    _check_files(report, archive, names, record)
    proof = prove_record(record, audit)
    report.items_checked = proof.items_checked
    report.problems += proof.problems
    report.notes += proof.notes
    _check_export(report, manifest, record, audit)
    return report


def _check_signatures(
    report: BundleReport, audit: list[Mapping[str, Any]], checkpoints: list[Mapping[str, Any]],
    public_key: Ed25519PublicKey | None,
) -> None:
    hashes = {int(e["seq"]): e["hash"] for e in audit}
    report.problems += chain_against_checkpoints(hashes, report.audit_seq or 0, checkpoints)
    if public_key is None:
        report.notes.append("signatures not checked: give the gateway's public key (--public-key) to check them")
        return
    covering = False
    for cp in checkpoints:
        problem = signature_problem(cp, public_key)
        if problem and "another key" in problem:
            report.notes.append(problem)
        elif problem:
            report.problems.append(problem)
        elif int(cp["seq"]) == report.audit_seq and hashes.get(int(cp["seq"])) == cp["hash"]:
            covering = True
    report.signed_head = covering
    if not covering:
        report.problems.append(
            f"no checkpoint signed with this key covers the chain's last entry ({report.audit_seq}):"
            " the chain may have been rebuilt or cut short"
        )


def _check_files(report: BundleReport, archive: zipfile.ZipFile, names: set[str], record: Mapping[str, Any]) -> None:
    expected = {"record.json", "audit.json", "checkpoints.json"}

    def check(name: str, sha256: str | None, what: str) -> None:
        expected.add(name)
        if name not in names:
            report.problems.append(f"{what}: its file {name} is missing")
        elif hashlib.sha256(archive.read(name)).hexdigest() != sha256:
            report.problems.append(f"{what}: bytes differ from the recorded SHA-256")

    for snap in record.get("snapshots", []):
        if snap.get("purged_at"):
            continue
        check(f"snapshots/{snap['id']}.jpg", snap.get("sha256"), f"snapshot {snap['id']}")
        if snap.get("thumb_sha256"):
            check(f"thumbnails/{snap['id']}.jpg", snap["thumb_sha256"], f"thumbnail of snapshot {snap['id']}")
    for rec in record.get("recordings", []):
        if not rec.get("purged_at"):
            check(recording_name(rec), rec.get("sha256"), f"recording {rec['id']}")
    for name in sorted(n for n in names - expected if n.startswith(("snapshots/", "thumbnails/", "recordings/"))):
        report.problems.append(f"{name}: a file no item of the record names")


def _check_export(
    report: BundleReport, manifest: Mapping[str, Any], record: Mapping[str, Any], audit: list[Mapping[str, Any]]
) -> None:
    export = manifest.get("export")
    if not export:
        report.problems.append("the bundle does not say which export made it")
        return
    entries = [e for e in audit if e.get("action") == "bundle.exported" and e.get("incident_id") == record["id"]
               and (e.get("detail") or {}).get("export_id") == export.get("id")]
    if not entries:
        report.problems.append(f"export {export.get('id')}: not in the audit chain")
    elif entries[0].get("actor") != export.get("by"):
        report.problems.append(
            f"export {export.get('id')}: made by {entries[0].get('actor')!r} in the chain, not {export.get('by')!r}"
        )


def _json(value: Any) -> bytes:
    return json.dumps(value, indent=2, sort_keys=True, ensure_ascii=False).encode()
