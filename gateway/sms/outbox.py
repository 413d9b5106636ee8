"""The default SMS sender: each message is written to a folder and logged, not sent.

Useful for a first install and for training; the console shows every message, so a handler can
read the link out or pass it on another way.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import secrets
from datetime import UTC, datetime
from pathlib import Path

from ..links import mask_tokens
from .base import SmsResult

log = logging.getLogger(__name__)


# Left in the folder once its files have been through mask_folder: later files are written masked.
MASKED_MARK = ".tokens-masked"


def mask_folder(folder: Path) -> int:
    """Mask the link tokens in outbox files that earlier releases wrote with the whole link; returns
    how many files changed. Done once per folder (then :data:`MASKED_MARK` says so); each file is
    replaced whole, so a crash leaves it either as it was or masked."""
    mark = folder / MASKED_MARK
    if not folder.is_dir() or mark.exists():
        return 0
    changed = 0
    for path in sorted(folder.glob("*.json")):
        text = path.read_text(encoding="utf-8")
        masked = mask_tokens(text)
        if masked != text:
            part = path.with_name(path.name + ".part")
            part.write_text(masked, encoding="utf-8")
            os.replace(part, path)
            changed += 1
    mark.touch()
    if changed:
        log.info("masked the link tokens in %d outbox files written by an earlier release", changed)
    return changed


class OutboxSender:
    name = "outbox"

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        folder.mkdir(parents=True, exist_ok=True)

    async def send(self, to: str, body: str) -> SmsResult:
        ref = f"outbox-{secrets.token_hex(8)}"
        # The outbox stands in for the provider but is a file at rest: the link's token is masked
        # (the handler has the whole URL from the console).
        entry = {"id": ref, "to": to, "body": mask_tokens(body), "at": datetime.now(UTC).isoformat()}
        await asyncio.to_thread(self._write, ref, entry)
        log.info("SMS to %s written to outbox as %s", to, ref)
        return SmsResult(provider_ref=ref, status="sent")

    def _write(self, ref: str, entry: dict) -> None:
        (self.folder / f"{ref}.json").write_text(json.dumps(entry, indent=2))
