"""Twilio: sending through its Messages API, and checking its signed delivery status callbacks.

Sending uses the official ``twilio`` library's asynchronous client on aiohttp. Twilio's answers are
turned into :class:`SmsError` reasons a call handler can act on ("not a mobile number", "Twilio is
not working"), marked retryable only where trying again can help.

Twilio signs each status callback with ``X-Twilio-Signature``: an HMAC-SHA1, keyed with the account's
auth token, of the URL it posted to followed by the sorted form fields. The URL is the one we gave
it (built from ``public_url``), not the one the request arrived on, so a TLS proxy in front changes
nothing.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import aiohttp
from twilio.base.exceptions import TwilioRestException, TwilioServiceException
from twilio.http.async_http_client import AsyncTwilioHttpClient
from twilio.request_validator import RequestValidator
from twilio.rest import Client

from ..config import ConfigError
from .base import Receipt, SmsError, SmsResult

log = logging.getLogger(__name__)

API_URL = "https://api.twilio.com"
STATUS_PATH = "/sms/twilio/status"

# What Twilio's error codes mean to a handler (https://www.twilio.com/docs/api/errors).
REFUSED = {
    21211: "the caller's number is not a valid phone number",
    21614: "the caller's number is not a mobile number, so it cannot receive a text",
    21612: "Twilio cannot send a text to this number",
    21408: "the Twilio account may not send texts to this country",
    21610: "the caller's phone has blocked texts from this sender (it replied STOP)",
    21606: "the configured sender cannot send texts (check sms.twilio.from_number)",
    21212: "the configured sender is not valid (check sms.twilio.from_number)",
    21617: "the message is too long for Twilio",
}
UNDELIVERED = {
    30003: "the phone is switched off or out of coverage",
    30004: "the message was blocked on the way to the phone",
    30005: "the number is unknown or no longer in use",
    30006: "the number is a landline or its network cannot take texts",
    30007: "the mobile network filtered the message",
    30008: "the mobile network could not deliver it",
}
FINAL = {"delivered": "delivered", "undelivered": "failed", "failed": "failed"}


@dataclass(frozen=True)
class TwilioSettings:
    account_sid: str
    username: str  # the account SID, or an API key SID
    password: str  # the auth token, or the API key's secret
    auth_token: str | None  # verifies status callbacks (an API key cannot)
    from_number: str | None = None
    messaging_service_sid: str | None = None
    status_callback_url: str | None = None
    base_url: str = API_URL

    @classmethod
    def from_table(cls, table: Mapping[str, Any], public_url: str) -> TwilioSettings:
        """Read ``[sms.twilio]``; a missing or contradictory setting is a :class:`ConfigError`."""
        sid = _need(table, "account_sid", "SCENELINK_TWILIO_ACCOUNT_SID")
        token = table.get("auth_token") or None
        key_sid = table.get("api_key_sid") or None
        if key_sid:
            secret = _need(table, "api_key_secret", "SCENELINK_TWILIO_API_KEY_SECRET")
            username, password = key_sid, secret
        elif token:
            username, password = sid, token
        else:
            raise ConfigError(
                "sms.twilio.auth_token (or SCENELINK_TWILIO_AUTH_TOKEN) is required "
                "when sms.provider = 'twilio', unless sms.twilio.api_key_sid and api_key_secret are set"
            )
        from_number = table.get("from_number") or None
        service = table.get("messaging_service_sid") or None
        if bool(from_number) == bool(service):
            raise ConfigError("set exactly one of sms.twilio.from_number and sms.twilio.messaging_service_sid")
        callback = None
        if table.get("status_callback", True):
            if not token:
                raise ConfigError(
                    "sms.twilio.auth_token (or SCENELINK_TWILIO_AUTH_TOKEN) is required to verify "
                    "delivery receipts; set it, or set sms.twilio.status_callback = false"
                )
            callback = callback_url(table, public_url)
        return cls(
            account_sid=sid, username=username, password=password, auth_token=token,
            from_number=from_number, messaging_service_sid=service, status_callback_url=callback,
            base_url=str(table.get("base_url") or API_URL).rstrip("/"),
        )


def callback_url(table: Mapping[str, Any], public_url: str) -> str:
    return str(table.get("status_callback_url") or f"{public_url.rstrip('/')}{STATUS_PATH}")


class TwilioSender:
    name = "twilio"
    label = "Twilio"

    def __init__(self, settings: TwilioSettings) -> None:
        self.settings = settings
        self._http: AsyncTwilioHttpClient | None = None
        self._client: Client | None = None

    def _twilio(self) -> Client:
        # Made on first use: the HTTP client opens an aiohttp session, which wants a running loop.
        if self._client is None:
            s = self.settings
            self._http = AsyncTwilioHttpClient()
            client = Client(s.username, s.password, account_sid=s.account_sid, http_client=self._http)
            client.api.base_url = s.base_url  # the Api domain's root; tests point it at a local server
            self._client = client
        return self._client

    async def send(self, to: str, body: str) -> SmsResult:
        s = self.settings
        fields: dict[str, Any] = {"to": to, "body": body}
        if s.messaging_service_sid:
            fields["messaging_service_sid"] = s.messaging_service_sid
        else:
            fields["from_"] = s.from_number
        if s.status_callback_url:
            fields["status_callback"] = s.status_callback_url
        try:
            message = await self._twilio().messages.create_async(**fields)
        except TwilioRestException as exc:
            raise send_error(exc.status, exc.code, exc.msg) from None
        except TwilioServiceException as exc:
            raise send_error(exc.status, exc.code, exc.detail or exc.title) from None
        except TimeoutError:
            raise SmsError("no answer from Twilio in time", retryable=True) from None
        except aiohttp.ClientError as exc:
            raise SmsError(f"cannot reach Twilio ({type(exc).__name__})", retryable=True) from None
        except Exception as exc:  # an unmapped library failure must still reach the handler
            log.exception("unexpected failure sending through Twilio")
            raise SmsError(f"Twilio sending failed unexpectedly ({type(exc).__name__})") from None
        log.info("SMS to %s taken by Twilio as %s (%s)", to, message.sid, message.status)
        return SmsResult(provider_ref=message.sid, status="sent")

    async def aclose(self) -> None:
        if self._http is not None:
            await self._http.close()
            self._http = self._client = None


def send_error(status: int, code: int | None, message: str | None) -> SmsError:
    """Twilio's error answer as a reason for the handler, retryable where waiting can help."""
    message = (message or "").removeprefix("Unable to create record: ").strip()
    if code == status:  # the library fills in the HTTP status when the body has no Twilio code
        code = None
    said = f"Twilio {code or f'HTTP {status}'}" + (f": {message}" if message else "")
    if status in (401, 403) or code == 20003:
        return SmsError(f"Twilio refused the gateway's credentials, check sms.twilio ({said})")
    if status == 429 or code == 20429:
        return SmsError(f"Twilio is limiting how fast the gateway may send ({said})", retryable=True)
    if status >= 500:
        return SmsError(f"Twilio is not working at the moment ({said})", retryable=True)
    if status == 404 or code == 20404:
        return SmsError(f"Twilio does not know the configured account, check sms.twilio.account_sid ({said})")
    meaning = REFUSED.get(code or 0, "Twilio refused the message")
    return SmsError(f"{meaning} ({said})")


