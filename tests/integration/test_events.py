"""The event bus, as a specification both backends meet: in process (one node) and Redis (several).

Events published on any node reach every subscriber on every node, in the order they were
published for each incident; parts that must see each event exactly once (webhooks) hear it only
on the node that published it; nothing a slow subscriber or a Redis outage does blocks a publisher.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import redis.asyncio as aioredis

from gateway.events import Event, EventBus, Subscription, make_event_bus
from gateway.events.redis import SCAN_BATCH, STREAM, RedisEventBus
from gateway.links import new_token
from tests.services.redis import redis_server, redis_url  # noqa: F401 (fixture)


async def received(sub: Subscription, count: int, timeout: float = 10.0) -> list[Event]:
    """The next ``count`` events of ``sub``, waiting for each as it comes."""
    out = []
    async with asyncio.timeout(timeout):
        while len(out) < count:
            out.append(await sub.queue.get())
    return out


@pytest.fixture(params=["memory", "redis"])
async def bus(request, tmp_path: Path) -> AsyncIterator[EventBus]:
    if request.param == "memory":
        bus = make_event_bus(None)
        await bus.start()
        yield bus
        await bus.close()
        return
    with redis_server(tmp_path / "redis") as url:
        bus = make_event_bus(url, node="a")
        await bus.start()
        yield bus
        await bus.close()


async def test_a_subscriber_gets_its_incidents_events_and_a_general_one_gets_all(bus: EventBus) -> None:
    with bus.subscribe("inc_1") as one, bus.subscribe() as every:
        bus.publish("fix", "inc_2", {"seq": 1})
        bus.publish("fix", "inc_1", {"seq": 2})
        assert [e.data["seq"] for e in await received(every, 2)] == [1, 2]
        (only,) = await received(one, 1)
        assert (only.type, only.incident_id, only.data) == ("fix", "inc_1", {"seq": 2})
        assert one.queue.empty()


async def test_events_arrive_in_the_order_they_were_published(bus: EventBus) -> None:
    with bus.subscribe("inc_1") as sub:
        for n in range(200):
            bus.publish("fix", "inc_1", {"seq": n})
        assert [e.data["seq"] for e in await received(sub, 200)] == list(range(200))


async def test_a_listener_hears_each_event_once_before_any_subscriber(bus: EventBus) -> None:
    heard: list[str] = []
    bus.add_listener(lambda event: heard.append(event.type))
    with bus.subscribe() as sub:
        event = bus.publish("snapshot", "inc_1", {"id": "snap_1"})
        assert heard == ["snapshot"]  # synchronously, within publish
        (got,) = await received(sub, 1)
    assert got.to_json() == event.to_json()


async def test_a_subscriber_that_stops_reading_loses_its_oldest_events_not_the_publisher(bus: EventBus) -> None:
    with bus.subscribe() as slow:
        total = slow.queue.maxsize + 10
        for n in range(total):
            bus.publish("fix", "inc_1", {"seq": n})  # returns at once every time
        async with asyncio.timeout(10):
            while slow.dropped < 10:
                await asyncio.sleep(0.01)
        assert slow.dropped == 10 and slow.queue.full()
        assert slow.queue.get_nowait().data["seq"] == 10


async def test_a_closed_subscription_receives_nothing_more(bus: EventBus) -> None:
    sub = bus.subscribe()
    sub.close()
    with bus.subscribe() as witness:
        bus.publish("fix", "inc_1", {})
        await received(witness, 1)
    assert sub.queue.empty()
    assert bus.subscriber_count == 0


# -- several nodes: Redis ------------------------------------------------------------------------


async def test_an_event_published_on_one_node_reaches_subscribers_on_every_node(redis_url: str) -> None:  # noqa: F811
    a, b = RedisEventBus(redis_url, node="a"), RedisEventBus(redis_url, node="b")
    await a.start()
    await b.start()
    try:
        with a.subscribe("inc_1") as on_a, b.subscribe("inc_1") as on_b:
            # Both nodes publish for one incident at once: every node sees the same one order,
            # and each node's own events in the order it published them.
            for n in range(100):
                a.publish("fix", "inc_1", {"node": "a", "n": n})
                b.publish("fix", "inc_1", {"node": "b", "n": n})
            seen_a = [(e.data["node"], e.data["n"]) for e in await received(on_a, 200)]
            seen_b = [(e.data["node"], e.data["n"]) for e in await received(on_b, 200)]
        assert seen_a == seen_b
        for node in "ab":
            assert [n for who, n in seen_a if who == node] == list(range(100))
    finally:
        await a.close()
        await b.close()


async def test_listeners_hear_only_their_own_nodes_events(redis_url: str) -> None:  # noqa: F811
    a, b = RedisEventBus(redis_url, node="a"), RedisEventBus(redis_url, node="b")
    heard: dict[str, list[str]] = {"a": [], "b": []}
    a.add_listener(lambda e: heard["a"].append(e.data["id"]))
    b.add_listener(lambda e: heard["b"].append(e.data["id"]))
    await a.start()
    await b.start()
    try:
        with b.subscribe() as on_b:
            a.publish("snapshot", "inc_1", {"id": "from-a"})
            await received(on_b, 1)
        assert heard == {"a": ["from-a"], "b": []}
    finally:
        await a.close()
        await b.close()


async def test_a_redis_outage_neither_blocks_publishers_nor_loses_what_they_queued(tmp_path: Path) -> None:
    folder = tmp_path / "redis"
    with redis_server(folder) as url:
        bus = RedisEventBus(url, node="a")
        await bus.start()
        with bus.subscribe() as sub:
            bus.publish("fix", "inc_1", {"n": 0})
            await received(sub, 1)
            assert await bus.ready()
    # The server is gone: publishing still returns at once, and the node says it is not ready.
    try:
        with bus.subscribe() as sub:
            for n in range(1, 6):
                bus.publish("fix", "inc_1", {"n": n})
            assert not await bus.ready()
            # The same server comes back on the same socket: what was queued is delivered, in order.
            with redis_server(folder):
                assert [e.data["n"] for e in await received(sub, 5, timeout=30)] == [1, 2, 3, 4, 5]
                assert bus.pending == 0
                await bus.close()
    finally:
        await bus.close()


async def test_events_an_earlier_release_published_with_a_whole_link_are_deleted_at_start(
    redis_url: str,  # noqa: F811
) -> None:
    token = new_token()
    whole = Event("sms.sent", "inc_1", {"id": "sms_1", "body": f"tap https://gw.example/c/{token}"})
    client = aioredis.from_url(redis_url)
    try:
        # As those releases left the stream: the text whole in one event among many others
        # (more than one scanning batch of them).
        async with client.pipeline(transaction=False) as pipe:
            for n in range(2 * SCAN_BATCH + 500):
                event = whole if n == SCAN_BATCH + 7 else Event("fix", "inc_1", {"seq": n})
                pipe.xadd(STREAM, {"e": json.dumps(event.to_json()), "n": "old"})
            await pipe.execute()
        bus = RedisEventBus(redis_url, node="a")
        await bus.start()
        try:
            left = await client.xrange(STREAM)
            assert len(left) == 2 * SCAN_BATCH + 499
            assert not any(token.encode() in fields[b"e"] for _, fields in left)
            assert [json.loads(fields[b"e"])["data"]["seq"] for _, fields in left] == [
                n for n in range(2 * SCAN_BATCH + 500) if n != SCAN_BATCH + 7
            ]
            # The bus goes on as before; the stream is not scanned again at the next start.
            with bus.subscribe("inc_1") as sub:
                bus.publish("sms.sent", "inc_1", {"id": "sms_2", "body": "tap https://gw.example/c/abcd****"})
                [event] = await received(sub, 1)
            assert event.data["id"] == "sms_2"
            assert await client.exists(f"{STREAM}:tokens-masked")
        finally:
            await bus.close()
    finally:
        await client.aclose()
