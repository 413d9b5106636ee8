"""Synthetic callers and viewers (aiortc peers) and the two servers they talk to.

A caller sends the pre-encoded sample video as it is, without decoding or encoding it, looping the
file at 15 fps for as long as it lives. Each frame it sends gets the next frame index (0, 1, 2, ...
across loops) as its timestamp, so its RTP timestamps rise by 90000/15 ticks a frame without ever
jumping back where the file starts again; it notes the wall-clock time at which each index left.
The picture carries the frame's number within the file, stamped as blocks. With
``keyframes_on_request`` a caller answers a keyframe request (PLI/FIR) as a phone does at once: its
next frame is the file's next keyframe, and the file plays on from there.

A viewer notes when each frame's last RTP packet arrived ("wire") and when the server sent it
(abs-send-time). By default it decodes every frame and reads its stamped number. With
``count_only`` it decodes frames only until one's stamp ties the stream's RTP timestamps to frame
indices, then only a keyframe every few seconds, to check that tie; every other frame whose
packets have all arrived is counted by its RTP timestamp alone, without decoding. Servers that
re-encode keep the caller's timing, and an SFU (Janus) forwards the caller's timestamps shifted by
an offset, so a difference in RTP timestamp is a difference in frame index on both planes; a
keyframe whose stamp disagrees is counted as ``misnumbered`` (and the tie made again). Decoding
every frame of 20 viewers took the load generator a third of a core on a 2-core machine, CPU the
server under test then lacked; a real viewer is a browser on another machine. A caller and its
viewers live in the same process, so the times compare directly.

``GatewayTarget`` drives the real gateway through its public API (operator login with CSRF,
incident, link, the caller's page, consent, offer, viewer; a viewer answers the plane's own offer
when the plane makes one, as Janus does); ``RelayTarget`` drives the minimal example-server
pattern in :mod:`benchmarks.relay_server`.
"""

from __future__ import annotations

import asyncio
import functools
import queue
import re
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from datetime import datetime
from fractions import Fraction
from pathlib import Path
from typing import Any

import aiohttp
import av
from aiortc import RTCConfiguration, RTCPeerConnection, RTCRtpSender, RTCSessionDescription
from aiortc.codecs.vpx import PACKET_MAX, Vp8Encoder, VpxPayloadDescriptor
from aiortc.mediastreams import VIDEO_TIME_BASE, MediaStreamError, MediaStreamTrack, convert_timebase

from .media_sample import FPS, luma_of, read_stamp, temporal_layers

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


@functools.lru_cache(maxsize=4)
def file_frames(path: Path) -> tuple[bytes, ...]:
    """The VP8 frames of the sample file, in order (read once per process and shared by its callers)."""
    with av.open(str(path)) as container:
        return tuple(bytes(p) for p in container.demux(container.streams.video[0]) if p.size)


TIME_BASE = Fraction(1, FPS)


