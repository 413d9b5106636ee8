"""Delivery receipts through the whole gateway: signed or authenticated, stored, and shown live."""

from __future__ import annotations

import base64
import hashlib
import hmac
from dataclasses import replace
from datetime import timedelta

import pytest

from gateway.app import build_app
from gateway.config import load_settings
from gateway.links import LinkState
from gateway.record.database import utcnow
from gateway.web.keys import EVENTS, INCIDENTS

PUBLIC = "https://gw.example.police.uk"
TWILIO_TOKEN = "twilio-auth-token-for-tests"
NOTIFY_TOKEN = "notify-callback-bearer-token"
TWILIO_URL = f"{PUBLIC}/sms/twilio/status"


def twilio_signature(token: str, url: str, params: dict[str, str]) -> str:
    """Twilio's documented scheme: base64(HMAC-SHA1(auth token, URL + sorted name+value pairs))."""
    data = url + "".join(k + params[k] for k in sorted(params))
    return base64.b64encode(hmac.new(token.encode(), data.encode(), hashlib.sha1).digest()).decode()


def twilio_callback(sid: str, status: str, **extra: str) -> dict[str, str]:
    return {
        "AccountSid": "AC" + "0" * 32, "ApiVersion": "2010-04-01", "From": "+447700900999",
        "MessageSid": sid, "MessageStatus": status, "SmsSid": sid, "SmsStatus": status,
        "To": "+447400123456", **extra,
    }


def gateway_app(tmp_path, sms_tables, record_url=None):
    environ = {"SCENELINK_DATA_DIR": str(tmp_path), "SCENELINK_TLS": "off"}
    if record_url:
        environ["SCENELINK_DATABASE_URL"] = record_url
    base = load_settings(environ=environ)
    app = build_app(replace(base, public_url=PUBLIC, sms={**base.sms, **sms_tables}))
    return app


@pytest.fixture
async def client(aiohttp_client, tmp_path, database_url):
    """The gateway with Twilio and Notify receipts configured (this module's own, not conftest's),
    on SQLite and on PostgreSQL."""
    tables = {
        "twilio": {"account_sid": "AC" + "0" * 32, "auth_token": TWILIO_TOKEN, "from_number": "+447700900999"},
        "govuk_notify": {"callback_bearer_token": NOTIFY_TOKEN},
    }
    return await aiohttp_client(gateway_app(tmp_path, tables, database_url))


async def sent_message(client, provider: str, ref: str) -> dict:
    """An incident whose link was texted through ``provider``, which knows it as ``ref``."""
    incidents = client.app[INCIDENTS]
    incident = await incidents.create(f"WYP-{ref[-6:]}", "+447400123456", "handler1")
    link = await incidents.create_link(
        incident["id"], ref.ljust(64, "0")[:64], utcnow() + timedelta(minutes=30), "handler1"
    )
    message = await incidents.add_sms(
        incident["id"], link["id"], "+447400123456", "tap https://gw/c/x", provider, "handler1"
    )
    await incidents.update_sms(message["id"], "sent", provider_ref=ref)
    await incidents.move_link(link["id"], LinkState.SENT, "handler1")
    return {"incident": incident["id"], "link": link["id"], "sms": message["id"],
            "events": client.app[EVENTS].subscribe(incident["id"])}


async def stored(client, sent: dict) -> dict:
    record = await client.app[INCIDENTS].record(sent["incident"])
    (message,) = record["messages"]
    return message


def published(sent: dict) -> list:
    queue = sent["events"].queue
    return [queue.get_nowait() for _ in range(queue.qsize())]


async def post_twilio(client, params, signature):
    headers = {"X-Twilio-Signature": signature} if signature is not None else {}
    return await client.post("/sms/twilio/status", data=params, headers=headers)


async def test_a_signed_twilio_receipt_marks_the_text_delivered_and_tells_the_console(client):
    sent = await sent_message(client, "twilio", "SM" + "a" * 32)
    params = twilio_callback("SM" + "a" * 32, "delivered")
    resp = await post_twilio(client, params, twilio_signature(TWILIO_TOKEN, TWILIO_URL, params))
    assert resp.status == 200 and (await resp.json())["applied"] is True
    message = await stored(client, sent)
    assert message["status"] == "delivered" and message["error"] is None
    events = published(sent)
    (event,) = [e for e in events if e.type == "sms.status"]
    assert event.data["id"] == sent["sms"] and event.data["status"] == "delivered"
    assert [e.data["state"] for e in events if e.type == "link.state"] == ["delivered"]


