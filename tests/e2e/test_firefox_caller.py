"""A caller on Firefox ESR: the second browser the caller page is made for.

Firefox (Debian's firefox-esr, driven by puppeteer-core over WebDriver BiDi: tests/e2e/firefox.py)
opens the link, consents, and shares its camera and position; the handler's console (Chromium, as
in the other tests) sees live video and the caller placed in West Yorkshire, Leeds; the stream is
healthy and decoded, a snapshot goes into the record, and the caller's "Stop sharing" ends the
session. On each media plane.

The page asks for VP8 in temporal layers; Firefox ESR 153 does not know `scalabilityMode`, ignores
it and sends one layer, which the gateway decodes whole. The test follows what the browser says it
kept of the request, so a Firefox that does send layers is checked against that instead.
"""

from __future__ import annotations

from typing import Any

import pytest
from playwright.async_api import expect

from .callers import eventually
from .firefox import NEEDS_FIREFOX, FirefoxCaller
from .walkthrough import CALLER_POSITION, Walkthrough, sha256

pytestmark = [pytest.mark.e2e, *NEEDS_FIREFOX]


async def test_a_firefox_caller_streams_video_and_location_and_ends_the_session(
    browser, plane, firefox_caller: FirefoxCaller
):
    name, gateway, _ = plane
    phone = firefox_caller
    w = Walkthrough(browser, gateway.base_url, gateway.passwords)
    try:
        await w.handler_sends_link()
        assert await phone.open(w.link_url) == 200
        await phone.until(lambda s: s["screens"] == ["consent"], "the consent screen")
        await phone.click("#start")
        # The connection says "Connected" as soon as ICE and DTLS are up; the page says it sends
        # video once its data channel is open too, a moment later.
        sharing = await phone.until(
            lambda s: s["screens"] == ["sharing"] and "15 m" in (s["location"] or "")
            and s["connection"] == "Connected" and s["mode"] == "video",
            "sharing video, placed and connected",
        )
        assert sharing["banner"] == "Sharing with the control room", sharing

        # The handler's console plays the caller's video and places the caller.
        video = await w.handler_sees_video()
        assert video["width"] > 0 and video["frames"] >= 8, video
        assert video["advanced"] > 0, video
        await w.handler_sees_position()
        await expect(w.handler.locator("#cs-browser")).to_contain_text("Firefox")

        # Stream health: a watchable stream, decoded at the rate Firefox encodes it.
        stream_url = f"{gateway.base_url}/api/incidents/{w.incident_id}/stream"

        async def health_after(frames: int) -> dict[str, Any] | None:
            health = (await (await w.handler.request.get(stream_url)).json()).get("stream") or {}
            arrived = (health.get("layers") or {}).get("frames", 0)
            return health if arrived > frames and health.get("fps") and health.get("decoded_fps") else None

        health = await eventually(lambda: health_after(30), 15.0, what="stream health with 30 frames and a frame rate")
        assert health["codec"] == "VP8" and health["state"] == "live", health
        sent = await phone.state()
        (peer,) = [p for p in sent["peers"] if p["connectionState"] == "connected"]
        (encodings,) = peer["encodings"]
        (outbound,) = peer["outbound"]
        assert outbound["framesEncoded"] > 0, peer
        # The frame rate the gateway measures is the one Firefox encodes at.
        assert abs(health["fps"] - outbound["framesPerSecond"]) <= 0.2 * outbound["framesPerSecond"], (health, peer)
        if name == "embedded":
            # The relay's bandwidth feedback lets Firefox send the camera's full size at once. (Fed
            # by Janus, Firefox starts at 320x240 and reaches 640x480 some 15 s later.)
            assert (health["width"], health["height"]) == (640, 480), health

        async def decoded_as_sent() -> bool:
            # The gateway decodes the size Firefox encodes (it steps up as its estimate grows).
            (out,) = [p for p in (await phone.state())["peers"] if p["connectionState"] == "connected"][0]["outbound"]
            stream = (await (await w.handler.request.get(stream_url)).json()).get("stream") or {}
            return (stream.get("width"), stream.get("height")) == (out["frameWidth"], out["frameHeight"])

        await eventually(decoded_as_sent, 15.0, what="the gateway decoding the size Firefox sends")
        layers = health["layers"]
        # The page asks for VP8 in temporal layers (L1T3, else L1T2). What the gateway does follows
        # from what Firefox says it kept of that request.
        mode = encodings[0].get("scalabilityMode")
        if mode is None:
            # The request was dropped (Firefox ESR 153 does not know the member): one layer, no
            # layer index in any frame, and every frame decoded.
            assert layers["layered"] == 0 and layers["skipped"] == 0, layers
            assert health["decoded_fps"] >= 0.8 * health["fps"], health
        else:
            # Firefox sends the layers: every frame says its layer, and the upper ones are skipped
            # (L1T3: three frames in four; L1T2: one in two).
            assert layers["layered"] >= layers["frames"] - 1, (mode, layers)
            share = {"L1T3": 0.75, "L1T2": 0.5}[mode]
            assert share - 0.15 <= layers["skipped"] / layers["frames"] <= share + 0.15, (mode, layers)
            assert 0 < health["decoded_fps"] < 0.8 * health["fps"], (mode, health)

        # A snapshot of the scene now, into the record.
        snap, jpeg, _ = await w.handler_takes_snapshot()
        assert sha256(jpeg) == snap["sha256"] and jpeg[:2] == b"\xff\xd8", snap
        assert snap["width"] > 0 and snap["width"] * 3 == snap["height"] * 4, snap  # the camera's 4:3
        # The sharpest frame of the last second of a live stream, and a stream never frozen (no
        # gap of media.frozen_after_seconds, 1.5 s by default, between two decoded frames).
        assert snap["frame_age_seconds"] <= 1.5, snap
        body = await (await w.handler.request.get(stream_url)).json()
        assert body["state"] == "live" and body["longest_freeze_seconds"] < 1.5, body

        # The caller stops sharing: the session ends for everyone.
        await phone.click("#stop")
        ended = await phone.until(lambda s: s["screens"] == ["ended"], "the ended screen")
        assert "You have stopped sharing" in (ended["ended"] or ""), ended
        await expect(w.handler.locator("#link-state")).to_have_attribute("data-state", "ended")
        record = await w.record()
        assert record["state"] == "ended", record["state"]
        assert record["sessions"][-1]["ended_by"] == "caller", record["sessions"]
        assert [s["id"] for s in record["snapshots"]] == [snap["id"]], record["snapshots"]
        placed = {(f["latitude"], f["longitude"], f["accuracy"]) for f in record["fixes"]}
        assert placed == {tuple(CALLER_POSITION.values())}, record["fixes"]
        assert not phone.problems and not w.problems.found, (phone.problems, w.problems.found)
    finally:
        await w.close()
