"""The "obvious alternative" to the gateway's media path, for the media benchmark to compare with.

    python -m benchmarks.relay_server --host 10.99.0.1 --port 8500

The pattern of aiortc's own example server (``examples/server/server.py``): one module-level
``MediaRelay()``, every consumer a *buffered* ``relay.subscribe(track)`` (the default), the
received video kept flowing by a ``MediaBlackhole``-style sink, and each viewer given its own
subscription and therefore its own encoder. No record, no authentication, plain HTTP: only the
media path is being compared.

    POST /publish           {"sdp", "type"}  -> {"sdp", "type", "id"}   (the caller's offer)
    POST /view/{id}         {"sdp", "type"}  -> {"sdp", "type"}         (a receive-only viewer)
    GET  /stats/{id}        -> {"offer_at", "first_frame_at", "frames"}  (wall-clock seconds)
"""

from __future__ import annotations

import argparse
import asyncio
import time
import uuid

from aiohttp import web
from aiortc import RTCConfiguration, RTCPeerConnection, RTCSessionDescription
from aiortc.contrib.media import MediaRelay
from aiortc.mediastreams import MediaStreamError

relay = MediaRelay()
pcs: set[RTCPeerConnection] = set()
sources: dict[str, dict] = {}


def _pc() -> RTCPeerConnection:
    pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
    pcs.add(pc)

    @pc.on("connectionstatechange")
    async def _state() -> None:
        if pc.connectionState in ("failed", "closed"):
            pcs.discard(pc)
            await pc.close()

    return pc


async def _blackhole(track, stats: dict) -> None:
    """What ``MediaBlackhole`` does, plus noting when the first frame was decoded."""
    try:
        while True:
            await track.recv()
            stats["frames"] += 1
            if stats["first_frame_at"] is None:
                stats["first_frame_at"] = time.time()
    except MediaStreamError:
        pass


async def publish(request: web.Request) -> web.Response:
    offer_at = time.time()
    params = await request.json()
    pc = _pc()
    sid = uuid.uuid4().hex[:12]
    stats = {"offer_at": offer_at, "first_frame_at": None, "frames": 0}
    sources[sid] = {"track": None, "stats": stats, "pc": pc, "tasks": set()}

    @pc.on("track")
    def on_track(track) -> None:
        if track.kind == "video" and sources[sid]["track"] is None:
            sources[sid]["track"] = track
            task = asyncio.ensure_future(_blackhole(relay.subscribe(track), stats))
            sources[sid]["tasks"].add(task)

    await pc.setRemoteDescription(RTCSessionDescription(sdp=params["sdp"], type=params["type"]))
    await pc.setLocalDescription(await pc.createAnswer())
    return web.json_response({"sdp": pc.localDescription.sdp, "type": pc.localDescription.type, "id": sid})


async def view(request: web.Request) -> web.Response:
    source = sources.get(request.match_info["id"])
    if source is None or source["track"] is None:
        return web.json_response({"error": "no_stream"}, status=409)
    params = await request.json()
    pc = _pc()
    await pc.setRemoteDescription(RTCSessionDescription(sdp=params["sdp"], type=params["type"]))
    pc.addTrack(relay.subscribe(source["track"]))
    await pc.setLocalDescription(await pc.createAnswer())
    return web.json_response({"sdp": pc.localDescription.sdp, "type": pc.localDescription.type})


async def stats(request: web.Request) -> web.Response:
    source = sources.get(request.match_info["id"])
    if source is None:
        return web.json_response({"error": "not_found"}, status=404)
    return web.json_response(source["stats"])


async def healthz(request: web.Request) -> web.Response:
    return web.Response(text="ok")


async def _shutdown(app: web.Application) -> None:
    await asyncio.gather(*(pc.close() for pc in list(pcs)), return_exceptions=True)
    pcs.clear()
    for source in sources.values():
        for task in source["tasks"]:
            task.cancel()


def make_app() -> web.Application:
    app = web.Application()
    app.router.add_post("/publish", publish)
    app.router.add_post("/view/{id}", view)
    app.router.add_get("/stats/{id}", stats)
    app.router.add_get("/healthz", healthz)
    app.on_shutdown.append(_shutdown)
    return app


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="10.99.0.1")
    parser.add_argument("--port", type=int, default=8500)
    args = parser.parse_args()
    web.run_app(make_app(), host=args.host, port=args.port, print=None, access_log=None)


if __name__ == "__main__":
    main()
