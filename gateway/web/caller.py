"""The caller's side: the link's page, consent, the WebRTC offer and ending.

The token in the URL is the only credential, and the first device to open it is bound to it by an
HTTP-only cookie. Every refusal looks the same from outside, so nobody can probe for incidents.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from aiohttp import web

from ..auth import digest, new_secret, same
from ..links import LinkState, LinkUnusable, check_usable, looks_like_token, token_hash
from ..media.sdp import SdpError, parse_offer
from ..record.database import utcnow
from .incidents import json_body
from .keys import EVENTS, INCIDENTS, LIVE, SETTINGS, THROTTLE
from .pages import WEB_CLIENT
from .security import client_address, json_error

log = logging.getLogger(__name__)
routes = web.RouteTableDef()

DEVICE_COOKIE = "scenelink_device"

UNUSABLE_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Link not available</title><link rel="stylesheet" href="/static/login/login.css"></head>
<body><main class="login" role="main">
<h1>This link cannot be used</h1>
<p>It may have expired, been replaced by a newer link, or already been opened on another phone.</p>
<p>If you are still on your emergency call, tell the call handler. They can send you a new link.</p>
</main></body></html>"""


class Refused(Exception):
    pass


def _unusable(status: int = 404) -> web.Response:
    return web.Response(text=UNUSABLE_PAGE, content_type="text/html", status=status)


async def _link(request: web.Request, *, opening: bool = False) -> tuple[dict[str, Any], str | None]:
    """The usable link for this request's token and device, or :class:`Refused`.

    Returns the link and, when this request binds the device, the new device cookie to set.
    """
    token = request.match_info["token"]
    throttle = request.app[THROTTLE]
    address = client_address(request)
    wait = throttle.delay(f"link:{address}")
    if wait:
        await asyncio.sleep(wait)
    link = None
    if looks_like_token(token):
        link = await request.app[INCIDENTS].link_by_token_hash(token_hash(token))
    if link is None:
        throttle.fail(f"link:{address}")
        log.warning("unknown link token from %s", address)
        raise Refused()
    try:
        check_usable(LinkState(link["state"]), link["expires_at"], link["opened_at"] is not None, utcnow())
    except LinkUnusable as exc:
        log.info("link %s refused: %s", link["id"], exc.reason)
        raise Refused() from None
    device = request.cookies.get(DEVICE_COOKIE)
    if link["device_hash"] is not None:
        if device and same(digest(device), link["device_hash"]):
            return link, None
        log.warning("link %s opened by a second device from %s", link["id"], address)
        events = request.app[EVENTS]
        events.publish("link.refused", link["incident_id"], {"link_id": link["id"], "reason": "another device"})
        await request.app[INCIDENTS].db.record_action(
            "caller", "link.refused", link["incident_id"], link_id=link["id"], reason="another device", address=address
        )
        raise Refused()
    if not opening:
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


async def _move(request: web.Request, link: dict[str, Any], state: LinkState) -> None:
    at = await request.app[INCIDENTS].move_link(link["id"], state, "caller")
    if at:
        request.app[EVENTS].publish("link.state", link["incident_id"], {"link_id": link["id"], "state": state.value, "at": at})


@routes.get("/c/{token}")
async def open_link(request: web.Request) -> web.StreamResponse:
    try:
        link, device = await _link(request, opening=True)
    except Refused:
        return _unusable()
    await _move(request, link, LinkState.OPENED)
    response = web.FileResponse(WEB_CLIENT / "caller" / "index.html")
    if device:
        _set_device_cookie(request, response, device)
    return response


@routes.post("/c/{token}/consent")
async def consent(request: web.Request) -> web.Response:
    try:
        link, _ = await _link(request)
    except Refused:
        return json_error(404, "link_unusable", "this link cannot be used")
    await _move(request, link, LinkState.CONSENTED)
    servers = [s.to_browser() for s in request.app[SETTINGS].ice_servers]
    return web.json_response({"ice_servers": servers})


@routes.post("/c/{token}/offer")
async def offer(request: web.Request) -> web.Response:
    try:
        link, _ = await _link(request)
    except Refused:
        return json_error(404, "link_unusable", "this link cannot be used")
    if link["state"] not in (LinkState.CONSENTED.value, LinkState.STREAMING.value):
        return json_error(409, "no_consent", "consent must be given before sharing starts")
    try:
        sdp = parse_offer(await json_body(request))
    except SdpError as exc:
        log.warning("link %s: refused offer: %s", link["id"], exc)
        return json_error(400, "invalid_sdp", str(exc))
    try:
        answer = await request.app[LIVE].start(link, request.headers.get("User-Agent", ""), sdp)
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
        return json_error(404, "link_unusable", "this link cannot be used")
    ended = await request.app[LIVE].end(link["incident_id"], "caller", "the caller stopped sharing")
    if not ended:
        await _move(request, link, LinkState.ENDED)
    return web.json_response({"state": "ended"})
