"""Operators' API on incidents: create, list, read, send a link, snapshot, end."""

from __future__ import annotations

import re
from typing import Any

from aiohttp import web

from .. import jsonlimits
from ..auth import Permission
from ..caller.invitations import send_link
from ..caller.phones import PhoneError, normalise_mobile
from ..i18n import UnknownLanguage, check_language
from ..links import MODES, VIDEO
from ..live import NoStream, StaleVideo
from ..record.incidents import DuplicateReference
from .auth import require
from .keys import AML, BLOBS, EVENTS, INCIDENTS, LIVE, SETTINGS, SMS
from .security import json_error

routes = web.RouteTableDef()

REFERENCE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9/_.:-]{0,63}$")
MAX_BODY = 16 * 1024


async def json_body(request: web.Request) -> dict[str, Any]:
    if request.content_length and request.content_length > MAX_BODY:
        raise web.HTTPRequestEntityTooLarge(max_size=MAX_BODY, actual_size=request.content_length)
    if not request.can_read_body:
        return {}
    try:
        body = jsonlimits.loads(await request.read())
    except ValueError:
        raise web.HTTPBadRequest(
            text='{"error": "invalid_json", "message": "the body is not valid JSON"}',
            content_type="application/json",
        ) from None
    if not isinstance(body, dict):
        raise web.HTTPBadRequest(
            text='{"error": "invalid_json", "message": "expected a JSON object"}',
            content_type="application/json",
        )
    return body


async def _incident(request: web.Request, whole: bool = False) -> dict[str, Any]:
    """The incident named in the path (its summary, or ``whole`` record), or a JSON 404."""
    incidents = request.app[INCIDENTS]
    incident_id = request.match_info["id"]
    found = await (incidents.record(incident_id) if whole else incidents.get(incident_id))
    if found is None:
        raise web.HTTPNotFound(
            text='{"error": "not_found", "message": "no such incident"}', content_type="application/json"
        )
    return found


@routes.post("/api/incidents")
async def create_incident(request: web.Request) -> web.Response:
    who = require(request, Permission.ACT)
    body = await json_body(request)
    reference = body.get("reference")
    if not isinstance(reference, str) or not REFERENCE.match(reference.strip()):
        return json_error(
            400, "invalid_reference", "the incident reference must be 1 to 64 letters, digits or - / _ . :"
        )
    try:
        phone = normalise_mobile(body.get("caller_phone", ""))
    except PhoneError as exc:
        return json_error(400, exc.code, str(exc))
    try:
        media = request.app[SETTINGS].media
        defaults = {
            "snapshot_interval_seconds": media.snapshot_interval_seconds,
            "scene_change_snapshots": media.scene_change_snapshots,
            "recording": media.record_by_default,
        }
        incident = await request.app[INCIDENTS].create(reference.strip(), phone, who["name"], defaults)
    except DuplicateReference as exc:
        return json_error(409, "duplicate_reference", str(exc))
    request.app[EVENTS].publish("incident.created", incident["id"], incident)
    # AML positions the handset sent for this number before the incident existed, to add to it.
    incident["aml_offers"] = await request.app[AML].offers(phone)
    return web.json_response(incident, status=201)


@routes.get("/api/incidents")
async def list_incidents(request: web.Request) -> web.Response:
    require(request, Permission.READ)
    active = request.query.get("active") in ("1", "true")
    return web.json_response({"incidents": await request.app[INCIDENTS].list(active_only=active)})


@routes.get("/api/incidents/{id}")
async def get_incident(request: web.Request) -> web.Response:
    require(request, Permission.READ)
    record = await request.app[INCIDENTS].record(request.match_info["id"])
    if record is None:
        return json_error(404, "not_found", "no such incident")
    return web.json_response(record)


@routes.post("/api/incidents/{id}/links")
async def create_link(request: web.Request) -> web.Response:
    who = require(request, Permission.ACT)
    incident = await _incident(request)
    if incident["ended_at"]:
        return json_error(409, "ended", "this incident has ended; create a new one")
    body = await json_body(request)
    try:
        language = check_language(body.get("language"))
    except UnknownLanguage as exc:
        return json_error(400, "invalid_language", str(exc))
    mode = body.get("mode", VIDEO)
    if mode not in MODES:
        return json_error(400, "invalid_mode", f"'mode' must be one of {', '.join(MODES)}")
    settings = request.app[SETTINGS]
    link = await send_link(
        request.app[INCIDENTS], request.app[EVENTS], request.app[SMS], incident,
        settings.public_url, settings.link_ttl_seconds, settings.sms_sender_name, who["name"], language,
        mode,
    )
    return web.json_response(link, status=201)


@routes.post("/api/incidents/{id}/snapshots")
async def take_snapshot(request: web.Request) -> web.Response:
    who = require(request, Permission.ACT)
    incident = await _incident(request)
    allow_stale = (await json_body(request)).get("allow_stale", False)
    if not isinstance(allow_stale, bool):
        return json_error(400, "invalid_request", "'allow_stale' must be true or false")
    try:
        snap = await request.app[LIVE].snapshot(incident["id"], who["name"], allow_stale=allow_stale)
    except NoStream as exc:
        return json_error(409, "no_video", str(exc))
    except StaleVideo as exc:
        return web.json_response(
            {"error": "stale_video", "message": str(exc), "age_seconds": round(exc.age_seconds, 1)}, status=409
        )
    return web.json_response(snap, status=201)


@routes.get("/api/snapshots/{id}")
async def get_snapshot(request: web.Request) -> web.Response:
    require(request, Permission.READ)
    snap = await request.app[INCIDENTS].snapshot(request.match_info["id"])
    if snap is None:
        return json_error(404, "not_found", "no such snapshot")
    data = request.app[BLOBS].get(snap["sha256"])
    return web.Response(
        body=data, content_type="image/jpeg",
        headers={"X-Content-SHA256": snap["sha256"], "Cache-Control": "private, max-age=86400, immutable"},
    )


@routes.post("/api/incidents/{id}/end")
async def end_incident(request: web.Request) -> web.Response:
    who = require(request, Permission.ACT)
    incident = await _incident(request)
    await request.app[LIVE].end(incident["id"], who["name"], "ended by the control room")
    for link_id, at in await request.app[INCIDENTS].mark_ended(incident["id"], who["name"]):
        request.app[EVENTS].publish("link.state", incident["id"], {"link_id": link_id, "state": "ended", "at": at})
    return web.json_response(await request.app[INCIDENTS].get(incident["id"]))