class StampedSource(MediaStreamTrack):
    """The sample file's VP8 frames, sent without decoding, looped, paced at ``FPS``.

    Frame index ``i`` (counting across loops) is file frame ``i % len(frames)`` with pts ``i``:
    RTP timestamps keep rising by one frame's ticks where the file starts again. Records when each
    index left.
    """

    kind = "video"

    def __init__(self, path: Path, keyframes_on_request: bool = False) -> None:
        super().__init__()
        self.frames = file_frames(Path(path))
        self.keyframes = tuple(i for i, frame in enumerate(self.frames) if is_keyframe(frame))
        self.keyframes_on_request = keyframes_on_request
        self.keyframes_sent_on_request = 0
        self.sent: dict[int, float] = {}
        self._next = 0
        self._start: float | None = None
        # Index i shows file frame (i + shift) % len(frames), shift as of the last segment that
        # starts at or before i: a keyframe sent on request moves the file ahead.
        self._segments: list[tuple[int, int]] = [(0, 0)]
        self._keyframe_wanted = False

    def request_keyframe(self) -> None:
        """The receiver lost the picture (PLI/FIR): with ``keyframes_on_request``, the next frame
        sent is the file's next keyframe, in that frame's time slot, as a phone's encoder would
        make one at once (the picture jumps ahead by up to 4 s of the file)."""
        if self.keyframes_on_request:
            self._keyframe_wanted = True

    def file_frame(self, index: int) -> int:
        """The file's frame number (its stamp) that frame ``index`` showed."""
        for start, shift in reversed(self._segments):
            if index >= start:
                return (index + shift) % len(self.frames)
        raise ValueError(index)

    async def recv(self) -> av.Packet:
        if self.readyState != "live":
            raise MediaStreamError
        index = self._next
        if self._start is None:
            self._start = time.time()
        else:
            # Late frames go at once, none skipped (as aiortc's MediaPlayer paces a file).
            wait = self._start + index / FPS - time.time()
            if wait > 0:
                await asyncio.sleep(wait)
        self._next = index + 1
        shift = self._segments[-1][1]
        if self._keyframe_wanted:
            self._keyframe_wanted = False
            at = (index + shift) % len(self.frames)
            if at not in self.keyframes:
                ahead = next((k for k in self.keyframes if k > at), self.keyframes[0])
                shift = (ahead - index) % len(self.frames)
                self._segments.append((index, shift))
                self.keyframes_sent_on_request += 1
        packet = av.Packet(self.frames[(index + shift) % len(self.frames)])
        packet.pts = index
        packet.time_base = TIME_BASE
        # The sender packetises and sends this packet as soon as recv returns.
        self.sent[index] = time.time()
        return packet

    def index_of(self, stamp: int) -> int | None:
        """The latest frame index sent so far whose stamped number is ``stamp``.

        A frame reaches a viewer well within one pass of the file (120 s) after it left.
        """
        last = self._next - 1
        if last < 0 or not 0 <= stamp < len(self.frames):
            return None
        for start, shift in reversed(self._segments):
            index = last - (last + shift - stamp) % len(self.frames)
            if index >= start:
                return index
            last = start - 1
            if last < 0:
                break
        return None


class LayeredVp8Packer(Vp8Encoder):
    """Packs a layered sample's frames as libwebrtc does: each packet's payload descriptor carries
    the frame's temporal layer index and sync bit (RFC 7741 4.2), with TL0PICIDX counting layer-0
    frames. aiortc's own packer writes only a PictureID. The file's frame number gives the layer."""

    def __init__(self, source: StampedSource, ids: tuple[int, ...], sync: tuple[bool, ...]) -> None:
        super().__init__()
        self.source, self.ids, self.sync = source, ids, sync
        self.tl0picidx = 0

    def pack(self, packet: av.Packet) -> tuple[list[bytes], int]:
        position = self.source.file_frame(int(packet.pts)) % len(self.ids)
        tid = self.ids[position]
        if tid == 0:
            self.tl0picidx = (self.tl0picidx + 1) % 256
        descriptor = VpxPayloadDescriptor(1, 0, picture_id=self.picture_id, tl0picidx=self.tl0picidx,
                                          tid=(tid, self.sync[position]))
        data = bytes(packet)
        payloads = []
        head = bytes(descriptor)
        at = 0
        while at < len(data):
            size = min(len(data) - at, PACKET_MAX - len(head))
            payloads.append(head + data[at:at + size])
            descriptor.partition_start = 0
            head = bytes(descriptor)
            at += size
        timestamp = convert_timebase(packet.pts, packet.time_base, VIDEO_TIME_BASE)
        self.picture_id = (self.picture_id + 1) % (1 << 15)
        return payloads, timestamp


class Caller:
    """One synthetic caller's peer connection and bookkeeping. A layered sample
    (:func:`benchmarks.media_sample.temporal_layers`) is sent in its temporal layers."""

    def __init__(self, video: Path, keyframes_on_request: bool = False) -> None:
        self.pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
        self.source = StampedSource(video, keyframes_on_request)
        transceiver = self.pc.addTransceiver(self.source, direction="sendonly")
        transceiver.setCodecPreferences(_vp8_first())
        # aiortc's sender only flags a keyframe for its own encoder; a file's packets need this.
        transceiver.sender._send_keyframe = self.source.request_keyframe  # type: ignore[method-assign]
        layers = temporal_layers(video)
        if layers is not None:
            # The sender makes its packer on the first frame unless it has one (VP8 is negotiated).
            transceiver.sender._RTCRtpSender__encoder = LayeredVp8Packer(self.source, *layers)
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
VERIFY_SECONDS = 6.0  # a count-only viewer decodes a keyframe to check its numbering at most this often


