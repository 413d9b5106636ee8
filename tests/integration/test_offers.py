"""Offers on one link cannot race or leak: a hundred answered at once leave exactly one peer
connection and no UDP socket behind, and the genuine caller streams afterwards."""

from __future__ import annotations

import asyncio
import gc
from pathlib import Path

from aiortc import RTCConfiguration, RTCPeerConnection, RTCSessionDescription

from gateway.media.ingest import CallerPeer
from gateway.web.keys import LIVE

from ..conftest import needs_test_network
from .conftest import login
from .test_api import create_incident, send_link
from .test_media import Quadrants, gathered_offer

pytestmark = needs_test_network


def udp_sockets() -> int:
    """UDP sockets open in this network namespace (the test's peers and the gateway's)."""
    return sum(len(Path(f"/proc/net/{kind}").read_text().splitlines()) - 1 for kind in ("udp", "udp6"))


def open_gateway_peers() -> int:
    gc.collect()
    return sum(1 for o in gc.get_objects() if isinstance(o, CallerPeer) and o.pc.connectionState != "closed")


async def until(check, timeout: float = 20.0, every: float = 0.1) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not check():
        assert asyncio.get_running_loop().time() < deadline, "timed out waiting"
        await asyncio.sleep(every)


async def offer(client, path: str, body: dict) -> tuple[int, dict, dict]:
    resp = await client.post(path + "/offer", json=body)
    return resp.status, await resp.json(), dict(resp.headers)


def caller_pc() -> RTCPeerConnection:
    pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
    pc.addTrack(Quadrants())
    pc.createDataChannel("fixes")
    return pc


async def test_a_hundred_parallel_offers_leave_one_peer_connection_and_no_sockets(client):
    csrf = await login(client, "handler1")
    incident = await (await create_incident(client, csrf)).json()
    path = (await send_link(client, csrf, incident["id"]))["url"].removeprefix("http://gw.test")
    client.session.cookie_jar.clear()
    assert (await client.get(path)).status == 200
    assert (await client.post(path + "/consent", json={})).status == 200
    live = client.app[LIVE]

    flood_pc = caller_pc()
    body = await gathered_offer(flood_pc)
    await until(lambda: open_gateway_peers() == 0)
    before = udp_sockets()

    results = await asyncio.gather(*(offer(client, path, body) for _ in range(100)))
    statuses = [status for status, _, _ in results]
    assert set(statuses) == {200, 429}, statuses
    assert 1 <= statuses.count(200) <= 4, "a burst of reconnections is allowed, not a hundred"
    refused = next(headers for status, _, headers in results if status == 429)
    assert int(refused["Retry-After"]) >= 1

    await until(lambda: open_gateway_peers() == 1)
    assert len(live.by_incident) == 1
    # Every replaced peer connection has been closed and has given back its sockets: what is
    # left is the one current connection's, at most one per local address (and its TURN/STUN
    # sockets, none here).
    await until(lambda: udp_sockets() - before <= 2)
    await flood_pc.close()

    # The genuine caller connects once the link's offers are allowed again, and streams.
    pc = caller_pc()
    genuine_body = await gathered_offer(pc)
    for _ in range(100):
        status, answer, headers = await offer(client, path, genuine_body)
        if status != 429:
            break
        await asyncio.sleep(float(headers["Retry-After"]))
    assert status == 200, answer
    await pc.setRemoteDescription(RTCSessionDescription(**answer))
    try:
        await until(lambda: (s := live.by_incident.get(incident["id"])) is not None and s.peer.latest.count > 5)
        await until(lambda: open_gateway_peers() == 1)
    finally:
        await pc.close()


async def test_the_maximum_length_ends_the_session_through_a_task_the_sessions_own(
    aiohttp_client, settings, monkeypatch
):
    from dataclasses import replace

    import gateway.app
    from gateway.app import build_app
    from gateway.auth import hash_password
    from gateway.web.keys import ACCOUNTS

    from .conftest import PASSWORD

    # The periodic sweep, which also ends links past their maximum, runs once at start and not
    # again: only the session's own timer can end this session.
    monkeypatch.setattr(gateway.app, "EXPIRY_SWEEP_SECONDS", 3600)
    app = build_app(replace(settings, session_max_seconds=3))
    client = await aiohttp_client(app)
    await app[ACCOUNTS].add_operator("handler1", "handler", hash_password(PASSWORD), "test")
    csrf = await login(client, "handler1")
    incident = await (await create_incident(client, csrf)).json()
    path = (await send_link(client, csrf, incident["id"]))["url"].removeprefix("http://gw.test")
    client.session.cookie_jar.clear()
    await client.get(path)
    await client.post(path + "/consent", json={})
    live = app[LIVE]
    pc = caller_pc()
    status, answer, _ = await offer(client, path, await gathered_offer(pc))
    assert status == 200
    await pc.setRemoteDescription(RTCSessionDescription(**answer))
    try:
        await until(lambda: incident["id"] in live.by_incident)
        await until(lambda: incident["id"] not in live.by_incident, timeout=30)
        await until(lambda: len(live._tasks) == 0, timeout=10)
    finally:
        await pc.close()
    client.session.cookie_jar.clear()
    await login(client, "handler1")
    record = await (await client.get(f"/api/incidents/{incident['id']}")).json()
    assert record["sessions"][0]["end_reason"] == "maximum session length reached"
