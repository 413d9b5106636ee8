"""Incidents and everything recorded against them: links, sessions, fixes, snapshots, messages."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any, Mapping

from sqlalchemy import and_, func, select, update
from sqlalchemy.exc import IntegrityError

from ..links import FINAL, LinkState, can_move, is_note
from .conversation import Conversations
from .database import Database, aware, canonical, iso, new_id, sha256_hex, utcnow
from .schema import fixes, incidents, link_states, links, recordings, sessions, sms_messages, snapshots


class DuplicateReference(ValueError):
    pass


class Incidents:
    def __init__(self, db: Database) -> None:
        self.db = db

    # -- incidents -------------------------------------------------------------------------------

    async def create(
        self, reference: str, caller_phone: str, actor: str, policy: Mapping[str, Any] | None = None
    ) -> dict[str, Any]:
        values = {
            "id": new_id("inc"), "reference": reference, "caller_phone": caller_phone,
            "created_by": actor, "created_at": utcnow(), **_policy_columns(policy or {}),
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
            "ended_at": iso(row["ended_at"]), "state": link, "latest_fix": _fix(fix) if fix else None,
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
        by_id = {f["id"]: _fix(f) for f in fix_rows}
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
        summary["sessions"] = [_session(s) for s in session_rows]
        summary["fixes"] = list(by_id.values())
        summary["snapshots"] = [_snapshot(s, by_id.get(s["fix_id"])) for s in snap_rows]
        summary["messages"] = [_sms(m) for m in sms_rows]
        summary["recordings"] = await self.recordings(incident_id)
        summary["conversation"] = await Conversations(self.db).for_incident(incident_id)
        return summary

    async def set_media_policy(self, incident_id: str, policy: Mapping[str, Any], actor: str) -> None:
        async with self.db.chain(), self.db.begin() as conn:
            await conn.execute(
                update(incidents).where(incidents.c.id == incident_id).values(**_policy_columns(policy))
            )
            await self.db.audit(conn, actor, "media_policy.changed", incident_id, dict(policy))

    async def add_recording(
        self, incident_id: str, session_id: str, segment: int, sha256: str, size: int, frames: int,
        width: int, height: int, codec: str, started_at: datetime, ended_at: datetime,
    ) -> dict[str, Any]:
        values = {
            "incident_id": incident_id, "session_id": session_id, "segment": segment, "sha256": sha256,
            "bytes": size, "frames": frames, "width": width, "height": height, "codec": codec,
            "started_at": started_at, "ended_at": ended_at,
        }
        async with self.db.chain(), self.db.begin() as conn:
            result = await conn.execute(recordings.insert().values(**values))
            await self.db.audit(
                conn, "gateway", "recording.segment", incident_id,
                {"session_id": session_id, "segment": segment, "sha256": sha256, "bytes": size},
            )
        values["id"] = int(result.inserted_primary_key[0])
        return _recording(values)

    async def recordings(self, incident_id: str) -> list[dict[str, Any]]:
        async with self.db.connect() as conn:
            rows = (
                await conn.execute(
                    select(recordings).where(recordings.c.incident_id == incident_id).order_by(recordings.c.id)
                )
            ).mappings().all()
        return [_recording(r) for r in rows]

    async def recording(self, recording_id: int) -> dict[str, Any] | None:
        async with self.db.connect() as conn:
            row = (
                await conn.execute(select(recordings).where(recordings.c.id == recording_id))
            ).mappings().first()
        return _recording(row) if row else None

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

    # -- links -----------------------------------------------------------------------------------

    async def create_link(
        self, incident_id: str, token_hash: str, expires_at: datetime, actor: str,
        language: str | None = None,
    ) -> dict[str, Any]:
        """A new link for the incident; any earlier live link is revoked, since the new one supersedes it."""
        link_id = new_id("lnk")
        now = utcnow()
        async with self.db.chain(), self.db.begin() as conn:
            old = (
                await conn.execute(
                    select(links.c.id, links.c.state).where(links.c.incident_id == incident_id)
                )
            ).all()
            superseded = []
            for old_id, state in old:
                if LinkState(state) not in FINAL:
                    await self._move(conn, old_id, LinkState.REVOKED, now, "superseded by a new link")
                    superseded.append(old_id)
            await conn.execute(
                links.insert().values(
                    id=link_id, incident_id=incident_id, token_hash=token_hash,
                    state=LinkState.CREATED.value, created_at=now, expires_at=expires_at,
                    language=language,
                )
            )
            await conn.execute(
                link_states.insert().values(link_id=link_id, state=LinkState.CREATED.value, at=now)
            )
            await self.db.audit(
                conn, actor, "link.created", incident_id,
                {"link_id": link_id, "expires_at": iso(expires_at), "language": language},
            )
        return {"id": link_id, "incident_id": incident_id, "state": "created",
                "created_at": iso(now), "expires_at": iso(expires_at), "language": language,
                "superseded": superseded}

    async def link_by_token_hash(self, token_hash: str) -> dict[str, Any] | None:
        return await self._link_where(links.c.token_hash == token_hash)

    async def link(self, link_id: str) -> dict[str, Any] | None:
        return await self._link_where(links.c.id == link_id)

    async def latest_link(self, incident_id: str) -> dict[str, Any] | None:
        """The incident's newest link (the one a caller can still use, if any can)."""
        async with self.db.connect() as conn:
            link_id = (
                await conn.execute(
                    select(links.c.id).where(links.c.incident_id == incident_id)
                    .order_by(links.c.created_at.desc()).limit(1)
                )
            ).scalar()
        return await self.link(link_id) if link_id else None

    async def links_opened_before(self, before: datetime) -> list[dict[str, Any]]:
        """Links still live that were opened before ``before`` (for the session's maximum length)."""
        async with self.db.connect() as conn:
            ids = (
                await conn.execute(
                    select(links.c.id).where(
                        links.c.opened_at <= before, links.c.state.not_in([s.value for s in FINAL])
                    )
                )
            ).scalars().all()
        return [link for link in [await self.link(i) for i in ids] if link]

    async def _link_where(self, condition) -> dict[str, Any] | None:
        async with self.db.connect() as conn:
            row = (await conn.execute(select(links).where(condition))).mappings().first()
        if not row:
            return None
        out = dict(row)
        for key in ("created_at", "expires_at", "opened_at"):
            out[key] = aware(out[key])
        return out

    async def move_link(
        self, link_id: str, new: LinkState, actor: str, detail: str | None = None
    ) -> str | None:
        """Move a link to a new state if the move is allowed; returns the time, or None if refused.

        A state that the link has already moved past but that is worth knowing (``delivered``,
        ``refused``: see :data:`gateway.links.NOTES`) is noted in its history without moving it.
        """
        now = utcnow()
        async with self.db.chain(), self.db.begin() as conn:
            row = (
                await conn.execute(select(links.c.state, links.c.incident_id).where(links.c.id == link_id))
            ).first()
            if row is None:
                return None
            if is_note(LinkState(row[0]), new):
                await conn.execute(
                    link_states.insert().values(link_id=link_id, state=new.value, at=now, detail=detail)
                )
            elif can_move(LinkState(row[0]), new):
                await self._move(conn, link_id, new, now, detail)
            else:
                return None
            await self.db.audit(
                conn, actor, f"link.{new.value}", row[1], {"link_id": link_id, "detail": detail}
            )
        return iso(now)

    async def _move(self, conn, link_id: str, new: LinkState, now: datetime, detail: str | None) -> None:
        values: dict[str, Any] = {"state": new.value}
        if new is LinkState.OPENED:
            values["opened_at"] = func.coalesce(links.c.opened_at, now)
        await conn.execute(update(links).where(links.c.id == link_id).values(**values))
        await conn.execute(
            link_states.insert().values(link_id=link_id, state=new.value, at=now, detail=detail)
        )

    async def bind_device(self, link_id: str, device_hash: str) -> bool:
        """Bind the link to the first device that opens it; False if another device got there first."""
        async with self.db.begin() as conn:
            result = await conn.execute(
                update(links)
                .where(links.c.id == link_id, links.c.device_hash.is_(None))
                .values(device_hash=device_hash)
            )
        return result.rowcount == 1

    # -- sessions --------------------------------------------------------------------------------

    async def start_session(self, incident_id: str, link_id: str, user_agent: str) -> dict[str, Any]:
        session_id = new_id("ses")
        now = utcnow()
        async with self.db.chain(), self.db.begin() as conn:
            await conn.execute(
                sessions.insert().values(
                    id=session_id, incident_id=incident_id, link_id=link_id,
                    user_agent=user_agent[:400], started_at=now,
                )
            )
            await self.db.audit(
                conn, "caller", "session.started", incident_id,
                {"session_id": session_id, "link_id": link_id, "user_agent": user_agent[:400]},
            )
        return {"id": session_id, "started_at": iso(now)}

    async def end_session(self, session_id: str, actor: str, reason: str) -> bool:
        async with self.db.chain(), self.db.begin() as conn:
            row = (
                await conn.execute(
                    select(sessions.c.incident_id).where(
                        sessions.c.id == session_id, sessions.c.ended_at.is_(None)
                    )
                )
            ).first()
            if row is None:
                return False
            await conn.execute(
                update(sessions)
                .where(sessions.c.id == session_id)
                .values(ended_at=utcnow(), ended_by=actor, end_reason=reason[:200])
            )
            await self.db.audit(
                conn, actor, "session.ended", row[0], {"session_id": session_id, "reason": reason}
            )
        return True

    # -- fixes -----------------------------------------------------------------------------------

    async def add_fix(
        self,
        incident_id: str,
        session_id: str,
        seq: int,
        fix: Mapping[str, Any],
        device_time: datetime | None,
        placement: Mapping[str, Any],
    ) -> dict[str, Any] | None:
        """Store one fix; None when it is already stored.

        A fix is the same fix when it has the same ``seq`` and device time and came through the same
        link, whichever session (data channel or HTTPS, before or after a reconnection) carried it:
        the caller page numbers its fixes per link and resends them until they are acknowledged.
        """
        received = utcnow()
        placement_json = canonical(placement)
        values = {
            "incident_id": incident_id, "session_id": session_id, "seq": seq,
            "latitude": fix["latitude"], "longitude": fix["longitude"], "accuracy": fix.get("accuracy"),
            "altitude": fix.get("altitude"), "heading": fix.get("heading"), "speed": fix.get("speed"),
            "device_time": device_time, "received_at": received, "placement": placement_json,
        }
        values["sha256"] = sha256_hex(canonical({k: v for k, v in values.items() if k != "placement"}))
        same_link = select(sessions.c.link_id).where(sessions.c.id == session_id).scalar_subquery()
        earlier = (
            select(fixes.c.id)
            .join(sessions, sessions.c.id == fixes.c.session_id)
            .where(
                sessions.c.link_id == same_link, fixes.c.seq == seq,
                fixes.c.device_time.is_(None) if device_time is None else fixes.c.device_time == device_time,
            )
            .limit(1)
        )
        try:
            async with self.db.chain(), self.db.begin() as conn:
                if (await conn.execute(earlier)).first() is not None:
                    return None
                result = await conn.execute(fixes.insert().values(**values))
                await self.db.audit(
                    conn, "caller", "fix.recorded", incident_id,
                    {"session_id": session_id, "seq": seq, "sha256": values["sha256"]},
                )
        except IntegrityError:
            return None
        values["id"] = int(result.inserted_primary_key[0])
        return _fix(values)

    async def nearest_fix(self, incident_id: str, at: datetime) -> dict[str, Any] | None:
        """The fix received nearest in time to ``at`` (before or after)."""
        async with self.db.connect() as conn:
            before = (
                await conn.execute(
                    select(fixes)
                    .where(fixes.c.incident_id == incident_id, fixes.c.received_at <= at)
                    .order_by(fixes.c.received_at.desc()).limit(1)
                )
            ).mappings().first()
            after = (
                await conn.execute(
                    select(fixes)
                    .where(fixes.c.incident_id == incident_id, fixes.c.received_at > at)
                    .order_by(fixes.c.received_at).limit(1)
                )
            ).mappings().first()
        candidates = [r for r in (before, after) if r]
        if not candidates:
            return None
        best = min(candidates, key=lambda r: abs((aware(r["received_at"]) - at).total_seconds()))
        return _fix(best)

    # -- snapshots -------------------------------------------------------------------------------

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
    ) -> dict[str, Any]:
        values = {
            "thumb_sha256": thumb_sha256,
            "id": new_id("snp"), "incident_id": incident_id, "session_id": session_id,
            "sha256": sha256, "width": width, "height": height, "bytes": size,
            "taken_at": taken_at, "taken_by": taken_by, "reason": reason,
            "fix_id": fix["id"] if fix else None,
        }
        async with self.db.chain(), self.db.begin() as conn:
            await conn.execute(snapshots.insert().values(**values))
            await self.db.audit(
                conn, taken_by, "snapshot.taken", incident_id,
                {"snapshot_id": values["id"], "sha256": sha256, "reason": reason},
            )
        return _snapshot(values, dict(fix) if fix else None)

    async def snapshot(self, snapshot_id: str) -> dict[str, Any] | None:
        async with self.db.connect() as conn:
            row = (
                await conn.execute(select(snapshots).where(snapshots.c.id == snapshot_id))
            ).mappings().first()
        return _snapshot(row, None) if row else None

    # -- SMS -------------------------------------------------------------------------------------

    async def add_sms(
        self, incident_id: str, link_id: str | None, to: str, body: str, provider: str, actor: str
    ) -> dict[str, Any]:
        values = {
            "id": new_id("sms"), "incident_id": incident_id, "link_id": link_id, "to": to,
            "body": body, "provider": provider, "status": "queued", "created_at": utcnow(),
        }
        async with self.db.chain(), self.db.begin() as conn:
            await conn.execute(sms_messages.insert().values(**values))
            await self.db.audit(
                conn, actor, "sms.queued", incident_id,
                {"sms_id": values["id"], "to": to, "provider": provider},
            )
        return _sms(values)

    async def update_sms(
        self, sms_id: str, status: str, provider_ref: str | None = None, error: str | None = None
    ) -> None:
        async with self.db.chain(), self.db.begin() as conn:
            await conn.execute(
                update(sms_messages)
                .where(sms_messages.c.id == sms_id)
                .values(status=status, provider_ref=provider_ref, error=error)
            )
            incident_id = (
                await conn.execute(select(sms_messages.c.incident_id).where(sms_messages.c.id == sms_id))
            ).scalar()
            await self.db.audit(
                conn, "gateway", f"sms.{status}", incident_id,
                {"sms_id": sms_id, "provider_ref": provider_ref, "error": error},
            )

    async def sms_by_provider_ref(self, provider: str, provider_ref: str) -> dict[str, Any] | None:
        """The message ``provider`` knows as ``provider_ref``, for its delivery receipts."""
        async with self.db.connect() as conn:
            row = (
                await conn.execute(
                    select(sms_messages).where(
                        and_(sms_messages.c.provider == provider, sms_messages.c.provider_ref == provider_ref)
                    )
                )
            ).mappings().first()
        if not row:
            return None
        return {**_sms(row), "incident_id": row["incident_id"], "provider_ref": row["provider_ref"]}

    async def open_sessions(self) -> list[dict[str, Any]]:
        """Sessions not yet ended (e.g. left over from a restart)."""
        async with self.db.connect() as conn:
            rows = (
                await conn.execute(select(sessions).where(sessions.c.ended_at.is_(None)))
            ).mappings().all()
        return [dict(r) for r in rows]

    async def expire_links(self, now: datetime) -> list[tuple[str, str]]:
        """Mark links never opened and past their expiry as expired; returns (incident, link) pairs."""
        async with self.db.connect() as conn:
            rows = (
                await conn.execute(
                    select(links.c.id, links.c.incident_id).where(
                        and_(
                            links.c.expires_at <= now,
                            links.c.opened_at.is_(None),
                            links.c.state.in_([
                                LinkState.CREATED.value, LinkState.SENT.value,
                                LinkState.DELIVERED.value, LinkState.FAILED.value,
                            ]),
                        )
                    )
                )
            ).all()
        expired = []
        for link_id, incident_id in rows:
            if await self.move_link(link_id, LinkState.EXPIRED, "gateway"):
                expired.append((incident_id, link_id))
        return expired


