"""GOV.UK Notify: sending through a text message template, and its delivery-receipt callbacks.

The official ``notifications-python-client`` signs each request with a JWT made from the API key
(HS256 over ``iss`` = the service id and ``iat``, with the key's secret half). It is synchronous and
its session is not thread-safe, so each send runs in a worker thread with a client of its own.

Notify sends text from a template. The gateway passes two placeholders: ``((link))``, the caller's
URL, and ``((body))``, the whole message as the console shows it (so one template serves every
language). Notify ignores placeholders a template does not use.

Notify's delivery-receipt callbacks carry the bearer token set for the service in Notify; it is
compared in constant time.
"""

from __future__ import annotations

import asyncio
import hmac
import logging
import re
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import requests
from notifications_python_client.errors import APIError, InvalidResponse
from notifications_python_client.notifications import NotificationsAPIClient

from ..config import ConfigError
from .base import Receipt, SmsError, SmsResult

log = logging.getLogger(__name__)

API_URL = "https://api.notifications.service.gov.uk"
STATUS_PATH = "/sms/notify/status"
MIN_TOKEN_LENGTH = 10  # Notify asks for at least this many characters

# Notify's statuses for a text message (https://docs.notifications.service.gov.uk/rest-api.html).
FAILURES = {
    "permanent-failure": "the number does not exist or its network refused the text",
    "temporary-failure": "the phone is switched off, out of signal or its inbox is full",
    "technical-failure": "GOV.UK Notify could not pass the text to a mobile network",
}
_LINK = re.compile(r"https?://\S+")


@dataclass(frozen=True)
class NotifySettings:
    api_key: str
    template_id: str
    sms_sender_id: str | None = None
    callback_bearer_token: str | None = None
    base_url: str = API_URL

    @classmethod
    def from_table(cls, table: Mapping[str, Any]) -> NotifySettings:
        """Read ``[sms.govuk_notify]``; a missing or malformed setting is a :class:`ConfigError`."""
        key = table.get("api_key")
        if not key or not isinstance(key, str):
            raise ConfigError(
                "sms.govuk_notify.api_key (or SCENELINK_NOTIFY_API_KEY) is required "
                "when sms.provider = 'govuk_notify'"
            )
        if not (_is_uuid(key[-73:-37]) and _is_uuid(key[-36:])):
            # The message never repeats the key: it is a secret.
            raise ConfigError(
                "sms.govuk_notify.api_key is not a Notify API key (expected name-serviceid-secret)"
            )
        template = table.get("template_id")
        if not template or not _is_uuid(str(template)):
            raise ConfigError("sms.govuk_notify.template_id is required: the text message template's id")
        token = table.get("callback_bearer_token") or None
        if token is not None and len(str(token)) < MIN_TOKEN_LENGTH:
            raise ConfigError(
                f"sms.govuk_notify.callback_bearer_token must be at least {MIN_TOKEN_LENGTH} characters"
            )
        return cls(
            api_key=key, template_id=str(template), sms_sender_id=table.get("sms_sender_id") or None,
            callback_bearer_token=token, base_url=str(table.get("base_url") or API_URL).rstrip("/"),
        )


class NotifySender:
    name = "govuk_notify"
    label = "GOV.UK Notify"

    def __init__(self, settings: NotifySettings, timeout: float = 10.0) -> None:
        self.settings = settings
        self.timeout = timeout

    async def send(self, to: str, body: str) -> SmsResult:
        personalisation = {"link": link_in(body), "body": body}
        try:
            answer = await asyncio.to_thread(self._send, to, personalisation)
        except APIError as exc:
            raise send_error(exc, self.timeout) from None
        except Exception as exc:  # an unmapped library failure must still reach the handler
            log.exception("unexpected failure sending through GOV.UK Notify")
            raise SmsError(f"GOV.UK Notify sending failed unexpectedly ({type(exc).__name__})") from None
        if not isinstance(answer, dict) or not answer.get("id"):
            raise SmsError("GOV.UK Notify's answer named no notification id")
        log.info("SMS to %s taken by GOV.UK Notify as %s", to, answer["id"])
        return SmsResult(provider_ref=str(answer["id"]), status="sent")

    def _send(self, to: str, personalisation: dict[str, str]) -> Any:
        s = self.settings
        client = NotificationsAPIClient(s.api_key, base_url=s.base_url, timeout=self.timeout)
        try:
            return client.send_sms_notification(
                phone_number=to, template_id=s.template_id, personalisation=personalisation,
                sms_sender_id=s.sms_sender_id,
            )
        finally:
            session = getattr(client, "request_session", None)
            if session is not None:
                session.close()


