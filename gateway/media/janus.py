"""Janus as the media plane: a VideoRoom per incident, reached only by the gateway.

The caller's page keeps talking only to the gateway. Its offer is split (:func:`split_offer`):
the video sections are published to the incident's room, the data channel is answered by the
gateway's own :class:`CallerPeer`; the merged answer gives the page two transports, video to
Janus and the data channel to the gateway. Operators' views subscribe to the room through the
gateway, which counters their offer with Janus's (Janus's VideoRoom offers to subscribers).

Access to a room: a random room id, a room secret and a PIN, ``require_pvtid`` (only a
participant the gateway joined may subscribe) and an ``allowed`` list of per-participant tokens
the gateway adds and removes: the caller's, the gateway's own and one per view. All of them, and
Janus's API secret and admin key, stay in this process: no page, event or log sees them.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import re
import secrets
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

import aiohttp
from aiortc import RTCPeerConnection, RTCSessionDescription

from ..config import IceServer, JanusSettings
from ..tasks import TaskSet
from .ingest import MAX_KBPS, MIN_KBPS, START_KBPS, CallerPeer
from .peers import new_peer_connection
from .plane import CallerMedia, NoVideo, PlaneUnavailable, ViewerReply, new_viewer_id
from .sdp import add_bitrate_hints, media_kinds, merge_answers, split_offer

log = logging.getLogger(__name__)

VIDEOROOM = "janus.plugin.videoroom"
REQUEST_TIMEOUT = 15.0
CONNECT_TIMEOUT = 5.0
KEEPALIVE_SECONDS = 20.0
SUBSCRIBE_WAIT_SECONDS = 15.0
MAX_VIEWERS_PER_CALLER = 16
# A view whose answer has not come by then is dropped, its token revoked.
ANSWER_WAIT_SECONDS = 30.0


def anonymous(sdp: str) -> str:
    """Janus's SDP with its session name (which names the room) replaced: pages need none of it."""
    return re.sub(r"(?m)^s=.*$", "s=-", sdp, count=1)


class JanusError(PlaneUnavailable):
    """Janus refused a request or could not be reached; the message says which and why."""


EventHandler = Callable[[dict[str, Any]], Awaitable[None]]


