"""The OpenAPI description matches the application's routes, both ways, and is a valid 3.1 document
served to signed-in operators."""

from __future__ import annotations

import re

from gateway.app import build_app
from gateway.web.openapi import UNDOCUMENTED_PREFIXES

from .conftest import login


def app_routes(settings) -> set[tuple[str, str]]:
    app = build_app(settings)
    found = set()
    for route in app.router.routes():
        if route.method in ("HEAD", "OPTIONS") or route.resource is None:
            continue
        info = route.resource.get_info()
        path = info.get("path") or info.get("formatter") or info.get("prefix") or ""
        path = re.sub(r"\{(\w+):[^}]+\}", r"{\1}", path)  # aiohttp's {name:regex} is OpenAPI's {name}
        if path.startswith(UNDOCUMENTED_PREFIXES):
            continue
        found.add((route.method.lower(), path))
    return found


async def test_every_route_is_documented_and_nothing_else(client, settings):
    await login(client, "dispatcher1")
    resp = await client.get("/api/openapi.json")
    assert resp.status == 200 and resp.content_type == "application/json"
    spec = await resp.json()
    documented = {
        (method, path) for path, item in spec["paths"].items() for method in item
        if method in ("get", "post", "put", "patch", "delete")
    }
    routes = app_routes(settings)
    assert routes - documented == set(), "routes without an entry in gateway/web/openapi.py"
    assert documented - routes == set(), "documented operations the application does not have"


async def test_the_document_is_valid_openapi_3_1(client):
    from openapi_spec_validator import validate

    await login(client, "dispatcher1")
    spec = await (await client.get("/api/openapi.json")).json()
    assert spec["openapi"] == "3.1.0"
    validate(spec)


async def test_it_is_not_served_to_strangers(client):
    assert (await client.get("/api/openapi.json")).status == 401
