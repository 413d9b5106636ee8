"""Getting a stalled video stream moving again: skip what cannot be recovered, ask for a keyframe.

aiortc 1.16 reassembles video in a 512-packet jitter buffer that hands a frame on only when every
packet from the oldest one held is present. A packet lost together with its retransmission (or
never retransmitted: the NACK list forgets after 128 packets) leaves a hole there, and nothing is
decoded until 512 more packets have arrived and the buffer overflows; only then does aiortc send a
picture loss indication (PLI). At the few hundred kbit/s of a poor mobile link that is 10 to 40 s
of frozen video while packets keep arriving.

:class:`RecoveringJitterBuffer` keeps aiortc's reassembly and adds, on each packet:

- a missing packet whose retransmission is overdue is asked for again (a NACK), as long as the
  sender may still hold it (:mod:`.retransmission` keeps that account and learns how long a
  retransmission takes; a round trip measured elsewhere is a floor). aiortc itself asks again
  only when some other packet goes missing, so a lost retransmission could wait a long time;
- a hole in front of packets that have arrived is *stalled* only once no retransmission can fill
  it any more (its requests used up, or the sender's history passed, and the last request
  overdue), or when it has fallen out of the NACK window, or when no frame has come out for
  ``max_stall_seconds`` whatever the reason (a backstop). Skipping sooner costs more than it
  saves: on a slow, lossy link a keyframe takes longer to arrive than another retransmission;
- while a keyframe is awaited, a hole in front of a keyframe already held is skipped at once (what
  lies before it would be dropped anyway);
- a stalled hole is skipped: to the next keyframe already held if there is one; else, when the
  VP8 descriptors show that only frames of the upper temporal layers are lost (:mod:`.layers`), to
  the next frame held whole, and the frames that may refer to the lost ones are dropped until
  their layers sync again, with nothing asked for: layer 0 goes on, and with it the picture the
  gateway decodes; otherwise past the hole, after which frames are dropped until a keyframe
  arrives (a frame decoded against a missing reference is a smear, not evidence), and a keyframe
  is asked for at once (PLI);
- a keyframe asked for and not seen is asked for again, at most every ``retry_seconds`` and not
  while a keyframe's first packet is held (it is on its way, its holes being asked for), and by
  full intra request (FIR) after ``fir_after`` PLIs without one.

It is pure logic on aiortc's packets: no clock, socket or task of its own (the clock is injected).
:func:`install` puts it in place of the buffer of one ``RTCRtpReceiver`` (a private attribute: the
test suite checks it on the aiortc version the project pins) and wires the NACK, the FIR and the
counters.
"""

from __future__ import annotations

import asyncio
import logging
import struct
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from aiortc.jitterbuffer import JitterBuffer, JitterFrame
from aiortc.rtcrtpreceiver import RTCRtpReceiver
from aiortc.rtp import RTCP_PSFB_FIR, RTP_HISTORY_SIZE, RtcpPsfbPacket, RtpPacket
from aiortc.utils import uint16_add

from .layers import LostLayers, Vp8Picture, upper_layers_lost, vp8_picture
from .retransmission import NackTuning, Retransmissions

log = logging.getLogger(__name__)

CAPACITY = 512  # aiortc's own video buffer size

# What aiortc's receiver keeps under name mangling; checked by the tests on the pinned version.
_BUFFER_ATTRIBUTE = "_RTCRtpReceiver__jitter_buffer"
_CODECS_ATTRIBUTE = "_RTCRtpReceiver__codecs"
_RTCP_SSRC_ATTRIBUTE = "_RTCRtpReceiver__rtcp_ssrc"


@dataclass(frozen=True)
class RecoveryTuning:
    # A hole is never skipped sooner than this, and always after this long without a frame coming
    # out of the buffer, whatever the retransmission bookkeeping says (a backstop).
    min_stall_seconds: float = 0.1
    max_stall_seconds: float = 1.5
    # Packets behind the newest after which a hole can no longer be NACKed (aiortc's NACK history).
    nack_window: int = RTP_HISTORY_SIZE
    # The shortest interval between two keyframe requests, and how long to wait for an answer.
    min_request_interval: float = 0.3
    retry_seconds: float = 1.0
    fir_after: int = 3
    nacks: NackTuning = NackTuning()


