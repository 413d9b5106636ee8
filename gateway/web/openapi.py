"""The API's contract: an OpenAPI 3.1 description of every operator and caller endpoint.

Built from the table below and served at ``GET /api/openapi.json``. A test compares it with the
application's routes in both directions, so an endpoint added without its entry here (or an entry
left behind by a removed endpoint) fails the suite; schemathesis fuzzes a live gateway against it.
Only the static file trees (``/static/...``) are left out: they serve files, not an API.
"""

from __future__ import annotations

import re
from typing import Any

from aiohttp import web

from ..links import MODES, VIDEO

routes = web.RouteTableDef()

VERSION = "1.0.0"
UNDOCUMENTED_PREFIXES = ("/static/",)

JSON = "application/json"
OPERATOR: list[dict[str, list[str]]] = [{"bearer": []}, {"session": []}]
AML_FEED: list[dict[str, list[str]]] = [{"bearer": []}]
PUBLIC: list[dict[str, list[str]]] = []


def _obj(required: tuple[str, ...] = (), **properties: Any) -> dict[str, Any]:
    schema: dict[str, Any] = {"type": "object", "properties": properties}
    if required:
        schema["required"] = list(required)
    return schema


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _list_of(key: str, item: dict[str, Any]) -> dict[str, Any]:
    return _obj((key,), **{key: {"type": "array", "items": item}})


STR = {"type": "string"}
NSTR = {"type": ["string", "null"]}
INT = {"type": "integer"}
NUM = {"type": "number"}
NNUM = {"type": ["number", "null"]}
BOOL = {"type": "boolean"}
ANY_OBJ = {"type": "object"}
LINK_MODE = {
    "type": "string", "enum": list(MODES), "default": VIDEO,
    "description": "What the caller is asked to share: camera and location (video), or location alone"
                   " (location: the page never asks for the camera, and the text does not mention it).",
}

SCHEMAS: dict[str, Any] = {
    "Error": _obj(("error", "message"), error=STR, message=STR),
    "Fix": _obj(
        ("id", "latitude", "longitude", "placement"),
        id=INT, session_id=NSTR, seq=INT, latitude=NUM, longitude=NUM, accuracy=NNUM, altitude=NNUM,
        heading=NNUM, speed=NNUM, device_time=NSTR, received_at=NSTR, sha256=STR,
        source={"enum": ["caller", "aml"]}, placement=ANY_OBJ,
    ),
    "Incident": _obj(
        ("id", "reference", "caller_phone", "created_at"),
        id=STR, reference=STR, caller_phone=STR, created_at=STR, created_by=STR, ended_at=NSTR,
        state=NSTR, latest_fix={"anyOf": [_ref("Fix"), {"type": "null"}]}, media_policy=ANY_OBJ,
    ),
    "Snapshot": _obj(
        ("id", "sha256", "url"), id=STR, incident_id=STR, sha256=STR, width=INT, height=INT, bytes=INT,
        taken_at=STR, taken_by=STR, reason=STR, url=STR,
    ),
    "Message": _obj(("id", "direction", "kind", "text"), id=STR, direction=STR, kind=STR, text=STR, language=STR),
    "AmlReport": _obj(
        ("id", "msisdn", "method"), id=INT, received_at=STR, transport=STR, msisdn=STR, incident_id=NSTR,
        fix_id={"type": ["integer", "null"]}, latitude=NNUM, longitude=NNUM, accuracy=NNUM, device_time=NSTR,
        method=STR, confidence=NNUM,
    ),
    "AmlOutcome": _obj(
        ("outcome", "report_id"), outcome={"enum": ["attached", "kept", "no_fix"]}, report_id=INT,
        incident_id=NSTR, fix_id={"type": ["integer", "null"]},
    ),
    "Delivery": _obj(
        ("delivery_id", "endpoint", "incident_id", "event_type", "state", "attempts"),
        delivery_id=STR, endpoint=STR, incident_id=STR, event_type=STR,
        state={"enum": ["pending", "delivered", "dead"]}, attempts=INT, created_at=STR, next_attempt_at=NSTR,
        delivered_at=NSTR, last_error=NSTR,
    ),
    "SessionDescription": _obj(("sdp", "type"), sdp=STR, type=STR),
    # The media plane's reply to a viewer's offer: an answer, or (Janus) its own offer, which the
    # viewer answers at .../viewer/{viewer}/answer.
    "ViewerReply": _obj(("sdp", "type"), sdp=STR, type={"type": "string", "enum": ["answer", "offer"]},
                        viewer=STR),
    "Results": _obj(("results",), results={"type": "array", "items": ANY_OBJ}),
}


