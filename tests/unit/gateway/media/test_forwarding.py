"""Forwarding the caller's encoded frames to viewers: the keyframe gate, the requests, the fan-out,
and the aiortc members it relies on (on the pinned aiortc version)."""

from __future__ import annotations

import asyncio

import av
import pytest
from aiortc import RTCPeerConnection, RTCSessionDescription
from aiortc.codecs.vpx import Vp8Encoder, vp8_depayload
from aiortc.jitterbuffer import JitterFrame
from aiortc.mediastreams import MediaStreamError
from aiortc.rtcrtpparameters import RTCRtpCodecParameters
from aiortc.rtp import RTCP_PSFB_FIR, RTCP_PSFB_PLI, RtcpPsfbPacket

from gateway.media import decoding, forwarding
from gateway.media.forwarding import ForwardingHub, FrameGate, KeyframeRequests, PtsClock
from gateway.media.keyframes import is_vp8_keyframe

from .test_encoder import camera_frames

VP8 = RTCRtpCodecParameters(mimeType="video/VP8", clockRate=90000, payloadType=96)
H264 = RTCRtpCodecParameters(mimeType="video/H264", clockRate=90000, payloadType=102)
KEYFRAMES = (0, 10, 25)


@pytest.fixture(scope="module")
def stream() -> list[JitterFrame]:
    """40 frames of a camera as the receiver completes them: keyframes at 0, 10 and 25."""
    encoder = Vp8Encoder()
    out = []
    for i, frame in enumerate(camera_frames(40)):
        payloads, timestamp = encoder.encode(frame, force_keyframe=i in KEYFRAMES)
        out.append(JitterFrame(b"".join(vp8_depayload(p) for p in payloads), timestamp))
    assert [i for i, f in enumerate(out) if is_vp8_keyframe(f.data)] == list(KEYFRAMES)
    return out


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


class Caller:
    """Counts the keyframes asked of the caller."""

    def __init__(self) -> None:
        self.asked = 0

    def ask(self) -> None:
        self.asked += 1


def hub_for_test(limit: int = forwarding.DEFAULT_LIMIT) -> tuple[ForwardingHub, Caller, Clock]:
    caller, clock = Caller(), Clock()
    return ForwardingHub(caller.ask, clock=clock, limit=limit), caller, clock


def publish(hub: ForwardingHub, frames: list[JitterFrame], clock: Clock | None = None) -> None:
    for f in frames:
        hub.publish("VP8", f.data, f.timestamp)
        if clock is not None:
            clock.now += 1 / 15


async def drain(track: forwarding.ForwardedTrack) -> list[av.Packet]:
    out = []
    while track._frames:
        out.append(await track.recv())
    return out


# -- the keyframe gate ------------------------------------------------------------------------------


def test_a_new_viewer_is_fed_only_from_a_keyframe_on():
    gate = FrameGate()
    assert gate.waiting
    assert not gate.admit(is_keyframe=False)
    assert gate.admit(is_keyframe=True)
    assert gate.admit(is_keyframe=False) and not gate.waiting


def test_a_viewer_that_lost_a_frame_waits_for_the_next_keyframe():
    gate = FrameGate()
    gate.admit(is_keyframe=True)
    gate.lose()
    assert not gate.admit(is_keyframe=False)
    assert gate.admit(is_keyframe=True)


# -- asking the caller for keyframes ----------------------------------------------------------------


def test_the_caller_is_asked_at_once_then_at_most_once_an_interval():
    requests = KeyframeRequests(min_interval=0.5)
    assert requests.want(10.0)
    assert not requests.want(10.2), "a second viewer within the interval does not ask again"
    assert not requests.frame(is_keyframe=False, now=10.4)
    assert requests.frame(is_keyframe=False, now=10.5), "still wanted after the interval: asked again"
    assert not requests.frame(is_keyframe=True, now=11.5)
    assert not requests.wanted
    assert not requests.frame(is_keyframe=False, now=20.0), "nothing is asked once the keyframe came"


# -- presentation times -----------------------------------------------------------------------------


def test_a_viewers_times_start_at_zero_follow_the_callers_and_never_go_back():
    clock = PtsClock()
    assert [clock.pts(t) for t in (9000, 15000, 21000)] == [0, 6000, 12000]
    assert clock.pts(3000) == 12001, "the caller's clock jumped back (a restarted stream)"
    assert clock.pts(9000) == 18001, "and goes on at the caller's pace from there"


# -- the fan-out ------------------------------------------------------------------------------------


async def test_a_viewer_gets_the_callers_frames_unchanged_from_the_next_keyframe(stream):
    hub, caller, clock = hub_for_test()
    track = hub.subscribe()
    assert caller.asked == 1, "a new viewer asks the caller for a keyframe"
    publish(hub, stream[1:20], clock)
    packets = await drain(track)
    assert [bytes(p) for p in packets] == [f.data for f in stream[10:20]]
    assert packets[0].is_keyframe
    assert [p.pts for p in packets] == [f.timestamp - stream[10].timestamp for f in stream[10:20]]
    assert all(p.time_base == forwarding.VIDEO_TIME_BASE for p in packets)
    assert hub.stats.held_back == 9 and hub.stats.forwarded == 10
    # It decodes from its first frame on, with nothing missing.
    decoder = av.CodecContext.create("libvpx", "r")
    decoded = [frame for p in packets for frame in decoder.decode(p)]
    assert len(decoded) == 10 and (decoded[0].width, decoded[0].height) == (640, 480)


