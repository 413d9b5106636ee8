"""Evidence exports as the record makes them: the stored chain checked end to end and against its
signed checkpoints, then one consistent view of an incident, its chain and a signed head.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import select

from .chain import ChainChecker
from .checkpoints import Checkpoints
from .database import Database, iso, new_id
from .incidents import Incidents
from .schema import audit, checkpoints
from .signing import chain_against_checkpoints, sign_checkpoint


class ChainBroken(Exception):
    """The stored chain does not verify: nothing is exported from it."""


@dataclass
class Export:
    record: dict[str, Any]
    chain: list[dict[str, Any]]
    checkpoints: list[dict[str, Any]]
    export: dict[str, Any]


async def check_stored_chain(db: Database, checker: ChainChecker | None = None) -> ChainChecker:
    """Verify the stored chain (onwards from ``checker``) and compare it with every signed
    checkpoint; raises :class:`ChainBroken` saying what is wrong."""
    async with db.connect() as conn:
        signed = (await conn.execute(select(checkpoints.c.seq, checkpoints.c.hash, checkpoints.c.at))).all()
    if checker is None:
        checker = ChainChecker(watch=[row[0] for row in signed])
    await db.verify(checker)
    if checker.broken is not None:
        raise ChainBroken(str(checker.broken))
    problems = chain_against_checkpoints(
        checker.watched, checker.seq, [{"seq": s, "hash": h, "at": at} for s, h, at in signed]
    )
    if problems:
        raise ChainBroken(problems[0])
    return checker


async def export_incident(
    db: Database, incidents: Incidents, signer: Checkpoints, incident_id: str, actor: str
) -> Export:
    """Check the chain, then read the record and append the export's own entry under the writer
    lock (so no item can land between them), and sign the chain up to that entry."""
    checker = await check_stored_chain(db)
    export_id = new_id("exp")
    async with db.begin() as conn:
        await check_stored_chain(db, checker)  # whatever was written since, up to the lock
        record = await incidents.record(incident_id)
        if record is None:
            raise KeyError(incident_id)
        digest = await db.audit(conn, actor, "bundle.exported", incident_id, {"export_id": export_id})
    async with db.connect() as conn:
        seq, at = (await conn.execute(select(audit.c.seq, audit.c.at).where(audit.c.hash == digest))).one()
    head = await signer.store(sign_checkpoint(signer.key, seq, digest, iso(at) or ""), "export")
    # Read in batches; other incidents' entries come as their hashes only (no details read).
    chain = [e async for e in db.chain_for(incident_id, until=seq)]
    own = [e["seq"] for e in chain if e.get("incident_id") == incident_id]
    signed = await signer.between(max(1, min(own, default=seq) - 1), seq)
    if head not in signed:
        signed.append(head)
    return Export(record, chain, signed,
                  {"id": export_id, "by": actor, "at": head["at"], "seq": seq})
