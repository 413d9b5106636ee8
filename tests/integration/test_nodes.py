"""Two gateway nodes sharing one record and one Redis, as a force runs them behind nginx.

Each node is a whole application on its own port. An operator may use either: events published on
one reach a console on the other; a viewer's offer to the node that does not hold the caller is
answered by the one that does; a node that restarts leaves the other's live sessions alone; a node
that drains asks its callers to reconnect (to the other node) before it stops.
"""

from __future__ import annotations

import asyncio
import json
import re
import socket
import time
from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path

import pytest
from aiohttp.test_utils import TestClient, TestServer
from aiortc import RTCConfiguration, RTCPeerConnection, RTCSessionDescription

from gateway.app import build_app
from gateway.auth import hash_password
from gateway.record import Accounts
from gateway.web.keys import ACCOUNTS, DIRECTORY, INCIDENTS, LIVE, LOGIN_LOCKOUT, THROTTLE
from tests.services.redis import redis_server

from ..conftest import needs_test_network
from .conftest import PASSWORD, login
from .test_api import create_incident, send_link
from .test_media import gathered_offer, start_caller

pytestmark = needs_test_network

SECRET = "a node secret for the tests"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Node:
    def __init__(self, name: str, settings, redis_url: str) -> None:
        self.port = free_port()
        self.name = name
        self.settings = replace(
            settings, redis_url=redis_url, node_name=name, node_url=f"http://127.0.0.1:{self.port}",
            node_secret=SECRET, drain_seconds=3.0,
        )
        self.client: TestClient | None = None

    async def start(self) -> TestClient:
        server = TestServer(build_app(self.settings), host="127.0.0.1", port=self.port)
        self.client = TestClient(server)
        await self.client.start_server()
        return self.client

    async def stop(self) -> None:
        if self.client is not None:
            await self.client.close()
            self.client = None


@pytest.fixture
async def nodes(settings, tmp_path: Path) -> AsyncIterator[tuple[Node, Node]]:
    with redis_server(tmp_path / "redis") as url:
        a, b = Node("a", settings, url), Node("b", settings, url)
        client = await a.start()
        await b.start()
        accounts: Accounts = client.app[ACCOUNTS]
        await accounts.add_operator("handler1", "handler", hash_password(PASSWORD), "test")
        try:
            yield a, b
        finally:
            await b.stop()
            await a.stop()


async def until(condition, timeout: float = 15.0, what: str = "condition") -> None:
    async with asyncio.timeout(timeout):
        while not await condition():
            await asyncio.sleep(0.05)


async def caller_on(client: TestClient, csrf: str):
    """An incident whose caller streams to ``client``'s node."""
    incident = await (await create_incident(client, csrf)).json()
    path = (await send_link(client, csrf, incident["id"]))["url"].removeprefix("http://gw.test")
    handler_cookies = {c.key: c.value for c in client.session.cookie_jar}
    client.session.cookie_jar.clear()
    await client.get(path)
    pc, channel, replies = await start_caller(client, path)
    caller_cookies = {c.key: c.value for c in client.session.cookie_jar}
    client.session.cookie_jar.clear()
    client.session.cookie_jar.update_cookies(handler_cookies)

    async def streaming() -> bool:
        session = client.app[LIVE].by_incident.get(incident["id"])
        return bool(session and session.peer.latest.count)

    await until(streaming)
    return incident, path, pc, channel, replies, caller_cookies


async def test_a_console_on_one_node_sees_what_happens_on_the_other(nodes) -> None:
    a, b = nodes
    assert a.client and b.client
    csrf_a = await login(a.client, "handler1")
    await login(b.client, "handler1")
    ws = await b.client.ws_connect("/api/events")
    incident = await (await create_incident(a.client, csrf_a, ref="WYP-NODES-1")).json()
    async with asyncio.timeout(10):
        while True:
            event = json.loads((await ws.receive()).data)
            if event["type"] == "incident.created":
                break
    assert event["incident_id"] == incident["id"]
    await ws.close()


