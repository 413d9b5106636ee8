"""Advanced Mobile Location in: the network's HTTPS feed, an SMS receiver, and offers to handlers.

``POST /api/aml`` takes the ETSI TS 103 625 HTTPS form (``application/x-www-form-urlencoded``);
``POST /api/aml/sms`` takes an AML text as an SMS receiver hands it on (``from`` and ``text``). Both
need a bearer token of the ``aml`` role, which can do nothing else. A damaged message is answered
422 with the reason and nothing is recorded; a whole one is recorded and answered 200 with what
became of it.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from gis.aml import AmlError, AmlReport, parse_https, parse_sms

from ..auth import Permission
from ..caller.aml_intake import AmlRefused
from .auth import require
from .incidents import _incident
from .keys import AML, OPERATOR
from .security import json_error

routes = web.RouteTableDef()

MAX_AML_BODY = 8 * 1024
FORM = "application/x-www-form-urlencoded"


async def _fields(request: web.Request) -> dict[str, Any]:
    if request.content_length is not None and request.content_length > MAX_AML_BODY:
        raise web.HTTPRequestEntityTooLarge(max_size=MAX_AML_BODY, actual_size=request.content_length)
    if request.content_type == FORM:
        return {k: v for k, v in (await request.post()).items() if isinstance(v, str)}
    if request.content_type == "application/json":
        try:
            body = await request.json()
        except ValueError:
            body = None
        if isinstance(body, dict):
            return {str(k): v if isinstance(v, str) else str(v) for k, v in body.items() if v is not None}
    raise web.HTTPUnsupportedMediaType(
        text=f'{{"error": "unsupported_media_type", "message": "send {FORM} (or a JSON object)"}}',
        content_type="application/json",
    )


async def _take(request: web.Request, report: AmlReport, envelope: str | None) -> web.Response:
    try:
        outcome = await request.app[AML].receive(report, envelope, request[OPERATOR]["name"])
    except AmlRefused as exc:
        return json_error(422, exc.code, str(exc))
    return web.json_response(outcome.to_json())


@routes.post("/api/aml")
async def aml_https(request: web.Request) -> web.Response:
    require(request, Permission.AML_IN)
    try:
        report = parse_https(await _fields(request))
    except AmlError as exc:
        return json_error(422, "invalid_aml", str(exc))
    return await _take(request, report, None)


@routes.post("/api/aml/sms")
async def aml_sms(request: web.Request) -> web.Response:
    require(request, Permission.AML_IN)
    fields = await _fields(request)
    text, sender = fields.get("text"), fields.get("from")
    if not text or not sender:
        return json_error(400, "missing_field", "send the SMS sender as 'from' and its text as 'text'")
    try:
        report = parse_sms(text)
    except AmlError as exc:
        return json_error(422, "invalid_aml", str(exc))
    return await _take(request, report, sender)


@routes.get("/api/incidents/{id}/aml")
async def offers(request: web.Request) -> web.Response:
    """Kept AML positions for the incident's number, newest first, to add to the incident."""
    require(request, Permission.READ)
    incident = await _incident(request)
    return web.json_response({"reports": await request.app[AML].offers(incident["caller_phone"])})


@routes.post("/api/incidents/{id}/aml/{report_id}/attach")
async def attach(request: web.Request) -> web.Response:
    who = require(request, Permission.ACT)
    incident = await _incident(request)
    try:
        report_id = int(request.match_info["report_id"])
    except ValueError:
        report_id = 0
    if not 0 < report_id < 2**31:
        return json_error(404, "not_found", "no such AML report")
    report = await request.app[AML].records.get(report_id)
    if report is None or report["msisdn"] != incident["caller_phone"]:
        return json_error(404, "not_found", "no AML report for this incident's number with this id")
    fix = await request.app[AML].attach(report_id, incident["id"], who["name"])
    if fix is None:
        return json_error(409, "already_attached", "this AML report is already a fix of an incident")
    return web.json_response(fix, status=201)
