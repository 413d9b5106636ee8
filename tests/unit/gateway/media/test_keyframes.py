"""The stalled-stream recovery of the video jitter buffer, on synthetic packet sequences."""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field

import pytest
from aiortc import RTCPeerConnection
from aiortc.jitterbuffer import JitterBuffer
from aiortc.rtp import RtpPacket
from aiortc.utils import uint16_add

from gateway.media import keyframes
from gateway.media.keyframes import RecoveringJitterBuffer, RecoveryTuning, is_h264_keyframe, is_vp8_keyframe
from gateway.media.retransmission import NackTuning

KEY = b"\x00\x00\x00\x9d\x01\x2a" + b"K" * 20   # a VP8 key frame's tag and start code
DELTA = b"\x01\x00\x00" + b"D" * 20              # a VP8 inter frame's tag
SSRC = 1234
PACKETS_PER_FRAME = 4


@dataclass
class Stream:
    """A VP8-like sender: frames of four packets, a key frame when asked, 60 packets a second."""

    seq: int = 1000
    timestamp: int = 90000
    now: float = 0.0
    key_next: bool = True
    sent: dict[int, RtpPacket] = field(default_factory=dict)

    def frame(self) -> list[RtpPacket]:
        data = KEY if self.key_next else DELTA
        self.key_next = False
        packets = []
        for i in range(PACKETS_PER_FRAME):
            p = RtpPacket(payload_type=96, sequence_number=self.seq % 65536, timestamp=self.timestamp, ssrc=SSRC,
                          marker=int(i == PACKETS_PER_FRAME - 1))
            p._data = data if i == 0 else b"more"  # type: ignore[attr-defined]
            packets.append(p)
            self.sent[p.sequence_number] = p
            self.seq += 1
        self.timestamp += 3000
        return packets


@dataclass
class Receiver:
    """Feeds packets to a buffer, advancing the clock 1/60 s per packet; records what came out.

    The sender answers each request for a lost packet (the first one, made when the loss is seen,
    and every repeat the buffer asks for) with a retransmission ``turnaround`` packets later,
    except the first ``unanswered[seq]`` requests for that packet (-1: none is ever answered).
    """

    stream: Stream
    buffer: JitterBuffer
    asked: list[int] = field(default_factory=list)  # the buffer's repeated requests, as it makes them
    unanswered: dict[int, int] = field(default_factory=dict)
    turnaround: int = 15  # packets: 0.25 s
    frames: list[tuple[float, bytes]] = field(default_factory=list)
    plis: list[float] = field(default_factory=list)
    repeats: list[tuple[float, int]] = field(default_factory=list)
    # Keyframes still to come (after the first) whose second packet is lost, answered on its third request.
    damage_keyframes: int = 0
    _count: int = 0
    _due: dict[int, list[RtpPacket]] = field(default_factory=dict)

    def feed(self, packet: RtpPacket) -> None:
        self.stream.now += 1 / 60
        pli, frame = self.buffer.add(packet)
        if pli:
            self.plis.append(self.stream.now)
            self.stream.key_next = True  # the sender answers with a key frame
        if frame is not None:
            self.frames.append((self.stream.now, frame.data[:1]))
        self._answer_repeats()

    def _answer_repeats(self) -> None:
        while self.asked:
            seq = self.asked.pop(0)
            self.repeats.append((self.stream.now, seq))
            self._request(seq)

    def _request(self, seq: int) -> None:
        left = self.unanswered.get(seq, 0)
        if left < 0:
            return
        if left > 0:
            self.unanswered[seq] = left - 1
            return
        self._due.setdefault(self._count + self.turnaround, []).append(self.stream.sent[seq])

    def run(self, frames: int, lose: set[int] = frozenset()) -> None:
        """Send ``frames`` frames; packets numbered in ``lose`` are lost on the way (and then
        asked for, and answered, as the class says)."""
        for _ in range(frames):
            for n, packet in enumerate(self.stream.frame()):
                self._count += 1
                for late in self._due.pop(self._count, []):
                    self.feed(late)
                seq = packet.sequence_number
                if n == 1 and self.damage_keyframes and self._count > PACKETS_PER_FRAME and self._is_key(packet):
                    self.damage_keyframes -= 1
                    self.unanswered[seq] = 2
                    self._request(seq)
                    continue
                if seq in lose:
                    self._request(seq)
                    continue
                self.feed(packet)

    def _is_key(self, packet: RtpPacket) -> bool:
        first = self.stream.sent[uint16_add(packet.sequence_number, -1)]
        return first.timestamp == packet.timestamp and is_vp8_keyframe(first._data)  # type: ignore[attr-defined]

    def requested(self, seq: int) -> int:
        return sum(s == seq for _, s in self.repeats)


