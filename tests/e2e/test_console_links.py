"""A new link from the console keeps the current link's mode unless the handler changes it."""

from __future__ import annotations

import pytest
from playwright.async_api import expect

from .callers import eventually
from .walkthrough import CALLER_PHONE, Walkthrough

pytestmark = pytest.mark.e2e


async def test_a_new_link_for_a_location_only_caller_is_location_only_unless_the_handler_says_otherwise(
    browser, gateway
):
    w = Walkthrough(browser, gateway.base_url, gateway.passwords)
    try:
        page = await w.login("handler1", "/console")
        await page.fill("#reference", "LINKS-MODE-1")
        await page.fill("#phone", CALLER_PHONE)
        await page.check("#location-only")
        await page.click("#send-link")
        await expect(page.locator("#new-link-location-only")).to_be_checked()
        incident_id = await page.locator("#incident").get_attribute("data-incident-id")
        script = "async (id) => (await (await fetch(`/api/incidents/${id}`)).json()).links.map(l => l.mode)"

        def modes(*expected: str):
            async def check() -> bool:
                return await page.evaluate(script, incident_id) == list(expected)
            return check

        await page.click("#new-link")
        await eventually(modes("location", "location"))

        await page.uncheck("#new-link-location-only")
        page.once("dialog", lambda dialog: dialog.accept())
        await page.click("#new-link")
        await eventually(modes("location", "location", "video"))
    finally:
        await w.close()
