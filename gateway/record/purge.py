"""The retention purge and legal holds, against the database and the blob store.

A purge of one kind of one incident happens in one write transaction: the rows keep their ids and
hashes and get ``purged_at`` (tombstones), their content goes, and a ``retention.purged`` audit
entry names every item purged, so a verifier tells a purged item from a deleted one. The files go
after the commit (a file another live row still names is kept). Each step re-reads the hold under
the writer lock, so a hold placed while a purge runs is never overtaken.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import and_, func, select, update

from ..config import RetentionSettings
from .blobs import BlobStore
from .database import Database, aware, iso, utcnow
from .retention import due_kinds, next_due
from .schema import audit, caller_messages, fixes, incidents, recordings, sms_messages, snapshots

log = logging.getLogger(__name__)


class NotFound(KeyError):
    pass


class HoldConflict(ValueError):
    """Placing a hold that is already placed, or lifting one that is not."""


@dataclass
class _Files:
    """What a purge removes outside the database once its transaction has committed."""

    blobs: list[str] = field(default_factory=list)
    outbox: list[str] = field(default_factory=list)


@dataclass
class PurgeResult:
    incident_id: str
    kind: str
    items: int


class Retention:
    def __init__(
        self, db: Database, blobs: BlobStore, settings: RetentionSettings, outbox_dir: Path | None = None
    ) -> None:
        self.db = db
        self.blobs = blobs
        self.settings = settings
        self.outbox_dir = outbox_dir

    # -- legal hold ------------------------------------------------------------------------------

    async def hold(self, incident_id: str, actor: str, reason: str) -> dict[str, Any]:
        now = utcnow()
        async with self.db.begin() as conn:
            row = await self._incident(conn, incident_id)
            if row["held_at"] is not None:
                raise HoldConflict("the incident is already under legal hold")
            await conn.execute(
                update(incidents).where(incidents.c.id == incident_id)
                .values(held_at=now, held_by=actor, hold_reason=reason)
            )
            await self.db.audit(conn, actor, "legal_hold.placed", incident_id, {"reason": reason})
        return {"held_at": iso(now), "held_by": actor, "reason": reason}

    async def lift(self, incident_id: str, actor: str, reason: str) -> None:
        async with self.db.begin() as conn:
            row = await self._incident(conn, incident_id)
            if row["held_at"] is None:
                raise HoldConflict("the incident is not under legal hold")
            await conn.execute(
                update(incidents).where(incidents.c.id == incident_id)
                .values(held_at=None, held_by=None, hold_reason=None)
            )
            await self.db.audit(
                conn, actor, "legal_hold.lifted", incident_id,
                {"reason": reason, "placed_by": row["held_by"], "placed_at": iso(row["held_at"])},
            )

    async def _incident(self, conn, incident_id: str):
        row = (await conn.execute(select(incidents).where(incidents.c.id == incident_id))).mappings().first()
        if row is None:
            raise NotFound(incident_id)
        return row

    # -- what is due -----------------------------------------------------------------------------

    async def report(self, now: datetime | None = None) -> list[dict[str, Any]]:
        """Every ended incident with contents left: what is due now (and why), what falls due
        next, and which are held."""
        now = now or utcnow()
        async with self.db.connect() as conn:
            rows = (
                await conn.execute(
                    select(incidents.c.id, incidents.c.reference, incidents.c.ended_at, incidents.c.held_at,
                           incidents.c.held_by, incidents.c.hold_reason, incidents.c.phone_purged_at)
                    .where(incidents.c.ended_at.is_not(None)).order_by(incidents.c.ended_at)
                )
            ).mappings().all()
            lines = []
            for row in rows:
                incident = {**row, "ended_at": aware(row["ended_at"]), "held_at": aware(row["held_at"])}
                left = await self._left(conn, row["id"], row["phone_purged_at"] is not None)
                if not any(left.values()):
                    continue
                line: dict[str, Any] = {
                    "incident": row["id"], "reference": row["reference"], "ended_at": iso(incident["ended_at"]),
                    "left": left,
                }
                if incident["held_at"] is not None:
                    line["held"] = {"at": iso(incident["held_at"]), "by": row["held_by"], "reason": row["hold_reason"]}
                due = [d for d in due_kinds(incident, self.settings, now) if left.get(d.kind)]
                line["due"] = [{"kind": d.kind, "items": left[d.kind], "since": iso(d.due_at), "why": d.reason}
                               for d in due]
                upcoming = next_due(incident, self.settings)
                if upcoming and not due:
                    line["next"] = {"kind": upcoming[1], "at": iso(upcoming[0])}
                lines.append(line)
        return lines

    async def _left(self, conn, incident_id: str, phone_purged: bool) -> dict[str, int]:
        async def count(table, *extra) -> int:
            query = select(func.count()).select_from(table).where(
                table.c.incident_id == incident_id, table.c.purged_at.is_(None), *extra
            )
            return int((await conn.execute(query)).scalar_one())

        return {
            "recordings": await count(recordings),
            "snapshots": await count(snapshots),
            "fixes": await count(fixes),
            "conversation": await count(caller_messages) + await count(sms_messages),
            "caller_phone": 0 if phone_purged else 1,
        }

    # -- the purge -------------------------------------------------------------------------------

    async def purge(self, now: datetime | None = None, actor: str = "retention") -> list[PurgeResult]:
        """Purge everything due; returns what was purged."""
        now = now or utcnow()
        done = []
        for line in await self.report(now):
            for due in line["due"]:
                result = await self.purge_kind(line["incident"], due["kind"], due["why"], now, actor)
                if result:
                    done.append(result)
                    log.info("retention: purged %s item(s) of %s from %s",
                             result.items, result.kind, result.incident_id)
        return done

    async def purge_kind(
        self, incident_id: str, kind: str, why: str, now: datetime, actor: str = "retention"
    ) -> PurgeResult | None:
        files = _Files()
        async with self.db.begin() as conn:
            row = await self._incident(conn, incident_id)
            incident = {**row, "ended_at": aware(row["ended_at"]), "held_at": aware(row["held_at"])}
            if kind not in {d.kind for d in due_kinds(incident, self.settings, now)}:
                return None  # held, or no longer due, since the report was read
            items = await _PURGERS[kind](conn, incident_id, now, files)
            if not items:
                return None
            await self.db.audit(
                conn, actor, "retention.purged", incident_id,
                {"kind": kind, "items": items, "count": len(items), "why": why},
            )
        for sha in files.blobs:
            await self._delete_blob(sha)
        for ref in files.outbox:
            if self.outbox_dir is not None and ref.replace("-", "").isalnum():
                (self.outbox_dir / f"{ref}.json").unlink(missing_ok=True)
        return PurgeResult(incident_id, kind, len(items))

    async def _delete_blob(self, sha256: str) -> None:
        """Delete a file unless a row not purged still names it (the same picture twice)."""
        async with self.db.connect() as conn:
            users = (
                await conn.execute(
                    select(func.count()).select_from(snapshots).where(
                        snapshots.c.purged_at.is_(None),
                        (snapshots.c.sha256 == sha256) | (snapshots.c.thumb_sha256 == sha256),
                    )
                )
            ).scalar_one() + (
                await conn.execute(
                    select(func.count()).select_from(recordings).where(
                        recordings.c.purged_at.is_(None), recordings.c.sha256 == sha256
                    )
                )
            ).scalar_one()
        if not users:
            self.blobs.delete(sha256)


async def _purge_recordings(conn, incident_id: str, now: datetime, files: _Files) -> list[Any]:
    rows = (
        await conn.execute(
            select(recordings.c.id, recordings.c.sha256)
            .where(recordings.c.incident_id == incident_id, recordings.c.purged_at.is_(None))
        )
    ).all()
    if rows:
        await conn.execute(
            update(recordings).where(recordings.c.id.in_([r[0] for r in rows])).values(purged_at=now)
        )
    files.blobs += [r[1] for r in rows]
    return [r[0] for r in rows]


async def _purge_snapshots(conn, incident_id: str, now: datetime, files: _Files) -> list[Any]:
    rows = (
        await conn.execute(
            select(snapshots.c.id, snapshots.c.sha256, snapshots.c.thumb_sha256)
            .where(snapshots.c.incident_id == incident_id, snapshots.c.purged_at.is_(None))
        )
    ).all()
    if rows:
        await conn.execute(
            update(snapshots).where(snapshots.c.id.in_([r[0] for r in rows])).values(purged_at=now)
        )
    files.blobs += [sha for r in rows for sha in (r[1], r[2]) if sha]
    return [r[0] for r in rows]


async def _purge_fixes(conn, incident_id: str, now: datetime, files: _Files) -> list[Any]:
    ids = (
        await conn.execute(
            select(fixes.c.id).where(fixes.c.incident_id == incident_id, fixes.c.purged_at.is_(None))
        )
    ).scalars().all()
    if ids:
        # The position columns are NOT NULL in the schema of earlier releases: 0 marks nothing.
        await conn.execute(
            update(fixes).where(fixes.c.id.in_(ids)).values(
                latitude=0.0, longitude=0.0, accuracy=None, altitude=None, heading=None, speed=None,
                device_time=None, placement="null", salt=None, purged_at=now,
            )
        )
    return list(ids)


async def _purge_conversation(conn, incident_id: str, now: datetime, files: _Files) -> list[Any]:
    messages = (
        await conn.execute(
            select(caller_messages.c.id)
            .where(caller_messages.c.incident_id == incident_id, caller_messages.c.purged_at.is_(None))
        )
    ).scalars().all()
    sent = (
        await conn.execute(
            select(sms_messages.c.id, sms_messages.c.provider, sms_messages.c.provider_ref)
            .where(sms_messages.c.incident_id == incident_id, sms_messages.c.purged_at.is_(None))
        )
    ).all()
    texts = [r[0] for r in sent]
    # The outbox provider keeps each message as a file named by its reference: it goes too.
    files.outbox += [r[2] for r in sent if r[1] == "outbox" and r[2]]
    if messages:
        await conn.execute(
            update(caller_messages).where(caller_messages.c.id.in_(messages)).values(text="", salt=None, purged_at=now)
        )
    if texts:
        await conn.execute(
            update(sms_messages).where(sms_messages.c.id.in_(texts)).values(to="", body="", salt=None, purged_at=now)
        )
    return [*messages, *texts]


async def _purge_caller_phone(conn, incident_id: str, now: datetime, files: _Files) -> list[Any]:
    done = await conn.execute(
        update(incidents)
        .where(incidents.c.id == incident_id, incidents.c.phone_purged_at.is_(None))
        .values(caller_phone="", phone_purged_at=now)
    )
    if done.rowcount != 1:
        return []
    # The number is also in the detail of the incident's first entry: a version-2 entry keeps the
    # hash of its detail, so the detail can go and the chain still verifies.
    await conn.execute(
        update(audit)
        .where(and_(audit.c.incident_id == incident_id, audit.c.action == "incident.created", audit.c.version >= 2))
        .values(detail=None, nonce=None, purged_at=now)
    )
    return [incident_id]


_PURGERS = {
    "recordings": _purge_recordings,
    "snapshots": _purge_snapshots,
    "fixes": _purge_fixes,
    "conversation": _purge_conversation,
    "caller_phone": _purge_caller_phone,
}
