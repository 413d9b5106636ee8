"""A whole gateway application on a temporary SQLite record, served by aiohttp's test server."""

from __future__ import annotations

import re
from dataclasses import replace
from pathlib import Path

import pytest

from gateway.app import build_app
from gateway.auth import hash_password
from gateway.config import load_settings
from gateway.record import Accounts
from gateway.web.keys import ACCOUNTS

PASSWORD = "a long test password"


@pytest.fixture
def settings(tmp_path: Path):
    base = load_settings(environ={"SCENELINK_DATA_DIR": str(tmp_path), "SCENELINK_TLS": "off"})
    return replace(base, public_url="http://gw.test", admin_password=PASSWORD)


@pytest.fixture
async def client(aiohttp_client, settings):
    app = build_app(settings)
    test_client = await aiohttp_client(app)
    accounts: Accounts = app[ACCOUNTS]
    for name, role in (("handler1", "handler"), ("dispatcher1", "dispatcher"), ("super1", "supervisor")):
        await accounts.add_operator(name, role, hash_password(PASSWORD), "test")
    return test_client


async def login(client, username: str, password: str = PASSWORD) -> str:
    """Sign in through the real form; returns the session's CSRF token."""
    page = await (await client.get("/login")).text()
    csrf = re.search(r'name="csrf" value="([^"]+)"', page).group(1)
    resp = await client.post(
        "/login", data={"username": username, "password": password, "csrf": csrf}, allow_redirects=False
    )
    assert resp.status == 303, await resp.text()
    me = await (await client.get("/api/me")).json()
    return me["csrf_token"]
