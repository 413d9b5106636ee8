"""Recording the caller's video in segments of about a minute, each hashed as first written.

aiortc cannot forward encoded media, so the recorder encodes the decoded frames again (H.264 in
MP4, VP8 in WebM where libx264 is missing). Encoding runs on a worker thread fed by a small
queue: a slow disk or a busy core drops the oldest frames instead of stalling the event loop.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av

log = logging.getLogger(__name__)

QUEUE_FRAMES = 30
TIME_BASE = Fraction(1, 1000)


@dataclass(frozen=True)
class Segment:
    index: int
    path: Path
    frames: int
    width: int
    height: int
    codec: str
    started_at: float
    ended_at: float


def _codec() -> tuple[str, str, str]:
    """(encoder, container format, file suffix) for this PyAV build."""
    if "libx264" in av.codecs_available:
        return "libx264", "mp4", ".mp4"
    return "libvpx", "webm", ".webm"


class SegmentRecorder:
    """Writes pushed frames to numbered segment files; ``on_segment`` runs on the worker thread."""

    def __init__(
        self, folder: Path, segment_seconds: float, on_segment: Callable[[Segment], None], fps: int = 15,
        on_failure: Callable[[str], None] | None = None,
    ) -> None:
        self.folder = folder
        self.segment_seconds = segment_seconds
        self.on_segment = on_segment
        # Called on the worker thread, once, when encoding fails: the recording has stopped.
        self.on_failure = on_failure
        self.failed: str | None = None
        self.fps = fps
        self.dropped = 0
        self._queue: queue.Queue[tuple[av.VideoFrame, float] | None] = queue.Queue(QUEUE_FRAMES)
        self._encoder, self._format, self._suffix = _codec()
        folder.mkdir(parents=True, exist_ok=True)
        self._thread = threading.Thread(target=self._run, name="scenelink-recorder", daemon=True)
        self._thread.start()

    def push(self, frame: av.VideoFrame, at: float | None = None) -> None:
        item = (frame, time.time() if at is None else at)
        try:
            self._queue.put_nowait(item)
        except queue.Full:
            try:
                self._queue.get_nowait()
                self.dropped += 1
            except queue.Empty:
                pass
            self._queue.put_nowait(item)

    def close(self, timeout: float = 10.0) -> None:
        """Finish the current segment and stop the thread (blocking: call through a thread)."""
        while True:
            try:
                self._queue.put(None, timeout=0.1)
                break
            except queue.Full:
                try:
                    self._queue.get_nowait()
                except queue.Empty:
                    pass
        self._thread.join(timeout)

    def _run(self) -> None:
        writer: _SegmentWriter | None = None
        index = 0
        try:
            while True:
                item = self._queue.get()
                if item is None:
                    break
                frame, at = item
                if writer is not None and (
                    at - writer.started_at >= self.segment_seconds
                    or (frame.width, frame.height) != (writer.width, writer.height)
                ):
                    self.on_segment(writer.finish(at))
                    writer = None
                if writer is None:
                    index += 1
                    path = self.folder / f"segment-{index:05d}{self._suffix}"
                    writer = _SegmentWriter(path, index, self._encoder, self._format, frame, at, self.fps)
                writer.write(frame, at)
        except Exception as exc:
            log.exception("recording failed; the segments written so far are kept")
            self.failed = f"{type(exc).__name__}: {exc}"
        finally:
            if writer is not None:
                try:
                    self.on_segment(writer.finish(time.time()))
                except Exception:
                    log.exception("could not close the last recording segment")
            if self.failed is not None and self.on_failure is not None:
                self.on_failure(self.failed)


class _SegmentWriter:
    def __init__(
        self, path: Path, index: int, encoder: str, fmt: str, first: av.VideoFrame, at: float, fps: int
    ) -> None:
        self.path, self.index, self.codec = path, index, encoder
        self.width, self.height = first.width, first.height
        self.started_at = at
        self.frames = 0
        self._last_pts = -1
        self._container = av.open(str(path), mode="w", format=fmt)
        stream = self._container.add_stream(encoder, rate=fps)
        assert isinstance(stream, av.VideoStream)  # a video encoder's name gives a video stream
        stream.width, stream.height, stream.pix_fmt = first.width, first.height, "yuv420p"
        stream.time_base = TIME_BASE
        stream.codec_context.time_base = TIME_BASE
        if encoder == "libx264":
            stream.options = {"preset": "veryfast", "crf": "23", "tune": "zerolatency"}
        else:
            stream.options = {"deadline": "realtime", "cpu-used": "8", "b": "1000k"}
        self._stream = stream

    def write(self, frame: av.VideoFrame, at: float) -> None:
        # The decoded frame is shared with the viewers' encoders: copy it rather than retime it.
        copy = frame.reformat(format="yuv420p")
        if copy is frame:
            copy = av.VideoFrame.from_ndarray(frame.to_ndarray(), format="yuv420p")
        pts = max(int((at - self.started_at) * 1000), self._last_pts + 1)
        copy.pts, copy.time_base = pts, TIME_BASE
        self._last_pts = pts
        for packet in self._stream.encode(copy):
            self._container.mux(packet)
        self.frames += 1

    def finish(self, at: float) -> Segment:
        for packet in self._stream.encode(None):
            self._container.mux(packet)
        self._container.close()
        return Segment(
            self.index, self.path, self.frames, self.width, self.height,
            "h264" if self.codec == "libx264" else "vp8", self.started_at, at,
        )
