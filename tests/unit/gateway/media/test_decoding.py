"""The bounded decoder queue, with real VP8 frames and aiortc's own decoder thread behind it."""

from __future__ import annotations

import asyncio
import queue
import threading

import pytest
from aiortc import RTCPeerConnection, RTCSessionDescription
from aiortc.codecs import get_capabilities
from aiortc.codecs.vpx import Vp8Encoder, vp8_depayload
from aiortc.jitterbuffer import JitterFrame
from aiortc.rtcrtpparameters import RTCRtpCodecParameters
from aiortc.rtcrtpreceiver import decoder_worker

from gateway.media import decoding
from gateway.media.decoding import DecoderQueue
from gateway.media.keyframes import is_vp8_keyframe

from .test_encoder import camera_frames

VP8 = RTCRtpCodecParameters(mimeType="video/VP8", clockRate=90000, payloadType=96)


@pytest.fixture(scope="module")
def stream() -> list[JitterFrame]:
    """40 encoded frames of a camera: a keyframe at 0 and at 25, inter frames between."""
    encoder = Vp8Encoder()
    out = []
    for i, frame in enumerate(camera_frames(40)):
        payloads, timestamp = encoder.encode(frame, force_keyframe=i in (0, 25))
        out.append(JitterFrame(b"".join(vp8_depayload(p) for p in payloads), timestamp))
    assert [i for i, f in enumerate(out) if is_vp8_keyframe(f.data)] == [0, 25]
    return out


class Asks:
    def __init__(self) -> None:
        self.count = 0

    def __call__(self) -> None:
        self.count += 1


def bounded(limit: int, clock=lambda: 0.0) -> tuple[DecoderQueue, Asks]:
    asks = Asks()
    return DecoderQueue(lambda codec, data: is_vp8_keyframe(data), asks, limit, 1.0, clock), asks


def waiting(q: DecoderQueue) -> list[int]:
    """Timestamps of the frames waiting, in order."""
    return [item[1].timestamp for item in q.queue if item is not None]


def test_under_the_limit_every_frame_waits_in_order(stream):
    q, asks = bounded(10)
    for frame in stream[:10]:
        q.put((VP8, frame))
    assert waiting(q) == [f.timestamp for f in stream[:10]]
    assert q.stats.dropped == 0 and asks.count == 0


def test_past_the_limit_without_a_keyframe_waiting_all_goes_until_one_is_asked_for_and_comes(stream):
    q, asks = bounded(8)
    for frame in stream[:12]:  # the keyframe at 0 is the oldest waiting when the limit is reached
        q.put((VP8, frame))
    assert q.qsize() <= 8
    assert asks.count == 1 and q.awaiting_keyframe
    for frame in stream[12:25]:  # inter frames: dropped, nothing decoded against a missing one
        q.put((VP8, frame))
    assert waiting(q) == []
    q.put((VP8, stream[25]))  # the keyframe: decoding starts again from it
    assert waiting(q) == [stream[25].timestamp] and not q.awaiting_keyframe
    assert q.stats.dropped == 25 and q.stats.overflows == 1


def test_a_waiting_keyframe_is_kept_and_what_came_before_it_dropped(stream):
    q, asks = bounded(6)
    for frame in stream[22:28]:  # the keyframe at 25 is the fourth waiting
        q.put((VP8, frame))
    q.put((VP8, stream[28]))
    assert waiting(q) == [f.timestamp for f in stream[25:29]]
    assert q.stats.dropped == 3 and asks.count == 0 and not q.awaiting_keyframe


def test_while_awaiting_a_keyframe_it_is_asked_for_again_each_second(stream):
    now = [0.0]
    q, asks = bounded(2, clock=lambda: now[0])
    for frame in stream[1:4]:
        q.put((VP8, frame))
    assert asks.count == 1
    now[0] = 0.5
    q.put((VP8, stream[4]))
    assert asks.count == 1
    now[0] = 1.2
    q.put((VP8, stream[5]))
    assert asks.count == 2


def test_the_end_of_stream_marker_is_never_dropped(stream):
    q, _ = bounded(3)
    q.put((VP8, stream[1]))
    q.put(None)
    for frame in stream[2:10]:
        q.put((VP8, frame))
    assert None in q.queue


def test_a_limit_under_one_is_refused():
    with pytest.raises(ValueError):
        bounded(0)


async def test_aiortcs_decoder_thread_behind_it_decodes_every_frame_kept_cleanly(stream):
    """The decoder thread starts late (a machine short of CPU): what it finds decodes without error,
    starting from a keyframe, and it is never more than the limit behind."""
    q, _ = bounded(8)
    for frame in stream[:30]:
        q.put((VP8, frame))
    kept = waiting(q)
    assert kept == [f.timestamp for f in stream[25:30]]
    q.put(None)
    decoded: asyncio.Queue = asyncio.Queue()
    error = threading.Event()
    worker = threading.Thread(target=decoder_worker, args=(asyncio.get_running_loop(), q, decoded, error))
    worker.start()
    frames = []
    while (frame := await asyncio.wait_for(decoded.get(), 10)) is not None:
        frames.append(frame)
    worker.join(10)
    assert not error.is_set()
    assert [f.pts for f in frames] == kept


async def test_install_replaces_a_receivers_queue_before_its_decoder_thread_starts():
    offerer = RTCPeerConnection()
    offerer.addTransceiver("video", direction="sendrecv")
    await offerer.setLocalDescription(await offerer.createOffer())
    answerer = RTCPeerConnection()
    try:
        await answerer.setRemoteDescription(RTCSessionDescription(offerer.localDescription.sdp, "offer"))
        (transceiver,) = answerer.getTransceivers()
        receiver = transceiver.receiver
        assert decoding.supported(receiver)
        installed = decoding.install(receiver)
        assert installed is receiver._RTCRtpReceiver__decoder_queue
        assert isinstance(installed, queue.Queue) and installed.limit == decoding.DEFAULT_LIMIT
        # A keyframe is asked for through the receiver's own decode-error flag (a PLI with its next packet).
        installed._request_keyframe()
        assert receiver._RTCRtpReceiver__decoder_error.is_set()
        assert get_capabilities("video")  # aiortc still offers VP8 to decode with
    finally:
        await offerer.close()
        await answerer.close()
