"""A caller and a viewer as real aiortc peers against the gateway, on the private test network."""

from __future__ import annotations

import asyncio
import json

import av
import cv2
import numpy as np
import pytest
from aiortc import RTCConfiguration, RTCPeerConnection, RTCSessionDescription, VideoStreamTrack

from gateway.web.keys import LIVE

from ..conftest import needs_test_network
from .conftest import login
from .test_api import create_incident, send_link

pytestmark = needs_test_network

# Leeds city centre: inside the sample force WYP and district LDS.
LEEDS = {"latitude": 53.7997, "longitude": -1.5492, "accuracy": 15.0}


class Quadrants(VideoStreamTrack):
    """A 640x480 camera stand-in: four solid colours the snapshot must reproduce."""

    COLOURS = [(255, 0, 0), (0, 255, 0), (0, 0, 255), (255, 255, 0)]  # RGB: TL, TR, BL, BR

    def __init__(self) -> None:
        super().__init__()
        image = np.zeros((480, 640, 3), np.uint8)
        for i, colour in enumerate(self.COLOURS):
            y, x = divmod(i, 2)
            image[y * 240:(y + 1) * 240, x * 320:(x + 1) * 320] = colour
        self.image = image

    async def recv(self) -> av.VideoFrame:
        pts, time_base = await self.next_timestamp()
        frame = av.VideoFrame.from_ndarray(self.image, format="rgb24")
        frame.pts, frame.time_base = pts, time_base
        return frame


async def gathered_offer(pc: RTCPeerConnection) -> dict:
    await pc.setLocalDescription(await pc.createOffer())
    return {"sdp": pc.localDescription.sdp, "type": "offer"}


async def start_caller(client, path, track=None):
    """A caller peer that sends video and fixes, as the caller page does."""
    pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
    pc.addTrack(track or Quadrants())
    channel = pc.createDataChannel("fixes")
    replies: asyncio.Queue = asyncio.Queue()
    channel.on("message", lambda m: replies.put_nowait(json.loads(m)))
    opened = asyncio.Event()
    channel.on("open", opened.set)
    await client.post(path + "/consent", json={})
    resp = await client.post(path + "/offer", json=await gathered_offer(pc))
    assert resp.status == 200, await resp.text()
    await pc.setRemoteDescription(RTCSessionDescription(**await resp.json()))
    await asyncio.wait_for(opened.wait(), 10)
    return pc, channel, replies


async def call(client, track=None) -> dict:
    """A handler's incident and link, and a caller streaming through it (a device of its own)."""
    csrf = await login(client, "handler1")
    incident = await (await create_incident(client, csrf)).json()
    path = (await send_link(client, csrf, incident["id"]))["url"].removeprefix("http://gw.test")
    # The caller is another device: keep its cookie apart from the handler's session.
    handler_cookies = {c.key: c.value for c in client.session.cookie_jar}
    client.session.cookie_jar.clear()
    await client.get(path)
    pc, channel, replies = await start_caller(client, path, track)
    client.session.cookie_jar.update_cookies(handler_cookies)
    live = client.app[LIVE]
    for _ in range(100):
        session = live.by_incident.get(incident["id"])
        if session and session.peer.latest.count:
            break
        await asyncio.sleep(0.1)
    return {"incident": incident, "csrf": csrf, "path": path, "pc": pc, "channel": channel, "replies": replies,
            "session": live.by_incident.get(incident["id"])}


@pytest.fixture
async def streaming(client):
    call_ = await call(client)
    incident, csrf, path, pc = call_["incident"], call_["csrf"], call_["path"], call_["pc"]
    channel, replies = call_["channel"], call_["replies"]
    yield {"incident": incident, "csrf": csrf, "path": path, "pc": pc, "channel": channel, "replies": replies}
    await pc.close()


async def test_fixes_over_the_data_channel_are_placed_acked_and_recorded_once(client, streaming):
    channel, replies, incident = streaming["channel"], streaming["replies"], streaming["incident"]
    message = json.dumps({"type": "fix", "seq": 1, "timestamp": 1795735262000, **LEEDS})
    channel.send(message)
    assert await asyncio.wait_for(replies.get(), 5) == {"type": "ack", "seq": 1}
    channel.send(message)  # a resend after a lost ack
    assert await asyncio.wait_for(replies.get(), 5) == {"type": "ack", "seq": 1}
    channel.send(json.dumps({"type": "fix", "seq": 2, "latitude": 123.0, "longitude": 0, "accuracy": 5}))
    rejected = await asyncio.wait_for(replies.get(), 5)
    assert rejected["type"] == "rejected" and rejected["seq"] == 2 and "latitude" in rejected["reason"]
    channel.send("not json")
    channel.send("x" * 5000)

    record = await (await client.get(f"/api/incidents/{incident['id']}")).json()
    (fix,) = record["fixes"]
    assert fix["seq"] == 1 and fix["device_time"] == "2026-11-26T23:21:02.000Z"
    assert fix["placement"]["layers"]["force"]["code"] == "WYP"
    assert fix["placement"]["layers"]["district"]["code"] == "LDS"
    assert fix["placement"]["bng"]["grid_ref"].startswith("SE ")
    assert record["state"] == "streaming"


