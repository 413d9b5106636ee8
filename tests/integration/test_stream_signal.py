"""A caller's video that stops while the caller stays connected: snapshots refuse to pass an old
frame off as the scene now, and say how old a frame stored on request was."""

from __future__ import annotations

import asyncio
from dataclasses import replace

import av
import pytest

from gateway.web.keys import INCIDENTS, LIVE

from ..conftest import needs_test_network
from .conftest import login
from .test_api import create_incident, send_link
from .test_media import Quadrants, start_caller

pytestmark = needs_test_network

MAX_AGE = 0.8


class FreezableCamera(Quadrants):
    """The test camera, which stops delivering frames while ``running`` is clear."""

    def __init__(self) -> None:
        super().__init__()
        self.running = asyncio.Event()
        self.running.set()

    async def recv(self) -> av.VideoFrame:
        await self.running.wait()
        return await super().recv()


@pytest.fixture
def settings(settings):
    return replace(settings, media=replace(settings.media, max_snapshot_age_seconds=MAX_AGE))


@pytest.fixture
async def caller(client):
    csrf = await login(client, "handler1")
    incident = await (await create_incident(client, csrf)).json()
    path = (await send_link(client, csrf, incident["id"]))["url"].removeprefix("http://gw.test")
    handler_cookies = {c.key: c.value for c in client.session.cookie_jar}
    client.session.cookie_jar.clear()
    await client.get(path)
    camera = FreezableCamera()
    pc, channel, replies = await start_caller(client, path, camera)
    client.session.cookie_jar.update_cookies(handler_cookies)
    live = client.app[LIVE]
    await until(lambda: live.by_incident.get(incident["id"]) and live.by_incident[incident["id"]].peer.latest.count)
    yield {"incident": incident, "csrf": csrf, "camera": camera, "session": live.by_incident[incident["id"]]}
    await pc.close()


async def until(condition, timeout: float = 10.0, step: float = 0.05):
    deadline = asyncio.get_running_loop().time() + timeout
    while not (value := condition()):
        assert asyncio.get_running_loop().time() < deadline, "condition not reached in time"
        await asyncio.sleep(step)
    return value


async def test_a_snapshot_of_live_video_is_fresh_and_says_its_age(client, caller):
    resp = await client.post(
        f"/api/incidents/{caller['incident']['id']}/snapshots", json={}, headers={"X-CSRF-Token": caller["csrf"]}
    )
    assert resp.status == 201, await resp.text()
    snap = await resp.json()
    assert 0 <= snap["frame_age_seconds"] <= MAX_AGE


async def test_a_frozen_stream_refuses_a_snapshot_unless_the_old_frame_is_asked_for(client, caller):
    incident, csrf, session = caller["incident"], caller["csrf"], caller["session"]
    caller["camera"].running.clear()
    await until(lambda: (session.peer.latest.age() or 0) > MAX_AGE + 0.3)
    url = f"/api/incidents/{incident['id']}/snapshots"

    refused = await client.post(url, json={}, headers={"X-CSRF-Token": csrf})
    assert refused.status == 409
    body = await refused.json()
    assert body["error"] == "stale_video" and body["age_seconds"] > MAX_AGE
    record = await (await client.get(f"/api/incidents/{incident['id']}")).json()
    assert record["snapshots"] == []

    bad = await client.post(url, json={"allow_stale": "yes"}, headers={"X-CSRF-Token": csrf})
    assert bad.status == 400

    stored = await client.post(url, json={"allow_stale": True}, headers={"X-CSRF-Token": csrf})
    assert stored.status == 201, await stored.text()
    snap = await stored.json()
    assert snap["frame_age_seconds"] > MAX_AGE
    record = await (await client.get(f"/api/incidents/{incident['id']}")).json()
    assert [s["frame_age_seconds"] for s in record["snapshots"]] == [snap["frame_age_seconds"]]
    audit = await client.app[INCIDENTS].db.audit_entries(incident["id"])
    taken = [e for e in audit if e["action"] == "snapshot.taken"]
    assert taken and taken[-1]["detail"]["frame_age_seconds"] == snap["frame_age_seconds"]

    caller["camera"].running.set()
    await until(lambda: (session.peer.latest.age() or 99) < MAX_AGE / 2)
    fresh = await client.post(url, json={}, headers={"X-CSRF-Token": csrf})
    assert fresh.status == 201
