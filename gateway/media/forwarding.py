"""Forwarding the caller's own encoded VP8 frames to viewers, without decoding or encoding them.

Re-encoding the caller's video for every viewer costs a VP8 encode per frame per viewer, and on a
small machine that decides how many watched callers fit. A viewer that negotiated the codec the
caller sends (VP8) can instead be sent the caller's frames as they came, which is what an SFU does:
each complete encoded frame the receiver hands to its decoder (:mod:`.decoding`'s queue, tapped
before it drops anything for the decoder's sake) is given to every forwarding viewer, and aiortc's
sender only packs it into RTP (``RTCRtpSender`` packs an ``av.Packet`` through its encoder's
``pack``, without encoding).

A VP8 frame other than a keyframe is decoded against the frames before it, so a viewer is fed only
from a keyframe on (a frame decoded against a reference it lacks is a smear):

- a new viewer waits for a keyframe, and the caller is asked for one (a PLI);
- a viewer that falls behind by more than ``limit`` frames loses what waits and waits for a
  keyframe again; so does one whose sender reports picture loss (the viewer's PLI or FIR);
- the caller is asked at most once every ``min_interval`` seconds, however many viewers want one,
  and again while any viewer still waits.

The caller's stream reaching the tap has no gaps of its own: the receiver's jitter buffer
(:mod:`.keyframes`) drops every frame after a hole until the next keyframe, so forwarding is used
only where that buffer is installed.

What forwarding gives up: a viewer gets the caller's bitrate and size (no per-viewer bitrate
adaptation; a viewer on a slow link loses frames and waits for keyframes instead of getting a
smaller stream). Snapshots, recording, stream health and the MJPEG fallback still use the decoded
frames.

:class:`FrameGate`, :class:`KeyframeRequests` and :class:`PtsClock` are pure state (the clock is
injected); :class:`ForwardingHub` fans frames out; :func:`install` and :func:`forward_viewer_plis`
put them into aiortc's receiver and sender (private members, checked by the tests on the pinned
aiortc version).
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

from aiortc import MediaStreamTrack, RTCPeerConnection, RTCRtpSender
from aiortc.mediastreams import MediaStreamError
from aiortc.rtcrtpreceiver import RTCRtpReceiver
from av.packet import Packet

from .decoding import DecoderQueue
from .keyframes import is_vp8_keyframe

log = logging.getLogger(__name__)

VIDEO_TIME_BASE = Fraction(1, 90000)
# Frames a viewer may have waiting to be packed before it is reset to the next keyframe: two
# thirds of a second at 15 fps. Packing takes well under a millisecond, so a queue this long means
# the event loop is starved, and a viewer that far behind is better served by a fresh keyframe.
DEFAULT_LIMIT = 10
# The shortest interval between two keyframe requests to the caller, whoever asks.
MIN_REQUEST_INTERVAL = 0.5
FORWARDED_CODECS = ("vp8",)

_ERROR_ATTRIBUTE = "_RTCRtpReceiver__decoder_error"  # as in .decoding


# -- pure state -----------------------------------------------------------------------------------


class FrameGate:
    """One viewer's reference state: it is fed frames only from a keyframe on.

    ``waiting`` until a keyframe passes; :meth:`lose` (a dropped frame, picture loss) makes it wait
    again.
    """

    def __init__(self) -> None:
        self.waiting = True

    def admit(self, is_keyframe: bool) -> bool:
        """Whether this frame may be sent to the viewer."""
        if self.waiting and not is_keyframe:
            return False
        self.waiting = False
        return True

    def lose(self) -> None:
        self.waiting = True


class KeyframeRequests:
    """When to ask the caller for a keyframe: at most once every ``min_interval`` seconds, and again
    while one is wanted and none has come."""

    def __init__(self, min_interval: float = MIN_REQUEST_INTERVAL) -> None:
        self.min_interval = min_interval
        self.wanted = False
        self._asked_at: float | None = None

    def want(self, now: float) -> bool:
        """A keyframe is wanted; True when the caller should be asked now."""
        self.wanted = True
        return self._due(now)

    def frame(self, is_keyframe: bool, now: float) -> bool:
        """A frame came from the caller; True when the caller should be asked (again) now."""
        if is_keyframe:
            self.wanted = False
            return False
        return self.wanted and self._due(now)

    def _due(self, now: float) -> bool:
        if self._asked_at is not None and now - self._asked_at < self.min_interval:
            return False
        self._asked_at = now
        return True


class PtsClock:
    """The caller's frame timestamps (90 kHz, as the receiver maps them) as a viewer's strictly
    increasing presentation times, starting at 0: a caller whose clock jumps back (a restarted
    stream) does not make the viewer's go back."""

    def __init__(self) -> None:
        self._offset: int | None = None
        self._last = -1

    def pts(self, timestamp: int) -> int:
        if self._offset is None:
            self._offset = -timestamp
        value = timestamp + self._offset
        if value <= self._last:
            self._offset = self._last + 1 - timestamp
            value = self._last + 1
        self._last = value
        return value


