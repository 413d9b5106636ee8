"""The dispatcher map's API: search by what a caller says, and each caller's trail of fixes."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta

import pytest

from gateway.web.keys import INCIDENTS, PLACER
from gis import Fix

from .conftest import login
from .test_api import create_incident


async def incident_with_fixes(client, csrf, ref: str, points: list[tuple[float, float, float]]) -> str:
    resp = await create_incident(client, csrf, ref=ref)
    assert resp.status == 201, await resp.text()
    incident_id = (await resp.json())["id"]
    incidents = client.app[INCIDENTS]
    token_hash = hashlib.sha256(ref.encode()).hexdigest()
    link = await incidents.create_link(incident_id, token_hash, datetime.now(UTC) + timedelta(hours=1), "test")
    session = await incidents.start_session(incident_id, link["id"], "test browser")
    placer = client.app[PLACER]
    for seq, (lat, lon, acc) in enumerate(points, 1):
        placement = placer.place(Fix(lat, lon, accuracy=acc)).to_dict()
        fix = {"latitude": lat, "longitude": lon, "accuracy": acc}
        assert await incidents.add_fix(incident_id, session["id"], seq, fix, None, placement)
    return incident_id


async def test_a_dispatcher_searches_by_grid_reference_and_sees_where_it_is(client):
    await login(client, "dispatcher1")
    body = await (await client.get("/api/search", params={"q": "SE 29790 33803"})).json()
    assert body["problem"] is None and body["incidents"] == []
    [place] = body["places"]
    assert place["kind"] == "gridref" and place["easting"] == 429790.5
    assert (place["latitude"], place["longitude"]) == pytest.approx((53.7997, -1.5492), abs=2e-5)
    assert place["placement"]["layers"]["force"]["code"] == "WYP"


@pytest.mark.parametrize(
    ("q", "kind"),
    [("429790 433803", "en"), ("53.7997, -1.5492", "latlon"), ("53°47'59\"N 1°32'57\"W", "latlon")],
)
async def test_other_ways_of_saying_the_same_place(client, q: str, kind: str):
    await login(client, "dispatcher1")
    [place] = (await (await client.get("/api/search", params={"q": q})).json())["places"]
    assert place["kind"] == kind
    assert (place["latitude"], place["longitude"]) == pytest.approx((53.7997, -1.5492), abs=3e-4)


async def test_a_postcode_goes_to_its_centroid_from_the_loaded_postcodes(client):
    await login(client, "dispatcher1")
    [place] = (await (await client.get("/api/search", params={"q": "ls11ur"})).json())["places"]
    assert place["kind"] == "postcode" and place["label"].startswith("LS1 1UR")
    code, e, n = client.app[PLACER].postcodes.centroid("LS1 1UR")
    assert (place["easting"], place["northing"]) == pytest.approx((e, n))
    body = await (await client.get("/api/search", params={"q": "ZZ9 9ZZ"})).json()
    assert body["places"] == [] and "not among the postcodes" in body["problem"]


async def test_incidents_are_found_by_their_reference(client):
    csrf = await login(client, "handler1")
    await incident_with_fixes(client, csrf, "WYP-20261126-0421", [(53.7997, -1.5492, 20)])
    await incident_with_fixes(client, csrf, "WYP-20261126-0999", [(53.80, -1.55, 20)])
    await login(client, "dispatcher1")
    found = (await (await client.get("/api/search", params={"q": "0421"})).json())["incidents"]
    assert [i["reference"] for i in found] == ["WYP-20261126-0421"]
    found = (await (await client.get("/api/search", params={"q": "wyp-2026"})).json())["incidents"]
    assert len(found) == 2
    # SQL wildcards in the search are literal characters.
    assert (await (await client.get("/api/search", params={"q": "%"})).json())["incidents"] == []


async def test_impossible_positions_and_bad_queries_say_why(client):
    await login(client, "dispatcher1")
    body = await (await client.get("/api/search", params={"q": "95.1, -1.5"})).json()
    assert body["places"] == [] and "latitude 95.1" in body["problem"]
    assert (await client.get("/api/search")).status == 400
    assert (await client.get("/api/search", params={"q": "x" * 101})).status == 400


async def test_search_and_trail_need_a_signed_in_operator(client):
    assert (await client.get("/api/search", params={"q": "LS1 1UR"})).status == 401
    assert (await client.get("/api/incidents/inc_x/trail")).status == 401


async def test_the_trail_lists_recent_fixes_oldest_first(client):
    csrf = await login(client, "handler1")
    points = [(53.7990 + i * 0.0002, -1.5492, 10.0 + i) for i in range(6)]
    incident_id = await incident_with_fixes(client, csrf, "WYP-20261126-0500", points)
    await login(client, "dispatcher1")
    fixes = (await (await client.get(f"/api/incidents/{incident_id}/trail")).json())["fixes"]
    assert [f["latitude"] for f in fixes] == [p[0] for p in points]
    assert fixes[-1]["placement"]["layers"]["force"]["code"] == "WYP"
    last3 = (await (await client.get(f"/api/incidents/{incident_id}/trail", params={"limit": "3"})).json())["fixes"]
    assert [f["accuracy"] for f in last3] == [13.0, 14.0, 15.0]
    assert (await client.get(f"/api/incidents/{incident_id}/trail", params={"limit": "x"})).status == 400
    assert (await client.get("/api/incidents/inc_nope/trail")).status == 404
