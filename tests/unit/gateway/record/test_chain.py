"""The audit chain's formats: a version-2 entry's hash is the SHA-256 of canonical JSON with its
sequence number; version-1 entries from older releases still verify; gaps, forks, edits and purges
are told apart."""

import hashlib
import json

from gateway.record.chain import (
    GENESIS,
    canonical,
    detail_digest,
    entry_hash_v2,
    redact_for,
    verify_chain,
)


def sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def v2_entry(seq: int, prev: str, detail: dict, action: str = "fix.recorded", incident: str | None = "inc_1") -> dict:
    nonce = f"{seq:032x}"
    detail_sha = sha(json.dumps({"detail": detail, "nonce": nonce}, sort_keys=True, separators=(",", ":")))
    at = f"2026-01-01T00:00:{seq % 60:02d}.000Z"
    envelope = {"v": 2, "seq": seq, "prev": prev, "at": at, "actor": "caller", "action": action,
                "incident": incident, "detail_sha256": detail_sha}
    return {"seq": seq, "version": 2, "at": at, "actor": "caller", "action": action, "incident_id": incident,
            "detail": detail, "nonce": nonce, "detail_sha256": detail_sha, "prev_hash": prev,
            "hash": sha(json.dumps(envelope, sort_keys=True, separators=(",", ":"))), "purged_at": None}


def v1_entry(seq: int, prev: str, detail: dict) -> dict:
    at = "2025-06-01T10:00:00.000Z"
    body = json.dumps(detail, sort_keys=True, separators=(",", ":"))
    return {"seq": seq, "version": 1, "at": at, "actor": "handler1", "action": "incident.created",
            "incident_id": "inc_1", "detail": detail, "prev_hash": prev,
            "hash": sha("|".join([prev, at, "handler1", "incident.created", "inc_1", body]))}


def chain_of(n: int, start: list[dict] | None = None) -> list[dict]:
    entries = list(start or [])
    for _ in range(n):
        prev = entries[-1]["hash"] if entries else GENESIS
        entries.append(v2_entry(len(entries) + 1, prev, {"seq": len(entries), "sha256": "ab" * 32}))
    return entries


def test_the_canonical_form_has_sorted_keys_no_spaces_and_plain_utf8():
    assert canonical({"b": 1, "a": "é", "c": [1, {"y": 2, "x": None}]}) == '{"a":"é","b":1,"c":[1,{"x":null,"y":2}]}'


def test_fields_cannot_slide_into_each_other_as_with_the_joined_format():
    one = entry_hash_v2(1, GENESIS, "t", "a|b", "c", None, "d" * 64)
    other = entry_hash_v2(1, GENESIS, "t", "a", "b|c", None, "d" * 64)
    assert one != other


def test_the_sequence_number_is_part_of_the_hash():
    assert entry_hash_v2(1, GENESIS, "t", "a", "b", None, "d" * 64) != entry_hash_v2(
        2, GENESIS, "t", "a", "b", None, "d" * 64
    )


def test_a_chain_written_to_the_specification_verifies():
    assert verify_chain(chain_of(5)) is None


def test_an_old_release_chain_verifies_and_continues_in_the_new_format():
    first = v1_entry(1, GENESIS, {"reference": "WYP-1"})
    second = v1_entry(2, first["hash"], {"reference": "WYP-2"})
    entries = chain_of(3, [first, second])
    assert [e["version"] for e in entries] == [1, 1, 2, 2, 2]
    assert verify_chain(entries) is None
    entries[1]["detail"]["reference"] = "WYP-9"
    broken = verify_chain(entries)
    assert broken is not None and broken.seq == 2 and "content" in broken.reason


def test_an_edited_detail_is_found_at_its_entry():
    entries = chain_of(4)
    entries[2]["detail"]["sha256"] = "cd" * 32
    broken = verify_chain(entries)
    assert broken is not None and broken.seq == 3 and "detail" in broken.reason


def test_a_missing_entry_and_a_fork_are_found():
    entries = chain_of(5)
    broken = verify_chain(entries[:2] + entries[3:])
    assert broken is not None and broken.seq == 3 and "missing" in broken.reason
    forked = chain_of(2)
    forked.append(v2_entry(3, forked[0]["hash"], {"x": 1}))  # extends entry 1, not entry 2
    broken = verify_chain(forked)
    assert broken is not None and broken.seq == 3 and "follow" in broken.reason


def test_a_renumbered_entry_no_longer_matches_its_hash():
    entries = chain_of(3)
    # Entry 2 cut out, entry 3 renumbered and re-pointed to close the gap: its hash no longer fits.
    entries = entries[:1] + [dict(entries[2], seq=2, prev_hash=entries[0]["hash"])]
    broken = verify_chain(entries)
    assert broken is not None and broken.seq == 2


def test_a_purged_detail_still_links_but_an_unmarked_missing_one_does_not():
    entries = chain_of(3)
    entries[1] = dict(entries[1], detail=None, nonce=None, purged_at="2026-02-01T00:00:00.000Z")
    assert verify_chain(entries) is None
    entries[1]["purged_at"] = None
    broken = verify_chain(entries)
    assert broken is not None and broken.seq == 2 and "purged" in broken.reason


def test_the_nonce_hides_a_purged_detail_that_could_be_guessed():
    assert detail_digest({"answer": "yes"}, "a" * 32) != detail_digest({"answer": "yes"}, "b" * 32)


def test_other_incidents_entries_are_redacted_but_still_link():
    entries = chain_of(3)
    entries[1] = v2_entry(2, entries[0]["hash"], {"secret": "+447700900000"}, incident="inc_2")
    entries[2] = v2_entry(3, entries[1]["hash"], {"x": 1})
    redacted = redact_for(entries, "inc_1")
    assert redacted[1] == {"seq": 2, "prev_hash": entries[0]["hash"], "hash": entries[1]["hash"]}
    assert verify_chain(redacted) is None
    redacted[1]["hash"] = "0" * 63 + "1"
    broken = verify_chain(redacted)
    assert broken is not None and broken.seq == 3
