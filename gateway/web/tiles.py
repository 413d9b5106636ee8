"""Map tiles, served by the gateway so browsers talk to nothing else.

* ``GET /tiles/{name}.pmtiles``: a PMTiles archive (``basemap``: the default map; ``streets``: a
  force's street map), read by the browser with HTTP Range requests (206 Partial Content).
* ``GET /tiles/remote/{z}/{x}/{y}``: a tile of the force's own tile service (any XYZ template, or
  the Ordnance Survey Maps API), fetched by the gateway with its key and cached on disk; the key
  never leaves the gateway.

Both need a signed-in operator (or a token) with the read permission.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import hashlib
import logging
import os
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web

from ..auth import Permission
from ..basemap import BasemapError, pmtiles_metadata
from ..config import Settings
from .auth import require
from .keys import SETTINGS
from .security import json_error

log = logging.getLogger(__name__)
routes = web.RouteTableDef()

TILE_TYPES = ("image/png", "image/jpeg", "image/webp", "application/x-protobuf", "application/vnd.mapbox-vector-tile")
MAX_TILE_BYTES = 2 * 1024 * 1024
UPSTREAM_TIMEOUT = aiohttp.ClientTimeout(total=15, connect=5)
UPSTREAM_CONCURRENCY = 8
CLIENT = web.AppKey("tile_client", aiohttp.ClientSession)
LIMIT = web.AppKey("tile_limit", asyncio.Semaphore)


def pmtiles_files(settings: Settings) -> dict[str, Path]:
    """The PMTiles archives the gateway serves, by name (present or not)."""
    tiles = settings.data_dir / "tiles"
    return {
        "basemap": settings.map.pmtiles or tiles / "basemap.pmtiles",
        "streets": settings.map.streets or tiles / "streets.pmtiles",
    }


def browser_config(settings: Settings) -> dict[str, object]:
    """What the dispatcher's page is told about the base map: gateway URLs only, never a key."""
    sources = []
    for name, path in pmtiles_files(settings).items():
        if not path.is_file():
            continue
        meta = _metadata(path, path.stat().st_mtime)
        sources.append({
            "name": name, "url": f"/tiles/{name}.pmtiles", "attribution": str(meta.get("attribution", "")),
            "max_data_zoom": int(meta.get("maxzoom", 10 if name == "basemap" else 15)),
        })
    remote: dict[str, object] | None = None
    if settings.map.remote_template():
        remote = {
            "url": "/tiles/remote/{z}/{x}/{y}",
            "attribution": settings.map.remote_attribution(),
            "max_zoom": settings.map.tile_max_zoom,
        }
        if settings.map.tile_crs != "EPSG:3857":
            remote.update(crs=settings.map.tile_crs, resolutions=list(settings.map.tile_resolutions),
                          origin=list(settings.map.tile_origin))
    return {"vector": sources, "remote": remote}


@functools.lru_cache(maxsize=8)
def _metadata(path: Path, mtime: float) -> dict[str, Any]:
    """A PMTiles file's metadata, read once per version of the file (``mtime`` is the cache key)."""
    try:
        return pmtiles_metadata(path)
    except (BasemapError, OSError, ValueError) as exc:
        log.warning("cannot read the metadata of %s: %s", path, exc)
        return {}


@routes.get(r"/tiles/{name:[a-z]+}.pmtiles")
async def pmtiles(request: web.Request) -> web.StreamResponse:
    require(request, Permission.READ)
    path = pmtiles_files(request.app[SETTINGS]).get(request.match_info["name"])
    if path is None or not path.is_file():
        return json_error(404, "not_found", "no such map: build it with `scenelink basemap build`")
    # aiohttp's FileResponse answers Range (206, Content-Range), If-Range, and 416 for ranges
    # beyond the end; the browser's PMTiles reader asks for a header, directories, then tiles.
    return web.FileResponse(
        path, headers={"Content-Type": "application/vnd.pmtiles", "Cache-Control": "private, max-age=300"}
    )


