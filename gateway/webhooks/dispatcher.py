"""Webhooks: every configured endpoint gets the incident events it asked for, signed, in order.

The one owner of webhook work. It listens to the event bus; each event an endpoint wants is written
to the outbox in the record (``gateway.record.outbox``) by a single writer task, and one worker per
endpoint posts the due rows: the oldest undelivered row of each incident, several incidents at once.
A 2xx answer marks the row delivered; anything else (an error status, a refused connection, a
timeout) schedules a retry after a doubling wait, and after ``max_attempts`` the row is dead until
a supervisor retries it. A restart picks the outbox up where it was: a row that was being posted
when the gateway stopped is posted again with the same delivery id, which the receiver uses to
drop the repeat. Nodes sharing one record share its outbox: each row is claimed (a lease in the
row) by the node that posts it, and only the node that published an event queues it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from typing import Any

import aiohttp

from ..config import WebhookEndpoint
from ..events import Event, EventBus
from ..record.database import utcnow
from ..record.outbox import Outbox
from .signing import DELIVERY_HEADER, EVENT_HEADER, SIGNATURE_HEADER, TIMESTAMP_HEADER, backoff, sign

log = logging.getLogger(__name__)

PARALLEL_INCIDENTS = 8  # rows of different incidents posted at once, per endpoint
IDLE_WAKE_SECONDS = 5.0
USER_AGENT = "scenelink-webhooks/1"


class Webhooks:
    def __init__(
        self, outbox: Outbox, events: EventBus, endpoints: tuple[WebhookEndpoint, ...], node: str = "",
    ) -> None:
        self.outbox = outbox
        self.node = node or "gateway"
        self.events = events
        self.endpoints = {e.name: e for e in endpoints}
        self._queue: asyncio.Queue[Event | None] = asyncio.Queue()
        self._wake = {name: asyncio.Event() for name in self.endpoints}
        self._tasks: list[asyncio.Task] = []
        self._writer: asyncio.Task | None = None
        self._session: aiohttp.ClientSession | None = None

    def start(self) -> None:
        if not self.endpoints:
            return
        self.events.add_listener(self._on_event)
        self._session = aiohttp.ClientSession(headers={"User-Agent": USER_AGENT})
        self._writer = asyncio.ensure_future(self._write())
        self._tasks = [asyncio.ensure_future(self._work(e)) for e in self.endpoints.values()]

    async def close(self) -> None:
        """Stop: every event already published is written to the outbox first, so none is lost."""
        if not self.endpoints:
            return
        self.events.remove_listener(self._on_event)
        if self._writer is not None:
            self._queue.put_nowait(None)
            await self._writer
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        # A post cut short by the stop is owed again at once (after a restart, or by another node).
        await self.outbox.release(self.node)
        if self._session is not None:
            await self._session.close()

    def retry_now(self, endpoint: str) -> None:
        if endpoint in self._wake:
            self._wake[endpoint].set()

    # -- from the bus to the outbox --------------------------------------------------------------

    def _on_event(self, event: Event) -> None:
        if any(event.type in e.events for e in self.endpoints.values()):
            self._queue.put_nowait(event)

    async def _write(self) -> None:
        while True:
            event = await self._queue.get()
            if event is None:
                return
            wanted = [e.name for e in self.endpoints.values() if event.type in e.events]
            body = {"type": event.type, "incident_id": event.incident_id, "at": event.at, "data": event.data}
            try:
                await self.outbox.add(wanted, event.incident_id, event.type, body)
            except Exception:
                log.exception("could not queue a %s webhook for incident %s", event.type, event.incident_id)
                continue
            for name in wanted:
                self._wake[name].set()

    # -- from the outbox to the receivers --------------------------------------------------------

    async def _work(self, endpoint: WebhookEndpoint) -> None:
        wake = self._wake[endpoint.name]
        # Rows this node held when it last stopped without saying so (a crash) are owed now.
        await self.outbox.release(self.node)
        while True:
            wake.clear()
            try:
                rows = await self.outbox.due(endpoint.name, utcnow(), PARALLEL_INCIDENTS)
                if rows:
                    await asyncio.gather(*(self._deliver(endpoint, row) for row in rows))
                    continue
                next_at = await self.outbox.next_due_at(endpoint.name)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("webhook worker for %s failed; trying again shortly", endpoint.name)
                next_at = None
            wait = IDLE_WAKE_SECONDS
            if next_at is not None:
                wait = min(wait, max(0.0, (next_at - utcnow()).total_seconds()))
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(wake.wait(), wait)

    async def _deliver(self, endpoint: WebhookEndpoint, row: dict[str, Any]) -> None:
        assert self._session is not None
        # Several nodes may share the outbox: the one that claims the row posts it. The lease
        # outlasts the post, so it lapses only if this node dies mid-way; then another takes over.
        if not await self.outbox.claim(row["id"], self.node, utcnow(), endpoint.timeout_seconds + 30):
            return
        body = row["body"].encode()
        timestamp = int(time.time())
        headers = {
            "Content-Type": "application/json",
            TIMESTAMP_HEADER: str(timestamp),
            SIGNATURE_HEADER: sign(endpoint.secret, timestamp, body),
            DELIVERY_HEADER: row["delivery_id"],
            EVENT_HEADER: row["event_type"],
        }
        attempts = row["attempts"] + 1
        error = None
        try:
            timeout = aiohttp.ClientTimeout(total=endpoint.timeout_seconds)
            async with self._session.post(endpoint.url, data=body, headers=headers, timeout=timeout,
                                          allow_redirects=False) as resp:
                await resp.read()
                if 200 <= resp.status < 300:
                    await self.outbox.delivered(row["id"])
                    return
                error = f"HTTP {resp.status}"
        except TimeoutError:
            error = f"no answer within {endpoint.timeout_seconds:g} s"
        except aiohttp.ClientError as exc:
            error = f"{type(exc).__name__}: {exc}"
        give_up = attempts >= endpoint.max_attempts
        await self.outbox.failed(
            row["id"], attempts, error,
            None if give_up else backoff(attempts, endpoint.first_retry_seconds, endpoint.max_retry_seconds),
        )
        if give_up:
            log.warning(
                "webhook %s to %s gave up after %d tries: %s", row["delivery_id"], endpoint.name, attempts, error
            )
            self.events.publish("webhook.dead", row["incident_id"], {
                "delivery_id": row["delivery_id"], "endpoint": endpoint.name, "event_type": row["event_type"],
                "error": error,
            })
