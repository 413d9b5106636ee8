"""A whole gateway application on a temporary record, served by aiohttp's test server.

The record is SQLite unless a module asks for both dialects by defining ``record_url`` as
``database_url`` (the API tests do: every request path then runs on SQLite and on PostgreSQL).
Modules about media keep SQLite only: the database is not what they exercise, and WebRTC is slow.
"""

from __future__ import annotations

import functools
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
def record_url(tmp_path: Path) -> str:
    return f"sqlite+aiosqlite:///{tmp_path / 'scenelink.db'}"


@pytest.fixture
def settings(tmp_path: Path, record_url: str):
    base = load_settings(environ={
        "SCENELINK_DATA_DIR": str(tmp_path), "SCENELINK_TLS": "off", "SCENELINK_DATABASE_URL": record_url,
    })
    return replace(base, public_url="http://gw.test", admin_password=PASSWORD)


@pytest.fixture
async def client(aiohttp_client, settings):
    app = build_app(settings)
    test_client = await aiohttp_client(app)
    accounts: Accounts = app[ACCOUNTS]
    for name, role in (("handler1", "handler"), ("dispatcher1", "dispatcher"), ("super1", "supervisor")):
        await accounts.add_operator(name, role, password_hash(), "test")
    return test_client


@functools.cache
def password_hash() -> str:
    """The test password's argon2 hash, computed once: each hash costs a second on a busy machine."""
    return hash_password(PASSWORD)


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
