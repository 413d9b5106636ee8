"""Both media planes, the same features: the embedded relay and Janus's VideoRoom.

A real Chromium caller shares its camera; the handler's console sees the first frame, a second
view (the embed for a command-and-control screen) joins, the embed falls back to Motion JPEG where
WebRTC is blocked, a snapshot goes into the record, and
ending the session closes the views (with Janus: destroys the incident's room and every token for
it). A phone whose browser offers only H.264 is seen and snapshotted the same way. Operators'
views go through the gateway's checks, and no page ever sees a Janus secret.
"""

from __future__ import annotations

import re
from typing import Any

import pytest
from playwright.async_api import Page, expect

from gateway.config import JanusSettings
from gateway.media.janus import JanusPlane

from ..services.janus import Janus
from .callers import BLOCK_WEBRTC, eventually
from .walkthrough import Walkthrough, sha256

pytestmark = pytest.mark.e2e

# A phone whose browser offers H.264 alone (the page asks for VP8 first; this browser has none).
ONLY_H264 = """
(() => {
  const real = RTCRtpTransceiver.prototype.setCodecPreferences;
  const keep = ["video/h264", "video/rtx", "video/red", "video/ulpfec"];
  RTCRtpTransceiver.prototype.setCodecPreferences = function (codecs) {
    return real.call(this, codecs.filter((c) => keep.includes(c.mimeType.toLowerCase())));
  };
})();
"""


async def janus_rooms(janus: Janus) -> list[str]:
    """The rooms Janus holds, asked with the VideoRoom admin key (as a force's monitoring would)."""
    plane = JanusPlane(JanusSettings(janus.url, janus.api_secret, janus.admin_key))
    try:
        return await plane.rooms()
    finally:
        await plane.close()


def record_bodies(page: Page, into: list[str]) -> None:
    async def keep(response) -> None:
        try:
            into.append(await response.text())
        except Exception:  # bodies of redirects, streams and closed pages are not available
            pass

    page.on("response", keep)


async def test_a_caller_is_seen_twice_snapshotted_and_ended_on_each_plane(browser, plane):
    name, gateway, janus = plane
    w = Walkthrough(browser, gateway.base_url, gateway.passwords)
    bodies: list[str] = []
    try:
        rooms_before = set(await janus_rooms(janus)) if janus is not None else set()
        await w.handler_sends_link()
        record_bodies(w.handler, bodies)
        await w.caller_shares()
        record_bodies(w.caller, bodies)
        video = await w.handler_sees_video()
        assert video["width"] > 0 and video["frames"] >= 1, video

        if janus is not None:
            rooms = set(await janus_rooms(janus)) - rooms_before
            assert len(rooms) == 1, rooms

        # A second view: the embed for a command-and-control screen, with no operator session.
        page = w.handler
        await page.click("#embed-link")
        await expect(page.locator("#embed-url")).to_have_value(re.compile("/embed/"))
        url = await page.locator("#embed-url").input_value()
        cad_context = await browser.new_context(ignore_https_errors=True)
        w.contexts.append(cad_context)
        cad = await cad_context.new_page()
        record_bodies(cad, bodies)
        await cad.goto(url)
        await cad.wait_for_function(
            "() => { const v = document.getElementById('live'); return v && v.videoWidth > 0 && !v.paused; }",
            timeout=20_000,
        )

        async def two_views() -> bool:
            resp = await page.request.get(f"{gateway.base_url}/api/incidents/{w.incident_id}/stream")
            return (await resp.json())["viewers"] == 2

        await eventually(two_views, 20.0, what="two views counted by the gateway")

        # A screen whose network or browser blocks WebRTC: the same embed falls back to Motion JPEG,
        # made from the gateway's own frames on either plane.
        still_context = await browser.new_context(ignore_https_errors=True)
        w.contexts.append(still_context)
        await still_context.add_init_script(BLOCK_WEBRTC)
        still = await still_context.new_page()
        await still.goto(url)
        await still.wait_for_function(
            "() => { const i = document.getElementById('mjpeg'); return i && !i.hidden && i.naturalWidth > 0; }",
            timeout=20_000,
        )
        assert await still.evaluate("document.getElementById('mjpeg').naturalWidth") == 640
        await still_context.close()
        w.contexts.remove(still_context)

        # Stream health and recording come from the gateway's own frames on either plane.
        stream_url = f"{gateway.base_url}/api/incidents/{w.incident_id}/stream"

        async def healthy() -> dict[str, Any] | None:
            health = (await (await page.request.get(stream_url)).json()).get("stream") or {}
            return health if health.get("codec") == "VP8" and health.get("fps") else None

        health = await eventually(healthy, 20.0, what="stream health with the codec and a frame rate")
        assert (health["width"], health["height"]) == (640, 480), health
        csrf = await page.evaluate("async () => (await (await fetch('/api/me')).json()).csrf_token")
        policy = await page.request.put(
            f"{gateway.base_url}/api/incidents/{w.incident_id}/media-policy",
            data={"recording": True}, headers={"X-CSRF-Token": csrf},
        )
        assert policy.status == 200, await policy.text()

        async def recording() -> bool:
            body = await (await page.request.get(stream_url)).json()
            return bool(body["recording"]) and body["frames"] > health["frames"] + 15

        await eventually(recording, 20.0, what="recording under way")

        # The gateway's own frames (with Janus: its one subscription) make the snapshot.
        snap, jpeg, _ = await w.handler_takes_snapshot()
        assert sha256(jpeg) == snap["sha256"], snap
        assert jpeg[:2] == b"\xff\xd8", "a JPEG"

        await w.handler_ends()
        record = await w.record()
        assert any(s["id"] == snap["id"] for s in record["snapshots"]), record["snapshots"]
        assert record["sessions"][-1]["ended_by"] == "handler1", record["sessions"]
        (segment,) = record["recordings"]
        video_file = await page.request.get(f"{gateway.base_url}/api/recordings/{segment['id']}")
        assert sha256(await video_file.body()) == segment["sha256"], segment
        assert segment["frames"] > 0, segment

        async def views_gone() -> bool:
            resp = await page.request.get(f"{gateway.base_url}/api/incidents/{w.incident_id}/stream")
            return (await resp.json())["viewers"] == 0

        await eventually(views_gone, 20.0, what="views closed at the end of the session")
        if janus is not None:
            async def room_destroyed() -> bool:
                return not rooms & set(await janus_rooms(janus))

            await eventually(room_destroyed, 20.0, what="the incident's room destroyed")
        assert not w.problems.found, w.problems.found
    finally:
        await w.close()

    if janus is not None:
        for secret in (janus.api_secret, janus.admin_key):
            assert not any(secret in body for body in bodies), f"a page received a Janus secret ({name})"
            assert secret not in gateway.log_path.read_text(errors="replace"), "a Janus secret in the gateway log"


