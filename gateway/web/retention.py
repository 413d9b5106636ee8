"""Legal holds and the retention report: supervisors' controls over what the purge may remove."""

from __future__ import annotations

from aiohttp import web

from ..auth import Permission
from ..record.purge import HoldConflict, NotFound
from .auth import require
from .incidents import json_body
from .keys import EVENTS, RETENTION
from .security import json_error

routes = web.RouteTableDef()

MAX_REASON = 400


def _reason(body: dict) -> str | None:
    reason = body.get("reason")
    if not isinstance(reason, str) or not reason.strip() or len(reason) > MAX_REASON:
        return None
    return reason.strip()


@routes.put("/api/incidents/{id}/hold")
async def place_hold(request: web.Request) -> web.Response:
    """Place a legal hold: the retention purge leaves the incident whole until it is lifted."""
    who = require(request, Permission.AUDIT)
    reason = _reason(await json_body(request))
    if reason is None:
        return json_error(400, "invalid_reason", f"a legal hold needs a reason (1 to {MAX_REASON} characters)")
    incident_id = request.match_info["id"]
    try:
        hold = await request.app[RETENTION].hold(incident_id, who["name"], reason)
    except NotFound:
        return json_error(404, "not_found", "no such incident")
    except HoldConflict as exc:
        return json_error(409, "already_held", str(exc))
    request.app[EVENTS].publish("legal_hold", incident_id, {"held": True, **hold})
    return web.json_response({"legal_hold": hold})


@routes.delete("/api/incidents/{id}/hold")
async def lift_hold(request: web.Request) -> web.Response:
    who = require(request, Permission.AUDIT)
    reason = _reason(await json_body(request))
    if reason is None:
        return json_error(400, "invalid_reason", f"lifting a legal hold needs a reason (1 to {MAX_REASON} characters)")
    incident_id = request.match_info["id"]
    try:
        await request.app[RETENTION].lift(incident_id, who["name"], reason)
    except NotFound:
        return json_error(404, "not_found", "no such incident")
    except HoldConflict as exc:
        return json_error(409, "not_held", str(exc))
    request.app[EVENTS].publish("legal_hold", incident_id, {"held": False})
    return web.json_response({"legal_hold": None})


@routes.get("/api/retention")
async def report(request: web.Request) -> web.Response:
    """What the next purge would remove, and why; what falls due next; what is held."""
    require(request, Permission.AUDIT)
    return web.json_response({"incidents": await request.app[RETENTION].report()})