async def test_an_undelivered_text_fails_its_link_with_the_reason(client):
    sent = await sent_message(client, "twilio", "SM" + "b" * 32)
    params = twilio_callback("SM" + "b" * 32, "undelivered", ErrorCode="30003")
    resp = await post_twilio(client, params, twilio_signature(TWILIO_TOKEN, TWILIO_URL, params))
    assert resp.status == 200
    message = await stored(client, sent)
    assert message["status"] == "failed" and "switched off" in message["error"]
    assert (await client.app[INCIDENTS].get(sent["incident"]))["state"] == "failed"
    assert [e.type for e in published(sent)] == ["sms.status", "link.state"]


@pytest.mark.parametrize("how", ["wrong token", "the URL it arrived on", "altered field", "no signature"])
async def test_a_forged_twilio_receipt_is_refused_and_changes_nothing(client, how):
    sent = await sent_message(client, "twilio", "SM" + "c" * 32)
    params = twilio_callback("SM" + "c" * 32, "undelivered", ErrorCode="30005")
    token = "guessed-token" if how == "wrong token" else TWILIO_TOKEN
    url = str(client.make_url("/sms/twilio/status")) if how == "the URL it arrived on" else TWILIO_URL
    signature = twilio_signature(token, url, params)
    if how == "altered field":
        params = {**params, "MessageStatus": "delivered", "SmsStatus": "delivered"}
    resp = await post_twilio(client, params, None if how == "no signature" else signature)
    assert resp.status == 403
    assert (await stored(client, sent))["status"] == "sent"
    assert published(sent) == []


async def test_twilio_statuses_on_the_way_and_repeats_change_nothing(client):
    sent = await sent_message(client, "twilio", "SM" + "d" * 32)
    for status in ("sent", "delivered", "delivered"):
        params = twilio_callback("SM" + "d" * 32, status)
        assert (await post_twilio(client, params, twilio_signature(TWILIO_TOKEN, TWILIO_URL, params))).status == 200
    assert (await stored(client, sent))["status"] == "delivered"
    assert [e.type for e in published(sent)] == ["sms.status", "link.state"], "one change, told once"


async def test_a_notify_receipt_with_the_bearer_token_is_stored(client):
    ref = "740e5834-3a29-46b4-9a6f-16142fde533a"
    sent = await sent_message(client, "govuk_notify", ref)
    body = {"id": ref, "reference": None, "to": "+447400123456", "status": "permanent-failure",
            "created_at": "2026-11-26T04:21:00.000000Z", "completed_at": "2026-11-26T04:21:09.000000Z",
            "sent_at": "2026-11-26T04:21:01.000000Z", "notification_type": "sms"}
    resp = await client.post("/sms/notify/status", json=body, headers={"Authorization": f"Bearer {NOTIFY_TOKEN}"})
    assert resp.status == 200 and (await resp.json())["applied"] is True
    message = await stored(client, sent)
    assert message["status"] == "failed" and "GOV.UK Notify permanent-failure" in message["error"]
    assert published(sent)[0].data["status"] == "failed"


@pytest.mark.parametrize("authorization", [None, "Bearer wrong-token-value", f"Bearer {NOTIFY_TOKEN}x", NOTIFY_TOKEN])
async def test_a_notify_receipt_without_the_right_bearer_is_refused(client, authorization):
    ref = "2c1a7e55-0d5a-4c8e-9f0b-3a1e2b4c5d6e"
    sent = await sent_message(client, "govuk_notify", ref)
    headers = {"Authorization": authorization} if authorization else {}
    resp = await client.post("/sms/notify/status", json={"id": ref, "status": "delivered"}, headers=headers)
    assert resp.status == 403
    assert (await stored(client, sent))["status"] == "sent" and published(sent) == []


async def test_a_receipt_only_touches_its_own_provider_s_messages(client):
    ref = "SM" + "e" * 32
    sent = await sent_message(client, "govuk_notify", ref)
    params = twilio_callback(ref, "delivered")
    resp = await post_twilio(client, params, twilio_signature(TWILIO_TOKEN, TWILIO_URL, params))
    assert resp.status == 200 and (await resp.json())["applied"] is False
    assert (await stored(client, sent))["status"] == "sent"


async def test_a_malformed_receipt_is_a_bad_request(client):
    resp = await client.post("/sms/notify/status", data=b"{not json", headers={
        "Authorization": f"Bearer {NOTIFY_TOKEN}", "Content-Type": "application/json"})
    assert resp.status == 400


async def test_receipts_are_refused_for_a_provider_that_is_not_configured(aiohttp_client, tmp_path):
    client = await aiohttp_client(gateway_app(tmp_path, {}))
    params = twilio_callback("SM1", "delivered")
    assert (await post_twilio(client, params, twilio_signature("", TWILIO_URL, params))).status == 404
    resp = await client.post("/sms/notify/status", json={"id": "x", "status": "delivered"},
                             headers={"Authorization": "Bearer "})
    assert resp.status == 404
