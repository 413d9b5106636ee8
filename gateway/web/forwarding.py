"""Operators' requests about a caller held by another node, answered by that node.

A caller's live session (peer connection, latest frames, the page's latest status, the data
channel to it) lives in one node's memory. An operator may reach any node: when the request needs
the live session and another node holds it (the session directory says so), this node passes the
request on to the holder, as the operator it already authenticated, and relays the answer.

The holder accepts the operator's identity only from a node presenting the shared node secret
(``Authorization: Node ...``); the identity travels as JSON in ``X-Scenelink-Operator``. Viewer
offers have their own path (:mod:`gateway.web.nodes`); the MJPEG stream is not forwarded.
"""

from __future__ import annotations

import json
import logging
import re
from typing import Any

import aiohttp
from aiohttp import web

from ..auth import same
from .keys import DIRECTORY, LIVE, OPERATOR, SETTINGS
from .security import Handler

log = logging.getLogger(__name__)

OPERATOR_HEADER = "X-Scenelink-Operator"
FORWARD_TIMEOUT = aiohttp.ClientTimeout(total=30)
# What needs the caller's live session: (method, path) patterns.
LIVE_ROUTES = [
    ("POST", re.compile(r"^/api/incidents/(?P<id>[^/]+)/snapshots$")),
    ("PUT", re.compile(r"^/api/incidents/(?P<id>[^/]+)/media-policy$")),
    ("GET", re.compile(r"^/api/incidents/(?P<id>[^/]+)/stream$")),
    ("POST", re.compile(r"^/api/incidents/(?P<id>[^/]+)/messages$")),
    ("POST", re.compile(r"^/api/incidents/(?P<id>[^/]+)/camera$")),
    ("GET", re.compile(r"^/api/incidents/(?P<id>[^/]+)/caller$")),
]
PASSED_HEADERS = ("Content-Type", "Accept", "Accept-Language")


def live_incident(method: str, path: str) -> str | None:
    """The incident whose live session the request needs, or None."""
    for wanted, pattern in LIVE_ROUTES:
        if method == wanted:
            match = pattern.match(path)
            if match:
                return match.group("id")
    return None


def forwarded_operator(request: web.Request) -> dict[str, Any] | None:
    """The operator a node vouches for (it presented the node secret), or None."""
    secret = request.app[SETTINGS].node_secret
    header = request.headers.get("Authorization", "")
    if not secret or not header.startswith("Node ") or not same(header[5:], secret):
        return None
    try:
        who = json.loads(request.headers.get(OPERATOR_HEADER, ""))
        return {"name": str(who["name"]), "role": str(who["role"]), "via": "node"}
    except (ValueError, KeyError, TypeError):
        return None


@web.middleware
async def to_the_holder(request: web.Request, handler: Handler) -> web.StreamResponse:
    incident_id = live_incident(request.method, request.path)
    secret = request.app[SETTINGS].node_secret
    if (
        incident_id is None or not secret or OPERATOR not in request
        or request[OPERATOR].get("via") == "node" or incident_id in request.app[LIVE].by_incident
    ):
        return await handler(request)
    holder = await request.app[DIRECTORY].holder(incident_id)
    if holder is None:
        return await handler(request)
    who = request[OPERATOR]
    headers = {name: request.headers[name] for name in PASSED_HEADERS if name in request.headers}
    headers["Authorization"] = f"Node {secret}"
    headers[OPERATOR_HEADER] = json.dumps({"name": who["name"], "role": who["role"]})
    body = await request.read()
    log.info("%s %s forwarded to node %s, which holds the caller", request.method, request.path, holder.node)
    async with aiohttp.ClientSession(timeout=FORWARD_TIMEOUT) as session:
        async with session.request(
            request.method, holder.url.rstrip("/") + request.path_qs, data=body or None, headers=headers,
            ssl=request.app[SETTINGS].node_tls_verify,
        ) as resp:
            payload = await resp.read()
            return web.Response(
                body=payload, status=resp.status,
                headers={"Content-Type": resp.headers.get("Content-Type", "application/json")},
            )
