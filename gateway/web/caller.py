"""The caller's side: the link's page, consent, the WebRTC offer, ending, and the HTTPS paths the
page falls back to (status, messages, fixes, still photos) when the data channel is down.

The token in the URL is the only credential, and the first device to open it is bound to it by an
HTTP-only cookie. Every refusal looks the same from outside, so nobody can probe for incidents.
"""

from __future__ import annotations

import html
import logging
from datetime import timedelta
from functools import lru_cache
from typing import Any

from aiohttp import web

from .. import jsonlimits
from ..auth import digest, new_secret, same
from ..caller.caller_status import BadStatus
from ..caller.consent import consent_detail
from ..caller.conversation import BadMessage
from ..caller.fallback import MAX_STILL_BYTES, BadUpload
from ..caller.useragents import in_app_browser
from ..i18n import LANGUAGES, direction, negotiate, render_page, strings
from ..limits import retry_after_header
from ..links import LOCATION_ONLY, LinkState, LinkUnusable, check_usable, looks_like_token, token_hash
from ..live import TooManyOffers
from ..media.sdp import SdpError, parse_offer
from ..record.database import utcnow
from .incidents import json_body
from .keys import CALLERS, ICE, INCIDENTS, LIMITS, LIVE, SETTINGS, THROTTLE
from .pages import WEB_CLIENT
from .security import client_address, json_error, too_many

log = logging.getLogger(__name__)
routes = web.RouteTableDef()

DEVICE_COOKIE = "scenelink_device"
MAX_FIXES_BODY = 64 * 1024
PAGE = WEB_CLIENT / "caller" / "index.html"

# Filled in with the phone's language (see _unusable); every value is HTML-escaped.
UNUSABLE_PAGE = """<!doctype html>
<html lang="{lang}" dir="{dir}"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{unusable_title}</title><link rel="stylesheet" href="/static/login/login.css"></head>
<body><main class="login" role="main">
<h1>{unusable_title}</h1>
<p>{unusable_why}</p>
<p>{unusable_next}</p>
</main></body></html>"""


@lru_cache(maxsize=len(LANGUAGES))
def unusable_page(language: str) -> str:
    """The "link cannot be used" page in ``language``."""
    table = strings(language)
    return UNUSABLE_PAGE.format(
        lang=language, dir=direction(language),
        **{key: html.escape(table[key]) for key in ("unusable_title", "unusable_why", "unusable_next")},
    )


class Refused(Exception):
    pass


def _unusable(request: web.Request, status: int = 404) -> web.Response:
    # Always in the phone's language (Accept-Language), never the link's, even when the token names
    # a link the handler gave a language: a page in the link's language would tell anyone holding a
    # token that it once was a real link, and every refusal must look the same from outside. The
    # same Accept-Language gets byte-identical pages for an unknown, expired or taken link.
    language = negotiate(request.headers.get("Accept-Language"))
    return web.Response(
        text=unusable_page(language), content_type="text/html", charset="utf-8", status=status,
        headers={"Content-Language": language, "Vary": "Accept-Language"},
    )


def _refused_json() -> web.Response:
    return json_error(404, "link_unusable", "this link cannot be used")


async def _link(
    request: web.Request, *, bind: bool = False, unbound: bool = False
) -> tuple[dict[str, Any], str | None]:
    """The usable link for this request's token and device, or :class:`Refused`.

    ``bind`` lets this request bind a link that no device holds yet (opening the page, or consent
    from a page first opened where binding was held back); it returns the new device cookie to set.
    ``unbound`` accepts a link no device holds without binding it (an app's own browser).
    """
    token = request.match_info["token"]
    # The token is looked up first (one indexed hash lookup): a genuine caller is never delayed
    # or refused because others failed from the same address (a shared proxy, a mobile carrier's
    # NAT). Only unknown tokens count, and an address with too many is answered 429 at once.
    link = None
    if looks_like_token(token):
        link = await request.app[INCIDENTS].link_by_token_hash(token_hash(token))
    address = client_address(request)
    if link is None:
        limits = request.app[LIMITS]  # counted across every node
        wait = await limits.retry_after(f"link:{address}")
        if wait:
            raise too_many(wait, html=request.method == "GET" and request.path.count("/") == 2)
        await limits.fail(f"link:{address}")
        request.app[THROTTLE].log_refusal(log, "unknown link token from %s", address)
        raise Refused()
    try:
        check_usable(LinkState(link["state"]), link["expires_at"], link["opened_at"] is not None, utcnow())
    except LinkUnusable as exc:
        log.info("link %s refused: %s", link["id"], exc.reason)
        raise Refused() from None
    callers = request.app[CALLERS]
    if callers.over_time(link):
        await callers.end_link(link, "gateway", "maximum session length reached")
        raise Refused()
    device = request.cookies.get(DEVICE_COOKIE)
    if link["device_hash"] is not None:
        if device and same(digest(device), link["device_hash"]):
            return link, None
        if await callers.refused(link, address):
            log.warning("link %s opened by a second device from %s", link["id"], address)
        raise Refused()
    if unbound and not bind:
        return link, None
    if not bind:
        raise Refused()
    device = new_secret(24)
    if not await request.app[INCIDENTS].bind_device(link["id"], digest(device)):
        raise Refused()  # another device bound it between our read and our write
    return link, device


