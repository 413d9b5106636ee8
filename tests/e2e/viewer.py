"""An aiortc view of an incident's video, asked for with the handler's console session.

The view's decoder queue is a :class:`SeenFrames`, so a test sees every encoded frame the gateway
sent it, keyframes marked, as the decoder gets them.
"""

from __future__ import annotations

import asyncio

from aiortc import MediaStreamTrack, RTCPeerConnection, RTCRtpTransceiver, RTCSessionDescription

from ..integration.test_media_forwarding import SeenFrames
from .walkthrough import Walkthrough

# The console's own request for a view, made from its page so it carries the session and CSRF token.
_ASK_FOR_VIEW = """async ([id, sdp]) => {
    const me = await (await fetch('/api/me')).json();
    const r = await fetch(`/api/incidents/${id}/viewer`, {method: 'POST',
        headers: {'Content-Type': 'application/json', 'X-CSRF-Token': me.csrf_token},
        body: JSON.stringify({type: 'offer', sdp})});
    return {status: r.status, body: await r.json()};
}"""


async def watch(
    w: Walkthrough, viewer: RTCPeerConnection,
) -> tuple[RTCRtpTransceiver, SeenFrames, MediaStreamTrack]:
    """Connect ``viewer`` (which the caller closes) to the incident's video: its transceiver, the
    frames it is sent, and its track once it arrives."""
    transceiver = viewer.addTransceiver("video", direction="recvonly")
    tracks: asyncio.Queue = asyncio.Queue()
    viewer.on("track", tracks.put_nowait)
    await viewer.setLocalDescription(await viewer.createOffer())
    answer = await w.handler.evaluate(_ASK_FOR_VIEW, [w.incident_id, viewer.localDescription.sdp])
    assert answer["status"] == 200, answer
    await viewer.setRemoteDescription(RTCSessionDescription(answer["body"]["sdp"], answer["body"]["type"]))
    seen = transceiver.receiver._RTCRtpReceiver__decoder_queue = SeenFrames()  # before its decoder starts
    return transceiver, seen, await asyncio.wait_for(tracks.get(), 10)
