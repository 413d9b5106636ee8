"""Incidents and everything recorded against them: links, sessions, fixes, snapshots, messages."""

from __future__ import annotations

import builtins
from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError

from ..links import FINAL, LinkState
from .conversation import Conversations
from .database import Database, iso, new_id, utcnow
from .links import LinkRecords
from .maps import MapRecords
from .media import MediaRecords
from .rows import fix_row, link_state_row, policy_columns, session_row, sms_row, snapshot_row
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
            async with self.db.begin() as conn:
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
            return (await self._summaries(conn, [row]))[0]

    async def list(self, active_only: bool = False, limit: int = 200) -> list[dict[str, Any]]:
        """The newest incidents with their link's state and latest fix: three queries, however many."""
        query = select(incidents).order_by(incidents.c.created_at.desc()).limit(limit)
        if active_only:
            query = query.where(incidents.c.ended_at.is_(None))
        async with self.db.connect() as conn:
            rows = (await conn.execute(query)).mappings().all()
            return await self._summaries(conn, rows)

    async def _summaries(self, conn, rows: Sequence[Mapping[str, Any]]) -> builtins.list[dict[str, Any]]:
        """Summaries of ``rows``, with each one's newest link state and latest fix fetched for all
        of them at once (one query each, not one per incident)."""
        if not rows:
            return []
        ids = [row["id"] for row in rows]
        newest_link = (
            select(
                links.c.incident_id, links.c.state,
                func.row_number().over(
                    partition_by=links.c.incident_id, order_by=(links.c.created_at.desc(), links.c.id.desc())
                ).label("rank"),
            )
            .where(links.c.incident_id.in_(ids))
            .subquery()
        )
        states = dict(
            (await conn.execute(
                select(newest_link.c.incident_id, newest_link.c.state).where(newest_link.c.rank == 1)
            )).all()
        )
        latest_ids = select(func.max(fixes.c.id)).where(fixes.c.incident_id.in_(ids)).group_by(fixes.c.incident_id)
        latest = {
            fix["incident_id"]: fix_row(fix)
            for fix in (await conn.execute(select(fixes).where(fixes.c.id.in_(latest_ids)))).mappings()
        }
        return [
            {
                "id": row["id"], "reference": row["reference"], "caller_phone": row["caller_phone"],
                "created_at": iso(row["created_at"]), "created_by": row["created_by"],
                "ended_at": iso(row["ended_at"]), "state": states.get(row["id"]),
                "latest_fix": latest.get(row["id"]),
                "media_policy": {
                    "snapshot_interval_seconds": row["snapshot_interval"],
                    "scene_change_snapshots": bool(row["scene_change"]),
                    "recording": bool(row["recording"]),
                },
                "legal_hold": (
                    {"held_at": iso(row["held_at"]), "held_by": row["held_by"], "reason": row["hold_reason"]}
                    if row["held_at"] is not None else None
                ),
                "phone_purged_at": iso(row["phone_purged_at"]),
            }
            for row in rows
        ]

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
                "id": link["id"], "state": link["state"], "created_at": iso(link["created_at"]),
                "expires_at": iso(link["expires_at"]), "opened_at": iso(link["opened_at"]),
                "language": link["language"], "mode": link["mode"],
                "states": [link_state_row(s) for s in state_rows if s["link_id"] == link["id"]],
            }
            for link in link_rows
        ]
        summary["sessions"] = [session_row(s) for s in session_rows]
        summary["fixes"] = list(by_id.values())
        summary["snapshots"] = [snapshot_row(s, by_id.get(s["fix_id"])) for s in snap_rows]
        summary["messages"] = [sms_row(m) for m in sms_rows]
        summary["recordings"] = await self.recordings(incident_id)
        summary["conversation"] = await Conversations(self.db).for_incident(incident_id)
        return summary

    async def set_media_policy(self, incident_id: str, policy: Mapping[str, Any], actor: str) -> None:
        async with self.db.begin() as conn:
            await conn.execute(
                update(incidents).where(incidents.c.id == incident_id).values(**policy_columns(policy))
            )
            await self.db.audit(conn, actor, "media_policy.changed", incident_id, dict(policy))

    async def mark_ended(self, incident_id: str, actor: str) -> builtins.list[tuple[str, str]]:
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
        async with self.db.begin() as conn:
            await conn.execute(
                update(incidents)
                .where(incidents.c.id == incident_id, incidents.c.ended_at.is_(None))
                .values(ended_at=utcnow())
            )
            await self.db.audit(conn, actor, "incident.ended", incident_id, {})
        return ended