def _set_device_cookie(request: web.Request, response: web.StreamResponse, device: str) -> None:
    response.set_cookie(
        DEVICE_COOKIE, device, httponly=True, samesite="Strict",
        secure=request.app[SETTINGS].public_url.startswith("https://"),
        path=f"/c/{request.match_info['token']}",
    )


ASSET_TYPES = {".js": "application/javascript", ".css": "text/css", ".json": "application/json"}


@routes.get("/static/caller/{name:.+}")
async def caller_asset(request: web.Request) -> web.StreamResponse:
    """The caller page's script, style and strings, compressed: it may be loading on one bar."""
    folder = (WEB_CLIENT / "caller").resolve()
    path = (folder / request.match_info["name"]).resolve()
    if folder not in path.parents or path.suffix not in ASSET_TYPES or not path.is_file():
        raise web.HTTPNotFound()
    response = web.FileResponse(path, headers={"Content-Type": ASSET_TYPES[path.suffix] + "; charset=utf-8"})
    response.enable_compression()
    return response


@lru_cache(maxsize=4)
def _template(mtime_ns: int) -> str:
    return PAGE.read_text(encoding="utf-8")


@routes.get("/c/{token}")
async def open_link(request: web.Request) -> web.StreamResponse:
    user_agent = request.headers.get("User-Agent", "")
    # An app's own browser keeps its cookies apart from the phone's browser: binding the link to
    # it would lock the caller out when they open the link in their browser as the page asks.
    in_app = in_app_browser(user_agent)
    try:
        link, device = await _link(request, bind=in_app is None, unbound=True)
    except Refused:
        return _unusable(request)
    await request.app[CALLERS].move(
        link, LinkState.OPENED, "caller", f"in the {in_app} browser" if in_app else None
    )
    language = link.get("language") or negotiate(request.headers.get("Accept-Language"))
    page = render_page(
        _template(PAGE.stat().st_mtime_ns), language, chosen=bool(link.get("language")), in_app=in_app,
        location_only=link.get("mode") == LOCATION_ONLY,
    )
    response = web.Response(text=page, content_type="text/html", charset="utf-8")
    response.enable_compression()
    if device:
        _set_device_cookie(request, response, device)
    return response


@routes.post("/c/{token}/consent")
async def consent(request: web.Request) -> web.Response:
    try:
        link, device = await _link(request, bind=True)
    except Refused:
        return _refused_json()
    # The consent text the caller agreed to: the page says the language it showed; an older page
    # that does not is taken to have shown the one the gateway rendered for it.
    body = await json_body(request)
    language = body.get("language") or link.get("language") or negotiate(request.headers.get("Accept-Language"))
    await request.app[CALLERS].move(link, LinkState.CONSENTED, "caller", consent_detail(language))
    response = web.json_response(_ice_servers(request, link))
    if device:
        _set_device_cookie(request, response, device)
    return response


@routes.post("/c/{token}/ice")
async def ice_servers(request: web.Request) -> web.Response:
    """Fresh ICE servers for the page's next connection: its TURN credential is about to expire."""
    try:
        link = await _sharing_link(request)
    except Refused:
        return _refused_json()
    wait = request.app[ICE].renewal_wait(f"link:{link['id']}")
    if wait:
        refused = json_error(429, "too_many_requests", "fresh ICE servers were given moments ago; try again shortly")
        refused.headers["Retry-After"] = retry_after_header(wait)
        return refused
    return web.json_response(_ice_servers(request, link))


def _ice_servers(request: web.Request, link: dict[str, Any]) -> dict[str, Any]:
    """The page's ICE servers, any TURN credential in them ending no later than the link does
    (its session's maximum length from when it was opened)."""
    opened = link.get("opened_at") or utcnow()
    ends = opened + timedelta(seconds=request.app[SETTINGS].session_max_seconds)
    return request.app[ICE].for_browser("link", str(link["id"]), ends.timestamp())


@routes.post("/c/{token}/offer")
async def offer(request: web.Request) -> web.Response:
    try:
        link, _ = await _link(request)
    except Refused:
        return _refused_json()
    if link["state"] not in (LinkState.CONSENTED.value, LinkState.STREAMING.value):
        return json_error(409, "no_consent", "consent must be given before sharing starts")
    try:
        sdp = parse_offer(await json_body(request))
    except SdpError as exc:
        log.warning("link %s: refused offer: %s", link["id"], exc)
        return json_error(400, "invalid_sdp", str(exc))
    try:
        answer = await request.app[LIVE].start(link, request.headers.get("User-Agent", ""), sdp)
    except TooManyOffers as exc:
        refused = json_error(429, "too_many_offers", "too many connection attempts on this link; try again shortly")
        refused.headers["Retry-After"] = retry_after_header(exc.retry_after)
        return refused
    except ValueError as exc:
        # aiortc raises ValueError for an offer it cannot negotiate (no common codec, bad lines).
        log.warning("link %s: offer could not be negotiated: %s", link["id"], exc)
        return json_error(400, "invalid_sdp", f"the offer could not be negotiated: {exc}")
    return web.json_response({"sdp": answer, "type": "answer"})


