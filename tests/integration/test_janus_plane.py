"""Janus's VideoRoom as the media plane, with aiortc callers and viewers: rooms, views, tokens."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from dataclasses import replace

import pytest
from aiortc import RTCConfiguration, RTCPeerConnection, RTCSessionDescription

from gateway.config import JanusSettings
from gateway.media.janus import JanusCaller
from gateway.web.keys import LIVE

from ..conftest import needs_test_network
from ..services.janus import Janus, janus_server
from .test_media import Quadrants, gathered_offer
from .test_media_features import open_caller, wait_for

pytestmark = needs_test_network


@pytest.fixture(scope="module")
def janus(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Janus]:
    with janus_server(tmp_path_factory.mktemp("janus"), "10.99.0.1") as server:
        yield server


@pytest.fixture
def settings(settings, janus):
    plane = JanusSettings(janus.url, janus.api_secret, janus.admin_key)
    return replace(settings, media=replace(settings.media, plane="janus", janus=plane))


async def open_view(client, incident_id: str, csrf: str) -> tuple[RTCPeerConnection, asyncio.Queue]:
    """A view as the console opens one: its offer is countered by Janus's, which it answers."""
    url = f"/api/incidents/{incident_id}/viewer"
    offering = RTCPeerConnection(RTCConfiguration(iceServers=[]))
    offering.addTransceiver("video", direction="recvonly")
    resp = await client.post(url, json=await gathered_offer(offering), headers={"X-CSRF-Token": csrf})
    await offering.close()
    assert resp.status == 200, await resp.text()
    reply = await resp.json()
    assert reply["type"] == "offer" and reply["viewer"], reply
    pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
    tracks: asyncio.Queue = asyncio.Queue()
    pc.on("track", tracks.put_nowait)
    await pc.setRemoteDescription(RTCSessionDescription(sdp=reply["sdp"], type="offer"))
    await pc.setLocalDescription(await pc.createAnswer())
    done = await client.post(
        f"{url}/{reply['viewer']}/answer", json={"type": "answer", "sdp": pc.localDescription.sdp},
        headers={"X-CSRF-Token": csrf},
    )
    assert done.status == 200, await done.text()
    again = await client.post(
        f"{url}/{reply['viewer']}/answer", json={"type": "answer", "sdp": pc.localDescription.sdp},
        headers={"X-CSRF-Token": csrf},
    )
    assert again.status == 404, "a view is answered once"
    return pc, tracks


async def test_views_come_from_the_room_and_their_tokens_go_with_them(client):
    incident, csrf, _, caller = await open_caller(client)
    session = client.app[LIVE].by_incident[incident["id"]]
    plane = session.plane
    assert isinstance(plane, JanusCaller)
    # The caller's, and the gateway's own: nobody else may join the room.
    assert len(await plane.allowed()) == 2

    pc, tracks = await open_view(client, incident["id"], csrf)
    frame = await asyncio.wait_for((await asyncio.wait_for(tracks.get(), 10)).recv(), 10)
    assert (frame.width, frame.height) == (640, 480)
    assert plane.viewer_count() == 1 and len(await plane.allowed()) == 3

    # The view closes: Janus reports it gone, and its token is revoked.
    await pc.close()

    async def revoked() -> bool:
        return plane.viewer_count() == 0 and len(await plane.allowed()) == 2

    for _ in range(200):
        if await revoked():
            break
        await asyncio.sleep(0.1)
    assert await revoked()

    room = plane.room
    assert room in await client.app[LIVE].plane.rooms()
    await client.app[LIVE].end(incident["id"], "handler1", "test over")
    await wait_for(lambda: incident["id"] not in client.app[LIVE].by_incident)
    assert room not in await client.app[LIVE].plane.rooms()
    await caller.close()


async def test_an_offer_without_a_data_channel_is_refused_with_a_reason(client):
    from .test_media_features import consented_link

    _, _, path, _ = await consented_link(client)
    pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
    pc.addTransceiver("video", direction="sendonly")
    resp = await client.post(path + "/offer", json=await gathered_offer(pc))
    assert resp.status == 400, await resp.text()
    assert "data channel" in (await resp.json())["message"]
    await pc.close()


