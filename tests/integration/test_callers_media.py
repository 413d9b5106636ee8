"""The caller's data channel beyond fixes, with a real aiortc caller on the private test network:
status reports, instructions handed over on connection, "seen", replies, camera requests, fixes
that arrive both ways, and the end of a connection versus the end of the link."""

from __future__ import annotations

import asyncio
import json

import pytest
from aiortc import RTCConfiguration, RTCPeerConnection, RTCSessionDescription

from gateway.web.keys import CALLERS, LIVE

from ..conftest import needs_test_network
from .conftest import login
from .test_api import create_incident, send_link
from .test_media import LEEDS, gathered_offer, start_caller

pytestmark = needs_test_network


async def next_of(replies: asyncio.Queue, kind: str, timeout: float = 5) -> dict:
    """The next message of type ``kind`` from the gateway, skipping pings and acknowledgements."""
    async def find():
        while True:
            message = await replies.get()
            if message.get("type") == kind:
                return message
    return await asyncio.wait_for(find(), timeout)


@pytest.fixture
async def caller(client):
    csrf = await login(client, "handler1")
    incident = await (await create_incident(client, csrf)).json()
    path = (await send_link(client, csrf, incident["id"]))["url"].removeprefix("http://gw.test")
    # A message queued before the caller connects is handed over when their page first reports.
    await client.post(
        f"/api/incidents/{incident['id']}/messages", json={"phrase": "help_coming"}, headers={"X-CSRF-Token": csrf}
    )
    handler_cookies = {c.key: c.value for c in client.session.cookie_jar}
    client.session.cookie_jar.clear()
    await client.get(path)
    pc, channel, replies = await start_caller(client, path)
    client.session.cookie_jar.update_cookies(handler_cookies)
    yield {"incident": incident, "csrf": csrf, "path": path, "pc": pc, "channel": channel, "replies": replies}
    await pc.close()


async def test_a_status_report_is_published_and_brings_the_backlog(client, caller):
    incident, channel, replies = caller["incident"], caller["channel"], caller["replies"]
    channel.send(json.dumps({"type": "status", "mode": "video", "transport": "webrtc", "language": "en",
                             "permissions": {"camera": "granted", "geolocation": "granted"}}))
    backlog = await next_of(replies, "instruction")
    assert backlog["phrase"] == "help_coming" and backlog["text"] == "Help is on the way"
    status = client.app[CALLERS].statuses.latest(incident["id"])
    assert status["mode"] == "video" and status["via"] == "webrtc"

    channel.send(json.dumps({"type": "seen", "id": backlog["id"]}))
    for _ in range(50):
        rec = await (await client.get(f"/api/incidents/{incident['id']}")).json()
        if rec["conversation"][0]["seen_at"]:
            break
        await asyncio.sleep(0.1)
    assert rec["conversation"][0]["seen_at"] and rec["conversation"][0]["delivered_at"]


async def test_instructions_replies_and_camera_requests_travel_the_data_channel(client, caller):
    incident, csrf, channel, replies = caller["incident"], caller["csrf"], caller["channel"], caller["replies"]
    headers = {"X-CSRF-Token": csrf}
    resp = await client.post(
        f"/api/incidents/{incident['id']}/messages", json={"text": "Are you hurt?"}, headers=headers
    )
    sent = await resp.json()
    live = await next_of(replies, "instruction")
    assert live["id"] == sent["id"] and live["text"] == "Are you hurt?"
    assert sent["delivered_at"], "handed to the open data channel at once"

    reply = {"type": "reply", "text": "My leg", "ref": "r-7", "in_reply_to": sent["id"]}
    channel.send(json.dumps(reply))
    noted = await next_of(replies, "noted")
    channel.send(json.dumps(reply))  # the page did not hear "noted" in time and sent it again
    assert (await next_of(replies, "noted"))["id"] == noted["id"]
    channel.send(json.dumps({"type": "reply", "answer": "perhaps", "ref": "r-8"}))
    assert (await next_of(replies, "refused"))["ref"] == "r-8"

    result = await (
        await client.post(
            f"/api/incidents/{incident['id']}/camera", json={"facing": "user", "torch": True}, headers=headers
        )
    ).json()
    assert result["delivered"] is True
    assert (await next_of(replies, "camera"))["facing"] == "user"
    assert (await next_of(replies, "torch"))["on"] is True
    rec = await (await client.get(f"/api/incidents/{incident['id']}")).json()
    assert [m["text"] for m in rec["conversation"] if m["direction"] == "from_caller"] == ["My leg"]


