"""Synthetic callers and viewers (aiortc peers) and the two servers they talk to.

A caller sends the pre-encoded sample video as it is (``MediaPlayer(path, decode=False)``) and
notes the wall-clock time at which each frame number left; a viewer reads the number stamped into
each frame it decodes, and notes when the frame's last RTP packet arrived ("wire"), when the server
sent it and when it was decoded. With ``count_only`` a viewer decodes only its first frames: their
numbers tie the stream's RTP timestamps to frame numbers (the server keeps the caller's timing: one
frame is 90000/15 ticks), and from then on it counts each frame whose packets have all arrived, by
its RTP timestamp, without decoding it. Decoding every frame of 20 viewers took the
load generator a third of a core on a 2-core machine, CPU the server under test then lacked; a
real viewer is a browser on another machine. Callers and viewers live in the same process, so the
times compare directly.

``GatewayTarget`` drives the real gateway through its public API (operator login with CSRF,
incident, link, the caller's page, consent, offer, viewer); ``RelayTarget`` drives the minimal
example-server pattern in :mod:`benchmarks.relay_server`.
"""

from __future__ import annotations

import asyncio
import queue
import re
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import aiohttp
from aiortc import RTCConfiguration, RTCPeerConnection, RTCRtpSender, RTCSessionDescription
from aiortc.contrib.media import MediaPlayer
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack

from .media_sample import FPS, luma_of, read_stamp

STEP_TIMEOUT = 15.0  # seconds for any one signalling step or first frame


NTP_OFFSET = 2208988800  # seconds from 1900 (NTP) to 1970 (Unix)


def departure_time(abs_send_time: int, now: float) -> float:
    """The sender's wall-clock time from an RTP abs-send-time (6.18 fixed-point seconds, mod 64 s).

    Sender and receiver share this machine's clock, so this is when the server sent the packet.
    """
    now_units = int((now + NTP_OFFSET) * (1 << 18)) & 0xFFFFFF
    return now - ((now_units - abs_send_time) & 0xFFFFFF) / (1 << 18)


def _vp8_first() -> list:
    codecs = RTCRtpSender.getCapabilities("video").codecs
    return [c for c in codecs if c.mimeType.lower() in ("video/vp8", "video/rtx")]


class StampedSource(MediaStreamTrack):
    """The sample file's VP8 packets, sent without decoding; records when each frame number left."""

    kind = "video"

    def __init__(self, path: Path) -> None:
        super().__init__()
        self.player = MediaPlayer(str(path), decode=False)
        self.inner = self.player.video
        self.sent: dict[int, float] = {}

    async def recv(self):
        packet = await self.inner.recv()
        number = int(round(float(packet.pts * packet.time_base) * FPS))
        # The sender packetises and sends this packet as soon as recv returns.
        self.sent[number] = time.time()
        return packet

    def stop(self) -> None:
        super().stop()
        self.inner.stop()


class Caller:
    """One synthetic caller's peer connection and bookkeeping."""

    def __init__(self, video: Path) -> None:
        self.pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
        self.source = StampedSource(video)
        transceiver = self.pc.addTransceiver(self.source, direction="sendonly")
        transceiver.setCodecPreferences(_vp8_first())
        self.channel = self.pc.createDataChannel("fixes")  # as the caller page does
        self.consent_at: float | None = None
        self.offer_at: float | None = None
        self.first_frame_at: float | None = None  # when the server decoded its first frame
        self.ref: dict[str, Any] = {}  # the target's own handles (incident id, link, session)

    async def offer(self) -> dict[str, str]:
        await self.pc.setLocalDescription(await self.pc.createOffer())  # gathers all candidates
        return {"sdp": self.pc.localDescription.sdp, "type": "offer"}

    async def answer(self, answer: dict[str, str]) -> None:
        await self.pc.setRemoteDescription(RTCSessionDescription(sdp=answer["sdp"], type=answer["type"]))

    async def close(self) -> None:
        await self.pc.close()
        self.source.stop()


TICKS_PER_FRAME = 90000 // FPS
CALIBRATION_FRAMES = 3  # consecutive decoded frames whose stamps agree with their RTP timestamps


