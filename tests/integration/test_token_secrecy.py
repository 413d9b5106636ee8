"""A link's token exists in two places only: the text as handed to the SMS provider, and the
answer to the handler who sent it. A dispatcher cannot read it from any API or event, and it is
in no file under the data directory (database, outbox) nor in any log line, the access log's
included."""

from __future__ import annotations

import asyncio
import json
import logging

from aiohttp.test_utils import TestServer

from gateway.app import build_app
from gateway.auth import digest, hash_password, new_api_token
from gateway.links import mask_tokens, new_token
from gateway.web.access_log import MaskedAccessLogger
from gateway.web.keys import ACCOUNTS

from .conftest import PASSWORD, login
from .test_api import create_incident, send_link

LEEDS = {"latitude": 53.7997, "longitude": -1.5492, "accuracy": 15.0}


async def test_a_dispatcher_never_sees_the_token_and_it_is_nowhere_at_rest(aiohttp_client, settings, caplog):
    caplog.set_level(logging.INFO)
    app = build_app(settings)
    server = TestServer(app)
    await server.start_server(access_log_class=MaskedAccessLogger)
    client = await aiohttp_client(server)
    await app[ACCOUNTS].add_operator("handler1", "handler", hash_password(PASSWORD), "test")
    dispatcher = new_api_token()
    await app[ACCOUNTS].add_token("cad-screen", "dispatcher", digest(dispatcher), "test")
    as_dispatcher = {"Authorization": f"Bearer {dispatcher}"}

    events = await client.ws_connect("/api/events", headers=as_dispatcher)
    csrf = await login(client, "handler1")
    incident = await (await create_incident(client, csrf)).json()
    link = await send_link(client, csrf, incident["id"])
    token = link["url"].rsplit("/", 1)[1]
    assert len(token) == 32, "the handler who sent it has the whole URL"

    handler_cookies = {c.key: c.value for c in client.session.cookie_jar}
    client.session.cookie_jar.clear()
    path = f"/c/{token}"
    assert (await client.get(path)).status == 200
    assert (await client.post(path + "/consent", json={})).status == 200
    fix = {"seq": 1, "timestamp": 1795735262000, **LEEDS}
    assert (await client.post(path + "/fixes", json={"fixes": [fix]})).status == 200
    client.session.cookie_jar.update_cookies(handler_cookies)

    seen: list[str] = []
    for url in (f"/api/incidents/{incident['id']}", "/api/incidents", f"/api/incidents/{incident['id']}/messages",
                f"/api/incidents/{incident['id']}/caller", f"/api/incidents/{incident['id']}/fixes.geojson",
                f"/api/incidents/{incident['id']}/eido", f"/api/incidents/{incident['id']}/location.pidf"):
        resp = await client.get(url, headers=as_dispatcher)
        assert resp.status == 200, (url, resp.status)
        seen.append(await resp.text())
    (message,) = json.loads(seen[0])["messages"]
    assert mask_tokens(link["url"]) in message["body"], "the dispatcher sees the text, its token masked"

    received: list[str] = []
    while not any('"sms.sent"' in m for m in received):
        received.append((await asyncio.wait_for(events.receive(), 5)).data)
    await events.close()
    seen += received

    for text in seen:
        assert token not in text
    await client.close()  # closes the record: everything is on disk

    files = [p for p in settings.data_dir.rglob("*") if p.is_file()]
    assert any(p.name.startswith("scenelink.db") for p in files) and any(p.suffix == ".json" for p in files)
    for p in files:
        assert token.encode() not in p.read_bytes(), p
    messages = [r.getMessage() for r in caplog.records]
    assert any(mask_tokens(f"/c/{token}/consent") in m for m in messages), "the access log ran, masked"
    assert not [m for m in messages if token in m]


async def test_outbox_files_an_earlier_release_wrote_whole_are_masked_when_the_gateway_starts(
    aiohttp_client, settings
):
    token = new_token()
    body = f"999 Control Room: tap this link to share your camera and location with us: http://gw.test/c/{token}"
    settings.outbox_dir.mkdir(parents=True)
    kept = settings.outbox_dir / "outbox-0123456789abcdef.json"
    kept.write_text(json.dumps({"id": "outbox-0123456789abcdef", "to": "+447400123456", "body": body}, indent=2))
    client = await aiohttp_client(build_app(settings))
    assert (await client.get("/healthz")).status == 200
    assert token not in kept.read_text()
    assert json.loads(kept.read_text())["body"] == mask_tokens(body)
