"""A Chromium caller's own VP8 frames forwarded to viewers (the embedded relay's default).

The handler's console (Chromium) and a second view (an aiortc peer that decodes every frame and
notes which encoded frames it got) watch a real Chromium caller: neither view's frames are
encoded by the gateway; the second starts at a keyframe, and when it reports picture loss (a PLI)
the gateway asks the caller, whose next keyframe reaches it.
"""

from __future__ import annotations

import asyncio

import pytest
from aiortc import RTCConfiguration, RTCPeerConnection, RTCSessionDescription

from ..integration.test_media_forwarding import SeenFrames
from .walkthrough import Walkthrough

pytestmark = pytest.mark.e2e


async def forwarding(w: Walkthrough) -> dict:
    stream = await w.handler.evaluate(
        "async (id) => (await fetch(`/api/incidents/${id}/stream`)).json()", w.incident_id
    )
    return (stream.get("stream") or {}).get("forwarding") or {}


async def poll(check, what: str, seconds: float = 10.0):
    deadline = asyncio.get_running_loop().time() + seconds
    while True:
        value = await check()
        if value:
            return value
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"{what} did not happen within {seconds} s (last: {value!r})")
        await asyncio.sleep(0.2)


async def test_a_chromium_callers_frames_are_forwarded_and_a_viewers_pli_brings_a_keyframe(browser, gateway):
    w = Walkthrough(browser, gateway.base_url, gateway.passwords)
    viewer = RTCPeerConnection(RTCConfiguration(iceServers=[]))
    try:
        await w.handler_sends_link()
        await w.caller_shares()
        await w.handler_sees_video()
        # The console's view is fed the caller's frames as they came.
        await poll(lambda: _forwarded(w), "frames forwarded to the console")

        transceiver = viewer.addTransceiver("video", direction="recvonly")
        tracks: asyncio.Queue = asyncio.Queue()
        viewer.on("track", tracks.put_nowait)
        await viewer.setLocalDescription(await viewer.createOffer())
        answer = await w.handler.evaluate(
            """async ([id, sdp]) => {
                const me = await (await fetch('/api/me')).json();
                const r = await fetch(`/api/incidents/${id}/viewer`, {method: 'POST',
                    headers: {'Content-Type': 'application/json', 'X-CSRF-Token': me.csrf_token},
                    body: JSON.stringify({type: 'offer', sdp})});
                return {status: r.status, body: await r.json()};
            }""",
            [w.incident_id, viewer.localDescription.sdp],
        )
        assert answer["status"] == 200, answer
        await viewer.setRemoteDescription(RTCSessionDescription(answer["body"]["sdp"], answer["body"]["type"]))
        seen = transceiver.receiver._RTCRtpReceiver__decoder_queue = SeenFrames()  # before its decoder starts
        track = await asyncio.wait_for(tracks.get(), 10)

        frame = await asyncio.wait_for(track.recv(), 10)
        assert (frame.width, frame.height) == (640, 480)
        assert seen.keyframes[0], "the view was fed from a keyframe on"

        before = await forwarding(w)
        got = len(seen.keyframes)
        ssrc = next(iter(transceiver.receiver._RTCRtpReceiver__active_ssrc))
        await transceiver.receiver._send_rtcp_pli(ssrc)
        await poll(lambda: asyncio.sleep(0, any(seen.keyframes[got:])), "a keyframe after the view's PLI")
        for _ in range(5):  # and it goes on decoding from there
            frame = await asyncio.wait_for(track.recv(), 10)
            assert (frame.width, frame.height) == (640, 480)
        after = await poll(
            lambda: _requests_after(w, before.get("viewer_requests", 0)), "the view's request in stream health"
        )
        assert after["overflows"] == 0
    finally:
        await viewer.close()
        await w.close()


async def _forwarded(w: Walkthrough) -> bool:
    return (await forwarding(w)).get("forwarded", 0) > 0


async def _requests_after(w: Walkthrough, before: int) -> dict | None:
    f = await forwarding(w)
    return f if f.get("viewer_requests", 0) > before else None
