"""Which node holds which caller's live session, when the gateway runs as several nodes.

A caller's peer connection lives in one node's memory. Operators may land on any node, so a node
asked for a viewer of a caller it does not hold must know who does, and a node that starts after a
crash must know which open sessions in the record are still held by a live node and which were
its own, now lost.

One interface, two backends:

- :class:`SessionDirectory` (the embedded default, one process): every session is this node's.
- :class:`RedisSessionDirectory`: a key per incident naming the holder, and a key per live node,
  both with short expiries that each node refreshes, so a node that dies stops claiming anything
  within :data:`NODE_TTL` seconds.

The directory follows the event bus: ``session.started`` and ``session.ended`` published on this
node claim and release, in order, so the parts that run sessions need not know it exists.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from .events import Event, EventBus
from .tasks import TaskSet

log = logging.getLogger(__name__)

PREFIX = "scenelink"
NODE_TTL = 15  # seconds a node counts as alive after its last heartbeat
CLAIM_TTL = 45  # seconds a claim outlives its node's last refresh
HEARTBEAT_SECONDS = 5.0


@dataclass(frozen=True)
class Holder:
    """The node holding an incident's live session, and how other nodes reach it."""

    node: str
    url: str
    session_id: str

    def to_json(self) -> str:
        return json.dumps({"node": self.node, "url": self.url, "session_id": self.session_id})

    @classmethod
    def from_json(cls, raw: str | bytes) -> Holder:
        value = json.loads(raw)
        return cls(str(value["node"]), str(value["url"]), str(value["session_id"]))


LocalSessions = Callable[[], Iterable[tuple[str, str]]]  # (incident_id, session_id) held here


class SessionDirectory:
    """One process: every live session is this node's, and no other node exists."""

    backend = "memory"
    # Whether another node can take this node's callers over (a draining node waits for them to).
    shared = False

    def __init__(self, node: str = "", url: str = "") -> None:
        self.node = node
        self.url = url
        self._ended_elsewhere: Callable[[Holder, str], object] | None = None

    def on_taken_over(self, callback: Callable[[Holder, str], object]) -> None:
        """Call ``callback(previous_holder, incident_id)`` when this node takes a session over
        from another node (the caller's page reconnected here after that node died or drained)."""
        self._ended_elsewhere = callback

    async def start(self, events: EventBus, local: LocalSessions) -> None:
        """Follow ``events`` and keep ``local()``'s sessions claimed."""

    async def close(self) -> None:
        """Stop claiming: other nodes will see this node's sessions as lost."""

    async def holder(self, incident_id: str) -> Holder | None:
        """Who holds the incident's live session, if another node does (None: nobody, or here)."""
        return None

    async def held_elsewhere(self, session_ids: Iterable[str]) -> set[str]:
        """Which of these open sessions a live node other than this one still holds."""
        return set()