@dataclass
class RecoveryStats:
    """Counters for stream health and tests; ``plis`` counts every PLI the receiver sends,
    ``nacks`` the packets asked for again by this buffer (aiortc's first requests not counted),
    ``refilled`` the packets that came only after such a repeated request; ``upper_layer_skips``
    the stalls that lost upper-layer frames only, skipped with no keyframe asked for."""

    plis: int = 0
    firs: int = 0
    stalls: int = 0
    skipped_packets: int = 0
    dropped_frames: int = 0
    keyframes: int = 0
    nacks: int = 0
    refilled: int = 0
    upper_layer_skips: int = 0

    def as_dict(self) -> dict[str, int]:
        return dict(self.__dict__)


def is_vp8_keyframe(data: bytes) -> bool:
    """A VP8 frame's tag says key frame (bit 0 clear) and carries the start code 9d 01 2a."""
    return len(data) >= 6 and not data[0] & 0x01 and data[3:6] == b"\x9d\x01\x2a"


def is_h264_keyframe(data: bytes) -> bool:
    """An Annex B access unit (as aiortc depayloads it) holding an IDR slice or a sequence set."""
    at = data.find(b"\x00\x00\x01")
    while at != -1 and at + 3 < len(data):
        if data[at + 3] & 0x1F in (5, 7):
            return True
        at = data.find(b"\x00\x00\x01", at + 3)
    return False


def keyframe_test(codec_name: str | None) -> Callable[[bytes], bool]:
    if codec_name and codec_name.upper() == "H264":
        return is_h264_keyframe
    return is_vp8_keyframe


@dataclass
class _Hole:
    seq: int
    since: float