def _content(kind: str, schema: Any | None = None) -> dict[str, Any]:
    if kind in (JSON, "application/geo+json"):
        return {kind: {"schema": schema if schema is not None else ANY_OBJ}}
    return {kind: {"schema": {"type": "string"} if not kind.startswith(("image/", "video/", "application/zip"))
                   else {"type": "string", "format": "binary"}}}


def _op(
    summary: str,
    tag: str,
    ok: dict[int, tuple[str, Any]],
    security: list[dict[str, list[str]]],
    body: dict[str, Any] | None = None,
    query: dict[str, Any] | None = None,
) -> dict[str, Any]:
    op: dict[str, Any] = {"summary": summary, "tags": [tag], "security": security, "responses": {}}
    for status, (kind, schema) in ok.items():
        response: dict[str, Any] = {"description": summary if status < 300 else "see the summary"}
        if kind:
            response["content"] = _content(kind, schema)
        op["responses"][str(status)] = response
    # Refusals and errors: JSON {"error", "message"} from the API; pages answer HTML or redirect.
    op["responses"]["default"] = {"description": "refused or failed", "content": {
        JSON: {"schema": _ref("Error")}, "text/html": {"schema": STR}, "text/plain": {"schema": STR}}}
    if body is not None:
        op["requestBody"] = {"required": True, "content": body}
    if query:
        op["parameters"] = [
            {"name": name, "in": "query", "required": False, "schema": schema} for name, schema in query.items()
        ]
    return op


def _json_body(schema: dict[str, Any]) -> dict[str, Any]:
    return {JSON: {"schema": schema}}


def _form(schema: dict[str, Any]) -> dict[str, Any]:
    return {"application/x-www-form-urlencoded": {"schema": schema}}


HTML = ("text/html", None)
EMPTY = ("", None)


def _j(schema: Any = None) -> tuple[str, Any]:
    return (JSON, schema)


