"""Text messages sent to callers and what their providers said of them."""

from __future__ import annotations

from typing import Any

from sqlalchemy import and_, select, update

from .database import Database, new_id, utcnow
from .items import item_digest, new_salt
from .rows import sms_row
from .schema import sms_messages


class SmsRecords:
    db: Database

    async def add_sms(
        self, incident_id: str, link_id: str | None, to: str, body: str, provider: str, actor: str
    ) -> dict[str, Any]:
        values = {
            "id": new_id("sms"), "incident_id": incident_id, "link_id": link_id, "to": to,
            "body": body, "provider": provider, "status": "queued", "created_at": utcnow(),
            "salt": new_salt(),
        }
        async with self.db.begin() as conn:
            await conn.execute(sms_messages.insert().values(**values))
            # The number and the text are not in the chain itself (the retention purge removes
            # them); their salted digest is.
            await self.db.audit(
                conn, actor, "sms.queued", incident_id,
                {"sms_id": values["id"], "link_id": link_id, "provider": provider,
                 "item_sha256": item_digest("sms", sms_row(values))},
            )
        return sms_row(values)

    async def update_sms(
        self, sms_id: str, status: str, provider_ref: str | None = None, error: str | None = None
    ) -> None:
        async with self.db.begin() as conn:
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
                {"sms_id": sms_id, "status": status, "provider_ref": provider_ref, "error": error},
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
        return {**sms_row(row), "incident_id": row["incident_id"], "provider_ref": row["provider_ref"]}
