"""Local stand-ins for Twilio and GOV.UK Notify, on 127.0.0.1, speaking their documented shapes.

Each fake checks authentication the way the provider does, answers with the provider's documented
success and error bodies, and keeps every request it received so tests can assert on what was sent.
"""

from __future__ import annotations

import asyncio
import base64
import socket
import time
import uuid
from typing import Any

import jwt
import pytest
from aiohttp import web

TWILIO_SID = "AC" + "0123456789abcdef" * 2
TWILIO_TOKEN = "twilio-auth-token-for-tests"
TWILIO_KEY_SID = "SK" + "fedcba9876543210" * 2
TWILIO_KEY_SECRET = "twilio-api-key-secret-for-tests"

NOTIFY_SERVICE_ID = "26785a09-ab16-4eb0-8407-a37497a57506"
NOTIFY_SECRET = "3d844edf-8d35-48ac-975b-e847b4f122b0"
NOTIFY_API_KEY = f"scenelink_test-{NOTIFY_SERVICE_ID}-{NOTIFY_SECRET}"
NOTIFY_TEMPLATE = "f33517ff-2a88-4f6e-b855-c550268ce08a"
NOTIFY_TEMPLATE_BODY = "Tap to share your camera and location: ((link))"


class Hang:
    """A canned answer that never comes (until the test ends)."""


class FakeProvider:
    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []
        self.script: list[Any] = []  # answers for the next requests, in order: (status, json) or Hang
        self.release = asyncio.Event()
        self.url = ""

    def then(self, *answers: Any) -> None:
        self.script.extend(answers)

    def then_hang(self, times: int = 1) -> None:
        self.script.extend([Hang] * times)

    async def _scripted(self) -> web.Response | None:
        if not self.script:
            return None
        answer = self.script.pop(0)
        if answer is Hang:
            await asyncio.wait_for(self.release.wait(), 10)
            return web.json_response({}, status=504)
        status, body = answer
        if isinstance(body, str):
            return web.Response(status=status, text=body, content_type="text/html")
        return web.json_response(body, status=status)


class FakeTwilio(FakeProvider):
    """POST /2010-04-01/Accounts/{AccountSid}/Messages.json: form-encoded To, From or
    MessagingServiceSid, Body, StatusCallback; HTTP Basic auth with the account SID and auth token
    (or an API key SID and secret); 201 with the Message resource."""

    account_sid, auth_token = TWILIO_SID, TWILIO_TOKEN
    key_sid, key_secret = TWILIO_KEY_SID, TWILIO_KEY_SECRET
    credentials = {(TWILIO_SID, TWILIO_TOKEN), (TWILIO_KEY_SID, TWILIO_KEY_SECRET)}

    def table(self, **changes: Any) -> dict[str, Any]:
        """An [sms.twilio] table pointing at this fake."""
        table = {
            "account_sid": TWILIO_SID,
            "auth_token": TWILIO_TOKEN,
            "from_number": "+447700900999",
            "base_url": self.url,
        }
        table.update(changes)
        return {k: v for k, v in table.items() if v is not None}

    def then_error(self, status: int, code: int | None, message: str) -> None:
        body = {
            "code": code,
            "message": message,
            "more_info": f"https://www.twilio.com/docs/errors/{code}",
            "status": status,
        }
        self.then((status, body))

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_post("/2010-04-01/Accounts/{sid}/Messages.json", self.create_message)
        return app

    async def create_message(self, request: web.Request) -> web.Response:
        form = dict(await request.post())
        auth = _basic(request.headers.get("Authorization"))
        self.requests.append({
            "path": request.path, "auth": auth, "form": form,
            "content_type": request.content_type,
        })
        if auth not in self.credentials:
            return _twilio_error(401, 20003, "Authenticate")
        if request.match_info["sid"] != TWILIO_SID:
            return _twilio_error(404, 20404, "The requested resource was not found")
        scripted = await self._scripted()
        if scripted is not None:
            return scripted
        to = form.get("To", "")
        if not (to.startswith("+") and to[1:].isdigit()):
            return _twilio_error(400, 21211, f"The 'To' number {to} is not a valid phone number.")
        if to.startswith(("+441", "+442")):  # UK landlines
            return _twilio_error(400, 21614, f"'To' number {to} is not a valid mobile number")
        if not (form.get("From") or form.get("MessagingServiceSid")):
            return _twilio_error(400, 21603, "A 'From' or 'MessagingServiceSid' parameter is required")
        if not form.get("Body"):
            return _twilio_error(400, 21602, "Message body is required.")
        sid = "SM" + uuid.uuid4().hex
        return web.json_response({
            "account_sid": TWILIO_SID, "api_version": "2010-04-01", "body": form["Body"],
            "date_created": "Thu, 26 Nov 2026 04:21:00 +0000", "date_sent": None,
            "date_updated": "Thu, 26 Nov 2026 04:21:00 +0000", "direction": "outbound-api",
            "error_code": None, "error_message": None, "from": form.get("From"),
            "messaging_service_sid": form.get("MessagingServiceSid"), "num_media": "0",
            "num_segments": "1", "price": None, "price_unit": "GBP", "sid": sid, "status": "queued",
            "subresource_uris": {"media": f"/2010-04-01/Accounts/{TWILIO_SID}/Messages/{sid}/Media.json"},
            "to": to, "uri": f"/2010-04-01/Accounts/{TWILIO_SID}/Messages/{sid}.json",
        }, status=201)