# (method, path) -> operation. Path parameters are strings unless said otherwise below.
OPERATIONS: dict[tuple[str, str], dict[str, Any]] = {
    # -- pages and sign-in ---------------------------------------------------------------------
    ("get", "/"): _op("The home page: redirects to the operator's page", "pages", {303: EMPTY, 200: HTML}, PUBLIC),
    ("get", "/healthz"): _op("Liveness", "operations", {200: _j()}, PUBLIC),
    ("get", "/readyz"): _op("Readiness for load balancers", "operations", {200: _j(), 503: _j()}, PUBLIC),
    ("get", "/metrics"): _op("Prometheus metrics (by address or token)", "operations",
                             {200: ("text/plain", None)}, PUBLIC),
    ("get", "/login"): _op("The sign-in form", "pages", {200: HTML}, PUBLIC),
    ("post", "/login"): _op("Sign in", "pages", {303: EMPTY, 200: HTML}, PUBLIC, body=_form(_obj(
        ("username", "password", "csrf"), username=STR, password=STR, csrf=STR, next=STR))),
    ("post", "/logout"): _op("Sign out", "pages", {303: EMPTY}, PUBLIC),
    ("get", "/account/password"): _op("The form to choose a new password", "pages", {200: HTML}, OPERATOR),
    ("post", "/account/password"): _op("Choose a new password", "pages", {303: EMPTY, 200: HTML}, OPERATOR,
                                       body=_form(_obj(("current", "new", "again", "csrf"), current=STR, new=STR,
                                                       again=STR, csrf=STR))),
    ("get", "/console"): _op("The call handler's console", "pages", {200: HTML}, OPERATOR),
    ("get", "/dispatch"): _op("The dispatcher's map", "pages", {200: HTML}, OPERATOR),
    ("get", "/api/me"): _op("Who is signed in, and the session's CSRF token", "operators", {200: _j(_obj(
        ("username", "role"), username=STR, role=STR, csrf_token=NSTR))}, OPERATOR),
    ("get", "/api/client-config"): _op("Settings the pages need", "operators", {200: _j()}, OPERATOR),
    ("get", "/api/layers/{level}"): _op("A boundary layer as GeoJSON (WGS84)", "operators",
                                        {200: ("application/geo+json", None)}, OPERATOR),
    ("get", "/api/me/preferences"): _op("The operator's viewing preferences", "operators", {200: _j()}, OPERATOR),
    ("put", "/api/me/preferences"): _op("Change the viewing preferences", "operators", {200: _j()}, OPERATOR,
                                        body=_json_body(_obj(blur_video=BOOL))),
    ("get", "/api/openapi.json"): _op("This description", "operators", {200: _j()}, OPERATOR),
    ("get", "/api/search"): _op("Find a place or an incident", "operators", {200: _j()}, OPERATOR, query={"q": STR}),
    # -- incidents -----------------------------------------------------------------------------
    ("post", "/api/incidents"): _op("Open an incident", "incidents", {201: _j(_ref("Incident"))}, OPERATOR,
                                    body=_json_body(_obj(("reference", "caller_phone"), reference=STR,
                                                         caller_phone=STR))),
    ("get", "/api/incidents"): _op("List incidents", "incidents", {200: _j(_list_of("incidents", _ref("Incident")))},
                                   OPERATOR, query={"active": STR}),
    ("get", "/api/incidents/{id}"): _op("The whole record of an incident", "incidents", {200: _j(_ref("Incident"))},
                                        OPERATOR),
    ("post", "/api/incidents/{id}/links"): _op("Text the caller a link", "incidents", {201: _j(_obj(
        ("id", "url", "state", "mode"), id=STR, url=STR, state=STR, mode=LINK_MODE))}, OPERATOR,
        body=_json_body(_obj(language=STR, mode=LINK_MODE))),
    ("post", "/api/incidents/{id}/links/{link_id}/revoke"): _op("Revoke a link", "incidents", {200: _j()}, OPERATOR),
    ("post", "/api/incidents/{id}/snapshots"): _op("Take a snapshot", "incidents", {201: _j(_ref("Snapshot"))},
                                                   OPERATOR, body=_json_body(_obj(allow_stale=BOOL))),
    ("get", "/api/snapshots/{id}"): _op("A snapshot's JPEG", "incidents", {200: ("image/jpeg", None)}, OPERATOR),
    ("get", "/api/snapshots/{id}/thumbnail"): _op("A snapshot's thumbnail", "incidents",
                                                  {200: ("image/jpeg", None)}, OPERATOR),
    ("get", "/api/recordings/{id}"): _op("A recording segment", "incidents",
                                         {200: ("video/mp4", None)}, OPERATOR),
    ("post", "/api/incidents/{id}/end"): _op("End the incident", "incidents", {200: _j(_ref("Incident"))}, OPERATOR),
    ("put", "/api/incidents/{id}/media-policy"): _op("Change snapshots and recording", "incidents", {200: _j()},
                                                     OPERATOR, body=_json_body(_obj(
                                                         snapshot_interval_seconds={"type": ["integer", "null"]},
                                                         scene_change_snapshots=BOOL, recording=BOOL))),
    ("get", "/api/incidents/{id}/stream"): _op("The live stream's health", "incidents", {200: _j()}, OPERATOR),
    ("get", "/api/incidents/{id}/mjpeg"): _op("Live video as MJPEG", "incidents",
                                              {200: ("multipart/x-mixed-replace", None)}, OPERATOR),
    ("post", "/api/incidents/{id}/embeds"): _op("A scoped link to the embeddable viewer", "incidents",
                                                {201: _j(_obj(("url",), url=STR))}, OPERATOR,
                                                body=_json_body(_obj(ttl_seconds=INT))),
    ("post", "/api/incidents/{id}/viewer"): _op("Watch: answer a viewer's WebRTC offer (or counter it)", "incidents",
                                                {200: _j(_ref("ViewerReply"))}, OPERATOR,
                                                body=_json_body(_ref("SessionDescription"))),
    ("post", "/api/incidents/{id}/viewer/{viewer}/answer"): _op(
        "The viewer's answer to the media plane's offer", "incidents", {200: _j()}, OPERATOR,
        body=_json_body(_ref("SessionDescription"))),
    ("get", "/api/incidents/{id}/events"): _op("The incident's live events (WebSocket)", "incidents",
                                               {101: EMPTY}, OPERATOR),
    ("get", "/api/events"): _op("Every incident's live events (WebSocket)", "incidents", {101: EMPTY}, OPERATOR),
    ("get", "/api/incidents/{id}/trail"): _op("The caller's recent fixes", "incidents", {200: _j()}, OPERATOR),
    ("get", "/api/phrases"): _op("The phrase book", "conversation", {200: _j()}, OPERATOR),
    ("get", "/api/incidents/{id}/messages"): _op("The silent conversation", "conversation",
                                                 {200: _j(_list_of("messages", _ref("Message")))}, OPERATOR),
    ("post", "/api/incidents/{id}/messages"): _op("Send the caller a phrase or words", "conversation",
                                                  {201: _j(_ref("Message"))}, OPERATOR,
                                                  body=_json_body(_obj(phrase=STR, text=STR, language=STR))),
    ("post", "/api/incidents/{id}/camera"): _op("Ask for the caller's other camera or torch", "conversation",
                                                {200: _j()}, OPERATOR, body=_json_body(_obj(facing=STR, torch=BOOL))),
    ("get", "/api/incidents/{id}/caller"): _op("The caller's page as it last reported", "conversation",
                                               {200: _j()}, OPERATOR),
    # -- exports -------------------------------------------------------------------------------
    ("get", "/api/incidents/{id}/location.pidf"): _op("The latest fix as PIDF-LO", "exports",
                                                      {200: ("application/pidf+xml", None)}, OPERATOR),
    ("get", "/api/incidents/{id}/fixes.geojson"): _op("Every fix as GeoJSON", "exports",
                                                      {200: ("application/geo+json", None)}, OPERATOR),
    ("get", "/api/incidents/{id}/eido"): _op("The incident as an EIDO (NENA-STA-021.1a JSON)", "exports",
                                             {200: _j()}, OPERATOR),
    ("get", "/api/incidents/{id}/bundle"): _op("An evidence bundle (zip)", "exports",
                                               {200: ("application/zip", None)}, OPERATOR),
    ("get", "/api/audit/head"): _op("The audit chain's head", "exports", {200: _j(_obj(("entries",), entries=INT,
                                                                                        hash=NSTR))}, OPERATOR),
    # -- the base map ------------------------------------------------------------------------------
    ("get", "/tiles/{name}.pmtiles"): _op(
        "A PMTiles vector map, by HTTP Range", "map",
        {200: ("application/octet-stream", None), 206: ("application/octet-stream", None)}, OPERATOR),
    ("get", "/tiles/remote/{z}/{x}/{y}"): _op("A tile from the force's tile service, proxied", "map",
                                              {200: ("image/png", None)}, OPERATOR),
    # -- retention and legal hold --------------------------------------------------------------
    ("put", "/api/incidents/{id}/hold"): _op("Place a legal hold", "retention", {200: _j()}, OPERATOR,
                                             body=_json_body(_obj(("reason",), reason=STR))),
    ("delete", "/api/incidents/{id}/hold"): _op("Lift a legal hold", "retention", {200: _j()}, OPERATOR,
                                                body=_json_body(_obj(("reason",), reason=STR))),
    ("get", "/api/retention"): _op("What the next retention purge would remove, and why", "retention",
                                   {200: _j(_obj(("incidents",), incidents={"type": "array"}))}, OPERATOR),
    # -- administration (admin role) -----------------------------------------------------------
    ("get", "/admin"): _op("The administrator's page", "admin", {200: HTML}, OPERATOR),
    ("get", "/api/admin/operators"): _op("Operators", "admin", {200: _j()}, OPERATOR),
    ("post", "/api/admin/operators/{name}/{action}"): _op(
        "Disable, enable, sign out or reset an operator (action: disable, enable, logout, reset-password)",
        "admin", {200: _j()}, OPERATOR),
    ("get", "/api/admin/tokens"): _op("Bearer tokens (never their secrets)", "admin", {200: _j()}, OPERATOR),
    ("post", "/api/admin/tokens/{name}/revoke"): _op("Revoke a token", "admin", {200: _j()}, OPERATOR),
    ("get", "/api/admin/embeds"): _op("Embedded live views", "admin", {200: _j()}, OPERATOR),
    ("post", "/api/admin/embeds/{id}/revoke"): _op("Withdraw an embedded live view", "admin", {200: _j()}, OPERATOR),
    ("post", "/api/admin/incidents/{id}/embeds/revoke"): _op("Withdraw every embedded view of an incident", "admin",
                                                              {200: _j()}, OPERATOR),
    # -- AML and webhooks ----------------------------------------------------------------------
    ("post", "/api/aml"): _op("Hand in an AML message (ETSI TS 103 625 HTTPS form)", "aml",
                              {200: _j(_ref("AmlOutcome"))}, AML_FEED, body=_form(_obj(
                                  location_latitude=STR, location_longitude=STR, location_accuracy=STR,
                                  location_time=STR, location_source=STR, location_confidence=STR,
                                  device_number=STR, emergency_number=STR, device_imei=STR, device_imsi=STR))),
    ("post", "/api/aml/sms"): _op("Hand in an AML SMS text", "aml", {200: _j(_ref("AmlOutcome"))}, AML_FEED,
                                  body=_json_body(_obj(("from", "text"), **{"from": STR, "text": STR}))),
    ("get", "/api/incidents/{id}/aml"): _op("AML positions kept for the incident's number", "aml",
                                            {200: _j(_list_of("reports", _ref("AmlReport")))}, OPERATOR),
    ("post", "/api/incidents/{id}/aml/{report_id}/attach"): _op("Add a kept AML position to the incident", "aml",
                                                                {201: _j(_ref("Fix"))}, OPERATOR),
    ("get", "/api/webhooks"): _op("Webhook endpoints and delivery counts", "webhooks", {200: _j(_obj(
        ("endpoints", "counts"), endpoints={"type": "array"}, counts=ANY_OBJ))}, OPERATOR),
    ("get", "/api/webhooks/deliveries"): _op("Webhook deliveries, newest first", "webhooks",
                                             {200: _j(_list_of("deliveries", _ref("Delivery")))}, OPERATOR,
                                             query={"state": {"enum": ["pending", "delivered", "dead"]}}),
    ("post", "/api/webhooks/deliveries/{delivery_id}/retry"): _op("Retry a dead delivery", "webhooks",
                                                                  {200: _j(_ref("Delivery"))}, OPERATOR),
    # -- SMS providers' receipts ---------------------------------------------------------------
    ("post", "/sms/twilio/status"): _op("Twilio delivery receipt (signed)", "sms", {204: EMPTY, 200: EMPTY}, PUBLIC),
    ("post", "/sms/notify/status"): _op("GOV.UK Notify delivery receipt (bearer)", "sms",
                                        {204: EMPTY, 200: EMPTY}, PUBLIC),
    # -- the caller's side (the token in the path is the capability) -------------------------
    ("get", "/c/{token}"): _op("The caller's page", "caller", {200: HTML}, PUBLIC),
    ("post", "/c/{token}/consent"): _op("The caller agrees to share", "caller", {200: _j()}, PUBLIC,
                                        body=_json_body(ANY_OBJ)),
    ("post", "/c/{token}/ice"): _op("Fresh ICE servers (a new TURN credential) for the next connection", "caller",
                                    {200: _j()}, PUBLIC),
    ("post", "/c/{token}/offer"): _op("The caller's WebRTC offer", "caller", {200: _j(_ref("SessionDescription"))},
                                      PUBLIC, body=_json_body(_ref("SessionDescription"))),
    ("post", "/c/{token}/end"): _op("The caller stops sharing", "caller", {200: _j()}, PUBLIC),
    ("post", "/c/{token}/status"): _op("The caller's page reports its state", "caller", {200: _j()}, PUBLIC,
                                       body=_json_body(ANY_OBJ)),
    ("get", "/c/{token}/messages"): _op("Messages for the caller", "caller", {200: _j()}, PUBLIC),
    ("post", "/c/{token}/messages"): _op("The caller's silent reply", "caller", {200: _j(), 201: _j()}, PUBLIC,
                                         body=_json_body(ANY_OBJ)),
    ("post", "/c/{token}/fixes"): _op("Fixes over HTTPS", "caller", {200: _j(_ref("Results"))}, PUBLIC,
                                      body=_json_body(_obj(("fixes",), fixes={"type": "array"}))),
    ("post", "/c/{token}/stills"): _op("A still photo over HTTPS", "caller", {201: _j(), 200: _j()}, PUBLIC,
                                       body={"image/jpeg": {"schema": {"type": "string", "format": "binary"}}}),
    # -- between nodes (the shared node secret) -------------------------------------------------
    ("post", "/internal/viewer"): _op("Another node forwards a viewer's offer to the node holding the caller",
                                      "nodes", {200: _j(_ref("ViewerReply"))}, [{"node": []}],
                                      body=_json_body(_obj(("incident_id", "sdp"), incident_id=STR, sdp=STR,
                                                           operator=STR))),
    ("post", "/internal/viewer/answer"): _op(
        "Another node forwards a viewer's answer to the node holding the caller", "nodes", {200: _j()},
        [{"node": []}], body=_json_body(_obj(("incident_id", "viewer", "sdp"), incident_id=STR, viewer=STR,
                                             sdp=STR, operator=STR))),
    # -- the embeddable viewer (the token in the path is the capability) -----------------------
    ("get", "/embed/{token}"): _op("The embeddable viewer", "embed", {200: HTML}, PUBLIC),
    ("post", "/embed/{token}/ice"): _op("Fresh ICE servers (a TURN credential) for the view's next connection",
                                        "embed", {200: _j()}, PUBLIC),
    ("post", "/embed/{token}/viewer"): _op("The viewer's WebRTC offer", "embed",
                                           {200: _j(_ref("ViewerReply"))}, PUBLIC,
                                           body=_json_body(_ref("SessionDescription"))),
    ("post", "/embed/{token}/viewer/{viewer}/answer"): _op(
        "The viewer's answer to the media plane's offer", "embed", {200: _j()}, PUBLIC,
        body=_json_body(_ref("SessionDescription"))),
    ("get", "/embed/{token}/mjpeg"): _op("Live video as MJPEG", "embed",
                                         {200: ("multipart/x-mixed-replace", None)}, PUBLIC),
}