async def test_a_viewer_sees_the_callers_video_and_a_snapshot_keeps_the_frame(client, streaming):
    incident, csrf = streaming["incident"], streaming["csrf"]
    streaming["channel"].send(json.dumps({"type": "fix", "seq": 1, **LEEDS}))
    await asyncio.wait_for(streaming["replies"].get(), 5)

    viewer = RTCPeerConnection(RTCConfiguration(iceServers=[]))
    viewer.addTransceiver("video", direction="recvonly")
    tracks: asyncio.Queue = asyncio.Queue()
    viewer.on("track", tracks.put_nowait)
    resp = await client.post(
        f"/api/incidents/{incident['id']}/viewer", json=await gathered_offer(viewer), headers={"X-CSRF-Token": csrf}
    )
    assert resp.status == 200, await resp.text()
    answer = await resp.json()
    await viewer.setRemoteDescription(RTCSessionDescription(**answer))
    track = await asyncio.wait_for(tracks.get(), 5)
    frame = await asyncio.wait_for(track.recv(), 10)
    assert (frame.width, frame.height) == (640, 480)
    # The caller's own VP8 frames were forwarded: nothing was encoded for this viewer
    # (test_media_forwarding.py has the transcoding setting).
    live = client.app[LIVE].by_incident[incident["id"]]
    (view,) = live.plane.viewers
    assert view.forwarded and live.peer.forwarding.stats.forwarded >= 1
    # The caller's frames reach the decoder thread through the bounded queue.
    (receiver,) = [t.receiver for t in live.peer.pc.getTransceivers() if t.kind == "video"]
    assert receiver._RTCRtpReceiver__decoder_queue is live.peer.decoder_queue is not None
    assert live.peer.decoder_queue.stats.dropped == 0
    # Its bandwidth feedback goes through the REMB throttle (gateway.media.feedback).
    assert receiver._RTCRtpReceiver__remote_bitrate_estimator._throttle is live.peer.remb is not None
    assert live.peer.remb_stats()["sent"] <= live.peer.remb_stats()["estimates"]

    resp = await client.post(f"/api/incidents/{incident['id']}/snapshots", json={}, headers={"X-CSRF-Token": csrf})
    assert resp.status == 201
    snap = await resp.json()
    assert (snap["width"], snap["height"]) == (640, 480) and snap["taken_by"] == "handler1"
    assert snap["fix"]["seq"] == 1
    jpeg = await client.get(snap["url"])
    data = await jpeg.read()
    import hashlib
    assert hashlib.sha256(data).hexdigest() == snap["sha256"] == jpeg.headers["X-Content-SHA256"]
    image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)[:, :, ::-1]  # to RGB
    for i, colour in enumerate(Quadrants.COLOURS):
        y, x = divmod(i, 2)
        patch = image[y * 240 + 60:y * 240 + 180, x * 320 + 80:x * 320 + 240].reshape(-1, 3).mean(axis=0)
        assert np.abs(patch - colour).max() < 40, (i, patch)
    await viewer.close()


async def test_the_caller_ending_closes_everything_and_is_recorded(client, streaming):
    incident = streaming["incident"]
    live = client.app[LIVE]
    peer = live.by_incident[incident["id"]].peer
    resp = await client.post(streaming["path"] + "/end", json={})
    assert resp.status == 200
    assert incident["id"] not in live.by_incident
    assert peer.pc.connectionState == "closed" and not peer._tasks
    record = await (await client.get(f"/api/incidents/{incident['id']}")).json()
    assert record["sessions"][0]["ended_at"] and record["sessions"][0]["ended_by"] == "caller"
    assert record["state"] == "ended"
    assert (await client.get(streaming["path"])).status == 404, "an ended link cannot reopen"


async def test_the_handler_ending_tells_the_caller(client, streaming):
    incident, csrf = streaming["incident"], streaming["csrf"]
    resp = await client.post(f"/api/incidents/{incident['id']}/end", json={}, headers={"X-CSRF-Token": csrf})
    assert resp.status == 200
    message = await asyncio.wait_for(streaming["replies"].get(), 5)
    assert message["type"] == "end"
    record = await (await client.get(f"/api/incidents/{incident['id']}")).json()
    assert record["ended_at"] and record["sessions"][0]["ended_by"] == "handler1"