def send_error(exc: APIError, timeout: float = 0) -> SmsError:
    """Notify's error answer as a reason for the handler, retryable where waiting can help."""
    cause = exc.__cause__
    if isinstance(exc, InvalidResponse):
        return SmsError("GOV.UK Notify gave an answer the gateway cannot read")
    if exc.response is None and isinstance(cause, requests.Timeout):
        return SmsError(f"no answer from GOV.UK Notify within {timeout:.3g} s", retryable=True)
    if exc.response is None:
        return SmsError(f"cannot reach GOV.UK Notify ({type(cause).__name__})", retryable=True)
    status = exc.status_code
    kinds, text = _errors(exc.message)
    said = f"GOV.UK Notify {status}" + (f": {text}" if text else "")
    if status == 403:
        return SmsError(f"GOV.UK Notify refused the gateway's API key, check sms.govuk_notify ({said})")
    if status == 429:
        if "RateLimitError" in kinds:
            return SmsError(f"GOV.UK Notify is limiting how fast the gateway may send ({said})", retryable=True)
        return SmsError(f"the service's daily GOV.UK Notify limit is used up ({said})")
    if status >= 500:
        return SmsError(f"GOV.UK Notify is not working at the moment ({said})", retryable=True)
    lowered = text.lower()
    if "not a uk mobile number" in lowered:
        meaning = "the caller's number is not a UK mobile number"
    elif "team-only api key" in lowered or "trial mode" in lowered:
        meaning = "this Notify key may only text the team's own numbers (a team or trial key)"
    elif "template" in lowered or "personalisation" in lowered:
        meaning = "the Notify template does not fit, check sms.govuk_notify.template_id"
    elif "phone_number" in lowered:
        meaning = "the caller's number is not valid for GOV.UK Notify"
    else:
        meaning = "GOV.UK Notify refused the message"
    return SmsError(f"{meaning} ({said})")


def bearer_ok(expected: str, authorization: str | None) -> bool:
    """True when the ``Authorization`` header carries exactly the configured bearer token."""
    if not authorization or not authorization.startswith("Bearer "):
        return False
    return hmac.compare_digest(authorization[7:].strip().encode(), expected.encode())


def parse_receipt(payload: Any) -> Receipt | None:
    """A delivery-receipt callback's JSON as a :class:`Receipt`; None while still on its way
    (created, sending, pending, sent). Raises ValueError when it names no notification."""
    if not isinstance(payload, dict) or not payload.get("id") or not payload.get("status"):
        raise ValueError("a delivery receipt needs id and status")
    status = payload["status"]
    if status == "delivered":
        return Receipt(provider_ref=str(payload["id"]), status="delivered")
    if status in FAILURES:
        return Receipt(str(payload["id"]), "failed", f"{FAILURES[status]} (GOV.UK Notify {status})")
    return None


def link_in(body: str) -> str:
    """The caller's link inside the message text (for the template's ``((link))``)."""
    found = _LINK.search(body)
    return found.group(0).rstrip(".,;:!?)") if found else body


def _errors(message: Any) -> tuple[set[str], str]:
    # Notify answers {"status_code": 400, "errors": [{"error": "...", "message": "..."}]}.
    if isinstance(message, list):
        kinds = {str(e.get("error", "")) for e in message if isinstance(e, dict)}
        text = "; ".join(str(e.get("message", "")) for e in message if isinstance(e, dict))
        return kinds, text
    return set(), str(message or "")


def _is_uuid(value: str) -> bool:
    try:
        uuid.UUID(value)
    except ValueError:
        return False
    return len(value) == 36