class _CountingQueue(queue.Queue):
    """A viewer receiver's decoder input: once calibrated, frames are counted here, not decoded."""

    def __init__(self, viewer: Viewer) -> None:
        super().__init__()
        self.viewer = viewer

    def put(self, item: Any, block: bool = True, timeout: float | None = None) -> None:
        if item is not None and self.viewer.calibration is not None:
            self.viewer._complete(item[1].timestamp)
            return
        super().put(item, block, timeout)


class Viewer:
    """A receive-only peer; decodes every frame and reads its stamped number, or with
    ``count_only`` only its first frames, then counts frames complete on the wire (see the
    module's description)."""

    WIRE_KEEP = 600  # RTP timestamps remembered for matching frames

    def __init__(self, caller: Caller, count_only: bool = False) -> None:
        self.caller = caller
        self.count_only = count_only
        self.pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
        transceiver = self.pc.addTransceiver("video", direction="recvonly")
        transceiver.setCodecPreferences(_vp8_first())
        # frame number -> (decoded here at (None once frames are only counted), last packet
        # arrived here at, the server sent it at)
        self.got: dict[int, tuple[float | None, float | None, float | None]] = {}
        # (pts, frame number) of a decoded frame once CALIBRATION_FRAMES in a row agreed
        self.calibration: tuple[int, int] | None = None
        self._agreeing: list[tuple[int, int]] = []
        self.sizes: set[tuple[int, int]] = set()
        self.unreadable = 0
        self.rtp_bytes = 0
        # RTP timestamp -> (when the frame's last packet arrived here, when the server sent it);
        # then the same by the decoded frame's pts.
        self._wire: OrderedDict[int, tuple[float, float | None]] = OrderedDict()
        self._wire_by_pts: OrderedDict[int, tuple[float, float | None]] = OrderedDict()
        self._tasks: set[asyncio.Task] = set()
        self._hook(transceiver.receiver)
        self.pc.on("track", self._on_track)

    def _hook(self, receiver) -> None:
        original = receiver._handle_rtp_packet

        async def handle(packet, arrival_time_ms: int) -> None:
            self.rtp_bytes += len(packet.payload)
            if packet.marker and packet.timestamp not in self._wire:
                now = time.time()
                sent = packet.extensions.abs_send_time
                self._wire[packet.timestamp] = (now, None if sent is None else departure_time(sent, now))
                while len(self._wire) > self.WIRE_KEEP:
                    self._wire.popitem(last=False)
            await original(packet, arrival_time_ms)

        receiver._handle_rtp_packet = handle

        # A decoded frame's pts is its RTP timestamp minus the stream's first one (aiortc's
        # TimestampMapper): note the mapping so that a frame finds its packets' arrival time.
        mapper = receiver._RTCRtpReceiver__timestamp_mapper
        original_map = mapper.map

        def map_timestamp(timestamp: int) -> int:
            mapped = original_map(timestamp)
            arrived = self._wire.get(timestamp)
            if arrived is not None:
                self._wire_by_pts[mapped] = arrived
                while len(self._wire_by_pts) > self.WIRE_KEEP:
                    self._wire_by_pts.popitem(last=False)
            return mapped

        mapper.map = map_timestamp
        receiver._RTCRtpReceiver__decoder_queue = _CountingQueue(self)

    def _complete(self, pts: int) -> None:
        """A frame whose packets have all arrived (the jitter buffer handed it on), by its pts."""
        assert self.calibration is not None
        pts0, number0 = self.calibration
        # The file's timestamps are in milliseconds, so a frame's RTP timestamp sits within half a
        # millisecond's ticks of number x 6000, never a quarter frame away.
        frames = (pts - pts0) / TICKS_PER_FRAME
        number = number0 + round(frames)
        if abs(frames - round(frames)) > 0.25:
            self.unreadable += 1
            return
        if number not in self.got:
            arrived, departed = self._wire_by_pts.get(pts, (None, None))
            self.got[number] = (None, arrived, departed)

    def _calibrate(self, pts: int, number: int) -> None:
        if self._agreeing:
            last_pts, last_number = self._agreeing[-1]
            if abs(pts - last_pts - (number - last_number) * TICKS_PER_FRAME) > TICKS_PER_FRAME // 4 or number <= last_number:
                self._agreeing.clear()
        self._agreeing.append((pts, number))
        if len(self._agreeing) >= CALIBRATION_FRAMES:
            self.calibration = (pts, number)

    def _on_track(self, track: MediaStreamTrack) -> None:
        if track.kind == "video":
            task = asyncio.ensure_future(self._consume(track))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _consume(self, track: MediaStreamTrack) -> None:
        try:
            while True:
                frame = await track.recv()
                decoded_at = time.time()
                self.sizes.add((frame.width, frame.height))
                number = read_stamp(luma_of(frame)) if frame.format.name.startswith("yuv") else None
                if number is None:
                    self.unreadable += 1
                    continue
                if number not in self.got:
                    arrived, departed = self._wire_by_pts.get(frame.pts, (None, None))
                    self.got[number] = (decoded_at, arrived, departed)
                if self.count_only and self.calibration is None and frame.pts is not None:
                    self._calibrate(frame.pts, number)
        except MediaStreamError:
            pass

    async def offer(self) -> dict[str, str]:
        await self.pc.setLocalDescription(await self.pc.createOffer())
        return {"sdp": self.pc.localDescription.sdp, "type": "offer"}

    async def answer(self, answer: dict[str, str]) -> None:
        await self.pc.setRemoteDescription(RTCSessionDescription(sdp=answer["sdp"], type=answer["type"]))

    async def first_frame(self, timeout: float = STEP_TIMEOUT) -> None:
        deadline = time.monotonic() + timeout
        while not self.got and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        if not self.got:
            raise TimeoutError("the viewer decoded no readable frame")

    async def close(self) -> None:
        await self.pc.close()
        for task in list(self._tasks):
            task.cancel()