@functools.lru_cache(maxsize=1)
def _keyframe_decoder() -> Any:
    """One VP8 decoder per process for count-only viewers' keyframes: a keyframe decodes on its
    own, whatever the decoder saw before."""
    decoder = av.CodecContext.create("vp8", "r")
    decoder.thread_count = 1  # a frame out for each frame in: no frame-threading delay
    return decoder


def is_keyframe(vp8: bytes) -> bool:
    """A VP8 frame's tag says key frame (bit 0 of its first byte clear, RFC 6386 9.1)."""
    return bool(vp8) and not vp8[0] & 1


class _CountingQueue(queue.Queue):
    """A viewer receiver's decoder input: a count-only viewer's frames, once numbered, are counted
    here, not decoded."""

    def __init__(self, viewer: Viewer) -> None:
        super().__init__()
        self.viewer = viewer

    def put(self, item: Any, block: bool = True, timeout: float | None = None) -> None:
        # Until a stamp ties the numbering, frames go to aiortc's decoder as for any viewer (so a
        # lost keyframe still brings a keyframe request); after that they are only counted.
        if item is not None and self.viewer.count_only and self.viewer.calibration is not None:
            self.viewer._complete(item[1].timestamp, item[1].data)
            return
        super().put(item, block, timeout)


class Viewer:
    """A receive-only peer; decodes every frame and reads its stamped number, or with
    ``count_only`` decodes until its numbering is tied, then only a keyframe now and then, and
    counts frames complete on the wire by their RTP timestamps (see the module's description)."""

    WIRE_KEEP = 600  # RTP timestamps remembered for matching frames

    def __init__(self, caller: Caller, count_only: bool = False) -> None:
        self.caller = caller
        self.count_only = count_only
        self.pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
        transceiver = self.pc.addTransceiver("video", direction="recvonly")
        transceiver.setCodecPreferences(_vp8_first())
        # frame index -> (decoded here at (None when only counted), last packet arrived here at,
        # the server sent it at)
        self.got: dict[int, tuple[float | None, float | None, float | None]] = {}
        # (pts, frame index) of a decoded frame: ties RTP timestamps (as pts) to frame indices
        self.calibration: tuple[int, int] | None = None
        self._checked_at = 0.0
        self.sizes: set[tuple[int, int]] = set()
        self.unreadable = 0  # decoded frames whose stamp did not read, frames off the frame grid
        self.verified = 0  # decoded frames whose stamp agreed with the index their RTP timestamp gave
        self.misnumbered = 0  # ... and those that disagreed (then the tie is made again)
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

    def _index(self, pts: int) -> int | None:
        """The frame index of the frame with this pts, by its RTP timestamp; None off the frame grid."""
        assert self.calibration is not None
        pts0, index0 = self.calibration
        frames = (pts - pts0) / TICKS_PER_FRAME
        if abs(frames - round(frames)) > 0.25:
            return None
        return index0 + round(frames)

    def _check(self, pts: int, stamp: int | None) -> int | None:
        """A decoded frame's stamp against its RTP timestamp: ties them on the first readable
        frame, then checks the tie (and ties them again if it broke). Returns the frame index."""
        if stamp is None:
            self.unreadable += 1
            return None
        if self.calibration is not None:
            index = self._index(pts)
            if index is not None and self.caller.source.file_frame(index) == stamp:
                self.verified += 1
                return index
            self.misnumbered += 1
        index = self.caller.source.index_of(stamp)
        if index is not None:
            self.calibration = (pts, index)
        return index

    def _complete(self, pts: int, data: bytes) -> None:
        """A count-only viewer's frame whose packets have all arrived (the jitter buffer handed it on)."""
        now = time.time()
        if is_keyframe(data) and (self.calibration is None or now - self._checked_at >= VERIFY_SECONDS):
            self._checked_at = now
            stamp = None
            try:
                for frame in _keyframe_decoder().decode(av.Packet(data)):
                    self.sizes.add((frame.width, frame.height))
                    stamp = read_stamp(luma_of(frame))
            except av.FFmpegError:
                pass
            self._check(pts, stamp)
        if self.calibration is None:
            return
        index = self._index(pts)
        if index is None:
            self.unreadable += 1
            return
        if index not in self.got:
            arrived, departed = self._wire_by_pts.get(pts, (None, None))
            self.got[index] = (None, arrived, departed)

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
                stamp = read_stamp(luma_of(frame)) if frame.format.name.startswith("yuv") else None
                index = self._check(frame.pts, stamp) if frame.pts is not None else None
                if index is not None and index not in self.got:
                    arrived, departed = self._wire_by_pts.get(frame.pts, (None, None))
                    self.got[index] = (decoded_at, arrived, departed)
        except MediaStreamError:
            pass

    async def offer(self) -> dict[str, str]:
        await self.pc.setLocalDescription(await self.pc.createOffer())
        return {"sdp": self.pc.localDescription.sdp, "type": "offer"}

    async def answer(self, answer: dict[str, str]) -> None:
        await self.pc.setRemoteDescription(RTCSessionDescription(sdp=answer["sdp"], type=answer["type"]))

    async def take_offer(self, offer: dict[str, str]) -> dict[str, str]:
        """Answer the plane's own offer (Janus offers to its subscribers)."""
        # aiortc cannot roll its own offer back: a fresh connection answers the plane's offer.
        await self.pc.close()
        self.pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
        transceiver = self.pc.addTransceiver("video", direction="recvonly")
        transceiver.setCodecPreferences(_vp8_first())
        self._hook(transceiver.receiver)
        self.pc.on("track", self._on_track)
        await self.pc.setRemoteDescription(RTCSessionDescription(sdp=offer["sdp"], type="offer"))
        await self.pc.setLocalDescription(await self.pc.createAnswer())
        return {"sdp": self.pc.localDescription.sdp, "type": "answer"}

    async def first_frame(self, timeout: float = STEP_TIMEOUT) -> None:
        deadline = time.monotonic() + timeout
        while not self.got and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        if not self.got:
            raise TimeoutError("the viewer numbered no frame")

    async def close(self) -> None:
        await self.pc.close()
        for task in list(self._tasks):
            task.cancel()


