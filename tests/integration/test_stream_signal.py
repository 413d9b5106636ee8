"""A caller's video that stops while the caller stays connected: snapshots refuse to pass an old
frame off as the scene now, the session reports the video frozen and then ends however busy the
data channel is; a caller without a camera shares location in a state of its own."""

from __future__ import annotations

import asyncio
import json
from dataclasses import replace

import av
import pytest
from aiortc import RTCConfiguration, RTCPeerConnection, RTCSessionDescription

from gateway.web.keys import EVENTS, INCIDENTS, LIVE

from ..conftest import needs_test_network
from .conftest import login
from .test_api import create_incident, send_link
from .test_media import LEEDS, Quadrants, call, gathered_offer

pytestmark = needs_test_network

MAX_AGE = 0.8
FROZEN = 1.0
SILENCE = 4.0


class FreezableCamera(Quadrants):
    """The test camera, which stops delivering frames while ``running`` is clear."""

    def __init__(self) -> None:
        super().__init__()
        self.running = asyncio.Event()
        self.running.set()

    async def recv(self) -> av.VideoFrame:
        await self.running.wait()
        return await super().recv()


@pytest.fixture
def settings(settings):
    media = replace(settings.media, max_snapshot_age_seconds=MAX_AGE, frozen_after_seconds=FROZEN,
                    silence_timeout_seconds=SILENCE)
    return replace(settings, media=media)


@pytest.fixture
async def caller(client):
    camera = FreezableCamera()
    call_ = await call(client, camera)
    assert call_["session"] is not None and call_["session"].peer.latest.count
    yield {**call_, "camera": camera}
    await call_["pc"].close()


async def until(condition, timeout: float = 10.0, step: float = 0.05):
    deadline = asyncio.get_running_loop().time() + timeout
    while not (value := condition()):
        assert asyncio.get_running_loop().time() < deadline, "condition not reached in time"
        await asyncio.sleep(step)
    return value


async def test_a_snapshot_of_live_video_is_fresh_and_says_its_age(client, caller):
    resp = await client.post(
        f"/api/incidents/{caller['incident']['id']}/snapshots", json={}, headers={"X-CSRF-Token": caller["csrf"]}
    )
    assert resp.status == 201, await resp.text()
    snap = await resp.json()
    assert 0 <= snap["frame_age_seconds"] <= MAX_AGE
    live = client.app[LIVE]
    await until(lambda: live.health(caller["incident"]["id"])["state"] == "live")
    stream = await (await client.get(f"/api/incidents/{caller['incident']['id']}/stream")).json()
    assert stream["frames"] >= 1 and stream["frame_age_seconds"] < MAX_AGE


async def test_a_frozen_stream_refuses_a_snapshot_unless_the_old_frame_is_asked_for(client, caller):
    incident, csrf, session = caller["incident"], caller["csrf"], caller["session"]
    caller["camera"].running.clear()
    await until(lambda: (session.peer.latest.age() or 0) > MAX_AGE + 0.3)
    url = f"/api/incidents/{incident['id']}/snapshots"

    refused = await client.post(url, json={}, headers={"X-CSRF-Token": csrf})
    assert refused.status == 409
    body = await refused.json()
    assert body["error"] == "stale_video" and body["age_seconds"] > MAX_AGE
    record = await (await client.get(f"/api/incidents/{incident['id']}")).json()
    assert record["snapshots"] == []

    bad = await client.post(url, json={"allow_stale": "yes"}, headers={"X-CSRF-Token": csrf})
    assert bad.status == 400

    stored = await client.post(url, json={"allow_stale": True}, headers={"X-CSRF-Token": csrf})
    assert stored.status == 201, await stored.text()
    snap = await stored.json()
    assert snap["frame_age_seconds"] > MAX_AGE
    record = await (await client.get(f"/api/incidents/{incident['id']}")).json()
    assert [s["frame_age_seconds"] for s in record["snapshots"]] == [snap["frame_age_seconds"]]
    audit = await client.app[INCIDENTS].db.audit_entries(incident["id"])
    taken = [e for e in audit if e["action"] == "snapshot.taken"]
    assert taken and taken[-1]["detail"]["frame_age_seconds"] == snap["frame_age_seconds"]

    caller["camera"].running.set()
    await until(lambda: (session.peer.latest.age() or 99) < MAX_AGE / 2)
    fresh = await client.post(url, json={}, headers={"X-CSRF-Token": csrf})
    assert fresh.status == 201


