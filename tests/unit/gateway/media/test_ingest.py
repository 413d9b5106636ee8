"""The caller's data-channel messages are handled one at a time, in order, with a bounded queue."""

from __future__ import annotations

import asyncio

from pyee.asyncio import AsyncIOEventEmitter

from gateway.media.ingest import MAX_MESSAGE_BYTES, MAX_QUEUED_MESSAGES, CallerPeer


class Channel(AsyncIOEventEmitter):
    """What the peer sees of a data channel: its label and the "message" events it emits."""

    readyState = "open"
    label = "fixes"


async def test_messages_are_handled_in_order_one_at_a_time_and_a_flood_is_dropped_and_counted():
    handled: list[str] = []
    running = 0
    most = 0
    release = asyncio.Event()

    async def on_message(text: str) -> None:
        nonlocal running, most
        running += 1
        most = max(most, running)
        await release.wait()
        handled.append(text)
        running -= 1

    async def on_event(kind: str) -> None:
        pass

    peer = CallerPeer((), on_message, on_event)
    channel = Channel()
    peer._on_datachannel(channel)
    for i in range(500):
        channel.emit("message", str(i))
    channel.emit("message", b"binary")
    channel.emit("message", "x" * (MAX_MESSAGE_BYTES + 1))
    await asyncio.sleep(0)
    release.set()
    for _ in range(100):
        if len(handled) == MAX_QUEUED_MESSAGES:
            break
        await asyncio.sleep(0.01)
    # The messages came in one burst: the queue took the first ones, the rest were dropped.
    assert handled == [str(i) for i in range(MAX_QUEUED_MESSAGES)]
    assert most == 1, "never two handlers at once"
    assert peer.dropped_messages == 500 - MAX_QUEUED_MESSAGES + 2
    channel.emit("message", "after")
    for _ in range(100):
        if handled[-1] == "after":
            break
        await asyncio.sleep(0.01)
    assert handled[-1] == "after", "the queue takes messages again once drained"
    await peer.close()


async def test_a_handler_that_fails_does_not_stop_the_next_message():
    handled: list[str] = []

    async def on_message(text: str) -> None:
        if text == "bad":
            raise RuntimeError("boom")
        handled.append(text)

    async def on_event(kind: str) -> None:
        pass

    peer = CallerPeer((), on_message, on_event)
    channel = Channel()
    peer._on_datachannel(channel)
    for text in ("a", "bad", "b"):
        channel.emit("message", text)
    for _ in range(100):
        if handled == ["a", "b"]:
            break
        await asyncio.sleep(0.01)
    assert handled == ["a", "b"]
    await peer.close()
