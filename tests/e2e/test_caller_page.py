"""Issue 4 on (emulated) phones in Debian's Chromium: the caller page's weight and languages, in-app
browsers, Android's Live view, refused permissions, WebRTC blocked, and a signal that comes and goes.
"""

from __future__ import annotations

import asyncio
import gzip
import json
import re
import time
from pathlib import Path

import pytest
from playwright.async_api import expect

from .callers import BLOCK_WEBRTC, GATE_WEBRTC, IN_APP_UAS, LIVE_UA, SAMSUNG_UA, Operator, Phones, eventually, page_seq
from .conftest import CHROMIUM, chromium_args
from .walkthrough import CALLER_POSITION

pytestmark = pytest.mark.e2e

STRINGS = Path(__file__).resolve().parents[2] / "web_client" / "caller" / "i18n"
LANGUAGES = ("en", "cy", "pl", "ur", "pa", "ar", "ro")
BUDGET = 30 * 1024


def strings(language: str) -> dict:
    return json.loads((STRINGS / f"{language}.json").read_text(encoding="utf-8"))


@pytest.fixture
async def handler(gateway):
    async with Operator(gateway.base_url, "handler1", gateway.passwords["handler1"]) as operator:
        yield operator


@pytest.fixture
async def phones(sample_video):
    """Phones in a Chromium that honours each context's permissions: without the fake-UI switch
    the shared ``browser`` fixture uses, a camera not granted is a camera refused."""
    from playwright.async_api import async_playwright

    args = [a for a in chromium_args(sample_video) if a != "--use-fake-ui-for-media-stream"]
    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path=CHROMIUM, headless=True, args=args)
        phones = Phones(browser)
        try:
            yield phones
        finally:
            await phones.close()
            await browser.close()


async def test_the_page_weighs_at_most_30_kb_compressed_and_asks_no_other_site(gateway, handler, phones):
    _, link = await handler.incident()
    bodies: dict[str, bytes] = {}
    urls: list[str] = []
    finished: list = []

    def on_response(response):
        finished.append(response)

    phones_page_task = phones.open(link["url"], permissions=())
    # Listen from the very first request: the context's pages report every response.
    page = await phones_page_task
    page.on("response", on_response)
    await page.reload()
    await page.wait_for_load_state("networkidle")
    for response in finished:
        urls.append(response.url)
        try:
            bodies[response.url] = await response.body()
        except Exception:  # a redirect or an aborted request has no body
            bodies[response.url] = b""
    assert all(u.startswith(gateway.base_url + "/") for u in urls), urls
    assert any(u.endswith("/caller.js") for u in urls) and any(u.endswith("/caller.css") for u in urls), urls
    total = sum(len(gzip.compress(b, 9)) for b in bodies.values())
    sizes = {u.removeprefix(gateway.base_url): len(gzip.compress(b, 9)) for u, b in bodies.items()}
    print("caller page, gzip bytes:", total, sizes)
    assert total <= BUDGET, f"{total} bytes compressed > {BUDGET}: {sizes}"
    assert not phones.problems.found, phones.problems.found


async def test_every_language_renders_and_arabic_and_urdu_run_right_to_left(gateway, handler, phones):
    for language in LANGUAGES:
        table = strings(language)
        _, link = await handler.incident(language)
        page = await phones.open(link["url"], permissions=())
        html = page.locator("html")
        await expect(html).to_have_attribute("lang", language)
        await expect(html).to_have_attribute("dir", "rtl" if language in ("ar", "ur") else "ltr")
        await expect(page.locator("#consent-title")).to_have_text(table["consent_title"])
        await expect(page.locator("#start")).to_have_text(table["start"])
        await expect(page).to_have_title(table["title"])
        await expect(page.locator("#lang")).to_have_value(language)
        if language == "ar":
            box = await page.locator("#start").bounding_box()
            direction = await page.evaluate("getComputedStyle(document.querySelector('.facts li')).direction")
            assert direction == "rtl" and box and box["width"] > 300
    # Not chosen by the handler: the phone's own language.
    _, link = await handler.incident()
    page = await phones.open(link["url"], permissions=(), locale="pl-PL")
    await expect(page.locator("#consent-title")).to_have_text(strings("pl")["consent_title"])
    # And the caller can change it; only that language's file is fetched.
    async with page.expect_response(lambda r: r.url.endswith("/i18n/cy.json")):
        await page.select_option("#lang", "cy")
    await expect(page.locator("#consent-title")).to_have_text(strings("cy")["consent_title"])
    await expect(page.locator("html")).to_have_attribute("lang", "cy")
    assert not phones.problems.found, phones.problems.found


