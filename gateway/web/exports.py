"""Exports of the incident record: PIDF-LO, GeoJSON and evidence bundles."""

from __future__ import annotations

import asyncio
import json
import logging
from urllib.parse import urlsplit

from aiohttp import web

from ..auth import Permission
from ..exports.bundle import build_bundle
from ..exports.eido import eido
from ..exports.geojson import fixes_geojson
from ..exports.pidf_lo import MEDIA_TYPE, pidf_lo
from ..record.database import iso, utcnow
from ..record.evidence import ChainBroken, export_incident
from .auth import require
from .incidents import _incident
from .keys import BLOBS, CHECKPOINTS, DATABASE, INCIDENTS, SETTINGS
from .security import json_error

log = logging.getLogger(__name__)
routes = web.RouteTableDef()


@routes.get("/api/incidents/{id}/location.pidf")
async def location(request: web.Request) -> web.Response:
    require(request, Permission.READ)
    record = await _incident(request, whole=True)
    if not record["latest_fix"]:
        return json_error(404, "no_fix", "no position has been received for this incident")
    entity = f"pres:{record['reference']}@{request.host.split(':')[0]}"
    return web.Response(text=pidf_lo(entity, record["latest_fix"]), content_type=MEDIA_TYPE)


@routes.get("/api/incidents/{id}/eido")
async def incident_eido(request: web.Request) -> web.Response:
    """The incident as an EIDO (NENA-STA-021.1a JSON) for a command-and-control system."""
    require(request, Permission.READ)
    record = await _incident(request, whole=True)
    base = request.app[SETTINGS].public_url
    host = urlsplit(base).hostname or request.host.split(":")[0]
    return web.json_response(eido(record, base, host, iso(utcnow()) or ""))


@routes.get("/api/incidents/{id}/fixes.geojson")
async def fixes(request: web.Request) -> web.Response:
    require(request, Permission.READ)
    record = await _incident(request, whole=True)
    body = json.dumps(fixes_geojson(record["reference"], record["fixes"]))
    return web.Response(text=body, content_type="application/geo+json")


@routes.get("/api/audit/head")
async def audit_head(request: web.Request) -> web.Response:
    require(request, Permission.AUDIT)
    head = await request.app[DATABASE].head()
    return web.json_response({"entries": head["seq"] if head else 0, "hash": head["hash"] if head else None,
                              "seq": head["seq"] if head else 0, "at": head["at"] if head else None})


@routes.get("/api/incidents/{id}/bundle")
async def bundle(request: web.Request) -> web.Response:
    """The evidence bundle; refused (409, audited) when the stored chain does not verify."""
    who = require(request, Permission.AUDIT)
    record = await _incident(request)
    database = request.app[DATABASE]
    try:
        made = await export_incident(
            database, request.app[INCIDENTS], request.app[CHECKPOINTS], record["id"], who["name"]
        )
    except ChainBroken as exc:
        log.error("export of %s refused: %s", record["id"], exc)
        await database.record_action(who["name"], "bundle.refused", record["id"], reason=str(exc))
        return json_error(409, "chain_broken", f"the audit chain does not verify, so no bundle is made: {exc}")
    blobs = request.app[BLOBS]
    # Reading every file and zipping them is slow work: keep it off the event loop.
    data = await asyncio.to_thread(
        build_bundle, made.record, made.chain, blobs.get, made.checkpoints, made.export
    )
    name = f"scenelink-{record['reference']}.zip".replace("/", "-")
    return web.Response(
        body=data, content_type="application/zip",
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )
