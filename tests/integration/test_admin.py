"""An administrator can lock the operators' side down, through the real API: disable and enable
operators, reset passwords to one-time ones, end sessions, revoke and expire API tokens, withdraw
embed links; open event streams close when their credential goes; every action is audited."""

from __future__ import annotations

import re
import time
from datetime import timedelta

import aiohttp
import pytest

from gateway.auth import digest, new_api_token
from gateway.record.database import utcnow
from gateway.web.keys import ACCOUNTS, DATABASE

from .conftest import PASSWORD, login
from .test_api import create_incident


class Browser:
    """A second browser against the same test server: its own cookie jar."""

    def __init__(self, client) -> None:
        self.client = client
        self.session = aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True))
        self.csrf = ""

    def url(self, path: str) -> str:
        return str(self.client.make_url(path))

    async def login(self, username: str, password: str = PASSWORD) -> aiohttp.ClientResponse:
        page = await (await self.session.get(self.url("/login"))).text()
        csrf = re.search(r'name="csrf" value="([^"]+)"', page).group(1)
        resp = await self.session.post(
            self.url("/login"), data={"username": username, "password": password, "csrf": csrf},
            allow_redirects=False,
        )
        if resp.status == 303:
            self.csrf = (await (await self.session.get(self.url("/api/me"))).json())["csrf_token"]
        return resp

    async def get(self, path: str) -> aiohttp.ClientResponse:
        return await self.session.get(self.url(path), allow_redirects=False)

    async def close(self) -> None:
        await self.session.close()


@pytest.fixture
async def admin(client):
    csrf = await login(client, "admin")
    return client, csrf


@pytest.fixture
async def browser(client):
    b = Browser(client)
    yield b
    await b.close()


async def act(client, csrf: str, path: str) -> tuple[int, dict]:
    resp = await client.post(path, json={}, headers={"X-CSRF-Token": csrf})
    return resp.status, await resp.json()


