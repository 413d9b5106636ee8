"""Callers' sessions and the fixes they deliver, each stored once."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import literal, select, update
from sqlalchemy.exc import IntegrityError

from .database import Database, aware, canonical, iso, new_id, utcnow
from .items import item_digest, new_salt
from .rows import fix_row
from .schema import fixes, sessions


class SessionRecords:
    db: Database

    async def start_session(self, incident_id: str, link_id: str, user_agent: str) -> dict[str, Any]:
        session_id = new_id("ses")
        now = utcnow()
        async with self.db.begin() as conn:
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
        async with self.db.begin() as conn:
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
        values: dict[str, Any] = {
            "incident_id": incident_id, "session_id": session_id, "seq": seq,
            # Stored as double precision: hashed as the float the record will give back.
            "latitude": float(fix["latitude"]), "longitude": float(fix["longitude"]),
            **{k: _float(fix.get(k)) for k in ("accuracy", "altitude", "heading", "speed")},
            "device_time": device_time, "received_at": received, "placement": placement_json,
            "salt": new_salt(),
        }
        values["sha256"] = item_digest("fix", fix_row({**values, "id": None}))
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
        # Checked and inserted in one statement: each round trip is made holding the writer lock.
        row = select(*[literal(v, fixes.c[k].type).label(k) for k, v in values.items()]).where(~earlier.exists())
        insert = fixes.insert().from_select(list(values), row).returning(fixes.c.id)
        try:
            async with self.db.begin() as conn:
                fix_id = (await conn.execute(insert)).scalar()
                if fix_id is None:
                    return None
                await self.db.audit(
                    conn, "caller", "fix.recorded", incident_id,
                    {"session_id": session_id, "seq": seq, "sha256": values["sha256"]},
                )
        except IntegrityError:
            return None
        values["id"] = int(fix_id)
        return fix_row(values)

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
        return fix_row(best)

    async def open_sessions(self) -> list[dict[str, Any]]:
        """Sessions not yet ended (e.g. left over from a restart)."""
        async with self.db.connect() as conn:
            rows = (
                await conn.execute(select(sessions).where(sessions.c.ended_at.is_(None)))
            ).mappings().all()
        return [dict(r) for r in rows]


def _float(value: Any) -> float | None:
    return None if value is None else float(value)
