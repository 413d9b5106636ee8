"""Sending the caller their link by text message, through a configured provider."""

from .base import SmsError, SmsResult, SmsSender, link_message
from .outbox import OutboxSender

__all__ = ["OutboxSender", "SmsError", "SmsResult", "SmsSender", "link_message", "make_sender"]


def make_sender(provider: str, outbox_dir) -> SmsSender:
    if provider == "outbox":
        return OutboxSender(outbox_dir)
    raise ValueError(f"unknown SMS provider {provider!r}; this build knows: outbox")
