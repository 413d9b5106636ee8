"""The silent conversation in the record: the handler's instructions and the caller's replies.

Every message, both ways, is stored with its time and language and goes into the audit chain; so
do the moments it was handed to the caller's page and seen there.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import select, update

from .database import Database, iso, new_id, utcnow
from .items import item_digest, new_salt
from .schema import caller_messages

TO_CALLER = "to_caller"
FROM_CALLER = "from_caller"


class Conversations:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def add(
        self,
        incident_id: str,
        link_id: str,
        direction: str,
        kind: str,
        text: str,
        language: str,
        sent_by: str,
        *,
        phrase: str | None = None,
        in_reply_to: str | None = None,
        client_ref: str | None = None,
    ) -> tuple[dict[str, Any], bool]:
        """Store one message; returns it and whether it is new.

        A reply that carries the page's ``client_ref`` is stored once, however often the page
        resends it (its acknowledgement may have been lost).
        """
        async with self.db.begin() as conn:
            if client_ref is not None:
                row = (
                    await conn.execute(
                        select(caller_messages).where(
                            caller_messages.c.link_id == link_id, caller_messages.c.client_ref == client_ref
                        )
                    )
                ).mappings().first()
                if row is not None:
                    return message_json(row), False
            values = {
                "id": new_id("msg"), "incident_id": incident_id, "link_id": link_id,
                "direction": direction, "kind": kind, "phrase": phrase, "text": text,
                "language": language, "sent_by": sent_by, "in_reply_to": in_reply_to,
                "client_ref": client_ref, "sent_at": utcnow(), "delivered_at": None, "seen_at": None,
                "salt": new_salt(),
            }
            await conn.execute(caller_messages.insert().values(**values))
            # The text is not in the chain itself (the retention purge removes it); its salted digest is.
            await self.db.audit(
                conn, sent_by, "message.sent" if direction == TO_CALLER else "message.received", incident_id,
                {
                    "message_id": values["id"], "link_id": link_id, "kind": kind, "phrase": phrase,
                    "language": language, "in_reply_to": in_reply_to,
                    "item_sha256": item_digest("message", message_json(values)),
                },
            )
        return message_json(values), True

    async def get(self, message_id: str) -> dict[str, Any] | None:
        async with self.db.connect() as conn:
            row = (
                await conn.execute(select(caller_messages).where(caller_messages.c.id == message_id))
            ).mappings().first()
        return message_json(row) if row else None

    async def mark_delivered(self, message_ids: list[str], actor: str = "gateway") -> list[dict[str, Any]]:
        """Note the first hand-over to the caller's page; returns the messages that changed."""
        return [m for m in [await self._mark(i, "delivered_at", actor) for i in message_ids] if m]

    async def mark_seen(self, link_id: str, message_id: str) -> dict[str, Any] | None:
        """The caller's page showed the message; None when unknown, not theirs, or already seen."""
        message = await self.get(message_id)
        if message is None or message["link_id"] != link_id or message["direction"] != TO_CALLER:
            return None
        if message["delivered_at"] is None:
            await self._mark(message_id, "delivered_at", "caller")
        return await self._mark(message_id, "seen_at", "caller")

    async def _mark(self, message_id: str, column: str, actor: str) -> dict[str, Any] | None:
        now = utcnow()
        async with self.db.begin() as conn:
            result = await conn.execute(
                update(caller_messages)
                .where(caller_messages.c.id == message_id, caller_messages.c[column].is_(None))
                .values({column: now})
            )
            if result.rowcount != 1:
                return None
            row = (
                await conn.execute(select(caller_messages).where(caller_messages.c.id == message_id))
            ).mappings().one()  # updated just above, in this transaction
            await self.db.audit(
                conn, actor, "message." + column.removesuffix("_at"), row["incident_id"],
                {"message_id": message_id, "at": iso(now)},
            )
        return message_json(row)

    async def for_incident(self, incident_id: str) -> list[dict[str, Any]]:
        return await self._list(caller_messages.c.incident_id == incident_id)

    async def for_link(self, link_id: str, direction: str | None = None) -> list[dict[str, Any]]:
        condition = caller_messages.c.link_id == link_id
        if direction is not None:
            condition = condition & (caller_messages.c.direction == direction)
        return await self._list(condition)

    async def _list(self, condition) -> list[dict[str, Any]]:
        async with self.db.connect() as conn:
            rows = (
                await conn.execute(
                    select(caller_messages).where(condition).order_by(caller_messages.c.sent_at)
                )
            ).mappings().all()
        return [message_json(r) for r in rows]


def message_json(row: Mapping[Any, Any]) -> dict[str, Any]:
    return {
        "id": row["id"], "incident_id": row["incident_id"], "link_id": row["link_id"],
        "direction": row["direction"], "kind": row["kind"], "phrase": row["phrase"], "text": row["text"],
        "language": row["language"], "sent_by": row["sent_by"], "in_reply_to": row["in_reply_to"],
        "sent_at": iso(row["sent_at"]), "delivered_at": iso(row["delivered_at"]), "seen_at": iso(row["seen_at"]),
        "salt": row.get("salt"), "purged_at": iso(row.get("purged_at")),
    }