async def test_video_that_stops_is_reported_frozen_then_the_session_ends_though_fixes_keep_coming(client, caller):
    incident, session = caller["incident"], caller["session"]
    live = client.app[LIVE]
    with client.app[EVENTS].subscribe(incident["id"]) as events:
        caller["camera"].running.clear()
        seq = 0
        frozen_health = None
        seen: list = []

        def fixes_flowing_until_the_end():
            nonlocal seq, frozen_health
            seen.extend(events.queue.get_nowait() for _ in range(events.queue.qsize()))
            if any(e.type == "session.ended" for e in seen):
                return True
            health = live.health(incident["id"])
            if health and health["state"] == "frozen":
                frozen_health = health
            if caller["channel"].readyState == "open" and live.by_incident.get(incident["id"]) is session:
                seq += 1
                caller["channel"].send(json.dumps({"type": "fix", "seq": seq, **LEEDS}))
            return False

        await until(fixes_flowing_until_the_end, timeout=SILENCE + 6, step=0.25)
    states = [e.data["state"] for e in seen if e.type == "stream.state"]
    assert "frozen" in states
    assert frozen_health is not None and frozen_health["frame_age_seconds"] >= FROZEN
    (ended,) = [e for e in seen if e.type == "session.ended"]
    assert "no video" in ended.data["reason"]
    assert sum(1 for e in seen if e.type == "fix") >= 4, "the data channel was busy all along"


async def test_video_that_resumes_is_live_again(client, caller):
    incident, session = caller["incident"], caller["session"]
    live = client.app[LIVE]
    with client.app[EVENTS].subscribe(incident["id"]) as events:
        caller["camera"].running.clear()
        await until(lambda: live.health(incident["id"])["state"] == "frozen")
        caller["camera"].running.set()
        await until(lambda: live.health(incident["id"])["state"] == "live")
        seen = [events.queue.get_nowait() for _ in range(events.queue.qsize())]
    states = [e.data["state"] for e in seen if e.type == "stream.state"]
    assert states[-2:] == ["frozen", "live"]
    assert live.by_incident[incident["id"]] is session


async def test_a_caller_without_a_camera_is_sharing_location_not_just_consented(client):
    csrf = await login(client, "handler1")
    incident = await (await create_incident(client, csrf)).json()
    path = (await send_link(client, csrf, incident["id"]))["url"].removeprefix("http://gw.test")
    handler_cookies = {c.key: c.value for c in client.session.cookie_jar}
    client.session.cookie_jar.clear()
    await client.get(path)
    pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
    channel = pc.createDataChannel("fixes")
    with client.app[EVENTS].subscribe(incident["id"]) as events:
        await client.post(path + "/consent", json={})
        resp = await client.post(path + "/offer", json=await gathered_offer(pc))
        assert resp.status == 200
        await pc.setRemoteDescription(RTCSessionDescription(**await resp.json()))
        live = client.app[LIVE]
        await until(lambda: (live.health(incident["id"]) or {}).get("state") == "location")
        started = await until(lambda: [e for e in list(events.queue._queue) if e.type == "stream.started"])
    assert started[0].data["kind"] == "location"
    assert channel.readyState == "open"
    client.session.cookie_jar.update_cookies(handler_cookies)
    record = await (await client.get(f"/api/incidents/{incident['id']}")).json()
    assert record["state"] == "streaming"
    await pc.close()


async def test_packets_lost_for_good_bring_keyframe_requests_and_the_video_keeps_coming(client, caller):
    session = caller["session"]
    (receiver,) = [t.receiver for t in session.peer.video_pc.getTransceivers() if t.kind == "video"]
    codecs = receiver._RTCRtpReceiver__codecs
    deliver = receiver._handle_rtp_packet
    dropped = 0

    async def lossy(packet, arrival_time_ms):
        # Every 25th video packet is lost, and every retransmission: lost for good.
        nonlocal dropped
        codec = codecs.get(packet.payload_type)
        if codec is not None and (codec.name == "rtx" or packet.sequence_number % 25 == 0):
            dropped += 1
            return
        await deliver(packet, arrival_time_ms)

    receiver._handle_rtp_packet = lossy
    await until(lambda: dropped >= 5)
    start = session.peer.latest.count
    stats = session.peer.keyframes.stats
    await until(lambda: stats.stalls >= 3 and stats.plis >= 2 and session.peer.latest.count > start + 30,
                timeout=20)
    assert stats.keyframes >= 1, stats
