"""Media a control room relies on: many viewers, embeds, automatic snapshots, recording, cleanup."""

from __future__ import annotations

import asyncio
import hashlib
import sys
from dataclasses import replace
from pathlib import Path

import av
import numpy as np
import pytest
from aiortc import RTCConfiguration, RTCPeerConnection, RTCSessionDescription, VideoStreamTrack

from gateway.web.keys import LIVE

from ..conftest import needs_test_network
from .conftest import login
from .test_api import create_incident, send_link
from .test_media import Quadrants, gathered_offer

pytestmark = needs_test_network


@pytest.fixture
def settings(settings):
    media = replace(
        settings.media, segment_seconds=1, silence_timeout_seconds=2.0,
        scene_change_cooldown_seconds=0.5, embed_origins=("https://cad.example",),
    )
    return replace(settings, media=media)


class SceneCut(Quadrants):
    """Quadrants for a second, then a different scene: what a cut to a new view looks like."""

    def __init__(self) -> None:
        super().__init__()
        self.frames = 0
        self.second = np.full_like(self.image, 30)
        self.second[100:380, 100:540] = (240, 240, 240)

    async def recv(self) -> av.VideoFrame:
        frame = await super().recv()
        self.frames += 1
        if self.frames > 20:
            pts, time_base = frame.pts, frame.time_base
            frame = av.VideoFrame.from_ndarray(self.second, format="rgb24")
            frame.pts, frame.time_base = pts, time_base
        return frame


_references = iter(range(1, 10**6))


async def consented_link(client) -> tuple[dict, str, str, str]:
    """A handler sends a link; the caller's phone opens it and consents.

    Returns the incident, the handler's CSRF token, the link's path and the phone's device cookie;
    the client's jar holds both the handler's session and the phone's cookie.
    """
    csrf = await login(client, "handler1")
    incident = await (await create_incident(client, csrf, ref=f"T-{next(_references)}")).json()
    path = (await send_link(client, csrf, incident["id"]))["url"].removeprefix("http://gw.test")
    handler_cookies = {c.key: c.value for c in client.session.cookie_jar}
    client.session.cookie_jar.clear()
    await client.get(path)
    await client.post(path + "/consent", json={})
    device = {c.key: c.value for c in client.session.cookie_jar}["scenelink_device"]
    client.session.cookie_jar.update_cookies(handler_cookies)
    return incident, csrf, path, device


async def open_caller(client, track: VideoStreamTrack | None = None):
    """Handler creates an incident and link; a caller peer streams ``track`` to it."""
    incident, csrf, path, _ = await consented_link(client)
    pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
    pc.addTrack(track or Quadrants())
    pc.createDataChannel("fixes")
    resp = await client.post(path + "/offer", json=await gathered_offer(pc))
    await pc.setRemoteDescription(RTCSessionDescription(**await resp.json()))
    await wait_for(lambda: (s := client.app[LIVE].by_incident.get(incident["id"])) and s.peer.latest.count > 0)
    return incident, csrf, path, pc


async def wait_for(condition, timeout: float = 10.0):
    for _ in range(int(timeout * 20)):
        if condition():
            return
        await asyncio.sleep(0.05)
    raise AssertionError("condition not met in time")


async def add_viewer(client, url: str, headers=None):
    """A view as the console and the embed open one, on either media plane: the embedded relay
    answers the view's offer; an SFU counters it with an offer of its own, answered at
    ``{url}/{viewer}/answer`` from a fresh connection."""
    pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
    pc.addTransceiver("video", direction="recvonly")
    tracks: asyncio.Queue = asyncio.Queue()
    pc.on("track", tracks.put_nowait)
    resp = await client.post(url, json=await gathered_offer(pc), headers=headers or {})
    assert resp.status == 200, await resp.text()
    reply = await resp.json()
    if reply["type"] == "offer":
        await pc.close()
        pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
        pc.on("track", tracks.put_nowait)
        await pc.setRemoteDescription(RTCSessionDescription(sdp=reply["sdp"], type="offer"))
        await pc.setLocalDescription(await pc.createAnswer())
        done = await client.post(f"{url}/{reply['viewer']}/answer", headers=headers or {},
                                 json={"type": "answer", "sdp": pc.localDescription.sdp})
        assert done.status == 200, await done.text()
    else:
        await pc.setRemoteDescription(RTCSessionDescription(sdp=reply["sdp"], type=reply["type"]))
    return pc, await asyncio.wait_for(tracks.get(), 5)


