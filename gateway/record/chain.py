"""The audit chain as data: how an entry is hashed, how a chain and its signed checkpoints are
checked. Pure: no database, no files, no clock.

Two entry formats live in one chain, told apart by each entry's ``version``:

* **version 1** (releases before the canonical format): ``sha256(prev|at|actor|action|incident|detail)``,
  the fields joined with ``|``. Ambiguous (``a|b`` + ``c`` = ``a`` + ``b|c``) and without a sequence
  number, it is kept only so that chains written by those releases still verify.
* **version 2**: ``sha256`` of the canonical JSON (sorted keys, no spaces, UTF-8, no NaN) of
  ``{"v": 2, "seq", "prev", "at", "actor", "action", "incident", "detail_sha256"}``, where
  ``detail_sha256`` is ``sha256`` of the canonical JSON of ``{"detail": detail, "nonce": nonce}``.
  The nonce (random, per entry) keeps a short detail (a phone number, a "yes") from being guessed
  back out of its hash once the retention purge has removed the detail itself: a purged entry
  keeps ``detail_sha256`` and still links the chain, but no longer says what it held.

A chain written by an older release switches to version 2 at its first new entry; the sequence
numbers of the old entries are their positions in the chain (1, 2, ...), given to them when the
database was upgraded.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

GENESIS = "0" * 64
LEGACY = 1
CURRENT = 2


def canonical(obj: Any) -> str:
    """Canonical JSON: sorted keys, no whitespace, UTF-8 as is; only JSON types (no NaN)."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


def sha256_hex(data: bytes | str) -> str:
    if isinstance(data, str):
        data = data.encode()
    return hashlib.sha256(data).hexdigest()


def detail_digest(detail: Any, nonce: str) -> str:
    return sha256_hex(canonical({"detail": detail, "nonce": nonce}))


def entry_hash_v2(
    seq: int, prev: str, at: str, actor: str, action: str, incident_id: str | None, detail_sha256: str
) -> str:
    return sha256_hex(canonical({
        "v": CURRENT, "seq": seq, "prev": prev, "at": at, "actor": actor, "action": action,
        "incident": incident_id, "detail_sha256": detail_sha256,
    }))


def entry_hash_v1(prev: str, at: str, actor: str, action: str, incident_id: str | None, detail: str) -> str:
    """``at`` is the entry's time as the record shows it (ISO 8601, milliseconds, ``Z``)."""
    return sha256_hex("|".join([prev, at, actor, action, incident_id or "", detail]))


def legacy_detail_text(detail: Any) -> str:
    """How version-1 entries serialised their detail (``default=str``, as that release did)."""
    return json.dumps(detail, sort_keys=True, separators=(",", ":"), default=str, ensure_ascii=False)


@dataclass(frozen=True)
class ChainBreak:
    """Where and why a chain stops verifying."""

    seq: int
    reason: str

    def __str__(self) -> str:
        return f"audit chain broken at entry {self.seq}: {self.reason}"


def is_redacted(entry: Mapping[str, Any]) -> bool:
    """Another incident's entry in a bundle: only its sequence number and hashes are shown."""
    return "action" not in entry


def expected_hash(entry: Mapping[str, Any]) -> str | None:
    """The hash an entry must carry given its content; None for a redacted entry."""
    if is_redacted(entry):
        return None
    if int(entry.get("version") or LEGACY) == LEGACY:
        return entry_hash_v1(
            entry["prev_hash"], entry["at"], entry["actor"], entry["action"], entry["incident_id"],
            legacy_detail_text(entry["detail"]),
        )
    return entry_hash_v2(
        int(entry["seq"]), entry["prev_hash"], entry["at"], entry["actor"], entry["action"],
        entry["incident_id"], entry["detail_sha256"],
    )


def entry_problem(entry: Mapping[str, Any]) -> str | None:
    """What is wrong with one entry on its own (its content against its hashes), if anything."""
    if is_redacted(entry):
        return None
    version = int(entry.get("version") or LEGACY)
    if version not in (LEGACY, CURRENT):
        return f"unknown entry format version {version}"
    if version == CURRENT:
        if entry.get("detail") is None:
            if not entry.get("purged_at"):
                return "its detail is missing and it is not marked as purged"
        elif detail_digest(entry["detail"], entry.get("nonce") or "") != entry.get("detail_sha256"):
            return "its detail differs from the detail hash it was written with"
    elif entry.get("detail") is None:
        return "a version-1 entry cannot be purged and still verify"
    if entry["hash"] != expected_hash(entry):
        return "its content differs from its hash"
    return None


class ChainChecker:
    """Checks a chain entry by entry, in order, without holding it all (for a chain of millions)."""

    def __init__(self, watch: Iterable[int] = ()) -> None:
        self.prev = GENESIS
        self.seq = 0
        self.broken: ChainBreak | None = None
        # The hashes at these sequence numbers (those signed in checkpoints), as they pass.
        self.watch = set(watch)
        self.watched: dict[int, str] = {}

    @classmethod
    def resume(cls, seq: int, head_hash: str, watch: Iterable[int] = ()) -> ChainChecker:
        """A checker that takes entries ``1..seq`` as checked, the last one with ``head_hash`` (a
        signed checkpoint's), and checks from entry ``seq + 1`` on."""
        checker = cls(watch)
        checker.seq, checker.prev = seq, head_hash
        return checker

    def feed(self, entry: Mapping[str, Any]) -> ChainBreak | None:
        if self.broken is not None:
            return self.broken
        seq = int(entry["seq"]) if entry.get("seq") is not None else self.seq + 1
        if seq != self.seq + 1:
            self.broken = ChainBreak(self.seq + 1, f"entry {self.seq + 1} is missing (next is {seq})")
        elif entry["prev_hash"] != self.prev:
            self.broken = ChainBreak(seq, "it does not follow from the entry before it")
        else:
            problem = entry_problem(entry)
            if problem:
                self.broken = ChainBreak(seq, problem)
        self.seq, self.prev = seq, entry["hash"]
        if seq in self.watch:
            self.watched[seq] = entry["hash"]
        return self.broken


def verify_chain(entries: Iterable[Mapping[str, Any]]) -> ChainBreak | None:
    """Check a whole audit log in order: the first break, or None when every entry holds.

    An entry may be redacted to ``{"seq", "prev_hash", "hash"}`` (another incident's, in an
    evidence bundle): its link to its neighbours is still checked, its content cannot be.
    """
    checker = ChainChecker()
    for entry in entries:
        if checker.feed(entry):
            break
    return checker.broken


def redact_for(entries: Iterable[Mapping[str, Any]], incident_id: str) -> list[dict[str, Any]]:
    """The chain with every other incident's entries reduced to their hashes."""
    return [
        dict(e) if e["incident_id"] == incident_id
        else {"seq": e["seq"], "prev_hash": e["prev_hash"], "hash": e["hash"]}
        for e in entries
    ]