class RecoveringJitterBuffer(JitterBuffer):
    """aiortc's video jitter buffer that does not wait for 512 packets behind a lost one.

    ``is_keyframe(payload_type, data)`` tells whether depayloaded data starts a keyframe;
    ``request_fir(media_ssrc)`` sends a full intra request; ``request_nack(media_ssrc, seqs)``
    asks again for packets whose retransmission is overdue. A PLI is asked for by returning True
    as the first element of :meth:`add`'s result, as aiortc's own buffer does. Each frame handed
    on carries its temporal layer as ``frame.layer`` (:mod:`.layers`): what
    ``picture_of(payload_type, payload)`` reads in its first packet's payload descriptor, None
    without ``picture_of``; the descriptors also tell a loss of upper-layer frames only.
    """

    def __init__(
        self,
        is_keyframe: Callable[[int, bytes], bool],
        request_fir: Callable[[int], None] | None = None,
        tuning: RecoveryTuning = RecoveryTuning(),
        clock: Callable[[], float] = time.monotonic,
        capacity: int = CAPACITY,
        request_nack: Callable[[int, list[int]], None] | None = None,
        picture_of: Callable[[int, bytes], Vp8Picture | None] | None = None,
    ) -> None:
        super().__init__(capacity=capacity, is_video=True)
        self._picture_of = picture_of
        self._lost_layers = LostLayers()
        # The descriptor of the last frame handed on (or dropped whole), while the packets held
        # follow straight on from it; None after a skip.
        self._last_out: Vp8Picture | None = None
        self.tuning = tuning
        self.stats = RecoveryStats()
        self.retransmissions = Retransmissions(tuning.nacks)
        self._is_keyframe = is_keyframe
        self._request_fir = request_fir
        self._request_nack = request_nack
        self._clock = clock
        self._highest: int | None = None
        self._hole: _Hole | None = None
        self._progress_at: float | None = None
        self._awaiting_keyframe = False
        self._requested_at: float | None = None
        self._requests_unanswered = 0

    @property
    def awaiting_keyframe(self) -> bool:
        return self._awaiting_keyframe

    def observe_round_trip(self, seconds: float) -> None:
        """The media path's round trip, measured elsewhere: retransmissions are not expected sooner."""
        self.retransmissions.observe_round_trip(seconds)

    # -- aiortc's entry point -------------------------------------------------------------------

    def add(self, packet: RtpPacket) -> tuple[bool, JitterFrame | None]:
        now = self._clock()
        if self._progress_at is None:
            self._progress_at = now
        if self._highest is None or _newer(packet.sequence_number, self._highest):
            self._highest = packet.sequence_number
        refilled = self.retransmissions.filled_after_repeat
        self.retransmissions.seen(packet.sequence_number, now)
        self.stats.refilled += self.retransmissions.filled_after_repeat - refilled
        pli, frame = super().add(packet)
        if pli:
            # aiortc's own overflow or reset: what came before is gone, the next frame needs a key.
            self._highest = packet.sequence_number
            self._hole = None
            self._last_out = None
            self._forget_skipped()
            self._start_waiting(now)
        if frame is not None:
            self._progress_at = now
        frame = self._gate(frame, packet.payload_type)

        hole = self._first_missing()
        if self._hole is not None and hole != self._hole.seq:
            self._hole = None
        if hole is not None and self._hole is None:
            self._hole = _Hole(hole, now)

        if frame is None and self._hole is not None and self._stalled(self._hole, now):
            self.stats.stalls += 1
            skipped, frame = self._skip_upper_layers(self._hole.seq)
            if skipped:
                self.stats.upper_layer_skips += 1
            elif not self._skip(self._hole.seq):
                pli = self._start_waiting(now) or pli
            self._forget_skipped()
            self._progress_at = now
            if frame is None:
                frame = self._gate(self._remove_frame(packet.sequence_number), packet.payload_type)
            hole = self._first_missing()
            self._hole = _Hole(hole, now) if hole is not None else None

        again = self.retransmissions.due(now)
        if again and self._request_nack is not None:
            self.stats.nacks += len(again)
            self._request_nack(packet.ssrc, again)

        if self._awaiting_keyframe and not pli and self._requested_at is not None:
            if now - self._requested_at >= self.tuning.retry_seconds and self._keyframe_held_after(None) is None:
                pli = self._request(now, packet.ssrc)
        return pli, frame

    def _stalled(self, hole: _Hole, now: float) -> bool:
        """Whether to give up on the hole in front of the buffer (see the module's description)."""
        assert self._highest is not None and self._progress_at is not None
        t = self.tuning
        if uint16_add(self._highest, -hole.seq) >= t.nack_window:
            return True  # no NACK asks for it any more
        if now - self._progress_at >= t.max_stall_seconds:
            return True
        if self._awaiting_keyframe and self._keyframe_held_after(hole.seq) is not None:
            return True  # what lies before the keyframe would be dropped anyway
        if now - hole.since < t.min_stall_seconds:
            return False
        if hole.seq in self.retransmissions:
            return self.retransmissions.lost(hole.seq, now)
        # Missing without ever having been asked for (held before tracking began): by the clock.
        return now - hole.since >= self.retransmissions.overdue_after()

    def _remove_frame(self, sequence_number: int) -> JitterFrame | None:
        # aiortc's frame is the one starting at the oldest packet held; its descriptor is read
        # before aiortc lets go of the packets (the frame keeps only the depayloaded data).
        first = self._packets[self._origin % self.capacity] if self._origin is not None else None
        frame = super()._remove_frame(sequence_number)
        if frame is not None:
            picture = self._picture(first) if first is not None else None
            frame.layer = picture.layer if picture is not None else None  # type: ignore[attr-defined]
            self._last_out = picture
        return frame

    # -- the pieces -----------------------------------------------------------------------------

    def _gate(self, frame: JitterFrame | None, payload_type: int) -> JitterFrame | None:
        """While a keyframe is awaited, frames that are not one are dropped; so are frames that
        may refer to an upper-layer frame lost for good, until their layer syncs."""
        while frame is not None:
            key = self._is_keyframe(payload_type, frame.data)
            if self._awaiting_keyframe:
                if key:
                    self._awaiting_keyframe = False
                    self._requests_unanswered = 0
                    self.stats.keyframes += 1
                    self._lost_layers.clear()
                    return frame
            elif self._lost_layers.admit(getattr(frame, "layer", None), key):
                return frame
            self.stats.dropped_frames += 1
            frame = self._remove_frame(0)
        return frame

    def _picture(self, packet: RtpPacket) -> Vp8Picture | None:
        return self._picture_of(packet.payload_type, packet.payload) if self._picture_of is not None else None

    def _skip_upper_layers(self, hole: int) -> tuple[bool, JitterFrame | None]:
        """Skip a hole that lost upper-layer frames only, to the next frame held whole.

        Returns whether it did, and the frame in front of the hole when that one is whole (its
        last packet, marked, came, but a frame is handed on only once the next one starts: the
        loss of a whole frame leaves the one before it stuck). Nothing is done when a layer-0
        frame may be lost, a keyframe is awaited or held beyond the hole (those take the usual
        way), or the descriptors do not tell.
        """
        if self._awaiting_keyframe or self._picture_of is None or self._keyframe_held_after(hole) is not None:
            return False, None
        assert self._origin is not None and self._highest is not None
        at_hole = uint16_add(hole, -self._origin)
        first = self._packets[self._origin % self.capacity]
        whole = False
        if first is not None:
            before, lost_timestamp = self._picture(first), first.timestamp
            if before is None or not before.starts:
                return False, None
            last = self._packets[uint16_add(hole, -1) % self.capacity]
            whole = last is not None and last.timestamp == first.timestamp and bool(last.marker)
        else:
            # The hole is the oldest packet: what was lost follows the last frame handed on.
            before, lost_timestamp = self._last_out, None
            if before is None:
                return False, None
        span = uint16_add(self._highest, -self._origin)
        for i in range(at_hole + 1, span + 1):
            packet = self._packets[uint16_add(self._origin, i) % self.capacity]
            if packet is None or packet.timestamp == lost_timestamp:
                continue  # the rest of the lost frame
            after = self._picture(packet)
            if after is None:
                return False, None
            if not after.starts:
                continue  # a frame whose start was lost: lost too
            lowest = upper_layers_lost(before, after, before_lost=first is not None and not whole)
            if lowest is None:
                return False, None
            frame = None
            if whole and first is not None and before is not None:
                frame = self._take_whole(at_hole, first.timestamp, before)
            self._drop(i - (at_hole if whole else 0))
            self._lost_layers.lost(lowest)
            return True, frame
        return False, None  # the next whole frame has not come yet: skip the usual way

    def _take_whole(self, count: int, timestamp: int, picture: Vp8Picture) -> JitterFrame | None:
        """Hand on the ``count`` packets in front as one frame (None if its references are lost)."""
        assert self._origin is not None
        held = [self._packets[uint16_add(self._origin, k) % self.capacity] for k in range(count)]
        # aiortc keeps each packet's depayloaded data as _data.
        frame = JitterFrame(data=b"".join(p._data for p in held if p is not None), timestamp=timestamp)  # type: ignore[attr-defined]
        frame.layer = picture.layer  # type: ignore[attr-defined]
        self.remove(count)
        key = held[0] is not None and self._is_keyframe(held[0].payload_type, frame.data)
        if self._lost_layers.admit(picture.layer, key):
            return frame
        self.stats.dropped_frames += 1
        return None

    def _first_missing(self) -> int | None:
        """The first sequence number missing between the oldest packet held and the newest seen."""
        if self._origin is None or self._highest is None:
            return None
        span = uint16_add(self._highest, -self._origin)
        if span >= self.capacity:
            return None
        for i in range(span + 1):
            seq = uint16_add(self._origin, i)
            if self._packets[seq % self.capacity] is None:
                return seq
        return None

    def _keyframe_held_after(self, seq: int | None) -> int | None:
        """The buffer index of the first keyframe start held after ``seq`` (anywhere if None)."""
        if self._origin is None or self._highest is None:
            return None
        span = uint16_add(self._highest, -self._origin)
        if span >= self.capacity:
            return None
        start = 0 if seq is None else uint16_add(seq, -self._origin) + 1
        for i in range(start, span + 1):
            packet = self._packets[uint16_add(self._origin, i) % self.capacity]
            if packet is not None and self._is_keyframe(packet.payload_type, getattr(packet, "_data", b"")):
                return i
        return None

    def _forget_skipped(self) -> None:
        """Packets the buffer has moved past are no longer asked for."""
        if self._origin is not None:
            self.retransmissions.forget_before(self._origin)

    def _skip(self, hole: int) -> bool:
        """Drop everything up to the hole's far side; True when a held keyframe starts there."""
        assert self._origin is not None and self._highest is not None
        span = uint16_add(self._highest, -self._origin)
        # A keyframe already held beyond the hole: start from it, nothing needs asking.
        key = self._keyframe_held_after(hole)
        if key is not None:
            self._drop(key)
            self._awaiting_keyframe = True  # the gate lets this keyframe through
            return True
        # Otherwise past the hole and any packets missing right after it.
        count = uint16_add(hole, -self._origin) + 1
        while count <= span and self._packets[uint16_add(self._origin, count) % self.capacity] is None:
            count += 1
        self._drop(min(count, span + 1))
        return False

    def _drop(self, count: int) -> None:
        self._last_out = None
        origin = self._origin
        if origin is None:  # nothing held yet
            return
        held = sum(self._packets[uint16_add(origin, i) % self.capacity] is not None for i in range(count))
        self.stats.skipped_packets += held
        self.remove(count)

    def _start_waiting(self, now: float) -> bool:
        """Wait for a keyframe; True when one should be asked for now (a PLI)."""
        self._awaiting_keyframe = True
        if self._requested_at is not None and now - self._requested_at < self.tuning.min_request_interval:
            return False
        self._requested_at = now
        self._requests_unanswered += 1
        return True

    def _request(self, now: float, ssrc: int) -> bool:
        self._requested_at = now
        self._requests_unanswered += 1
        if self._request_fir is not None and self._requests_unanswered > self.tuning.fir_after:
            self.stats.firs += 1
            self._request_fir(ssrc)
            return False
        return True


