"""The stored checkpoints: the chain's head signed with the gateway's key (formats: signing.py)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import select

from .database import Database, iso
from .schema import checkpoints
from .signing import sign_checkpoint


def checkpoint_json(row: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "seq": row["seq"], "hash": row["hash"], "at": iso(row["at"]),
        "key_id": row["key_id"], "signature": row["signature"], "reason": row["reason"],
    }


class Checkpoints:
    """Signs the head and keeps the signatures; one per head at most, unless an export asks."""

    def __init__(self, db: Database, key: Ed25519PrivateKey) -> None:
        self.db = db
        self.key = key

    async def sign_head(self, reason: str, force: bool = False) -> dict[str, Any] | None:
        """Sign the current head; None when the chain is empty, or unmoved since the last one
        (unless ``force``: every export carries a signature of its own time)."""
        head = await self.db.head()
        if head is None:
            return None
        latest = await self.latest()
        if latest is not None and latest["seq"] == head["seq"] and not force:
            return None
        return await self.store(sign_checkpoint(self.key, head["seq"], head["hash"], head["at"]), reason)

    async def store(self, signed: Mapping[str, Any], reason: str) -> dict[str, Any]:
        # Not under the writer lock: a checkpoint is not part of the chain, and signs an entry
        # already committed.
        async with self.db.begin() as conn:
            await conn.execute(checkpoints.insert().values(
                seq=signed["seq"], hash=signed["hash"], at=datetime.fromisoformat(signed["at"].replace("Z", "+00:00")),
                key_id=signed["key_id"], signature=signed["signature"], reason=reason,
            ))
        return {**signed, "reason": reason}

    async def latest(self) -> dict[str, Any] | None:
        async with self.db.connect() as conn:
            row = (
                await conn.execute(
                    select(checkpoints).order_by(checkpoints.c.seq.desc(), checkpoints.c.id.desc()).limit(1)
                )
            ).mappings().first()
        return checkpoint_json(row) if row else None

    async def between(self, first_seq: int, last_seq: int) -> list[dict[str, Any]]:
        """The checkpoints signed over entries ``first_seq`` to ``last_seq``, oldest first."""
        async with self.db.connect() as conn:
            rows = (
                await conn.execute(
                    select(checkpoints)
                    .where(checkpoints.c.seq >= first_seq, checkpoints.c.seq <= last_seq)
                    .order_by(checkpoints.c.seq, checkpoints.c.id)
                )
            ).mappings().all()
        return [checkpoint_json(r) for r in rows]