async def test_a_second_viewer_waits_for_its_own_keyframe_while_the_first_goes_on(stream):
    hub, caller, clock = hub_for_test(limit=20)
    first = hub.subscribe()
    publish(hub, stream[0:5], clock)
    second = hub.subscribe()
    publish(hub, stream[5:12], clock)
    assert len(await drain(first)) == 12
    assert [bytes(p) for p in await drain(second)] == [f.data for f in stream[10:12]]
    assert caller.asked == 2


async def test_while_a_viewer_waits_the_caller_is_asked_again_at_most_every_interval(stream):
    hub, caller, clock = hub_for_test(limit=40)
    hub.subscribe()
    publish(hub, stream[1:10], clock)  # 0.6 s of frames with no keyframe
    assert caller.asked == 2, "asked on joining, then once more after min_interval"
    publish(hub, stream[10:25], clock)
    assert caller.asked == 2, "the keyframe came: nothing more is asked"


async def test_a_viewer_behind_by_a_whole_queue_restarts_at_the_next_keyframe(stream):
    hub, caller, clock = hub_for_test(limit=4)
    track = hub.subscribe()
    publish(hub, stream[0:6], clock)  # nobody reads: the queue fills, then overflows
    assert hub.stats.overflows == 1 and track.gate.waiting
    publish(hub, stream[6:10], clock)
    assert caller.asked == 2, "the overflow asks for a keyframe (once the interval since the last has passed)"
    publish(hub, stream[10:12], clock)
    packets = await drain(track)
    assert [bytes(p) for p in packets] == [f.data for f in stream[10:12]]


async def test_a_viewers_picture_loss_asks_the_caller_but_frames_keep_flowing(stream):
    hub, caller, clock = hub_for_test()
    track = hub.subscribe()
    publish(hub, stream[0:3], clock)
    clock.now += 1
    track.picture_lost()
    track.picture_lost()  # a PLI and a FIR together: one request
    assert hub.stats.viewer_requests == 2 and caller.asked == 2
    publish(hub, stream[3:5], clock)
    assert len(await drain(track)) == 5


async def test_frames_of_another_codec_and_frames_nobody_watches_go_nowhere(stream):
    hub, caller, clock = hub_for_test()
    hub.publish("VP8", stream[0].data, 0)
    track = hub.subscribe()
    hub.publish("H264", b"\x00\x00\x00\x01\x65", 0)
    assert not track._frames and hub.stats.forwarded == 0 and hub.stats.held_back == 0


async def test_a_stopped_track_leaves_the_hub_and_ends_a_waiting_recv():
    hub, _, _ = hub_for_test()
    track = hub.subscribe()
    waiting = asyncio.ensure_future(track.recv())
    await asyncio.sleep(0)
    track.stop()
    assert hub.tracks == []
    with pytest.raises(MediaStreamError):
        await asyncio.wait_for(waiting, 1)


# -- aiortc's members, on the pinned version --------------------------------------------------------


async def answered_receiver() -> tuple[RTCPeerConnection, RTCPeerConnection, object]:
    offerer = RTCPeerConnection()
    offerer.addTransceiver("video", direction="sendrecv")
    await offerer.setLocalDescription(await offerer.createOffer())
    answerer = RTCPeerConnection()
    await answerer.setRemoteDescription(RTCSessionDescription(offerer.localDescription.sdp, "offer"))
    (transceiver,) = answerer.getTransceivers()
    return offerer, answerer, transceiver.receiver


async def test_the_hub_is_fed_by_the_receivers_decoder_queue_and_asks_through_it(stream):
    offerer, answerer, receiver = await answered_receiver()
    try:
        queue = decoding.install(receiver)
        assert queue is not None and forwarding.supported(receiver)
        hub = forwarding.install(receiver, queue)
        assert hub is not None
        track = hub.subscribe()
        # A keyframe is asked for through the receiver's decode-error flag (a PLI with its next packet).
        assert receiver._RTCRtpReceiver__decoder_error.is_set()
        # What aiortc's receiver puts for its decoder thread reaches the viewer too, even when the
        # decoder's own queue drops it.
        got = []
        for f in stream[0:decoding.DEFAULT_LIMIT + 5]:
            queue.put((VP8, f))
            got += await drain(track)
        assert [bytes(p) for p in got] == [f.data for f in stream[0:decoding.DEFAULT_LIMIT + 5]]
        assert queue.stats.dropped > 0, "no decoder thread runs: its queue overflowed meanwhile"
    finally:
        await offerer.close()
        await answerer.close()


@pytest.mark.parametrize("fmt", [RTCP_PSFB_PLI, RTCP_PSFB_FIR])
async def test_a_viewers_pli_or_fir_reaches_the_hub_and_a_packet_is_packed_not_encoded(stream, fmt):
    hub, caller, clock = hub_for_test()
    track = hub.subscribe()
    pc = RTCPeerConnection()
    try:
        sender = pc.addTrack(track)
        assert forwarding.sender_supported(sender)
        assert forwarding.forward_viewer_plis(sender, track)
        clock.now += 1
        await sender._handle_rtcp_packet(RtcpPsfbPacket(fmt=fmt, ssrc=1, media_ssrc=sender._ssrc))
        assert hub.stats.viewer_requests == 1 and caller.asked == 2
        # aiortc's sender packs the track's av.Packet through its encoder's pack(): no encoding.
        publish(hub, stream[0:2], clock)
        encoded = await sender._next_encoded_frame(VP8)
        assert encoded is not None and encoded.timestamp == 0
        assert b"".join(vp8_depayload(p) for p in encoded.payloads) == stream[0].data
        encoder = sender._RTCRtpSender__encoder
        assert isinstance(encoder, Vp8Encoder) and encoder.codec is None, "nothing was encoded"
    finally:
        await pc.close()
