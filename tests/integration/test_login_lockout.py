"""Sign-in brute force is refused, not only slowed: an account or an address that fails too often
is locked (429 with Retry-After at once, the right password included), the lock is audited, and
password hashing has a bounded pool of its own (503 at once when it is full)."""

from __future__ import annotations

import asyncio
import re
import threading
import time
from dataclasses import replace

import pytest

from gateway.app import build_app
from gateway.config import LoginSettings
from gateway.web.keys import ACCOUNTS, DATABASE, PASSWORDS

from .conftest import PASSWORD, password_hash


@pytest.fixture
async def gateway(aiohttp_client, settings):
    """Behind a trusted reverse proxy, so each attempt can come from an address of its own."""
    app = build_app(replace(settings, trusted_proxies=("127.0.0.0/8", "::1/128")))
    client = await aiohttp_client(app)
    for name in ("handler1", "handler2", "handler3"):
        await app[ACCOUNTS].add_operator(name, "handler", password_hash(), "test")
    return client


async def attempt(client, username: str, password: str, address: str):
    headers = {"X-Forwarded-For": address}
    page = await (await client.get("/login", headers=headers)).text()
    csrf = re.search(r'name="csrf" value="([^"]+)"', page).group(1)
    started = time.monotonic()
    resp = await client.post(
        "/login", data={"username": username, "password": password, "csrf": csrf},
        headers=headers, allow_redirects=False,
    )
    await resp.read()
    return resp, time.monotonic() - started


async def audit_actions(client) -> list[dict]:
    return [e for e in await client.app[DATABASE].audit_entries() if e["action"].startswith("login")]


async def test_an_account_guessed_from_many_addresses_is_locked_and_the_right_password_refused(gateway):
    statuses = []
    for i in range(112):
        resp, took = await attempt(gateway, "handler1", f"guess {i:04d} guess", f"198.51.100.{i % 250 + 1}")
        statuses.append(resp.status)
        if resp.status == 429:
            assert took < 2.0, "a refusal is answered at once, never after a sleep on the connection"
    assert statuses == [401] * 10 + [429] * 102
    resp, _ = await attempt(gateway, "handler1", PASSWORD, "203.0.113.7")
    assert resp.status == 429, "the right password is refused while the account is locked"
    assert 1 <= int(resp.headers["Retry-After"]) <= 900
    assert "SCENELINK_SESSION" not in {c.upper() for c in resp.cookies}
    # Another account is not locked by it.
    assert (await attempt(gateway, "handler2", PASSWORD, "203.0.113.8"))[0].status == 303
    entries = await audit_actions(gateway)
    assert [e["action"] for e in entries].count("login.failed") == 10
    (locked,) = [e for e in entries if e["action"] == "login.locked"]
    assert locked["detail"]["locked"] == "account" and locked["detail"]["username"] == "handler1"


async def test_an_address_that_fails_too_often_is_locked_for_every_account(aiohttp_client, settings):
    app = build_app(replace(
        settings, trusted_proxies=("127.0.0.0/8",), login=LoginSettings(max_failures=3, lockout_seconds=600),
    ))
    client = await aiohttp_client(app)
    await app[ACCOUNTS].add_operator("handler1", "handler", password_hash(), "test")
    for name in ("ann", "bob", "cat"):
        assert (await attempt(client, name, "not the password", "192.0.2.9"))[0].status == 401
    resp, _ = await attempt(client, "handler1", PASSWORD, "192.0.2.9")
    assert resp.status == 429 and 500 < int(resp.headers["Retry-After"]) <= 600
    assert (await attempt(client, "handler1", PASSWORD, "192.0.2.10"))[0].status == 303  # others still sign in
    (locked,) = [e for e in await audit_actions(client) if e["action"] == "login.locked"]
    assert locked["detail"]["locked"] == "address" and locked["detail"]["address"] == "192.0.2.9"


async def test_password_hashing_has_its_own_bounded_pool(gateway):
    pool = gateway.app[PASSWORDS]
    release = threading.Event()
    held = [asyncio.ensure_future(pool.run(release.wait)) for _ in range(pool.capacity)]
    deadline = time.monotonic() + 10
    while pool.in_flight < pool.capacity:
        assert time.monotonic() < deadline
        await asyncio.sleep(0.01)
    try:
        resp, took = await attempt(gateway, "handler1", PASSWORD, "203.0.113.20")
        assert resp.status == 503 and resp.headers["Retry-After"] == "1" and took < 2.0
        # Media work on the default executor is not queued behind the hashing.
        assert await asyncio.wait_for(asyncio.to_thread(lambda: "free"), 5) == "free"
    finally:
        release.set()
        await asyncio.gather(*held)
    assert (await attempt(gateway, "handler1", PASSWORD, "203.0.113.20"))[0].status == 303
