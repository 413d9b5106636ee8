"""Response headers, JSON errors, and throttling of repeated failures from one address."""

from __future__ import annotations

import logging
import time
from collections import OrderedDict
from typing import Awaitable, Callable

from aiohttp import web

log = logging.getLogger(__name__)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def json_error(status: int, code: str, message: str) -> web.Response:
    return web.json_response({"error": code, "message": message}, status=status)


def content_security_policy(tile_origin: str | None) -> str:
    img = "'self' data: blob:" + (f" {tile_origin}" if tile_origin else "")
    return (
        "default-src 'self'; script-src 'self'; style-src 'self'; "
        f"img-src {img}; media-src 'self' blob:; connect-src 'self' wss: ws:; "
        "frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
    )


def security_headers(csp: str, hsts: bool) -> Callable:
    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        response = await handler(request)
        headers = response.headers
        headers.setdefault("Content-Security-Policy", csp)
        headers.setdefault("X-Content-Type-Options", "nosniff")
        if "frame-ancestors 'none'" in headers["Content-Security-Policy"]:
            # Pages that may be framed (the embed) say where in their own policy.
            headers.setdefault("X-Frame-Options", "DENY")
        # Caller URLs carry their token: never let it leak to another site in a Referer.
        headers.setdefault("Referrer-Policy", "no-referrer")
        headers.setdefault("Permissions-Policy", "camera=(self), geolocation=(self), microphone=()")
        headers.setdefault("Cross-Origin-Opener-Policy", "same-origin")
        if request.path.startswith(("/api/", "/c/", "/login", "/embed/")):
            headers.setdefault("Cache-Control", "no-store")
        if hsts:
            headers.setdefault("Strict-Transport-Security", "max-age=31536000")
        return response

    return middleware


@web.middleware
async def json_errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    """API errors are JSON; an unexpected failure is logged with its trace and answered plainly."""
    try:
        return await handler(request)
    except web.HTTPException as exc:
        if request.path.startswith("/api/") and exc.status >= 400 and exc.content_type != "application/json":
            return json_error(exc.status, exc.reason.lower().replace(" ", "_"), exc.reason)
        raise
    except Exception:
        log.exception("unhandled error for %s %s", request.method, request.path)
        if request.path.startswith(("/api/", "/c/")):
            return json_error(500, "internal_error", "something went wrong on the gateway; it has been logged")
        raise


class Throttle:
    """Counts failures per key (an address) and says how long that key must wait.

    Each failure beyond ``free`` in the window doubles the delay, up to ``max_delay`` seconds; a
    bounded table keeps memory flat under a flood of addresses.
    """

    def __init__(self, free: int = 5, window: float = 600.0, max_delay: float = 30.0, size: int = 10_000) -> None:
        self.free = free
        self.window = window
        self.max_delay = max_delay
        self.size = size
        self._failures: OrderedDict[str, tuple[int, float]] = OrderedDict()

    def delay(self, key: str, now: float | None = None) -> float:
        now = time.monotonic() if now is None else now
        count, first = self._failures.get(key, (0, now))
        if now - first > self.window or count <= self.free:
            return 0.0
        return min(self.max_delay, 0.25 * 2 ** (count - self.free))

    def fail(self, key: str, now: float | None = None) -> None:
        now = time.monotonic() if now is None else now
        count, first = self._failures.pop(key, (0, now))
        if now - first > self.window:
            count, first = 0, now
        self._failures[key] = (count + 1, first)
        while len(self._failures) > self.size:
            self._failures.popitem(last=False)

    def succeed(self, key: str) -> None:
        self._failures.pop(key, None)


def client_address(request: web.Request) -> str:
    return request.remote or "unknown"
