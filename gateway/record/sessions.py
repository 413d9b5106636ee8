"""Callers' sessions and the fixes they deliver, each stored once."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, and_, bindparam, select, update
from sqlalchemy.exc import IntegrityError

from .database import HEAD_HASH, HEAD_SEQ, READ_HEAD, Database, audit_many_sync, aware, canonical, iso, new_id, utcnow
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
        """Store one fix; None when it is already stored. Returns once it is committed.

        A fix is the same fix when it has the same ``seq`` and device time and came through the same
        link, whichever session (data channel or HTTPS, before or after a reconnection) carried it:
        the caller page numbers its fixes per link and resends them until they are acknowledged.

        Fixes are group-committed (gateway/record/group_commit.py): those arriving while the
        writer lock is busy are written together, each with its own audit entry, in one transaction.
        """
        values: dict[str, Any] = {
            "incident_id": incident_id, "session_id": session_id, "seq": seq,
            # Stored as double precision: hashed as the float the record will give back.
            "latitude": float(fix["latitude"]), "longitude": float(fix["longitude"]),
            **{k: _float(fix.get(k)) for k in ("accuracy", "altitude", "heading", "speed")},
            # One instant, one spelling: SQLite keeps a time's digits and drops its zone.
            "device_time": device_time.astimezone(UTC) if device_time is not None else None,
            "placement": canonical(placement), "salt": new_salt(),
        }
        try:
            return await self.db.group("fixes", _write_fixes).submit(values)
        except IntegrityError:
            return None  # the same session and seq with another device time: stored already

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


# Each of the batch's sessions with its link, and every fix already stored through that link with
# one of the batch's seqs; and the chain's head, to save a round trip. Built once: a statement's
# construction costs more than its execution.
_mine, _others = sessions.alias("mine"), sessions.alias("others")
_STORED_THROUGH_SAME_LINK = (
    select(_mine.c.id, _mine.c.link_id, fixes.c.seq, fixes.c.device_time, HEAD_SEQ, HEAD_HASH)
    .select_from(
        _mine.outerjoin(_others, _others.c.link_id == _mine.c.link_id).outerjoin(
            fixes, and_(fixes.c.session_id == _others.c.id, fixes.c.seq.in_(bindparam("seqs", expanding=True)))
        )
    )
    .where(_mine.c.id.in_(bindparam("sessions", expanding=True)))
)
# Returned rows are matched to the batch by (session, seq), unique per fix: asking the database to
# return them in order would make SQLAlchemy send one INSERT per row on SQLite.
_INSERT_FIXES = fixes.insert().returning(fixes.c.id, fixes.c.session_id, fixes.c.seq)


def _write_fixes(conn: Connection, batch: Sequence[dict[str, Any]]) -> list[dict[str, Any] | None]:
    """Write a batch of fixes and their audit entries within ``conn``'s write transaction, in
    order; each one's stored row, or None for a fix stored already. Three statements however many."""
    rows = conn.execute(
        _STORED_THROUGH_SAME_LINK,
        {"sessions": sorted({v["session_id"] for v in batch}), "seqs": sorted({v["seq"] for v in batch})},
    ).all()
    link_of: dict[str, str | None] = {}
    stored: set[tuple[Any, ...]] = set()
    # With no row (no session of the batch exists) the head is read again where it is needed.
    head: Any = READ_HEAD
    if rows:
        head = (rows[0][4], rows[0][5]) if rows[0][4] is not None else None
    for session_id, link_id, seq, device_time, _, _ in rows:
        link_of[session_id] = link_id
        if seq is not None:
            stored.add((link_id, seq, aware(device_time)))
    received = utcnow()
    new: list[dict[str, Any]] = []
    results: list[dict[str, Any] | None] = []
    in_batch: set[tuple[Any, ...]] = set()
    for v in batch:
        link = link_of.get(v["session_id"])
        same = (link, v["seq"], v["device_time"])
        if (link is not None and same in stored) or (v["session_id"], v["seq"]) in in_batch:
            results.append(None)
            continue
        stored.add(same)
        in_batch.add((v["session_id"], v["seq"]))
        row = {**v, "received_at": received}
        row["sha256"] = item_digest("fix", fix_row({**row, "id": None}))
        new.append(row)
        results.append(row)
    if new:
        ids = {(session_id, seq): fix_id for fix_id, session_id, seq in conn.execute(_INSERT_FIXES, new)}
        for row in new:
            row["id"] = int(ids[row["session_id"], row["seq"]])
        audit_many_sync(conn, head=head, entries=[
            ("caller", "fix.recorded", row["incident_id"],
             {"session_id": row["session_id"], "seq": row["seq"], "sha256": row["sha256"]})
            for row in new
        ])
    return [fix_row(r) if r is not None else None for r in results]