async def test_in_app_browsers_are_sent_to_the_phones_browser_without_using_up_the_link(gateway, handler, phones):
    for app, user_agent in IN_APP_UAS.items():
        incident, link = await handler.incident()
        page = await phones.open(link["url"], user_agent=user_agent)
        await expect(page.locator("#screen-inapp")).to_be_visible()
        await expect(page.locator("#screen-consent")).to_be_hidden()
        await expect(page.locator("#inapp-url")).to_have_text(link["url"])
        await expect(page.locator("#open-browser")).to_be_visible() if "Android" in user_agent else None
        record = await handler.record(incident["id"])
        opened = [s for s in record["links"][0]["states"] if s["state"] == "opened"]
        assert opened and app in (opened[0]["detail"] or ""), record["links"][0]["states"]
    # The last link, opened next in the phone's real browser, still works there.
    browser_page = await phones.open(link["url"])
    await expect(browser_page.locator("#screen-consent")).to_be_visible()
    await browser_page.tap("#start")
    await expect(browser_page.locator("#screen-sharing")).to_be_visible()
    assert not phones.problems.found, phones.problems.found


async def test_androids_live_view_starts_sharing_at_once_with_nothing_to_tap(gateway, handler, phones):
    incident, link = await handler.incident()
    page = await phones.open(link["url"], user_agent=LIVE_UA)
    await expect(page.locator("#screen-sharing")).to_be_visible()
    await expect(page.locator("#mode")).to_have_attribute("data-mode", "video")
    visible_buttons = await page.locator("button:visible, select:visible, textarea:visible").count()
    assert visible_buttons == 0, "no buttons or dialogs in the Live view"
    record = await handler.until(incident["id"], lambda r: r["state"] == "streaming" and r["fixes"])
    assert record["sessions"][-1]["user_agent"].endswith("Live/25.23.10")
    status = (await handler.get(f"/api/incidents/{incident['id']}/caller"))["status"]
    assert status["browser"]["live_view"] is True and status["mode"] == "video"
    assert not phones.problems.found, phones.problems.found


async def test_camera_refused_still_shares_location_and_says_how_to_allow_it(gateway, handler, phones):
    incident, link = await handler.incident()
    page = await phones.open(link["url"], permissions=("geolocation",), user_agent=SAMSUNG_UA)
    await page.tap("#start")
    await expect(page.locator("#screen-sharing")).to_be_visible()
    await expect(page.locator("#mode")).to_have_attribute("data-mode", "location")
    await expect(page.locator("#notice")).to_be_visible()
    await expect(page.locator("#notice-help")).to_have_text(strings("en")["help_camera_samsung"])
    await expect(page.locator("#camera-controls")).to_be_hidden()
    await expect(page.locator(".preview-wrap")).to_be_hidden()  # no empty black box
    record = await handler.until(incident["id"], lambda r: r["fixes"])
    assert record["fixes"][0]["latitude"] == pytest.approx(CALLER_POSITION["latitude"])
    status = (await handler.get(f"/api/incidents/{incident['id']}/caller"))["status"]
    assert status["permissions"]["camera"] == "denied" and status["mode"] == "location", status
    assert status["browser"]["name"] == "Samsung Internet", status
    assert not phones.problems.found, phones.problems.found