def recovering(stream: Stream, **tuning) -> tuple[RecoveringJitterBuffer, list[int], list[int]]:
    firs: list[int] = []
    asked: list[int] = []
    buffer = RecoveringJitterBuffer(
        lambda pt, data: is_vp8_keyframe(data), firs.append, RecoveryTuning(**tuning), clock=lambda: stream.now,
        request_nack=lambda ssrc, seqs: asked.extend(seqs),
    )
    return buffer, firs, asked


def longest_gap(frames: list[tuple[float, bytes]]) -> float:
    times = [t for t, _ in frames]
    return max(b - a for a, b in itertools.pairwise(times))


def test_a_clean_stream_passes_every_frame_in_order_and_asks_for_nothing():
    stream = Stream()
    buffer, _, asked = recovering(stream)
    rx = Receiver(stream, buffer, asked)
    rx.run(100)
    assert len(rx.frames) == 99  # the last frame waits for the next one's first packet
    assert rx.plis == [] and rx.repeats == [] and buffer.stats.stalls == 0


def test_a_loss_repaired_by_its_first_retransmission_is_waited_for_not_skipped():
    stream = Stream()
    buffer, _, asked = recovering(stream)
    rx = Receiver(stream, buffer, asked, turnaround=12)  # back after 0.2 s
    rx.run(100, lose={1100, 1200})
    assert len(rx.frames) == 99
    assert rx.plis == [] and rx.repeats == [] and buffer.stats.skipped_packets == 0


def test_a_retransmission_lost_on_the_way_is_asked_for_again_and_waited_for_not_skipped():
    stream = Stream()
    buffer, _, asked = recovering(stream)
    rx = Receiver(stream, buffer, asked, unanswered={1100: 1})
    rx.run(100, lose={1100})
    assert rx.requested(1100) == 1
    assert len(rx.frames) == 99 and rx.plis == []
    assert buffer.stats.nacks == 1 and buffer.stats.refilled == 1 and buffer.stats.stalls == 0
    # Two rounds of 0.25 s and one wait for the overdue answer: well under a keyframe's cost.
    assert longest_gap(rx.frames) < 1.0


def test_aiortc_alone_waits_for_512_packets_behind_a_packet_lost_for_good():
    stream = Stream()
    rx = Receiver(stream, JitterBuffer(capacity=512, is_video=True), unanswered={1100: -1})
    rx.run(200, lose={1100})
    # Nothing between the loss and the overflow, about 8.5 s at 60 packets a second.
    assert longest_gap(rx.frames) > 8
    assert len(rx.plis) == 1


def test_a_packet_lost_for_good_is_asked_for_to_the_limit_then_skipped_and_a_keyframe_asked_for():
    stream = Stream()
    buffer, _, asked = recovering(stream)
    rx = Receiver(stream, buffer, asked, unanswered={1100: -1})
    rx.run(200, lose={1100})
    # Asked for again (the first request was aiortc's) while an answer could come.
    assert 1 <= rx.requested(1100) <= buffer.tuning.nacks.max_requests - 1
    assert len(rx.plis) == 1
    lost_at = (1100 - 1000) / 60
    assert rx.plis[0] - lost_at <= buffer.tuning.max_stall_seconds + 0.05
    assert rx.plis[0] > max(t for t, _ in rx.repeats)  # after the last request went unanswered
    # Video resumes with the key frame the sender was asked for, and nothing else is missed.
    after = [data for t, data in rx.frames if t > rx.plis[0]]
    assert after[0] == KEY[:1]
    assert longest_gap(rx.frames) < buffer.tuning.max_stall_seconds + 0.3
    assert buffer.stats.dropped_frames >= 1 and buffer.stats.keyframes == 1
    assert not buffer.awaiting_keyframe


def test_a_hole_that_fell_out_of_the_nack_window_is_skipped_without_waiting():
    stream = Stream()
    buffer, _, asked = recovering(stream, min_stall_seconds=100, max_stall_seconds=100,
                                  nacks=NackTuning(max_requests=1000, history_seconds=1000))
    rx = Receiver(stream, buffer, asked, unanswered={1040: -1})
    rx.run(100, lose={1040})
    assert len(rx.plis) == 1
    assert rx.plis[0] - 1040 / 60 < (keyframes.RTP_HISTORY_SIZE + 2 * PACKETS_PER_FRAME) / 60 + 1 / 60 * 2


