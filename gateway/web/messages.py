"""Operators and the caller: instructions to a caller who cannot speak, the phrase book, the
caller's replies and status, requests for the caller's camera or torch, and revoking a link."""

from __future__ import annotations

from aiohttp import web

from .. import i18n
from ..auth import Permission
from ..caller.callers import LinkFinal, LinkNotFound
from ..caller.conversation import BadMessage, NoCaller
from .auth import require
from .incidents import json_body
from .keys import CALLERS, INCIDENTS
from .security import json_error

routes = web.RouteTableDef()


async def _incident_id(request: web.Request) -> str:
    incident_id = request.match_info["id"]
    if await request.app[INCIDENTS].get(incident_id) is None:
        raise web.HTTPNotFound(
            text='{"error": "not_found", "message": "no such incident"}', content_type="application/json"
        )
    return incident_id


@routes.get("/api/phrases")
async def phrases(request: web.Request) -> web.Response:
    require(request, Permission.READ)
    return web.json_response({
        "languages": i18n.languages(), "phrases": i18n.phrase_book(), "max_text": i18n.MAX_TEXT,
    })


@routes.get("/api/incidents/{id}/messages")
async def list_messages(request: web.Request) -> web.Response:
    require(request, Permission.READ)
    incident_id = await _incident_id(request)
    conversation = request.app[CALLERS].conversation
    return web.json_response({"messages": await conversation.messages.for_incident(incident_id)})


@routes.post("/api/incidents/{id}/messages")
async def send_message(request: web.Request) -> web.Response:
    who = require(request, Permission.ACT)
    incident_id = await _incident_id(request)
    body = await json_body(request)
    try:
        message = await request.app[CALLERS].conversation.instruct(
            incident_id, who["name"], phrase=body.get("phrase"), text=body.get("text"), language=body.get("language")
        )
    except BadMessage as exc:
        return json_error(400, exc.code, str(exc))
    except NoCaller as exc:
        return json_error(409, "no_caller", str(exc))
    return web.json_response(message, status=201)


@routes.post("/api/incidents/{id}/camera")
async def camera(request: web.Request) -> web.Response:
    who = require(request, Permission.ACT)
    incident_id = await _incident_id(request)
    body = await json_body(request)
    try:
        result = await request.app[CALLERS].conversation.request_camera(
            incident_id, who["name"], facing=body.get("facing"), torch=body.get("torch")
        )
    except BadMessage as exc:
        return json_error(400, exc.code, str(exc))
    except NoCaller as exc:
        return json_error(409, "no_caller", str(exc))
    return web.json_response(result)


@routes.get("/api/incidents/{id}/caller")
async def caller_status(request: web.Request) -> web.Response:
    require(request, Permission.READ)
    incident_id = await _incident_id(request)
    return web.json_response({"status": request.app[CALLERS].statuses.latest(incident_id)})


@routes.post("/api/incidents/{id}/links/{link_id}/revoke")
async def revoke_link(request: web.Request) -> web.Response:
    who = require(request, Permission.ACT)
    incident_id = await _incident_id(request)
    try:
        result = await request.app[CALLERS].revoke(incident_id, request.match_info["link_id"], who["name"])
    except LinkNotFound:
        return json_error(404, "not_found", "no such link for this incident")
    except LinkFinal as exc:
        return json_error(409, "link_final", str(exc))
    return web.json_response(result)