async def test_location_refused_still_shares_video_and_says_how_to_allow_it(gateway, handler, phones):
    incident, link = await handler.incident()
    page = await phones.open(link["url"], permissions=("camera",))
    await page.tap("#start")
    await expect(page.locator("#mode")).to_have_attribute("data-mode", "video")
    await expect(page.locator("#notice")).to_be_visible()
    await expect(page.locator("#notice-help")).to_have_text(strings("en")["help_location_chrome"])
    await expect(page.locator("#location-status")).to_have_text(strings("en")["loc_denied"])
    record = await handler.until(incident["id"], lambda r: r["state"] == "streaming")
    assert record["fixes"] == []
    status = await eventually(
        lambda: _status_where(handler, incident["id"], lambda s: s["permissions"]["geolocation"] == "denied")
    )
    assert status["mode"] == "video" and status["transport"] == "webrtc", status
    assert not phones.problems.found, phones.problems.found


async def _status_where(handler, incident_id, check):
    status = (await handler.get(f"/api/incidents/{incident_id}/caller"))["status"]
    return status if status and check(status) else None


async def test_with_webrtc_blocked_the_page_sends_stills_that_reach_the_record(gateway, handler, phones):
    incident, link = await handler.incident()
    page = await phones.open(link["url"], init_script=BLOCK_WEBRTC)
    await page.tap("#start")
    await expect(page.locator("#mode")).to_have_attribute("data-mode", "stills")
    record = await handler.until(
        incident["id"], lambda r: len([s for s in r["snapshots"] if s["reason"] == "still"]) >= 2 and r["fixes"]
    )
    stills = [s for s in record["snapshots"] if s["reason"] == "still"]
    assert all(s["taken_by"] == "caller" and s["width"] > 0 and s["thumbnail_url"] for s in stills), stills
    image = await handler.session.get(gateway.base_url + stills[0]["url"])
    assert image.status == 200 and (await image.read())[:3] == b"\xff\xd8\xff"
    status = (await handler.get(f"/api/incidents/{incident['id']}/caller"))["status"]
    assert status["mode"] == "stills" and status["transport"] == "https", status
    assert not phones.problems.found, phones.problems.found


async def test_offline_and_back_online_loses_no_fix_and_stores_none_twice(gateway, handler, phones):
    """On HTTPS (WebRTC blocked), fixes taken without signal wait on the phone, survive a reload,
    and arrive with their own times; each sequence number is stored once."""
    incident, link = await handler.incident()
    page = await phones.open(link["url"], init_script=BLOCK_WEBRTC)
    context = page.context
    await page.tap("#start")
    await handler.until(incident["id"], lambda r: r["fixes"])
    await context.set_offline(True)
    for i in range(1, 6):
        await context.set_geolocation({"latitude": 53.7997 + i * 0.0005, "longitude": -1.5492, "accuracy": 10 + i})
        await asyncio.sleep(0.3)
    await expect(page.locator("#mode")).to_have_attribute("data-mode", "offline")
    taken_offline = await page_seq(page)
    assert taken_offline >= 5
    await context.set_offline(False)
    await handler.until(incident["id"], lambda r: len(r["fixes"]) >= taken_offline)
    # A reload mid-session carries on numbering where it left off, without asking again.
    await page.reload()
    await expect(page.locator("#screen-sharing")).to_be_visible()
    await context.set_geolocation({"latitude": 53.80, "longitude": -1.55, "accuracy": 9})
    await eventually(lambda: _more(page, taken_offline))
    total = await page_seq(page)
    record = await handler.until(incident["id"], lambda r: len(r["fixes"]) >= total)
    seqs = sorted(f["seq"] for f in record["fixes"])
    assert seqs == list(range(1, total + 1)), seqs
    times = [f["device_time"] for f in sorted(record["fixes"], key=lambda f: f["seq"])]
    assert times == sorted(times), "each fix keeps the time the phone took it"
    assert not phones.problems.found, phones.problems.found