async def _expect(resp: aiohttp.ClientResponse, status: int = 200) -> Any:
    if resp.status != status:
        raise RuntimeError(f"{resp.method} {resp.url.path}: HTTP {resp.status}: {(await resp.text())[:300]}")
    return await resp.json() if resp.content_type == "application/json" else await resp.text()


def _epoch(iso: str) -> float:
    return datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp()


@dataclass
class GatewayTarget:
    """The real gateway, through its HTTPS API, as a handler and as callers' phones."""

    base_url: str
    username: str
    password: str
    pid: int
    name: str = "gateway"
    run_tag: str = field(default_factory=lambda: time.strftime("%H%M%S"))
    count_only: bool = False  # viewers count frames without decoding them, once calibrated
    _session: aiohttp.ClientSession | None = None
    _csrf: str = ""
    _count: int = 0

    async def open(self) -> None:
        # unsafe=True: keep cookies from a bare IP address (the namespace's 10.99.0.1).
        self._session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(ssl=False), cookie_jar=aiohttp.CookieJar(unsafe=True)
        )
        page = await _expect(await self._session.get(self.base_url + "/login"))
        csrf = re.search(r'name="csrf" value="([^"]+)"', page).group(1)
        resp = await self._session.post(
            self.base_url + "/login",
            data={"username": self.username, "password": self.password, "csrf": csrf}, allow_redirects=False,
        )
        if resp.status != 303:
            raise RuntimeError(f"login failed: HTTP {resp.status}")
        me = await _expect(await self._session.get(self.base_url + "/api/me"))
        self._csrf = me["csrf_token"]

    async def close(self) -> None:
        if self._session:
            await self._session.close()

    def _post(self, path: str, body: dict) -> Any:
        return self._session.post(self.base_url + path, json=body, headers={"X-CSRF-Token": self._csrf})

    async def start_caller(self, video: Path) -> Caller:
        self._count += 1
        incident = await _expect(await self._post(
            "/api/incidents",
            {"reference": f"BENCH-{self.run_tag}-{self._count:03d}", "caller_phone": f"07400 {100000 + self._count}"},
        ), 201)
        link = await _expect(await self._post(f"/api/incidents/{incident['id']}/links", {}), 201)
        path = "/c/" + link["url"].split("/c/", 1)[1]
        events = await self._session.ws_connect(self.base_url + f"/api/incidents/{incident['id']}/events")
        # The caller's phone: its own cookie jar (the device cookie), kept apart from the handler's.
        phone = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(ssl=False), cookie_jar=aiohttp.CookieJar(unsafe=True)
        )
        caller = Caller(video)
        caller.ref = {"incident": incident["id"], "path": path, "phone": phone}
        try:
            await _expect(await phone.get(self.base_url + path))
            caller.consent_at = time.time()
            await _expect(await phone.post(self.base_url + path + "/consent", json={}))
            offer = await caller.offer()
            caller.offer_at = time.time()
            answer = await _expect(await phone.post(self.base_url + path + "/offer", json=offer))
            await caller.answer(answer)
            caller.first_frame_at = await self._stream_started(events)
        except BaseException:
            await events.close()
            await self.stop_caller(caller)
            raise
        await events.close()
        return caller

    async def _stream_started(self, events: aiohttp.ClientWebSocketResponse) -> float:
        """The time the gateway decoded the first frame: its ``stream.started`` event."""
        deadline = time.monotonic() + STEP_TIMEOUT
        while time.monotonic() < deadline:
            msg = await events.receive(timeout=max(0.1, deadline - time.monotonic()))
            if msg.type != aiohttp.WSMsgType.TEXT:
                break
            event = msg.json()
            if event["type"] == "stream.started":
                return _epoch(event["at"])
        raise TimeoutError("no stream.started event from the gateway")

    async def add_viewer(self, caller: Caller) -> Viewer:
        viewer = Viewer(caller, self.count_only)
        try:
            answer = await _expect(
                await self._post(f"/api/incidents/{caller.ref['incident']}/viewer", await viewer.offer())
            )
            await viewer.answer(answer)
        except BaseException:
            await viewer.close()
            raise
        return viewer

    async def stream_health(self, caller: Caller) -> dict[str, Any] | None:
        """The gateway's latest stream health for this caller (sampled every 2 s), if any yet."""
        try:
            body = await _expect(await self._session.get(self.base_url + f"/api/incidents/{caller.ref['incident']}/stream"))
        except Exception:
            return None
        return body.get("stream")

    async def stop_caller(self, caller: Caller) -> None:
        phone: aiohttp.ClientSession = caller.ref["phone"]
        try:
            await phone.post(self.base_url + caller.ref["path"] + "/end", json={})
        except aiohttp.ClientError:
            pass
        finally:
            await phone.close()
            await caller.close()


