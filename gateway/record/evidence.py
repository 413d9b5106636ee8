"""Evidence exports as the record makes them: the stored chain checked (onwards from its newest
trusted checkpoint) and against its signed checkpoints, then one consistent view of an incident,
its chain and a signed head.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import select

from .checkpoints import Checkpoints
from .database import Database, iso, new_id
from .incidents import Incidents
from .schema import audit
from .signing import sign_checkpoint
from .verification import ChainBroken, check_stored_chain

__all__ = ["ChainBroken", "Export", "check_stored_chain", "export_incident"]


@dataclass
class Export:
    record: dict[str, Any]
    chain: list[dict[str, Any]]
    checkpoints: list[dict[str, Any]]
    export: dict[str, Any]
    # The chain was checked from the entry after this one (a trusted checkpoint's; 0: from the first).
    verified_after: int = 0


async def export_incident(
    db: Database, incidents: Incidents, signer: Checkpoints, incident_id: str, actor: str
) -> Export:
    """Check the chain, then read the record and append the export's own entry under the writer
    lock (so no item can land between them), and sign the chain up to that entry.

    The chain is checked onwards from the newest checkpoint the gateway's key vouches for, or
    from its first entry when there is none (gateway/record/verification.py); raises
    :class:`ChainBroken` when it does not verify.
    """
    public_key = signer.key.public_key()
    verified = await check_stored_chain(db, public_key, resume=True)
    export_id = new_id("exp")
    async with db.begin() as conn:
        # Whatever was written since, up to the lock.
        await check_stored_chain(db, public_key, verification=verified)
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
    return Export(record, chain, signed, {"id": export_id, "by": actor, "at": head["at"], "seq": seq},
                  verified.started_after)
