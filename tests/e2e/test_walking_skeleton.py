"""Issue 2, end to end: handler, caller and dispatcher, each in Debian's headless Chromium.

The handler texts a link; the caller opens it on a (emulated) phone whose camera plays
samples/build/scene.y4m and whose GPS says Leeds city centre; the handler watches the relayed live
video, takes a snapshot and sees the fix placed in West Yorkshire / Leeds; the dispatcher's map
shows the pin, which moves when the phone does; the handler ends the session.
"""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from .walkthrough import (
    CALLER_POSITION,
    EXPECTED_DISTRICT,
    EXPECTED_FORCE,
    Walkthrough,
    area_name,
    sha256,
)

pytestmark = pytest.mark.e2e


async def test_walking_skeleton(browser, gateway, make_video):
    w = Walkthrough(browser, gateway.base_url, gateway.passwords)
    try:
        # 1-2. The handler signs in, creates the incident and texts the link.
        await w.handler_sends_link()
        assert w.incident_id.startswith("inc_"), w.incident_id
        # The console's event WebSocket connects under connect-src 'self' (same-origin ws/wss).
        from playwright.async_api import expect

        await expect(w.handler.locator("#ws-status")).to_have_attribute("data-state", "open")
        assert w.link_url.startswith(gateway.base_url + "/c/"), w.link_url
        sms_body = await w.handler.locator("#sms-body").text_content()
        assert w.link_url in sms_body
        assert (await w.handler.locator("#sms-to").text_content()).strip() == "+447911123456"

        # 3. The caller opens it, agrees, and shares camera and location.
        await w.caller_shares()

        # 5. The handler's video element is playing real frames from the caller's camera.
        video = await w.handler_sees_video()
        assert video["width"] > 0 and video["height"] > 0, video
        assert video["frames"] >= 8 or video["advanced"] > 0.3, video

        # A snapshot is stored, its JPEG decodes and shows the sample video's picture.
        snap, jpeg, headers = await w.handler_takes_snapshot()
        assert headers.get("content-type", "").startswith("image/jpeg"), headers
        assert sha256(jpeg) == snap["sha256"] == headers.get("x-content-sha256"), snap
        image = cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR)
        assert image is not None, "the snapshot is not a decodable JPEG"
        assert (image.shape[1], image.shape[0]) == (snap["width"], snap["height"]), (image.shape, snap)
        assert snap["width"] >= 320 and snap["height"] >= 240, snap
        rgb = cv2.cvtColor(image, cv2.COLOR_BGR2RGB)
        difference = make_video.resemblance(rgb)
        assert difference < 40, (
            f"the snapshot does not look like the sample video: worst channel off by {difference:.0f}; "
            f"patch means {make_video.quadrant_means(rgb)}"
        )
        assert snap["taken_by"] == "handler1", snap
        w.timings["snapshot colour difference"] = round(difference, 1)

        # 4-5. The fix is placed in the expected force and district, in the console and the record.
        await w.handler_sees_position()
        record = await w.record()
        assert record["fixes"], record
        fix = record["fixes"][-1]
        assert abs(fix["latitude"] - CALLER_POSITION["latitude"]) < 1e-6, fix
        assert abs(fix["longitude"] - CALLER_POSITION["longitude"]) < 1e-6, fix
        assert fix["accuracy"] == pytest.approx(CALLER_POSITION["accuracy"]), fix
        assert area_name(fix["placement"], "force") == EXPECTED_FORCE, fix["placement"]
        assert area_name(fix["placement"], "district") == EXPECTED_DISTRICT, fix["placement"]
        assert any(s["id"] == snap["id"] and s["sha256"] == snap["sha256"] for s in record["snapshots"]), record
        states = [s["state"] for s in record["links"][-1]["states"]]
        for state in ("sent", "opened", "consented", "streaming"):
            assert state in states, states

        # 6. The dispatcher's map shows the pin there, and it moves when the phone moves.
        await w.dispatcher_sees_pin()
        await w.caller_moves()
        await w.dispatcher_searches()

        # 7. The handler ends the session; both pages and the record say so.
        await w.handler_ends()
        record = await w.record()
        assert record["state"] == "ended", record["state"]
        assert record["sessions"] and record["sessions"][-1]["ended_at"], record["sessions"]
        assert record["sessions"][-1]["ended_by"] == "handler1", record["sessions"][-1]
        active = await w.handler.request.get(gateway.base_url + "/api/incidents?active=1")
        assert w.incident_id not in [i["id"] for i in (await active.json())["incidents"]]

        assert not w.problems.found, w.problems.found
        print("timings (s):", w.timings)
    finally:
        await w.close()


async def test_caller_stops_sharing(browser, gateway):
    """The caller's own "Stop sharing" ends the session; the link then cannot be used again."""
    from playwright.async_api import expect

    w = Walkthrough(browser, gateway.base_url, gateway.passwords)
    try:
        await w.handler_sends_link()
        await w.caller_shares()
        await expect(w.handler.locator("#link-state")).to_have_attribute("data-state", "streaming")
        await w.caller.tap("#stop")
        await expect(w.caller.locator("#screen-ended")).to_be_visible()
        await expect(w.caller.locator("#ended-reason")).to_contain_text("You have stopped sharing")
        await expect(w.handler.locator("#link-state")).to_have_attribute("data-state", "ended")
        await expect(w.handler.locator("#snapshot")).to_be_disabled()
        record = await w.record()
        assert record["state"] == "ended", record["state"]
        assert record["sessions"][-1]["ended_by"] == "caller", record["sessions"]
        # A used link shows the one "cannot be used" page, even on the phone that used it.
        again = await w.caller.goto(w.link_url)
        assert again is not None and again.status == 404
        await expect(w.caller.locator("h1")).to_contain_text("cannot be used")
        assert not w.problems.found, w.problems.found
    finally:
        await w.close()
