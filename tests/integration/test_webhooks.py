"""Webhooks against a real receiver on this machine that fails, times out and recovers, across a
gateway restart: every event arrives, signed, once per delivery id, in order within each incident;
a delivery that keeps failing waits as a dead letter for a supervisor to retry it."""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import replace

import pytest
from aiohttp import web

from gateway.app import build_app
from gateway.auth import hash_password
from gateway.config import WebhookEndpoint
from gateway.events import EventBus
from gateway.record import Database
from gateway.record.outbox import Outbox
from gateway.web.keys import ACCOUNTS, DATABASE
from gateway.webhooks import SignatureError, Webhooks, verify

from .conftest import PASSWORD, login

SECRET = "a shared secret of some length"


class Receiver:
    """A CAD's integration service: checks each delivery, drops repeats, and misbehaves on cue."""

    def __init__(self) -> None:
        self.mode = "ok"  # "ok", "fail" (HTTP 503) or "hang" (takes it, answers after the sender gave up)
        self.fail_for: set[str] = set()  # incidents whose deliveries always fail
        self.seen: set[str] = set()
        self.received: list[dict] = []  # accepted deliveries, in the order they were accepted
        self.repeats = 0
        self.refused = 0
        self.tries = 0

    async def handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        self.tries += 1
        try:
            verify(SECRET, request.headers.get("X-Scenelink-Timestamp"),
                   request.headers.get("X-Scenelink-Signature"), body)
        except SignatureError:
            self.refused += 1
            return web.Response(status=401)
        delivery = json.loads(body)
        if self.mode == "fail" or delivery["incident_id"] in self.fail_for:
            return web.Response(status=503)
        assert request.headers["X-Scenelink-Delivery"] == delivery["delivery_id"]
        if delivery["delivery_id"] in self.seen:
            self.repeats += 1
        else:
            self.seen.add(delivery["delivery_id"])
            self.received.append(delivery)
        if self.mode == "hang":
            # Acted on, but the answer comes after the sender gave up: it will send this again.
            await asyncio.sleep(2)
        return web.Response(status=204)

    def of(self, incident_id: str) -> list[tuple[str, str | None]]:
        return [
            (d["type"], d["data"].get("state")) for d in self.received if d["incident_id"] == incident_id
        ]


@pytest.fixture
async def receiver(aiohttp_server):
    rec = Receiver()
    app = web.Application()
    app.router.add_post("/hook", rec.handle)
    server = await aiohttp_server(app, host="127.0.0.1")
    rec.url = str(server.make_url("/hook"))
    return rec


def with_webhook(settings, receiver, **kw):
    endpoint = WebhookEndpoint(
        name="cad", url=receiver.url, secret=SECRET, timeout_seconds=0.5,
        first_retry_seconds=0.05, max_retry_seconds=0.2, **kw,
    )
    return replace(settings, webhooks=(endpoint,))


async def gateway(aiohttp_client, settings):
    client = await aiohttp_client(build_app(settings))
    accounts = client.app[ACCOUNTS]
    for name, role in (("handler1", "handler"), ("super1", "supervisor")):
        if await accounts.operator_by_name(name) is None:
            await accounts.add_operator(name, role, hash_password(PASSWORD), "test")
    return client, await login(client, "handler1")


async def incident_story(client, csrf, reference: str) -> str:
    """Create an incident, text a link, replace it, end the incident: five events."""
    headers = {"X-CSRF-Token": csrf}
    resp = await client.post(
        "/api/incidents", json={"reference": reference, "caller_phone": "07400 123456"}, headers=headers
    )
    assert resp.status == 201, await resp.text()
    incident_id = (await resp.json())["id"]
    for _ in range(2):
        assert (await client.post(f"/api/incidents/{incident_id}/links", json={}, headers=headers)).status == 201
    assert (await client.post(f"/api/incidents/{incident_id}/end", json={}, headers=headers)).status == 200
    return incident_id


STORY = [
    ("incident.created", None), ("link.state", "sent"), ("link.state", "revoked"), ("link.state", "sent"),
    ("link.state", "ended"),
]