def _fix(row: Mapping[str, Any]) -> dict[str, Any]:
    placement = row["placement"]
    return {
        "id": row["id"], "session_id": row["session_id"], "seq": row["seq"],
        "latitude": row["latitude"], "longitude": row["longitude"], "accuracy": row["accuracy"],
        "altitude": row["altitude"], "heading": row["heading"], "speed": row["speed"],
        "device_time": iso(row["device_time"]), "received_at": iso(row["received_at"]),
        "sha256": row["sha256"],
        "placement": json.loads(placement) if isinstance(placement, str) else placement,
    }


def _snapshot(row: Mapping[str, Any], fix: dict[str, Any] | None) -> dict[str, Any]:
    return {
        "id": row["id"], "incident_id": row["incident_id"], "session_id": row["session_id"],
        "sha256": row["sha256"], "width": row["width"], "height": row["height"], "bytes": row["bytes"],
        "taken_at": iso(row["taken_at"]), "taken_by": row["taken_by"], "reason": row["reason"],
        "fix_id": row["fix_id"], "fix": fix, "url": f"/api/snapshots/{row['id']}",
        "thumb_sha256": row.get("thumb_sha256"),
        "thumbnail_url": f"/api/snapshots/{row['id']}/thumbnail" if row.get("thumb_sha256") else None,
    }


