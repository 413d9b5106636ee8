"""Live incident events, published once and delivered to every subscriber (console, map, embeds).

In-process by default. Each subscriber has a bounded queue: a subscriber that stops reading loses
its oldest events rather than holding memory or slowing the publisher.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from typing import Any, AsyncIterator, Callable

from .record.database import iso, utcnow

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


class Subscription:
    def __init__(self, bus: "EventBus", incident_id: str | None) -> None:
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

    def __enter__(self) -> "Subscription":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class EventBus:
    def __init__(self) -> None:
        self._subs: set[Subscription] = set()
        # Called with every event, synchronously, before any subscriber: for parts that must see
        # every event (webhooks write each to their outbox), where a bounded queue could drop one.
        self._listeners: list[Callable[[Event], None]] = []

    def add_listener(self, listener: Callable[[Event], None]) -> None:
        self._listeners.append(listener)

    def remove_listener(self, listener: Callable[[Event], None]) -> None:
        if listener in self._listeners:
            self._listeners.remove(listener)

    def subscribe(self, incident_id: str | None = None) -> Subscription:
        """Events of one incident, or of all incidents when ``incident_id`` is None."""
        sub = Subscription(self, incident_id)
        self._subs.add(sub)
        return sub

    def publish(self, type: str, incident_id: str, data: dict[str, Any]) -> Event:
        event = Event(type, incident_id, data)
        for listener in list(self._listeners):
            try:
                listener(event)
            except Exception:
                log.exception("event listener failed on %s", type)
        for sub in list(self._subs):
            sub.offer(event)
        return event

    @property
    def subscriber_count(self) -> int:
        return len(self._subs)