@dataclass
class ForwardingStats:
    """``forwarded`` frames handed to viewers; ``held_back`` frames a waiting viewer did not get;
    ``overflows`` viewers reset for falling behind; ``viewer_requests`` keyframes viewers asked for;
    ``keyframe_requests`` keyframes asked of the caller."""

    forwarded: int = 0
    held_back: int = 0
    overflows: int = 0
    viewer_requests: int = 0
    keyframe_requests: int = 0

    def as_dict(self) -> dict[str, int]:
        return dict(self.__dict__)


# -- the fan-out ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class EncodedFrame:
    data: bytes
    timestamp: int  # 90 kHz, from the receiver
    keyframe: bool


class ForwardedTrack(MediaStreamTrack):
    """A viewer's video: the caller's encoded frames as ``av.Packet`` objects (90 kHz pts)."""

    kind = "video"

    def __init__(self, hub: ForwardingHub, limit: int = DEFAULT_LIMIT) -> None:
        super().__init__()
        self.hub = hub
        self.gate = FrameGate()
        self.limit = limit
        self._frames: deque[EncodedFrame] = deque()
        self._ready = asyncio.Event()
        self._clock = PtsClock()

    def offer(self, frame: EncodedFrame) -> bool:
        """Queue a frame for this viewer; False when it is held back (the viewer awaits a keyframe)."""
        if not self.gate.admit(frame.keyframe):
            return False
        if len(self._frames) >= self.limit:
            # Behind by a whole queue: what waits is stale, and dropping any one frame breaks the
            # ones after it. Start again from a keyframe (this one, if it is one).
            self._frames.clear()
            self.hub.stats.overflows += 1
            if not frame.keyframe:
                self.gate.lose()
                self.hub.want_keyframe()
                return False
        self._frames.append(frame)
        self._ready.set()
        return True

    def picture_lost(self) -> None:
        """The viewer reported picture loss (PLI/FIR): a keyframe is asked of the caller. Frames
        keep flowing meanwhile; the viewer's decoder waits for the keyframe itself."""
        self.hub.stats.viewer_requests += 1
        self.hub.want_keyframe()

    async def recv(self) -> Packet:
        while not self._frames:
            if self.readyState != "live":
                raise MediaStreamError
            self._ready.clear()
            await self._ready.wait()
        frame = self._frames.popleft()
        packet = Packet(frame.data)
        packet.pts = packet.dts = self._clock.pts(frame.timestamp)
        packet.time_base = VIDEO_TIME_BASE
        if frame.keyframe:
            packet.is_keyframe = True
        return packet

    def stop(self) -> None:
        super().stop()
        self.hub.unsubscribe(self)
        self._ready.set()  # a waiting recv ends