def _newer(a: int, b: int) -> bool:
    """``a`` comes after ``b`` in 16-bit sequence order."""
    return a != b and uint16_add(a, -b) < 0x8000


# -- putting it into an aiortc receiver ------------------------------------------------------------


@dataclass
class Installed:
    buffer: RecoveringJitterBuffer
    _fir_seq: int = 0
    _tasks: set[asyncio.Task[Any]] = field(default_factory=set)

    @property
    def stats(self) -> RecoveryStats:
        return self.buffer.stats


def supported(receiver: RTCRtpReceiver) -> bool:
    """True when this aiortc receiver has the private members :func:`install` replaces."""
    return all(hasattr(receiver, name) for name in (_BUFFER_ATTRIBUTE, _CODECS_ATTRIBUTE, _RTCP_SSRC_ATTRIBUTE))


def install(receiver: RTCRtpReceiver, tuning: RecoveryTuning = RecoveryTuning()) -> Installed | None:
    """Replace a video receiver's jitter buffer; None (and a warning) if aiortc has changed.

    Must run before the first packet arrives (after ``setRemoteDescription``, before the
    connection is up). Also counts every PLI the receiver sends, whoever decided it.
    """
    if not supported(receiver):
        log.warning("aiortc's receiver has changed: stalled-stream recovery is off")
        return None
    codecs: dict[int, Any] = getattr(receiver, _CODECS_ATTRIBUTE)

    def is_keyframe(payload_type: int, data: bytes) -> bool:
        codec = codecs.get(payload_type)
        return keyframe_test(codec.name if codec else None)(data)

    def picture_of(payload_type: int, payload: bytes) -> Vp8Picture | None:
        codec = codecs.get(payload_type)
        return vp8_picture(payload) if codec is not None and codec.name.upper() == "VP8" else None

    installed: Installed

    def request_fir(media_ssrc: int) -> None:
        rtcp_ssrc = getattr(receiver, _RTCP_SSRC_ATTRIBUTE)
        if rtcp_ssrc is None:
            return
        installed._fir_seq = (installed._fir_seq + 1) % 256
        fci = struct.pack("!LBBH", media_ssrc, installed._fir_seq, 0, 0)  # RFC 5104 4.3.1
        task = asyncio.ensure_future(receiver._send_rtcp(RtcpPsfbPacket(RTCP_PSFB_FIR, rtcp_ssrc, 0, fci)))
        installed._tasks.add(task)
        task.add_done_callback(installed._tasks.discard)

    def request_nack(media_ssrc: int, seqs: list[int]) -> None:
        task = asyncio.ensure_future(receiver._send_rtcp_nack(media_ssrc, seqs))
        installed._tasks.add(task)
        task.add_done_callback(installed._tasks.discard)

    buffer = RecoveringJitterBuffer(is_keyframe, request_fir, tuning, request_nack=request_nack, picture_of=picture_of)
    installed = Installed(buffer)
    setattr(receiver, _BUFFER_ATTRIBUTE, buffer)

    send_pli = receiver._send_rtcp_pli

    async def counted_pli(media_ssrc: int) -> None:
        buffer.stats.plis += 1
        await send_pli(media_ssrc)

    receiver._send_rtcp_pli = counted_pli  # type: ignore[method-assign]
    return installed


def count_plis(receiver: RTCRtpReceiver) -> RecoveryStats:
    """Only count the PLIs an unchanged receiver sends (recovery switched off, for comparison)."""
    stats = RecoveryStats()
    send_pli = receiver._send_rtcp_pli

    async def counted_pli(media_ssrc: int) -> None:
        stats.plis += 1
        await send_pli(media_ssrc)

    receiver._send_rtcp_pli = counted_pli  # type: ignore[method-assign]
    return stats
