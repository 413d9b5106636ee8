"""The caller's side of the media path: one peer connection, its video and its data channel."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Iterable

from aiortc import MediaStreamTrack, RTCDataChannel, RTCPeerConnection, RTCSessionDescription
from aiortc.contrib.media import MediaRelay
from aiortc.mediastreams import MediaStreamError
from av import VideoFrame

from ..config import IceServer
from ..limits import LogQuota
from ..tasks import TaskSet
from . import decoding, feedback, forwarding, keyframes
from .frames import LatestFrame
from .layers import LayerFilter
from .peers import new_peer_connection, prefer_vp8
from .sdp import add_bitrate_hints, media_kinds

log = logging.getLogger(__name__)

MAX_MESSAGE_BYTES = 2048
# Data-channel messages waiting to be handled, per peer. They are handled one at a time, in the
# order they came (a fix, then the reply that mentions it); beyond this many waiting, new ones
# are dropped and counted: a page sending faster than the record can take is misbehaving.
MAX_QUEUED_MESSAGES = 64
# The page may open a second, unordered data channel with no retransmissions for the gateway's
# pings and its pongs. On a lossy link a ping on the ordered, reliable channel waits behind its own
# retransmission (SCTP's timeout is a second or more, doubling), so the page would take a living
# gateway for gone; lost pings on this one are simply lost, and the next arrives on time.
PULSE_LABEL = "pulse"

# What the caller page asks for is about 640x480 at 15 fps; these hold Chromium at that size.
START_KBPS, MIN_KBPS, MAX_KBPS = 900, 300, 2500

MessageHandler = Callable[[str], Awaitable[None]]
Notify = Callable[[str], Awaitable[None]]


class CallerPeer:
    """Receives the caller's camera and fixes. Every received track is consumed from the start.

    ``on_message`` gets each data-channel text message (already size-checked); ``on_event`` gets
    ``"channel"`` when the data channel opens, ``"video"`` on the first decoded frame and
    ``"closed"``/``"failed"`` when the connection ends. With ``recovery`` the video receiver asks
    for a keyframe as soon as its stream stalls (see :mod:`gateway.media.keyframes`).
    """

    def __init__(
        self,
        ice_servers: Iterable[IceServer],
        on_message: MessageHandler,
        on_event: Notify,
        recovery: bool = True,
    ) -> None:
        self.pc = new_peer_connection(ice_servers)
        # The connection the video arrives on: this one, or the one another media plane (Janus)
        # delivers it through. Stream health reads its statistics.
        self.video_pc: RTCPeerConnection = self.pc
        self.relay = MediaRelay()
        self.latest = LatestFrame()
        self.video: MediaStreamTrack | None = None
        self.channel: RTCDataChannel | None = None
        self.pulse: RTCDataChannel | None = None
        self._on_message = on_message
        self._on_event = on_event
        self._tasks = TaskSet("caller peer")
        self._inbox: asyncio.Queue[str] = asyncio.Queue(MAX_QUEUED_MESSAGES)
        self._consumer: asyncio.Task | None = None
        self.dropped_messages = 0
        self._drop_log = LogQuota(rate=0.2, burst=3)
        self._closed = False
        # When anything last arrived from the caller (monotonic seconds), and the data channel's
        # round trip as measured by the gateway's pings.
        self.last_activity = time.monotonic()
        self.rtt_ms: float | None = None
        # The video clock and the data channel's, apart: fixes arriving do not mean video is.
        self.last_frame_at: float | None = None
        self.last_message_at: float | None = None
        self.expects_video = False
        self._recovery = recovery
        self.keyframes: keyframes.Installed | None = None
        self.pli_stats: keyframes.RecoveryStats | None = None
        self.decoder_queue: decoding.DecoderQueue | None = None
        # The caller's encoded frames, for viewers they are forwarded to (None: transcoded).
        self.forwarding: forwarding.ForwardingHub | None = None
        self.remb: feedback.RembThrottle | None = None

        self.pc.on("track", self.take_track)
        self.pc.on("datachannel", self._on_datachannel)
        self.pc.on("connectionstatechange", self._on_connection_state)

    async def answer(self, offer_sdp: str) -> str:
        try:
            await self.pc.setRemoteDescription(RTCSessionDescription(sdp=offer_sdp, type="offer"))
        except Exception as exc:
            # Everything aiortc finds wrong with the caller's text is the caller's mistake: a 400.
            raise ValueError(f"the offer cannot be applied ({type(exc).__name__}: {exc})") from exc
        self.expects_video = "video" in media_kinds(offer_sdp)
        self.watch_receivers(self.pc)
        prefer_vp8(self.pc)
        answer = await self.pc.createAnswer()
        await self.pc.setLocalDescription(answer)
        return add_bitrate_hints(self.pc.localDescription.sdp, START_KBPS, MIN_KBPS, MAX_KBPS)

    def watch_receivers(self, pc: RTCPeerConnection) -> None:
        """Count keyframe requests on (and, with recovery, recover) the first video receiver of
        ``pc``: this peer's own, or the one through which another media plane delivers the video.
        Its frames waiting for the decoder are bounded too (:mod:`.decoding`), and, where the
        recovering jitter buffer guarantees each frame's references, tapped for forwarding to
        viewers (:mod:`.forwarding`); its bandwidth feedback is sent at a browser's rate
        (:mod:`.feedback`)."""
        for transceiver in pc.getTransceivers():
            if transceiver.kind == "video" and self.keyframes is None and self.pli_stats is None:
                if self._recovery:
                    self.keyframes = keyframes.install(transceiver.receiver)
                else:
                    self.pli_stats = keyframes.count_plis(transceiver.receiver)
                self.decoder_queue = decoding.install(transceiver.receiver)
                if self.keyframes is not None and self.decoder_queue is not None:
                    self.forwarding = forwarding.install(transceiver.receiver, self.decoder_queue)
                self.remb = feedback.install(transceiver.receiver)

    def send(self, text: str) -> None:
        if self.channel is not None and self.channel.readyState == "open":
            self.channel.send(text)

    def pulse_open(self) -> bool:
        """True when the page's unreliable ping channel is open (see :data:`PULSE_LABEL`)."""
        return self.pulse is not None and self.pulse.readyState == "open"

    def send_pulse(self, text: str) -> None:
        """Send a ping: on the unreliable channel when the page opened one, else the main one."""
        if self.pulse is not None and self.pulse.readyState == "open":
            self.pulse.send(text)
        else:
            self.send(text)

    async def say_goodbye(self, text: str, timeout: float = 0.5) -> None:
        """Send a last message and give it a moment to leave before the connection closes."""
        if self.channel is None or self.channel.readyState != "open":
            return
        self.channel.send(text)
        deadline = asyncio.get_running_loop().time() + timeout
        while self.channel.bufferedAmount and asyncio.get_running_loop().time() < deadline:
            await asyncio.sleep(0.02)
        await asyncio.sleep(0.05)

    def take_track(self, track: MediaStreamTrack) -> None:
        """Consume a track of the caller's: this peer's own, or one another media plane delivers."""
        if track.kind == "video" and self.video is None:
            self.video = track
            # The keeper reads through the relay like any viewer, unbuffered, so it always holds
            # the newest frame and keeps the source drained even when nobody is watching.
            self._tasks.spawn(self._keep_latest(self.relay.subscribe(track, buffered=False)))
        else:
            self._tasks.spawn(self._drain(track))

    async def _keep_latest(self, track: MediaStreamTrack) -> None:
        try:
            while True:
                frame = await track.recv()
                self.last_activity = self.last_frame_at = time.monotonic()
                if not isinstance(frame, VideoFrame):
                    continue  # a video track yields video frames; anything else is not ours to show
                first = self.latest.count == 0
                self.latest.update(frame)
                if first:
                    await self._on_event("video")
        except MediaStreamError:
            pass

    async def _drain(self, track: MediaStreamTrack) -> None:
        try:
            while True:
                await track.recv()
        except MediaStreamError:
            pass

    def _on_datachannel(self, channel: RTCDataChannel) -> None:
        if channel.label == PULSE_LABEL and self.pulse is None:
            # Pongs come back on it; they are handled like any other message, in the same queue.
            self.pulse = channel
        else:
            self.channel = channel
            self._tasks.spawn(self._on_event("channel"))
        if self._consumer is None:
            self._consumer = self._tasks.spawn(self._consume())

        @channel.on("message")
        def _message(message: str | bytes) -> None:
            if not isinstance(message, str) or len(message) > MAX_MESSAGE_BYTES:
                self._drop(f"binary or over {MAX_MESSAGE_BYTES} bytes")
                return
            self.last_activity = self.last_message_at = time.monotonic()
            try:
                self._inbox.put_nowait(message)
            except asyncio.QueueFull:
                self._drop(f"{MAX_QUEUED_MESSAGES} messages already waiting")

    def _drop(self, why: str) -> None:
        self.dropped_messages += 1
        if self._drop_log.allow() is not None:
            log.warning(
                "dropped a data-channel message (%s); %d dropped on this connection", why, self.dropped_messages
            )

    async def _consume(self) -> None:
        """Handle the data channel's messages one at a time, in order."""
        while True:
            text = await self._inbox.get()
            try:
                await self._on_message(text)
            except Exception:
                log.exception("a data-channel message could not be handled")

    def keyframe_stats(self) -> dict[str, int] | None:
        """Keyframe requests and recovery counters of the video receiver, if there is one."""
        if self.keyframes is not None:
            return self.keyframes.stats.as_dict()
        if self.pli_stats is not None:
            return self.pli_stats.as_dict()
        return None

    @property
    def _layers(self) -> LayerFilter | None:
        return self.decoder_queue.layers if self.decoder_queue is not None else None

    def decode_every_frame(self, who: object, wanted: bool) -> None:
        """``who`` needs every frame of the caller's decoded (a recording, a re-encoded view), or
        no longer does; with nobody needing it only the base temporal layer is (:mod:`.layers`)."""
        layers = self._layers
        if layers is None:
            return
        if wanted:
            layers.want_every_frame(who)
        else:
            layers.release(who)

    def frames_arrived(self) -> int | None:
        """The caller's video frames that arrived whole, decoded or not (None: not counted)."""
        layers = self._layers
        return layers.stats.frames if layers is not None else None

    def layer_stats(self) -> dict[str, int] | None:
        """Frames of the caller's upper temporal layers not decoded (see :mod:`.layers`)."""
        layers = self._layers
        return layers.stats.as_dict() if layers is not None else None

    def decoder_stats(self) -> dict[str, int] | None:
        """Frames dropped before decoding because the decoder fell behind (see :mod:`.decoding`)."""
        return self.decoder_queue.stats.as_dict() if self.decoder_queue is not None else None

    def forwarding_stats(self) -> dict[str, int] | None:
        """Frames forwarded to viewers without re-encoding, and keyframes asked for them."""
        return self.forwarding.stats.as_dict() if self.forwarding is not None else None

    def remb_stats(self) -> dict[str, int] | None:
        """Bandwidth estimates made and sent to the caller as REMBs (see :mod:`.feedback`)."""
        return self.remb.stats.as_dict() if self.remb is not None else None

    def pong(self, sent_ms: object, media_rtt_ms: object = None) -> None:
        """The caller echoed a ping sent at ``sent_ms`` (gateway clock): a round-trip sample.

        The page adds the media path's own round trip (``media_rtt_ms``, from RTCP and ICE) when
        it knows it; that one is preferred, since a ping's round trip also counts the data
        channel's retransmissions on a lossy link. It also tells the video's stalled-stream
        recovery how soon a retransmission can come (:mod:`.retransmission`).
        """
        if _number(media_rtt_ms) and 0 <= media_rtt_ms < 60_000:  # type: ignore[operator]
            self.rtt_ms = round(float(media_rtt_ms), 1)  # type: ignore[arg-type]
            if self.keyframes is not None:
                # A retransmission cannot come sooner than the path's round trip: the recovery
                # waits at least that long before asking again or giving up.
                self.keyframes.buffer.observe_round_trip(self.rtt_ms / 1000)
            return
        if not _number(sent_ms):
            return
        rtt = time.time() * 1000 - sent_ms  # type: ignore[operator]
        if 0 <= rtt < 60_000:
            self.rtt_ms = round(rtt, 1)

    async def _on_connection_state(self) -> None:
        state = self.pc.connectionState
        if state in ("failed", "closed") and not self._closed:
            await self._on_event(state)

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        await self.pc.close()
        await self._tasks.cancel()


def _number(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)