@dataclass
class RelayTarget:
    """The aiortc example-server pattern (:mod:`benchmarks.relay_server`)."""

    base_url: str
    pid: int
    name: str = "alternative"
    count_only: bool = False
    _session: aiohttp.ClientSession | None = None

    async def open(self) -> None:
        self._session = aiohttp.ClientSession()

    async def close(self) -> None:
        if self._session:
            await self._session.close()

    async def start_caller(self, video: Path) -> Caller:
        caller = Caller(video)
        try:
            offer = await caller.offer()
            caller.offer_at = caller.consent_at = time.time()
            answer = await _expect(await self._session.post(self.base_url + "/publish", json=offer))
            caller.ref = {"id": answer.pop("id")}
            await caller.answer(answer)
            deadline = time.monotonic() + STEP_TIMEOUT
            while time.monotonic() < deadline:
                stats = await _expect(await self._session.get(self.base_url + f"/stats/{caller.ref['id']}"))
                if stats["first_frame_at"]:
                    caller.first_frame_at = stats["first_frame_at"]
                    break
                await asyncio.sleep(0.02)
            else:
                raise TimeoutError("the alternative server decoded no frame")
        except BaseException:
            await caller.close()
            raise
        return caller

    async def add_viewer(self, caller: Caller) -> Viewer:
        viewer = Viewer(caller, self.count_only)
        try:
            answer = await _expect(
                await self._session.post(self.base_url + f"/view/{caller.ref['id']}", json=await viewer.offer())
            )
            await viewer.answer(answer)
        except BaseException:
            await viewer.close()
            raise
        return viewer

    async def stop_caller(self, caller: Caller) -> None:
        await caller.close()
