"""Snapshots and recording segments, by the SHA-256 of their bytes."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, select

from .database import Database, audit_many_sync, inserted_id, new_id
from .items import item_digest
from .rows import recording_row, snapshot_row
from .schema import recordings, snapshots

_INSERT_SNAPSHOT = snapshots.insert()


class MediaRecords:
    db: Database

    async def add_snapshot(
        self,
        incident_id: str,
        session_id: str | None,
        sha256: str,
        width: int,
        height: int,
        size: int,
        taken_at: datetime,
        taken_by: str,
        reason: str,
        fix: Mapping[str, Any] | None,
        thumb_sha256: str | None = None,
        frame_age_seconds: float | None = None,
    ) -> dict[str, Any]:
        values = {
            "thumb_sha256": thumb_sha256, "frame_age_seconds": frame_age_seconds,
            "id": new_id("snp"), "incident_id": incident_id, "session_id": session_id,
            "sha256": sha256, "width": width, "height": height, "bytes": size,
            "taken_at": taken_at, "taken_by": taken_by, "reason": reason,
            "fix_id": fix["id"] if fix else None,
        }
        # Everything but the two statements is done before the writer lock is taken (the file
        # itself was hashed and written by the caller, before this).
        detail = {
            "snapshot_id": values["id"], "sha256": sha256, "thumb_sha256": thumb_sha256, "reason": reason,
            "item_sha256": item_digest("snapshot", snapshot_row(values, None)),
        } | ({} if frame_age_seconds is None else {"frame_age_seconds": frame_age_seconds})

        def write(conn: Connection) -> None:
            conn.execute(_INSERT_SNAPSHOT, values)
            audit_many_sync(conn, [(taken_by, "snapshot.taken", incident_id, detail)])

        # A short transaction, and on SQLite one call to the writer thread (Database.write_sync):
        # fixes waiting for the lock behind a snapshot wait as little as possible.
        await self.db.write_sync(write)
        return snapshot_row(values, dict(fix) if fix else None)

    async def snapshot(self, snapshot_id: str) -> dict[str, Any] | None:
        async with self.db.connect() as conn:
            row = (
                await conn.execute(select(snapshots).where(snapshots.c.id == snapshot_id))
            ).mappings().first()
        return snapshot_row(row, None) if row else None

    async def add_recording(
        self, incident_id: str, session_id: str, segment: int, sha256: str, size: int, frames: int,
        width: int, height: int, codec: str, started_at: datetime, ended_at: datetime,
    ) -> dict[str, Any]:
        values = {
            "incident_id": incident_id, "session_id": session_id, "segment": segment, "sha256": sha256,
            "bytes": size, "frames": frames, "width": width, "height": height, "codec": codec,
            "started_at": started_at, "ended_at": ended_at,
        }
        async with self.db.begin() as conn:
            result = await conn.execute(recordings.insert().values(**values))
            values["id"] = inserted_id(result)
            await self.db.audit(
                conn, "gateway", "recording.segment", incident_id,
                {"recording_id": values["id"], "session_id": session_id, "segment": segment, "sha256": sha256,
                 "bytes": size, "item_sha256": item_digest("recording", recording_row(values))},
            )
        return recording_row(values)

    async def recordings(self, incident_id: str) -> list[dict[str, Any]]:
        async with self.db.connect() as conn:
            rows = (
                await conn.execute(
                    select(recordings).where(recordings.c.incident_id == incident_id).order_by(recordings.c.id)
                )
            ).mappings().all()
        return [recording_row(r) for r in rows]

    async def recording(self, recording_id: int) -> dict[str, Any] | None:
        async with self.db.connect() as conn:
            row = (
                await conn.execute(select(recordings).where(recordings.c.id == recording_id))
            ).mappings().first()
        return recording_row(row) if row else None
