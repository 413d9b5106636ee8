"""For load balancers, orchestrators and monitoring: readiness and Prometheus metrics.

``/healthz`` (in :mod:`gateway.web.pages`) says the process answers. ``/readyz`` says this node
should be sent work: its database answers, its event bus is connected, its boundaries are
loaded, and it is not draining. ``/metrics`` is for Prometheus and only for the addresses (or the
bearer token) the configuration names: it tells an outsider how busy the control room is.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
from collections.abc import Iterator

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST
from sqlalchemy import text

from ..auth import same
from ..live import LiveSessions
from ..media.plane import EmbeddedCaller
from .keys import DATABASE, DRAINING, EVENTS, LIVE, METRICS, PLACER, SETTINGS
from .security import client_address, json_error

log = logging.getLogger(__name__)
routes = web.RouteTableDef()

CHECK_SECONDS = 2.0


async def _database_answers(request: web.Request) -> bool:
    try:
        async with asyncio.timeout(CHECK_SECONDS):
            async with request.app[DATABASE].connect() as conn:
                await conn.execute(text("SELECT 1"))
        return True
    except Exception as exc:  # any failure means "not ready"; say which in the log
        log.warning("readiness: the database does not answer (%s)", type(exc).__name__)
        return False


@routes.get("/readyz")
async def readyz(request: web.Request) -> web.Response:
    checks = {
        "database": await _database_answers(request),
        "events": await request.app[EVENTS].ready(),
        "boundaries": bool(request.app[PLACER].levels),
        "not_draining": not request.app[DRAINING].is_set(),
    }
    ready = all(checks.values())
    return web.json_response({"status": "ready" if ready else "not_ready", "checks": checks},
                             status=200 if ready else 503)


def _allowed(request: web.Request) -> bool:
    settings = request.app[SETTINGS].metrics
    header = request.headers.get("Authorization", "")
    if settings.token and header.startswith("Bearer ") and same(header[7:].strip(), settings.token):
        return True
    try:
        address = ipaddress.ip_address(client_address(request))
    except ValueError:
        return False
    return any(address in ipaddress.ip_network(net) for net in settings.allow)


@routes.get("/metrics")
async def metrics(request: web.Request) -> web.Response:
    if not request.app[SETTINGS].metrics.enabled:
        return json_error(404, "not_found", "metrics are not enabled on this node")
    if not _allowed(request):
        return json_error(403, "forbidden", "metrics are not available to this address")
    return web.Response(body=request.app[METRICS].render(), headers={"Content-Type": CONTENT_TYPE_LATEST})


def live_gauges(live: LiveSessions) -> Iterator[tuple[str, str, float | None]]:
    """The media figures of this node, read when Prometheus scrapes."""
    sessions = list(live.by_incident.values())
    yield "scenelink_live_sessions", "Callers with a live peer connection on this node", float(len(sessions))
    viewers = sum(s.plane.viewer_count() for s in sessions)
    yield "scenelink_viewers", "Operators' live views fed by this node", float(viewers)
    depth = 0
    for session in sessions:
        for receiver in session.peer.video_pc.getReceivers():
            # aiortc keeps encoded frames waiting for its decoder thread in a private queue.
            queue = getattr(receiver, "_RTCRtpReceiver__decoder_queue", None)
            depth += queue.qsize() if queue is not None else 0
    yield "scenelink_decoder_queue_frames", "Encoded frames waiting for a decoder", float(depth)
    if live.plane.name != "embedded":
        relayed = sum(1 for s in sessions if isinstance(s.plane, EmbeddedCaller))
        yield ("scenelink_media_plane_fallback_sessions",
               f"Callers relayed by this node because the {live.plane.name} media plane could not take them",
               float(relayed))


def app_gauges(app: web.Application) -> Iterator[tuple[str, str, float | None]]:
    yield from live_gauges(app[LIVE])
    events = app[EVENTS]
    yield "scenelink_event_subscribers", "Event streams open on this node (consoles, maps, embeds)", float(
        events.subscriber_count
    )
    pending = getattr(events, "pending", None)
    if pending is not None:
        yield "scenelink_events_pending", "Events published here and not yet written to Redis", float(pending)
    yield "scenelink_draining", "1 while this node is draining", 1.0 if app[DRAINING].is_set() else 0.0
