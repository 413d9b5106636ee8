"""Incidents and everything recorded against them: links, sessions, fixes, snapshots, messages."""

from __future__ import annotations

from typing import Any, Mapping

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError

from ..links import FINAL, LinkState
from .conversation import Conversations
from .database import Database, iso, new_id, utcnow
from .links import LinkRecords
from .maps import MapRecords
from .media import MediaRecords
from .rows import fix_row, policy_columns, session_row, sms_row, snapshot_row
from .schema import fixes, incidents, link_states, links, sessions, sms_messages, snapshots
from .sessions import SessionRecords
from .sms import SmsRecords


class DuplicateReference(ValueError):
    pass


class Incidents(LinkRecords, SessionRecords, MediaRecords, SmsRecords, MapRecords):
    """Incidents and everything recorded against them (each part in its own module)."""

    def __init__(self, db: Database) -> None:
        self.db = db

    # -- incidents -------------------------------------------------------------------------------

    async def create(
        self, reference: str, caller_phone: str, actor: str, policy: Mapping[str, Any] | None = None
    ) -> dict[str, Any]:
        values = {
            "id": new_id("inc"), "reference": reference, "caller_phone": caller_phone,
            "created_by": actor, "created_at": utcnow(), **policy_columns(policy or {}),
        }
        try:
            async with self.db.chain(), self.db.begin() as conn:
                await conn.execute(incidents.insert().values(**values))
                await self.db.audit(
                    conn, actor, "incident.created", values["id"],
                    {"reference": reference, "caller_phone": caller_phone},
                )
        except IntegrityError:
            raise DuplicateReference(f"incident {reference!r} already exists") from None
        return await self.get(values["id"])  # type: ignore[return-value]

    async def get(self, incident_id: str) -> dict[str, Any] | None:
        async with self.db.connect() as conn:
            row = (
                await conn.execute(select(incidents).where(incidents.c.id == incident_id))
            ).mappings().first()
            if not row:
                return None
            return await self._summary(conn, row)

    async def list(self, active_only: bool = False, limit: int = 200) -> list[dict[str, Any]]:
        query = select(incidents).order_by(incidents.c.created_at.desc()).limit(limit)
        if active_only:
            query = query.where(incidents.c.ended_at.is_(None))
        async with self.db.connect() as conn:
            rows = (await conn.execute(query)).mappings().all()
            return [await self._summary(conn, row) for row in rows]

    async def _summary(self, conn, row: Mapping[str, Any]) -> dict[str, Any]:
        link = (
            await conn.execute(
                select(links.c.state)
                .where(links.c.incident_id == row["id"])
                .order_by(links.c.created_at.desc())
                .limit(1)
            )
        ).scalar()
        fix = (
            await conn.execute(
                select(fixes).where(fixes.c.incident_id == row["id"]).order_by(fixes.c.id.desc()).limit(1)
            )
        ).mappings().first()
        return {
            "id": row["id"], "reference": row["reference"], "caller_phone": row["caller_phone"],
            "created_at": iso(row["created_at"]), "created_by": row["created_by"],
            "ended_at": iso(row["ended_at"]), "state": link, "latest_fix": fix_row(fix) if fix else None,
            "media_policy": {
                "snapshot_interval_seconds": row["snapshot_interval"],
                "scene_change_snapshots": bool(row["scene_change"]),
                "recording": bool(row["recording"]),
            },
        }

    async def record(self, incident_id: str) -> dict[str, Any] | None:
        """The whole record of one incident, as ``GET /api/incidents/{id}`` returns it."""
        summary = await self.get(incident_id)
        if summary is None:
            return None
        async with self.db.connect() as conn:
            link_rows = (
                await conn.execute(
                    select(links).where(links.c.incident_id == incident_id).order_by(links.c.created_at)
                )
            ).mappings().all()
            state_rows = (
                await conn.execute(
                    select(link_states)
                    .join(links, links.c.id == link_states.c.link_id)
                    .where(links.c.incident_id == incident_id)
                    .order_by(link_states.c.id)
                )
            ).mappings().all()
            session_rows = (
                await conn.execute(
                    select(sessions).where(sessions.c.incident_id == incident_id).order_by(sessions.c.started_at)
                )
            ).mappings().all()
            fix_rows = (
                await conn.execute(select(fixes).where(fixes.c.incident_id == incident_id).order_by(fixes.c.id))
            ).mappings().all()
            snap_rows = (
                await conn.execute(
                    select(snapshots).where(snapshots.c.incident_id == incident_id).order_by(snapshots.c.taken_at)
                )
            ).mappings().all()
            sms_rows = (
                await conn.execute(
                    select(sms_messages)
                    .where(sms_messages.c.incident_id == incident_id)
                    .order_by(sms_messages.c.created_at)
                )
            ).mappings().all()
        by_id = {f["id"]: fix_row(f) for f in fix_rows}
        summary["links"] = [
            {
                "id": l["id"], "state": l["state"], "created_at": iso(l["created_at"]),
                "expires_at": iso(l["expires_at"]), "opened_at": iso(l["opened_at"]),
                "language": l["language"],
                "states": [
                    {"state": s["state"], "at": iso(s["at"]), "detail": s["detail"]}
                    for s in state_rows if s["link_id"] == l["id"]
                ],
            }
            for l in link_rows
        ]
        summary["sessions"] = [session_row(s) for s in session_rows]
        summary["fixes"] = list(by_id.values())
        summary["snapshots"] = [snapshot_row(s, by_id.get(s["fix_id"])) for s in snap_rows]
        summary["messages"] = [sms_row(m) for m in sms_rows]
        summary["recordings"] = await self.recordings(incident_id)
        summary["conversation"] = await Conversations(self.db).for_incident(incident_id)
        return summary

    async def set_media_policy(self, incident_id: str, policy: Mapping[str, Any], actor: str) -> None:
        async with self.db.chain(), self.db.begin() as conn:
            await conn.execute(
                update(incidents).where(incidents.c.id == incident_id).values(**policy_columns(policy))
            )
            await self.db.audit(conn, actor, "media_policy.changed", incident_id, dict(policy))

    async def mark_ended(self, incident_id: str, actor: str) -> list[tuple[str, str]]:
        """End the incident and any link still live; returns the (link id, time) of links ended."""
        async with self.db.connect() as conn:
            live_links = (
                await conn.execute(
                    select(links.c.id).where(
                        links.c.incident_id == incident_id,
                        links.c.state.not_in([s.value for s in FINAL]),
                    )
                )
            ).scalars().all()
        ended = []
        for link_id in live_links:
            at = await self.move_link(link_id, LinkState.ENDED, actor, "incident ended")
            if at:
                ended.append((link_id, at))
        async with self.db.chain(), self.db.begin() as conn:
            await conn.execute(
                update(incidents)
                .where(incidents.c.id == incident_id, incidents.c.ended_at.is_(None))
                .values(ended_at=utcnow())
            )
            await self.db.audit(conn, actor, "incident.ended", incident_id, {})
        return ended