class JanusClient:
    """One WebSocket to Janus's API and one Janus session on it, shared by all rooms.

    Requests wait for their reply by transaction (an asynchronous plugin request's "ack" is
    skipped for the event that follows); events for a handle go to the handler registered for it.
    The connection is made on first use and again after it drops.
    """

    def __init__(self, settings: JanusSettings) -> None:
        self._settings = settings
        self._http: aiohttp.ClientSession | None = None
        self._ws: aiohttp.ClientWebSocketResponse | None = None
        self._session_id: int | None = None
        self._waiting: dict[str, asyncio.Future[dict[str, Any]]] = {}
        self._handlers: dict[int, EventHandler] = {}
        self._ids = itertools.count(1)
        self._lock = asyncio.Lock()
        self._tasks = TaskSet("janus client")

    def __repr__(self) -> str:  # the settings hold secrets: name only the URL
        return f"JanusClient({self._settings.url!r})"

    async def _connected(self) -> int:
        async with self._lock:
            if self._ws is not None and not self._ws.closed and self._session_id is not None:
                return self._session_id
            if self._http is None:
                self._http = aiohttp.ClientSession()
            try:
                self._ws = await asyncio.wait_for(self._http.ws_connect(
                    self._settings.url, protocols=("janus-protocol",), heartbeat=30, max_msg_size=1 << 20
                ), CONNECT_TIMEOUT)
            except (aiohttp.ClientError, OSError, TimeoutError) as exc:
                raise JanusError(f"Janus cannot be reached at {self._settings.url} ({type(exc).__name__})") from None
            self._tasks.spawn(self._read(self._ws))
            reply = await self._send({"janus": "create"})
            self._session_id = int(reply["data"]["id"])
            self._tasks.spawn(self._keepalive(self._ws, self._session_id))
            return self._session_id

    async def _send(self, message: dict[str, Any]) -> dict[str, Any]:
        ws = self._ws
        if ws is None or ws.closed:
            raise JanusError("the connection to Janus is closed")
        transaction = f"t{next(self._ids)}"
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._waiting[transaction] = future
        try:
            await ws.send_json({**message, "transaction": transaction, "apisecret": self._settings.api_secret})
            reply = await asyncio.wait_for(future, REQUEST_TIMEOUT)
        except TimeoutError:
            raise JanusError(f"Janus did not answer a {message.get('janus')} request in time") from None
        finally:
            self._waiting.pop(transaction, None)
        if reply.get("janus") == "error":
            error = reply.get("error") or {}
            raise JanusError(f"Janus refused a {message.get('janus')} request: {error.get('reason', 'no reason')}")
        return reply

    async def _read(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        try:
            async for message in ws:
                if message.type != aiohttp.WSMsgType.TEXT:
                    continue
                try:
                    body = message.json()
                except ValueError:
                    continue
                if not isinstance(body, dict):
                    continue
                future = self._waiting.get(str(body.get("transaction")))
                if future is not None and body.get("janus") != "ack":
                    if not future.done():
                        future.set_result(body)
                    continue
                if body.get("janus") in ("event", "webrtcup", "hangup", "media", "slowlink", "detached"):
                    handler = self._handlers.get(int(body.get("sender") or 0))
                    if handler is not None:
                        self._tasks.spawn(handler(body))
        finally:
            log.warning("the connection to Janus closed")
            if self._ws is ws:
                # Janus ends the session's handles with it: nothing more will come for them.
                self._session_id = None
                self._handlers.clear()
            for future in self._waiting.values():
                if not future.done():
                    future.set_exception(JanusError("the connection to Janus closed"))

    async def _keepalive(self, ws: aiohttp.ClientWebSocketResponse, session_id: int) -> None:
        while not ws.closed:
            await asyncio.sleep(KEEPALIVE_SECONDS)
            with contextlib.suppress(JanusError):
                await self._send({"janus": "keepalive", "session_id": session_id})

    async def attach(self, on_event: EventHandler | None = None) -> int:
        session_id = await self._connected()
        reply = await self._send({"janus": "attach", "plugin": VIDEOROOM, "session_id": session_id})
        handle = int(reply["data"]["id"])
        if on_event is not None:
            self._handlers[handle] = on_event
        return handle

    async def message(
        self, handle: int, body: dict[str, Any], jsep: dict[str, str] | None = None
    ) -> tuple[dict[str, Any], dict[str, Any] | None]:
        """A VideoRoom request on ``handle``: its data, and the SDP Janus sent with it if any."""
        request: dict[str, Any] = {
            "janus": "message", "session_id": self._session_id, "handle_id": handle, "body": body,
        }
        if jsep is not None:
            request["jsep"] = jsep
        reply = await self._send(request)
        data = reply.get("plugindata", {}).get("data", {})
        if "error_code" in data:
            raise JanusError(f"VideoRoom refused {body.get('request')!r}: {data.get('error', data['error_code'])}")
        return data, reply.get("jsep")

    async def detach(self, handle: int) -> None:
        self._handlers.pop(handle, None)
        if self._session_id is None:
            return
        with contextlib.suppress(JanusError):
            await self._send({"janus": "detach", "session_id": self._session_id, "handle_id": handle})

    async def close(self) -> None:
        if self._ws is not None and not self._ws.closed and self._session_id is not None:
            with contextlib.suppress(JanusError):
                await self._send({"janus": "destroy", "session_id": self._session_id})
        if self._ws is not None:
            await self._ws.close()
        await self._tasks.cancel()
        if self._http is not None:
            await self._http.close()


class JanusViewer:
    def __init__(self, viewer_id: str, operator: str, handle: int, token: str) -> None:
        self.viewer_id = viewer_id
        self.operator = operator
        self.handle = handle
        self.token = token
        self.started = False


class JanusCaller:
    """One caller session's room: the caller's publication, the gateway's subscription, views."""

    def __init__(self, client: JanusClient, settings: JanusSettings, incident_id: str, peer: CallerPeer,
                 ice_servers: Iterable[IceServer]) -> None:
        self.client = client
        self.settings = settings
        self.incident_id = incident_id
        self.peer = peer
        self.ice_servers = ice_servers
        self.room = f"sl-{secrets.token_hex(12)}"
        self._secret = secrets.token_urlsafe(24)
        self._pin = secrets.token_urlsafe(12)
        self._caller_token = secrets.token_urlsafe(24)
        self._gateway_token = secrets.token_urlsafe(24)
        self._private_id: int | None = None
        self._publisher: str | None = None
        self._handles: list[int] = []
        self._own: RTCPeerConnection | None = None
        self.viewers: dict[str, JanusViewer] = {}
        self._tasks = TaskSet("janus caller")
        self._room_made = False
        self._closed = False

    def __repr__(self) -> str:
        return f"JanusCaller(incident={self.incident_id!r}, viewers={len(self.viewers)})"

    def _auth(self) -> dict[str, Any]:
        return {"room": self.room, "pin": self._pin}

    async def _make_room(self) -> None:
        handle = await self.client.attach(self._on_gateway_event)
        self._handles.append(handle)
        await self.client.message(handle, {
            "request": "create", "room": self.room, "admin_key": self.settings.admin_key,
            "description": "scenelink incident", "secret": self._secret, "pin": self._pin,
            "is_private": True, "require_pvtid": True, "publishers": 2,
            "allowed": [self._caller_token, self._gateway_token],
            "bitrate": self.settings.max_kbps * 1000, "bitrate_cap": True, "fir_freq": 10,
            "videocodec": "vp8,h264", "audiocodec": "opus", "notify_joining": False, "permanent": False,
        })
        self._room_made = True
        # The gateway's own place in the room: its private id is what lets subscriptions in.
        joined, _ = await self.client.message(handle, {
            "request": "join", "ptype": "publisher", **self._auth(), "token": self._gateway_token,
            "display": "gateway",
        })
        self._private_id = int(joined["private_id"])

    async def answer(self, offer_sdp: str) -> str:
        video_offer, data_offer = split_offer(offer_sdp, frozenset({"video", "audio"}))
        if video_offer is None:  # location only: nothing for Janus to carry
            return await self.peer.answer(offer_sdp)
        if data_offer is None:
            raise ValueError("the offer has no data channel")
        await self._make_room()
        handle = await self.client.attach(self._on_caller_event)
        self._handles.append(handle)
        try:
            joined, jsep = await self.client.message(
                handle,
                {"request": "joinandconfigure", "ptype": "publisher", **self._auth(), "token": self._caller_token,
                 "display": "caller", "audio": True, "video": True},
                {"type": "offer", "sdp": video_offer},
            )
        except JanusError as exc:
            if "SDP" in str(exc) or "sdp" in str(exc):
                raise ValueError(f"the offer cannot be applied ({exc})") from exc
            raise
        if not jsep or jsep.get("type") != "answer":
            raise JanusError("Janus published the caller's video without an answer")
        self._publisher = str(joined["id"])
        data_answer = await self.peer.answer(data_offer)
        self.peer.expects_video = "video" in media_kinds(offer_sdp)
        video_answer = add_bitrate_hints(anonymous(str(jsep["sdp"])), START_KBPS, MIN_KBPS, MAX_KBPS)
        self._tasks.spawn(self._subscribe_own())
        return merge_answers(offer_sdp, [video_answer, data_answer])

    async def _subscribe(self, handle: int, token: str) -> dict[str, Any]:
        """Janus's offer of the caller's video on a subscriber ``handle``."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + SUBSCRIBE_WAIT_SECONDS
        while True:
            try:
                _, jsep = await self.client.message(handle, {
                    "request": "join", "ptype": "subscriber", **self._auth(), "token": token,
                    "private_id": self._private_id, "streams": [{"feed": self._publisher}],
                })
            except JanusError:
                # The publication may not be ready yet, just after the caller's answer.
                if loop.time() > deadline or self._closed:
                    raise
                await asyncio.sleep(0.3)
                continue
            if not jsep or jsep.get("type") != "offer":
                raise JanusError("Janus offered no video to a subscriber")
            return jsep

    async def _subscribe_own(self) -> None:
        """The gateway's one subscription: frames for snapshots, recording, health and silence."""
        try:
            handle = await self.client.attach()
            self._handles.append(handle)
            jsep = await self._subscribe(handle, self._gateway_token)
            pc = self._own = new_peer_connection(self.ice_servers)
            self.peer.video_pc = pc
            pc.on("track", self.peer.take_track)
            await pc.setRemoteDescription(RTCSessionDescription(sdp=str(jsep["sdp"]), type="offer"))
            self.peer.watch_receivers(pc)
            await pc.setLocalDescription(await pc.createAnswer())
            await self.client.message(handle, {"request": "start"}, {"type": "answer", "sdp": pc.localDescription.sdp})
        except (JanusError, ValueError) as exc:
            log.warning("incident %s: the gateway could not subscribe to the caller's video (%s)",
                        self.incident_id, exc)

    async def _on_caller_event(self, event: dict[str, Any]) -> None:
        if event.get("janus") == "hangup":
            log.info("incident %s: Janus reports the caller's video connection ended", self.incident_id)

    async def _on_gateway_event(self, event: dict[str, Any]) -> None:
        pass

    async def add_viewer(self, offer_sdp: str, operator: str) -> ViewerReply:
        # The viewer's own offer is not used: Janus's VideoRoom offers to its subscribers.
        if self._closed or self._publisher is None or self.peer.video is None:
            raise NoVideo("the caller is not streaming video")
        if len(self.viewers) >= MAX_VIEWERS_PER_CALLER:
            raise NoVideo(f"this caller already has {MAX_VIEWERS_PER_CALLER} views open")
        viewer_id = new_viewer_id()
        token = secrets.token_urlsafe(24)
        await self.client.message(self._handles[0], {
            "request": "allowed", "room": self.room, "secret": self._secret, "action": "add", "allowed": [token],
        })
        handle = 0
        try:
            async def on_event(event: dict[str, Any]) -> None:
                if event.get("janus") == "hangup" and viewer_id in self.viewers:
                    await self._drop_viewer(viewer_id)

            handle = await self.client.attach(on_event)
            viewer = JanusViewer(viewer_id, operator, handle, token)
            self.viewers[viewer_id] = viewer
            jsep = await self._subscribe(handle, token)
        except BaseException:
            await self._drop_viewer(viewer_id, handle, token)
            raise
        self._tasks.spawn(self._expire_unanswered(viewer_id))
        return ViewerReply("offer", anonymous(str(jsep["sdp"])), viewer_id)

    async def _expire_unanswered(self, viewer_id: str) -> None:
        await asyncio.sleep(ANSWER_WAIT_SECONDS)
        viewer = self.viewers.get(viewer_id)
        if viewer is not None and not viewer.started:
            await self._drop_viewer(viewer_id)

    async def complete_viewer(self, viewer_id: str, answer_sdp: str, operator: str) -> None:
        viewer = self.viewers.get(viewer_id)
        if viewer is None or viewer.operator != operator or viewer.started:
            raise KeyError("no such view waiting for an answer")
        viewer.started = True
        try:
            await self.client.message(viewer.handle, {"request": "start"}, {"type": "answer", "sdp": answer_sdp})
        except JanusError as exc:
            await self._drop_viewer(viewer_id)
            raise ValueError(f"the answer cannot be applied ({exc})") from exc

    async def _drop_viewer(self, viewer_id: str, handle: int = 0, token: str = "") -> None:
        viewer = self.viewers.pop(viewer_id, None)
        if viewer is not None:
            handle, token = viewer.handle, viewer.token
        if token and self._room_made and not self._closed:
            with contextlib.suppress(JanusError):
                await self.client.message(self._handles[0], {
                    "request": "allowed", "room": self.room, "secret": self._secret,
                    "action": "remove", "allowed": [token],
                })
        if handle:
            await self.client.detach(handle)

    def viewer_count(self) -> int:
        return len(self.viewers)

    async def _destroy_room(self) -> None:
        """Destroy the room; through a new handle if the connection the room was made on is gone
        (Janus keeps rooms across sessions, so a reconnected gateway must still remove it)."""
        request = {"request": "destroy", "room": self.room, "secret": self._secret}
        try:
            await self.client.message(self._handles[0], request)
            return
        except JanusError:
            pass
        try:
            handle = await self.client.attach()
            try:
                await self.client.message(handle, request)
            finally:
                await self.client.detach(handle)
        except JanusError as exc:
            log.warning("incident %s: Janus's room could not be destroyed (%s)", self.incident_id, exc)

    async def allowed(self) -> list[str]:
        """The tokens Janus lets into the room now (for health checks and tests; never shown)."""
        data, _ = await self.client.message(self._handles[0], {
            "request": "allowed", "room": self.room, "secret": self._secret, "action": "enable",
        })
        return [str(token) for token in data.get("allowed", [])]

    async def close(self) -> None:
        """Revoke every token, destroy the room (Janus ends every view in it), close our own view."""
        if self._closed:
            return
        self._closed = True
        await self._tasks.cancel()
        if self._room_made and self._handles:
            tokens = [self._caller_token, self._gateway_token, *(v.token for v in self.viewers.values())]
            with contextlib.suppress(JanusError):
                await self.client.message(self._handles[0], {
                    "request": "allowed", "room": self.room, "secret": self._secret,
                    "action": "remove", "allowed": tokens,
                })
            await self._destroy_room()
        self.viewers.clear()
        if self._own is not None:
            await self._own.close()
        for handle in self._handles:
            await self.client.detach(handle)
        self._handles.clear()


class JanusPlane:
    name = "janus"

    def __init__(self, settings: JanusSettings, ice_servers: Iterable[IceServer] = ()) -> None:
        self.settings = settings
        # Not copied: iterated for each peer connection (gateway.ice.FreshEachTime).
        self.ice_servers = ice_servers
        self.client = JanusClient(settings)

    def __repr__(self) -> str:
        return f"JanusPlane({self.settings.url!r})"

    def caller(self, incident_id: str, peer: CallerPeer) -> CallerMedia:
        return JanusCaller(self.client, self.settings, incident_id, peer, self.ice_servers)

    async def rooms(self) -> list[str]:
        """The rooms Janus holds now, as the admin key shows them (for health checks and tests)."""
        handle = await self.client.attach()
        try:
            data, _ = await self.client.message(handle, {"request": "list", "admin_key": self.settings.admin_key})
        finally:
            await self.client.detach(handle)
        return [str(room["room"]) for room in data.get("list", [])]

    async def close(self) -> None:
        await self.client.close()
