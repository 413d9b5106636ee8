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
