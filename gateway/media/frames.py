"""The newest decoded frame of a stream, and turning it into a JPEG off the event loop."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass

import av
import cv2

JPEG_QUALITY = 90


@dataclass(frozen=True)
class CapturedFrame:
    frame: av.VideoFrame
    received_at: float  # wall-clock seconds when the gateway decoded it


@dataclass(frozen=True)
class Jpeg:
    data: bytes
    width: int
    height: int


class LatestFrame:
    """Holds only the newest frame: a snapshot wants the current scene, never a backlog."""

    def __init__(self) -> None:
        self.current: CapturedFrame | None = None
        self.count = 0
        self.first = asyncio.Event()

    def update(self, frame: av.VideoFrame) -> None:
        self.current = CapturedFrame(frame, time.time())
        self.count += 1
        if not self.first.is_set():
            self.first.set()


def encode_jpeg(frame: av.VideoFrame, quality: int = JPEG_QUALITY) -> Jpeg:
    """Encode at the received resolution (CPU work: call through ``asyncio.to_thread``)."""
    image = frame.to_ndarray(format="bgr24")
    ok, buf = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, quality])
    if not ok:
        raise RuntimeError("JPEG encoding failed")
    return Jpeg(buf.tobytes(), frame.width, frame.height)
