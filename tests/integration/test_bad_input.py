"""Bad input gets a clear 4xx, never a 500: bytes that are not UTF-8, JSON nested thousands deep,
impossible ids, a token where a session is needed, redirects that leave the site, a logout from
another site, and a flood of attempts by a second device that must not flood the record."""

from __future__ import annotations

import asyncio

from gateway.auth import digest, new_api_token
from gateway.web.auth import _safe_next
from gateway.web.keys import ACCOUNTS, CALLERS, DATABASE

from .conftest import login
from .test_callers import Caller, incident_with_link


async def raw(client, request: bytes) -> int:
    """Send ``request`` as bytes on a new connection; the status of the answer."""
    reader, writer = await asyncio.open_connection(client.host, client.port)
    writer.write(request)
    await writer.drain()
    status_line = await asyncio.wait_for(reader.readline(), 10)
    writer.close()
    return int(status_line.split()[1])


async def test_text_that_is_not_utf8_is_refused_with_400(client):
    await client.get("/login")
    body = b"username=\xff\xfe&password=x&csrf=x"
    resp = await client.post("/login", data=body, headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert resp.status in (400, 403), resp.status
    assert await raw(client, b"GET /api/me HTTP/1.1\r\nHost: gw\r\nCookie: scenelink_session=\xff\xfe\r\n\r\n") == 400
    assert await raw(client, b"GET /api/me HTTP/1.1\r\nHost: gw\r\nAuthorization: Bearer \xff\xfe\r\n\r\n") == 400
    assert await raw(client, b"GET /console HTTP/1.1\r\nHost: gw\r\nCookie: scenelink_session=\xc3\x28\r\n\r\n") == 400


async def test_json_nested_thousands_deep_is_refused_with_400(client):
    csrf = await login(client, "handler1")
    deep = b"[" * 5000 + b"]" * 5000
    resp = await client.post("/api/incidents", data=b'{"reference": ' + deep + b"}",
                             headers={"X-CSRF-Token": csrf, "Content-Type": "application/json"})
    assert resp.status == 400 and (await resp.json())["error"] == "invalid_json"
    _, link = await incident_with_link(client, csrf)
    caller = Caller(client, link["url"])
    try:
        await caller.consent()
        json_type = {"Content-Type": "application/json"}
        resp = await caller.post("/fixes", data=b'{"fixes": ' + deep + b"}", headers=json_type)
        assert resp.status == 400
        resp = await caller.post("/status", data=deep, headers={"Content-Type": "application/json"})
        assert resp.status == 400
        assert (await caller.post("/fixes", json={"fixes": [{"latitude": 53.8, "longitude": -1.55}]})).status == 200
    finally:
        await caller.close()


async def test_a_recording_id_beyond_any_database_integer_is_404(client):
    await login(client, "handler1")
    for rid in ("99999999999999999999", "-1", "0", "abc"):
        resp = await client.get(f"/api/recordings/{rid}")
        assert resp.status == 404, rid


async def test_a_bearer_token_on_the_password_page_gets_a_clear_403(client):
    token = new_api_token()
    await client.app[ACCOUNTS].add_token("cad", "handler", digest(token), "test")
    headers = {"Authorization": f"Bearer {token}"}
    for method in ("GET", "POST"):
        resp = await client.request(method, "/account/password", headers=headers, data={"csrf": "x"})
        assert resp.status == 403, method
        assert (await resp.json())["error"] == "session_required"


def test_redirects_after_sign_in_stay_on_the_gateway():
    for evil in ("/\t/evil.example", "/\n/evil.example", "/\\evil.example", "//evil.example", "https://evil.example",
                 "/ /evil.example", "/\x00/evil", "/\x7f/evil", "", "console"):
        assert _safe_next(evil) == "", repr(evil)
    assert _safe_next("/console?incident=inc_1") == "/console?incident=inc_1"


async def test_signing_out_without_the_csrf_token_is_refused_and_the_session_stays(client):
    csrf = await login(client, "handler1")
    resp = await client.post("/logout", data={}, allow_redirects=False)
    assert resp.status == 403
    assert (await client.get("/api/me")).status == 200, "still signed in"
    resp = await client.post("/logout", data={"csrf": csrf}, allow_redirects=False)
    assert resp.status == 303
    assert (await client.get("/api/me")).status == 401


async def test_three_hundred_second_device_attempts_are_recorded_once_and_counted(client):
    csrf = await login(client, "handler1")
    incident, link = await incident_with_link(client, csrf)
    phone = Caller(client, link["url"])
    await phone.consent()
    before = len(await client.app[DATABASE].audit_entries(incident["id"]))
    others = [Caller(client, link["url"]) for _ in range(10)]
    try:
        for _ in range(30):
            statuses = await asyncio.gather(*(other.get() for other in others))
            assert {s.status for s in statuses} == {404}
    finally:
        for other in others:
            await other.close()
        await phone.close()
    record = await (await client.get(f"/api/incidents/{incident['id']}")).json()
    refused = [s for s in record["links"][0]["states"] if s["state"] == "refused"]
    assert len(refused) == 1, refused
    assert len(await client.app[DATABASE].audit_entries(incident["id"])) - before == 1
    assert client.app[CALLERS]._refusals[link["id"]][1] == 299, "the rest are counted"

