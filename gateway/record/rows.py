"""Rows of the record as the API shows them."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from ..sms.parts import count_parts
from .database import iso


def fix_row(row: Mapping[str, Any]) -> dict[str, Any]:
    placement = row["placement"]
    if row.get("purged_at"):  # a tombstone: its position columns hold 0, not a place
        return {
            "id": row["id"], "session_id": row["session_id"], "seq": row["seq"], "latitude": None,
            "longitude": None, "accuracy": None, "altitude": None, "heading": None, "speed": None,
            "device_time": None, "received_at": iso(row["received_at"]), "sha256": row.get("sha256"),
            "salt": None, "purged_at": iso(row["purged_at"]), "placement": None,
        }
    return {
        "id": row["id"], "session_id": row["session_id"], "seq": row["seq"],
        "latitude": row["latitude"], "longitude": row["longitude"], "accuracy": row["accuracy"],
        "altitude": row["altitude"], "heading": row["heading"], "speed": row["speed"],
        "device_time": iso(row["device_time"]), "received_at": iso(row["received_at"]),
        "sha256": row.get("sha256"), "salt": row.get("salt"), "purged_at": iso(row.get("purged_at")),
        "source": row.get("source") or "caller",
        "placement": json.loads(placement) if isinstance(placement, str) else placement,
    }


def snapshot_row(row: Mapping[str, Any], fix: dict[str, Any] | None) -> dict[str, Any]:
    return {
        "id": row["id"], "incident_id": row["incident_id"], "session_id": row["session_id"],
        "sha256": row["sha256"], "width": row["width"], "height": row["height"], "bytes": row["bytes"],
        "taken_at": iso(row["taken_at"]), "taken_by": row["taken_by"], "reason": row["reason"],
        "fix_id": row["fix_id"], "fix": fix, "url": f"/api/snapshots/{row['id']}",
        "thumb_sha256": row.get("thumb_sha256"),
        "thumbnail_url": f"/api/snapshots/{row['id']}/thumbnail" if row.get("thumb_sha256") else None,
        "frame_age_seconds": row.get("frame_age_seconds"), "purged_at": iso(row.get("purged_at")),
    }


def recording_row(row: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "id": row["id"], "session_id": row["session_id"], "segment": row["segment"],
        "sha256": row["sha256"], "bytes": row["bytes"], "frames": row["frames"],
        "width": row["width"], "height": row["height"], "codec": row["codec"],
        "started_at": iso(row["started_at"]), "ended_at": iso(row["ended_at"]),
        "url": f"/api/recordings/{row['id']}", "purged_at": iso(row.get("purged_at")),
    }


def policy_columns(policy: Mapping[str, Any]) -> dict[str, Any]:
    columns = {}
    if "snapshot_interval_seconds" in policy:
        columns["snapshot_interval"] = policy["snapshot_interval_seconds"]
    if "scene_change_snapshots" in policy:
        columns["scene_change"] = bool(policy["scene_change_snapshots"])
    if "recording" in policy:
        columns["recording"] = bool(policy["recording"])
    return columns


def session_row(row: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "id": row["id"], "link_id": row["link_id"], "started_at": iso(row["started_at"]),
        "ended_at": iso(row["ended_at"]), "ended_by": row["ended_by"], "end_reason": row["end_reason"],
        "user_agent": row["user_agent"],
    }


def sms_row(row: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "id": row["id"], "link_id": row["link_id"], "to": row["to"], "body": row["body"],
        "provider": row["provider"], "status": row["status"], "created_at": iso(row["created_at"]),
        "error": row.get("error"), "salt": row.get("salt"), "purged_at": iso(row.get("purged_at")),
        # how the handler's console shows what the text costs: SMS parts and their encoding
        "parts": count_parts(row["body"]).to_json(),
    }


def link_state_row(row: Mapping[str, Any]) -> dict[str, Any]:
    """One entry of a link's history (shown under its link; its digest adds the link's id)."""
    return {"state": row["state"], "at": iso(row["at"]), "detail": row["detail"]}