async def closed_within(ws, seconds: float) -> int | None:
    """Read until the socket closes; its close code, or fail after ``seconds``."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        msg = await ws.receive(timeout=max(0.1, deadline - time.monotonic()))
        if msg.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED, aiohttp.WSMsgType.CLOSING):
            return ws.close_code
    raise AssertionError(f"the socket stayed open for {seconds} s")


async def test_only_administrators_reach_the_admin_page_and_api(client, browser):
    for name in ("handler1", "super1", "dispatcher1"):
        assert (await browser.login(name)).status == 303
        assert (await browser.get("/api/admin/operators")).status == 403
        assert (await browser.get("/admin")).status == 403
        await browser.session.post(browser.url("/logout"), headers={"X-CSRF-Token": browser.csrf})
    client_admin, _ = client, await login(client, "admin")
    page = await client_admin.get("/admin")
    assert page.status == 200 and "Operators" in await page.text()
    listed = (await (await client.get("/api/admin/operators")).json())["operators"]
    assert {o["username"]: o["role"] for o in listed} == {
        "admin": "admin", "handler1": "handler", "dispatcher1": "dispatcher", "super1": "supervisor",
    }
    assert all("password_hash" not in o for o in listed)


async def test_disabling_ends_sessions_and_sign_in_until_enabled(admin, browser):
    client, csrf = admin
    assert (await browser.login("handler1")).status == 303
    assert (await browser.get("/api/incidents")).status == 200
    status, done = await act(client, csrf, "/api/admin/operators/handler1/disable")
    assert status == 200 and done["sessions_ended"] == 1
    assert (await browser.get("/api/incidents")).status == 401
    assert (await browser.login("handler1")).status == 401
    status, _ = await act(client, csrf, "/api/admin/operators/handler1/enable")
    assert status == 200 and (await browser.login("handler1")).status == 303
    assert (await act(client, csrf, "/api/admin/operators/admin/disable"))[0] == 409  # not oneself
    assert (await act(client, csrf, "/api/admin/operators/nobody/disable"))[0] == 404
    actions = [(e["actor"], e["action"]) for e in await client.app[DATABASE].audit_entries()]
    assert ("admin", "operator.disabled") in actions and ("admin", "operator.enabled") in actions


async def test_a_reset_sets_a_one_time_password_that_must_be_changed_to_a_new_one(admin, browser):
    client, csrf = admin
    assert (await browser.login("handler1")).status == 303
    status, done = await act(client, csrf, "/api/admin/operators/handler1/reset-password")
    assert status == 200 and done["sessions_ended"] == 1
    one_time = done["one_time_password"]
    assert (await browser.get("/api/incidents")).status == 401, "the reset ended the session"
    assert (await browser.login("handler1", PASSWORD)).status == 401, "the old password is gone"
    assert (await browser.login("handler1", one_time)).status == 303
    resp = await browser.get("/api/incidents")
    assert resp.status == 403 and (await resp.json())["error"] == "password_change_required"

    async def change(current: str, new: str) -> int:
        resp = await browser.session.post(
            browser.url("/account/password"),
            data={"csrf": browser.csrf, "current": current, "new": new, "again": new}, allow_redirects=False,
        )
        return resp.status

    assert await change(one_time, one_time) == 400, "the one-time password cannot be kept"
    other = Browser(client)
    try:
        assert (await other.login("handler1", one_time)).status == 303  # a second session
        assert await change(one_time, "a brand new long password") == 303
        assert (await other.get("/api/me")).status == 401, "a password change ends the other sessions"
    finally:
        await other.close()
    assert (await browser.get("/api/incidents")).status == 200, "the session that changed it goes on"
    assert (await browser.login("handler1", "a brand new long password")).status == 303


async def test_tokens_expire_and_are_revoked_and_listed_without_secrets(admin):
    client, csrf = admin
    accounts = client.app[ACCOUNTS]
    live, old = new_api_token(), new_api_token()
    await accounts.add_token("cad", "dispatcher", digest(live), "test", utcnow() + timedelta(days=1))
    await accounts.add_token("old", "dispatcher", digest(old), "test", utcnow() - timedelta(seconds=1))
    bearer = {"Authorization": f"Bearer {live}"}
    assert (await client.get("/api/incidents", headers=bearer)).status == 200
    assert (await client.get("/api/incidents", headers={"Authorization": f"Bearer {old}"})).status == 401
    listing = await (await client.get("/api/admin/tokens")).text()
    assert live not in listing and digest(live) not in listing
    tokens = (await (await client.get("/api/admin/tokens")).json())["tokens"]
    assert {t["name"]: t["active"] for t in tokens} == {"cad": True, "old": False}
    assert (await act(client, csrf, "/api/admin/tokens/cad/revoke"))[0] == 200
    assert (await client.get("/api/incidents", headers=bearer)).status == 401
    assert (await act(client, csrf, "/api/admin/tokens/cad/revoke"))[0] == 404


async def test_event_streams_close_when_the_token_is_revoked_or_the_session_ended(admin, browser):
    client, csrf = admin
    token = new_api_token()
    await client.app[ACCOUNTS].add_token("wall", "dispatcher", digest(token), "test")
    by_token = await client.ws_connect("/api/events", headers={"Authorization": f"Bearer {token}"})
    assert (await browser.login("handler1")).status == 303
    by_session = await browser.session.ws_connect(
        browser.url("/api/events"), headers={"Origin": browser.url("/").rstrip("/")}
    )
    await create_incident(client, csrf, ref="WYP-20261202-0001")  # both see events while valid
    for ws in (by_token, by_session):
        assert (await ws.receive_json(timeout=10))["type"] == "incident.created"
    assert (await act(client, csrf, "/api/admin/tokens/wall/revoke"))[0] == 200
    assert await closed_within(by_token, 15) == 4401
    assert not by_session.closed
    assert (await act(client, csrf, "/api/admin/operators/handler1/logout"))[0] == 200
    assert await closed_within(by_session, 15) == 4401


async def test_embed_links_are_listed_per_incident_and_withdrawn(admin):
    client, csrf = admin
    incident = await (await create_incident(client, csrf, ref="WYP-20261202-0002")).json()
    urls = []
    for _ in range(2):
        resp = await client.post(
            f"/api/incidents/{incident['id']}/embeds", json={"ttl_seconds": 600}, headers={"X-CSRF-Token": csrf}
        )
        urls.append((await resp.json())["url"].removeprefix("http://gw.test"))
    listed = (await (await client.get(f"/api/admin/embeds?incident={incident['id']}")).json())["embeds"]
    assert len(listed) == 2 and all(e["active"] and e["incident_id"] == incident["id"] for e in listed)
    assert all(url.rsplit("/", 1)[1] not in str(listed) for url in urls), "the tokens are never listed"
    assert (await act(client, csrf, f"/api/admin/embeds/{listed[0]['id']}/revoke"))[1] == {"revoked": 1}
    statuses = sorted([(await client.get(url)).status for url in urls])
    assert statuses == [200, 404]
    status, done = await act(client, csrf, f"/api/admin/incidents/{incident['id']}/embeds/revoke")
    assert status == 200 and done == {"revoked": 1}
    assert [(await client.get(url)).status for url in urls] == [404, 404]
    actions = [e["action"] for e in await client.app[DATABASE].audit_entries() if e["actor"] == "admin"]
    assert actions.count("embed.revoked") == 2

