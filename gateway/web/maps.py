"""The dispatcher's map: search by what a caller says, and each caller's trail of fixes."""

from __future__ import annotations

from aiohttp import web

from gis import Fix, FixRejected, bng_to_lonlat
from gis.search import Location, PostcodeQuery, SearchError, interpret

from ..auth import Permission
from .auth import require
from .keys import INCIDENTS, PLACER
from .security import json_error

routes = web.RouteTableDef()

MAX_QUERY = 100


@routes.get("/api/search")
async def search(request: web.Request) -> web.Response:
    """``?q=``: places (grid reference, eastings/northings, latitude/longitude, postcode) and incidents."""
    require(request, Permission.READ)
    q = request.query.get("q", "").strip()
    if not q:
        return json_error(400, "bad_query", "give something to search for in q")
    if len(q) > MAX_QUERY:
        return json_error(400, "bad_query", f"the search is longer than {MAX_QUERY} characters")
    placer = request.app[PLACER]
    places: list[dict[str, object]] = []
    problem = None
    try:
        found = interpret(q)
    except SearchError as exc:
        found, problem = None, str(exc)
    if isinstance(found, PostcodeQuery):
        hit = placer.postcodes.centroid(found.postcode) if placer.postcodes is not None else None
        if hit is None:
            problem = f"postcode {found.postcode} is not among the postcodes this gateway loaded"
        else:
            code, e, n = hit
            lon, lat = bng_to_lonlat([e], [n])
            found = Location("postcode", float(lat[0]), float(lon[0]), e, n, 100.0, f"{code} (centroid)")
    if isinstance(found, Location):
        place = found.to_dict()
        try:
            place["placement"] = placer.place(Fix(found.latitude, found.longitude)).to_dict()
        except FixRejected:
            place["placement"] = None
        places.append(place)
    incidents = await request.app[INCIDENTS].find_by_reference(q, limit=10)
    return web.json_response({"query": q, "places": places, "incidents": incidents, "problem": problem})


@routes.get("/api/incidents/{id}/trail")
async def trail(request: web.Request) -> web.Response:
    """The incident's recent fixes, oldest first (``?limit=``, default 100, at most 500)."""
    require(request, Permission.READ)
    try:
        limit = int(request.query.get("limit", "100"))
    except ValueError:
        return json_error(400, "bad_limit", "limit must be a whole number")
    incidents = request.app[INCIDENTS]
    if await incidents.get(request.match_info["id"]) is None:
        return json_error(404, "not_found", "no such incident")
    return web.json_response({"fixes": await incidents.trail(request.match_info["id"], limit)})