@routes.post("/c/{token}/end")
async def end(request: web.Request) -> web.Response:
    try:
        link, _ = await _link(request)
    except Refused:
        return _refused_json()
    await request.app[CALLERS].end_link(link, "caller", "the caller stopped sharing")
    return web.json_response({"state": "ended"})


# -- the HTTPS paths: the same messages as the data channel, for when it is down -----------------


async def _sharing_link(request: web.Request) -> dict[str, Any]:
    """The link, once the caller has agreed to share (else 409), or :class:`Refused`."""
    link, _ = await _link(request)
    if link["state"] not in (LinkState.CONSENTED.value, LinkState.STREAMING.value):
        raise web.HTTPConflict(
            text='{"error": "no_consent", "message": "consent must be given before sharing starts"}',
            content_type="application/json",
        )
    return link


@routes.post("/c/{token}/status")
async def status(request: web.Request) -> web.Response:
    try:
        link = await _sharing_link(request)
    except Refused:
        return _refused_json()
    try:
        await request.app[CALLERS].statuses.report(link["incident_id"], link["id"], await json_body(request), "https")
    except BadStatus as exc:
        return json_error(400, "invalid_status", str(exc))
    return web.json_response({"received": True})


@routes.get("/c/{token}/messages")
async def messages(request: web.Request) -> web.Response:
    try:
        link, _ = await _link(request)
    except Refused:
        return _refused_json()
    return web.json_response(await request.app[CALLERS].conversation.for_page(link))


@routes.post("/c/{token}/messages")
async def reply(request: web.Request) -> web.Response:
    """The caller answers (``{"type": "reply", ...}``) or says a message was seen (``"seen"``)."""
    try:
        link = await _sharing_link(request)
    except Refused:
        return _refused_json()
    body = await json_body(request)
    conversation = request.app[CALLERS].conversation
    try:
        if body.get("type") == "seen":
            seen = await conversation.seen(link, body.get("id"))
            return web.json_response({"id": body.get("id"), "seen": seen is not None})
        if body.get("type") == "reply":
            stored = await conversation.reply(link, body)
            return web.json_response({"id": stored["id"], "ref": body.get("ref")}, status=201)
    except BadMessage as exc:
        return json_error(400, exc.code, str(exc))
    return json_error(400, "invalid_message", "type must be 'reply' or 'seen'")


@routes.post("/c/{token}/fixes")
async def fixes(request: web.Request) -> web.Response:
    """Fixes the page could not send over the data channel, numbered and with the phone's times."""
    try:
        link = await _sharing_link(request)
    except Refused:
        return _refused_json()
    if request.content_length is not None and request.content_length > MAX_FIXES_BODY:
        return json_error(413, "too_large", f"a batch of fixes may be at most {MAX_FIXES_BODY} bytes")
    raw = await request.read()  # bounded by the application's client_max_size
    if len(raw) > MAX_FIXES_BODY:
        return json_error(413, "too_large", f"a batch of fixes may be at most {MAX_FIXES_BODY} bytes")
    try:
        body = jsonlimits.loads(raw)
    except ValueError:
        return json_error(400, "invalid_json", "the body is not valid JSON")
    if not isinstance(body, dict):
        return json_error(400, "invalid_fixes", 'expected {"fixes": [...]}')
    try:
        results = await request.app[CALLERS].fallback.fixes_batch(
            link, request.headers.get("User-Agent", ""), body.get("fixes")
        )
    except BadUpload as exc:
        return json_error(exc.status, exc.code, str(exc))
    return web.json_response({"results": results})


@routes.post("/c/{token}/stills")
async def stills(request: web.Request) -> web.Response:
    """A still JPEG photo, when live video cannot get through."""
    try:
        link = await _sharing_link(request)
    except Refused:
        return _refused_json()
    if request.content_type != "image/jpeg":
        return json_error(415, "not_jpeg", "send the photo as image/jpeg")
    if request.content_length is not None and request.content_length > MAX_STILL_BYTES:
        return json_error(413, "too_large", f"a still may be at most {MAX_STILL_BYTES} bytes")
    data = await request.read()  # bounded by the application's client_max_size
    try:
        snap = await request.app[CALLERS].fallback.still(link, request.headers.get("User-Agent", ""), data)
    except BadUpload as exc:
        refused = json_error(exc.status, exc.code, str(exc))
        if exc.status in (429, 503):
            refused.headers["Retry-After"] = "1"
        return refused
    return web.json_response({"id": snap["id"], "taken_at": snap["taken_at"]}, status=201)
