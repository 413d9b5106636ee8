"""Live incident events, published once and delivered to every subscriber (console, map, embeds).

One interface, two backends chosen by configuration:

- :class:`EventBus` (the embedded default): in-process, for a gateway that is one process.
- :class:`~gateway.events.redis.RedisEventBus`: every node's events through one Redis stream, so
  that a console connected to any node sees every node's events, in the same order everywhere.

Each subscriber has a bounded queue: a subscriber that stops reading loses its oldest events
rather than holding memory or slowing the publisher.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

from ..record.database import iso, utcnow

log = logging.getLogger(__name__)

QUEUE_SIZE = 256


@dataclass(frozen=True)
class Event:
    type: str
    incident_id: str
    data: dict[str, Any]
    at: str = field(default_factory=lambda: iso(utcnow()) or "")

    def to_json(self) -> dict[str, Any]:
        return {"type": self.type, "incident_id": self.incident_id, "at": self.at, "data": self.data}

    @classmethod
    def from_json(cls, value: dict[str, Any]) -> Event:
        return cls(str(value["type"]), str(value["incident_id"]), dict(value["data"]), str(value["at"]))


class Subscription:
    def __init__(self, bus: EventBus, incident_id: str | None) -> None:
        self.incident_id = incident_id
        self.queue: asyncio.Queue[Event] = asyncio.Queue(QUEUE_SIZE)
        self.dropped = 0
        self._bus = bus

    def offer(self, event: Event) -> None:
        if self.incident_id is not None and event.incident_id != self.incident_id:
            return
        if self.queue.full():
            self.queue.get_nowait()
            self.dropped += 1
        self.queue.put_nowait(event)

    async def __aiter__(self) -> AsyncIterator[Event]:
        while True:
            yield await self.queue.get()

    def close(self) -> None:
        self._bus._subs.discard(self)

    def __enter__(self) -> Subscription:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class EventBus:
    """The in-process bus: :meth:`publish` delivers at once to this process's subscribers."""

    backend = "memory"

    def __init__(self) -> None:
        self._subs: set[Subscription] = set()
        # Called with every event, synchronously, before any subscriber and only on the node that
        # published it: for parts that must see every event exactly once across the nodes
        # (webhooks write each to their outbox), where a bounded queue could drop one.
        self._listeners: list[Callable[[Event], None]] = []

    def add_listener(self, listener: Callable[[Event], None]) -> None:
        self._listeners.append(listener)

    def remove_listener(self, listener: Callable[[Event], None]) -> None:
        if listener in self._listeners:
            self._listeners.remove(listener)

    async def start(self) -> None:
        """Connect to whatever carries events between nodes (nothing, in process)."""

    async def close(self) -> None:
        """Stop delivering; subscriptions stay open but receive nothing more."""

    async def ready(self) -> bool:
        """True while events published now will reach every subscriber."""
        return True

    def subscribe(self, incident_id: str | None = None) -> Subscription:
        """Events of one incident, or of all incidents when ``incident_id`` is None."""
        sub = Subscription(self, incident_id)
        self._subs.add(sub)
        return sub

    def publish(self, type: str, incident_id: str, data: dict[str, Any]) -> Event:
        """Publish an event; never blocks and never fails the publisher."""
        event = Event(type, incident_id, data)
        self._listen(event)
        self._deliver(event)
        return event

    def _listen(self, event: Event) -> None:
        for listener in list(self._listeners):
            try:
                listener(event)
            except Exception:
                log.exception("event listener failed on %s", event.type)

    def _deliver(self, event: Event) -> None:
        for sub in list(self._subs):
            sub.offer(event)

    @property
    def subscriber_count(self) -> int:
        return len(self._subs)


def make_event_bus(redis_url: str | None, node: str = "") -> EventBus:
    """The bus the configuration asks for: Redis when a URL is given, else in process."""
    if not redis_url:
        return EventBus()
    from .redis import RedisEventBus

    return RedisEventBus(redis_url, node=node)
