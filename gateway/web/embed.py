"""The embeddable viewer for command-and-control screens: one incident's live video, nothing else.

Opened with a scoped, expiring token, and frameable only by the origins named in the
configuration (``frame-ancestors``).
"""

from __future__ import annotations

from aiohttp import web

from ..auth import digest
from ..limits import retry_after_header
from ..live import NoStream
from ..media.sdp import SdpError, parse_answer, parse_offer
from .incidents import json_body
from .keys import ACCOUNTS, DATABASE, ICE, LIVE, SETTINGS
from .media import stream_mjpeg
from .nodes import viewer_answer, viewer_complete
from .pages import WEB_CLIENT
from .security import json_error

routes = web.RouteTableDef()

EXPIRED_PAGE = """<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Live view unavailable</title>
<link rel="stylesheet" href="/static/embed/embed.css"></head><body><main class="ended">
<p>This live view has expired or was withdrawn. Ask the control room for a new one.</p></main></body></html>"""


def _frame_policy(request: web.Request) -> str:
    origins = " ".join(request.app[SETTINGS].media.embed_origins) or "'none'"
    return (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; "
        f"media-src 'self' blob:; connect-src 'self'; frame-ancestors {origins}; base-uri 'none'"
    )


async def _incident_for(request: web.Request) -> str | None:
    return await request.app[ACCOUNTS].embed_incident(digest(request.match_info["token"]))


@routes.get("/embed/{token}")
async def embed_page(request: web.Request) -> web.StreamResponse:
    headers = {"Content-Security-Policy": _frame_policy(request), "Cache-Control": "no-store"}
    if await _incident_for(request) is None:
        return web.Response(text=EXPIRED_PAGE, content_type="text/html", status=404, headers=headers)
    return web.FileResponse(WEB_CLIENT / "embed" / "index.html", headers=headers)


@routes.post("/embed/{token}/ice")
async def embed_ice(request: web.Request) -> web.Response:
    """The view's ICE servers for its next connection (a TURN credential of its own, short-lived)."""
    incident_id = await _incident_for(request)
    if incident_id is None:
        return json_error(404, "expired", "this live view has expired or was withdrawn")
    wait = request.app[ICE].renewal_wait(f"embed:{digest(request.match_info['token'])}")
    if wait:
        refused = json_error(429, "too_many_requests", "fresh ICE servers were given moments ago; try again shortly")
        refused.headers["Retry-After"] = retry_after_header(wait)
        return refused
    return web.json_response(request.app[ICE].for_browser("embed", incident_id))


@routes.post("/embed/{token}/viewer")
async def embed_viewer(request: web.Request) -> web.Response:
    incident_id = await _incident_for(request)
    if incident_id is None:
        return json_error(404, "expired", "this live view has expired or was withdrawn")
    try:
        offer = parse_offer(await json_body(request))
        answer = await viewer_answer(request.app, incident_id, offer, "embed")
    except SdpError as exc:
        return json_error(400, "invalid_sdp", str(exc))
    except NoStream as exc:
        return json_error(409, "no_stream", str(exc))
    except ValueError as exc:
        return json_error(400, "invalid_sdp", str(exc))
    await request.app[DATABASE].record_action("embed", "video.viewed", incident_id, via="embed")
    return web.json_response(answer)


@routes.post("/embed/{token}/viewer/{viewer}/answer")
async def embed_viewer_answer(request: web.Request) -> web.Response:
    """The embedded view's answer to the media plane's counter-offer."""
    incident_id = await _incident_for(request)
    if incident_id is None:
        return json_error(404, "expired", "this live view has expired or was withdrawn")
    try:
        answer = parse_answer(await json_body(request))
        await viewer_complete(request.app, incident_id, request.match_info["viewer"], answer, "embed")
    except SdpError as exc:
        return json_error(400, "invalid_sdp", str(exc))
    except KeyError:
        return json_error(404, "not_found", "no such view waiting for an answer")
    except ValueError as exc:
        return json_error(400, "invalid_sdp", str(exc))
    return web.json_response({"ok": True})


@routes.get("/embed/{token}/mjpeg")
async def embed_mjpeg(request: web.Request) -> web.StreamResponse:
    incident_id = await _incident_for(request)
    if incident_id is None:
        return json_error(404, "expired", "this live view has expired or was withdrawn")
    await request.app[DATABASE].record_action("embed", "video.viewed", incident_id, via="embed-mjpeg")
    async def still_open() -> bool:
        return await _incident_for(request) == incident_id

    return await stream_mjpeg(request, request.app[LIVE], incident_id, still_open)
