"""Helpers for the caller-page tests: an operator on the API, and phones of several kinds."""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import aiohttp
from playwright.async_api import Browser, BrowserContext, Page

from .walkthrough import CALLER_POSITION, MOBILE_UA, TIMEOUT_MS, Problems

SAMSUNG_UA = (
    "Mozilla/5.0 (Linux; Android 14; SM-S918B) AppleWebKit/537.36 (KHTML, like Gecko) "
    "SamsungBrowser/25.0 Chrome/121.0.0.0 Mobile Safari/537.36"
)
LIVE_UA = (
    "Mozilla/5.0 (Linux; Android 14; Pixel 7; wv) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Version/4.0 Chrome/156.0.0.0 Mobile Safari/537.36 Live/25.23.10"
)
IN_APP_UAS = {
    "Facebook": (
        "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
        "Mobile/15E148 [FBAN/FBIOS;FBAV/470.0.0.40.98;FBBV/612345678;FBDV/iPhone15,2;FBMD/iPhone;FBSN/iOS]"
    ),
    "Instagram": (
        "Mozilla/5.0 (Linux; Android 14; Pixel 7 Build/UQ1A; wv) AppleWebKit/537.36 (KHTML, like Gecko) "
        "Version/4.0 Chrome/156.0.0.0 Mobile Safari/537.36 Instagram 330.0.0.40.92 Android"
    ),
    "WhatsApp": (
        "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
        "Mobile/15E148 WhatsApp/24.10.75"
    ),
    "Android web view": (
        "Mozilla/5.0 (Linux; Android 14; Pixel 7; wv) AppleWebKit/537.36 (KHTML, like Gecko) "
        "Version/4.0 Chrome/156.0.0.0 Mobile Safari/537.36"
    ),
}

# Makes every peer connection fail to start, as a network or a browser that blocks WebRTC would.
BLOCK_WEBRTC = """
(() => {
  const blocked = function () { throw new DOMException("WebRTC is blocked here", "NotSupportedError"); };
  window.RTCPeerConnection = blocked;
  window.webkitRTCPeerConnection = blocked;
})();
"""


# WebRTC blocked until the test lets it through (``window.__blockRtc = false``): a network that
# blocks the media path and then stops doing so.
GATE_WEBRTC = """
(() => {
  const Real = window.RTCPeerConnection;
  window.__blockRtc = true;
  function Gate(config) {
    if (window.__blockRtc) throw new DOMException("WebRTC is blocked here", "NotSupportedError");
    return new Real(config);
  }
  Gate.prototype = Real.prototype;
  window.RTCPeerConnection = Gate;
})();
"""


class Operator:
    """A handler on the JSON API, signed in through the real login form."""

    def __init__(self, base_url: str, username: str, password: str) -> None:
        self.base_url = base_url
        self.username = username
        self.password = password
        self.session: aiohttp.ClientSession | None = None
        self.csrf = ""

    async def __aenter__(self) -> Operator:
        self.session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(ssl=False), cookie_jar=aiohttp.CookieJar(unsafe=True)
        )
        page = await (await self.session.get(self.base_url + "/login")).text()
        csrf = re.search(r'name="csrf" value="([^"]+)"', page).group(1)
        resp = await self.session.post(
            self.base_url + "/login",
            data={"username": self.username, "password": self.password, "csrf": csrf},
            allow_redirects=False,
        )
        assert resp.status == 303, await resp.text()
        self.csrf = (await self.get("/api/me"))["csrf_token"]
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self.session is not None
        await self.session.close()

    async def get(self, path: str) -> Any:
        assert self.session is not None
        async with self.session.get(self.base_url + path) as resp:
            assert resp.status == 200, await resp.text()
            return await resp.json()

    async def post(self, path: str, body: dict[str, Any], status: int | None = None) -> Any:
        assert self.session is not None
        async with self.session.post(self.base_url + path, json=body, headers={"X-CSRF-Token": self.csrf}) as resp:
            if status is not None:
                assert resp.status == status, await resp.text()
            return await resp.json()

    async def incident(self, language: str | None = None) -> tuple[dict[str, Any], dict[str, Any]]:
        reference = f"E2E-{time.time_ns() % 10**12}"
        incident = await self.post("/api/incidents", {"reference": reference, "caller_phone": "07911 123456"}, 201)
        body = {"language": language} if language else {}
        link = await self.post(f"/api/incidents/{incident['id']}/links", body, 201)
        return incident, link

    async def record(self, incident_id: str) -> dict[str, Any]:
        return await self.get(f"/api/incidents/{incident_id}")

    async def until(
        self, incident_id: str, check: Callable[[dict[str, Any]], Any], timeout: float = 15
    ) -> dict[str, Any]:
        """Poll the record until ``check(record)`` is true."""
        deadline = time.monotonic() + timeout
        while True:
            record = await self.record(incident_id)
            if check(record):
                return record
            if time.monotonic() > deadline:
                raise AssertionError(f"the record never got there: {record}")
            await asyncio.sleep(0.25)


@dataclass
class Phones:
    """Browser contexts standing in for callers' phones; closed together at the end."""

    browser: Browser
    problems: Problems = field(default_factory=Problems)
    contexts: list[BrowserContext] = field(default_factory=list)

    async def open(
        self,
        url: str,
        *,
        user_agent: str = MOBILE_UA,
        permissions: tuple[str, ...] = ("camera", "geolocation"),
        locale: str = "en-GB",
        init_script: str | None = None,
        position: dict[str, float] = CALLER_POSITION,
    ) -> Page:
        context = await self.browser.new_context(
            ignore_https_errors=True,
            viewport={"width": 390, "height": 844},
            device_scale_factor=2,
            is_mobile=True,
            has_touch=True,
            user_agent=user_agent,
            locale=locale,
            permissions=list(permissions),
            geolocation=position,
        )
        context.set_default_timeout(TIMEOUT_MS)
        self.contexts.append(context)
        if init_script:
            await context.add_init_script(init_script)
        page = await context.new_page()
        self.problems.watch(page, "caller")
        await page.goto(url)
        return page

    async def close(self) -> None:
        for context in self.contexts:
            await context.close()


async def page_seq(page: Page) -> int:
    """The caller page's fix counter, as it keeps it on the phone."""
    return await page.evaluate(
        """() => { for (let i = 0; i < localStorage.length; i++) {
             const k = localStorage.key(i);
             if (/^scenelink\\.[^.]+\\.seq$/.test(k)) return JSON.parse(localStorage.getItem(k)); }
           return 0; }"""
    )


async def eventually(
    check: Callable[[], Awaitable[Any]], timeout: float = 15, what: str | Callable[[], str] = "the condition"
) -> Any:
    """The first true value of ``await check()``, polled every 0.2 s; fails naming ``what`` after
    ``timeout`` (a callable ``what`` is asked at that moment, so it can describe the last state seen)."""
    deadline = time.monotonic() + timeout
    while True:
        value = await check()
        if value:
            return value
        if time.monotonic() > deadline:
            named = what() if callable(what) else what
            raise AssertionError(f"{named} did not happen within {timeout} s (last: {value!r})")
        await asyncio.sleep(0.2)
