"""The operators' API and the caller's link, through real HTTP on a real record."""

from __future__ import annotations

import json
import re

import pytest

from gateway.auth import digest, new_api_token
from gateway.links import mask_tokens
from gateway.web.keys import ACCOUNTS, SETTINGS

from .conftest import login


@pytest.fixture
def record_url(database_url: str) -> str:
    """Every test here runs on SQLite and on PostgreSQL."""
    return database_url


async def create_incident(client, csrf, ref="WYP-20261126-0421", phone="07400 123456"):
    return await client.post(
        "/api/incidents", json={"reference": ref, "caller_phone": phone}, headers={"X-CSRF-Token": csrf}
    )


async def send_link(client, csrf, incident_id):
    resp = await client.post(f"/api/incidents/{incident_id}/links", json={}, headers={"X-CSRF-Token": csrf})
    assert resp.status == 201, await resp.text()
    return await resp.json()


async def test_every_api_call_needs_a_session_or_a_token(client):
    for method, path in [("GET", "/api/incidents"), ("POST", "/api/incidents"), ("GET", "/api/me")]:
        resp = await client.request(method, path)
        assert resp.status == 401
        assert (await resp.json())["error"] == "unauthenticated"


async def test_operator_pages_send_strangers_to_the_login_form(client):
    resp = await client.get("/console", allow_redirects=False)
    assert resp.status == 303 and resp.headers["Location"] == "/login?next=/console"


async def test_a_wrong_password_is_refused_and_audited(client):
    page = await (await client.get("/login")).text()
    csrf = re.search(r'name="csrf" value="([^"]+)"', page).group(1)
    resp = await client.post("/login", data={"username": "handler1", "password": "nope", "csrf": csrf})
    assert resp.status == 401 and "Wrong username or password" in await resp.text()


async def test_a_login_form_without_its_csrf_cookie_is_refused(client):
    resp = await client.post("/login", data={"username": "handler1", "password": "x", "csrf": "forged"})
    assert resp.status == 403


async def test_state_changes_need_the_csrf_header(client):
    await login(client, "handler1")
    resp = await client.post("/api/incidents", json={"reference": "A-1", "caller_phone": "07400123456"})
    assert resp.status == 403 and (await resp.json())["error"] == "csrf"


async def test_a_dispatcher_may_read_but_not_create(client):
    csrf = await login(client, "dispatcher1")
    assert (await create_incident(client, csrf)).status == 403
    assert (await client.get("/api/incidents")).status == 200


async def test_a_handler_creates_an_incident_with_a_normalised_number(client):
    csrf = await login(client, "handler1")
    resp = await create_incident(client, csrf)
    assert resp.status == 201
    body = await resp.json()
    assert body["reference"] == "WYP-20261126-0421" and body["caller_phone"] == "+447400123456"
    assert body["id"].startswith("inc_") and body["created_by"] == "handler1"
    assert (await create_incident(client, csrf)).status == 409


async def test_numbers_that_are_not_mobiles_are_refused_before_anything_is_sent(client):
    csrf = await login(client, "handler1")
    resp = await create_incident(client, csrf, phone="0113 496 0000")
    assert resp.status == 400 and (await resp.json())["error"] == "not_mobile"
    resp = await create_incident(client, csrf, phone="not a number")
    assert (await resp.json())["error"] == "invalid_phone"
    assert (await (await client.get("/api/incidents")).json())["incidents"] == []


async def test_bad_json_and_bad_references_get_clear_errors(client):
    csrf = await login(client, "handler1")
    resp = await client.post(
        "/api/incidents", data="{", headers={"X-CSRF-Token": csrf, "Content-Type": "application/json"}
    )
    assert resp.status == 400 and (await resp.json())["error"] == "invalid_json"
    resp = await create_incident(client, csrf, ref="<script>")
    assert (await resp.json())["error"] == "invalid_reference"


async def test_sending_a_link_writes_the_sms_to_the_outbox(client):
    csrf = await login(client, "handler1")
    incident = await (await create_incident(client, csrf)).json()
    link = await send_link(client, csrf, incident["id"])
    assert link["url"].startswith("http://gw.test/c/") and link["state"] == "sent"
    token = link["url"].rsplit("/", 1)[1]
    # The answer carries the whole URL; the text as recorded, and the outbox file, mask the token.
    assert link["sms"]["to"] == "+447400123456" and mask_tokens(link["url"]) in link["sms"]["body"]
    assert token not in link["sms"]["body"]
    outbox = client.app[SETTINGS].outbox_dir
    (written,) = [json.loads(p.read_text()) for p in outbox.glob("*.json")]
    assert written["to"] == "+447400123456" and mask_tokens(link["url"]) in written["body"]
    assert token not in written["body"]
    record = await (await client.get(f"/api/incidents/{incident['id']}")).json()
    assert record["state"] == "sent" and record["messages"][0]["status"] == "sent"


async def test_a_bearer_token_works_without_csrf(client):
    token = new_api_token()
    await client.app[ACCOUNTS].add_token("cad", "handler", digest(token), "test")
    resp = await create_incident(client, "", ref="CAD-1")
    assert resp.status == 401
    resp = await client.post(
        "/api/incidents", json={"reference": "CAD-1", "caller_phone": "07400123456"},
        headers={"Authorization": f"Bearer {token}"},
    )
    assert resp.status == 201
    bad = await client.get("/api/incidents", headers={"Authorization": "Bearer slk_forged"})
    assert bad.status == 401