INTEGER_PARAMETERS = {"report_id", "z", "x", "y"}


def _path_parameters(path: str) -> list[dict[str, Any]]:
    names = re.findall(r"\{(\w+)\}", path)
    return [
        {"name": name, "in": "path", "required": True,
         "schema": INT if name in INTEGER_PARAMETERS else {"type": "string", "minLength": 1}}
        for name in names
    ]


def document() -> dict[str, Any]:
    """The whole OpenAPI 3.1 document."""
    paths: dict[str, dict[str, Any]] = {}
    for (method, path), operation in sorted(OPERATIONS.items(), key=lambda item: (item[0][1], item[0][0])):
        entry = paths.setdefault(path, {})
        parameters = _path_parameters(path)
        if parameters:
            entry["parameters"] = parameters
        entry[method] = {**operation, "operationId": f"{method}_{path}".replace("/", "_").strip("_")}
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "scenelink",
            "version": VERSION,
            "description": "Operators' API (session cookie with X-CSRF-Token, or a bearer token), the caller's "
                           "side (the link's token is the capability) and the embeddable viewer. "
                           "See docs/api.md.",
        },
        "paths": paths,
        "components": {
            "schemas": SCHEMAS,
            "securitySchemes": {
                "bearer": {
                    "type": "http", "scheme": "bearer", "description": "scenelink tokens create NAME --role ROLE",
                },
                "session": {"type": "apiKey", "in": "cookie", "name": "scenelink_session"},
                "node": {"type": "apiKey", "in": "header", "name": "Authorization",
                         "description": "Node <the nodes' shared secret>"},
            },
        },
    }


@routes.get("/api/openapi.json")
async def openapi(request: web.Request) -> web.Response:
    return web.json_response(document())
