"""Decoding the caller's base temporal layer only, checked with libvpx's own layered VP8.

The streams are encoded here by libvpx (through PyAV) with three temporal layers, as a WebRTC
sender does: layer ids 0, 2, 1, 2 repeating, in error-resilient mode. Which frames may be skipped
is judged by decoding: every frame the filter lets through must decode to exactly the picture the
full stream gives for that frame.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from fractions import Fraction

import av
import numpy as np
import pytest
from aiortc.codecs.vpx import Vp8Decoder, Vp8Encoder, VpxPayloadDescriptor, vp8_depayload
from aiortc.jitterbuffer import JitterFrame
from aiortc.rtcrtpparameters import RTCRtpCodecParameters
from aiortc.rtp import RtpPacket

from gateway.media.decoding import DecoderQueue
from gateway.media.keyframes import RecoveringJitterBuffer, RecoveryTuning, is_vp8_keyframe
from gateway.media.layers import LayerFilter, TemporalLayer, Vp8Picture, vp8_picture, vp8_temporal_layer

from .test_encoder import camera_frames

VP8 = RTCRtpCodecParameters(mimeType="video/VP8", clockRate=90000, payloadType=96)
PATTERN = (0, 2, 1, 2)  # libvpx's three-layer pattern, as configured below
# In that pattern (libvpx's layering mode 3) the frames at positions 1 and 2 refer only to the
# last layer-0 frame; the one at 3 refers to the frames at 1 and 2.
SYNC_POSITIONS = (1, 2)
KEYFRAMES = (0, 32)


def layered_vp8(count: int, error_resilient: bool = True) -> list[tuple[bytes, TemporalLayer]]:
    """``count`` frames of a camera, VP8 with three temporal layers, keyframes at ``KEYFRAMES``."""
    encoder = av.CodecContext.create("libvpx", "w")
    encoder.width, encoder.height, encoder.pix_fmt = 320, 240, "yuv420p"
    encoder.time_base, encoder.framerate, encoder.bit_rate = Fraction(1, 15), Fraction(15), 600_000
    options = {
        "deadline": "realtime", "cpu-used": "8", "lag-in-frames": "0",
        "ts-parameters": "ts_number_layers=3:ts_target_bitrate=150,300,600:ts_rate_decimator=4,2,1:"
                         "ts_periodicity=4:ts_layer_id=0,2,1,2:ts_layering_mode=3",
    }
    if error_resilient:
        options["error-resilient"] = "1"
    encoder.options = options
    out: list[tuple[bytes, TemporalLayer]] = []
    for i, frame in enumerate(camera_frames(count)):
        frame = frame.reformat(width=320, height=240, format="yuv420p")
        frame.pts = i
        frame.pict_type = av.video.frame.PictureType.I if i in KEYFRAMES else av.video.frame.PictureType.NONE
        for packet in encoder.encode(frame):
            n = len(out)
            out.append((bytes(packet), TemporalLayer(PATTERN[n % 4], n % 4 in SYNC_POSITIONS)))
    assert len(out) == count
    assert [n for n, (data, _) in enumerate(out) if is_vp8_keyframe(data)] == [k for k in KEYFRAMES if k < count]
    return out


def pictures(frames: list[bytes]) -> list[np.ndarray]:
    """What the gateway's decoder (aiortc's, libvpx) makes of ``frames``, in order."""
    decoder = Vp8Decoder()
    out = []
    for n, data in enumerate(frames):
        decoded = decoder.decode(JitterFrame(data, n * 6000))
        assert len(decoded) == 1, f"frame {n} did not decode"
        out.append(decoded[0].to_ndarray(format="yuv420p"))
    return out


@pytest.fixture(scope="module")
def stream() -> list[tuple[bytes, TemporalLayer]]:
    return layered_vp8(48)


@pytest.fixture(scope="module")
def full(stream) -> list[np.ndarray]:
    return pictures([data for data, _ in stream])


def run(layers: LayerFilter, stream, wanted_from: int | None = None, released_at: int | None = None) -> list[int]:
    """Indices of the frames the filter admits; someone wants every frame from ``wanted_from``."""
    admitted = []
    for n, (data, layer) in enumerate(stream):
        if n == wanted_from:
            layers.want_every_frame("recording")
        if n == released_at:
            layers.release("recording")
        if layers.admit(layer, is_vp8_keyframe(data)):
            admitted.append(n)
    return admitted


def assert_decodes_as_full(stream, full, admitted: list[int]) -> None:
    alone = pictures([stream[n][0] for n in admitted])
    for n, picture in zip(admitted, alone, strict=True):
        assert np.array_equal(picture, full[n]), f"frame {n} decoded without the skipped frames differs"


# -- reading the descriptor -------------------------------------------------------------------------


@pytest.mark.parametrize("picture_id", [None, 5, 300])
@pytest.mark.parametrize("tl0picidx", [None, 17])
@pytest.mark.parametrize("keyidx", [None, 3])
@pytest.mark.parametrize("tid", [(0, False), (1, True), (2, False), (2, True)])
def test_the_temporal_layer_is_read_as_aiortc_writes_it(picture_id, tl0picidx, keyidx, tid):
    descriptor = VpxPayloadDescriptor(1, 0, picture_id=picture_id, tl0picidx=tl0picidx, tid=tid, keyidx=keyidx)
    payload = bytes(descriptor) + b"\x10\x02\x00"
    assert VpxPayloadDescriptor.parse(payload)[0].tid == tid  # aiortc reads back what it wrote
    assert vp8_temporal_layer(payload) == TemporalLayer(tid[0], tid[1])


def test_a_descriptor_without_the_t_bit_has_no_layer():
    for descriptor in (VpxPayloadDescriptor(1, 0), VpxPayloadDescriptor(1, 0, picture_id=300, tl0picidx=4),
                       VpxPayloadDescriptor(0, 0, picture_id=9, keyidx=2)):
        assert vp8_temporal_layer(bytes(descriptor) + b"\x10\x02\x00") is None
    assert vp8_temporal_layer(b"") is None
    assert vp8_temporal_layer(b"\xa0") is None  # truncated: X set, no extension octet
    assert vp8_temporal_layer(b"\x90\xa0\x80") is None  # truncated long PictureID


def test_aiortcs_own_packets_carry_no_layer():
    encoder = Vp8Encoder()
    payloads, _ = encoder.encode(camera_frames(1)[0])
    assert all(vp8_temporal_layer(p) is None for p in payloads)


# -- which frames are decoded -----------------------------------------------------------------------


def test_with_nobody_needing_every_frame_only_layer_0_and_keyframes_are_decoded(stream, full):
    layers = LayerFilter()
    admitted = run(layers, stream)
    assert all(stream[n][1].tid == 0 or n in KEYFRAMES for n in admitted)
    assert len(admitted) == len(stream) // 4  # the keyframes here fall on layer 0
    assert layers.stats.frames == len(stream) and layers.stats.layered == len(stream)
    assert layers.stats.skipped == len(stream) - len(admitted)
    assert_decodes_as_full(stream, full, admitted)


def test_every_frame_is_decoded_while_someone_needs_it(stream, full):
    layers = LayerFilter()
    assert run(layers, stream, wanted_from=0) == list(range(len(stream)))
    assert layers.stats.skipped == 0


@pytest.mark.parametrize("wanted_from", [5, 6, 7, 9, 13])
def test_upper_layers_resume_at_their_sync_frames_and_decode_exactly(stream, full, wanted_from):
    layers = LayerFilter()
    admitted = run(layers, stream, wanted_from=wanted_from)
    # Up to then layer 0 only; then layer 1 resumes at its next sync frame, and layer 2 at its
    # next after that: within two patterns, every frame.
    assert [n for n in admitted if n < wanted_from] == list(range(0, wanted_from, 4))
    assert all(n in admitted for n in range(wanted_from + 8, len(stream)))
    assert all(n in admitted for n in range(wanted_from, len(stream)) if stream[n][1].sync)
    assert_decodes_as_full(stream, full, admitted)


def test_after_a_release_only_layer_0_again(stream, full):
    layers = LayerFilter()
    admitted = run(layers, stream, wanted_from=0, released_at=20)
    assert admitted == list(range(20)) + list(range(20, len(stream), 4))
    assert_decodes_as_full(stream, full, admitted)


def test_a_keyframe_puts_every_layer_back_in_step(stream, full):
    layers = LayerFilter()
    # Someone wants every frame just after a layer-2 sync frame went by: layer 2's next frame
    # (not a sync frame) must wait; the keyframe at 32 puts every layer in step at once.
    admitted = run(layers, stream[:30], wanted_from=29) + [n + 30 for n in run(layers, stream[30:])]
    assert 31 not in admitted
    assert all(n in admitted for n in range(32, len(stream)))
    assert_decodes_as_full(stream, full, admitted)


def test_an_unlayered_stream_is_decoded_whole():
    layers = LayerFilter()
    data = [(bytes(f), None) for f in range(3)]
    assert [layers.admit(layer, key) for (_, layer), key in zip(data, (True, False, False), strict=True)] == [True] * 3
    assert layers.stats.skipped == 0 and layers.stats.layered == 0


def test_without_error_resilience_layer_0_alone_would_not_decode_exactly():
    """Why the filter trusts only WebRTC encoders: libvpx without error resilience carries entropy
    updates from the upper layers' frames into layer 0's."""
    stream = layered_vp8(16, error_resilient=False)
    full = pictures([data for data, _ in stream])
    admitted = run(LayerFilter(), stream)
    alone = pictures([stream[n][0] for n in admitted])
    assert not all(np.array_equal(a, full[n]) for n, a in zip(admitted, alone, strict=True))


# -- in the receiver: the jitter buffer reads the layer, the decoder queue filters -----------------


def packets(stream, first_seq: int = 1000, size: int = 1000) -> list[RtpPacket]:
    """The frames as a WebRTC sender packs them: a descriptor with the layer in every packet."""
    out = []
    seq = first_seq
    for n, (data, layer) in enumerate(stream):
        chunks = [data[i:i + size] for i in range(0, len(data), size)]
        for c, chunk in enumerate(chunks):
            descriptor = VpxPayloadDescriptor(int(c == 0), 0, picture_id=n, tl0picidx=n // 4 % 256,
                                              tid=(layer.tid, layer.sync))
            packet = RtpPacket(payload_type=96, sequence_number=seq % 65536, timestamp=n * 6000,
                               marker=int(c == len(chunks) - 1), payload=bytes(descriptor) + chunk)
            packet._data = vp8_depayload(packet.payload)  # type: ignore[attr-defined]
            out.append(packet)
            seq += 1
    return out


def test_the_receiver_reads_each_frames_layer_and_decodes_layer_0_only(stream):
    buffer = RecoveringJitterBuffer(
        lambda pt, data: is_vp8_keyframe(data), clock=lambda: 0.0,
        picture_of=lambda pt, payload: vp8_picture(payload),
    )
    tapped: list[JitterFrame] = []
    q = DecoderQueue(lambda codec, data: is_vp8_keyframe(data), lambda: None, limit=100, layers=LayerFilter())
    q.tap = lambda codec, frame: tapped.append(frame)
    for packet in packets(stream):
        _, frame = buffer.add(packet)
        if frame is not None:
            q.put((VP8, frame))
    # aiortc hands a frame on when the next one starts: all but the last have come out.
    assert [f.timestamp // 6000 for f in tapped] == list(range(len(stream) - 1))
    assert [f.layer for f in tapped] == [layer for _, layer in stream[:-1]]
    assert [item[1].timestamp // 6000 for item in q.queue] == list(range(0, len(stream) - 1, 4))
    assert q.layers is not None and q.layers.stats.frames == len(stream) - 1


# -- a frame lost for good: upper layers skip it, layer 0 needs a keyframe -------------------------


@dataclass
class Received:
    frames: list[int]  # the frames handed on, by index in the stream
    plis: int
    buffer: RecoveringJitterBuffer


def receive(stream, lose: Callable[[int, int], bool], size: int = 1000) -> Received:
    """The stream through the gateway's jitter buffer, the packets for which ``lose(frame, chunk)``
    is true lost for good (never retransmitted), 100 packets a second."""
    now = 0.0
    buffer = RecoveringJitterBuffer(
        lambda pt, data: is_vp8_keyframe(data), clock=lambda: now, tuning=RecoveryTuning(max_stall_seconds=0.3),
        picture_of=lambda pt, payload: vp8_picture(payload),
    )
    out, plis = [], 0
    chunk, last = 0, None
    for packet in packets(stream, size=size):
        now += 0.01
        n = packet.timestamp // 6000
        chunk = chunk + 1 if n == last else 0
        last = n
        if lose(n, chunk):
            continue
        pli, frame = buffer.add(packet)
        plis += pli
        if frame is not None:
            out.append(frame.timestamp // 6000)
    return Received(out, plis, buffer)


def test_a_lost_upper_layer_frame_is_skipped_with_no_keyframe_and_all_that_comes_out_decodes_exactly(stream, full):
    lost = 5  # layer 2
    got = receive(stream, lambda n, _: n == lost)
    assert stream[lost][1].tid == 2
    assert got.plis == 0 and got.buffer.stats.upper_layer_skips == 1 and got.buffer.stats.stalls == 1
    assert lost not in got.frames
    # Layer 0 goes on without a pause, and the upper layers come back at their next sync frames.
    assert [n for n, (_, layer) in enumerate(stream[:-1]) if layer.tid == 0 and n not in got.frames] == []
    assert got.frames[-1] == len(stream) - 2
    assert_decodes_as_full(stream, full, got.frames)


def test_an_upper_layer_frame_losing_one_of_its_packets_is_skipped_the_same_way(stream, full):
    size = 200
    lost = next(n for n, (data, layer) in enumerate(stream) if n > 4 and layer.tid == 1 and len(data) > 2 * size)
    got = receive(stream, lambda n, chunk: n == lost and chunk == 1, size=size)
    assert got.plis == 0 and got.buffer.stats.upper_layer_skips == 1
    assert lost not in got.frames
    assert_decodes_as_full(stream, full, got.frames)


def test_frames_of_two_upper_layers_lost_together_are_skipped_the_same_way(stream, full):
    got = receive(stream, lambda n, _: n in (5, 6))
    assert {stream[5][1].tid, stream[6][1].tid} == {1, 2}
    assert got.plis == 0 and got.buffer.stats.upper_layer_skips == 1
    assert_decodes_as_full(stream, full, got.frames)


def test_a_lost_layer_0_frame_still_waits_for_a_keyframe(stream, full):
    lost = 8
    got = receive(stream, lambda n, _: n == lost)
    assert stream[lost][1].tid == 0
    assert got.plis >= 1 and got.buffer.stats.upper_layer_skips == 0
    # Nothing is handed on from the loss to the keyframe (this stream has one at frame 32).
    assert [n for n in got.frames if lost <= n < KEYFRAMES[1]] == []
    assert_decodes_as_full(stream, full, got.frames)


def test_without_picture_ids_a_lost_upper_layer_frame_waits_for_a_keyframe_too(stream):
    def no_picture_id(payload: bytes):
        picture = vp8_picture(payload)
        return picture and Vp8Picture(picture.starts, picture.layer, None, 15, picture.tl0picidx)

    now = 0.0
    buffer = RecoveringJitterBuffer(
        lambda pt, data: is_vp8_keyframe(data), clock=lambda: now, tuning=RecoveryTuning(max_stall_seconds=0.3),
        picture_of=lambda pt, payload: no_picture_id(payload),
    )
    plis = 0
    for packet in packets(stream):
        now += 0.01
        if packet.timestamp // 6000 != 5:
            plis += buffer.add(packet)[0]
    assert plis >= 1 and buffer.stats.upper_layer_skips == 0
