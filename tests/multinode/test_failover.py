"""Two nodes behind the documented nginx, one record on PostgreSQL, one Redis: a node that dies is
noticed by its caller for no more than a few seconds.

A real Chromium caller streams through nginx. The node holding the caller is killed (kill -9, no
goodbye) three times over, alternately; each time the caller's page reconnects through nginx to
the live node by itself and video reaches the handler again, no acknowledged fix is lost or
stored twice, and the audit chain written across both nodes stays one unbroken chain. A drain
(SIGTERM) moves the caller the same way.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import time
from functools import partial
from pathlib import Path

import aiohttp
import pytest
from yarl import URL

from gateway.record import Database

from .. import databases
from ..conftest import on_private_test_network
from ..e2e.callers import Operator, Phones, page_seq
from ..e2e.conftest import CHROMIUM, VIDEO_PATH, chromium_args, load_make_video
from ..services.redis import redis_server
from ..strict import requires
from .cluster import NGINX, Cluster, start_cluster, stop_cluster, until

pytestmark = [
    requires(on_private_test_network(), "the multi-node tests run inside the private test network (tests/netns-run)"),
    requires(Path(NGINX).exists(), "nginx is not installed (Debian package nginx; `make test` installs it)"),
    requires(CHROMIUM is not None and Path(CHROMIUM).exists(), "Debian's Chromium is not installed"),
    requires(databases.postgres_unavailable() is None, "PostgreSQL is unreachable on its Unix socket"),
]

KILLS = 3


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory):
    folder = tmp_path_factory.mktemp("cluster")
    with redis_server(folder / "redis") as url:
        cluster = start_cluster(folder, url)
        try:
            yield cluster
        finally:
            stop_cluster(cluster)
            keep = os.environ.get("SCENELINK_KEEP_CLUSTER_LOGS")
            if keep:
                shutil.copytree(folder, keep, dirs_exist_ok=True, ignore=shutil.ignore_patterns("*.sock"))


@pytest.fixture
async def phones():
    from playwright.async_api import async_playwright

    video = load_make_video().ensure_video(VIDEO_PATH)
    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path=CHROMIUM, headless=True, args=chromium_args(video))
        phones = Phones(browser)
        try:
            yield phones
        finally:
            await phones.close()
            await browser.close()


async def snapshot_on(node_url: str, operator: Operator, incident_id: str) -> bool:
    """True when the node at ``node_url`` holds fresh video of the caller (it stores a snapshot)."""
    assert operator.session is not None
    cookies = operator.session.cookie_jar.filter_cookies(URL(operator.base_url))
    async with aiohttp.ClientSession(cookies={k: v.value for k, v in cookies.items()}) as session:
        try:
            async with session.post(f"{node_url}/api/incidents/{incident_id}/snapshots", json={},
                                    headers={"X-CSRF-Token": operator.csrf}) as resp:
                return resp.status == 201
        except aiohttp.ClientError:
            return False


def other(cluster: Cluster, name: str) -> str:
    return next(n.name for n in cluster.nodes if n.name != name)


async def test_a_killed_nodes_caller_comes_back_on_the_other_node_with_nothing_lost(cluster: Cluster, phones):
    async with Operator(cluster.base_url, "handler1", cluster.passwords["handler1"]) as handler:
        incident, link = await handler.incident()
        page = await phones.open(link["url"])
        await page.tap("#start")
        holder = await until(lambda: cluster.holder(incident["id"]), timeout=30)
        assert await until(lambda: snapshot_on(cluster.node(holder).url, handler, incident["id"]), timeout=30)

        latitude = 53.7997
        for kill in range(KILLS):
            victim = cluster.node(holder)
            survivor = cluster.node(other(cluster, holder))
            # The phone moves a little: a fix, which the page keeps until acknowledged.
            latitude += 0.0005
            await page.context.set_geolocation({"latitude": latitude, "longitude": -1.5492, "accuracy": 12})
            killed_at = time.monotonic()
            victim.kill()
            # By itself the page reconnects through nginx to the survivor; video reaches the handler.
            holder = await until(partial(_held_by, cluster, incident["id"], survivor.name), timeout=60)
            assert await until(partial(snapshot_on, survivor.url, handler, incident["id"]), timeout=60)
            took = time.monotonic() - killed_at
            print(f"kill {kill + 1}: video again on node {survivor.name} after {took:.1f} s")
            victim.start()  # the operator restarts it; it must not end the survivor's session
            victim.wait_ready()
            assert await snapshot_on(survivor.url, handler, incident["id"])

        sent = await page_seq(page)
        assert sent >= KILLS

        async def all_stored():
            record = await handler.record(incident["id"])
            return record if len(record["fixes"]) >= sent else None

        record = await until(all_stored, timeout=60)
        seqs = [fix["seq"] for fix in record["fixes"]]
        assert sorted(seqs) == list(range(1, sent + 1)), "every acknowledged fix stored, none twice"
        open_sessions = [s for s in record.get("sessions", []) if s.get("ended_at") is None]
        assert len(open_sessions) <= 1

    db = await Database.open(databases.postgres_url(cluster.database), migrate=False)
    try:
        count, broken = await db.verify()
    finally:
        await db.close()
    assert broken is None and count > 0


async def _held_by(cluster: Cluster, incident_id: str, name: str) -> str | None:
    return name if await cluster.holder(incident_id) == name else None


async def test_a_draining_node_moves_its_caller_to_the_other_node(cluster: Cluster, phones):
    for node in cluster.nodes:
        if not node.alive:
            node.start()
            node.wait_ready()
    async with Operator(cluster.base_url, "handler1", cluster.passwords["handler1"]) as handler:
        incident, link = await handler.incident()
        page = await phones.open(link["url"])
        await page.tap("#start")
        holder = await until(lambda: cluster.holder(incident["id"]), timeout=30)
        survivor = cluster.node(other(cluster, holder))
        await asyncio.to_thread(cluster.node(holder).terminate)  # SIGTERM: drain, then exit
        assert await until(lambda: _held_by(cluster, incident["id"], survivor.name), timeout=60)
        assert await until(lambda: snapshot_on(survivor.url, handler, incident["id"]), timeout=60)
        cluster.node(holder).start()
        cluster.node(holder).wait_ready()