class RedisSessionDirectory(SessionDirectory):
    backend = "redis"
    shared = True

    # Delete a claim only while it is still the one this node made: a later claim by another
    # node (the caller reconnected there) must survive this node's late release.
    _RELEASE = "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) end return 0"

    def __init__(self, redis_url: str, node: str, url: str) -> None:
        super().__init__(node, url)
        self.redis_url = redis_url
        self._client: aioredis.Redis | None = None
        self._local: LocalSessions = lambda: ()
        self._events: EventBus | None = None
        self._changes: asyncio.Queue[Event | None] = asyncio.Queue()
        self._applier: asyncio.Task | None = None
        self._tasks = TaskSet("session directory")

    def _claim_key(self, incident_id: str) -> str:
        return f"{PREFIX}:live:{incident_id}"

    def _node_key(self, node: str) -> str:
        return f"{PREFIX}:node:{node}"

    async def start(self, events: EventBus, local: LocalSessions) -> None:
        self._client = aioredis.from_url(self.redis_url, socket_timeout=5, socket_connect_timeout=5)
        self._local = local
        self._events = events
        await self._heartbeat_once()
        events.add_listener(self._on_event)
        self._applier = self._tasks.spawn(self._apply_changes())
        self._tasks.spawn(self._heartbeat())

    async def close(self) -> None:
        if self._events is not None:
            self._events.remove_listener(self._on_event)
        if self._applier is not None:
            # Apply what is queued (the releases of sessions just ended), then stop; the applier
            # ends on the marker rather than by cancellation, so a claim is never cut in half.
            self._changes.put_nowait(None)
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(asyncio.shield(self._applier), 5)
        await self._tasks.cancel()
        if self._client is not None:
            try:
                await self._client.delete(self._node_key(self.node))
            except (RedisError, OSError):
                pass
            await self._client.aclose()
            self._client = None

    def _on_event(self, event: Event) -> None:
        if event.type in ("session.started", "session.ended") and event.data.get("transport") != "https":
            self._changes.put_nowait(event)

    async def _apply_changes(self) -> None:
        # One task, in publication order: a session's release can never overtake its claim.
        while True:
            event = await self._changes.get()
            if event is None:
                return
            try:
                if event.type == "session.started":
                    await self._claim(event.incident_id, str(event.data["session_id"]))
                else:
                    await self._release(event.incident_id, str(event.data["session_id"]))
            except (RedisError, OSError) as exc:
                log.warning("session directory: %s for %s failed (%s)", event.type, event.incident_id, exc)

    async def _claim(self, incident_id: str, session_id: str) -> None:
        assert self._client is not None
        mine = Holder(self.node, self.url, session_id)
        previous = await self._client.set(self._claim_key(incident_id), mine.to_json(), ex=CLAIM_TTL, get=True)
        if not isinstance(previous, (str, bytes)):
            return  # nobody held it
        before = Holder.from_json(previous)
        if before.node != self.node and self._ended_elsewhere is not None:
            result = self._ended_elsewhere(before, incident_id)
            if asyncio.iscoroutine(result):
                await result

    async def _release(self, incident_id: str, session_id: str) -> None:
        assert self._client is not None
        mine = Holder(self.node, self.url, session_id).to_json()
        await self._client.eval(self._RELEASE, 1, self._claim_key(incident_id), mine)

    async def _heartbeat_once(self) -> None:
        assert self._client is not None
        async with self._client.pipeline(transaction=False) as pipe:
            pipe.set(self._node_key(self.node), self.url, ex=NODE_TTL)
            for incident_id, session_id in self._local():
                pipe.set(self._claim_key(incident_id), Holder(self.node, self.url, session_id).to_json(),
                         ex=CLAIM_TTL)
            await pipe.execute()

    async def _heartbeat(self) -> None:
        while True:
            await asyncio.sleep(HEARTBEAT_SECONDS)
            try:
                await self._heartbeat_once()
            except (RedisError, OSError) as exc:
                log.warning("session directory: heartbeat failed (%s)", exc)

    async def holder(self, incident_id: str) -> Holder | None:
        assert self._client is not None
        raw = await self._client.get(self._claim_key(incident_id))
        if raw is None:
            return None
        found = Holder.from_json(raw)
        if found.node == self.node or not await self._client.exists(self._node_key(found.node)):
            return None  # ours (the caller is here), or its node is gone
        return found

    async def held_elsewhere(self, session_ids: Iterable[str]) -> set[str]:
        assert self._client is not None
        wanted = set(session_ids)
        held: set[str] = set()
        async for key in self._client.scan_iter(match=f"{PREFIX}:live:*", count=500):
            raw = await self._client.get(key)
            if raw is None:
                continue
            found = Holder.from_json(raw)
            if found.session_id in wanted and found.node != self.node:
                if await self._client.exists(self._node_key(found.node)):
                    held.add(found.session_id)
        return held


def make_directory(redis_url: str | None, node: str, url: str) -> SessionDirectory:
    if not redis_url:
        return SessionDirectory(node, url)
    return RedisSessionDirectory(redis_url, node, url)