async def _expect(resp: aiohttp.ClientResponse, status: int = 200) -> Any:
    if resp.status != status:
        # A caller's link token is a credential: it stays out of errors and logs.
        path = re.sub(r"^/(c|embed)/[^/]+", r"/\1/<token>", resp.url.path)
        raise RuntimeError(f"{resp.method} {path}: HTTP {resp.status}: {(await resp.text())[:300]}")
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
    keyframes_on_request: bool = False  # callers answer keyframe requests (see StampedSource)
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
        caller = Caller(video, self.keyframes_on_request)
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

    async def add_viewer(self, caller: Caller, count_only: bool | None = None) -> Viewer:
        """A viewer of ``caller``: the embedded relay answers the viewer's offer; Janus replies
        with an offer of its own, which the viewer answers."""
        viewer = Viewer(caller, self.count_only if count_only is None else count_only)
        url = f"/api/incidents/{caller.ref['incident']}/viewer"
        try:
            reply = await _expect(await self._post(url, await viewer.offer()))
            if reply["type"] == "offer":
                answer = await viewer.take_offer(reply)
                await _expect(await self._post(f"{url}/{reply['viewer']}/answer", answer))
            else:
                await viewer.answer(reply)
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
    keyframes_on_request: bool = False  # callers answer keyframe requests (see StampedSource)
    _session: aiohttp.ClientSession | None = None

    async def open(self) -> None:
        self._session = aiohttp.ClientSession()

    async def close(self) -> None:
        if self._session:
            await self._session.close()

    async def start_caller(self, video: Path) -> Caller:
        caller = Caller(video, self.keyframes_on_request)
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
