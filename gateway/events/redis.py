"""Events between gateway nodes, through one Redis stream.

Every node appends what it publishes to the stream (``XADD``, trimmed to a bounded length) and
reads the whole stream back (``XREAD``), delivering each entry to its own subscribers. A node's own
events take the same path as everyone else's, so every node delivers every event in the stream's
one order: a console on node B sees node A's events for an incident in the order A published them.

Publishing never waits for Redis: events go to a bounded outgoing queue that one writer task
drains in order. If Redis is unreachable the writer retries with back-off; past the queue's bound
the oldest unsent events are dropped and counted, so a Redis outage cannot exhaust memory. The
reader resumes from the last entry it delivered, so events appended while it was disconnected are
delivered when it reconnects (as long as the stream still holds them).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from typing import Any

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from ..links import mask_tokens
from ..tasks import TaskSet
from . import Event, EventBus

log = logging.getLogger(__name__)

STREAM = "scenelink:events"
STREAM_MAX_LENGTH = 100_000  # entries kept for nodes that reconnect; trimmed approximately
OUTGOING_LIMIT = 10_000
READ_BLOCK_MS = 1000
READ_BATCH = 500
RETRY_FIRST, RETRY_MAX = 0.1, 5.0
SCAN_BATCH = 1000


async def forget_whole_links(client: aioredis.Redis, stream: str = STREAM) -> int:
    """Delete the stream's entries that hold a link's whole token (the ``sms.sent`` events of
    releases that published the text unmasked); returns how many. Once per stream: a key beside
    it says it was done, since events published now carry the text masked. The entries were
    delivered long ago; deleting them only shortens what a reconnecting node could catch up on."""
    done = f"{stream}:tokens-masked"
    if await client.exists(done):
        return 0
    removed, after = 0, "-"
    while True:
        entries: Any = await client.xrange(stream, min=after, max="+", count=SCAN_BATCH)
        whole = [entry_id for entry_id, fields in entries
                 if (text := fields.get(b"e", b"").decode(errors="replace")) != mask_tokens(text)]
        if whole:
            removed += await client.xdel(stream, *whole)
        if len(entries) < SCAN_BATCH:
            break
        after = "(" + entries[-1][0].decode()
    await client.set(done, b"1")
    if removed:
        log.info("deleted %d events holding a whole link from %s", removed, stream)
    return removed


class RedisEventBus(EventBus):
    backend = "redis"

    def __init__(self, url: str, *, stream: str = STREAM, node: str = "") -> None:
        super().__init__()
        self.url = url
        self.stream = stream
        self.node = node
        self.dropped = 0  # events that never reached Redis (outage longer than the queue)
        self._client: aioredis.Redis | None = None
        self._outgoing: asyncio.Queue[Event] = asyncio.Queue()
        self._tasks = TaskSet("redis events")
        self._last_id = "0-0"
        self._connected = False

    async def start(self) -> None:
        """Connect and start the writer and the reader. Raises when Redis cannot be reached."""
        # The socket timeout must outlast a blocking read.
        self._client = aioredis.from_url(
            self.url, socket_timeout=READ_BLOCK_MS / 1000 + 5, socket_connect_timeout=5, decode_responses=False
        )
        # Read from the stream's current end: whatever this node publishes from now on is after it.
        # redis-py types replies as str or bytes whatever decode_responses says: these are bytes.
        await forget_whole_links(self._client, self.stream)
        newest: Any = await self._client.xrevrange(self.stream, count=1)
        self._last_id = newest[0][0].decode() if newest else "0-0"
        self._connected = True
        self._tasks.spawn(self._write())
        self._tasks.spawn(self._read())

    async def close(self, flush_seconds: float = 2.0) -> None:
        """Write what is still queued (for up to ``flush_seconds``), then disconnect."""
        if self._client is not None:
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._outgoing.join(), flush_seconds)
        await self._tasks.cancel()
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    async def ready(self) -> bool:
        if self._client is None:
            return False
        try:
            await asyncio.wait_for(self._client.ping(), 2)
        except (TimeoutError, RedisError, OSError):
            return False
        return self._outgoing.qsize() < OUTGOING_LIMIT // 2

    def publish(self, type: str, incident_id: str, data: dict[str, Any]) -> Event:
        event = Event(type, incident_id, data)
        self._listen(event)
        if self._outgoing.qsize() >= OUTGOING_LIMIT:
            self._outgoing.get_nowait()
            self._outgoing.task_done()
            self.dropped += 1
            if self.dropped % 1000 == 1:
                log.error("Redis unreachable: %d event(s) dropped so far", self.dropped)
        self._outgoing.put_nowait(event)
        return event

    @property
    def pending(self) -> int:
        """Events published on this node and not yet written to Redis."""
        return self._outgoing.qsize()

    async def _write(self) -> None:
        assert self._client is not None
        delay = RETRY_FIRST
        event: Event | None = None
        while True:
            if event is None:
                event = await self._outgoing.get()
            payload = json.dumps(event.to_json(), separators=(",", ":"))
            try:
                await self._client.xadd(
                    self.stream, {"e": payload, "n": self.node}, maxlen=STREAM_MAX_LENGTH, approximate=True
                )
            except (RedisError, OSError) as exc:
                log.warning("writing an event to Redis failed (%s); retrying in %.1f s", type(exc).__name__, delay)
                await asyncio.sleep(delay)
                delay = min(RETRY_MAX, delay * 2)
                continue
            delay = RETRY_FIRST
            event = None
            self._outgoing.task_done()

    async def _read(self) -> None:
        assert self._client is not None
        delay = RETRY_FIRST
        while True:
            try:
                batches: Any = await self._client.xread(
                    {self.stream: self._last_id}, count=READ_BATCH, block=READ_BLOCK_MS
                )
            except (RedisError, OSError) as exc:
                self._connected = False
                log.warning("reading events from Redis failed (%s); retrying in %.1f s", type(exc).__name__, delay)
                await asyncio.sleep(delay)
                delay = min(RETRY_MAX, delay * 2)
                continue
            self._connected = True
            delay = RETRY_FIRST
            for _stream, entries in batches or []:
                for entry_id, fields in entries:
                    self._last_id = entry_id.decode()
                    try:
                        event = Event.from_json(json.loads(fields[b"e"]))
                    except (KeyError, ValueError, TypeError):
                        log.warning("ignored a malformed event in the stream (%s)", self._last_id)
                        continue
                    self._deliver(event)