async def test_a_phone_that_offers_only_h264_is_seen_and_snapshotted_on_each_plane(browser, plane):
    # The room takes VP8 or H.264 as the caller offers; the gateway decodes either for its own uses.
    _, gateway, _ = plane
    w = Walkthrough(browser, gateway.base_url, gateway.passwords)
    try:
        await w.handler_sends_link()
        await w.caller_shares(init_script=ONLY_H264)
        video = await w.handler_sees_video()
        assert video["width"] > 0 and video["frames"] >= 1, video
        stream_url = f"{gateway.base_url}/api/incidents/{w.incident_id}/stream"

        async def health() -> dict[str, Any] | None:
            stream = (await (await w.handler.request.get(stream_url)).json()).get("stream") or {}
            return stream if stream.get("codec") and stream.get("frames") else None

        stream = await eventually(health, 20.0, what="stream health")
        assert stream["codec"] == "H264", stream
        snap, jpeg, _ = await w.handler_takes_snapshot()
        assert sha256(jpeg) == snap["sha256"] and jpeg[:2] == b"\xff\xd8", snap
        await w.handler_ends()
        assert not w.problems.found, w.problems.found
    finally:
        await w.close()


async def test_views_go_through_the_gateways_checks(browser, plane):
    name, gateway, _ = plane
    w = Walkthrough(browser, gateway.base_url, gateway.passwords)
    try:
        await w.handler_sends_link()
        await w.caller_shares()
        await w.handler_sees_video()
        viewer_url = f"{gateway.base_url}/api/incidents/{w.incident_id}/viewer"

        # Without an operator's session: refused before any media plane is asked.
        anonymous = await browser.new_context(ignore_https_errors=True)
        w.contexts.append(anonymous)
        resp = await anonymous.request.post(viewer_url, data={"type": "offer", "sdp": "v=0"})
        assert resp.status in (401, 403), await resp.text()

        # A view opened by one operator cannot be completed by another (with Janus, whose offer
        # comes first, the answer names the view; the embedded plane answers at once).
        dispatcher = await w.login("dispatcher1", "/dispatch")
        offer = await dispatcher.evaluate(
            """async () => {
                const pc = new RTCPeerConnection();
                pc.addTransceiver('video', {direction: 'recvonly'});
                await pc.setLocalDescription(await pc.createOffer());
                await new Promise((r) => setTimeout(r, 500));
                return pc.localDescription.sdp;
            }"""
        )
        csrf = await dispatcher.evaluate("async () => (await (await fetch('/api/me')).json()).csrf_token")
        reply = await dispatcher.request.post(
            viewer_url, data={"type": "offer", "sdp": offer}, headers={"X-CSRF-Token": csrf}
        )
        assert reply.status == 200, await reply.text()
        body = await reply.json()
        assert body["type"] == ("offer" if name == "janus" else "answer"), body
        if name == "janus":
            answer_url = f"{viewer_url}/{body['viewer']}/answer"
            handler_csrf = await w.handler.evaluate(
                "async () => (await (await fetch('/api/me')).json()).csrf_token"
            )
            stolen = await w.handler.request.post(
                answer_url, data={"type": "answer", "sdp": offer}, headers={"X-CSRF-Token": handler_csrf}
            )
            assert stolen.status == 404, await stolen.text()
        await w.handler_ends()
    finally:
        await w.close()
