"""Between gateway nodes: an operator's viewer offer answered by the node that holds the caller.

With Janus as the media plane the holding node replies with Janus's offer instead, and the
viewer's answer to it is forwarded the same way (``/internal/viewer/answer``).

A caller's peer connection lives on one node; operators may land on any. When the node an
operator reached does not hold the caller, it forwards the (already authorised) offer to the node
that does, named by the session directory (:mod:`gateway.nodes`); that node answers with its own
ICE candidates, so the media flows between the operator and the holding node directly.

The internal route is for nodes only: it needs the shared node secret
(``SCENELINK_NODE_SECRET``), is off when none is configured, and the documented nginx
configuration does not expose it.
"""

from __future__ import annotations

import logging

import aiohttp
from aiohttp import web

from ..auth import same
from ..live import NoStream
from ..media.sdp import SdpError, parse_answer, parse_offer
from .incidents import json_body
from .keys import DIRECTORY, LIVE, SETTINGS
from .security import json_error

log = logging.getLogger(__name__)
routes = web.RouteTableDef()

FORWARD_TIMEOUT = aiohttp.ClientTimeout(total=20)


async def viewer_answer(app: web.Application, incident_id: str, offer_sdp: str, operator: str) -> dict[str, str]:
    """The media plane's reply to a viewer's offer, from whichever node holds the caller: an
    answer, or an offer of the plane's own (see :class:`gateway.media.plane.ViewerReply`);
    :class:`NoStream` if no node holds the caller's video."""
    try:
        return (await app[LIVE].add_viewer(incident_id, offer_sdp, operator)).to_json()
    except NoStream:
        holder = await app[DIRECTORY].holder(incident_id)
        secret = app[SETTINGS].node_secret
        if holder is None or not secret:
            raise
    log.info("viewer of %s forwarded to node %s", incident_id, holder.node)
    async with aiohttp.ClientSession(timeout=FORWARD_TIMEOUT) as session:
        async with session.post(
            f"{holder.url.rstrip('/')}/internal/viewer",
            json={"incident_id": incident_id, "sdp": offer_sdp, "operator": operator},
            headers={"Authorization": f"Node {secret}"},
            ssl=app[SETTINGS].node_tls_verify,
        ) as resp:
            body = await resp.json(content_type=None)
            if resp.status == 409:
                raise NoStream(str(body.get("message", "the caller is not streaming video")))
            if resp.status == 400:
                raise ValueError(str(body.get("message", "invalid offer")))
            if resp.status != 200:
                raise NoStream(f"the node holding the caller could not answer ({resp.status})")
            forwarded = {"sdp": str(body["sdp"]), "type": "offer" if body.get("type") == "offer" else "answer"}
            if forwarded["type"] == "offer":
                forwarded["viewer"] = str(body["viewer"])
            return forwarded


async def viewer_complete(
    app: web.Application, incident_id: str, viewer_id: str, answer_sdp: str, operator: str
) -> None:
    """A viewer's answer to the media plane's offer, given to whichever node holds the caller.

    KeyError when no node holds such a view waiting for an answer; ValueError for an answer the
    plane cannot apply.
    """
    if incident_id in app[LIVE].by_incident:
        await app[LIVE].complete_viewer(incident_id, viewer_id, answer_sdp, operator)
        return
    holder = await app[DIRECTORY].holder(incident_id)
    secret = app[SETTINGS].node_secret
    if holder is None or not secret:
        raise KeyError("the caller's session has ended")
    async with aiohttp.ClientSession(timeout=FORWARD_TIMEOUT) as session:
        async with session.post(
            f"{holder.url.rstrip('/')}/internal/viewer/answer",
            json={"incident_id": incident_id, "viewer": viewer_id, "sdp": answer_sdp, "operator": operator},
            headers={"Authorization": f"Node {secret}"},
            ssl=app[SETTINGS].node_tls_verify,
        ) as resp:
            body = await resp.json(content_type=None)
            if resp.status == 400:
                raise ValueError(str(body.get("message", "invalid answer")))
            if resp.status != 200:
                raise KeyError("no such view waiting for an answer")


def _from_a_node(request: web.Request) -> web.Response | None:
    """None for a request bearing the node secret; otherwise the refusal to send."""
    secret = request.app[SETTINGS].node_secret
    if not secret:
        return json_error(404, "not_found", "not found")
    header = request.headers.get("Authorization", "")
    if not header.startswith("Node ") or not same(header[5:], secret):
        return json_error(403, "forbidden", "not a node of this gateway")
    return None


@routes.post("/internal/viewer")
async def internal_viewer(request: web.Request) -> web.Response:
    refused = _from_a_node(request)
    if refused is not None:
        return refused
    body = await json_body(request)
    try:
        offer = parse_offer({"sdp": body.get("sdp"), "type": "offer"})
        reply = await request.app[LIVE].add_viewer(str(body.get("incident_id")), offer, str(body.get("operator")))
    except SdpError as exc:
        return json_error(400, "invalid_sdp", str(exc))
    except NoStream as exc:
        return json_error(409, "no_stream", str(exc))
    except ValueError as exc:
        return json_error(400, "invalid_sdp", str(exc))
    return web.json_response(reply.to_json())


@routes.post("/internal/viewer/answer")
async def internal_viewer_answer(request: web.Request) -> web.Response:
    refused = _from_a_node(request)
    if refused is not None:
        return refused
    body = await json_body(request)
    try:
        answer = parse_answer({"sdp": body.get("sdp"), "type": "answer"})
        await request.app[LIVE].complete_viewer(
            str(body.get("incident_id")), str(body.get("viewer")), answer, str(body.get("operator"))
        )
    except SdpError as exc:
        return json_error(400, "invalid_sdp", str(exc))
    except KeyError:
        return json_error(404, "not_found", "no such view waiting for an answer")
    except ValueError as exc:
        return json_error(400, "invalid_sdp", str(exc))
    return web.json_response({"ok": True})
