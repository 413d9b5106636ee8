"""Snapshot and recording files on disk, addressed by the SHA-256 of their bytes."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path


class BlobStore:
    """Content-addressed files: a blob's name is its hash, so a stored file proves itself."""

    def __init__(self, root: Path) -> None:
        self.root = root
        root.mkdir(parents=True, exist_ok=True)

    def path_for(self, sha256: str) -> Path:
        if len(sha256) != 64 or any(c not in "0123456789abcdef" for c in sha256):
            raise ValueError("not a SHA-256 hex digest")
        return self.root / sha256[:2] / sha256

    def put(self, data: bytes) -> str:
        """Write ``data`` durably (write, fsync, rename) and return its SHA-256."""
        digest = hashlib.sha256(data).hexdigest()
        final = self.path_for(digest)
        if final.exists():
            return digest
        final.parent.mkdir(parents=True, exist_ok=True)
        tmp = final.with_suffix(".part")
        with open(tmp, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, final)
        return digest

    def delete(self, sha256: str) -> bool:
        """Remove a file (the retention purge); False if it was not there."""
        try:
            self.path_for(sha256).unlink()
        except FileNotFoundError:
            return False
        return True

    def get(self, sha256: str) -> bytes:
        return self.path_for(sha256).read_bytes()

    def adopt(self, path: Path) -> tuple[str, int]:
        """Move a finished file into the store; returns its SHA-256 and size.

        The hash is of the bytes as first written, read back once; the file is renamed, not copied.
        """
        digest = hashlib.sha256()
        size = 0
        with open(path, "rb") as fh:
            os.fsync(fh.fileno())
            for chunk in iter(lambda: fh.read(1 << 20), b""):
                digest.update(chunk)
                size += len(chunk)
        sha = digest.hexdigest()
        final = self.path_for(sha)
        final.parent.mkdir(parents=True, exist_ok=True)
        os.replace(path, final)
        return sha, size
