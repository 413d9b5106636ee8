"""Operator pages, the static web client, the map's configuration and boundary layers."""

from __future__ import annotations

from pathlib import Path

from aiohttp import web

from ..auth import Permission
from ..share import WEB_CLIENT
from . import tiles
from .auth import require
from .keys import ICE, OPERATOR, PLACER, SETTINGS
from .security import json_error

LEAFLET = WEB_CLIENT / "node_modules" / "leaflet" / "dist"
# Browser libraries from npm, each served from its package's dist folder only.
VENDOR = {
    "leaflet": LEAFLET,
    "markercluster": WEB_CLIENT / "node_modules" / "leaflet.markercluster" / "dist",
    "pmtiles": WEB_CLIENT / "node_modules" / "pmtiles" / "dist",
    "protomaps-leaflet": WEB_CLIENT / "node_modules" / "protomaps-leaflet" / "dist",
    "proj4": WEB_CLIENT / "node_modules" / "proj4" / "dist",
    "proj4leaflet": WEB_CLIENT / "node_modules" / "proj4leaflet" / "src",
}

routes = web.RouteTableDef()


@routes.get("/")
async def index(request: web.Request) -> web.Response:
    return web.Response(status=303, headers={"Location": "/console"})


@routes.get("/healthz")
async def healthz(request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


@routes.get("/console")
async def console(request: web.Request) -> web.FileResponse:
    return web.FileResponse(WEB_CLIENT / "console" / "index.html")


@routes.get("/dispatch")
async def dispatch(request: web.Request) -> web.FileResponse:
    return web.FileResponse(WEB_CLIENT / "dispatch" / "index.html")


@routes.get("/api/me")
async def me(request: web.Request) -> web.Response:
    who = request[OPERATOR]
    return web.json_response({"username": who["name"], "role": who["role"], "csrf_token": who.get("csrf")})


@routes.get("/api/client-config")
async def client_config(request: web.Request) -> web.Response:
    require(request, Permission.READ)
    settings = request.app[SETTINGS]
    placer = request.app[PLACER]
    return web.json_response({
        **request.app[ICE].for_browser("operator", request[OPERATOR]["name"]),
        "basemap": tiles.browser_config(settings),
        "layers": [{"level": level, "url": f"/api/layers/{level}"} for level in placer.levels],
        "map_center": list(settings.map.center),
        "map_zoom": settings.map.zoom,
        "fix_stale_after_s": placer.limits.stale_after_s,
    })


@routes.get("/api/layers/{level}")
async def layer(request: web.Request) -> web.Response:
    require(request, Permission.READ)
    placer = request.app[PLACER]
    level = request.match_info["level"]
    if level not in placer.levels:
        return json_error(404, "not_found", f"no boundary layer named {level!r}")
    return web.Response(
        text=placer.layer_geojson_text(level), content_type="application/geo+json",
        headers={"Cache-Control": "private, max-age=3600"},
    )


# What pages load from /static/: their scripts, styles, strings and pictures. Nothing else in
# web_client/ is served: not package.json or the lock file (they list every dependency and its
# version), nor node_modules beyond the vendor folders above.
ASSET_SUFFIXES = frozenset({".js", ".mjs", ".css", ".json", ".svg", ".png", ".webp", ".ico", ".woff2"})
NOT_PAGES = {"node_modules"}


def asset_path(folder: str, name: str, root: Path = WEB_CLIENT) -> Path | None:
    """The file a page asked for as ``/static/{folder}/{name}``, or None when it is not one to serve.

    ``folder`` must be one of the pages' folders (any top-level folder of web_client/ except
    node_modules), the file must lie inside it and have a page asset's suffix.
    """
    if folder in NOT_PAGES or folder.startswith(".") or "/" in folder:
        return None
    base = (root / folder).resolve()
    path = (base / name).resolve()
    if base.parent != root.resolve() or base not in path.parents:
        return None
    if path.suffix not in ASSET_SUFFIXES or any(part.startswith(".") for part in path.relative_to(base).parts):
        return None
    return path if path.is_file() else None


async def static_asset(request: web.Request) -> web.FileResponse:
    path = asset_path(request.match_info["folder"], request.match_info["name"])
    if path is None:
        raise web.HTTPNotFound()
    return web.FileResponse(path)


def add_static(app: web.Application) -> None:
    for name, folder in VENDOR.items():
        if folder.exists():
            app.router.add_static(f"/static/vendor/{name}/", folder)
    app.router.add_get("/static/{folder}/{name:.+}", static_asset)