async def test_the_link_opens_once_for_its_device_and_looks_the_same_as_a_bogus_one_to_others(client):
    csrf = await login(client, "handler1")
    incident = await (await create_incident(client, csrf)).json()
    link = await send_link(client, csrf, incident["id"])
    path = link["url"].removeprefix("http://gw.test")
    client.session.cookie_jar.clear()

    first = await client.get(path)
    assert first.status == 200 and "scenelink_device" in first.cookies
    assert (await client.get(path)).status == 200, "the same phone may reload"
    consent = await client.post(path + "/consent", json={})
    assert consent.status == 200 and (await consent.json())["ice_servers"] == []

    client.session.cookie_jar.clear()
    other = await client.get(path)
    bogus = await client.get("/c/" + "A" * 32)
    assert other.status == bogus.status == 404
    assert await other.text() == await bogus.text()

    await login(client, "handler1")
    record = await (await client.get(f"/api/incidents/{incident['id']}")).json()
    # The other device's attempt is in the link's history too, without changing its state.
    states = [s["state"] for s in record["links"][0]["states"]]
    assert states == ["created", "sent", "opened", "opened", "consented", "refused"]
    assert record["links"][0]["state"] == "consented"


async def test_a_superseded_link_no_longer_opens(client):
    csrf = await login(client, "handler1")
    incident = await (await create_incident(client, csrf)).json()
    old = await send_link(client, csrf, incident["id"])
    new = await send_link(client, csrf, incident["id"])
    client.session.cookie_jar.clear()
    assert (await client.get(old["url"].removeprefix("http://gw.test"))).status == 404
    assert (await client.get(new["url"].removeprefix("http://gw.test"))).status == 200


async def test_malformed_offers_are_refused_with_400_and_nothing_breaks(client):
    csrf = await login(client, "handler1")
    incident = await (await create_incident(client, csrf)).json()
    path = (await send_link(client, csrf, incident["id"]))["url"].removeprefix("http://gw.test")
    client.session.cookie_jar.clear()
    await client.get(path)
    resp = await client.post(path + "/offer", json={"type": "offer", "sdp": "v=0\r\nm=video\r\n"})
    assert resp.status == 409, "no offer before consent"
    await client.post(path + "/consent", json={})
    for body in (
        {"type": "offer", "sdp": "garbage"},
        {"type": "offer"},
        ["x"],
        {"type": "offer", "sdp": "v=0\r\n" + "a=x\r\n" * 20000},
    ):
        resp = await client.post(path + "/offer", json=body)
        assert resp.status in (400, 413), body
    resp = await client.post(path + "/offer", data=b"\xff\xfe", headers={"Content-Type": "application/json"})
    assert resp.status == 400
    assert (await client.get(path)).status == 200, "the link still works after bad input"


async def test_snapshots_and_viewers_need_a_stream(client):
    csrf = await login(client, "handler1")
    incident = await (await create_incident(client, csrf)).json()
    resp = await client.post(f"/api/incidents/{incident['id']}/snapshots", json={}, headers={"X-CSRF-Token": csrf})
    assert resp.status == 409 and (await resp.json())["error"] == "no_video"


async def test_responses_carry_security_headers(client):
    resp = await client.get("/login")
    assert "frame-ancestors 'none'" in resp.headers["Content-Security-Policy"]
    assert resp.headers["Referrer-Policy"] == "no-referrer"
    assert resp.headers["X-Content-Type-Options"] == "nosniff"


async def test_ending_an_incident_is_recorded(client):
    csrf = await login(client, "handler1")
    incident = await (await create_incident(client, csrf)).json()
    resp = await client.post(f"/api/incidents/{incident['id']}/end", json={}, headers={"X-CSRF-Token": csrf})
    assert resp.status == 200 and (await resp.json())["ended_at"]
    active = await (await client.get("/api/incidents?active=1")).json()
    assert active["incidents"] == []


async def test_a_generated_first_password_opens_only_the_page_to_replace_it(aiohttp_client, settings, capsys):
    from dataclasses import replace

    from gateway.app import build_app

    await aiohttp_client(build_app(replace(settings, admin_password=None)))
    printed = capsys.readouterr().out
    password = re.search(r"one-time password: (\S+)", printed).group(1)
    client = await aiohttp_client(build_app(settings))  # same data directory, second start
    assert "one-time password" not in capsys.readouterr().out, "printed on the first start only"

    await login(client, "admin", password)
    assert (await client.get("/console", allow_redirects=False)).headers["Location"] == "/account/password"
    assert (await client.get("/api/incidents")).status == 403
    page = await (await client.get("/account/password")).text()
    csrf = re.search(r'name="csrf" value="([^"]+)"', page).group(1)
    form = {"csrf": csrf, "current": password, "new": "a brand new password", "again": "a brand new password"}
    assert (await client.post("/account/password", data={**form, "again": "different"})).status == 400
    assert (await client.post("/account/password", data={**form, "new": "short", "again": "short"})).status == 400
    assert (await client.post("/account/password", data={**form, "csrf": "forged"})).status == 403
    done = await client.post("/account/password", data=form, allow_redirects=False)
    assert done.status == 303
    assert (await client.get("/api/incidents")).status == 200


async def test_static_serves_page_assets_but_not_the_package_files(client):
    assert (await client.get("/static/console/console.js")).status == 200
    assert (await client.get("/static/login/login.css")).status == 200
    assert (await client.get("/static/vendor/leaflet/leaflet.js")).status == 200
    for path in (
        "/static/package.json", "/static/package-lock.json", "/static/node_modules/leaflet/package.json",
        "/static/node_modules/.package-lock.json", "/static/vendor/leaflet/../package.json",
    ):
        assert (await client.get(path)).status == 404, path
