"""The newest decoded frame of a stream, and turning it into a JPEG off the event loop."""

from __future__ import annotations

import asyncio
import time
from collections import deque
from dataclasses import dataclass

import av
import cv2
import numpy as np

JPEG_QUALITY = 90
THUMBNAIL_WIDTH = 160


@dataclass(frozen=True)
class CapturedFrame:
    frame: av.VideoFrame
    received_at: float  # wall-clock seconds when the gateway decoded it


@dataclass(frozen=True)
class Jpeg:
    data: bytes
    width: int
    height: int


@dataclass(frozen=True)
class EncodedSnapshot:
    full: Jpeg
    thumbnail: Jpeg


class LatestFrame:
    """The newest frame, and the last second or so of frames for choosing a sharp one.

    Frames from a hand-held phone are often blurred; a snapshot picks the sharpest recent frame.
    Keeping references costs no CPU; sharpness is measured only when a snapshot is taken.
    """

    def __init__(self, window_seconds: float = 1.0, max_frames: int = 32) -> None:
        self.window = window_seconds
        self.recent: deque[CapturedFrame] = deque(maxlen=max_frames)
        self.count = 0
        self.first = asyncio.Event()
        # The longest time between two frames decoded one after the other: the longest freeze so
        # far, exact (a poll of the newest frame's age sees a freeze only to within its interval).
        self.longest_gap = 0.0

    @property
    def current(self) -> CapturedFrame | None:
        return self.recent[-1] if self.recent else None

    def update(self, frame: av.VideoFrame, received_at: float | None = None) -> None:
        captured = CapturedFrame(frame, time.time() if received_at is None else received_at)
        if self.recent:
            self.longest_gap = max(self.longest_gap, captured.received_at - self.recent[-1].received_at)
        self.recent.append(captured)
        while captured.received_at - self.recent[0].received_at > self.window:
            self.recent.popleft()
        self.count += 1
        if not self.first.is_set():
            self.first.set()

    def window_frames(self) -> list[CapturedFrame]:
        return list(self.recent)

    def age(self, now: float | None = None) -> float | None:
        """Seconds since the newest frame was decoded (wall clock), or None before the first.

        A frame held here is the newest the gateway has, not necessarily a recent one: during a
        freeze, or after the caller's camera stopped, it can be any age.
        """
        current = self.current
        if current is None:
            return None
        return max(0.0, (time.time() if now is None else now) - current.received_at)


def luma(frame: av.VideoFrame):
    """The frame's brightness plane as an array, without converting the frame.

    A conversion (``to_ndarray(format="gray")``) builds a swscale context with worker threads per
    frame, which costs milliseconds to build and to free; decoded video is planar YUV, whose first
    plane already is the brightness.
    """
    if frame.format.name in ("yuv420p", "yuvj420p", "yuv422p", "yuv444p", "nv12"):
        plane = frame.planes[0]
        rows = np.frombuffer(memoryview(plane), np.uint8).reshape(plane.height, plane.line_size)
        return rows[:, : plane.width]
    return frame.to_ndarray(format="gray")


def sharpness(frame: av.VideoFrame) -> float:
    """Variance of the Laplacian of the luma plane: high for crisp edges, low for blur."""
    gray = luma(frame)
    if gray.shape[1] > 480:
        # Half size keeps the ranking and quarters the cost.
        gray = cv2.resize(gray, (gray.shape[1] // 2, gray.shape[0] // 2), interpolation=cv2.INTER_AREA)
    return float(cv2.Laplacian(gray, cv2.CV_32F).var())


def sharpest(frames: list[CapturedFrame]) -> CapturedFrame:
    """The sharpest of ``frames`` (CPU work: run it through ``workers.image_work``)."""
    if not frames:
        raise ValueError("no frames to choose from")
    return max(frames, key=lambda c: sharpness(c.frame))


def _jpeg(image, quality: int) -> Jpeg:
    ok, buf = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, quality])
    if not ok:
        raise RuntimeError("JPEG encoding failed")
    return Jpeg(buf.tobytes(), image.shape[1], image.shape[0])


def encode_jpeg(frame: av.VideoFrame, quality: int = JPEG_QUALITY) -> Jpeg:
    """Encode at the received resolution (CPU work: run it through ``workers.image_work``)."""
    return _jpeg(frame.to_ndarray(format="bgr24"), quality)


def encode_snapshot(frame: av.VideoFrame, quality: int = JPEG_QUALITY) -> EncodedSnapshot:
    """The full-size JPEG and a thumbnail for galleries, from one conversion of the frame."""
    image = frame.to_ndarray(format="bgr24")
    height = max(1, round(image.shape[0] * THUMBNAIL_WIDTH / image.shape[1]))
    small = cv2.resize(image, (THUMBNAIL_WIDTH, height), interpolation=cv2.INTER_AREA)
    return EncodedSnapshot(_jpeg(image, quality), _jpeg(small, 80))
