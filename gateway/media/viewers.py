"""Operators' live views: each viewer gets its own peer connection fed from the caller.

Two ways to feed a viewer (``[media] viewer_video``):

- ``forward`` (the default): a viewer that negotiated the codec the caller sends (VP8) is sent the
  caller's own encoded frames (:mod:`.forwarding`), nothing decoded or encoded for it;
- ``transcode``: every viewer is sent the decoded frames, encoded again for it (the relay's VP8
  encoder, :mod:`.encoder`, or aiortc's H.264 one), at a bitrate following its own link.

A viewer that cannot be forwarded to (it negotiated H.264 while the caller sends VP8, or the other
way round; aiortc's internals not as expected) is transcoded whatever the setting.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

from aiortc import MediaStreamTrack, RTCPeerConnection, RTCSessionDescription
from aiortc.contrib.media import MediaRelay

from ..config import IceServer
from .encoder import use_relay_encoder
from .forwarding import FORWARDED_CODECS, ForwardedTrack, ForwardingHub, forward_viewer_plis, video_codec
from .peers import new_peer_connection, prefer_vp8

log = logging.getLogger(__name__)

class Viewer:
    def __init__(self, pc: RTCPeerConnection, operator: str, track: MediaStreamTrack | None = None) -> None:
        self.pc = pc
        self.operator = operator
        self.track = track

    @property
    def forwarded(self) -> bool:
        """True when this viewer is sent the caller's own encoded frames."""
        return isinstance(self.track, ForwardedTrack)

    async def close(self) -> None:
        await self.pc.close()
        if self.track is not None:
            self.track.stop()  # off the relay or the forwarding hub


async def open_viewer(
    relay: MediaRelay,
    source: MediaStreamTrack,
    offer_sdp: str,
    ice_servers: Iterable[IceServer],
    operator: str,
    hub: ForwardingHub | None = None,
    caller_codec: str | None = None,
) -> tuple[Viewer, str]:
    """Answer a viewer's receive-only offer with the caller's video.

    With a ``hub`` and a caller sending a forwardable codec (``caller_codec``), a viewer that
    negotiates that codec is forwarded to; otherwise the relayed track is unbuffered so a slow
    viewer sees the newest frame, not a growing backlog, and a VP8 viewer's frames are encoded by
    the relay's own encoder (:mod:`.encoder`).
    """
    pc = new_peer_connection(ice_servers)
    track: MediaStreamTrack | None = None
    try:
        await pc.setRemoteDescription(RTCSessionDescription(sdp=offer_sdp, type="offer"))
        if not any(t.kind == "video" for t in pc.getTransceivers()):
            raise ValueError("the viewer's offer has no video section")
        forwarding = hub is not None and caller_codec in FORWARDED_CODECS
        track = hub.subscribe() if forwarding and hub is not None else relay.subscribe(source, buffered=False)
        sender = pc.addTrack(track)
        prefer_vp8(pc)
        await pc.setLocalDescription(await pc.createAnswer())
        if isinstance(track, ForwardedTrack) and not (
            video_codec(pc) == caller_codec and forward_viewer_plis(sender, track)
        ):
            # Another codec than the caller's (or aiortc changed): this viewer is transcoded.
            track.stop()
            track = relay.subscribe(source, buffered=False)
            sender.replaceTrack(track)
        if not isinstance(track, ForwardedTrack):
            use_relay_encoder(pc)
    except BaseException:
        await pc.close()
        if track is not None:
            track.stop()
        raise
    viewer = Viewer(pc, operator, track)
    return viewer, pc.localDescription.sdp
