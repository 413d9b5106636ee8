"""Operators' live views: each viewer gets its own peer connection fed from the caller's relay."""

from __future__ import annotations

import logging
from collections.abc import Iterable

from aiortc import MediaStreamTrack, RTCPeerConnection, RTCSessionDescription
from aiortc.contrib.media import MediaRelay

from ..config import IceServer
from .encoder import use_relay_encoder
from .peers import new_peer_connection, prefer_vp8

log = logging.getLogger(__name__)


class Viewer:
    def __init__(self, pc: RTCPeerConnection, operator: str) -> None:
        self.pc = pc
        self.operator = operator

    async def close(self) -> None:
        await self.pc.close()


async def open_viewer(
    relay: MediaRelay,
    source: MediaStreamTrack,
    offer_sdp: str,
    ice_servers: Iterable[IceServer],
    operator: str,
) -> tuple[Viewer, str]:
    """Answer a viewer's receive-only offer with the caller's video.

    The relayed track is unbuffered so a slow viewer sees the newest frame, not a growing backlog;
    a VP8 viewer's frames are encoded by the relay's own encoder (:mod:`.encoder`).
    """
    pc = new_peer_connection(ice_servers)
    try:
        await pc.setRemoteDescription(RTCSessionDescription(sdp=offer_sdp, type="offer"))
        if not any(t.kind == "video" for t in pc.getTransceivers()):
            raise ValueError("the viewer's offer has no video section")
        pc.addTrack(relay.subscribe(source, buffered=False))
        prefer_vp8(pc)
        await pc.setLocalDescription(await pc.createAnswer())
        use_relay_encoder(pc)
    except BaseException:
        await pc.close()
        raise
    viewer = Viewer(pc, operator)
    return viewer, pc.localDescription.sdp
