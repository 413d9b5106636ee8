"""The interface every SMS provider implements.

The link's text message itself is worded in each caller language (``gateway.i18n.sms_text``), and
what it costs is counted by ``gateway.sms.parts``: tests/unit/gateway/test_sms_text.py holds every
language to two SMS parts with the longest sender name and a 40-character public URL.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol


class SmsError(Exception):
    """The provider refused or could not take the message; ``reason`` is shown to the handler."""

    def __init__(self, reason: str, retryable: bool = False) -> None:
        super().__init__(reason)
        self.reason = reason
        self.retryable = retryable


@dataclass(frozen=True)
class SmsResult:
    provider_ref: str
    status: str  # "sent" when handed over; receipts may later say "delivered" or "failed"


@dataclass(frozen=True)
class Receipt:
    """A provider's final word on one message, from its delivery callback."""

    provider_ref: str
    status: str  # "delivered" or "failed"
    reason: str | None = None  # why it failed, in words a handler can act on


class SmsSender(Protocol):
    @property
    def name(self) -> str: ...

    async def send(self, to: str, body: str) -> SmsResult: ...

