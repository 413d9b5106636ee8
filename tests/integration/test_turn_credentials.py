"""TURN credentials over HTTP: the caller's page gets one minted for its link at consent and a
fresh one on asking (before a new connection), an operator's console one of its own; each ends
with what it is for, and none is ever logged. coturn's own check is done by hand here (HMAC-SHA1
of the username with the shared secret, the expiry still ahead)."""

from __future__ import annotations

import base64
import hmac
import logging
import time
from dataclasses import replace

import pytest

from gateway.config import TurnSettings
from gateway.ice import RENEW_BURST

from .conftest import login
from .test_callers import Caller, incident_with_link

SECRET = b"secret-shared-with-coturn-for-tests"
TURN_URL = "turns:turn.example.police.uk:443?transport=tcp"


@pytest.fixture
def settings(settings):
    # A session may last 10 minutes: the credential (at most 30) must end with it.
    return replace(settings, session_max_seconds=600,
                   turn=TurnSettings(urls=(TURN_URL,), credential_seconds=1800, secret=SECRET))


def turn_entry(answer: dict) -> dict:
    (entry,) = [s for s in answer["ice_servers"] if s["urls"] == [TURN_URL]]
    return entry


def coturn_accepts(entry: dict, at: float) -> bool:
    expected = base64.b64encode(hmac.new(SECRET, entry["username"].encode(), "sha1").digest()).decode()
    return entry["credential"] == expected and int(entry["username"].split(":")[0]) > at


async def test_the_caller_gets_credentials_that_end_with_its_session(client, caller_log):
    csrf = await login(client, "handler1")
    _, link = await incident_with_link(client, csrf)
    phone = Caller(client, link["url"])
    try:
        assert (await phone.post("/ice", json={})).status == 404, "an unopened link gets nothing"
        assert (await phone.get()).status == 200
        before = await phone.post("/ice", json={})
        assert before.status == 409, "nothing before consent"
        opened = time.time()
        consent = await phone.post("/consent", json={})
        first = turn_entry(await consent.json())
        assert coturn_accepts(first, time.time())
        assert first["username"].split(":", 1)[1].startswith(f"link-{link['id']}-")
        # The session's maximum (600 s) comes before the configured lifetime (1800 s).
        assert int(first["username"].split(":")[0]) <= opened + 600 + 1
        assert 0 < (await consent.json())["ice_servers_expire_in"] <= 600

        renewed = await phone.post("/ice", json={})
        assert renewed.status == 200
        second = turn_entry(await renewed.json())
        assert coturn_accepts(second, time.time()) and second["username"] != first["username"]
        # A few more (reloads, a change of network), then no faster than one every 10 s.
        statuses = [(await phone.post("/ice", json={})).status for _ in range(RENEW_BURST)]
        assert statuses[:-1] == [200] * (RENEW_BURST - 1) and statuses[-1] == 429
    finally:
        await phone.close()
    logged = caller_log.text
    assert first["username"] in logged, "the username (nothing secret) names the link in the log"
    for secret in (SECRET.decode(), first["credential"], second["credential"]):
        assert secret not in logged


async def test_a_revoked_link_gets_no_more_credentials(client):
    csrf = await login(client, "handler1")
    incident, link = await incident_with_link(client, csrf)
    phone = Caller(client, link["url"])
    try:
        await phone.consent()
        revoked = await client.post(f"/api/incidents/{incident['id']}/links/{link['id']}/revoke", json={},
                                    headers={"X-CSRF-Token": csrf})
        assert revoked.status in (200, 204), await revoked.text()
        assert (await phone.post("/ice", json={})).status == 404
    finally:
        await phone.close()


async def test_an_operator_console_gets_a_credential_of_its_own(client):
    await login(client, "dispatcher1")
    config = await (await client.get("/api/client-config")).json()
    entry = turn_entry(config)
    assert entry["username"].split(":", 1)[1].startswith("operator-dispatcher1-")
    assert coturn_accepts(entry, time.time()) and 0 < config["ice_servers_expire_in"] <= 1800


@pytest.fixture
def caller_log(caplog):
    caplog.set_level(logging.INFO)
    return caplog


async def test_an_embedded_view_gets_a_credential_of_its_own_until_it_is_withdrawn(client):
    from datetime import timedelta

    from gateway.auth import digest
    from gateway.record.database import utcnow
    from gateway.web.keys import ACCOUNTS

    csrf = await login(client, "handler1")
    incident, _ = await incident_with_link(client, csrf)
    made = await client.post(f"/api/incidents/{incident['id']}/embeds", json={"ttl_seconds": 600},
                             headers={"X-CSRF-Token": csrf})
    assert made.status == 201, await made.text()
    embed = (await made.json())["url"].removeprefix("http://gw.test")
    client.session.cookie_jar.clear()  # a CAD screen has no operator session
    answer = await (await client.post(embed + "/ice")).json()
    entry = turn_entry(answer)
    assert entry["username"].split(":", 1)[1].startswith(f"embed-{incident['id']}-")
    assert coturn_accepts(entry, time.time())
    withdrawn = utcnow() - timedelta(seconds=1)
    await client.app[ACCOUNTS].add_embed_token(digest("old-token"), incident["id"], "h", withdrawn)
    assert (await client.post("/embed/old-token/ice")).status == 404
