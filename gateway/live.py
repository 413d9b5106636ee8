"""Live sessions: a caller's media and fixes joined to the incident record and the event bus.

One :class:`LiveSession` per incident at a time. It owns the caller's peer connection, the
viewers fed from it and every task they started; :meth:`LiveSessions.end` releases them all,
whichever side ends the session or if the network drops.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
import weakref
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from gis import Fix, Placer

from . import jsonlimits
from .caller.positions import FixRecorder
from .config import IceServer, MediaSettings
from .events import EventBus
from .ice import FreshEachTime
from .limits import TokenBuckets
from .links import LinkState
from .media.frames import encode_snapshot, sharpest
from .media.ingest import CallerPeer
from .media.plane import CallerMedia, EmbeddedPlane, MediaPlane, NoVideo, PlaneUnavailable, ViewerReply, make_plane
from .media.recorder import Segment
from .media.session import MediaPolicy, SessionMedia
from .media.workers import image_work
from .record import BlobStore, Incidents
from .tasks import TaskSet

log = logging.getLogger(__name__)


OFFER_RATE = 0.5   # offers a second, per link, once the burst is spent
OFFER_BURST = 4


class TooManyOffers(Exception):
    """Too many offers on one link; ``retry_after`` says in how many seconds to try again."""

    def __init__(self, retry_after: float) -> None:
        super().__init__(f"too many offers; try again in {retry_after:.1f} s")
        self.retry_after = retry_after


class NoStream(NoVideo):
    """There is no live video for this incident (not started, or no frame received yet)."""


class StaleVideo(Exception):
    """The newest frame is older than ``media.max_snapshot_age_seconds``: it is not the scene now."""

    def __init__(self, age_seconds: float) -> None:
        super().__init__(f"the newest video frame is {age_seconds:.1f} s old")
        self.age_seconds = age_seconds


@dataclass
class LiveSession:
    incident_id: str
    session_id: str
    link_id: str
    peer: CallerPeer
    plane: CallerMedia
    policy: MediaPolicy = field(default_factory=MediaPolicy)
    media: SessionMedia | None = None
    last_fix: Fix | None = None
    timer: asyncio.TimerHandle | None = None
    ending: bool = False


class LiveSessions:
    def __init__(
        self,
        incidents: Incidents,
        events: EventBus,
        placer: Placer,
        blobs: BlobStore,
        ice_servers: Iterable[IceServer] = (),
        session_max_seconds: int = 7200,
        media: MediaSettings = MediaSettings(),
        work_dir: Path | None = None,
        plane: MediaPlane | None = None,
    ) -> None:
        self.incidents = incidents
        self.events = events
        self.placer = placer
        self.blobs = blobs
        # Iterated once for each peer connection: gateway.ice's list mints fresh TURN credentials
        # every time, so it is kept as it is, not copied.
        self.ice_servers = ice_servers if isinstance(ice_servers, FreshEachTime) else tuple(ice_servers)
        self.session_max_seconds = session_max_seconds
        self.media_settings = media
        # Where callers' video goes and viewers are fed from (gateway.media.plane).
        self.plane = plane or make_plane(media, self.ice_servers)
        # A caller whom the configured plane cannot take (Janus down) is relayed here instead.
        self.fallback_plane = EmbeddedPlane(self.ice_servers, media.viewer_video)
        self.work_dir = work_dir or blobs.root.parent / "work"
        self.by_incident: dict[str, LiveSession] = {}
        # Offers per link: a burst for reloads and changes of network, then one every 2 s.
        self.offer_limit = TokenBuckets(rate=OFFER_RATE, burst=OFFER_BURST)
        # One lock per incident with an offer being answered; a lock nobody holds is dropped.
        self._start_locks: weakref.WeakValueDictionary[str, asyncio.Lock] = weakref.WeakValueDictionary()
        # Tasks started by session timers (the maximum length), owned here and ended on close.
        self._tasks = TaskSet("live sessions")
        self.fixes = FixRecorder(incidents, events, placer)
        # Handlers for the caller page's other data-channel messages ("status", "reply", "seen"...),
        # registered by the modules that own them (gateway.caller.callers).
        self.handlers: dict[str, Callable[[LiveSession, dict[str, Any]], Awaitable[None]]] = {}

    def send(self, incident_id: str, message: dict[str, Any]) -> bool:
        """Send a message to the caller's page over the data channel; False when it is not open."""
        live = self.by_incident.get(incident_id)
        channel = live.peer.channel if live else None
        if live is None or live.ending or channel is None or channel.readyState != "open":
            return False
        live.peer.send(json.dumps(message))
        return True

    async def start(self, link: dict[str, Any], user_agent: str, offer_sdp: str) -> str:
        """Answer the caller's offer, starting a new session; an earlier one for the incident ends.

        A caller who reconnects (a reload, a change of network) sends a new offer: the old peer
        connection cannot be resumed, so it is closed and recorded as ended. Offers on one link
        are limited (:class:`TooManyOffers`), and those for one incident are answered one at a
        time: ending the old session and answering take several awaits, and two offers
        interleaved there would each find no session and leave one peer connection orphaned.
        """
        wait = self.offer_limit.take(link["id"])
        if wait:
            raise TooManyOffers(wait)
        incident_id = link["incident_id"]
        lock = self._start_locks.get(incident_id)
        if lock is None:
            lock = self._start_locks[incident_id] = asyncio.Lock()
        async with lock:
            return await self._start(link, user_agent, offer_sdp)

    async def _start(self, link: dict[str, Any], user_agent: str, offer_sdp: str) -> str:
        incident_id = link["incident_id"]
        if incident_id in self.by_incident:
            await self.end(incident_id, "caller", "replaced by a new connection", final=False)

        session_ref: dict[str, LiveSession] = {}

        async def on_message(text: str) -> None:
            await self._on_message(session_ref["s"], text)

        async def on_event(kind: str) -> None:
            live = session_ref.get("s")
            if live is not None:
                await self._on_peer_event(live, kind)

        peer = CallerPeer(self.ice_servers, on_message, on_event, self.media_settings.keyframe_recovery)
        media = self.plane.caller(incident_id, peer)
        registered = False
        try:
            try:
                answer = await media.answer(offer_sdp)
            except PlaneUnavailable as exc:
                # A caller's video matters more than where it is relayed: this one goes through
                # the gateway itself, like every caller of the embedded plane.
                log.warning("incident %s: the %s media plane cannot take the caller (%s); relaying it here",
                            incident_id, self.plane.name, exc)
                await media.close()
                media = self.fallback_plane.caller(incident_id, peer)
                answer = await media.answer(offer_sdp)
            record = await self.incidents.start_session(incident_id, link["id"], user_agent)
            incident = await self.incidents.get(incident_id)
            policy = MediaPolicy.from_mapping(incident["media_policy"] if incident else {})
            live = LiveSession(incident_id, record["id"], link["id"], peer, media, policy)
            session_ref["s"] = live
            self.by_incident[incident_id] = live
            registered = True
        finally:
            if not registered:  # refused, failed or cancelled: the peer connection goes with it
                await media.close()
                await peer.close()
        live.timer = asyncio.get_running_loop().call_later(
            self.session_max_seconds,
            lambda: self._tasks.spawn(self.end(incident_id, "gateway", "maximum session length reached", only=live)),
        )
        self.events.publish(
            "session.started", incident_id, {"session_id": live.session_id, "user_agent": user_agent}
        )
        return answer

    async def _on_peer_event(self, live: LiveSession, kind: str) -> None:
        if live.ending:
            return
        if kind in ("channel", "video") and live.media is None:
            # Watched from the first sign of the caller: a video session whose frames never come
            # ends after the silence timeout like one whose frames stopped.
            live.media = self._session_media(live)
            live.media.start()
        if kind == "video" or (kind == "channel" and not live.peer.expects_video):
            # Location only (no camera, or refused) is a session of its own kind, not "consented".
            stream = "video" if kind == "video" else "location"
            at = await self.incidents.move_link(live.link_id, LinkState.STREAMING, "caller")
            self.events.publish("stream.started", live.incident_id, {"session_id": live.session_id, "kind": stream})
            if at:
                self._publish_link(live, LinkState.STREAMING, at)
        elif kind in ("failed", "closed") and not live.ending:
            # The link stays usable: the caller's page reconnects with a new offer.
            await self.end(live.incident_id, "gateway", f"connection {kind}", final=False, only=live)

    async def _on_message(self, live: LiveSession, text: str) -> None:
        try:
            message = jsonlimits.loads(text)
        except ValueError:
            log.warning("session %s: ignored a data-channel message that is not JSON", live.session_id)
            return
        if isinstance(message, dict) and message.get("type") == "pong":
            live.peer.pong(message.get("t"), message.get("rtt_ms"))
            return
        kind = message.get("type") if isinstance(message, dict) else None
        if kind != "fix":
            handler = self.handlers.get(kind) if isinstance(kind, str) else None
            if handler is None:
                log.warning("session %s: ignored a data-channel message of unknown type", live.session_id)
                return
            await handler(live, message)
            return
        await self.record_fix(live, message.get("seq"), message)

    async def record_fix(self, live: LiveSession, seq: int, message: dict[str, Any]) -> dict[str, Any] | None:
        """Record a fix from the data channel and answer it (see :class:`gateway.caller.positions.FixRecorder`)."""
        outcome = await self.fixes.record(live.incident_id, live.session_id, message)
        live.peer.send(json.dumps(outcome.reply()))
        if outcome.stored is not None:
            live.last_fix = self.fixes.latest(live.incident_id)
        return outcome.stored

    async def add_viewer(self, incident_id: str, offer_sdp: str, operator: str) -> ViewerReply:
        """An operator's view: the plane's answer to ``offer_sdp``, or its own offer to answer
        through :meth:`complete_viewer` (:class:`NoStream` when there is no video to view)."""
        live = self.by_incident.get(incident_id)
        if live is None or live.ending or live.peer.video is None:
            raise NoStream("the caller is not streaming video")
        try:
            return await live.plane.add_viewer(offer_sdp, operator)
        except NoVideo as exc:
            raise NoStream(str(exc)) from exc

    async def complete_viewer(self, incident_id: str, viewer_id: str, answer_sdp: str, operator: str) -> None:
        """A viewer's answer to the plane's offer (KeyError when there is no such view waiting)."""
        live = self.by_incident.get(incident_id)
        if live is None or live.ending:
            raise KeyError("the caller's session has ended")
        await live.plane.complete_viewer(viewer_id, answer_sdp, operator)

    async def snapshot(
        self, incident_id: str, actor: str, reason: str = "on_demand", allow_stale: bool = False
    ) -> dict[str, Any]:
        live = self.by_incident.get(incident_id)
        if live is None:
            raise NoStream("the caller is not streaming video")
        return await self.snapshot_of(live, actor, reason, allow_stale)

    async def snapshot_of(
        self, live: LiveSession, actor: str, reason: str, allow_stale: bool = False
    ) -> dict[str, Any]:
        """The sharpest frame of the last second, stored with its thumbnail and nearest fix.

        A newest frame older than ``media.max_snapshot_age_seconds`` raises :class:`StaleVideo`
        unless ``allow_stale``; either way the snapshot records how old its frame was when asked.
        """
        incident_id = live.incident_id
        asked_at = time.time()
        frames = live.peer.latest.window_frames()
        if not frames:
            raise NoStream("no video frame has been received for this incident")
        newest_age = max(0.0, asked_at - frames[-1].received_at)
        limit = self.media_settings.max_snapshot_age_seconds
        if newest_age > limit and not allow_stale:
            raise StaleVideo(newest_age)
        if not allow_stale:
            # The sharpest of the recent frames, but none older than the limit either.
            frames = [f for f in frames if asked_at - f.received_at <= limit] or frames[-1:]
        captured = await image_work(sharpest, frames)
        encoded = await image_work(encode_snapshot, captured.frame)
        jpeg = encoded.full
        sha = await asyncio.to_thread(self.blobs.put, jpeg.data)
        thumb = await asyncio.to_thread(self.blobs.put, encoded.thumbnail.data)
        taken_at = datetime.fromtimestamp(captured.received_at, UTC)
        fix = await self.incidents.nearest_fix(incident_id, taken_at)
        snap = await self.incidents.add_snapshot(
            incident_id, live.session_id, sha, jpeg.width, jpeg.height, len(jpeg.data),
            taken_at, actor, reason, fix, thumb_sha256=thumb,
            frame_age_seconds=round(max(0.0, asked_at - captured.received_at), 3),
        )
        self.events.publish("snapshot", incident_id, snap)
        return snap

    async def end(
        self,
        incident_id: str,
        actor: str,
        reason: str,
        final: bool = True,
        only: LiveSession | None = None,
    ) -> bool:
        """End the incident's live session. ``final`` also ends the link so it cannot reopen.

        With ``only``, end that session whether or not it is still the incident's current one:
        a session that is no longer current must not keep its peer connection open.
        """
        live = only if only is not None else self.by_incident.get(incident_id)
        if live is None or live.ending:
            return False
        live.ending = True
        if self.by_incident.get(incident_id) is live:
            del self.by_incident[incident_id]
        if live.timer:
            live.timer.cancel()
        # "final": false tells the page this connection ended but the link did not: reconnect.
        await live.peer.say_goodbye(json.dumps({"type": "end", "reason": reason, "final": final}))
        # The plane first: Janus's room (and every token for it) goes before the session is recorded as ended.
        await live.plane.close()
        if live.media is not None:
            await live.media.close()
        await live.peer.close()
        await self.incidents.end_session(live.session_id, actor, reason)
        if final:
            at = await self.incidents.move_link(live.link_id, LinkState.ENDED, actor, reason)
            if at:
                self._publish_link(live, LinkState.ENDED, at)
        self.events.publish(
            "session.ended", incident_id, {"session_id": live.session_id, "ended_by": actor, "reason": reason}
        )
        return True

    async def close_all(self, reason: str = "gateway shutting down") -> None:
        for incident_id in list(self.by_incident):
            await self.end(incident_id, "gateway", reason, final=False)
        await self._tasks.cancel()
        await self.plane.close()

    def _session_media(self, live: LiveSession) -> SessionMedia:
        async def snapshot(reason: str) -> Any:
            try:
                return await self.snapshot_of(live, "gateway", reason)
            except (NoStream, StaleVideo):
                return None  # automatic snapshots never store an old frame as new

        async def store(segment: Segment) -> None:
            sha, size = await asyncio.to_thread(self.blobs.adopt, segment.path)
            stored = await self.incidents.add_recording(
                live.incident_id, live.session_id, segment.index, sha, size, segment.frames,
                segment.width, segment.height, segment.codec,
                datetime.fromtimestamp(segment.started_at, UTC),
                datetime.fromtimestamp(segment.ended_at, UTC),
            )
            self.events.publish("recording.segment", live.incident_id, stored)

        async def gone(reason: str) -> None:
            await self.end(live.incident_id, "gateway", reason, final=False, only=live)

        return SessionMedia(
            live.peer, self.media_settings, live.policy, self.work_dir / live.session_id,
            snapshot, lambda kind, data: self.events.publish(kind, live.incident_id, data), store, gone,
        )

    async def set_policy(self, incident_id: str, policy: MediaPolicy) -> None:
        live = self.by_incident.get(incident_id)
        if live is not None:
            live.policy = policy
            if live.media is not None:
                live.media.set_policy(policy)

    def health(self, incident_id: str) -> dict[str, Any] | None:
        live = self.by_incident.get(incident_id)
        if live is None:
            return None
        media = live.media
        return {
            "session_id": live.session_id,
            "viewers": live.plane.viewer_count(),
            "stream": media.health if media else None,
            "recording": bool(media and media.recording),
            # "starting", "live", "frozen" (no frame for a moment) or "location" (no video track)
            "state": media.state.value if media and media.state else "starting",
            "frame_age_seconds": None if (age := live.peer.latest.age()) is None else round(age, 2),
            # The longest time between two decoded frames so far (exact, where polling
            # frame_age_seconds sees a freeze only to within the polling interval).
            "longest_freeze_seconds": round(live.peer.latest.longest_gap, 2),
            # Frames decoded so far, counted now (the stream health's figures are every 2 s).
            "frames": live.peer.latest.count,
        }

    def _publish_link(self, live: LiveSession, state: LinkState, at: str) -> None:
        self.events.publish("link.state", live.incident_id, {"link_id": live.link_id, "state": state.value, "at": at})
