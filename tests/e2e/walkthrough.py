"""The walking skeleton, step by step, as the three people do it in their browsers.

Shared by the end-to-end test (which asserts along the way) and the screenshot test (which also
photographs each screen for the README).
"""

from __future__ import annotations

import asyncio
import hashlib
import re
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from playwright.async_api import Browser, BrowserContext, Page, expect
from playwright.async_api import Error as PlaywrightError

# Inside the West Yorkshire / Leeds sample boundaries (Leeds city centre).
CALLER_POSITION = {"latitude": 53.7997, "longitude": -1.5492, "accuracy": 15}
MOVED_POSITION = {"latitude": 53.8008, "longitude": -1.5480, "accuracy": 30}
CALLER_PHONE = "07911 123456"
EXPECTED_FORCE = "West Yorkshire"
EXPECTED_DISTRICT = "Leeds"
MOBILE_UA = (
    "Mozilla/5.0 (Linux; Android 14; Pixel 7) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/156.0.0.0 Mobile Safari/537.36"
)
TIMEOUT_MS = 15_000


def area_name(placement: dict[str, Any] | None, level: str) -> str | None:
    """The name of the area placed at ``level`` (gis ``Placement.to_dict()``: ``layers[level].name``)."""
    layer = ((placement or {}).get("layers") or {}).get(level) or {}
    return layer.get("name")


@dataclass
class Problems:
    """Uncaught page errors and CSP violations seen in any page: both mean a broken page."""

    found: list[str] = field(default_factory=list)

    def watch(self, page: Page, who: str) -> None:
        page.on("pageerror", lambda exc: self.found.append(f"{who}: uncaught {exc}"))

        def on_console(msg) -> None:
            if msg.type == "error" and "Content Security Policy" in msg.text:
                self.found.append(f"{who}: {msg.text}")

        page.on("console", on_console)