class ForwardingHub:
    """One caller's encoded VP8 frames, fanned out to the viewers they are forwarded to.

    ``request_keyframe()`` asks the caller for a keyframe (the receiver sends a PLI); ``publish``
    runs on the event loop for each frame the receiver completes.
    """

    def __init__(
        self,
        request_keyframe: Callable[[], None],
        min_interval: float = MIN_REQUEST_INTERVAL,
        clock: Callable[[], float] = time.monotonic,
        limit: int = DEFAULT_LIMIT,
    ) -> None:
        self.stats = ForwardingStats()
        self.tracks: list[ForwardedTrack] = []
        self.limit = limit
        self._requests = KeyframeRequests(min_interval)
        self._request_keyframe = request_keyframe
        self._clock = clock

    def subscribe(self) -> ForwardedTrack:
        """A new viewer's track; it starts at the next keyframe, which is asked for now."""
        track = ForwardedTrack(self, self.limit)
        self.tracks.append(track)
        self.want_keyframe()
        return track

    def unsubscribe(self, track: ForwardedTrack) -> None:
        if track in self.tracks:
            self.tracks.remove(track)

    def want_keyframe(self) -> None:
        if self._requests.want(self._clock()):
            self._ask()

    def publish(self, codec_name: str | None, data: bytes, timestamp: int) -> None:
        """A complete encoded frame from the caller (``codec_name`` as aiortc names it)."""
        if not self.tracks or (codec_name or "").lower() not in FORWARDED_CODECS:
            return
        frame = EncodedFrame(data, timestamp, is_vp8_keyframe(data))
        for track in list(self.tracks):
            if track.offer(frame):
                self.stats.forwarded += 1
            else:
                self.stats.held_back += 1
        if self._requests.frame(frame.keyframe, self._clock()):
            self._ask()

    def _ask(self) -> None:
        self.stats.keyframe_requests += 1
        self._request_keyframe()


# -- putting it into aiortc -----------------------------------------------------------------------


def supported(receiver: RTCRtpReceiver) -> bool:
    """True when this aiortc receiver has the member :func:`install` asks keyframes through."""
    return isinstance(getattr(receiver, _ERROR_ATTRIBUTE, None), threading.Event)


def install(receiver: RTCRtpReceiver, decoder_queue: DecoderQueue) -> ForwardingHub | None:
    """A hub fed from the frames ``receiver`` puts into ``decoder_queue`` (None if aiortc has changed).

    A keyframe is asked for the way aiortc asks after a decoding error: the receiver sends a PLI
    with its next packet.
    """
    if not supported(receiver):
        log.warning("aiortc's receiver has changed: viewers' video is transcoded")
        return None
    decode_error: threading.Event = getattr(receiver, _ERROR_ATTRIBUTE)
    hub = ForwardingHub(decode_error.set)

    def tap(codec: Any, frame: Any) -> None:
        hub.publish(getattr(codec, "name", None), frame.data, frame.timestamp)

    decoder_queue.tap = tap
    return hub


def sender_supported(sender: RTCRtpSender) -> bool:
    """True when aiortc's sender still turns a viewer's PLI/FIR into a call of ``_send_keyframe``."""
    return callable(getattr(sender, "_send_keyframe", None))


def forward_viewer_plis(sender: RTCRtpSender, track: ForwardedTrack) -> bool:
    """Turn the viewer's PLI/FIR, which aiortc's sender would only pass to an encoder (there is none
    here), into a keyframe request to the caller. False if aiortc has changed."""
    if not sender_supported(sender):
        return False
    sender._send_keyframe = track.picture_lost  # type: ignore[method-assign]
    return True


def video_codec(pc: RTCPeerConnection) -> str | None:
    """The codec negotiated for ``pc``'s first video transceiver (lower case, e.g. ``"vp8"``),
    once the local description is set."""
    for transceiver in pc.getTransceivers():
        codecs = getattr(transceiver, "_codecs", None) or []
        if transceiver.kind == "video" and codecs:
            return str(codecs[0].mimeType).split("/")[-1].lower()
    return None
