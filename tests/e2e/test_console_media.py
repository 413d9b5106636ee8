"""The handler's console on each media plane: health, welfare blur, recording, and a CAD embed.

With Janus the console's video comes from the room, not the gateway: the blur must still cover it."""

from __future__ import annotations

import re

import pytest
from playwright.async_api import expect

from .callers import eventually
from .walkthrough import Walkthrough

pytestmark = pytest.mark.e2e


async def test_the_console_shows_health_records_blurs_and_embeds(browser, plane):
    _, gateway, _ = plane
    w = Walkthrough(browser, gateway.base_url, gateway.passwords)
    try:
        await w.handler_sends_link()
        await w.caller_shares()
        await w.handler_sees_video()
        page = w.handler

        await expect(page.locator("#sh-size")).to_have_text("640×480", timeout=10_000)
        await expect(page.locator("#sh-codec")).to_have_text("VP8")

        # Welfare: the video and the gallery blur until this operator reveals them.
        await page.check("#blur-video")
        await expect(page.locator("#incident")).to_have_class(re.compile("welfare-blur"))
        blur = await page.eval_on_selector("#live", "v => getComputedStyle(v).filter")
        assert "blur" in blur, blur
        await page.click("#reveal")
        await expect(page.locator("#incident")).not_to_have_class(re.compile("welfare-blur"))
        prefs = await page.evaluate("async () => (await fetch('/api/me/preferences')).json()")
        assert prefs == {"blur_video": True}
        await page.uncheck("#blur-video")

        # Recording: on, then off; the finished segment is listed with its hash.
        stream_url = f"{gateway.base_url}/api/incidents/{w.incident_id}/stream"

        async def frames() -> int:
            return int((await (await page.request.get(stream_url)).json())["frames"])

        await page.check("#policy-recording")
        await expect(page.locator("#recording-state")).to_have_text("Recording now.", timeout=10_000)
        recorded_from = await frames()

        async def some_recorded() -> bool:
            return await frames() > recorded_from + 15

        await eventually(some_recorded, 20.0, what="frames recorded")
        await page.uncheck("#policy-recording")
        await expect(page.locator("#recordings li")).to_have_count(1, timeout=15_000)
        await expect(page.locator("#recordings li")).to_contain_text("SHA-256")

        # A live view for a command-and-control screen, opened without any operator session.
        await page.click("#embed-link")
        await expect(page.locator("#embed-url")).to_have_value(re.compile("/embed/"))
        url = await page.locator("#embed-url").input_value()
        assert url.startswith(gateway.base_url + "/embed/"), url
        cad = await browser.new_context(ignore_https_errors=True)
        try:
            embed = await cad.new_page()
            await embed.goto(url)
            await embed.wait_for_function(
                "() => { const v = document.getElementById('live'); return v && v.videoWidth > 0 && !v.paused; }",
                timeout=15_000,
            )
        finally:
            await cad.close()
        await w.handler_ends()
    finally:
        await w.close()
