"""Signed checkpoints: the gateway's Ed25519 key signs the chain's head, so that a chain rewritten
or cut short after the signature is found by anyone holding the public key.

A checkpoint is ``{"seq", "hash", "at", "key_id", "signature"}``; the signed bytes are the
canonical JSON of ``{"scenelink": "checkpoint", "v": 1, "seq", "hash", "at"}``. ``key_id`` is the
first 16 hex digits of the SHA-256 of the raw 32-byte public key. The checks here are pure; only
:func:`load_or_create_key` touches a file.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from .chain import canonical, sha256_hex


def checkpoint_message(seq: int, head_hash: str, at: str) -> bytes:
    return canonical({"scenelink": "checkpoint", "v": 1, "seq": seq, "hash": head_hash, "at": at}).encode()


def key_id(public_key: Ed25519PublicKey) -> str:
    raw = public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return sha256_hex(raw)[:16]


def public_pem(public_key: Ed25519PublicKey) -> str:
    return public_key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    ).decode()


def load_public_key(pem: bytes) -> Ed25519PublicKey:
    """A public key from PEM; ValueError if it is not an Ed25519 key."""
    key = serialization.load_pem_public_key(pem)
    if not isinstance(key, Ed25519PublicKey):
        raise ValueError("not an Ed25519 public key")
    return key


def sign_checkpoint(key: Ed25519PrivateKey, seq: int, head_hash: str, at: str) -> dict[str, Any]:
    return {
        "seq": seq, "hash": head_hash, "at": at, "key_id": key_id(key.public_key()),
        "signature": key.sign(checkpoint_message(seq, head_hash, at)).hex(),
    }


def signature_problem(checkpoint: Mapping[str, Any], public_key: Ed25519PublicKey) -> str | None:
    """Why the checkpoint's signature does not hold under ``public_key``, or None if it does."""
    if checkpoint.get("key_id") != key_id(public_key):
        return f"checkpoint at entry {checkpoint.get('seq')} was signed with another key ({checkpoint.get('key_id')})"
    try:
        public_key.verify(
            bytes.fromhex(str(checkpoint["signature"])),
            checkpoint_message(int(checkpoint["seq"]), str(checkpoint["hash"]), str(checkpoint["at"])),
        )
    except (InvalidSignature, ValueError, KeyError, TypeError):
        return f"checkpoint at entry {checkpoint.get('seq')}: the signature does not match"
    return None


def chain_against_checkpoints(
    hashes: Mapping[int, str], last_seq: int, checkpoints: Iterable[Mapping[str, Any]]
) -> list[str]:
    """What the signed checkpoints say about a chain given as ``{seq: hash}`` ending at ``last_seq``.

    A checkpoint past the chain's end means the chain was cut short; one whose hash differs
    from the chain's entry at its sequence number means the chain was rewritten.
    """
    problems = []
    for cp in checkpoints:
        seq = int(cp["seq"])
        if seq > last_seq:
            problems.append(f"audit chain cut short: a checkpoint signed entry {seq}, the chain ends at {last_seq}")
        elif hashes.get(seq) != cp["hash"]:
            problems.append(f"audit chain rewritten: entry {seq} differs from the one signed at {cp['at']}")
    return problems


def load_or_create_key(path: Path) -> Ed25519PrivateKey:
    """The gateway's signing key from ``path`` (PEM, PKCS#8), made with mode 0600 if absent."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        key = Ed25519PrivateKey.generate()
        pem = key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
        path.parent.mkdir(parents=True, exist_ok=True)
        # Written whole to a private temporary name, then linked into place: two processes starting
        # at once never read half a key, and the one that loses the race uses the winner's.
        tmp = path.with_name(f".{path.name}.{os.getpid()}")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as fh:
            fh.write(pem)
            fh.flush()
            os.fsync(fh.fileno())
        try:
            os.link(tmp, path)
        except FileExistsError:
            return load_or_create_key(path)
        finally:
            tmp.unlink()
        return key
    if path.stat().st_mode & 0o077:
        raise PermissionError(f"{path}: the signing key must not be readable by others (chmod 600)")
    loaded = serialization.load_pem_private_key(data, password=None)
    if not isinstance(loaded, Ed25519PrivateKey):
        raise ValueError(f"{path}: not an Ed25519 private key")
    return loaded
