"""Viewers fed the caller's own encoded frames (``[media] viewer_video = "forward"``) or transcoded.

A real aiortc caller sends VP8 through the gateway; real aiortc viewers decode what they get.
"""

from __future__ import annotations

import asyncio
import queue
from dataclasses import replace

import pytest
from aiortc import RTCConfiguration, RTCPeerConnection, RTCRtpSender, RTCSessionDescription
from aiortc.codecs.vpx import Vp8Encoder

from gateway.media.encoder import RELAY_VP8, RelayVp8Encoder
from gateway.media.keyframes import is_vp8_keyframe
from gateway.web.keys import LIVE

from ..conftest import needs_test_network
from .test_media import call, gathered_offer

pytestmark = needs_test_network


@pytest.fixture(params=["forward", "transcode"])
def viewer_video(request: pytest.FixtureRequest) -> str:
    return request.param


@pytest.fixture
def settings(settings, viewer_video):
    return replace(settings, media=replace(settings.media, viewer_video=viewer_video))


class SeenFrames(queue.Queue):
    """The viewer's decoder input, noting whether each encoded frame it gets is a VP8 keyframe."""

    def __init__(self) -> None:
        super().__init__()
        self.keyframes: list[bool] = []

    def put(self, item, block=True, timeout=None):
        if item is not None:
            self.keyframes.append(is_vp8_keyframe(item[1].data))
        super().put(item, block, timeout)


async def open_view(client, call_: dict, codec: str = "video/VP8"):
    viewer = RTCPeerConnection(RTCConfiguration(iceServers=[]))
    transceiver = viewer.addTransceiver("video", direction="recvonly")
    transceiver.setCodecPreferences(
        [c for c in RTCRtpSender.getCapabilities("video").codecs if c.mimeType in (codec, "video/rtx")]
    )
    tracks: asyncio.Queue = asyncio.Queue()
    viewer.on("track", tracks.put_nowait)
    resp = await client.post(
        f"/api/incidents/{call_['incident']['id']}/viewer", json=await gathered_offer(viewer),
        headers={"X-CSRF-Token": call_["csrf"]},
    )
    assert resp.status == 200, await resp.text()
    await viewer.setRemoteDescription(RTCSessionDescription(**await resp.json()))
    transceiver.receiver._RTCRtpReceiver__decoder_queue = seen = SeenFrames()  # before its decoder starts
    return viewer, transceiver, await asyncio.wait_for(tracks.get(), 5), seen


async def poll(check, seconds: float = 5.0) -> None:
    deadline = asyncio.get_running_loop().time() + seconds
    while not check():
        assert asyncio.get_running_loop().time() < deadline, "not within the time allowed"
        await asyncio.sleep(0.02)


async def test_a_vp8_viewer_is_forwarded_the_callers_frames_or_transcoded_as_configured(client, viewer_video):
    call_ = await call(client)
    viewer, transceiver, track, seen = await open_view(client, call_)
    try:
        first = await asyncio.wait_for(track.recv(), 10)
        assert (first.width, first.height) == (640, 480)
        live = client.app[LIVE].by_incident[call_["incident"]["id"]]
        (view,) = live.plane.viewers
        (sender,) = [t.sender for t in view.pc.getTransceivers() if t.kind == "video"]
        encoder = sender._RTCRtpSender__encoder
        hub = live.peer.forwarding
        if viewer_video == "forward":
            # The first frame the viewer got was a keyframe: it was fed from one on.
            assert seen.keyframes[0] and view.forwarded
            assert isinstance(encoder, Vp8Encoder) and encoder.codec is None, "nothing was encoded"
            # The viewer reports picture loss: the caller is asked, and a keyframe reaches the viewer.
            plis, got = live.peer.keyframe_stats()["plis"], len(seen.keyframes)
            await transceiver.receiver._send_rtcp_pli(sender._ssrc)
            await poll(lambda: hub.stats.viewer_requests == 1)
            await poll(lambda: live.peer.keyframe_stats()["plis"] > plis)
            await poll(lambda: any(seen.keyframes[got:]))
            # ... and it goes on decoding: frames after the keyframe, at full size.
            for _ in range(3):
                frame = await asyncio.wait_for(track.recv(), 10)
                assert (frame.width, frame.height) == (640, 480)
            assert hub.stats.overflows == 0
        else:
            assert not view.forwarded and hub.stats.forwarded == 0
            assert isinstance(encoder, RelayVp8Encoder) and encoder.opened >= 1
            assert encoder.options["cpu-used"] == str(RELAY_VP8.cpu_used) and encoder.codec.options == {}
    finally:
        await viewer.close()
        await call_["pc"].close()


@pytest.mark.parametrize("viewer_video", ["forward"], indirect=True)
async def test_an_h264_viewer_of_a_vp8_caller_is_transcoded_even_when_forwarding(client, viewer_video):
    call_ = await call(client)
    viewer, transceiver, track, seen = await open_view(client, call_, "video/H264")
    try:
        frame = await asyncio.wait_for(track.recv(), 10)
        assert (frame.width, frame.height) == (640, 480)
        live = client.app[LIVE].by_incident[call_["incident"]["id"]]
        (view,) = live.plane.viewers
        assert not view.forwarded and not live.peer.forwarding.tracks
        assert transceiver.receiver.track is not None
    finally:
        await viewer.close()
        await call_["pc"].close()
