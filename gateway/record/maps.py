"""What the dispatcher's map reads: a caller's trail of recent fixes, incidents found by reference."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select

from .database import Database, iso
from .rows import fix_row
from .schema import fixes, incidents

TRAIL_MAX = 500


class MapRecords:
    db: Database

    async def trail(self, incident_id: str, limit: int = 100) -> list[dict[str, Any]]:
        """The incident's last ``limit`` fixes (at most 500), oldest first."""
        limit = max(1, min(limit, TRAIL_MAX))
        async with self.db.connect() as conn:
            rows = (
                await conn.execute(
                    select(fixes).where(fixes.c.incident_id == incident_id).order_by(fixes.c.id.desc()).limit(limit)
                )
            ).mappings().all()
        return [fix_row(row) for row in reversed(rows)]

    async def find_by_reference(self, text: str, limit: int = 10) -> list[dict[str, Any]]:
        """Incidents whose reference contains ``text`` (any case), exact matches first, newest next."""
        needle = text.strip().lower()
        if not needle:
            return []
        pattern = "%" + needle.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        reference = func.lower(incidents.c.reference)
        query = (
            select(incidents.c.id, incidents.c.reference, incidents.c.created_at, incidents.c.ended_at)
            .where(reference.like(pattern, escape="\\"))
            .order_by((reference == needle).desc(), incidents.c.created_at.desc())
            .limit(max(1, min(limit, 50)))
        )
        async with self.db.connect() as conn:
            rows = (await conn.execute(query)).mappings().all()
        return [
            {"id": r["id"], "reference": r["reference"], "created_at": iso(r["created_at"]),
             "ended_at": iso(r["ended_at"])}
            for r in rows
        ]
