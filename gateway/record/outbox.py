"""The webhook outbox: deliveries kept in the record until the receiver has them.

Each row is one event for one endpoint. Rows of the same incident are delivered in ``id`` order:
only the oldest undelivered row of an incident is ever due, so a receiver never sees a later event
of an incident before an earlier one. A row that has failed ``max_attempts`` times is "dead"; it
still heads its incident's queue (holding the later rows back) until a supervisor retries it by
hand. Other incidents are not held back.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, or_, select, update

from .database import Database, aware, iso, utcnow
from .schema import webhook_outbox

PENDING, DELIVERED, DEAD = "pending", "delivered", "dead"


def _unleased(now: datetime) -> Any:
    return or_(webhook_outbox.c.lease_until.is_(None), webhook_outbox.c.lease_until < now)


def new_delivery_id() -> str:
    return "dlv_" + secrets.token_hex(12)


def delivery_row(row: Any) -> dict[str, Any]:
    return {
        "id": row["id"], "delivery_id": row["delivery_id"], "endpoint": row["endpoint"],
        "incident_id": row["incident_id"], "event_type": row["event_type"], "state": row["state"],
        "attempts": row["attempts"], "created_at": iso(row["created_at"]),
        "next_attempt_at": iso(row["next_attempt_at"]), "delivered_at": iso(row["delivered_at"]),
        "last_error": row["last_error"],
    }


class Outbox:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def add(self, endpoints: Iterable[str], incident_id: str, event_type: str, body: dict[str, Any]) -> list[str]:
        """Queue one event for each endpoint; returns the delivery ids (one per endpoint)."""
        now = utcnow()
        rows: list[dict[str, Any]] = []
        for endpoint in endpoints:
            delivery_id = new_delivery_id()
            payload = {**body, "delivery_id": delivery_id}
            rows.append({
                "delivery_id": delivery_id, "endpoint": endpoint, "incident_id": incident_id,
                "event_type": event_type, "body": json.dumps(payload, separators=(",", ":"), default=str),
                "state": PENDING, "attempts": 0, "created_at": now, "next_attempt_at": now,
            })
        if rows:
            async with self.db.begin() as conn:
                await conn.execute(webhook_outbox.insert(), rows)
        return [r["delivery_id"] for r in rows]

    async def due(self, endpoint: str, now: datetime, limit: int) -> list[dict[str, Any]]:
        """The head row of each incident's queue for ``endpoint``, where that head is due now."""
        heads = (
            select(func.min(webhook_outbox.c.id))
            .where(webhook_outbox.c.endpoint == endpoint, webhook_outbox.c.state != DELIVERED)
            .group_by(webhook_outbox.c.incident_id)
            .scalar_subquery()
        )
        query = (
            select(webhook_outbox)
            .where(
                webhook_outbox.c.id.in_(heads), webhook_outbox.c.state == PENDING,
                webhook_outbox.c.next_attempt_at <= now, _unleased(now),
            )
            .order_by(webhook_outbox.c.id)
            .limit(limit)
        )
        async with self.db.connect() as conn:
            return [dict(r) for r in (await conn.execute(query)).mappings().all()]

    async def claim(self, row_id: int, owner: str, now: datetime, seconds: float) -> bool:
        """Take a due row for ``seconds`` so that no other node posts it meanwhile; False if taken."""
        async with self.db.begin() as conn:
            result = await conn.execute(
                update(webhook_outbox)
                .where(webhook_outbox.c.id == row_id, webhook_outbox.c.state == PENDING, _unleased(now))
                .values(lease_owner=owner[:64], lease_until=now + timedelta(seconds=seconds))
            )
        return result.rowcount == 1

    async def release(self, owner: str) -> None:
        """Give up the rows ``owner`` holds: it stopped, or it started again after a crash."""
        async with self.db.begin() as conn:
            await conn.execute(
                update(webhook_outbox).where(webhook_outbox.c.lease_owner == owner[:64])
                .values(lease_owner=None, lease_until=None)
            )

    async def next_due_at(self, endpoint: str) -> datetime | None:
        async with self.db.connect() as conn:
            value = (
                await conn.execute(
                    select(func.min(webhook_outbox.c.next_attempt_at)).where(
                        webhook_outbox.c.endpoint == endpoint, webhook_outbox.c.state == PENDING
                    )
                )
            ).scalar()
        return aware(value)

    async def delivered(self, row_id: int) -> None:
        async with self.db.begin() as conn:
            await conn.execute(
                update(webhook_outbox).where(webhook_outbox.c.id == row_id)
                .values(state=DELIVERED, delivered_at=utcnow(), attempts=webhook_outbox.c.attempts + 1, last_error=None,
                        lease_owner=None, lease_until=None)
            )

    async def failed(self, row_id: int, attempts: int, error: str, retry_in: float | None) -> None:
        """Note a failed try; ``retry_in`` None means give up (the row becomes dead)."""
        values: dict[str, Any] = {
            "attempts": attempts, "last_error": error[:300], "lease_owner": None, "lease_until": None,
        }
        if retry_in is None:
            values["state"] = DEAD
        else:
            values["next_attempt_at"] = utcnow() + timedelta(seconds=retry_in)
        async with self.db.begin() as conn:
            await conn.execute(update(webhook_outbox).where(webhook_outbox.c.id == row_id).values(**values))

    async def list(self, state: str | None = None, limit: int = 200) -> list[dict[str, Any]]:
        query = select(webhook_outbox).order_by(webhook_outbox.c.id.desc()).limit(limit)
        if state is not None:
            query = query.where(webhook_outbox.c.state == state)
        async with self.db.connect() as conn:
            return [delivery_row(r) for r in (await conn.execute(query)).mappings().all()]

    async def counts(self) -> dict[str, int]:
        async with self.db.connect() as conn:
            rows = (
                await conn.execute(
                    select(webhook_outbox.c.state, func.count()).group_by(webhook_outbox.c.state)
                )
            ).all()
        return {PENDING: 0, DELIVERED: 0, DEAD: 0, **{state: int(n) for state, n in rows}}

    async def retry(self, delivery_id: str, actor: str) -> dict[str, Any] | None:
        """Put a dead delivery back in the queue, now, with a fresh count; audited."""
        async with self.db.begin() as conn:
            row = (
                await conn.execute(select(webhook_outbox).where(webhook_outbox.c.delivery_id == delivery_id))
            ).mappings().first()
            if row is None or row["state"] != DEAD:
                return None
            await conn.execute(
                update(webhook_outbox).where(webhook_outbox.c.id == row["id"])
                .values(state=PENDING, attempts=0, next_attempt_at=utcnow(), lease_owner=None, lease_until=None)
            )
            await self.db.audit(
                conn, actor, "webhook.retried", row["incident_id"],
                {"delivery_id": delivery_id, "endpoint": row["endpoint"], "event_type": row["event_type"]},
            )
            fresh = (
                await conn.execute(select(webhook_outbox).where(webhook_outbox.c.id == row["id"]))
            ).mappings().first()
        return delivery_row(fresh)
