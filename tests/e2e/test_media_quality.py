"""Issue 5 in a real browser: Chromium's camera stream holds the 640x480 the caller page asks for.

aiortc sends only REMB feedback, from which Chromium would step a camera-like stream down to
480x360 or lower; the gateway's answer carries bitrate hints so a good link keeps full size. With
Janus the caller's feedback comes from Janus, and the same hints are added to Janus's answer.
"""

from __future__ import annotations

import asyncio
import time

import pytest

from .walkthrough import Walkthrough

pytestmark = pytest.mark.e2e


async def stream_health(w: Walkthrough) -> dict:
    return await w.handler.evaluate(
        "async (id) => (await fetch(`/api/incidents/${id}/stream`)).json()", w.incident_id
    )


async def test_a_good_link_holds_640x480_at_the_requested_rate(browser, plane):
    _, gateway, _ = plane
    w = Walkthrough(browser, gateway.base_url, gateway.passwords)
    try:
        await w.handler_sends_link()
        await w.caller_shares()
        await w.handler_sees_video()
        samples = []
        deadline = time.monotonic() + 8
        while time.monotonic() < deadline:
            health = (await stream_health(w))["stream"]
            if health and health["fps"] is not None:
                samples.append(health)
            await asyncio.sleep(1.0)
        assert len(samples) >= 3, samples
        sizes = {(s["width"], s["height"]) for s in samples[1:]}
        assert sizes == {(640, 480)}, f"the stream left 640x480: {samples}"
        assert all(s["codec"] == "VP8" for s in samples), samples
        rates = sorted(s["fps"] for s in samples[1:])
        assert rates[len(rates) // 2] >= 12, f"median frame rate too low: {rates}"
        assert all(s["packet_loss"] < 0.05 for s in samples[1:]), samples
        assert any(s["rtt_ms"] is not None for s in samples), "the caller page answers pings"
        await w.handler_ends()
    finally:
        await w.close()
