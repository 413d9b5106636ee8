"""Motion JPEG for viewers that cannot do WebRTC: the newest frame, at a capped rate."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable

from .frames import LatestFrame, encode_jpeg
from .workers import image_work

BOUNDARY = "scenelink-frame"
QUALITY = 70


async def mjpeg_parts(latest: Callable[[], LatestFrame | None], max_fps: float) -> AsyncIterator[bytes]:
    """Yield multipart parts while ``latest()`` returns a stream; skip repeats of the same frame.

    A frame is encoded only when the viewer is ready for the next one, so a slow viewer costs no
    more than a fast one and never queues.
    """
    period = 1.0 / max(0.1, max_fps)
    sent = -1
    while True:
        source = latest()
        if source is None:
            return
        current = source.current
        if current is not None and source.count != sent:
            sent = source.count
            jpeg = await image_work(encode_jpeg, current.frame, QUALITY)
            yield (
                f"--{BOUNDARY}\r\nContent-Type: image/jpeg\r\nContent-Length: {len(jpeg.data)}\r\n\r\n".encode()
                + jpeg.data + b"\r\n"
            )
        await asyncio.sleep(period)
