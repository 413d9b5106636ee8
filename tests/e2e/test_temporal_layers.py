"""A Chromium caller sends VP8 in temporal layers; the gateway decodes only the base layer.

On each media plane the caller page asks for three temporal layers and the gateway's stream health
shows it: every frame arrived with a layer index, the frame rate is the caller's, and about three
frames in four were not decoded. With the embedded relay a forwarded view (an aiortc peer that
counts the encoded frames it gets) still gets every frame; a recording decodes every frame again.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest
from aiortc import RTCConfiguration, RTCPeerConnection

from .callers import eventually
from .viewer import watch
from .walkthrough import Walkthrough

pytestmark = pytest.mark.e2e


async def stream(w: Walkthrough) -> dict[str, Any]:
    body = await w.handler.evaluate("async (id) => (await fetch(`/api/incidents/${id}/stream`)).json()", w.incident_id)
    return body.get("stream") or {}


async def layered_health(w: Walkthrough, after: int = 0) -> dict[str, Any] | None:
    """Stream health once it shows some 40 layered frames more than ``after`` arrived, and a rate."""
    health = await stream(w)
    layers = health.get("layers") or {}
    return health if layers.get("layered", 0) > after + 40 and health.get("fps") else None


async def test_the_caller_sends_temporal_layers_and_the_gateway_decodes_the_base_layer(browser, plane):
    name, gateway, _ = plane
    w = Walkthrough(browser, gateway.base_url, gateway.passwords)
    try:
        await w.handler_sends_link()
        await w.caller_shares()
        await w.handler_sees_video()
        health = await eventually(lambda: layered_health(w), 20.0, what="layered frames in stream health")
        layers = health["layers"]
        # Every frame the gateway got carried a temporal layer index: the page asked for layers.
        assert layers["layered"] == layers["frames"], layers
        # L1T3: layer 0 is one frame in four; the rest were not decoded.
        assert 0.6 <= layers["skipped"] / layers["frames"] <= 0.8, layers
        assert health["decoded_fps"] < 0.5 * health["fps"], health
        assert health["frames_arrived"] >= layers["frames"] - 1 and health["frames"] < health["frames_arrived"], health
    finally:
        await w.close()


async def test_a_forwarded_view_gets_every_frame_and_a_recording_decodes_them_all(browser, gateway):
    w = Walkthrough(browser, gateway.base_url, gateway.passwords)
    viewer = RTCPeerConnection(RTCConfiguration(iceServers=[]))
    try:
        await w.handler_sends_link()
        await w.caller_shares()
        await w.handler_sees_video()
        transceiver, seen, track = await watch(w, viewer)
        await asyncio.wait_for(track.recv(), 10)

        first = await eventually(lambda: layered_health(w), 20.0, what="layered frames in stream health")
        started, got = time.monotonic(), len(seen.keyframes)
        later = await eventually(lambda: layered_health(w, first["layers"]["layered"]), 20.0,
                                 what="more layered frames")
        arrived = later["layers"]["frames"] - first["layers"]["frames"]
        skipped = later["layers"]["skipped"] - first["layers"]["skipped"]
        forwarded = len(seen.keyframes) - got
        # The view got what arrived meanwhile, give or take the frames in flight at either end,
        # while the gateway decoded about one in four.
        assert forwarded >= arrived - 4, (forwarded, arrived, time.monotonic() - started)
        assert skipped >= 0.6 * arrived, (skipped, arrived)

        csrf = await w.handler.evaluate("async () => (await (await fetch('/api/me')).json()).csrf_token")
        policy = await w.handler.request.put(
            f"{gateway.base_url}/api/incidents/{w.incident_id}/media-policy",
            data={"recording": True}, headers={"X-CSRF-Token": csrf},
        )
        assert policy.status == 200, await policy.text()

        samples: list[dict[str, Any]] = []

        async def decoding_all() -> dict[str, Any] | None:
            # Two health samples while recording with nothing skipped between them.
            health = await stream(w)
            if not health.get("recording") or not health.get("layers"):
                return None
            if not samples or health["layers"]["layered"] > samples[-1]["layers"]["layered"]:
                samples.append(health)
            if len(samples) >= 2 and samples[-1]["layers"]["skipped"] == samples[-2]["layers"]["skipped"]:
                return samples[-1]
            return None

        health = await eventually(decoding_all, 30, what="every frame decoded while recording")
        assert health["decoded_fps"] >= 0.8 * health["fps"], health
    finally:
        await viewer.close()
        await w.close()