def test_a_keyframe_already_held_beyond_the_hole_is_used_without_asking():
    stream = Stream()
    buffer, _, asked = recovering(stream)
    rx = Receiver(stream, buffer, asked)
    rx.run(25)
    lost = stream.seq + 2
    rx.unanswered[lost] = -1
    rx.run(1, lose={lost})            # an inter frame loses a packet for good...
    stream.key_next = True            # ...and the sender's next frame is a key frame of its own
    rx.run(40)
    assert rx.plis == []
    assert buffer.stats.stalls == 1 and buffer.stats.keyframes == 1
    assert len(rx.frames) == 25 + 40 - 1  # only the damaged frame is missing


def test_while_a_keyframe_is_awaited_a_hole_in_front_of_one_that_came_is_skipped_at_once():
    stream = Stream()
    buffer, _, asked = recovering(stream)
    rx = Receiver(stream, buffer, asked)
    rx.feed = _deaf(rx)  # the sender ignores the keyframe request...
    rx.unanswered[1100] = -1
    rx.run(50, lose={1100})
    assert buffer.awaiting_keyframe
    lost = stream.seq + 1
    rx.unanswered[lost] = -1
    rx.run(1, lose={lost})            # ...an inter frame loses a packet for good...
    stream.key_next = True            # ...and then a key frame comes anyway
    key_at = stream.now
    rx.run(2)
    # Out as soon as it is complete (the next frame's first packet), not after the hole's requests.
    assert [t for t, data in rx.frames if data == KEY[:1] and t > key_at] == [
        pytest.approx(key_at + (PACKETS_PER_FRAME + 1) / 60)]
    assert rx.requested(lost) == 0 and not buffer.awaiting_keyframe


def test_a_keyframe_on_its_way_is_repaired_not_asked_for_again():
    stream = Stream()
    buffer, _, asked = recovering(stream, retry_seconds=0.5)
    rx = Receiver(stream, buffer, asked, unanswered={1100: -1}, damage_keyframes=1)
    rx.run(200, lose={1100})
    # The keyframe asked for loses a packet twice over: it takes three rounds, longer than the
    # retry time, but its first packet is held, so no second keyframe is asked for.
    assert len(rx.plis) == 1
    assert buffer.stats.keyframes == 1 and buffer.stats.refilled == 1
    assert not buffer.awaiting_keyframe


def test_keyframe_requests_are_spaced_repeated_and_become_a_fir():
    stream = Stream()
    buffer, firs, asked = recovering(stream, retry_seconds=1.0, fir_after=2)
    rx = Receiver(stream, buffer, asked, unanswered={1100: -1})
    rx.feed = _deaf(rx)  # a sender that never answers with a key frame
    rx.run(300, lose={1100})
    gaps = [b - a for a, b in itertools.pairwise(rx.plis)]
    assert len(rx.plis) == 2 and all(g >= 1.0 - 1e-9 for g in gaps)
    assert len(firs) >= 2 and set(firs) == {SSRC}
    assert buffer.awaiting_keyframe


def _deaf(rx: Receiver):
    def feed(packet: RtpPacket) -> None:
        rx.stream.now += 1 / 60
        pli, frame = rx.buffer.add(packet)
        if pli:
            rx.plis.append(rx.stream.now)
        if frame is not None:
            rx.frames.append((rx.stream.now, frame.data[:1]))
        rx._answer_repeats()
    return feed


def test_a_round_trip_measured_elsewhere_is_waited_for_before_asking_again():
    def repeats(observed: float | None) -> int:
        stream = Stream()
        buffer, _, asked = recovering(stream)
        if observed is not None:
            buffer.observe_round_trip(observed)
        rx = Receiver(stream, buffer, asked, turnaround=36)  # 0.6 s a round
        rx.run(60, lose={1100})
        assert rx.plis == [] and buffer.stats.stalls == 0
        return len(rx.repeats)

    assert repeats(None) == 1  # asked again before the first answer could come
    assert repeats(0.6) == 0


def test_keyframes_are_recognised_for_vp8_and_h264():
    assert is_vp8_keyframe(KEY) and not is_vp8_keyframe(DELTA) and not is_vp8_keyframe(b"")
    assert is_h264_keyframe(b"\x00\x00\x00\x01\x67\x42" + b"\x00\x00\x00\x01\x65\x88")
    assert is_h264_keyframe(b"\x00\x00\x00\x01\x65\x88")
    assert not is_h264_keyframe(b"\x00\x00\x00\x01\x41\x9a")


async def test_it_installs_into_the_aiortc_receiver_the_project_pins():
    pc = RTCPeerConnection()
    transceiver = pc.addTransceiver("video", direction="recvonly")
    assert keyframes.supported(transceiver.receiver)
    installed = keyframes.install(transceiver.receiver)
    assert installed is not None
    assert transceiver.receiver._RTCRtpReceiver__jitter_buffer is installed.buffer
    await pc.close()
