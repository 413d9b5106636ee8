"""The database handle and the hash-chained audit log that every other part writes through."""

from __future__ import annotations

import asyncio
import hashlib
import json
import secrets
from datetime import datetime, timezone
from typing import Any, Iterable, Mapping

from sqlalchemy import event, select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

from .schema import audit, metadata

GENESIS = "0" * 64


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


def aware(value: datetime | None) -> datetime | None:
    """SQLite hands back naive datetimes; everything in the record is UTC."""
    if value is None or value.tzinfo is not None:
        return value
    return value.replace(tzinfo=timezone.utc)


def iso(value: datetime | None) -> str | None:
    value = aware(value)
    if value is None:
        return None
    return value.astimezone(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def new_id(prefix: str) -> str:
    return f"{prefix}_{secrets.token_hex(10)}"


def canonical(obj: Any) -> str:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), default=str, ensure_ascii=False)


def sha256_hex(data: bytes | str) -> str:
    if isinstance(data, str):
        data = data.encode()
    return hashlib.sha256(data).hexdigest()


def entry_hash(prev: str, at: datetime, actor: str, action: str, incident_id: str | None, detail: str) -> str:
    return sha256_hex("|".join([prev, iso(at) or "", actor, action, incident_id or "", detail]))


class Database:
    """An async SQLAlchemy engine plus the audit chain.

    Writers that must appear in the audit log call :meth:`audit` inside their own transaction, so
    the item and its audit entry land together or not at all.
    """

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine
        self._chain_lock = asyncio.Lock()

    @classmethod
    async def open(cls, url: str) -> "Database":
        engine = create_async_engine(url)
        if url.startswith("sqlite"):
            @event.listens_for(engine.sync_engine, "connect")
            def _pragmas(dbapi_conn, _record) -> None:  # pragma: no cover - driver callback
                cur = dbapi_conn.cursor()
                cur.execute("PRAGMA journal_mode=WAL")
                cur.execute("PRAGMA foreign_keys=ON")
                cur.execute("PRAGMA synchronous=NORMAL")
                cur.close()

        async with engine.begin() as conn:
            await conn.run_sync(metadata.create_all)
        return cls(engine)

    async def close(self) -> None:
        await self.engine.dispose()

    def begin(self):
        return self.engine.begin()

    def connect(self):
        return self.engine.connect()

    async def audit(
        self,
        conn: AsyncConnection,
        actor: str,
        action: str,
        incident_id: str | None = None,
        detail: Mapping[str, Any] | None = None,
    ) -> str:
        """Append one entry to the chain within ``conn``'s transaction; returns its hash.

        The caller must hold :meth:`chain` so that two writers never read the same previous hash.
        """
        prev = (
            await conn.execute(select(audit.c.hash).order_by(audit.c.id.desc()).limit(1))
        ).scalar() or GENESIS
        at = utcnow()
        body = canonical(detail or {})
        digest = entry_hash(prev, at, actor, action, incident_id, body)
        await conn.execute(
            audit.insert().values(
                at=at, actor=actor, action=action, incident_id=incident_id,
                detail=body, prev_hash=prev, hash=digest,
            )
        )
        return digest

    def chain(self) -> asyncio.Lock:
        return self._chain_lock

    async def record_action(
        self, actor: str, action: str, incident_id: str | None = None, **detail: Any
    ) -> str:
        """Audit an action that writes nothing else."""
        async with self._chain_lock, self.begin() as conn:
            return await self.audit(conn, actor, action, incident_id, detail)

    async def audit_entries(self, incident_id: str | None = None) -> list[dict[str, Any]]:
        query = select(audit).order_by(audit.c.id)
        if incident_id is not None:
            query = query.where(audit.c.incident_id == incident_id)
        async with self.connect() as conn:
            rows = (await conn.execute(query)).mappings().all()
        return [
            {**row, "at": iso(row["at"]), "detail": json.loads(row["detail"])} for row in rows
        ]


def verify_chain(entries: Iterable[Mapping[str, Any]]) -> int | None:
    """Check a whole audit log in order; returns the id of the first broken entry, or None.

    An entry may be redacted to ``{"id", "prev_hash", "hash"}`` (another incident's, in an
    evidence bundle): its link to its neighbours is still checked, its content cannot be.
    """
    prev = GENESIS
    for e in entries:
        if e["prev_hash"] != prev:
            return int(e["id"])
        if "action" in e:
            at = datetime.fromisoformat(e["at"].replace("Z", "+00:00"))
            expected = entry_hash(prev, at, e["actor"], e["action"], e["incident_id"], canonical(e["detail"]))
            if e["hash"] != expected:
                return int(e["id"])
        prev = e["hash"]
    return None


def redact_for(entries: Iterable[Mapping[str, Any]], incident_id: str) -> list[dict[str, Any]]:
    """The chain with every other incident's entries reduced to their hashes."""
    return [
        dict(e) if e["incident_id"] == incident_id
        else {"id": e["id"], "prev_hash": e["prev_hash"], "hash": e["hash"]}
        for e in entries
    ]