async def test_a_viewer_on_one_node_watches_a_caller_streaming_to_the_other(nodes) -> None:
    a, b = nodes
    assert a.client and b.client
    csrf_a = await login(a.client, "handler1")
    csrf_b = await login(b.client, "handler1")
    incident, _path, pc, channel, replies, _ = await caller_on(a.client, csrf_a)
    assert incident["id"] not in b.client.app[LIVE].by_incident

    async def known_on_b() -> bool:
        holder = await b.client.app[DIRECTORY].holder(incident["id"])
        return holder is not None and holder.node == "a"

    await until(known_on_b)
    viewer = RTCPeerConnection(RTCConfiguration(iceServers=[]))
    viewer.addTransceiver("video", direction="recvonly")
    tracks: asyncio.Queue = asyncio.Queue()
    viewer.on("track", tracks.put_nowait)
    try:
        resp = await b.client.post(f"/api/incidents/{incident['id']}/viewer", json=await gathered_offer(viewer),
                                   headers={"X-CSRF-Token": csrf_b})
        assert resp.status == 200, await resp.text()
        await viewer.setRemoteDescription(RTCSessionDescription(**await resp.json()))
        track = await asyncio.wait_for(tracks.get(), 10)
        frame = await asyncio.wait_for(track.recv(), 15)
        assert (frame.width, frame.height) == (640, 480)
        assert a.client.app[LIVE].by_incident[incident["id"]].plane.viewer_count() == 1  # served by node a
    finally:
        await viewer.close()
        await pc.close()


async def test_the_internal_viewer_route_is_for_nodes_only(nodes) -> None:
    a, _ = nodes
    assert a.client
    resp = await a.client.post("/internal/viewer", json={"incident_id": "x", "sdp": "v=0"})
    assert resp.status == 403
    resp = await a.client.post("/internal/viewer", json={}, headers={"Authorization": "Node wrong secret"})
    assert resp.status == 403


async def test_a_node_that_restarts_leaves_the_other_nodes_sessions_open(nodes) -> None:
    a, b = nodes
    assert a.client and b.client
    csrf_a = await login(a.client, "handler1")
    incident, _path, pc, *_ = await caller_on(a.client, csrf_a)
    session_id = a.client.app[LIVE].by_incident[incident["id"]].session_id

    async def claimed() -> bool:
        return session_id in await b.client.app[DIRECTORY].held_elsewhere([session_id])

    await until(claimed)
    await b.stop()
    await b.start()  # starting, it closes the sessions no live node holds: not node a's
    assert b.client
    open_ids = {s["id"] for s in await b.client.app[INCIDENTS].open_sessions()}
    assert session_id in open_ids
    await pc.close()


async def test_a_draining_node_moves_its_caller_to_the_other_node(nodes) -> None:
    a, b = nodes
    assert a.client and b.client
    csrf_a = await login(a.client, "handler1")
    incident, path, pc, channel, replies, caller_cookies = await caller_on(a.client, csrf_a)
    # The caller's page hears "end, not final" and reconnects; nginx would send it to node b.
    told: asyncio.Queue = asyncio.Queue()
    channel.on("message", lambda m: told.put_nowait(json.loads(m)))

    async def reconnect_to_b() -> None:
        while True:
            message = await told.get()
            if message.get("type") == "end":
                break
        assert message["final"] is False
        assert b.client
        b.client.session.cookie_jar.update_cookies(caller_cookies)
        new_pc, *_ = await start_caller(b.client, path)
        moved.append(new_pc)

    moved: list[RTCPeerConnection] = []
    mover = asyncio.ensure_future(reconnect_to_b())
    await a.stop()  # SIGTERM's path: stop listening, drain, clean up
    await asyncio.wait_for(mover, 15)
    assert incident["id"] in b.client.app[LIVE].by_incident
    sessions = await b.client.app[INCIDENTS].open_sessions()
    assert [s["incident_id"] for s in sessions] == [incident["id"]], "the old session ended, the new one is open"
    for peer in [pc, *moved]:
        await peer.close()


