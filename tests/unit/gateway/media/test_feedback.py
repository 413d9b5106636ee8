"""REMB feedback: sent as libwebrtc's receiver sends it, not once per packet while overused."""

from __future__ import annotations

from aiortc import RTCPeerConnection
from aiortc.rtp import RTCP_PSFB_APP, RtcpPsfbPacket, RtpPacket, unpack_remb_fci

from gateway.media import feedback
from gateway.media.feedback import RembThrottle

SSRCS = [1111]


def test_the_first_estimate_is_sent_and_the_next_only_after_the_interval():
    throttle = RembThrottle()
    assert throttle.admit((1_000_000, SSRCS), 0) is not None
    assert throttle.admit((1_000_000, SSRCS), 150) is None
    assert throttle.admit((1_010_000, SSRCS), 199) is None  # a rise waits for the interval
    assert throttle.admit((1_010_000, SSRCS), 200) == (1_010_000, SSRCS)
    assert throttle.stats.as_dict() == {"estimates": 4, "sent": 2}


def test_an_estimate_more_than_3_percent_lower_is_sent_at_once():
    throttle = RembThrottle()
    throttle.admit((1_000_000, SSRCS), 0)
    assert throttle.admit((980_000, SSRCS), 10) is None  # 2% lower: waits
    assert throttle.admit((960_000, SSRCS), 20) == (960_000, SSRCS)  # 4% below the last sent
    assert throttle.admit((950_000, SSRCS), 30) is None  # 1% below the new last sent


def test_no_estimate_is_nothing_to_send_and_not_counted():
    throttle = RembThrottle()
    assert throttle.admit(None, 0) is None
    assert throttle.stats.estimates == 0


def _bursty_packets(seconds: float):
    """A sender's frames, 15 a second, each of 8 packets leaving at once; the path delivers them a
    little slower than they leave, so the queueing delay grows: what the estimator calls overuse."""
    seq = 0
    for frame in range(int(seconds * 15)):
        sent = frame / 15
        for n in range(8):
            packet = RtpPacket(payload_type=127, sequence_number=seq, timestamp=frame * 6000, ssrc=SSRCS[0],
                               payload=bytes(1100))
            packet.extensions.abs_send_time = int(sent * (1 << 18)) & 0xFFFFFF
            arrival_ms = int(1000 * sent + 2 * frame + 1.5 * n)  # 2 ms more queueing per frame
            seq += 1
            yield packet, 1_000_000 + arrival_ms


async def _rembs_sent(throttled: bool, seconds: float):
    """REMBs a real aiortc video receiver sends for the bursty stream; and its throttle."""
    pc = RTCPeerConnection()
    try:
        receiver = pc.addTransceiver("video", direction="recvonly").receiver
        receiver._set_rtcp_ssrc(4242)
        throttle = feedback.install(receiver) if throttled else None
        sent: list[tuple[int, int]] = []  # (when, bitrate)
        now = [0]

        async def send_rtcp(packet) -> None:  # where the receiver's RTCP leaves for the network
            if isinstance(packet, RtcpPsfbPacket) and packet.fmt == RTCP_PSFB_APP:
                sent.append((now[0], unpack_remb_fci(packet.fci)[0]))

        receiver._send_rtcp = send_rtcp
        for packet, arrival_ms in _bursty_packets(seconds):
            now[0] = arrival_ms
            await receiver._handle_rtp_packet(packet, arrival_ms)
        return sent, throttle
    finally:
        await pc.close()


async def test_a_receiver_sends_a_rembs_every_200_ms_at_most_where_aiortc_sends_one_per_packet():
    seconds = 6.0
    aiortcs, _ = await _rembs_sent(throttled=False, seconds=seconds)
    ours, throttle = await _rembs_sent(throttled=True, seconds=seconds)
    assert throttle is not None
    # The same packets give the same estimates: the throttle saw every one aiortc would have sent.
    assert throttle.stats.estimates == len(aiortcs)
    assert throttle.stats.sent == len(ours)
    # aiortc sends several a second while the path looks overused (this stream: most packets).
    assert len(aiortcs) > 10 * seconds
    # Ours: none within 200 ms of the last one unless the estimate fell by more than 3% since.
    for (then, before), (now, after) in zip(ours, ours[1:], strict=False):
        assert now - then >= 200 or after * 1.03 <= before
    falls = sum(1 for (_, before), (_, after) in zip(ours, ours[1:], strict=False) if after * 1.03 <= before)
    assert len(ours) <= seconds / 0.2 + 1 + falls
    assert len(ours) < len(aiortcs) / 3


async def test_it_installs_into_the_aiortc_video_receiver_the_project_pins():
    pc = RTCPeerConnection()
    try:
        video = pc.addTransceiver("video", direction="recvonly").receiver
        audio = pc.addTransceiver("audio", direction="recvonly").receiver
        assert feedback.supported(video)
        assert not feedback.supported(audio)  # aiortc estimates bandwidth for video only
        assert feedback.install(video) is not None
        assert feedback.install(audio) is None
    finally:
        await pc.close()
