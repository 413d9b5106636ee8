"""Stream health for the console: resolution, frame rate, bitrate, loss, round trip, codec.

The frame rate (``fps``) is the caller's: frames that arrived whole (``frames_arrived``), of every
temporal layer, whether or not they were decoded; ``frames`` and ``decoded_fps`` count the pictures
the gateway has (its snapshots, scene changes and MJPEG), fewer when only the base layer is decoded
(:mod:`.layers`).
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass, field
from typing import Any

from aiortc import RTCPeerConnection

from .frames import LatestFrame


def negotiated_video_codec(sdp: str | None) -> str | None:
    """The first video format of the gateway's answer: the one the caller will send."""
    if not sdp:
        return None
    match = re.search(r"^m=video \S+ \S+ (\d+)", sdp, re.M)
    if not match:
        return None
    name = re.search(rf"^a=rtpmap:{match.group(1)} ([^/\s]+)/", sdp, re.M)
    return name.group(1) if name else None


@dataclass
class HealthSampler:
    """Turns cumulative counters into rates between two samples."""

    _at: float | None = None
    _frames: int = 0
    _decoded: int = 0
    _bytes: int = 0
    _received: int = 0
    _lost: int = 0
    rtt_ms: float | None = field(default=None)

    async def sample(
        self, pc: RTCPeerConnection, latest: LatestFrame, now: float | None = None, arrived: int | None = None
    ) -> dict[str, Any]:
        """``arrived`` counts the caller's frames that arrived (None: the frames decoded do)."""
        now = time.monotonic() if now is None else now
        frames = latest.count if arrived is None else arrived
        received = lost = bytes_in = 0
        for stats in (await pc.getStats()).values():
            if stats.type == "inbound-rtp" and getattr(stats, "kind", "") == "video":
                received += stats.packetsReceived
                lost += max(0, stats.packetsLost)
            elif stats.type == "transport":
                bytes_in += getattr(stats, "bytesReceived", 0)
        current = latest.current
        report: dict[str, Any] = {
            "width": current.frame.width if current else None,
            "height": current.frame.height if current else None,
            "codec": negotiated_video_codec(pc.localDescription.sdp if pc.localDescription else None),
            "frames": latest.count,
            "frames_arrived": frames,
            "fps": None, "decoded_fps": None, "bitrate_kbps": None, "packet_loss": None,
            "rtt_ms": self.rtt_ms,
        }
        if self._at is not None and now > self._at:
            span = now - self._at
            report["fps"] = round((frames - self._frames) / span, 1)
            report["decoded_fps"] = round((latest.count - self._decoded) / span, 1)
            report["bitrate_kbps"] = round((bytes_in - self._bytes) * 8 / span / 1000, 1)
            got, missed = received - self._received, lost - self._lost
            report["packet_loss"] = round(missed / (got + missed), 4) if got + missed > 0 else 0.0
        self._at, self._frames, self._decoded = now, frames, latest.count
        self._bytes, self._received, self._lost = bytes_in, received, lost
        return report
