"""A Chromium caller's own VP8 frames forwarded to viewers (the embedded relay's default).

The handler's console (Chromium) and a second view (an aiortc peer that decodes every frame and
notes which encoded frames it got) watch a real Chromium caller: neither view's frames are
encoded by the gateway; the second starts at a keyframe, and when it reports picture loss (a PLI)
the gateway asks the caller, whose next keyframe reaches it.
"""

from __future__ import annotations

import asyncio

import pytest
from aiortc import RTCConfiguration, RTCPeerConnection

from .callers import eventually
from .viewer import watch
from .walkthrough import Walkthrough

pytestmark = pytest.mark.e2e


async def forwarding(w: Walkthrough) -> dict:
    stream = await w.handler.evaluate(
        "async (id) => (await fetch(`/api/incidents/${id}/stream`)).json()", w.incident_id
    )
    return (stream.get("stream") or {}).get("forwarding") or {}


async def test_a_chromium_callers_frames_are_forwarded_and_a_viewers_pli_brings_a_keyframe(browser, gateway):
    w = Walkthrough(browser, gateway.base_url, gateway.passwords)
    viewer = RTCPeerConnection(RTCConfiguration(iceServers=[]))
    try:
        await w.handler_sends_link()
        await w.caller_shares()
        await w.handler_sees_video()
        # The console's view is fed the caller's frames as they came.
        await eventually(lambda: _forwarded(w), 10.0, what="frames forwarded to the console")

        transceiver, seen, track = await watch(w, viewer)

        frame = await asyncio.wait_for(track.recv(), 10)
        assert (frame.width, frame.height) == (640, 480)
        assert seen.keyframes[0], "the view was fed from a keyframe on"

        before = await forwarding(w)
        got = len(seen.keyframes)
        ssrc = next(iter(transceiver.receiver._RTCRtpReceiver__active_ssrc))
        await transceiver.receiver._send_rtcp_pli(ssrc)
        await eventually(lambda: asyncio.sleep(0, any(seen.keyframes[got:])), 10.0,
                         what="a keyframe after the view's PLI")
        for _ in range(5):  # and it goes on decoding from there
            frame = await asyncio.wait_for(track.recv(), 10)
            assert (frame.width, frame.height) == (640, 480)
        after = await eventually(lambda: _requests_after(w, before.get("viewer_requests", 0)), 10.0,
                                 what="the view's request in stream health")
        assert after["overflows"] == 0
    finally:
        await viewer.close()
        await w.close()


async def _forwarded(w: Walkthrough) -> bool:
    return (await forwarding(w)).get("forwarded", 0) > 0


async def _requests_after(w: Walkthrough, before: int) -> dict | None:
    f = await forwarding(w)
    return f if f.get("viewer_requests", 0) > before else None