class FakeNotify(FakeProvider):
    """POST /v2/notifications/sms with a JWT bearer (HS256, iss = service id, iat within 30 s,
    signed with the key's secret) and JSON phone_number, template_id, personalisation; 201 with
    the notification."""

    service_id, api_key, template_id = NOTIFY_SERVICE_ID, NOTIFY_API_KEY, NOTIFY_TEMPLATE

    def table(self, **changes: Any) -> dict[str, Any]:
        """An [sms.govuk_notify] table pointing at this fake."""
        table = {"api_key": NOTIFY_API_KEY, "template_id": NOTIFY_TEMPLATE, "base_url": self.url}
        table.update(changes)
        return {k: v for k, v in table.items() if v is not None}

    def then_error(self, status: int, error: str, message: str) -> None:
        self.then((status, {"status_code": status, "errors": [{"error": error, "message": message}]}))

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_post("/v2/notifications/sms", self.send_sms)
        return app

    async def send_sms(self, request: web.Request) -> web.Response:
        body = await request.json()
        header = request.headers.get("Authorization", "")
        claims = _notify_claims(header)
        self.requests.append({"path": request.path, "claims": claims, "json": body})
        if claims is None:
            return _notify_error(403, "AuthError", "Invalid token: signature, api token not found")
        scripted = await self._scripted()
        if scripted is not None:
            return scripted
        if body.get("template_id") != NOTIFY_TEMPLATE:
            return _notify_error(400, "BadRequestError", "Template not found")
        personalisation = body.get("personalisation") or {}
        if "link" not in personalisation:
            return _notify_error(400, "BadRequestError", "Missing personalisation: link")
        number = body.get("phone_number", "").replace(" ", "")
        if not number.startswith(("+447", "07", "447")):
            return _notify_error(400, "ValidationError", "phone_number Not a UK mobile number")
        notification_id = str(uuid.uuid4())
        base = f"http://{request.host}"
        return web.json_response(
            {
                "id": notification_id,
                "reference": body.get("reference"),
                "content": {
                    "body": NOTIFY_TEMPLATE_BODY.replace("((link))", personalisation["link"]),
                    "from_number": "GOVUK",
                },
                "uri": f"{base}/v2/notifications/{notification_id}",
                "template": {
                    "id": NOTIFY_TEMPLATE,
                    "version": 1,
                    "uri": f"{base}/services/{NOTIFY_SERVICE_ID}/templates/{NOTIFY_TEMPLATE}",
                },
                "scheduled_for": None,
            },
            status=201,
        )


def _basic(header: str | None) -> tuple[str, str] | None:
    if not header or not header.startswith("Basic "):
        return None
    user, _, password = base64.b64decode(header[6:]).decode().partition(":")
    return user, password


def _twilio_error(status: int, code: int, message: str) -> web.Response:
    return web.json_response(
        {"code": code, "message": message, "more_info": f"https://www.twilio.com/docs/errors/{code}", "status": status},
        status=status,
    )


def _notify_claims(header: str) -> dict[str, Any] | None:
    """The JWT's claims if Notify would accept it: HS256, typ JWT, iss = our service, fresh iat."""
    if not header.startswith("Bearer "):
        return None
    token = header[7:]
    try:
        if jwt.get_unverified_header(token) != {"typ": "JWT", "alg": "HS256"}:
            return None
        claims = jwt.decode(token, NOTIFY_SECRET, algorithms=["HS256"], options={"require": ["iss", "iat"]})
    except jwt.PyJWTError:
        return None
    if claims["iss"] != NOTIFY_SERVICE_ID or abs(time.time() - claims["iat"]) > 30:
        return None
    return claims


def _notify_error(status: int, error: str, message: str) -> web.Response:
    return web.json_response({"status_code": status, "errors": [{"error": error, "message": message}]}, status=status)


@pytest.fixture
async def fake_twilio(aiohttp_server):
    fake = FakeTwilio()
    server = await aiohttp_server(fake.app(), host="127.0.0.1")
    fake.url = str(server.make_url("")).rstrip("/")
    yield fake
    fake.release.set()


@pytest.fixture
async def fake_notify(aiohttp_server):
    fake = FakeNotify()
    server = await aiohttp_server(fake.app(), host="127.0.0.1")
    fake.url = str(server.make_url("")).rstrip("/")
    yield fake
    fake.release.set()


@pytest.fixture
def closed_port() -> str:
    """A loopback URL nothing listens on."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}"
