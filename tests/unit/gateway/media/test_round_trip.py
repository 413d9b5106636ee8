"""The round trip shown in stream health: the media path's own when the page reports it."""

import time

from gateway.media.ingest import CallerPeer


async def _nothing(_: str) -> None:
    return None


async def test_the_pages_media_round_trip_is_preferred_to_the_pings():
    peer = CallerPeer((), _nothing, _nothing)
    sent = time.time() * 1000 - 900  # a ping delayed by a retransmission
    peer.pong(sent, 205)
    assert peer.rtt_ms == 205
    peer.pong(sent, None)  # the page does not know it yet: the ping's own
    assert 850 < peer.rtt_ms < 2000
    peer.pong(sent, True)
    peer.pong("x", "y")
    assert 850 < peer.rtt_ms < 2000
    await peer.close()


async def test_the_pages_media_round_trip_tells_the_video_recovery_how_soon_a_retransmission_can_come():
    peer = CallerPeer((), _nothing, _nothing)
    peer.pc.addTransceiver("video", direction="recvonly")
    peer.watch_receivers(peer.pc)
    assert peer.keyframes is not None
    retransmissions = peer.keyframes.buffer.retransmissions
    assert retransmissions.turnaround < 0.45
    peer.pong(time.time() * 1000 - 900, 450)
    assert retransmissions.turnaround == 0.45
    peer.pong(time.time() * 1000 - 900, None)  # a ping's round trip counts retransmissions: not used
    assert retransmissions.turnaround == 0.45
    await peer.close()
