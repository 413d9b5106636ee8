"""Links as recorded: created, superseded, bound to a device, moved through their states."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import and_, false, func, or_, select, update

from ..links import FINAL, LinkState, can_move, is_note
from .database import Database, aware, iso, new_id, utcnow
from .items import item_digest
from .rows import link_state_row
from .schema import link_states, links


class LinkRecords:
    db: Database

    async def create_link(
        self, incident_id: str, token_hash: str, expires_at: datetime, actor: str,
        language: str | None = None, mode: str = "video",
    ) -> dict[str, Any]:
        """A new link for the incident; any earlier live link is revoked, since the new one supersedes it.

        ``mode`` is what the caller is asked to share: "video" (camera and location) or "location".
        """
        link_id = new_id("lnk")
        now = utcnow()
        async with self.db.begin() as conn:
            old = (
                await conn.execute(
                    select(links.c.id, links.c.state).where(links.c.incident_id == incident_id)
                )
            ).all()
            superseded = []
            for old_id, state in old:
                if LinkState(state) not in FINAL:
                    row = await self._move(conn, old_id, LinkState.REVOKED, now, "superseded by a new link")
                    await self.db.audit(
                        conn, actor, "link.revoked", incident_id,
                        {"link_id": old_id, "detail": row["detail"], "state_sha256": item_digest("link_state", row)},
                    )
                    superseded.append(old_id)
            await conn.execute(
                links.insert().values(
                    id=link_id, incident_id=incident_id, token_hash=token_hash,
                    state=LinkState.CREATED.value, created_at=now, expires_at=expires_at,
                    language=language, mode=mode,
                )
            )
            created = await self._note(conn, link_id, LinkState.CREATED, now, None)
            await self.db.audit(
                conn, actor, "link.created", incident_id,
                {"link_id": link_id, "expires_at": iso(expires_at), "language": language, "mode": mode,
                 "state_sha256": item_digest("link_state", created)},
            )
        return {"id": link_id, "incident_id": incident_id, "state": "created",
                "created_at": iso(now), "expires_at": iso(expires_at), "language": language,
                "mode": mode, "superseded": superseded}

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
        return (await self.due_links(None, before)).overlong

    async def due_links(self, now: datetime | None, opened_before: datetime | None) -> DueLinks:
        """In one query, the links the sweep must act on: never opened and past their expiry at
        ``now``, and still live though opened before ``opened_before`` (None: not asked for)."""
        never_opened = and_(
            links.c.expires_at <= now, links.c.opened_at.is_(None), links.c.state.in_(_EXPIRABLE)
        ) if now is not None else false()
        overlong = links.c.opened_at <= opened_before if opened_before is not None else false()
        query = select(links).where(links.c.state.not_in(_FINAL), or_(never_opened, overlong))
        async with self.db.connect() as conn:
            rows = [_link_out(r) for r in (await conn.execute(query)).mappings()]
        due = DueLinks()
        for link in rows:
            if link["opened_at"] is None:
                due.expiring.append(link)
            else:
                due.overlong.append(link)
        return due

    async def _link_where(self, condition) -> dict[str, Any] | None:
        async with self.db.connect() as conn:
            row = (await conn.execute(select(links).where(condition))).mappings().first()
        return _link_out(row) if row else None

    async def move_link(
        self, link_id: str, new: LinkState, actor: str, detail: str | None = None
    ) -> str | None:
        """Move a link to a new state if the move is allowed; returns the time, or None if refused.

        A state that the link has already moved past but that is worth knowing (``delivered``,
        ``refused``: see :data:`gateway.links.NOTES`) is noted in its history without moving it.
        """
        now = utcnow()
        async with self.db.begin() as conn:
            row = (
                await conn.execute(select(links.c.state, links.c.incident_id).where(links.c.id == link_id))
            ).first()
            if row is None:
                return None
            if is_note(LinkState(row[0]), new):
                state = await self._note(conn, link_id, new, now, detail)
            elif can_move(LinkState(row[0]), new):
                state = await self._move(conn, link_id, new, now, detail)
            else:
                return None
            await self.db.audit(
                conn, actor, f"link.{new.value}", row[1],
                {"link_id": link_id, "detail": detail, "state_sha256": item_digest("link_state", state)},
            )
        return iso(now)

    async def _move(
        self, conn, link_id: str, new: LinkState, now: datetime, detail: str | None
    ) -> dict[str, Any]:
        values: dict[str, Any] = {"state": new.value}
        if new is LinkState.OPENED:
            values["opened_at"] = func.coalesce(links.c.opened_at, now)
        await conn.execute(update(links).where(links.c.id == link_id).values(**values))
        return await self._note(conn, link_id, new, now, detail)

    async def _note(
        self, conn, link_id: str, state: LinkState, now: datetime, detail: str | None
    ) -> dict[str, Any]:
        """Add a state to the link's history; returns it as the record shows it (for its digest)."""
        await conn.execute(
            link_states.insert().values(link_id=link_id, state=state.value, at=now, detail=detail)
        )
        return {**link_state_row({"state": state.value, "at": now, "detail": detail}), "link_id": link_id}

    async def bind_device(self, link_id: str, device_hash: str) -> bool:
        """Bind the link to the first device that opens it; False if another device got there first."""
        async with self.db.begin() as conn:
            result = await conn.execute(
                update(links)
                .where(links.c.id == link_id, links.c.device_hash.is_(None))
                .values(device_hash=device_hash)
            )
        return result.rowcount == 1

    async def expire_links(self, now: datetime, due: list[dict[str, Any]] | None = None) -> list[tuple[str, str]]:
        """Mark links never opened and past their expiry as expired; returns (incident, link) pairs.

        ``due``: those links, when :meth:`due_links` has already found them.
        """
        if due is None:
            due = (await self.due_links(now, None)).expiring
        expired = []
        for link in due:
            if await self.move_link(link["id"], LinkState.EXPIRED, "gateway"):
                expired.append((link["incident_id"], link["id"]))
        return expired


_FINAL = [s.value for s in FINAL]
_EXPIRABLE = [LinkState.CREATED.value, LinkState.SENT.value, LinkState.DELIVERED.value, LinkState.FAILED.value]


@dataclass
class DueLinks:
    """What one sweep found: links to expire, and live links past the session's maximum length."""

    expiring: list[dict[str, Any]] = field(default_factory=list)
    overlong: list[dict[str, Any]] = field(default_factory=list)


def _link_out(row: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(row)
    for key in ("created_at", "expires_at", "opened_at"):
        out[key] = aware(out[key])
    return out
