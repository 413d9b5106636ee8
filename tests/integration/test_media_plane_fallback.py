"""With Janus configured but out of reach, a caller is still seen: the gateway relays it itself."""

from __future__ import annotations

import asyncio
import socket
from dataclasses import replace

import pytest

from gateway.config import JanusSettings
from gateway.media.plane import EmbeddedCaller
from gateway.web.keys import LIVE

from ..conftest import needs_test_network
from .test_media_features import add_viewer, open_caller

pytestmark = needs_test_network


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]  # closed again on leaving: connections to it are refused


@pytest.fixture
def settings(settings):
    janus = JanusSettings(f"ws://127.0.0.1:{_closed_port()}/", "s" * 24, "k" * 24)
    return replace(settings, media=replace(settings.media, plane="janus", janus=janus))


async def test_a_caller_is_relayed_by_the_gateway_when_janus_cannot_be_reached(client):
    assert client.app[LIVE].plane.name == "janus"
    incident, csrf, _, caller = await open_caller(client)
    session = client.app[LIVE].by_incident[incident["id"]]
    assert isinstance(session.plane, EmbeddedCaller)
    pc, track = await add_viewer(client, f"/api/incidents/{incident['id']}/viewer", {"X-CSRF-Token": csrf})
    frame = await asyncio.wait_for(track.recv(), 10)
    assert (frame.width, frame.height) == (640, 480)
    # Prometheus sees it: a force's monitoring alerts on callers the SFU did not take.
    metrics = await (await client.get("/metrics")).text()
    assert "scenelink_media_plane_fallback_sessions 1.0" in metrics, metrics
    await pc.close()
    await caller.close()