@routes.get(r"/tiles/remote/{z:\d{1,2}}/{x:\d{1,7}}/{y:\d{1,7}}")
async def remote(request: web.Request) -> web.Response:
    require(request, Permission.READ)
    settings = request.app[SETTINGS]
    template = settings.map.remote_template()
    if template is None:
        return json_error(404, "not_found", "no tile service is configured ([map] tile_url or os_layer)")
    z, x, y = (int(request.match_info[k]) for k in ("z", "x", "y"))
    # Web Mercator has 2^z tiles a side; a British National Grid matrix is not square: leave its
    # bounds to the tile service.
    square = settings.map.tile_crs == "EPSG:3857"
    if z > settings.map.tile_max_zoom or (square and (x >= 2**z or y >= 2**z)):
        return json_error(404, "not_found", "no such tile")
    cached = _cache_path(settings, template, z, x, y)
    hit = _read_cache(cached, settings.map.tile_cache_days * 86400)
    if hit is not None:
        body, content_type = hit
        return _tile(body, content_type, "hit")
    url = template.replace("{z}", str(z)).replace("{x}", str(x)).replace("{y}", str(y))
    try:
        async with request.app[LIMIT]:
            async with request.app[CLIENT].get(url, allow_redirects=False) as upstream:
                content_type = upstream.headers.get("Content-Type", "").split(";")[0].strip()
                if upstream.status == 404:
                    return json_error(404, "not_found", "the tile service has no such tile")
                if upstream.status != 200 or content_type not in TILE_TYPES:
                    log.warning("tile service answered %s (%s) for z%s", upstream.status, content_type or "no type", z)
                    return json_error(502, "tile_service", f"the tile service answered {upstream.status}")
                body = await upstream.content.read(MAX_TILE_BYTES + 1)
    except (TimeoutError, aiohttp.ClientError) as exc:
        # The URL holds the key: log the failure's kind only.
        log.warning("tile service unreachable: %s", type(exc).__name__)
        return json_error(502, "tile_service", "the tile service could not be reached")
    if len(body) > MAX_TILE_BYTES:
        return json_error(502, "tile_service", "the tile service sent an over-large tile")
    _write_cache(cached, body, content_type)
    return _tile(body, content_type, "miss")


def _tile(body: bytes, content_type: str, cache: str) -> web.Response:
    return web.Response(
        body=body, content_type=content_type,
        headers={"Cache-Control": "private, max-age=86400", "X-Tile-Cache": cache},
    )


def _cache_path(settings: Settings, template: str, z: int, x: int, y: int) -> Path:
    # One folder per upstream (named by a hash of its template, key included, so a new key or
    # layer starts a fresh cache and the folder name gives nothing away).
    source = hashlib.sha256(template.encode()).hexdigest()[:16]
    return settings.data_dir / "tile-cache" / source / str(z) / str(x) / str(y)


def _read_cache(path: Path, max_age: float) -> tuple[bytes, str] | None:
    try:
        if time.time() - path.stat().st_mtime > max_age:
            return None
        raw = path.read_bytes()
    except OSError:
        return None
    content_type, _, body = raw.partition(b"\n")
    return body, content_type.decode("ascii", "replace")


def _write_cache(path: Path, body: bytes, content_type: str) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_name(f".{path.name}.{os.getpid()}")
        partial.write_bytes(content_type.encode("ascii") + b"\n" + body)
        partial.replace(path)
    except OSError as exc:
        log.warning("tile cache not written: %s", exc.strerror)


async def client_context(app: web.Application) -> AsyncIterator[None]:
    """One HTTP client for the tile service, for the application's lifetime."""
    app[LIMIT] = asyncio.Semaphore(UPSTREAM_CONCURRENCY)
    app[CLIENT] = aiohttp.ClientSession(timeout=UPSTREAM_TIMEOUT, headers={"User-Agent": "scenelink tile proxy"})
    try:
        yield
    finally:
        with contextlib.suppress(Exception):
            await app[CLIENT].close()
