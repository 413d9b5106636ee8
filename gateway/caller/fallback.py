"""Sharing over plain HTTPS when WebRTC cannot: still photos and batches of fixes.

When the caller's page cannot hold a peer connection it steps down the fallback ladder and posts
JPEG stills (``POST /c/{token}/stills``) and its buffered fixes (``POST /c/{token}/fixes``). Both
belong to a session like any other: the live one if the page still has a peer connection, else an
HTTPS session opened for them, which ends when the caller or the handler ends, the link is
revoked, or nothing has arrived for a while.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np

from ..events import EventBus
from ..live import LiveSessions
from ..media.frames import THUMBNAIL_WIDTH
from ..media.jpeg import JpegHeaderError, jpeg_size
from ..media.workers import image_work
from ..record import BlobStore, Incidents
from ..record.database import utcnow
from .positions import FixOutcome, FixRecorder

log = logging.getLogger(__name__)

MAX_STILL_BYTES = 200 * 1024
MAX_STILL_SIDE = 2048
MIN_STILL_INTERVAL = 1.0  # seconds between two stills from one link
# Stills being decoded at once, across every caller; beyond that a still is refused with 503 and
# the page retries, rather than a queue of decodes growing behind the image pool.
MAX_STILLS_DECODING = 4
MAX_FIX_BATCH = 200
IDLE_SECONDS = 90.0


class BadUpload(ValueError):
    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code


@dataclass
class Still:
    width: int
    height: int
    thumbnail: bytes


def check_still_header(data: bytes) -> tuple[int, int]:
    """The still's width and height as its JPEG header declares them, if they are acceptable.

    Pure and cheap (no decoding): run before any decoder sees the bytes, so that a small file
    declaring an enormous image is refused without allocating it.
    """
    if len(data) < 4 or data[:3] != b"\xff\xd8\xff":
        raise BadUpload(400, "not_jpeg", "the body is not a JPEG image")
    try:
        size = jpeg_size(data)
    except JpegHeaderError as exc:
        raise BadUpload(400, "not_jpeg", f"the JPEG image cannot be read: {exc}") from None
    if max(size.width, size.height) > MAX_STILL_SIDE or min(size.width, size.height) < 16:
        raise BadUpload(400, "bad_size", f"a still must be between 16 and {MAX_STILL_SIDE} pixels a side")
    return size.width, size.height


def inspect_still(data: bytes) -> Still:
    """Check that ``data`` is one decodable JPEG of a sane size, and make its gallery thumbnail.

    The header is checked first; only then is the image decoded. CPU work: run it on the image
    pool (:func:`gateway.media.workers.image_work`).
    """
    declared = check_still_header(data)
    try:
        image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    except cv2.error:  # OpenCV 5 raises where 4 returned None (over OPENCV_IO_MAX_IMAGE_PIXELS)
        image = None
    if image is None:
        raise BadUpload(400, "not_jpeg", "the JPEG image cannot be decoded")
    height, width = image.shape[:2]
    if (width, height) != declared:  # decoders size their buffer from that header: never seen
        raise BadUpload(400, "not_jpeg", "the JPEG image is not the size its header declares")
    thumb_height = max(1, round(height * THUMBNAIL_WIDTH / width))
    small = cv2.resize(image, (THUMBNAIL_WIDTH, thumb_height), interpolation=cv2.INTER_AREA)
    ok, buf = cv2.imencode(".jpg", small, [cv2.IMWRITE_JPEG_QUALITY, 80])
    if not ok:
        raise BadUpload(400, "not_jpeg", "the JPEG image cannot be decoded")
    return Still(width, height, buf.tobytes())


@dataclass
class _HttpsSession:
    session_id: str
    incident_id: str
    last_seen: float


class Fallback:
    def __init__(
        self,
        incidents: Incidents,
        events: EventBus,
        live: LiveSessions,
        blobs: BlobStore,
        fixes: FixRecorder,
    ) -> None:
        self.incidents = incidents
        self.events = events
        self.live = live
        self.blobs = blobs
        self.fixes = fixes
        self.sessions: dict[str, _HttpsSession] = {}  # by link id
        self._last_still: dict[str, float] = {}
        self.min_still_interval = MIN_STILL_INTERVAL
        self._lock = asyncio.Lock()
        self._decoding = 0

    async def session_for(self, link: Mapping[str, Any], user_agent: str) -> str:
        """The session that HTTPS uploads for ``link`` belong to, opening one if need be."""
        live = self.live.by_incident.get(link["incident_id"])
        if live is not None and live.link_id == link["id"] and not live.ending:
            return live.session_id
        async with self._lock:
            known = self.sessions.get(link["id"])
            if known is not None:
                known.last_seen = time.monotonic()
                return known.session_id
            record = await self.incidents.start_session(link["incident_id"], link["id"], user_agent)
            self.sessions[link["id"]] = _HttpsSession(record["id"], link["incident_id"], time.monotonic())
        self.events.publish(
            "session.started", link["incident_id"],
            {"session_id": record["id"], "user_agent": user_agent, "transport": "https"},
        )
        return record["id"]

    async def fixes_batch(self, link: Mapping[str, Any], user_agent: str, batch: Any) -> list[dict[str, Any]]:
        """Record a batch of fixes; one answer (ack or rejected) per fix, in order."""
        if not isinstance(batch, list) or not batch:
            raise BadUpload(400, "invalid_fixes", "'fixes' must be a non-empty list")
        if len(batch) > MAX_FIX_BATCH:
            raise BadUpload(413, "too_many_fixes", f"at most {MAX_FIX_BATCH} fixes in one batch")
        if not all(isinstance(f, dict) for f in batch):
            raise BadUpload(400, "invalid_fixes", "each fix must be a JSON object")
        session_id = await self.session_for(link, user_agent)
        replies = []
        for fix in batch:
            outcome: FixOutcome = await self.fixes.record(link["incident_id"], session_id, fix)
            replies.append(outcome.reply())
        return replies

    async def still(self, link: Mapping[str, Any], user_agent: str, data: bytes) -> dict[str, Any]:
        """Store one still photo from the caller's page as a snapshot (reason ``still``)."""
        if len(data) > MAX_STILL_BYTES:
            raise BadUpload(413, "too_large", f"a still may be at most {MAX_STILL_BYTES} bytes")
        now = time.monotonic()
        if now - self._last_still.get(link["id"], 0.0) < self.min_still_interval:
            raise BadUpload(429, "too_often", "one still a second at most")
        self._last_still[link["id"]] = now
        check_still_header(data)  # before any decoding, and before waiting for the pool
        if self._decoding >= MAX_STILLS_DECODING:
            raise BadUpload(503, "busy", "the gateway is busy; send the photo again in a moment")
        self._decoding += 1
        try:
            still = await image_work(inspect_still, data)
        finally:
            self._decoding -= 1
        session_id = await self.session_for(link, user_agent)
        sha = await asyncio.to_thread(self.blobs.put, data)
        thumb = await asyncio.to_thread(self.blobs.put, still.thumbnail)
        taken_at = utcnow()
        fix = await self.incidents.nearest_fix(link["incident_id"], taken_at)
        snap = await self.incidents.add_snapshot(
            link["incident_id"], session_id, sha, still.width, still.height, len(data),
            taken_at, "caller", "still", fix, thumb_sha256=thumb,
        )
        self.events.publish("snapshot", link["incident_id"], snap)
        return snap

    async def end(self, link_id: str, actor: str, reason: str) -> bool:
        """End the link's HTTPS session, if it has one."""
        async with self._lock:
            known = self.sessions.pop(link_id, None)
        self._last_still.pop(link_id, None)
        if known is None:
            return False
        if await self.incidents.end_session(known.session_id, actor, reason):
            self.events.publish(
                "session.ended", known.incident_id,
                {"session_id": known.session_id, "ended_by": actor, "reason": reason, "transport": "https"},
            )
        return True

    async def end_incident(self, incident_id: str, actor: str, reason: str) -> None:
        for link_id, known in list(self.sessions.items()):
            if known.incident_id == incident_id:
                await self.end(link_id, actor, reason)

    async def sweep(self) -> None:
        """End HTTPS sessions that nothing has used for :data:`IDLE_SECONDS`."""
        now = time.monotonic()
        for link_id, known in list(self.sessions.items()):
            if now - known.last_seen > IDLE_SECONDS:
                await self.end(link_id, "gateway", "nothing received over HTTPS for a while")

    async def close_all(self, reason: str = "gateway shutting down") -> None:
        for link_id in list(self.sessions):
            await self.end(link_id, "gateway", reason)
