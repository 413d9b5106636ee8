"""The default SMS sender: each message is written to a folder and logged, not sent.

Useful for a first install and for training; the console shows every message, so a handler can
read the link out or pass it on another way.
"""

from __future__ import annotations

import asyncio
import json
import logging
import secrets
from datetime import UTC, datetime
from pathlib import Path

from ..links import mask_tokens
from .base import SmsResult

log = logging.getLogger(__name__)


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