async def test_a_lone_node_tells_its_callers_to_come_back_and_stops_without_waiting_out_the_drain(settings) -> None:
    node = Node("alone", settings, redis_url="")
    node.settings = replace(node.settings, redis_url=None, drain_seconds=60.0)
    client = await node.start()
    try:
        await client.app[ACCOUNTS].add_operator("handler1", "handler", hash_password(PASSWORD), "test")
        csrf = await login(client, "handler1")
        _, _, pc, channel, _, _ = await caller_on(client, csrf)
        told: list[dict] = []
        channel.on("message", lambda m: told.append(json.loads(m)))
        stopping = time.monotonic()
        await node.stop()  # SIGTERM's path: stop listening, drain, clean up
        # No other node can take the caller: the drain does not wait for one to, and the page is
        # told the session ended but not the link, so it comes back once the gateway is back.
        assert time.monotonic() - stopping < 30, "the drain waited for another node"
        assert [m.get("final") for m in told if m.get("type") == "end"] == [False]
        await pc.close()
    finally:
        await node.stop()


async def test_a_guesser_spreading_bad_links_over_the_nodes_is_counted_once(nodes) -> None:
    a, b = nodes
    assert a.client and b.client
    for node in (a, b):
        node.client.app[THROTTLE].base = 30.0  # after the free failures, refused for 30 s
    answers = []
    for n in range(8):
        client = (a, b)[n % 2].client
        assert client
        resp = await client.get("/c/" + "x" * 31 + str(n % 10))
        answers.append(resp.status)
    # Five failures are free, the sixth starts the wait: the seventh is refused, whichever node.
    assert answers == [404] * 6 + [429, 429]
    resp = await a.client.get("/c/" + "y" * 32)
    assert resp.status == 429 and int(resp.headers["Retry-After"]) > 0


async def test_an_account_locked_on_one_node_is_locked_on_every_node(nodes) -> None:
    a, b = nodes
    assert a.client and b.client
    for node in (a, b):
        node.client.app[THROTTLE].free = 1000  # the address throttle aside: the lockout alone
    limit = a.client.app[LOGIN_LOCKOUT].limit
    for n in range(limit):
        client = (a, b)[n % 2].client
        assert client
        page = await (await client.get("/login")).text()
        csrf = re.search(r'name="csrf" value="([^"]+)"', page).group(1)  # type: ignore[union-attr]
        resp = await client.post("/login", data={"username": "handler1", "password": "wrong", "csrf": csrf},
                                 allow_redirects=False)
        assert resp.status == 401
    for node in (a, b):
        assert node.client
        page = await (await node.client.get("/login")).text()
        csrf = re.search(r'name="csrf" value="([^"]+)"', page).group(1)  # type: ignore[union-attr]
        resp = await node.client.post("/login", data={"username": "handler1", "password": PASSWORD, "csrf": csrf},
                                      allow_redirects=False)
        assert resp.status == 429, "the right password is refused on every node while the account is locked"


async def test_an_operator_on_one_node_acts_on_a_caller_streaming_to_the_other(nodes) -> None:
    a, b = nodes
    assert a.client and b.client
    csrf_a = await login(a.client, "handler1")
    csrf_b = await login(b.client, "handler1")
    incident, _path, pc, channel, replies, _ = await caller_on(a.client, csrf_a)
    held = a.client.app[LIVE].by_incident[incident["id"]]
    try:
        async def known_on_b() -> bool:
            return await b.client.app[DIRECTORY].holder(incident["id"]) is not None

        await until(known_on_b)
        resp = await b.client.post(f"/api/incidents/{incident['id']}/snapshots", json={},
                                   headers={"X-CSRF-Token": csrf_b})
        assert resp.status == 201, await resp.text()
        snap = await resp.json()
        assert snap["taken_by"] == "handler1" and (snap["width"], snap["height"]) == (640, 480)
        stream = await (await b.client.get(f"/api/incidents/{incident['id']}/stream")).json()
        assert stream["session_id"] == held.session_id
        resp = await b.client.put(f"/api/incidents/{incident['id']}/media-policy", json={"recording": False},
                                  headers={"X-CSRF-Token": csrf_b})
        assert resp.status == 200
        # Without the session's CSRF token the node refuses before forwarding anything.
        resp = await b.client.post(f"/api/incidents/{incident['id']}/snapshots", json={})
        assert resp.status == 403
        # And a request claiming to come from a node without the secret is refused outright.
        resp = await a.client.post(f"/api/incidents/{incident['id']}/snapshots", json={},
                                   headers={"Authorization": "Node guessed", "X-Scenelink-Operator":
                                            json.dumps({"name": "mallory", "role": "admin"})})
        assert resp.status == 401
    finally:
        await pc.close()
