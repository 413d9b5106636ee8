"""The administrator's page and API: operators, API tokens and embed links, each revocable.

Every route needs ``Permission.MANAGE`` (the admin role). Every action is audited by the record
(gateway.record.accounts) with the administrator's name.
"""

from __future__ import annotations

from aiohttp import web

from ..auth import Permission, new_secret
from ..record.accounts import UnknownName
from .auth import require
from .keys import ACCOUNTS, LIMITS, PASSWORDS
from .pages import WEB_CLIENT
from .security import json_error

routes = web.RouteTableDef()

OPERATOR_ACTIONS = ("disable", "enable", "reset-password", "logout")


@routes.get("/admin")
async def admin_page(request: web.Request) -> web.StreamResponse:
    require(request, Permission.MANAGE)
    return web.FileResponse(WEB_CLIENT / "admin" / "index.html")


@routes.get("/api/admin/operators")
async def list_operators(request: web.Request) -> web.Response:
    require(request, Permission.MANAGE)
    return web.json_response({"operators": await request.app[ACCOUNTS].list_operators()})


@routes.post("/api/admin/operators/{name}/{action}")
async def change_operator(request: web.Request) -> web.Response:
    who = require(request, Permission.MANAGE)
    name, action = request.match_info["name"], request.match_info["action"]
    if action not in OPERATOR_ACTIONS:
        return json_error(404, "not_found", f"no action {action!r}; one of {', '.join(OPERATOR_ACTIONS)}")
    if name == who["name"] and action in ("disable", "reset-password"):
        return json_error(409, "own_account", "an administrator cannot disable or reset their own account here")
    accounts = request.app[ACCOUNTS]
    answer: dict[str, object] = {"username": name, "action": action}
    try:
        if action in ("disable", "enable"):
            answer["sessions_ended"] = await accounts.set_disabled(name, action == "disable", who["name"])
            if action == "enable":
                await request.app[LIMITS].unlock(f"account:{name.casefold()}")  # on every node
        elif action == "logout":
            answer["sessions_ended"] = await accounts.end_sessions(name, who["name"])
        else:
            password = new_secret(12)
            password_hash = await request.app[PASSWORDS].hash(password)
            answer["sessions_ended"] = await accounts.reset_password(name, password_hash, who["name"])
            # Shown to the administrator once, to hand over; it opens only the password page.
            answer["one_time_password"] = password
    except UnknownName as exc:
        return json_error(404, "not_found", str(exc))
    return web.json_response(answer)


@routes.get("/api/admin/tokens")
async def list_tokens(request: web.Request) -> web.Response:
    require(request, Permission.MANAGE)
    return web.json_response({"tokens": await request.app[ACCOUNTS].list_tokens()})


@routes.post("/api/admin/tokens/{name}/revoke")
async def revoke_token(request: web.Request) -> web.Response:
    who = require(request, Permission.MANAGE)
    try:
        await request.app[ACCOUNTS].revoke_token(request.match_info["name"], who["name"])
    except UnknownName as exc:
        return json_error(404, "not_found", str(exc))
    return web.json_response({"name": request.match_info["name"], "revoked": True})


@routes.get("/api/admin/embeds")
async def list_embeds(request: web.Request) -> web.Response:
    require(request, Permission.MANAGE)
    incident = request.query.get("incident") or None
    return web.json_response({"embeds": await request.app[ACCOUNTS].list_embeds(incident)})


@routes.post("/api/admin/embeds/{id}/revoke")
async def revoke_embed(request: web.Request) -> web.Response:
    who = require(request, Permission.MANAGE)
    try:
        count = await request.app[ACCOUNTS].revoke_embeds(who["name"], embed_id=request.match_info["id"])
    except UnknownName as exc:
        return json_error(404, "not_found", str(exc))
    return web.json_response({"revoked": count})


@routes.post("/api/admin/incidents/{id}/embeds/revoke")
async def revoke_incident_embeds(request: web.Request) -> web.Response:
    who = require(request, Permission.MANAGE)
    count = await request.app[ACCOUNTS].revoke_embeds(who["name"], incident_id=request.match_info["id"])
    return web.json_response({"revoked": count})
