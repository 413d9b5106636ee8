"""The stalled-stream recovery of the video jitter buffer, on synthetic packet sequences."""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field

from aiortc import RTCPeerConnection
from aiortc.jitterbuffer import JitterBuffer
from aiortc.rtp import RtpPacket

from gateway.media import keyframes
from gateway.media.keyframes import RecoveringJitterBuffer, RecoveryTuning, is_h264_keyframe, is_vp8_keyframe

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
    """Feeds packets to a buffer, advancing the clock 1/60 s per packet; records what came out."""

    stream: Stream
    buffer: JitterBuffer
    frames: list[tuple[float, bytes]] = field(default_factory=list)
    plis: list[float] = field(default_factory=list)

    def feed(self, packet: RtpPacket) -> None:
        self.stream.now += 1 / 60
        pli, frame = self.buffer.add(packet)
        if pli:
            self.plis.append(self.stream.now)
            self.stream.key_next = True  # the sender answers with a key frame
        if frame is not None:
            self.frames.append((self.stream.now, frame.data[:1]))

    def run(self, frames: int, lose: set[int] = frozenset(), resend: dict[int, int] | None = None) -> None:
        """Send ``frames`` frames; packets numbered in ``lose`` never arrive; ``resend[n] = k``
        delivers lost packet n again after k more packets (a retransmission)."""
        due: dict[int, list[RtpPacket]] = {}
        count = 0
        for _ in range(frames):
            for packet in self.stream.frame():
                count += 1
                for late in due.pop(count, []):
                    self.feed(late)
                if packet.sequence_number in lose:
                    if resend and packet.sequence_number in resend:
                        due.setdefault(count + resend[packet.sequence_number], []).append(packet)
                    continue
                self.feed(packet)


def recovering(stream: Stream, **tuning) -> tuple[RecoveringJitterBuffer, list[int]]:
    firs: list[int] = []
    buffer = RecoveringJitterBuffer(
        lambda pt, data: is_vp8_keyframe(data), firs.append, RecoveryTuning(**tuning), clock=lambda: stream.now
    )
    return buffer, firs


def longest_gap(frames: list[tuple[float, bytes]]) -> float:
    times = [t for t, _ in frames]
    return max(b - a for a, b in itertools.pairwise(times))


def test_a_clean_stream_passes_every_frame_in_order_and_asks_for_nothing():
    stream = Stream()
    buffer, _ = recovering(stream)
    rx = Receiver(stream, buffer)
    rx.run(100)
    assert len(rx.frames) == 99  # the last frame waits for the next one's first packet
    assert rx.plis == [] and buffer.stats.stalls == 0


def test_a_loss_repaired_by_retransmission_is_waited_for_not_skipped():
    stream = Stream()
    buffer, _ = recovering(stream)
    rx = Receiver(stream, buffer)
    rx.run(100, lose={1100, 1200}, resend={1100: 12, 1200: 12})  # back after 0.2 s
    assert len(rx.frames) == 99
    assert rx.plis == [] and buffer.stats.skipped_packets == 0


def test_aiortc_alone_waits_for_512_packets_behind_a_packet_lost_for_good():
    stream = Stream()
    rx = Receiver(stream, JitterBuffer(capacity=512, is_video=True))
    rx.run(200, lose={1100})
    # Nothing between the loss and the overflow, about 8.5 s at 60 packets a second.
    assert longest_gap(rx.frames) > 8
    assert len(rx.plis) == 1


def test_a_packet_lost_for_good_is_skipped_and_a_keyframe_asked_for_within_the_stall_time():
    stream = Stream()
    buffer, _ = recovering(stream)
    rx = Receiver(stream, buffer)
    rx.run(200, lose={1100})
    assert len(rx.plis) == 1
    lost_at = (1100 - 1000) / 60
    assert rx.plis[0] - lost_at <= buffer.tuning.max_stall_seconds + 0.05
    # Video resumes with the key frame the sender was asked for, and nothing else is missed.
    assert longest_gap(rx.frames) < 1.2
    after = [data for t, data in rx.frames if t > rx.plis[0]]
    assert after[0] == KEY[:1]
    assert buffer.stats.dropped_frames >= 1 and buffer.stats.keyframes == 1
    assert not buffer.awaiting_keyframe


def test_a_hole_that_fell_out_of_the_nack_window_is_skipped_without_waiting():
    stream = Stream()
    buffer, _ = recovering(stream, min_stall_seconds=100, max_stall_seconds=100)
    rx = Receiver(stream, buffer)
    rx.run(100, lose={1040})
    assert len(rx.plis) == 1
    assert rx.plis[0] - 1040 / 60 < (keyframes.RTP_HISTORY_SIZE + 2 * PACKETS_PER_FRAME) / 60 + 1 / 60 * 2


def test_a_keyframe_already_held_beyond_the_hole_is_used_without_asking():
    stream = Stream()
    buffer, _ = recovering(stream)
    rx = Receiver(stream, buffer)
    rx.run(25)
    rx.run(1, lose={stream.seq + 2})  # an inter frame loses a packet for good...
    stream.key_next = True            # ...and the sender's next frame is a key frame of its own
    rx.run(40)
    assert rx.plis == []
    assert buffer.stats.stalls == 1 and buffer.stats.keyframes == 1
    assert len(rx.frames) == 25 + 40 - 1  # only the damaged frame is missing


def test_keyframe_requests_are_spaced_repeated_and_become_a_fir():
    stream = Stream()
    buffer, firs = recovering(stream, retry_seconds=1.0, fir_after=2)
    rx = Receiver(stream, buffer)
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
    return feed


def test_the_stall_time_follows_slow_retransmissions_within_its_bounds():
    stream = Stream()
    buffer, _ = recovering(stream, min_stall_seconds=0.3, max_stall_seconds=0.8)
    assert buffer.stall_seconds == 0.3
    rx = Receiver(stream, buffer)
    # Retransmissions that take 0.25 s (15 packets): waited for, and the bar rises above them.
    lost = {1000 + 60 * i for i in range(1, 8)}
    rx.run(130, lose=lost, resend={s: 15 for s in lost})
    assert rx.plis == []
    assert 0.45 <= buffer.stall_seconds <= 0.8


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
