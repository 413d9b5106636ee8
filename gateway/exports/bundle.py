"""Evidence bundles: one zip holding an incident's record, audit chain, snapshots and recordings,
with a manifest of SHA-256 hashes, and the check that proves a bundle unaltered.
"""

from __future__ import annotations

import hashlib
import io
import json
import zipfile
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from ..record.database import verify_chain

MANIFEST = "manifest.json"


def build_bundle(
    record: Mapping[str, Any],
    audit: Iterable[Mapping[str, Any]],
    blob: Callable[[str], bytes],
    extra: Mapping[str, bytes] = {},
) -> bytes:
    """The zip's bytes. ``blob(sha256)`` reads a stored snapshot or recording.

    ``audit`` is the whole chain with other incidents' entries redacted to their hashes (see
    :func:`redact_for`), so the chain can be checked end to end without revealing them.
    """
    files: dict[str, bytes] = {
        "record.json": _json(record),
        **extra,
    }
    for snap in record.get("snapshots", []):
        files[f"snapshots/{snap['id']}.jpg"] = blob(snap["sha256"])
    for rec in record.get("recordings", []):
        suffix = "mp4" if rec["codec"] == "h264" else "webm"
        files[f"recordings/{rec['segment']:05d}-{rec['id']}.{suffix}"] = blob(rec["sha256"])
    chain = list(audit)
    files["audit.json"] = _json(chain)
    manifest = {
        "incident": record["id"], "reference": record["reference"],
        "audit_head": chain[-1]["hash"] if chain else None,
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


@dataclass
class BundleReport:
    files_checked: int = 0
    problems: list[str] = field(default_factory=list)
    # The hash of the chain's last entry: compare it with the gateway's own record of its chain
    # (`GET /api/audit/head`) to show the bundle was not rebuilt by someone else.
    audit_head: str | None = None

    @property
    def ok(self) -> bool:
        return not self.problems


def verify_bundle(data: bytes) -> BundleReport:
    """Check every file against the manifest, each item against its own hash, and the audit chain."""
    report = BundleReport()
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
        manifest = json.loads(archive.read(MANIFEST))
    except (zipfile.BadZipFile, KeyError, ValueError) as exc:
        report.problems.append(f"not a readable bundle: {exc}")
        return report
    names = set(archive.namelist()) - {MANIFEST}
    for missing in sorted(set(manifest["files"]) - names):
        report.problems.append(f"{missing}: listed in the manifest but missing")
    for extra in sorted(names - set(manifest["files"])):
        report.problems.append(f"{extra}: in the bundle but not in the manifest")
    for name in sorted(names & set(manifest["files"])):
        report.files_checked += 1
        if hashlib.sha256(archive.read(name)).hexdigest() != manifest["files"][name]:
            report.problems.append(f"{name}: altered (its SHA-256 differs from the manifest)")
    if report.problems:
        return report
    record = json.loads(archive.read("record.json"))
    for snap in record.get("snapshots", []):
        if hashlib.sha256(archive.read(f"snapshots/{snap['id']}.jpg")).hexdigest() != snap["sha256"]:
            report.problems.append(f"snapshot {snap['id']}: bytes differ from the recorded SHA-256")
    audit = json.loads(archive.read("audit.json"))
    report.audit_head = audit[-1]["hash"] if audit else None
    broken = verify_chain(audit)
    if broken is not None:
        report.problems.append(str(broken))
    recorded = {
        e["detail"].get("sha256") for e in audit if e.get("action") in ("snapshot.taken", "recording.segment")
    }
    for snap in record.get("snapshots", []):
        if snap["sha256"] not in recorded:
            report.problems.append(f"snapshot {snap['id']}: not in the audit chain")
    return report


def _json(value: Any) -> bytes:
    return json.dumps(value, indent=2, sort_keys=True, ensure_ascii=False).encode()
