"""Operators' live surface: the event streams and the WebRTC viewer."""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any

from aiohttp import WSCloseCode, WSMsgType, web

from ..auth import Permission
from ..live import NoStream
from ..media.sdp import SdpError, parse_answer, parse_offer
from .auth import require, still_signed_in
from .incidents import json_body
from .keys import DATABASE, EVENTS, INCIDENTS
from .nodes import viewer_answer, viewer_complete
from .revocation import until_revoked
from .security import json_error

log = logging.getLogger(__name__)
routes = web.RouteTableDef()

HEARTBEAT_SECONDS = 20
WS_SIGNED_OUT = 4401  # close code: the session or token is no longer valid; sign in again
# Every open event stream, so that a node stopping can end them (the consoles reconnect, through
# the proxy, to another node) rather than leave them to be cancelled mid-query.
OPEN_STREAMS = web.AppKey("open_event_streams", set[web.WebSocketResponse])


def track_streams(app: web.Application) -> None:
    """Keep the app's open event streams, and end them when it shuts down (after the drain)."""
    app[OPEN_STREAMS] = set()

    async def close_streams(app: web.Application) -> None:
        streams = app[OPEN_STREAMS]
        for ws in list(streams):
            await ws.close(code=WSCloseCode.GOING_AWAY, message=b"node stopping")

    app.on_shutdown.append(close_streams)


async def _stream(request: web.Request, incident_id: str | None) -> web.WebSocketResponse:
    ws = web.WebSocketResponse(heartbeat=HEARTBEAT_SECONDS)
    await ws.prepare(request)
    streams = request.app.get(OPEN_STREAMS)
    if streams is not None:
        streams.add(ws)
    with request.app[EVENTS].subscribe(incident_id) as subscription:
        # The socket's reader must run so that pings, pongs and a close from the browser are seen.
        reader = asyncio.ensure_future(_read_until_closed(ws))
        # The session or token that opened the socket is asked again while it is open.
        revoked = asyncio.ensure_future(until_revoked(lambda: still_signed_in(request)))
        helpers: list[asyncio.Future[Any]] = [reader, revoked]
        try:
            while not ws.closed:
                getter = asyncio.ensure_future(subscription.queue.get())
                helpers[2:] = [getter]
                done, _ = await asyncio.wait({getter, reader, revoked}, return_when=asyncio.FIRST_COMPLETED)
                if getter not in done:
                    break
                await ws.send_str(json.dumps(getter.result().to_json()))
        except (ConnectionResetError, RuntimeError):
            pass
        finally:
            # Each helper task ends before the handler does: none is left running (a revocation
            # check mid-query, say) once the node has closed its database.
            for task in helpers:
                task.cancel()
            await asyncio.gather(*helpers, return_exceptions=True)
            if streams is not None:
                streams.discard(ws)
            if revoked.done() and not revoked.cancelled():
                await ws.close(code=WS_SIGNED_OUT, message=b"signed out")
            await ws.close()
    return ws


async def _read_until_closed(ws: web.WebSocketResponse) -> None:
    async for msg in ws:
        if msg.type in (WSMsgType.CLOSE, WSMsgType.ERROR):
            break


@routes.get("/api/incidents/{id}/events")
async def incident_events(request: web.Request) -> web.StreamResponse:
    require(request, Permission.READ)
    incident_id = request.match_info["id"]
    if await request.app[INCIDENTS].get(incident_id) is None:
        return json_error(404, "not_found", "no such incident")
    return await _stream(request, incident_id)


@routes.get("/api/events")
async def all_events(request: web.Request) -> web.StreamResponse:
    require(request, Permission.READ)
    return await _stream(request, None)


@routes.post("/api/incidents/{id}/viewer")
async def open_viewer(request: web.Request) -> web.Response:
    who = require(request, Permission.READ)
    incident_id = request.match_info["id"]
    try:
        offer = parse_offer(await json_body(request))
    except SdpError as exc:
        return json_error(400, "invalid_sdp", str(exc))
    try:
        answer = await viewer_answer(request.app, incident_id, offer, who["name"])
    except NoStream as exc:
        return json_error(409, "no_stream", str(exc))
    except ValueError as exc:
        return json_error(400, "invalid_sdp", str(exc))
    await request.app[DATABASE].record_action(who["name"], "video.viewed", incident_id)
    return web.json_response(answer)


@routes.post("/api/incidents/{id}/viewer/{viewer}/answer")
async def answer_viewer(request: web.Request) -> web.Response:
    """The viewer's answer to the media plane's counter-offer (``{"type": "offer", "viewer": ...}``)."""
    who = require(request, Permission.READ)
    try:
        answer = parse_answer(await json_body(request))
        await viewer_complete(request.app, request.match_info["id"], request.match_info["viewer"], answer, who["name"])
    except SdpError as exc:
        return json_error(400, "invalid_sdp", str(exc))
    except KeyError:
        return json_error(404, "not_found", "no such view waiting for an answer")
    except ValueError as exc:
        return json_error(400, "invalid_sdp", str(exc))
    return web.json_response({"ok": True})