async def test_three_viewers_watch_one_caller_each_on_their_own_connection(client):
    incident, csrf, _, caller = await open_caller(client)
    viewers = [
        await add_viewer(client, f"/api/incidents/{incident['id']}/viewer", {"X-CSRF-Token": csrf}) for _ in range(3)
    ]
    frames = await asyncio.gather(*(asyncio.wait_for(track.recv(), 10) for _, track in viewers))
    assert all((f.width, f.height) == (640, 480) for f in frames)
    health = await (await client.get(f"/api/incidents/{incident['id']}/stream")).json()
    assert health["viewers"] == 3
    for pc, _ in viewers:
        await pc.close()
    await caller.close()


async def test_stream_health_reports_resolution_rate_and_codec(client):
    incident, _, _, caller = await open_caller(client)
    await wait_for(lambda: (s := client.app[LIVE].by_incident[incident["id"]]).media and s.media.health
                   and s.media.health["fps"] is not None, timeout=8)
    health = (await (await client.get(f"/api/incidents/{incident['id']}/stream")).json())["stream"]
    assert (health["width"], health["height"]) == (640, 480)
    assert health["codec"] == "VP8" and health["fps"] > 5 and health["bitrate_kbps"] > 0
    assert 0 <= health["packet_loss"] <= 1
    await caller.close()


async def test_an_embed_opens_one_incidents_video_until_it_expires(client):
    incident, csrf, _, caller = await open_caller(client)
    resp = await client.post(
        f"/api/incidents/{incident['id']}/embeds", json={"ttl_seconds": 60}, headers={"X-CSRF-Token": csrf}
    )
    assert resp.status == 201
    embed = (await resp.json())["url"].removeprefix("http://gw.test")
    client.session.cookie_jar.clear()  # a CAD screen has no operator session
    page = await client.get(embed)
    assert page.status == 200
    assert "frame-ancestors https://cad.example" in page.headers["Content-Security-Policy"]
    assert "X-Frame-Options" not in page.headers
    pc, track = await add_viewer(client, embed + "/viewer")
    assert (await asyncio.wait_for(track.recv(), 10)).width == 640
    await pc.close()

    forged = await client.get("/embed/" + "x" * 32)
    assert forged.status == 404 and "expired" in await forged.text()
    assert (await client.post("/embed/" + "x" * 32 + "/viewer", json={})).status == 404
    await caller.close()


async def test_an_expired_embed_is_refused(client):
    from datetime import timedelta

    from gateway.auth import digest
    from gateway.record.database import utcnow
    from gateway.web.keys import ACCOUNTS

    incident, _, _, caller = await open_caller(client)
    await client.app[ACCOUNTS].add_embed_token(
        digest("old-token"), incident["id"], "h", utcnow() - timedelta(seconds=1)
    )
    assert (await client.get("/embed/old-token")).status == 404
    assert (await client.post("/embed/old-token/viewer", json={"type": "offer", "sdp": "v=0"})).status == 404
    await caller.close()


async def test_a_cut_to_a_new_scene_takes_a_snapshot_by_itself(client):
    incident, _, _, caller = await open_caller(client, SceneCut())
    async def reasons():
        record = await (await client.get(f"/api/incidents/{incident['id']}")).json()
        return [s["reason"] for s in record["snapshots"]]
    for _ in range(100):
        if "scene_change" in await reasons():
            break
        await asyncio.sleep(0.1)
    record = await (await client.get(f"/api/incidents/{incident['id']}")).json()
    snap = next(s for s in record["snapshots"] if s["reason"] == "scene_change")
    assert snap["taken_by"] == "gateway" and snap["thumbnail_url"]
    thumb = await client.get(snap["thumbnail_url"])
    assert thumb.status == 200 and thumb.content_type == "image/jpeg"
    await caller.close()


