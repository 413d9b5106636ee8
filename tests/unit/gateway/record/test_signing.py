"""The checkpoint key and signatures: a private key file only its owner reads, signatures that
fail on any change, and checkpoints that tell a chain cut short from one rewritten."""

import os
import stat

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from gateway.record.signing import (
    chain_against_checkpoints,
    key_id,
    load_or_create_key,
    load_public_key,
    public_pem,
    sign_checkpoint,
    signature_problem,
)

AT = "2026-12-02T03:00:00.000Z"


def test_the_key_is_made_once_with_mode_0600_and_read_back(tmp_path):
    path = tmp_path / "keys" / "checkpoint.key"
    key = load_or_create_key(path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert key_id(load_or_create_key(path).public_key()) == key_id(key.public_key())
    assert [p.name for p in path.parent.iterdir()] == ["checkpoint.key"]  # no temporary file left


def test_a_key_file_others_can_read_is_refused(tmp_path):
    path = tmp_path / "checkpoint.key"
    load_or_create_key(path)
    os.chmod(path, 0o644)
    with pytest.raises(PermissionError):
        load_or_create_key(path)


def test_the_public_pem_round_trips_and_a_private_key_is_not_a_public_one(tmp_path):
    key = Ed25519PrivateKey.generate()
    pem = public_pem(key.public_key())
    assert pem.startswith("-----BEGIN PUBLIC KEY-----")
    assert key_id(load_public_key(pem.encode())) == key_id(key.public_key())
    with pytest.raises(ValueError):
        load_public_key(b"not a key")


def test_a_signature_holds_only_for_what_was_signed_and_its_key():
    key = Ed25519PrivateKey.generate()
    cp = sign_checkpoint(key, 7, "ab" * 32, AT)
    assert signature_problem(cp, key.public_key()) is None
    for change in ({"seq": 8}, {"hash": "cd" * 32}, {"at": "2026-12-02T03:00:01.000Z"}):
        assert "does not match" in signature_problem({**cp, **change}, key.public_key())
    other = Ed25519PrivateKey.generate().public_key()
    assert "another key" in signature_problem(cp, other)


def test_checkpoints_find_a_chain_cut_short_and_one_rewritten():
    key = Ed25519PrivateKey.generate()
    signed = [sign_checkpoint(key, 2, "b" * 64, AT), sign_checkpoint(key, 4, "d" * 64, AT)]
    chain = {1: "a" * 64, 2: "b" * 64, 3: "c" * 64, 4: "d" * 64}
    assert chain_against_checkpoints(chain, 4, signed) == []
    (cut,) = chain_against_checkpoints({k: v for k, v in chain.items() if k < 4}, 3, signed)
    assert "cut short" in cut and "entry 4" in cut
    (rewritten,) = chain_against_checkpoints({**chain, 2: "e" * 64}, 4, signed)
    assert "rewritten" in rewritten and "entry 2" in rewritten
