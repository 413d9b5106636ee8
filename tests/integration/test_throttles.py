"""Throttles answer at once and never touch a genuine caller: bad tokens from one address get
429 with Retry-After, a valid token from that address still opens, callers behind a trusted
proxy are throttled on their own addresses, and the log does not grow with the flood."""

from __future__ import annotations

import logging
import time
from dataclasses import replace

import pytest

from gateway.app import build_app

from .conftest import login
from .test_api import create_incident, send_link

BAD = "/c/" + "B" * 32


async def link_path(client) -> str:
    csrf = await login(client, "handler1")
    incident = await (await create_incident(client, csrf)).json()
    path = (await send_link(client, csrf, incident["id"]))["url"].removeprefix("http://gw.test")
    client.session.cookie_jar.clear()
    return path


async def timed_get(client, path: str, **kw):
    started = time.monotonic()
    resp = await client.get(path, **kw)
    await resp.read()
    return resp, time.monotonic() - started


async def test_bad_tokens_are_answered_429_at_once_and_a_valid_token_still_opens(client):
    path = await link_path(client)
    statuses = []
    for _ in range(12):
        resp, took = await timed_get(client, BAD)
        statuses.append(resp.status)
        assert took < 2, "a refusal is answered at once, never after a sleep on the connection"
    assert statuses[:6] == [404] * 6 and statuses[-1] == 429
    assert int(resp.headers["Retry-After"]) >= 1
    assert resp.headers["Content-Security-Policy"], "a raised 429 carries the security headers"
    api = await client.post(BAD + "/consent", json={})
    assert api.status == 429 and (await api.json())["error"] == "too_many_requests"

    genuine, took = await timed_get(client, path)
    assert genuine.status == 200 and took < 2, "the genuine caller is neither refused nor delayed"
    assert (await client.post(path + "/consent", json={})).status == 200


async def test_refused_tokens_are_logged_a_few_times_then_counted(behind_proxy, caplog):
    caplog.set_level(logging.WARNING, logger="gateway.web.caller")
    for i in range(300):
        # A flood from many addresses (behind the proxy): none is throttled, each one is refused.
        resp = await behind_proxy.get(f"/c/{i:032d}", headers={"X-Forwarded-For": f"198.51.{i // 256}.{i % 256}"})
        assert resp.status == 404
    lines = [r.getMessage() for r in caplog.records if "unknown link token" in r.getMessage()]
    assert 1 <= len(lines) <= 15, len(lines)


@pytest.fixture
async def behind_proxy(aiohttp_client, settings):
    """The gateway behind a reverse proxy on this machine: the test client is the proxy."""
    from gateway.auth import hash_password
    from gateway.web.keys import ACCOUNTS

    app = build_app(replace(settings, trusted_proxies=("127.0.0.0/8", "::1/128")))
    test_client = await aiohttp_client(app)
    await app[ACCOUNTS].add_operator("handler1", "handler", hash_password("a long test password"), "test")
    return test_client


async def test_callers_behind_one_trusted_proxy_have_their_own_throttle(behind_proxy):
    client = behind_proxy
    path = await link_path(client)
    attacker = {"X-Forwarded-For": "203.0.113.66"}
    for _ in range(12):
        resp, _ = await timed_get(client, BAD, headers=attacker)
    assert resp.status == 429
    other, _ = await timed_get(client, BAD, headers={"X-Forwarded-For": "198.51.100.20"})
    assert other.status == 404, "another caller behind the same proxy is not throttled"
    # Sending one's own X-Forwarded-For through the proxy changes nothing: the proxy appends.
    spoofed, _ = await timed_get(client, BAD, headers={"X-Forwarded-For": "198.51.100.99, 203.0.113.66"})
    assert spoofed.status == 429
    genuine, _ = await timed_get(client, path, headers={"X-Forwarded-For": "198.51.100.20"})
    assert genuine.status == 200


async def test_without_trusted_proxies_the_header_does_not_evade_the_throttle(client):
    for i in range(12):
        resp, _ = await timed_get(client, BAD, headers={"X-Forwarded-For": f"198.51.100.{i}"})
    assert resp.status == 429


async def test_raised_redirects_and_404s_carry_the_security_headers(client):
    for path in ("/console", "/static/caller/missing.js"):
        resp = await client.get(path, allow_redirects=False)
        assert resp.status in (303, 404)
        assert resp.headers["Content-Security-Policy"].count("connect-src 'self';") == 1, path
        assert resp.headers["X-Content-Type-Options"] == "nosniff"
