"""Checking the stored audit chain: end to end (``scenelink verify``), or onwards from the newest
checkpoint the gateway's key vouches for (every export).

A full check reads every entry, which for a chain of millions takes minutes; an export needs to
know only that nothing since the last trusted point was changed. A checkpoint is that point when
its signature holds under the gateway's public key and the stored entry at its sequence number
still has the hash it signed: everything up to there is then what the gateway signed, and the
entries after it are checked one by one, as are the checkpoints from there on. If the newest
checkpoint fails either test, the check starts from the beginning instead (and then reports the
checkpoint as the problem it is). ``scenelink verify`` always checks everything.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from sqlalchemy import select

from .chain import ChainChecker
from .checkpoints import checkpoint_json
from .database import Database
from .schema import audit, checkpoints
from .signing import chain_against_checkpoints, key_id, signature_problem

PROGRESS_EVERY = 50_000


class ChainBroken(Exception):
    """The stored chain does not verify: nothing is exported from it."""


@dataclass
class Verification:
    """How far the stored chain has been checked, and from where."""

    checker: ChainChecker
    # The entry taken as proven by a trusted checkpoint (0: checked from the first entry).
    started_after: int = 0
    checkpoints: int = 0  # checkpoints compared with the chain
    notes: list[str] = field(default_factory=list)

    @property
    def seq(self) -> int:
        return self.checker.seq


async def trusted_checkpoint(db: Database, public_key: Ed25519PublicKey) -> dict[str, Any] | None:
    """The newest checkpoint signed with ``public_key``, if its signature holds and the stored entry
    at its sequence number still has the hash it signed; None otherwise."""
    async with db.connect() as conn:
        row = (
            await conn.execute(
                select(checkpoints)
                .where(checkpoints.c.key_id == key_id(public_key))
                .order_by(checkpoints.c.seq.desc(), checkpoints.c.id.desc())
                .limit(1)
            )
        ).mappings().first()
        if row is None:
            return None
        checkpoint = checkpoint_json(row)
        if signature_problem(checkpoint, public_key) is not None:
            return None
        stored = (await conn.execute(select(audit.c.hash).where(audit.c.seq == checkpoint["seq"]))).scalar()
    return checkpoint if stored == checkpoint["hash"] else None


async def check_stored_chain(
    db: Database,
    public_key: Ed25519PublicKey | None,
    *,
    resume: bool = False,
    verification: Verification | None = None,
    progress: Callable[[int], None] | None = None,
) -> Verification:
    """Check the stored chain and its signed checkpoints; raises :class:`ChainBroken` saying what
    is wrong.

    From the first entry, or with ``resume`` from the newest trusted checkpoint
    (:func:`trusted_checkpoint`), or onwards from where an earlier ``verification`` got to.
    Checkpoints signed with ``public_key`` must carry a valid signature; those signed with another
    key (before a rotation) are compared with the chain by hash only, and noted. ``progress`` is
    called with the entry reached every 50,000 entries.
    """
    if verification is None:
        trusted = await trusted_checkpoint(db, public_key) if resume and public_key is not None else None
        verification = Verification(
            ChainChecker.resume(trusted["seq"], trusted["hash"]) if trusted else ChainChecker(),
            started_after=trusted["seq"] if trusted else 0,
        )
    checker = verification.checker
    async with db.connect() as conn:
        rows = (
            await conn.execute(
                select(checkpoints)
                .where(checkpoints.c.seq >= verification.started_after)
                .order_by(checkpoints.c.seq, checkpoints.c.id)
            )
        ).mappings().all()
    signed = [checkpoint_json(row) for row in rows]
    checker.watch |= {cp["seq"] for cp in signed if cp["seq"] > checker.seq}
    async for entry in db.stream_entries(after=checker.seq):
        if checker.feed(entry):
            break
        if progress is not None and checker.seq % PROGRESS_EVERY == 0:
            progress(checker.seq)
    if checker.broken is not None:
        raise ChainBroken(str(checker.broken))
    hashes = dict(checker.watched)
    # Checkpoints at entries already passed without being watched (the trusted one itself, or any
    # signed since an earlier pass): the entries there were checked, so their stored hashes stand.
    unseen = {cp["seq"] for cp in signed if cp["seq"] <= checker.seq and cp["seq"] not in hashes}
    if unseen:
        async with db.connect() as conn:
            hashes |= dict((await conn.execute(select(audit.c.seq, audit.c.hash).where(audit.c.seq.in_(unseen)))).all())
    problems = chain_against_checkpoints(hashes, checker.seq, signed)
    gateway_key = key_id(public_key) if public_key is not None else None
    verification.notes = []
    for cp in signed:
        if public_key is not None and cp["key_id"] == gateway_key:
            problem = signature_problem(cp, public_key)
            if problem:
                problems.append(problem)
        else:
            verification.notes.append(
                f"checkpoint at entry {cp['seq']} signed with key {cp['key_id']}, not the one given: "
                "compared by hash only"
            )
    if problems:
        raise ChainBroken(problems[0])
    verification.checkpoints = len(signed)
    return verification
