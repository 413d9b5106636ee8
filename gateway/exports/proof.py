"""Tying every item of an exported record to the audit chain, both ways. Pure.

Each item in ``record.json`` is recomputed (gateway/record/items.py) and found in the chain entry
that recorded it; each chain entry that recorded an item of the incident is found in the record.
An item the retention purge removed is accepted as purged (not as tampering) only when a
``retention.purged`` entry of the chain names it. Items recorded before item hashes existed
(version-1 entries) are tied by their identifiers and reported as such, since their content
cannot be recomputed.
"""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from ..record.chain import LEGACY, is_redacted
from ..record.items import item_digest

CONSENT_DETAIL = re.compile(r"^consent text [0-9a-f]{16} in [a-z]{2,3}$")


@dataclass
class Proof:
    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    items_checked: int = 0


class _Chain:
    """The incident's own entries of a chain, indexed by what they recorded."""

    def __init__(self, entries: Iterable[Mapping[str, Any]], incident_id: str) -> None:
        self.by_action: dict[str, list[Mapping[str, Any]]] = defaultdict(list)
        self.by_key: dict[tuple[str, Any], Mapping[str, Any]] = {}
        self.purged: dict[str, dict[str, str]] = defaultdict(dict)  # kind -> {item id: purged at}
        for e in entries:
            if is_redacted(e) or e.get("incident_id") != incident_id:
                continue
            detail = e.get("detail") or {}
            self.by_action[e["action"]].append(e)
            for key in ("snapshot_id", "recording_id", "sms_id", "message_id", "export_id"):
                if key in detail and not e["action"].endswith((".delivered", ".seen")):
                    self.by_key.setdefault((key, detail[key]), e)
            if e["action"] == "fix.recorded" and "sha256" in detail:
                self.by_key.setdefault(("fix", detail["sha256"]), e)
            if e["action"] == "retention.purged":
                for item_id in detail.get("items", []):
                    self.purged[detail.get("kind", "")][str(item_id)] = e["at"]

    def entries(self, *actions: str) -> list[Mapping[str, Any]]:
        return [e for a in actions for e in self.by_action.get(a, [])]


def prove_record(record: Mapping[str, Any], audit: Iterable[Mapping[str, Any]]) -> Proof:
    proof = Proof()
    chain = _Chain(audit, record["id"])
    _incident(record, chain, proof)
    _fixes(record, chain, proof)
    _media(record, chain, proof, "snapshot", "snapshots", "snapshot_id", "snapshot.taken")
    _media(record, chain, proof, "recording", "recordings", "recording_id", "recording.segment")
    _link_states(record, chain, proof)
    _sms(record, chain, proof)
    _messages(record, chain, proof)
    return proof


def _legacy(entry: Mapping[str, Any]) -> bool:
    return int(entry.get("version") or LEGACY) == LEGACY


def _purged(kind: str, item: Mapping[str, Any], chain: _Chain, proof: Proof, name: str) -> bool:
    """True when the item is a tombstone; a problem unless the chain records its purge."""
    if not item.get("purged_at"):
        return False
    if str(item["id"]) not in chain.purged.get(kind, {}):
        proof.problems.append(f"{name}: marked as purged, but no purge of it is in the audit chain")
    else:
        proof.notes.append(f"{name}: purged at {item['purged_at']} (its hash stays in the chain)")
    return True


def _incident(record: Mapping[str, Any], chain: _Chain, proof: Proof) -> None:
    created = chain.entries("incident.created")
    if not created:
        proof.problems.append(f"incident {record['id']}: its creation is not in the audit chain")
        return
    detail = created[0].get("detail")
    if detail is None:
        proof.notes.append(f"incident {record['id']}: creation details purged")
        return
    if detail.get("reference") != record.get("reference"):
        proof.problems.append(f"incident {record['id']}: reference differs from the one recorded in the chain")
    if record.get("caller_phone") and detail.get("caller_phone") != record["caller_phone"]:
        proof.problems.append(f"incident {record['id']}: caller's number differs from the one recorded in the chain")


