"""Response headers, JSON errors, and throttling of repeated failures from one address."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from ..addresses import real_client
from ..limits import FailureThrottle, LogQuota, retry_after_header

log = logging.getLogger(__name__)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def json_error(status: int, code: str, message: str) -> web.Response:
    return web.json_response({"error": code, "message": message}, status=status)


def content_security_policy(tile_origin: str | None) -> str:
    img = "'self' data: blob:" + (f" {tile_origin}" if tile_origin else "")
    return (
        "default-src 'self'; script-src 'self'; style-src 'self'; "
        f"img-src {img}; media-src 'self' blob:; connect-src 'self'; "
        "frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
    )


def security_headers(csp: str, hsts: bool) -> Callable:
    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        try:
            response = await handler(request)
        except web.HTTPException as exc:
            # A raised 303, 404 or 429 is a response too, and needs the same headers.
            decorate(request, exc)
            raise
        decorate(request, response)
        return response

    def decorate(request: web.Request, response: web.StreamResponse) -> None:
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
    except UnicodeError:
        # Bytes that are not UTF-8 where text is expected: a form field, a cookie, a bearer token
        # (aiohttp keeps undecodable header bytes as surrogates, which fail when encoded again).
        if request.path.startswith(("/api/", "/c/")):
            return json_error(400, "not_utf8", "the request has text that is not UTF-8")
        return web.Response(status=400, text="The request has text that is not UTF-8.")
    except Exception:
        log.exception("unhandled error for %s %s", request.method, request.path)
        if request.path.startswith(("/api/", "/c/")):
            return json_error(500, "internal_error", "something went wrong on the gateway; it has been logged")
        raise


class Throttle(FailureThrottle):
    """The application's failure throttle (see :class:`gateway.limits.FailureThrottle`), and a
    quota for the log lines its refusals write: a flood of bad requests leaves a count in the log,
    not megabytes."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.log_quota = LogQuota(rate=1.0, burst=10)

    def log_refusal(self, logger: logging.Logger, message: str, *args: Any) -> None:
        dropped = self.log_quota.allow()
        if dropped is None:
            return
        if dropped:
            logger.warning(message + " (and %d similar refusals not logged)", *args, dropped)
        else:
            logger.warning(message, *args)


def too_many(retry_after: float, html: bool = False) -> web.HTTPTooManyRequests:
    """A ``429`` to raise at once, saying when to come back (never a sleep on the connection)."""
    headers = {"Retry-After": retry_after_header(retry_after)}
    if html:
        return web.HTTPTooManyRequests(text=TOO_MANY_PAGE, content_type="text/html", headers=headers)
    return web.HTTPTooManyRequests(
        text='{"error": "too_many_requests", "message": "too many failed attempts from this address; try again later"}',
        content_type="application/json", headers=headers,
    )


TOO_MANY_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Try again shortly</title><link rel="stylesheet" href="/static/login/login.css"></head>
<body><main class="login" role="main">
<h1>Please try again in a moment</h1>
<p>Too many attempts came from your network. Wait a few seconds, then reload this page.</p>
</main></body></html>"""

# The proxies whose X-Forwarded-For is believed, as networks (set by gateway.app from Settings).
TRUSTED_PROXIES = web.AppKey("trusted_proxies", tuple)


def client_address(request: web.Request) -> str:
    """The real client's address: the peer's, or behind a trusted proxy the one it names."""
    trusted = request.app.get(TRUSTED_PROXIES, ())
    if not trusted:
        return request.remote or "unknown"
    return real_client(request.remote, request.headers.getall("X-Forwarded-For", []), trusted)