async def test_a_fix_sent_both_ways_is_stored_once(client, caller):
    incident, channel, replies = caller["incident"], caller["channel"], caller["replies"]
    fix = {"type": "fix", "seq": 1, "timestamp": 1795735262000, **LEEDS}
    channel.send(json.dumps(fix))
    assert (await next_of(replies, "ack"))["seq"] == 1
    resp = await client.post(caller["path"] + "/fixes", json={"fixes": [fix, {**fix, "seq": 2}]})
    assert [r["type"] for r in (await resp.json())["results"]] == ["ack", "ack"]
    rec = await (await client.get(f"/api/incidents/{incident['id']}")).json()
    assert sorted(f["seq"] for f in rec["fixes"]) == [1, 2]
    assert len(rec["sessions"]) == 1, "the HTTPS fixes joined the live session"


async def test_a_new_connection_tells_the_old_one_it_was_replaced_not_ended(client, caller):
    replies = caller["replies"]
    pc2, channel2, replies2 = await start_caller(client, caller["path"])
    try:
        goodbye = await next_of(replies, "end")
        assert goodbye["final"] is False
        resp = await client.post(
            f"/api/incidents/{caller['incident']['id']}/links/"
            f"{client.app[LIVE].by_incident[caller['incident']['id']].link_id}/revoke",
            json={}, headers={"X-CSRF-Token": caller["csrf"]},
        )
        assert resp.status == 200
        final = await next_of(replies2, "end")
        assert final["final"] is True
    finally:
        await pc2.close()


async def test_pings_go_on_the_pages_unreliable_pulse_channel_and_its_pongs_come_back_on_it(client):
    """A page that opens the "pulse" channel (unordered, no retransmissions) gets the gateway's pings
    there, not on its main channel, and answers there: a lost ping is not held up behind its own
    retransmission, so a lossy link does not pass for a gateway gone."""
    csrf = await login(client, "handler1")
    incident = await (await create_incident(client, csrf)).json()
    path = (await send_link(client, csrf, incident["id"]))["url"].removeprefix("http://gw.test")
    client.session.cookie_jar.clear()
    await client.get(path)
    pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
    try:
        main = pc.createDataChannel("fixes")
        pulse = pc.createDataChannel("pulse", ordered=False, maxRetransmits=0)
        on_main: list[dict] = []
        on_pulse: asyncio.Queue = asyncio.Queue()
        main.on("message", lambda m: on_main.append(json.loads(m)))
        pulse.on("message", lambda m: on_pulse.put_nowait(json.loads(m)))
        await client.post(path + "/consent", json={})
        resp = await client.post(path + "/offer", json=await gathered_offer(pc))
        assert resp.status == 200, await resp.text()
        await pc.setRemoteDescription(RTCSessionDescription(**await resp.json()))

        first = await next_of(on_pulse, "ping", timeout=10)
        assert isinstance(first["t"], int)
        pings_on_main = [m for m in on_main if m.get("type") == "ping"]
        for _ in range(3):
            ping = await next_of(on_pulse, "ping")
        assert [m for m in on_main if m.get("type") == "ping"] == pings_on_main, (
            "once the pulse channel is open, pings go there only"
        )
        assert ping["t"] > first["t"]

        pulse.send(json.dumps({"type": "pong", "t": ping["t"], "rtt_ms": 123}))
        session = None
        for _ in range(50):
            session = client.app[LIVE].by_incident.get(incident["id"])
            if session is not None and session.peer.rtt_ms == 123:
                break
            await asyncio.sleep(0.1)
        assert session is not None and session.peer.rtt_ms == 123.0, "the pong on the pulse channel was heard"
        assert session.peer.channel is not None and session.peer.channel.label == "fixes"
    finally:
        await pc.close()