def _fixes(record: Mapping[str, Any], chain: _Chain, proof: Proof) -> None:
    seen = set()
    for fix in record.get("fixes", []):
        proof.items_checked += 1
        name = f"fix {fix['id']}"
        seen.add(fix.get("sha256"))
        entry = chain.by_key.get(("fix", fix.get("sha256")))
        if entry is None:
            proof.problems.append(f"{name}: not in the audit chain (no fix.recorded entry with its hash)")
            continue
        if _purged("fixes", fix, chain, proof, name):
            continue
        if _legacy(entry):
            proof.notes.append(f"{name}: recorded before item hashes (tied by its hash, content not recomputed)")
        elif item_digest("fix", fix) != fix["sha256"]:
            proof.problems.append(f"{name}: its position or times differ from what was recorded")
    for entry in chain.entries("fix.recorded"):
        if entry["detail"] is not None and entry["detail"].get("sha256") not in seen:
            proof.problems.append(f"fix recorded at audit entry {entry['seq']}: missing from the record")


def _media(
    record: Mapping[str, Any], chain: _Chain, proof: Proof, kind: str, plural: str, key: str, action: str
) -> None:
    seen = set()
    for item in record.get(plural, []):
        proof.items_checked += 1
        name = f"{kind} {item['id']}"
        entry = chain.by_key.get((key, item["id"]))
        if entry is None:  # a recording from before recordings were named in the chain
            entry = next((e for e in chain.entries(action) if _legacy(e)
                          and (e.get("detail") or {}).get("sha256") == item.get("sha256")), None)
        if entry is None:
            proof.problems.append(f"{name}: not in the audit chain")
            continue
        seen.add(entry["seq"])
        detail = entry.get("detail") or {}
        if detail.get("sha256") != item.get("sha256"):
            proof.problems.append(f"{name}: its file hash differs from the one in the audit chain")
        if "thumb_sha256" in detail and detail["thumb_sha256"] != item.get("thumb_sha256"):
            proof.problems.append(f"{name}: its thumbnail hash differs from the one in the audit chain")
        if "item_sha256" in detail and detail["item_sha256"] != item_digest(kind, item):
            proof.problems.append(f"{name}: its details differ from what was recorded")
        _purged(plural, item, chain, proof, name)
    for entry in chain.entries(action):
        if entry["seq"] not in seen:
            proof.problems.append(f"{kind} recorded at audit entry {entry['seq']}: missing from the record")


def _link_states(record: Mapping[str, Any], chain: _Chain, proof: Proof) -> None:
    link_entries = [e for e in chain.by_action.items() if e[0].startswith("link.")]
    recorded = Counter(
        e["detail"]["state_sha256"] for _, entries in link_entries for e in entries
        if e.get("detail") and "state_sha256" in e["detail"]
    )
    legacy = Counter(
        (e["detail"].get("link_id"), action.removeprefix("link."))
        for action, entries in link_entries for e in entries if _legacy(e) and e.get("detail")
    )
    for link in record.get("links", []):
        for state in link.get("states", []):
            proof.items_checked += 1
            name = f"link {link['id']} state {state['state']} at {state['at']}"
            digest = item_digest("link_state", {**state, "link_id": link["id"]})
            if recorded[digest] > 0:
                recorded[digest] -= 1
                if state["state"] == "consented" and not CONSENT_DETAIL.match(state.get("detail") or ""):
                    proof.problems.append(f"{name}: consent recorded without its text's version and language")
            elif legacy[(link["id"], state["state"])] > 0:
                legacy[(link["id"], state["state"])] -= 1
                proof.notes.append(f"{name}: recorded before item hashes (tied by link and state only)")
            else:
                proof.problems.append(f"{name}: not in the audit chain")
    for digest, count in recorded.items():
        if count > 0:
            proof.problems.append(f"link state {digest[:12]}… recorded in the audit chain: missing from the record")


