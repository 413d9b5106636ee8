"""Stream health's frame rate is the caller's: every frame that arrived, decoded or not."""

from __future__ import annotations

import av
from aiortc import RTCPeerConnection

from gateway.media.frames import LatestFrame
from gateway.media.health import HealthSampler


async def test_the_frame_rate_counts_frames_that_arrived_and_the_decoded_rate_those_decoded():
    pc = RTCPeerConnection()
    latest = LatestFrame()
    sampler = HealthSampler()
    try:
        first = await sampler.sample(pc, latest, now=100.0, arrived=0)
        assert first["fps"] is None and first["decoded_fps"] is None
        # Two seconds at 15 fps arrived, a quarter of them (the base layer) decoded.
        for _ in range(8):
            latest.update(av.VideoFrame(64, 48, "yuv420p"))
        report = await sampler.sample(pc, latest, now=102.0, arrived=30)
        assert (report["fps"], report["decoded_fps"]) == (15.0, 4.0)
        assert (report["frames_arrived"], report["frames"]) == (30, 8)
        # Without a count of frames that arrived, the decoded frames are all there is.
        alone = await HealthSampler().sample(pc, latest, now=0.0)
        assert alone["frames_arrived"] == alone["frames"] == 8
    finally:
        await pc.close()