async def test_a_view_opened_on_the_other_node_is_answered_through_the_node_holding_the_caller(settings, tmp_path):
    from gateway.auth import hash_password
    from gateway.web.keys import ACCOUNTS, DIRECTORY

    from ..services.redis import redis_server
    from .conftest import PASSWORD, login
    from .test_nodes import Node, caller_on, until

    with redis_server(tmp_path / "redis") as url:
        a, b = Node("a", settings, url), Node("b", settings, url)
        client_a, client_b = await a.start(), await b.start()
        try:
            await client_a.app[ACCOUNTS].add_operator("handler1", "handler", hash_password(PASSWORD), "test")
            csrf_a, csrf_b = await login(client_a, "handler1"), await login(client_b, "handler1")
            incident, _, caller, _, _, _ = await caller_on(client_a, csrf_a)

            async def known_on_b() -> bool:
                holder = await client_b.app[DIRECTORY].holder(incident["id"])
                return holder is not None and holder.node == "a"

            await until(known_on_b)
            pc, tracks = await open_view(client_b, incident["id"], csrf_b)
            frame = await asyncio.wait_for((await asyncio.wait_for(tracks.get(), 10)).recv(), 10)
            assert (frame.width, frame.height) == (640, 480)
            assert client_a.app[LIVE].by_incident[incident["id"]].plane.viewer_count() == 1  # node a's room
            await pc.close()
            await caller.close()
        finally:
            await b.stop()
            await a.stop()


async def test_withdrawing_the_link_destroys_the_room_and_its_tokens(client):
    incident, csrf, _, caller = await open_caller(client)
    plane = client.app[LIVE].by_incident[incident["id"]].plane
    assert isinstance(plane, JanusCaller)
    record = await (await client.get(f"/api/incidents/{incident['id']}")).json()
    link_id = record["links"][-1]["id"]
    resp = await client.post(f"/api/incidents/{incident['id']}/links/{link_id}/revoke", json={},
                             headers={"X-CSRF-Token": csrf})
    assert resp.status == 200, await resp.text()
    await wait_for(lambda: incident["id"] not in client.app[LIVE].by_incident)
    assert plane.room not in await client.app[LIVE].plane.rooms()
    await caller.close()


async def test_pages_get_janus_sdp_without_the_room_name(client):
    incident, csrf, path, caller = await open_caller(client)
    answer = caller.remoteDescription.sdp
    room = client.app[LIVE].by_incident[incident["id"]].plane.room
    assert room not in answer and "s=-" in answer
    offering = RTCPeerConnection(RTCConfiguration(iceServers=[]))
    offering.addTransceiver("video", direction="recvonly")
    resp = await client.post(f"/api/incidents/{incident['id']}/viewer", json=await gathered_offer(offering),
                             headers={"X-CSRF-Token": csrf})
    await offering.close()
    assert room not in (await resp.json())["sdp"]
    await caller.close()


@pytest.fixture
def janus_to_stop(tmp_path):
    with janus_server(tmp_path / "janus-own", "10.99.0.1") as server:
        yield server


async def test_a_caller_on_a_janus_that_stops_is_seen_again_through_the_gateway(
    aiohttp_client, settings, janus_to_stop
):
    import os
    import signal

    from gateway.app import build_app
    from gateway.auth import hash_password
    from gateway.media.plane import EmbeddedCaller
    from gateway.web.keys import ACCOUNTS

    from .conftest import PASSWORD

    plane = JanusSettings(janus_to_stop.url, janus_to_stop.api_secret, janus_to_stop.admin_key)
    media = replace(settings.media, plane="janus", janus=plane, silence_timeout_seconds=2.0)
    client = await aiohttp_client(build_app(replace(settings, media=media)))
    await client.app[ACCOUNTS].add_operator("handler1", "handler", hash_password(PASSWORD), "test")
    incident, _, path, caller = await open_caller(client)
    first = client.app[LIVE].by_incident[incident["id"]]
    assert isinstance(first.plane, JanusCaller)

    os.kill(janus_to_stop.pid, signal.SIGKILL)
    # No more frames through Janus: the session ends after the silence timeout (the page reconnects).
    await wait_for(lambda: client.app[LIVE].by_incident.get(incident["id"]) is not first, timeout=15)
    await caller.close()

    again = RTCPeerConnection(RTCConfiguration(iceServers=[]))
    again.addTrack(Quadrants())
    again.createDataChannel("fixes")
    resp = await client.post(path + "/offer", json=await gathered_offer(again))
    assert resp.status == 200, await resp.text()
    await again.setRemoteDescription(RTCSessionDescription(**await resp.json()))
    await wait_for(lambda: (s := client.app[LIVE].by_incident.get(incident["id"])) is not None
                   and s.peer.latest.count > 0, timeout=15)
    assert isinstance(client.app[LIVE].by_incident[incident["id"]].plane, EmbeddedCaller)
    await again.close()
