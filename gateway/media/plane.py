"""The media plane: where a caller's video goes and how operators' views are fed from it.

One interface, two implementations chosen by ``[media] plane``:

- ``embedded`` (the default): the gateway answers the caller's whole offer with aiortc and
  relays the video to each viewer itself (:mod:`gateway.media.viewers`), forwarding the caller's
  own encoded frames or transcoding them as ``[media] viewer_video`` says;
- ``janus``: the caller's video is published to a Janus VideoRoom made for the incident, viewers
  subscribe there, and the gateway subscribes once for its own needs (:mod:`gateway.media.janus`).

Either way the caller's page and the operators' consoles speak only to the gateway, and the
caller's data channel (fixes, messages, pings) ends at the gateway's :class:`CallerPeer`.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Protocol

from ..config import IceServer, MediaSettings
from .forwarding import video_codec
from .ingest import CallerPeer
from .viewers import Viewer, open_viewer


class NoVideo(Exception):
    """The caller's video cannot be viewed (not started, or no longer there)."""


class PlaneUnavailable(Exception):
    """The media plane cannot take a caller now (e.g. Janus is down); nothing was sent to the caller."""


@dataclass(frozen=True)
class ViewerReply:
    """The plane's reply to a viewer's offer: an answer, or (``type == "offer"``) an offer of its
    own that the viewer answers through :meth:`CallerMedia.complete_viewer` with ``viewer_id``."""

    type: str
    sdp: str
    viewer_id: str | None = None

    def to_json(self) -> dict[str, str]:
        body = {"type": self.type, "sdp": self.sdp}
        if self.viewer_id is not None:
            body["viewer"] = self.viewer_id
        return body


class CallerMedia(Protocol):
    """One caller session's media on the plane; :meth:`close` releases all of it."""

    async def answer(self, offer_sdp: str) -> str:
        """The answer to the caller page's offer (raises ValueError for an offer it cannot take)."""

    async def add_viewer(self, offer_sdp: str, operator: str) -> ViewerReply:
        """A viewer's receive-only offer: answered, or countered with the plane's own offer."""

    async def complete_viewer(self, viewer_id: str, answer_sdp: str, operator: str) -> None:
        """The viewer's answer to a counter-offer (KeyError for an unknown or finished viewer)."""

    def viewer_count(self) -> int:
        """Operators' views open now."""

    async def close(self) -> None:
        """End every view and stop receiving the caller's media (idempotent)."""


class MediaPlane(Protocol):
    name: str

    def caller(self, incident_id: str, peer: CallerPeer) -> CallerMedia:
        """The media of a new caller session whose data channel and frames ``peer`` handles."""

    async def close(self) -> None:
        """Release what the plane holds beyond its sessions (connections, rooms)."""


class EmbeddedCaller:
    """The caller's whole offer answered here; each viewer fed from the caller: forwarded its
    encoded frames (``viewer_video == "forward"``, where the codecs allow) or transcoded."""

    def __init__(self, peer: CallerPeer, ice_servers: Iterable[IceServer], viewer_video: str = "forward") -> None:
        self.peer = peer
        self.ice_servers = ice_servers
        self.viewer_video = viewer_video
        self.viewers: list[Viewer] = []
        self._closed = False

    async def answer(self, offer_sdp: str) -> str:
        return await self.peer.answer(offer_sdp)

    async def add_viewer(self, offer_sdp: str, operator: str) -> ViewerReply:
        if self._closed or self.peer.video is None:
            raise NoVideo("the caller is not streaming video")
        hub = self.peer.forwarding if self.viewer_video == "forward" else None
        viewer, answer = await open_viewer(
            self.peer.relay, self.peer.video, offer_sdp, self.ice_servers, operator,
            hub, video_codec(self.peer.pc) if hub is not None else None,
        )
        self.viewers.append(viewer)
        if not viewer.forwarded:
            # A re-encoded view shows what is decoded: every frame, not the base layer alone.
            self.peer.decode_every_frame(viewer, True)

        @viewer.pc.on("connectionstatechange")
        async def _state() -> None:
            if viewer.pc.connectionState in ("failed", "closed") and viewer in self.viewers:
                self.viewers.remove(viewer)
                self.peer.decode_every_frame(viewer, False)
                await viewer.close()

        return ViewerReply("answer", answer)

    async def complete_viewer(self, viewer_id: str, answer_sdp: str, operator: str) -> None:
        raise KeyError("this media plane answers viewers' offers directly")

    def viewer_count(self) -> int:
        return len(self.viewers)

    async def close(self) -> None:
        self._closed = True
        viewers, self.viewers = self.viewers, []
        for viewer in viewers:
            self.peer.decode_every_frame(viewer, False)
            await viewer.close()


class EmbeddedPlane:
    name = "embedded"

    def __init__(self, ice_servers: Iterable[IceServer] = (), viewer_video: str = "forward") -> None:
        # Not copied: iterated for each peer connection (gateway.ice.FreshEachTime).
        self.ice_servers = ice_servers
        self.viewer_video = viewer_video

    def caller(self, incident_id: str, peer: CallerPeer) -> CallerMedia:
        return EmbeddedCaller(peer, self.ice_servers, self.viewer_video)

    async def close(self) -> None:
        pass


def make_plane(media: MediaSettings, ice_servers: Iterable[IceServer] = ()) -> MediaPlane:
    """The media plane ``media.plane`` names."""
    if media.plane == "janus":
        from .janus import JanusPlane

        assert media.janus is not None  # the configuration checks this
        return JanusPlane(media.janus, ice_servers)
    return EmbeddedPlane(ice_servers, media.viewer_video)


def new_viewer_id() -> str:
    return secrets.token_urlsafe(18)
