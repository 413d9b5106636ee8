"""The interface every SMS provider implements, and the text of the link message."""

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
    name: str

    async def send(self, to: str, body: str) -> SmsResult: ...


def link_message(sender_name: str, url: str) -> str:
    # Short, plain and under two SMS segments: the caller may be reading it mid-call.
    return (
        f"{sender_name}: tap this link to share your camera and location with us: {url} "
        "Only use it during your call with us."
    )