@dataclass
class Walkthrough:
    browser: Browser
    base_url: str
    passwords: dict[str, str]
    shots: Path | None = None
    problems: Problems = field(default_factory=Problems)
    reference: str = ""
    incident_id: str = ""
    link_url: str = ""
    contexts: list[BrowserContext] = field(default_factory=list)
    handler: Page | None = None
    caller: Page | None = None
    caller_context: BrowserContext | None = None
    dispatcher: Page | None = None
    timings: dict[str, float] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.reference:
            self.reference = "WYP-" + time.strftime("%Y%m%d") + "-" + str(int(time.time() * 1000))[-4:]
        self._t0 = time.monotonic()

    def mark(self, step: str) -> None:
        self.timings[step] = round(time.monotonic() - self._t0, 2)

    async def shot(self, page: Page, name: str, full_page: bool = False) -> None:
        if self.shots is not None:
            self.shots.mkdir(parents=True, exist_ok=True)
            await page.screenshot(path=str(self.shots / f"{name}.png"), full_page=full_page)

    async def close(self) -> None:
        for context in self.contexts:
            await context.close()

    async def _context(self, **kwargs: Any) -> BrowserContext:
        context = await self.browser.new_context(ignore_https_errors=True, **kwargs)
        context.set_default_timeout(TIMEOUT_MS)
        self.contexts.append(context)
        return context

    # -- operators ------------------------------------------------------------------------

    async def login(self, username: str, landing: str, shot: str | None = None) -> Page:
        context = await self._context(viewport={"width": 1440, "height": 960})
        page = await context.new_page()
        self.problems.watch(page, username)
        await page.goto(f"{self.base_url}/login?next={landing}")
        await page.fill("input[name=username]", username)
        await page.fill("input[name=password]", self.passwords[username])
        if shot:
            await self.shot(page, shot)
        await page.click("button[type=submit]")
        await page.wait_for_url(re.compile(re.escape(landing) + r"(?:[?#].*)?$"))
        try:
            await expect(page.locator("body")).to_have_attribute("data-ready", "true")
        except AssertionError as exc:
            raise AssertionError(f"{landing} did not get ready; page problems: {self.problems.found}") from exc
        return page

    async def handler_sends_link(self) -> None:
        self.handler = page = await self.login("handler1", "/console", shot="login")
        self.mark("handler logged in")
        await page.fill("#reference", self.reference)
        await page.fill("#phone", CALLER_PHONE)
        await page.click("#send-link")
        link = page.locator("#link-url")
        await expect(link).to_have_text(re.compile(r"^https://"))
        self.link_url = (await link.text_content() or "").strip()
        self.incident_id = await page.locator("#incident").get_attribute("data-incident-id") or ""
        await expect(page.locator("#link-state")).to_have_attribute("data-state", re.compile("sent|created"))
        self.mark("link sent")

    # -- the caller -----------------------------------------------------------------------

    async def caller_shares(self, init_script: str | None = None) -> None:
        """The caller opens the link and consents; ``init_script`` runs first in the page (a phone
        whose browser differs)."""
        context = await self._context(
            viewport={"width": 390, "height": 844},
            device_scale_factor=2,
            is_mobile=True,
            has_touch=True,
            user_agent=MOBILE_UA,
            permissions=["camera", "geolocation"],
            geolocation=CALLER_POSITION,
        )
        self.caller_context = context
        if init_script:
            await context.add_init_script(init_script)
        self.caller = page = await context.new_page()
        self.problems.watch(page, "caller")
        await page.goto(self.link_url)
        await expect(page.locator("#screen-consent")).to_be_visible()
        await self.shot(page, "caller-consent")
        await page.tap("#start")
        await expect(page.locator("#screen-sharing")).to_be_visible()
        await expect(page.locator("#banner")).to_contain_text("Sharing with the control room")
        await expect(page.locator("#location-status")).to_contain_text("15 m")
        await expect(page.locator("#connection-status")).to_have_text("Connected")
        self.mark("caller sharing")

    # -- live video and snapshot ----------------------------------------------------------

    async def handler_sees_video(self) -> dict[str, Any]:
        page = self.handler
        await expect(page.locator("#link-state")).to_have_attribute("data-state", "streaming")
        await page.wait_for_function(
            "() => { const v = document.getElementById('live');"
            " return v && v.videoWidth > 0 && v.readyState >= 2 && !v.paused; }"
        )
        # Count frames actually presented, and check the clock advances.
        info = await page.evaluate(
            """() => new Promise((resolve) => {
                const v = document.getElementById('live');
                const t0 = v.currentTime;
                let frames = 0;
                const done = () => resolve({frames, advanced: v.currentTime - t0,
                                            width: v.videoWidth, height: v.videoHeight});
                if (!v.requestVideoFrameCallback) { setTimeout(done, 1500); return; }
                const tick = () => { frames += 1; if (frames >= 8) done(); else v.requestVideoFrameCallback(tick); };
                v.requestVideoFrameCallback(tick);
                setTimeout(done, 5000);
            })"""
        )
        self.mark("handler video playing")
        return info

    async def handler_takes_snapshot(self) -> tuple[dict[str, Any], bytes, dict[str, str]]:
        page = self.handler
        await expect(page.locator("#snapshot")).to_be_enabled()
        async with page.expect_response(
            lambda r: r.url.endswith("/snapshots") and r.request.method == "POST"
        ) as info:
            await page.click("#snapshot")
        response = await info.value
        assert response.status == 201, await response.text()
        snap = await response.json()
        item = page.locator(f'#gallery li[data-snapshot-id="{snap["id"]}"] img')
        await expect(item).to_be_visible()
        await page.wait_for_function(
            "(id) => { const i = document.querySelector(`#gallery li[data-snapshot-id=\"${id}\"] img`);"
            " return i && i.complete && i.naturalWidth > 0; }",
            arg=snap["id"],
        )
        image = await page.request.get(self.base_url + snap["url"])
        assert image.status == 200, await image.text()
        headers = image.headers
        body = await image.body()
        self.mark("snapshot taken")
        return snap, body, headers

    async def handler_sees_position(self) -> None:
        page = self.handler
        await expect(page.locator("#fix-force")).to_have_text(EXPECTED_FORCE)
        await expect(page.locator("#fix-district")).to_have_text(EXPECTED_DISTRICT)
        await expect(page.locator("#fix-gridref")).to_have_text(re.compile(r"^[A-Z]{2} \d+ \d+$"))
        await expect(page.locator("#fix-accuracy")).to_have_text("15 m")
        self.mark("handler sees position")

    async def record(self) -> dict[str, Any]:
        resp = await self.handler.request.get(f"{self.base_url}/api/incidents/{self.incident_id}")
        assert resp.status == 200, await resp.text()
        return await resp.json()

    # -- the dispatcher -------------------------------------------------------------------

    async def dispatcher_sees_pin(self) -> None:
        self.dispatcher = page = await self.login("dispatcher1", "/dispatch")
        pin = page.locator(f'.incident-pin[data-reference="{self.reference}"]')
        # Among many incidents the pin may sit inside a cluster: the dispatcher picks the incident
        # in the list, and the map opens the cluster around it.
        await page.locator(f'#incidents li[data-reference="{self.reference}"] button').first.click()
        await expect(pin).to_be_visible()
        # The base map comes from the gateway's own PMTiles files, drawn on canvas tiles.
        await expect(page.locator("body")).to_have_attribute("data-basemap", re.compile(r"\bbasemap\b"))
        await expect(page.locator(".basemap-vector canvas.leaflet-tile-loaded").first).to_be_attached()
        # The boundary layers are drawn as vector outlines over it.
        await expect(page.locator("path.boundary-force").first).to_be_attached()
        await expect(page.locator("path.boundary-district").first).to_be_attached()
        item = page.locator(f'#incidents li[data-reference="{self.reference}"]')
        await expect(item).to_contain_text(EXPECTED_FORCE)
        await expect(item).to_contain_text(EXPECTED_DISTRICT)
        await expect(item).to_contain_text("15 m")
        self.mark("dispatcher sees pin")

    async def caller_moves(self) -> None:
        """A new position from the phone moves the pin and updates the list."""
        page = self.dispatcher
        pin = page.locator(f'.incident-pin[data-reference="{self.reference}"]')
        before = await pin.bounding_box()
        await self.caller_context.set_geolocation(MOVED_POSITION)
        item = page.locator(f'#incidents li[data-reference="{self.reference}"]')
        await expect(item).to_contain_text("30 m")
        await expect(self.handler.locator("#fix-accuracy")).to_have_text("30 m")
        after = await pin.bounding_box()
        assert before and after and (before["x"], before["y"]) != (after["x"], after["y"]), (before, after)
        # The earlier fix stays behind as the trail: a line to the newest and a faint accuracy circle.
        await expect(page.locator("path.trail-line")).to_have_count(1)
        await expect(page.locator("path.accuracy-old").first).to_be_attached()
        await expect(pin).to_have_attribute("data-stale", "false")
        await expect(item.locator(".age")).to_contain_text("Fix ")
        self.mark("pin moved")

    async def dispatcher_searches(self) -> None:
        """Search by grid reference, then by the incident's reference; follow it; fit all."""
        page = self.dispatcher
        await page.fill("#search-q", "SE 29790 33803")
        await page.click("#search button[type=submit]")
        await expect(page.locator('#search-results li[data-kind="gridref"]')).to_contain_text("SE 29790 33803")
        await expect(page.locator('#search-results li[data-kind="gridref"]')).to_contain_text(EXPECTED_FORCE)
        await expect(page.locator("body")).to_have_attribute("data-search-shown", "gridref")
        await expect(page.locator("path.search-area")).to_have_count(1)
        await page.fill("#search-q", self.reference[-6:])
        await page.click("#search button[type=submit]")
        found = page.locator(f'#search-results li[data-kind="incident"][data-reference="{self.reference}"]')
        # Every popup that leaves the map is noted with where it was closed from, to name the cause
        # should the popup go before its Follow button is clicked.
        await page.evaluate(
            """() => {
                 const remove = L.Popup.prototype.onRemove;
                 window.popupsClosed = [];
                 L.Popup.prototype.onRemove = function (map) {
                   window.popupsClosed.push(new Error("popup closed").stack);
                   return remove.call(this, map);
                 };
               }"""
        )
        await found.click()
        await expect(page.locator(".leaflet-popup")).to_contain_text(self.reference)
        try:
            await page.locator(".leaflet-popup button", has_text="Follow").click()
        except PlaywrightError as exc:
            closed = await page.evaluate("() => window.popupsClosed")
            raise AssertionError(f"the popup went before Follow was clicked; closed from: {closed}") from exc
        await expect(page.locator("#follow-status")).to_have_text(f"Following {self.reference}")
        await page.click("#follow-stop")
        await expect(page.locator("#follow-status")).to_have_text("")
        await page.click("#fit-all")
        # Every active incident's newest fix is in view (among many, this one's pin may be in a cluster).
        await expect(page.locator("body")).to_have_attribute("data-fit-all", re.compile(r"^([1-9]\d*)/\1$"))
        self.mark("dispatcher searched")

    # -- the end --------------------------------------------------------------------------

    async def handler_ends(self) -> None:
        page = self.handler
        await page.click("#end-session")
        await expect(page.locator("#link-state")).to_have_attribute("data-state", "ended")
        await expect(self.caller.locator("#screen-ended")).to_be_visible()
        if self.dispatcher is not None:
            await expect(
                self.dispatcher.locator(f'#incidents li.ended[data-reference="{self.reference}"]')
            ).to_be_visible()
        self.mark("ended")


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


async def settle(seconds: float) -> None:
    await asyncio.sleep(seconds)