def _recording(row: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "id": row["id"], "session_id": row["session_id"], "segment": row["segment"],
        "sha256": row["sha256"], "bytes": row["bytes"], "frames": row["frames"],
        "width": row["width"], "height": row["height"], "codec": row["codec"],
        "started_at": iso(row["started_at"]), "ended_at": iso(row["ended_at"]),
        "url": f"/api/recordings/{row['id']}",
    }


def _policy_columns(policy: Mapping[str, Any]) -> dict[str, Any]:
    columns = {}
    if "snapshot_interval_seconds" in policy:
        columns["snapshot_interval"] = policy["snapshot_interval_seconds"]
    if "scene_change_snapshots" in policy:
        columns["scene_change"] = bool(policy["scene_change_snapshots"])
    if "recording" in policy:
        columns["recording"] = bool(policy["recording"])
    return columns


def _session(row: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "id": row["id"], "link_id": row["link_id"], "started_at": iso(row["started_at"]),
        "ended_at": iso(row["ended_at"]), "ended_by": row["ended_by"], "end_reason": row["end_reason"],
        "user_agent": row["user_agent"],
    }


def _sms(row: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "id": row["id"], "link_id": row["link_id"], "to": row["to"], "body": row["body"],
        "provider": row["provider"], "status": row["status"], "created_at": iso(row["created_at"]),
        "error": row.get("error"),
    }