async def _more(page, than: int) -> bool:
    return await page_seq(page) > than


async def test_the_page_climbs_back_to_live_video_when_webrtc_gets_through(gateway, handler, phones):
    incident, link = await handler.incident()
    page = await phones.open(link["url"], init_script=GATE_WEBRTC)
    await page.tap("#start")
    await expect(page.locator("#mode")).to_have_attribute("data-mode", "stills")
    await handler.until(incident["id"], lambda r: any(s["reason"] == "still" for s in r["snapshots"]))
    # The network lets WebRTC through again; coming back online, the page tries at once.
    await page.evaluate("window.__blockRtc = false")
    await page.context.set_offline(True)
    await page.context.set_offline(False)
    await expect(page.locator("#mode")).to_have_attribute("data-mode", "video")
    record = await handler.until(incident["id"], lambda r: r["state"] == "streaming")
    assert [s["ended_at"] is None for s in record["sessions"]][-1], record["sessions"]
    status = await eventually(lambda: _status_where(handler, incident["id"], lambda s: s["mode"] == "video"))
    assert status["transport"] == "webrtc"
    assert not phones.problems.found, phones.problems.found


# Counts the page's calls to getUserMedia, whatever they ask for (installed before any page script).
COUNT_CAMERA_REQUESTS = """
(() => {
  window.__getUserMediaCalls = 0;
  const md = navigator.mediaDevices;
  if (!md || !md.getUserMedia) return;
  const real = md.getUserMedia.bind(md);
  md.getUserMedia = (constraints) => { window.__getUserMediaCalls += 1; return real(constraints); };
})();
"""


async def test_a_location_only_link_never_asks_for_the_camera_and_shares_location(gateway, handler, phones):
    from .test_bad_signal import open_console

    # The handler chooses "Location only" in the console; the camera is granted to the phone all
    # the same, so only the link's mode keeps the page from using it.
    context, console = await open_console(phones.browser, gateway)
    await console.fill("#reference", f"E2E-LOC-{time.time_ns() % 10**12}")
    await console.fill("#phone", "07911 123456")
    await console.check("#location-only")
    await console.click("#send-link")
    await expect(console.locator("#link-url")).to_have_text(re.compile(r"^https://"))
    url = (await console.locator("#link-url").text_content() or "").strip()
    incident_id = await console.locator("#incident").get_attribute("data-incident-id") or ""
    sms = await console.locator("#sms-body").text_content() or ""
    assert "share your location" in sms and "camera" not in sms, sms

    page = await phones.open(url, init_script=COUNT_CAMERA_REQUESTS)
    await expect(page.locator("html")).to_have_attribute("data-mode", "location")
    await expect(page.locator("#consent-title")).to_have_text(strings("en")["consent_title_location_only"])
    await page.tap("#start")
    await expect(page.locator("#screen-sharing")).to_be_visible()
    await expect(page.locator("#mode")).to_have_attribute("data-mode", "location")
    await expect(page.locator("#mode")).to_have_text(strings("en")["mode_location_location_only"])
    await expect(page.locator("#notice")).to_be_hidden()  # nothing was refused: nothing to put right
    await expect(page.locator(".preview-wrap")).to_be_hidden()

    record = await handler.until(incident_id, lambda r: r["fixes"] and r["state"] == "streaming")
    assert record["links"][-1]["mode"] == "location"
    assert record["fixes"][0]["latitude"] == pytest.approx(CALLER_POSITION["latitude"])
    await expect(console.locator("#link-state")).to_have_text("Sharing location")
    status = (await handler.get(f"/api/incidents/{incident_id}/caller"))["status"]
    assert status["mode"] == "location" and status["permissions"]["camera"] != "denied", status
    assert await page.evaluate("window.__getUserMediaCalls") == 0
    assert not phones.problems.found, phones.problems.found
    await context.close()
