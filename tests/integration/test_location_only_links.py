"""A location-only link: the handler asks for the caller's location alone, never the camera."""

from __future__ import annotations

import json

import pytest

from gateway.web.keys import SETTINGS

from .conftest import login


@pytest.fixture
def record_url(database_url: str) -> str:
    """Every test here runs on SQLite and on PostgreSQL."""
    return database_url


async def new_incident(client, csrf) -> dict:
    resp = await client.post(
        "/api/incidents", json={"reference": "WYP-20261202-0007", "caller_phone": "07400 123456"},
        headers={"X-CSRF-Token": csrf},
    )
    assert resp.status == 201, await resp.text()
    return await resp.json()


async def post_link(client, csrf, incident_id, body):
    return await client.post(f"/api/incidents/{incident_id}/links", json=body, headers={"X-CSRF-Token": csrf})


async def test_a_location_only_link_is_recorded_and_its_text_does_not_mention_the_camera(client):
    csrf = await login(client, "handler1")
    incident = await new_incident(client, csrf)
    resp = await post_link(client, csrf, incident["id"], {"mode": "location"})
    assert resp.status == 201, await resp.text()
    link = await resp.json()
    assert link["mode"] == "location" and link["state"] == "sent"
    assert link["sms"]["body"].startswith("999 Control Room: tap this link to share your location with us: http://gw.test/c/")
    (written,) = [json.loads(p.read_text()) for p in client.app[SETTINGS].outbox_dir.glob("*.json")]
    assert "location" in written["body"] and "camera" not in written["body"].lower()

    record = await (await client.get(f"/api/incidents/{incident['id']}")).json()
    assert [(lk["id"], lk["mode"]) for lk in record["links"]] == [(link["id"], "location")]


async def test_the_page_of_a_location_only_link_asks_for_location_alone(client):
    csrf = await login(client, "handler1")
    incident = await new_incident(client, csrf)
    link = await (await post_link(client, csrf, incident["id"], {"mode": "location", "language": "cy"})).json()
    client.session.cookie_jar.clear()
    page = await (await client.get(link["url"].removeprefix("http://gw.test"))).text()
    assert 'data-mode="location"' in page
    assert "Dangoswch i'r ystafell reoli ble rydych chi" in page  # "Show the control room where you are"
    assert "Bydd eich ffôn yn gofyn am gael defnyddio eich lleoliad." in page
    assert "defnyddio'r camera a'ch lleoliad" not in page  # the video link's "use the camera and your location"


async def test_a_link_asks_for_video_unless_told_otherwise(client):
    csrf = await login(client, "handler1")
    incident = await new_incident(client, csrf)
    link = await (await post_link(client, csrf, incident["id"], {})).json()
    assert link["mode"] == "video" and "camera" in link["sms"]["body"]
    client.session.cookie_jar.clear()
    page = await (await client.get(link["url"].removeprefix("http://gw.test"))).text()
    assert 'data-mode="video"' in page and "Show the control room what you can see" in page


@pytest.mark.parametrize("mode", ["audio", "", None, 1, ["location"], "LOCATION"])
async def test_an_unknown_mode_is_refused_and_nothing_is_sent(client, mode):
    csrf = await login(client, "handler1")
    incident = await new_incident(client, csrf)
    resp = await post_link(client, csrf, incident["id"], {"mode": mode})
    assert resp.status == 400 and (await resp.json())["error"] == "invalid_mode"
    record = await (await client.get(f"/api/incidents/{incident['id']}")).json()
    assert record["links"] == [] and record["messages"] == []
    assert list(client.app[SETTINGS].outbox_dir.glob("*.json")) == []
