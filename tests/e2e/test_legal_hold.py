"""A supervisor's legal hold from the console: placed with a reason, shown, lifted (the API tests
show both are audited)."""

from __future__ import annotations

import re

import pytest
from playwright.async_api import expect

from .walkthrough import CALLER_PHONE, Walkthrough

pytestmark = pytest.mark.e2e


async def test_a_supervisor_places_and_lifts_a_legal_hold_from_the_console(browser, gateway):
    w = Walkthrough(browser, gateway.base_url, gateway.passwords)
    try:
        page = await w.login("super1", "/console")
        await page.fill("#reference", "HOLD-1")
        await page.fill("#phone", CALLER_PHONE)
        await page.click("#send-link")
        await expect(page.locator("#hold-panel")).to_be_visible()
        await expect(page.locator("#hold-state")).to_have_text(re.compile("^Not held"))

        await page.click("#hold-toggle")  # no reason: refused in the page, nothing sent
        await expect(page.locator("#hold-error")).to_contain_text("reason")
        await page.fill("#hold-reason", "R v Smith: disclosure")
        await page.click("#hold-toggle")
        await expect(page.locator("#hold-state")).to_have_text(re.compile("^Held since .* by super1: R v Smith"))
        await expect(page.locator("#hold-toggle")).to_have_text("Lift legal hold")
        incident_id = await page.locator("#incident").get_attribute("data-incident-id")
        fetch = "async (id) => (await fetch(`/api/incidents/${id}`)).json()"
        assert (await page.evaluate(fetch, incident_id))["legal_hold"]["reason"] == "R v Smith: disclosure"

        await page.fill("#hold-reason", "trial over")
        await page.click("#hold-toggle")
        await expect(page.locator("#hold-state")).to_have_text(re.compile("^Not held"))
        assert (await page.evaluate(fetch, incident_id))["legal_hold"] is None
    finally:
        await w.close()
