"""Operators' media controls: snapshot policy and recording, stream health, thumbnails,
recordings, MJPEG, embed links and per-operator viewing preferences."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from aiohttp import web

from ..auth import Permission, digest, new_secret
from ..live import LiveSessions
from ..media.mjpeg import BOUNDARY, mjpeg_parts
from ..media.session import MediaPolicy
from ..record.database import utcnow
from .auth import require, still_signed_in
from .incidents import _incident, json_body
from .keys import ACCOUNTS, BLOBS, DATABASE, INCIDENTS, LIVE, SETTINGS
from .revocation import Check, run_until_revoked
from .security import json_error

routes = web.RouteTableDef()

PREFERENCES = {"blur_video": bool}


def _policy_changes(body: dict[str, Any]) -> dict[str, Any]:
    changes: dict[str, Any] = {}
    if "snapshot_interval_seconds" in body:
        value = body["snapshot_interval_seconds"]
        if value is not None and (not isinstance(value, int) or isinstance(value, bool) or not 5 <= value <= 3600):
            raise ValueError("snapshot_interval_seconds must be null or a whole number from 5 to 3600")
        changes["snapshot_interval_seconds"] = value
    for key in ("scene_change_snapshots", "recording"):
        if key in body:
            if not isinstance(body[key], bool):
                raise ValueError(f"{key} must be true or false")
            changes[key] = body[key]
    unknown = set(body) - {"snapshot_interval_seconds", "scene_change_snapshots", "recording"}
    if unknown:
        raise ValueError(f"unknown setting(s): {', '.join(sorted(unknown))}")
    return changes


@routes.put("/api/incidents/{id}/media-policy")
async def set_media_policy(request: web.Request) -> web.Response:
    who = require(request, Permission.ACT)
    incident = await _incident(request)
    try:
        changes = _policy_changes(await json_body(request))
    except ValueError as exc:
        return json_error(400, "invalid_policy", str(exc))
    policy = {**incident["media_policy"], **changes}
    await request.app[INCIDENTS].set_media_policy(incident["id"], policy, who["name"])
    await request.app[LIVE].set_policy(incident["id"], MediaPolicy.from_mapping(policy))
    return web.json_response(policy)


@routes.get("/api/incidents/{id}/stream")
async def stream_health(request: web.Request) -> web.Response:
    require(request, Permission.READ)
    incident = await _incident(request)
    health = request.app[LIVE].health(incident["id"])
    return web.json_response(health or {"session_id": None, "viewers": 0, "stream": None, "recording": False})


@routes.get("/api/snapshots/{id}/thumbnail")
async def snapshot_thumbnail(request: web.Request) -> web.Response:
    require(request, Permission.READ)
    snap = await request.app[INCIDENTS].snapshot(request.match_info["id"])
    if snap is None or not snap["thumb_sha256"]:
        return json_error(404, "not_found", "no such thumbnail")
    return web.Response(
        body=request.app[BLOBS].get(snap["thumb_sha256"]), content_type="image/jpeg",
        headers={"Cache-Control": "private, max-age=86400, immutable"},
    )


@routes.get("/api/recordings/{id}")
async def recording_file(request: web.Request) -> web.StreamResponse:
    who = require(request, Permission.READ)
    try:
        recording_id = int(request.match_info["id"])
    except ValueError:
        return json_error(404, "not_found", "no such recording")
    if not 0 < recording_id < 2**63:  # beyond a database integer: there is no such row
        return json_error(404, "not_found", "no such recording")
    found = await request.app[INCIDENTS].recording(recording_id)
    if found is None:
        return json_error(404, "not_found", "no such recording")
    await request.app[DATABASE].record_action(who["name"], "recording.downloaded", None, recording_id=recording_id)
    kind = "video/mp4" if found["codec"] == "h264" else "video/webm"
    return web.FileResponse(
        request.app[BLOBS].path_for(found["sha256"]),
        headers={"Content-Type": kind, "X-Content-SHA256": found["sha256"]},
    )


async def stream_mjpeg(
    request: web.Request, live: LiveSessions, incident_id: str, still_valid: Check
) -> web.StreamResponse:
    """Stream the caller's newest frames until the viewer leaves, the stream ends or
    ``still_valid()`` (asked every few seconds) says the credential was revoked or expired."""
    def latest():
        session = live.by_incident.get(incident_id)
        return session.peer.latest if session and session.peer.video is not None else None

    if latest() is None:
        return json_error(409, "no_stream", "the caller is not streaming video")
    response = web.StreamResponse(
        headers={"Content-Type": f"multipart/x-mixed-replace; boundary={BOUNDARY}", "Cache-Control": "no-store"}
    )
    await response.prepare(request)

    async def pump() -> None:
        try:
            async for part in mjpeg_parts(latest, request.app[SETTINGS].media.mjpeg_max_fps):
                await response.write(part)
        except (ConnectionResetError, RuntimeError):
            pass  # the viewer went away

    await run_until_revoked(pump(), still_valid)
    return response


@routes.get("/api/incidents/{id}/mjpeg")
async def incident_mjpeg(request: web.Request) -> web.StreamResponse:
    who = require(request, Permission.READ)
    incident = await _incident(request)
    await request.app[DATABASE].record_action(who["name"], "video.viewed", incident["id"], via="mjpeg")
    return await stream_mjpeg(request, request.app[LIVE], incident["id"], lambda: still_signed_in(request))


@routes.post("/api/incidents/{id}/embeds")
async def create_embed(request: web.Request) -> web.Response:
    who = require(request, Permission.ACT)
    incident = await _incident(request)
    body = await json_body(request)
    limit = request.app[SETTINGS].media.embed_token_seconds
    ttl = body.get("ttl_seconds", limit)
    if not isinstance(ttl, int) or isinstance(ttl, bool) or not 60 <= ttl <= limit:
        return json_error(400, "invalid_ttl", f"ttl_seconds must be a whole number from 60 to {limit}")
    token = new_secret(24)
    created = await request.app[ACCOUNTS].add_embed_token(
        digest(token), incident["id"], who["name"], utcnow() + timedelta(seconds=ttl)
    )
    url = f"{request.app[SETTINGS].public_url}/embed/{token}"
    return web.json_response({**created, "url": url}, status=201)


@routes.get("/api/me/preferences")
async def get_preferences(request: web.Request) -> web.Response:
    who = require(request, Permission.READ)
    stored = await request.app[ACCOUNTS].preferences(who["name"]) if who["via"] == "session" else {}
    return web.json_response({"blur_video": bool(stored.get("blur_video", False))})


@routes.put("/api/me/preferences")
async def set_preferences(request: web.Request) -> web.Response:
    who = require(request, Permission.READ)
    if who["via"] != "session":
        return json_error(400, "not_an_operator", "preferences belong to signed-in operators")
    body = await json_body(request)
    for key, value in body.items():
        if key not in PREFERENCES or not isinstance(value, PREFERENCES[key]):
            return json_error(400, "invalid_preference", f"unknown preference or wrong type: {key}")
    merged = {**await request.app[ACCOUNTS].preferences(who["name"]), **body}
    await request.app[ACCOUNTS].set_preferences(who["name"], merged)
    return web.json_response({"blur_video": bool(merged.get("blur_video", False))})