def _masked_to(recorded: str, masks: list[Mapping[str, Any]]) -> str:
    """The digest an SMS recorded as ``recorded`` has after the ``sms.masked`` entries that followed
    it (each names the digest before and after its token was masked at rest), in chain order."""
    for entry in masks:
        if entry["detail"].get("was_sha256") == recorded:
            recorded = entry["detail"].get("item_sha256")
    return recorded


def _sms(record: Mapping[str, Any], chain: _Chain, proof: Proof) -> None:
    updates: dict[str, list[Mapping[str, Any]]] = defaultdict(list)
    masks: dict[str, list[Mapping[str, Any]]] = defaultdict(list)
    for action, entries in chain.by_action.items():
        if action.startswith("sms.") and action != "sms.queued":
            for e in entries:
                if e.get("detail"):
                    (masks if action == "sms.masked" else updates)[e["detail"].get("sms_id")].append(e)
    seen = set()
    for sms in record.get("messages", []):
        proof.items_checked += 1
        name = f"SMS {sms['id']}"
        seen.add(sms["id"])
        entry = chain.by_key.get(("sms_id", sms["id"]))
        if entry is None or entry["action"] != "sms.queued":
            proof.problems.append(f"{name}: not in the audit chain")
            continue
        last = updates[sms["id"]][-1]["action"].removeprefix("sms.") if updates[sms["id"]] else "queued"
        if last != sms.get("status"):
            proof.problems.append(f"{name}: status {sms.get('status')!r} differs from the chain's {last!r}")
        if _purged("conversation", sms, chain, proof, name):
            continue
        detail = entry.get("detail") or {}
        if "item_sha256" in detail:
            digest = item_digest("sms", sms)
            if digest != detail["item_sha256"]:
                if digest == _masked_to(detail["item_sha256"], masks[sms["id"]]):
                    proof.notes.append(f"{name}: its link token was masked at rest after it was sent (sms.masked)")
                else:
                    proof.problems.append(f"{name}: its number or text differ from what was recorded")
        elif detail.get("to") is not None and detail["to"] != sms.get("to"):
            proof.problems.append(f"{name}: its number differs from the one in the audit chain")
    for entry in chain.entries("sms.queued"):
        if entry.get("detail") and entry["detail"].get("sms_id") not in seen:
            proof.problems.append(f"SMS recorded at audit entry {entry['seq']}: missing from the record")


def _messages(record: Mapping[str, Any], chain: _Chain, proof: Proof) -> None:
    marks: dict[tuple[str, str], str] = {}
    for action in ("message.delivered", "message.seen"):
        for e in chain.entries(action):
            if e.get("detail"):
                marks[(e["detail"]["message_id"], action.removeprefix("message."))] = e["detail"].get("at")
    seen = set()
    for message in record.get("conversation", []):
        proof.items_checked += 1
        name = f"message {message['id']}"
        seen.add(message["id"])
        entry = chain.by_key.get(("message_id", message["id"]))
        if entry is None:
            proof.problems.append(f"{name}: not in the audit chain")
            continue
        for mark in ("delivered", "seen"):
            if message.get(f"{mark}_at") != marks.get((message["id"], mark)):
                proof.problems.append(f"{name}: its {mark} time differs from the audit chain")
        if _purged("conversation", message, chain, proof, name):
            continue
        detail = entry.get("detail") or {}
        if "item_sha256" in detail:
            if detail["item_sha256"] != item_digest("message", message):
                proof.problems.append(f"{name}: its text or details differ from what was recorded")
        elif "text" in detail and detail["text"] != message.get("text"):
            proof.problems.append(f"{name}: its text differs from the audit chain")
    for entry in chain.entries("message.sent", "message.received"):
        if entry.get("detail") and entry["detail"].get("message_id") not in seen:
            proof.problems.append(f"message recorded at audit entry {entry['seq']}: missing from the record")