async def test_interval_snapshots_follow_the_incidents_policy(client):
    incident, csrf, _, caller = await open_caller(client)
    bad = await client.put(
        f"/api/incidents/{incident['id']}/media-policy",
        json={"snapshot_interval_seconds": 1},
        headers={"X-CSRF-Token": csrf},
    )
    assert bad.status == 400
    live = client.app[LIVE].by_incident[incident["id"]]
    resp = await client.put(
        f"/api/incidents/{incident['id']}/media-policy",
        json={"snapshot_interval_seconds": 5, "scene_change_snapshots": False},
        headers={"X-CSRF-Token": csrf},
    )
    assert resp.status == 200 and live.policy.snapshot_interval_seconds == 5
    for _ in range(140):
        record = await (await client.get(f"/api/incidents/{incident['id']}")).json()
        if any(s["reason"] == "interval" for s in record["snapshots"]):
            break
        await asyncio.sleep(0.05)
    assert any(s["reason"] == "interval" for s in record["snapshots"])
    await caller.close()


async def test_a_recording_is_written_in_segments_whose_hashes_verify(client):
    incident, csrf, _, caller = await open_caller(client)
    resp = await client.put(
        f"/api/incidents/{incident['id']}/media-policy", json={"recording": True}, headers={"X-CSRF-Token": csrf}
    )
    assert resp.status == 200

    async def stored(at_least: int) -> list[dict]:
        """Poll the record until it lists ``at_least`` segments (10 s at most)."""
        for _ in range(200):
            segments = (await (await client.get(f"/api/incidents/{incident['id']}")).json())["recordings"]
            if len(segments) >= at_least:
                return segments
            await asyncio.sleep(0.05)
        raise AssertionError(f"fewer than {at_least} segments stored")

    await stored(1)  # the first one-second segment is finished: stopping now leaves a second
    await client.put(
        f"/api/incidents/{incident['id']}/media-policy", json={"recording": False}, headers={"X-CSRF-Token": csrf}
    )
    await wait_for(lambda: not client.app[LIVE].by_incident[incident["id"]].media.recording)
    segments = await stored(2)
    assert len(segments) >= 2 and [s["segment"] for s in segments] == list(range(1, len(segments) + 1))
    for segment in segments:
        data = await (await client.get(segment["url"])).read()
        assert hashlib.sha256(data).hexdigest() == segment["sha256"] and len(data) == segment["bytes"]
        with av.open(__import__("io").BytesIO(data)) as container:
            decoded = sum(1 for _ in container.decode(video=0))
        assert decoded == segment["frames"] > 0
        assert (segment["width"], segment["height"]) == (640, 480)
    await caller.close()


async def test_a_recorder_that_fails_ends_recording_and_says_so(client, monkeypatch):
    from gateway.media import recorder
    from gateway.web.keys import EVENTS

    def full_disk(self, frame, at):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(recorder._SegmentWriter, "write", full_disk)
    incident, csrf, _, caller = await open_caller(client)
    with client.app[EVENTS].subscribe(incident["id"]) as events:
        resp = await client.put(
            f"/api/incidents/{incident['id']}/media-policy", json={"recording": True}, headers={"X-CSRF-Token": csrf}
        )
        assert resp.status == 200
        seen: list = []

        def failed() -> bool:
            while not events.queue.empty():
                seen.append(events.queue.get_nowait())
            return any(e.type == "recording.failed" for e in seen)

        await wait_for(failed)
    failure = next(e for e in seen if e.type == "recording.failed")
    assert "No space left on device" in failure.data["error"]
    assert [e.type for e in seen if e.type.startswith("recording.")][-2:] == ["recording.failed", "recording.stopped"]
    assert client.app[LIVE].health(incident["id"])["recording"] is False
    await caller.close()


async def test_mjpeg_sends_jpeg_parts_for_viewers_without_webrtc(client):
    incident, _, _, caller = await open_caller(client)
    resp = await client.get(f"/api/incidents/{incident['id']}/mjpeg")
    assert resp.status == 200 and resp.content_type == "multipart/x-mixed-replace"
    data = b""
    while data.count(b"\xff\xd8") < 2:
        data += await asyncio.wait_for(resp.content.read(65536), 5)
    assert b"Content-Type: image/jpeg" in data
    resp.close()
    await caller.close()


