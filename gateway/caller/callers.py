"""The caller's side beyond the peer connection, wired together: status reports, the silent
conversation, the HTTPS fallback, and the link's life (revocation, refusals, maximum length).

One :class:`Callers` per application. It registers its data-channel message handlers with
:class:`~gateway.live.LiveSessions` and follows the event bus, so that a link reaching a final state
by any route (the handler ending, the caller stopping, a revocation, the maximum length) also ends
whatever HTTPS session the page had open.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections import OrderedDict
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

from ..events import EventBus
from ..links import FINAL, LinkState, session_over
from ..live import LiveSession, LiveSessions
from ..record import BlobStore, Database, Incidents
from ..record.database import utcnow
from .caller_status import BadStatus, CallerStatuses
from .conversation import BadMessage, Conversation
from .fallback import Fallback

log = logging.getLogger(__name__)

MAX_SESSION_REASON = "maximum session length reached"
# Attempts by another device on one link are recorded once per this many seconds, then counted.
REFUSAL_WINDOW_SECONDS = 600.0


class LinkNotFound(LookupError):
    pass


class LinkFinal(ValueError):
    pass


class Callers:
    def __init__(
        self,
        db: Database,
        incidents: Incidents,
        events: EventBus,
        live: LiveSessions,
        blobs: BlobStore,
        session_max_seconds: int,
    ) -> None:
        self.db = db
        self.incidents = incidents
        self.events = events
        self.live = live
        self.session_max_seconds = session_max_seconds
        self.statuses = CallerStatuses(db, events)
        self.conversation = Conversation(db, incidents, events, live, self.statuses)
        self.fallback = Fallback(incidents, events, live, blobs, live.fixes)
        self._refusals: OrderedDict[str, tuple[float, int]] = OrderedDict()  # link: (recorded at, since)
        self._greeted: OrderedDict[str, None] = OrderedDict()  # sessions already handed their backlog
        self._follower: asyncio.Task | None = None
        live.handlers.update(status=self._on_status, seen=self._on_seen, reply=self._on_reply)

    # -- running -------------------------------------------------------------------------------

    def start(self) -> None:
        self._follower = asyncio.ensure_future(self._follow())

    async def close(self) -> None:
        if self._follower is not None:
            self._follower.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._follower
        await self.fallback.close_all()

    async def _follow(self) -> None:
        with self.events.subscribe() as subscription:
            async for event in subscription:
                try:
                    if event.type == "link.state" and event.data.get("state") in {s.value for s in FINAL}:
                        await self._link_final(event.incident_id, event.data.get("link_id", ""), event.data["state"])
                except Exception:
                    log.exception("following %s failed", event.type)

    async def _link_final(self, incident_id: str, link_id: str, state: str) -> None:
        """Whatever ended the link (a new link superseding it, too), its sessions end with it."""
        reason = f"link {state}"
        live = self.live.by_incident.get(incident_id)
        if live is not None and live.link_id == link_id and not live.ending:
            await self.live.end(incident_id, "gateway", reason)
        await self.fallback.end(link_id, "gateway", reason)
        self.statuses.forget(incident_id)

    def session_cutoff(self, now: datetime) -> datetime:
        """Links opened before this have run the session's maximum length."""
        return now - timedelta(seconds=self.session_max_seconds)

    async def sweep(self, overlong: list[dict[str, Any]] | None = None) -> None:
        """End links whose session has run its maximum length, and HTTPS sessions left idle.

        ``overlong``: those links, when the record's sweep query has already found them.
        """
        now = utcnow()
        if overlong is None:
            overlong = await self.incidents.links_opened_before(self.session_cutoff(now))
        for link in overlong:
            if session_over(link["opened_at"], now, self.session_max_seconds):
                await self.end_link(link, "gateway", MAX_SESSION_REASON)
        await self.fallback.sweep()

    # -- the link's life -----------------------------------------------------------------------

    async def move(
        self, link: Mapping[str, Any], state: LinkState, actor: str, detail: str | None = None
    ) -> str | None:
        """Move (or note) a link's state and tell the console; the time, or None if refused."""
        at = await self.incidents.move_link(link["id"], state, actor, detail)
        if at:
            data = {"link_id": link["id"], "state": state.value, "at": at}
            if detail:
                data["detail"] = detail
            self.events.publish("link.state", link["incident_id"], data)
        return at

    async def end_link(self, link: Mapping[str, Any], actor: str, reason: str) -> None:
        """End the link and the session using it, whoever asks (caller, handler, gateway)."""
        live = self.live.by_incident.get(link["incident_id"])
        if live is not None and live.link_id == link["id"]:
            await self.live.end(link["incident_id"], actor, reason)  # also moves the link to ended
        await self.move(link, LinkState.ENDED, actor, reason)
        await self.fallback.end(link["id"], actor, reason)

    async def revoke(self, incident_id: str, link_id: str, actor: str) -> dict[str, Any]:
        """The handler withdraws a link: the caller's page is told, and it cannot be used again."""
        link = await self.incidents.link(link_id)
        if link is None or link["incident_id"] != incident_id:
            raise LinkNotFound(link_id)
        if LinkState(link["state"]) in FINAL:
            raise LinkFinal(f"the link is already {link['state']}")
        reason = "the control room has closed this link"
        # Revoke first: the session's own end then cannot move the link to "ended" instead.
        at = await self.move(link, LinkState.REVOKED, actor, "revoked by the handler")
        live = self.live.by_incident.get(incident_id)
        if live is not None and live.link_id == link_id:
            await self.live.end(incident_id, actor, reason)
        await self.fallback.end(link_id, actor, reason)
        return {"id": link_id, "state": LinkState.REVOKED.value, "at": at}

    async def refused(self, link: Mapping[str, Any], address: str, now: float | None = None) -> bool:
        """Another device tried the link: noted in its history and shown to the handler.

        Only the first attempt in :data:`REFUSAL_WINDOW_SECONDS` is written to the record (and its
        audit log) and told to the console; the next ones are counted, and the count is said when
        the next window's first attempt is recorded. True when this attempt was recorded.
        """
        now = time.monotonic() if now is None else now
        since, unrecorded = self._refusals.pop(link["id"], (None, 0))
        if since is not None and now - since < REFUSAL_WINDOW_SECONDS:
            self._refusals[link["id"]] = (since, unrecorded + 1)
            return False
        self._refusals[link["id"]] = (now, 0)
        while len(self._refusals) > 10_000:
            self._refusals.popitem(last=False)
        more = f"; {unrecorded} more attempt(s) before this one" if unrecorded else ""
        data = {"link_id": link["id"], "reason": "another device", "unrecorded_before": unrecorded}
        self.events.publish("link.refused", link["incident_id"], data)
        await self.move(link, LinkState.REFUSED, "caller", f"opened on another device ({address}){more}")
        return True

    def over_time(self, link: Mapping[str, Any]) -> bool:
        return session_over(link.get("opened_at"), utcnow(), self.session_max_seconds)

    # -- the data channel ----------------------------------------------------------------------

    async def _link_of(self, live: LiveSession) -> dict[str, Any] | None:
        return await self.incidents.link(live.link_id)

    async def _on_status(self, live: LiveSession, message: dict[str, Any]) -> None:
        try:
            await self.statuses.report(live.incident_id, live.link_id, message, "webrtc")
        except BadStatus as exc:
            log.info("session %s: status refused: %s", live.session_id, exc)
            return
        if live.session_id not in self._greeted:
            # The first report on a new connection: hand over what the page may have missed.
            self._greeted[live.session_id] = None
            while len(self._greeted) > 1000:
                self._greeted.popitem(last=False)
            await self.conversation.push_pending(live.incident_id, live.link_id)

    async def _on_seen(self, live: LiveSession, message: dict[str, Any]) -> None:
        link = await self._link_of(live)
        if link is None:
            return
        try:
            await self.conversation.seen(link, message.get("id"))
        except BadMessage as exc:
            log.info("session %s: seen refused: %s", live.session_id, exc)

    async def _on_reply(self, live: LiveSession, message: dict[str, Any]) -> None:
        link = await self._link_of(live)
        if link is None:
            return
        try:
            stored = await self.conversation.reply(link, message)
        except BadMessage as exc:
            live.peer.send(json.dumps({"type": "refused", "ref": message.get("ref"), "reason": str(exc)}))
            return
        live.peer.send(json.dumps({"type": "noted", "ref": message.get("ref"), "id": stored["id"]}))