def signature_ok(auth_token: str, url: str, params: Mapping[str, object], signature: str | None) -> bool:
    """True when ``signature`` is Twilio's ``X-Twilio-Signature`` for this URL and form body."""
    if not signature:
        return False
    return RequestValidator(auth_token).validate(url, params, signature)


def parse_status(params: Mapping[str, str]) -> Receipt | None:
    """A status callback's form as a :class:`Receipt`; None for a status on the way (queued,
    sending, sent). Raises ValueError when the callback names no message."""
    sid = params.get("MessageSid") or params.get("SmsSid")
    status = params.get("MessageStatus") or params.get("SmsStatus")
    if not sid or not status:
        raise ValueError("a status callback needs MessageSid and MessageStatus")
    outcome = FINAL.get(status)
    if outcome is None:
        return None
    reason = None
    if outcome == "failed":
        raw = params.get("ErrorCode") or ""
        code = int(raw) if raw.isdigit() else None
        meaning = UNDELIVERED.get(code or 0, "the text could not be delivered")
        reason = f"{meaning} (Twilio {status}" + (f", error {code})" if code else ")")
    return Receipt(provider_ref=sid, status=outcome, reason=reason)


def _need(table: Mapping[str, Any], key: str, env: str | None = None) -> str:
    value = table.get(key)
    if not value or not isinstance(value, str):
        also = f" (or {env})" if env else ""
        raise ConfigError(f"sms.twilio.{key}{also} is required when sms.provider = 'twilio'")
    return value
