"""Sending the caller their link by text message, through a configured provider.

``outbox`` (the default) stores each message for the console; ``twilio`` and ``govuk_notify`` send
it, wrapped in :class:`RetryingSender` so every provider retries and times out the same way.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..config import SMS_PROVIDERS, ConfigError
from .base import Receipt, SmsError, SmsResult, SmsSender
from .outbox import OutboxSender
from .retry import RetryingSender, RetryPolicy

if TYPE_CHECKING:
    from ..config import Settings

__all__ = [
    "OutboxSender", "Receipt", "RetryPolicy", "RetryingSender", "SmsError", "SmsResult", "SmsSender",
    "close_sender", "make_sender",
]

def make_sender(settings: Settings) -> SmsSender:
    """The sender ``[sms]`` configures; a missing or wrong setting is a :class:`ConfigError`."""
    provider = settings.sms_provider
    table = settings.sms
    if provider == "outbox":
        return OutboxSender(settings.outbox_dir)
    policy = RetryPolicy.from_table(table)
    if provider == "twilio":
        from .twilio import TwilioSender, TwilioSettings

        sender: SmsSender = TwilioSender(TwilioSettings.from_table(table.get("twilio", {}), settings.public_url))
    elif provider == "govuk_notify":
        from .govuk_notify import NotifySender, NotifySettings

        sender = NotifySender(NotifySettings.from_table(table.get("govuk_notify", {})), policy.attempt_timeout)
    else:
        raise ConfigError(f"sms.provider must be one of {', '.join(SMS_PROVIDERS)}, not {provider!r}")
    return RetryingSender(sender, policy)


async def close_sender(sender: SmsSender) -> None:
    """Release what a sender holds open (Twilio's HTTP session); harmless for the others."""
    close = getattr(sender, "aclose", None)
    if close is not None:
        await close()