async def until(condition, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out waiting"
        await asyncio.sleep(0.05)


async def test_failures_timeouts_and_a_restart_lose_nothing_and_keep_each_incidents_order(
    aiohttp_client, settings, receiver
):
    settings = with_webhook(settings, receiver)
    receiver.mode = "fail"
    client, csrf = await gateway(aiohttp_client, settings)
    first = [await incident_story(client, csrf, f"WYP-WH-{n}") for n in range(3)]
    await until(lambda: receiver.tries >= 6)  # it has been trying, and failing
    receiver.mode = "hang"
    tries = receiver.tries
    await until(lambda: receiver.tries >= tries + 3)  # and timing out
    await client.close()  # the gateway stops with every delivery still owed

    receiver.mode = "ok"
    client, csrf = await gateway(aiohttp_client, settings)
    second = [await incident_story(client, csrf, f"WYP-WH-{n}") for n in range(3, 5)]
    await until(lambda: len(receiver.received) == 5 * len(first + second))
    for incident_id in first + second:
        assert receiver.of(incident_id) == STORY, incident_id
    assert receiver.repeats >= 1, "deliveries the receiver took but never answered came again"
    ids = {d["delivery_id"] for d in receiver.received}
    assert len(ids) == len(receiver.received), "and were dropped by their delivery id"
    assert receiver.refused == 0, "every signature checked out"
    await client.close()


async def test_a_delivery_that_keeps_failing_waits_for_a_supervisor_and_holds_back_only_its_incident(
    aiohttp_client, settings, receiver
):
    settings = with_webhook(settings, receiver, max_attempts=3)
    client, csrf = await gateway(aiohttp_client, settings)
    headers = {"X-CSRF-Token": csrf}
    resp = await client.post(
        "/api/incidents", json={"reference": "WYP-STUCK", "caller_phone": "07400 123456"}, headers=headers
    )
    stuck = (await resp.json())["id"]
    receiver.fail_for.add(stuck)
    await client.post(f"/api/incidents/{stuck}/links", json={}, headers=headers)
    flowing = await incident_story(client, csrf, "WYP-FLOWING")
    await until(lambda: receiver.of(flowing) == STORY)
    assert receiver.of(stuck) == []

    assert (await client.get("/api/webhooks/deliveries?state=dead")).status == 403, "handlers cannot see them"
    supervisor = await login(client, "super1")

    async def dead():
        body = await (await client.get("/api/webhooks/deliveries?state=dead")).json()
        return body["deliveries"]

    deadline = time.monotonic() + 20
    while not (letters := await dead()):
        assert time.monotonic() < deadline
        await asyncio.sleep(0.05)
    (letter,) = letters
    assert letter["incident_id"] == stuck and letter["event_type"] == "incident.created"
    assert letter["attempts"] == 3 and letter["last_error"] == "HTTP 503"
    overview = await (await client.get("/api/webhooks")).json()
    assert overview["counts"]["dead"] == 1 and overview["counts"]["pending"] == 1, "the link waits behind it"
    assert overview["endpoints"] == [{
        "name": "cad", "host": "127.0.0.1", "max_attempts": 3,
        "events": ["incident.created", "link.state", "fix", "snapshot", "session.started", "session.ended"],
    }]

    receiver.fail_for.clear()
    resp = await client.post(
        f"/api/webhooks/deliveries/{letter['delivery_id']}/retry", headers={"X-CSRF-Token": supervisor}
    )
    assert resp.status == 200 and (await resp.json())["state"] == "pending"
    await until(lambda: receiver.of(stuck) == STORY[:2])
    again = await client.post(
        f"/api/webhooks/deliveries/{letter['delivery_id']}/retry", headers={"X-CSRF-Token": supervisor}
    )
    assert again.status == 404, "only a dead delivery can be retried"
    (entry,) = [e for e in await client.app[DATABASE].audit_entries(stuck) if e["action"] == "webhook.retried"]
    assert entry["actor"] == "super1" and entry["detail"]["delivery_id"] == letter["delivery_id"]
    await client.close()


async def test_two_nodes_sharing_one_outbox_post_each_delivery_once_and_in_order(tmp_path, receiver):
    db = await Database.open(f"sqlite+aiosqlite:///{tmp_path / 'shared.db'}")
    endpoint = (WebhookEndpoint(name="cad", url=receiver.url, secret=SECRET, first_retry_seconds=0.05),)
    buses = [EventBus(), EventBus()]
    nodes = [Webhooks(Outbox(db), bus, endpoint, node) for bus, node in zip(buses, ("node-a", "node-b"), strict=True)]
    for node in nodes:
        node.start()
    try:
        # Each incident's caller is on one node; both nodes' workers see every row of the outbox.
        for n in range(12):
            buses[n % 3 % 2].publish("fix", f"inc_{n % 3}", {"seq": n})
        outbox = Outbox(db)

        async def delivered() -> int:
            return (await outbox.counts())["delivered"]

        deadline = time.monotonic() + 20
        while await delivered() < 12:
            assert time.monotonic() < deadline, "timed out waiting"
            await asyncio.sleep(0.05)
        assert receiver.tries == 12 and receiver.repeats == 0, "each row posted by one node, once"
        assert all(d["attempts"] == 1 for d in await outbox.list())
        for incident in ("inc_0", "inc_1", "inc_2"):
            seqs = [d["data"]["seq"] for d in receiver.received if d["incident_id"] == incident]
            assert seqs == sorted(seqs) and len(seqs) == 4, incident
    finally:
        for node in nodes:
            await node.close()
        await db.close()
