"""What the gateway does with a caller's stream on its own, without an operator asking.

Automatic snapshots (at an interval, on a change of scene), recording in segments, stream health
every few seconds, the stream's state (live, frozen, location only: see :mod:`.liveness`), and
noticing a caller who has gone silent. Everything here reaches the record
and the event bus through callbacks, so this module knows nothing of either.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aiortc.mediastreams import MediaStreamError

from ..config import MediaSettings
from ..tasks import TaskSet
from .health import HealthSampler
from .ingest import CallerPeer
from .liveness import Liveness, StreamState
from .recorder import Segment, SegmentRecorder
from .scenes import SceneChangeDetector, signature
from .workers import image_work

log = logging.getLogger(__name__)

TICK_SECONDS = 0.5
HEALTH_SECONDS = 2.0
# The page takes pings that stop for a few seconds as the gateway gone, and reconnects.
PING_SECONDS = 1.0
# Pings on the page's unreliable channel go twice as often: on a lossy link the page takes the
# gateway for gone only after several pings in a row are lost, not one and its retransmission.
PULSE_SECONDS = 0.5


@dataclass(frozen=True)
class MediaPolicy:
    snapshot_interval_seconds: int | None = None
    scene_change_snapshots: bool = True
    recording: bool = False

    @classmethod
    def from_mapping(cls, values: dict[str, Any]) -> MediaPolicy:
        return cls(
            values.get("snapshot_interval_seconds"),
            bool(values.get("scene_change_snapshots", True)),
            bool(values.get("recording", False)),
        )


Snapshot = Callable[[str], Awaitable[Any]]          # reason -> stored snapshot
Publish = Callable[[str, dict[str, Any]], object]    # event type, data; the result is not used
StoreSegment = Callable[[Segment], Awaitable[None]]
Gone = Callable[[str], Awaitable[Any]]                # reason


class SessionMedia:
    def __init__(
        self,
        peer: CallerPeer,
        settings: MediaSettings,
        policy: MediaPolicy,
        folder: Path,
        snapshot: Snapshot,
        publish: Publish,
        store_segment: StoreSegment,
        gone: Gone,
    ) -> None:
        self.peer = peer
        self.settings = settings
        self.policy = policy
        self.folder = folder
        self._snapshot = snapshot
        self._publish = publish
        self._store_segment = store_segment
        self._gone = gone
        self.health: dict[str, Any] | None = None
        self._sampler = HealthSampler()
        self._detector = SceneChangeDetector(settings.scene_change_threshold, settings.scene_change_cooldown_seconds)
        self._recorder: SegmentRecorder | None = None
        self._recorder_feed: asyncio.Task | None = None
        self._tasks = TaskSet("session media")
        self._watcher: asyncio.Task | None = None
        self._loop = asyncio.get_running_loop()
        self._liveness = Liveness(settings.frozen_after_seconds, settings.silence_timeout_seconds)
        self.started = time.monotonic()
        self.state: StreamState | None = None
        self.frame_age: float | None = None

    def start(self) -> None:
        self._watcher = self._tasks.spawn(self._watch())
        if self.policy.recording:
            self._start_recording()

    def set_policy(self, policy: MediaPolicy) -> None:
        was_recording = self.policy.recording
        self.policy = policy
        if policy.recording and not was_recording:
            self._start_recording()
        elif was_recording and not policy.recording:
            self._tasks.spawn(self._stop_recording())

    @property
    def recording(self) -> bool:
        return self._recorder is not None

    async def _watch(self) -> None:
        seen = 0
        last_interval = last_health = last_ping = self.started
        while True:
            now = time.monotonic()
            latest = self.peer.latest
            verdict = self._liveness.judge(
                now, self.started, self.peer.expects_video, self.peer.last_frame_at, self.peer.last_message_at
            )
            self.frame_age = verdict.frame_age
            if verdict.gone:
                await self._gone(verdict.gone)
                return
            if verdict.state != self.state:
                previous, self.state = self.state, verdict.state
                if previous is not None or verdict.state != StreamState.STARTING:
                    self._publish("stream.state", self._state_report())
            await asyncio.sleep(TICK_SECONDS)
            now = time.monotonic()
            every = PULSE_SECONDS if self.peer.pulse_open() else PING_SECONDS
            # (less a hair: a tick's sleep, timed by the loop's clock, may end just short of it)
            if now - last_ping >= every - 0.01:
                last_ping = now
                self.peer.send_pulse(json.dumps({"type": "ping", "t": round(time.time() * 1000)}))
            current = latest.current
            fresh = latest.count != seen
            seen = latest.count
            if fresh and current is not None and self.policy.scene_change_snapshots:
                sig = await image_work(signature, current.frame)
                if self._detector.update(sig, now):
                    self._tasks.spawn(self._snapshot("scene_change"))
            interval = self.policy.snapshot_interval_seconds
            if interval and latest.current is not None and now - last_interval >= interval:
                last_interval = now
                self._tasks.spawn(self._snapshot("interval"))
            if now - last_health >= HEALTH_SECONDS:
                last_health = now
                self._sampler.rtt_ms = self.peer.rtt_ms
                self.health = await self._sampler.sample(
                    self.peer.video_pc, latest, arrived=self.peer.frames_arrived()
                )
                self.health["recording"] = self.recording
                self.health.update(self._state_report())
                self.health["keyframes"] = self.peer.keyframe_stats()
                self.health["decoder_queue"] = self.peer.decoder_stats()
                self.health["layers"] = self.peer.layer_stats()
                self.health["forwarding"] = self.peer.forwarding_stats()
                self.health["remb"] = self.peer.remb_stats()
                self._publish("stream.health", self.health)

    def _state_report(self) -> dict[str, Any]:
        age = self.frame_age
        return {"state": self.state.value if self.state else None,
                "frame_age_seconds": None if age is None else round(age, 1)}

    def _start_recording(self) -> None:
        if self._recorder is not None or self.peer.video is None:
            return
        fps = 15

        def on_segment(segment: Segment) -> None:  # on the recorder's thread
            self._loop.call_soon_threadsafe(lambda: self._tasks.spawn(self._store_segment(segment)))

        def on_failure(reason: str) -> None:  # on the recorder's thread
            self._loop.call_soon_threadsafe(lambda: self._tasks.spawn(self._recorder_failed(recorder, reason)))

        recorder = SegmentRecorder(self.folder, self.settings.segment_seconds, on_segment, fps, on_failure)
        self._recorder = recorder
        # Evidence at the caller's own frame rate: every temporal layer is decoded while recording.
        self.peer.decode_every_frame(recorder, True)
        track = self.peer.relay.subscribe(self.peer.video, buffered=False)
        self._recorder_feed = self._tasks.spawn(self._feed(track, recorder))
        self._publish("recording.started", {})

    async def _recorder_failed(self, recorder: SegmentRecorder, reason: str) -> None:
        """The recorder's thread stopped on an error: the session is no longer recording, and
        the console is told so (the segments written before the error are kept)."""
        if self._recorder is not recorder:
            return
        feed = self._recorder_feed
        self._recorder = self._recorder_feed = None
        self.peer.decode_every_frame(recorder, False)
        if feed is not None:
            feed.cancel()
            await asyncio.gather(feed, return_exceptions=True)
        self._publish("recording.failed", {"error": reason, "dropped_frames": recorder.dropped})
        self._publish("recording.stopped", {"dropped_frames": recorder.dropped, "failed": True})

    async def _feed(self, track, recorder: SegmentRecorder) -> None:
        try:
            while True:
                recorder.push(await track.recv())
        except MediaStreamError:
            pass

    async def _stop_recording(self) -> None:
        recorder, feed = self._recorder, self._recorder_feed
        self._recorder = self._recorder_feed = None
        if recorder is not None:
            self.peer.decode_every_frame(recorder, False)
        if feed is not None:
            feed.cancel()
            await asyncio.gather(feed, return_exceptions=True)
        if recorder is not None:
            await asyncio.to_thread(recorder.close)
            # The last segment's store task was scheduled from the thread; let it be spawned.
            await asyncio.sleep(0)
            self._publish("recording.stopped", {"dropped_frames": recorder.dropped})

    async def close(self) -> None:
        """Stop watching, finish recording and wait for every segment to be stored."""
        await self._stop_recording()
        # Snapshots and segment stores in flight are evidence: let them finish.
        await self._tasks.drain(cancel={self._watcher} if self._watcher else set())
