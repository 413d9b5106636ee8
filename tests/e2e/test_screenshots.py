"""Screenshots of every screen for the README, taken from the real thing.

    SCENELINK_SCREENSHOTS=1 tests/netns-run .venv/bin/python -m pytest tests/e2e -k screenshots

writes docs/screenshots/{login,caller-consent,caller-sharing,console,dispatch}.png.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from playwright.async_api import expect

from .conftest import running_gateway
from .walkthrough import Walkthrough, settle

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(
        not os.environ.get("SCENELINK_SCREENSHOTS"), reason="set SCENELINK_SCREENSHOTS=1 to refresh docs/screenshots"
    ),
]

SHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"


@pytest.fixture(scope="module")
def shipped_maps_gateway(tmp_path_factory):
    """A gateway with only the base map the project ships: the street map the other tests draw from
    the shared OpenStreetMap sample must not end up in a committed picture."""
    with running_gateway(tmp_path_factory.mktemp("screenshots"), maps=("basemap.pmtiles",)) as gw:
        yield gw


async def test_screenshots(browser, shipped_maps_gateway):
    gateway = shipped_maps_gateway
    w = Walkthrough(browser, gateway.base_url, gateway.passwords, shots=SHOTS)
    try:
        await w.handler_sends_link()  # photographs the login page on the way
        await w.caller_shares()  # photographs the consent screen on the way
        await w.handler_sees_video()
        await w.handler_takes_snapshot()
        await w.handler_sees_position()
        await settle(1.0)  # let the caller's preview and the console's video show a few frames
        await w.shot(w.caller, "caller-sharing")
        await w.shot(w.handler, "console", full_page=True)  # with the snapshot gallery
        await w.dispatcher_sees_pin()
        # Choosing the incident in the list zooms to street level and opens its popup.
        await w.dispatcher.locator(f'#incidents li[data-reference="{w.reference}"] button').click()
        await expect(w.dispatcher.locator(".leaflet-popup")).to_be_visible()
        await expect(w.dispatcher.locator(".basemap-vector canvas.leaflet-tile-loaded").first).to_be_attached()
        await settle(2.0)  # the popup fades in; the vector tiles and their labels are drawn
        await w.shot(w.dispatcher, "dispatch")
        await w.handler_ends()
        for name in ("login", "caller-consent", "caller-sharing", "console", "dispatch"):
            assert (SHOTS / f"{name}.png").stat().st_size > 5000, name
    finally:
        await w.close()
