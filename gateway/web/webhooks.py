"""Supervisors' view of webhook deliveries: what is queued, what gave up, and retrying by hand."""

from __future__ import annotations

from urllib.parse import urlsplit

from aiohttp import web

from ..auth import Permission
from ..record.outbox import DEAD, DELIVERED, PENDING
from .auth import require
from .keys import OUTBOX, SETTINGS, WEBHOOKS
from .security import json_error

routes = web.RouteTableDef()


@routes.get("/api/webhooks")
async def overview(request: web.Request) -> web.Response:
    """The configured endpoints (addresses without any credentials) and how many rows are in each state."""
    require(request, Permission.AUDIT)
    endpoints = [
        {"name": e.name, "host": urlsplit(e.url).hostname, "events": list(e.events), "max_attempts": e.max_attempts}
        for e in request.app[SETTINGS].webhooks
    ]
    return web.json_response({"endpoints": endpoints, "counts": await request.app[OUTBOX].counts()})


@routes.get("/api/webhooks/deliveries")
async def deliveries(request: web.Request) -> web.Response:
    require(request, Permission.AUDIT)
    state = request.query.get("state")
    if state is not None and state not in (PENDING, DELIVERED, DEAD):
        return json_error(400, "invalid_state", "state must be pending, delivered or dead")
    return web.json_response({"deliveries": await request.app[OUTBOX].list(state)})


@routes.post("/api/webhooks/deliveries/{delivery_id}/retry")
async def retry(request: web.Request) -> web.Response:
    who = require(request, Permission.AUDIT)
    row = await request.app[OUTBOX].retry(request.match_info["delivery_id"], who["name"])
    if row is None:
        return json_error(404, "not_found", "no dead delivery with this id")
    request.app[WEBHOOKS].retry_now(row["endpoint"])
    return web.json_response(row)