async def test_an_embedded_mjpeg_stream_ends_when_its_link_is_withdrawn(client):
    from gateway.web.keys import ACCOUNTS

    incident, csrf, _, caller = await open_caller(client)
    resp = await client.post(
        f"/api/incidents/{incident['id']}/embeds", json={"ttl_seconds": 600}, headers={"X-CSRF-Token": csrf}
    )
    embed = (await resp.json())["url"].removeprefix("http://gw.test")
    stream = await client.get(embed + "/mjpeg")
    assert stream.status == 200
    data = b""
    while b"\xff\xd8" not in data:
        data += await asyncio.wait_for(stream.content.read(65536), 5)
    assert await client.app[ACCOUNTS].revoke_embeds("admin", incident_id=incident["id"]) == 1
    # The stream re-checks its link every few seconds and ends: the body reaches its end.
    async def until_end() -> None:
        while await stream.content.read(65536):
            pass

    await asyncio.wait_for(until_end(), 15)
    stream.close()
    await caller.close()


async def test_operators_choose_to_see_video_blurred_until_revealed(client):
    await login(client, "handler1")
    me = await (await client.get("/api/me")).json()
    assert (await (await client.get("/api/me/preferences")).json()) == {"blur_video": False}
    resp = await client.put(
        "/api/me/preferences", json={"blur_video": True}, headers={"X-CSRF-Token": me["csrf_token"]}
    )
    assert (await resp.json()) == {"blur_video": True}
    bad = await client.put(
        "/api/me/preferences", json={"blur_video": "yes"}, headers={"X-CSRF-Token": me["csrf_token"]}
    )
    assert bad.status == 400


CALLER_SCRIPT = Path(__file__).with_name("vanishing_caller.py")


async def test_a_caller_that_vanishes_without_a_goodbye_is_cleaned_up(client):
    """The caller's process is killed outright: no BYE, no DTLS close, nothing."""
    incident, _, path, device = await consented_link(client)
    proc = await asyncio.create_subprocess_exec(
        sys.executable, str(CALLER_SCRIPT), str(client.make_url(path)), device,
        stdout=asyncio.subprocess.PIPE,
    )
    assert (await asyncio.wait_for(proc.stdout.readline(), 15)).strip() == b"streaming"
    live = client.app[LIVE]
    await wait_for(lambda: (s := live.by_incident.get(incident["id"])) and s.peer.latest.count > 0)
    peer = live.by_incident[incident["id"]].peer
    proc.kill()
    await proc.wait()
    # Silence timeout 2 s, checked every 0.5 s, plus the goodbye's grace period.
    await wait_for(lambda: peer.pc.connectionState == "closed" and not peer._tasks, timeout=6)
    assert incident["id"] not in live.by_incident
    record = await (await client.get(f"/api/incidents/{incident['id']}")).json()
    assert record["sessions"][0]["ended_by"] == "gateway" and "nothing received" in record["sessions"][0]["end_reason"]
    assert record["state"] == "streaming", "the link stays usable so the caller can come back"


async def test_a_caller_that_offers_only_h264_still_streams(client):
    from aiortc import RTCRtpSender

    incident, csrf, path, _ = await consented_link(client)
    pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
    transceiver = pc.addTransceiver(Quadrants(), direction="sendonly")
    h264 = [c for c in RTCRtpSender.getCapabilities("video").codecs if c.mimeType == "video/H264"]
    transceiver.setCodecPreferences(h264)
    pc.createDataChannel("fixes")
    resp = await client.post(path + "/offer", json=await gathered_offer(pc))
    answer = await resp.json()
    assert "H264/90000" in answer["sdp"] and "VP8/90000" not in answer["sdp"]
    await pc.setRemoteDescription(RTCSessionDescription(**answer))
    live = client.app[LIVE]
    await wait_for(lambda: (s := live.by_incident.get(incident["id"])) and s.peer.latest.count > 3)
    viewer, track = await add_viewer(client, f"/api/incidents/{incident['id']}/viewer", {"X-CSRF-Token": csrf})
    assert (await asyncio.wait_for(track.recv(), 10)).width == 640
    await viewer.close()
    await pc.close()
