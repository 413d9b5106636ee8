"""AML in: the network's HTTPS feed and an SMS receiver, behind a token that can do nothing else.

A message for a number with an open incident becomes a placed fix of it (source ``aml``); one for
a number with no incident is kept and offered when the handler opens one; damaged messages are
refused with the reason and leave nothing behind.
"""

from __future__ import annotations

import pytest

from gateway.auth import digest, new_api_token
from gateway.web.keys import ACCOUNTS, DATABASE, EVENTS

from .conftest import login

NUMBER = "07400 123456"  # +447400123456
LEEDS_FORM = {
    "v": "1", "emergency_number": "999", "location_latitude": "53.7997", "location_longitude": "-1.5492",
    "location_accuracy": "18.5", "location_source": "gps", "location_confidence": "0.68",
    "location_time": "1772366410500", "device_number": "+447400123456", "device_imei": "356938035643809",
}
# 127 characters, as ml says (counted field by field in tests/unit/gis/test_aml.py)
LEEDS_SMS = (
    'A"ML=1;lt=+53.80010;lg=-1.54920;rd=12;top=20260301120000;lc=68;pm=G;'
    "si=234150000000000;ei=356938035643809;mcc=234;mnc=15;ml=127"
)


@pytest.fixture
async def feed(client):
    token = new_api_token()
    await client.app[ACCOUNTS].add_token("network-aml", "aml", digest(token), "test")
    return {"Authorization": f"Bearer {token}"}


async def open_incident(client, csrf, reference="WYP-AML-1"):
    resp = await client.post(
        "/api/incidents", json={"reference": reference, "caller_phone": NUMBER}, headers={"X-CSRF-Token": csrf}
    )
    assert resp.status == 201, await resp.text()
    return await resp.json()


async def test_an_aml_post_for_an_open_incident_becomes_a_placed_fix(client, feed):
    csrf = await login(client, "handler1")
    incident = await open_incident(client, csrf)
    with client.app[EVENTS].subscribe(incident["id"]) as events:
        resp = await client.post("/api/aml", data=LEEDS_FORM, headers=feed)
        assert resp.status == 200, await resp.text()
        published = [events.queue.get_nowait() for _ in range(events.queue.qsize())]
    body = await resp.json()
    assert body["outcome"] == "attached" and body["incident_id"] == incident["id"]
    (event,) = [e for e in published if e.type == "fix"]
    assert event.data["source"] == "aml" and event.data["accuracy"] == 18.5
    assert event.data["placement"]["layers"]["force"]["name"] == "West Yorkshire"
    record = await (await client.get(f"/api/incidents/{incident['id']}")).json()
    (fix,) = record["fixes"]
    assert (fix["latitude"], fix["longitude"], fix["source"], fix["session_id"]) == (53.7997, -1.5492, "aml", None)
    assert fix["device_time"] == "2026-03-01T12:00:10.500Z"
    assert record["latest_fix"]["id"] == fix["id"]
    actions = [e["action"] for e in await client.app[DATABASE].audit_entries()]
    assert "aml.received" in actions and "fix.recorded" in actions


async def test_the_sms_receiver_takes_the_number_from_the_sms_sender(client, feed):
    csrf = await login(client, "handler1")
    incident = await open_incident(client, csrf)
    resp = await client.post("/api/aml/sms", json={"from": "+447400123456", "text": LEEDS_SMS}, headers=feed)
    assert resp.status == 200, await resp.text()
    assert (await resp.json())["outcome"] == "attached"
    record = await (await client.get(f"/api/incidents/{incident['id']}")).json()
    assert (record["latest_fix"]["latitude"], record["latest_fix"]["accuracy"]) == (53.8001, 12.0)


async def test_without_an_incident_it_is_kept_and_offered_to_the_handler_who_opens_one(client, feed):
    resp = await client.post("/api/aml", data=LEEDS_FORM, headers=feed)
    kept = await resp.json()
    assert resp.status == 200 and kept["outcome"] == "kept" and kept["incident_id"] is None
    csrf = await login(client, "handler1")
    incident = await open_incident(client, csrf)
    (offer,) = incident["aml_offers"]
    assert offer["id"] == kept["report_id"] and (offer["latitude"], offer["accuracy"]) == (53.7997, 18.5)
    assert (await (await client.get(f"/api/incidents/{incident['id']}/aml")).json())["reports"] == [offer]
    url = f"/api/incidents/{incident['id']}/aml/{offer['id']}/attach"
    resp = await client.post(url, headers={"X-CSRF-Token": csrf})
    assert resp.status == 201 and (await resp.json())["source"] == "aml"
    assert (await client.post(url, headers={"X-CSRF-Token": csrf})).status == 409
    assert (await (await client.get(f"/api/incidents/{incident['id']}/aml")).json())["reports"] == []


async def test_an_ended_incident_does_not_take_new_aml_fixes(client, feed):
    csrf = await login(client, "handler1")
    incident = await open_incident(client, csrf)
    await client.post(f"/api/incidents/{incident['id']}/end", headers={"X-CSRF-Token": csrf})
    assert (await (await client.post("/api/aml", data=LEEDS_FORM, headers=feed)).json())["outcome"] == "kept"


async def test_a_message_without_a_fix_is_recorded_as_such(client, feed):
    no_fix = LEEDS_SMS.replace("rd=12;", "rd=N;").replace("ml=127", "ml=126")
    resp = await client.post("/api/aml/sms", data={"from": "07400123456", "text": no_fix}, headers=feed)
    assert resp.status == 200 and (await resp.json())["outcome"] == "no_fix"


DAMAGED = [
    ("/api/aml/sms", {"from": "+447400123456", "text": LEEDS_SMS.replace("ml=127", "ml=120")}, 422, "invalid_aml"),
    ("/api/aml/sms", {"text": LEEDS_SMS}, 400, "missing_field"),
    ("/api/aml/sms", {"from": "not a number", "text": LEEDS_SMS}, 422, "invalid_number"),
    ("/api/aml", {**LEEDS_FORM, "location_latitude": "north"}, 422, "invalid_aml"),
    ("/api/aml", {k: v for k, v in LEEDS_FORM.items() if k != "device_number"}, 422, "no_number"),
]


async def test_damaged_messages_are_refused_and_leave_nothing(client, feed):
    before = len(await client.app[DATABASE].audit_entries())
    for path, body, status, error in DAMAGED:
        resp = await client.post(path, data=body, headers=feed)
        assert (resp.status, (await resp.json())["error"]) == (status, error), body
    assert len(await client.app[DATABASE].audit_entries()) == before


async def test_the_aml_token_can_do_nothing_else_and_operators_cannot_feed_aml(client, feed):
    assert (await client.get("/api/incidents", headers=feed)).status == 403
    resp = await client.post("/api/incidents", json={"reference": "X-1", "caller_phone": NUMBER}, headers=feed)
    assert resp.status == 403
    assert (await client.get("/api/webhooks", headers=feed)).status == 403
    csrf = await login(client, "handler1")
    assert (await client.post("/api/aml", data=LEEDS_FORM, headers={"X-CSRF-Token": csrf})).status == 403
    assert (await client.post("/api/aml", data=LEEDS_FORM)).status == 403, "a session is still a handler's"
