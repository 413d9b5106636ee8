"""What each recorded item's hash covers, so that the chain can vouch for it. Pure.

An item's digest is the SHA-256 of the canonical JSON of ``{"kind": kind, <its fields>}``, the
fields taken from the item exactly as the record shows it (``GET /api/incidents/{id}`` and an
evidence bundle's ``record.json``: times as ISO 8601 with milliseconds). The audit entry that
records the item carries the digest (``item_sha256``; for a fix, its ``sha256``), so a bundle's
verifier recomputes each item from the bundle and finds it in the chain.

Items that hold what a person said or where they were (fixes, text messages, SMS) also carry a
random ``salt`` in their digest: when the retention purge removes the content and its salt, the
digest left behind cannot be turned back into a short answer or a position by trying candidates.
Files (snapshots, stills, thumbnails, recordings) are also identified by the SHA-256 of their bytes.
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from typing import Any

from .chain import canonical, sha256_hex

FIELDS: dict[str, tuple[str, ...]] = {
    "fix": (
        "session_id", "seq", "latitude", "longitude", "accuracy", "altitude", "heading", "speed",
        "device_time", "received_at", "salt",
    ),
    "snapshot": (
        "id", "session_id", "sha256", "thumb_sha256", "width", "height", "bytes", "taken_at", "taken_by",
        "reason", "fix_id", "frame_age_seconds",
    ),
    "recording": (
        "session_id", "segment", "sha256", "bytes", "frames", "width", "height", "codec", "started_at", "ended_at",
    ),
    "link_state": ("link_id", "state", "at", "detail"),
    "sms": ("id", "link_id", "to", "body", "provider", "created_at", "salt"),
    "message": (
        "id", "link_id", "direction", "kind", "phrase", "text", "language", "sent_by", "in_reply_to", "sent_at", "salt",
    ),
}


def new_salt() -> str:
    return secrets.token_hex(16)


def item_digest(kind: str, item: Mapping[str, Any]) -> str:
    """The digest of one item as the record shows it (missing fields count as null)."""
    return sha256_hex(canonical({"kind": kind, **{name: item.get(name) for name in FIELDS[kind]}}))
