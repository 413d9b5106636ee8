"""Bandwidth feedback to the caller (REMB) at the rate a browser sends it, not once per packet.

aiortc's receiver runs a delay-based bandwidth estimator on every video packet and sends a REMB
(receiver estimated maximum bitrate, an RTCP packet: encrypted and sent with one system call) each
time the estimator gives a value: every 500 ms, but on *every packet* while its detector sees the
path as overused. A stream whose frames leave the sender in bursts (a keyframe; a sender that does
not pace; a plane forwarding another peer's packets) is seen as overused much of the time, and the
gateway then sends a REMB per packet received: measured with 4 synthetic callers through Janus,
about a sixth of the gateway's CPU went to sending them (see docs/performance.md, bench-ingest).

:class:`RembThrottle` applies the rule libwebrtc's own receiver applies (``RembThrottler``): a new
estimate is sent at once when it is more than 3% below the last one sent (the sender must slow
down now), and otherwise at most every ``interval`` (200 ms). The estimator itself still sees every
packet; only the sending is thinned. :func:`install` puts it on one aiortc ``RTCRtpReceiver`` by
wrapping its estimator (a private attribute: the tests check it on the pinned aiortc version).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from aiortc.rtcrtpreceiver import RTCRtpReceiver

log = logging.getLogger(__name__)

INTERVAL_MS = 200  # libwebrtc's kRembSendInterval
# A new estimate this far below the last one sent goes at once (libwebrtc: kSendThresholdPercent).
DROP_PERCENT = 3

_ESTIMATOR_ATTRIBUTE = "_RTCRtpReceiver__remote_bitrate_estimator"

Remb = tuple[int, list[int]]  # (bitrate in bit/s, the SSRCs it applies to), as aiortc's estimator gives it


@dataclass
class RembStats:
    """``estimates`` the estimator gave; ``sent`` of them passed on as REMBs."""

    estimates: int = 0
    sent: int = 0

    def as_dict(self) -> dict[str, int]:
        return dict(self.__dict__)


class RembThrottle:
    """Decides which of the estimator's REMBs to send (pure: times in milliseconds are given)."""

    def __init__(self, interval_ms: int = INTERVAL_MS, drop_percent: int = DROP_PERCENT) -> None:
        self.interval_ms = interval_ms
        self.drop_percent = drop_percent
        self.stats = RembStats()
        self._last_sent_ms: int | None = None
        self._last_bitrate = 0

    def admit(self, remb: Remb | None, now_ms: int) -> Remb | None:
        """``remb`` if it should be sent now, else None."""
        if remb is None:
            return None
        self.stats.estimates += 1
        bitrate = remb[0]
        fell = bitrate * (100 + self.drop_percent) <= self._last_bitrate * 100
        due = self._last_sent_ms is None or now_ms - self._last_sent_ms >= self.interval_ms
        if not (fell or due):
            return None
        self._last_sent_ms, self._last_bitrate = now_ms, bitrate
        self.stats.sent += 1
        return remb


class _ThrottledEstimator:
    """aiortc's estimator with its ``add`` answers filtered through a :class:`RembThrottle`."""

    def __init__(self, estimator: Any, throttle: RembThrottle) -> None:
        self._estimator = estimator
        self._throttle = throttle

    def add(self, arrival_time_ms: int, abs_send_time: int, payload_size: int, ssrc: int) -> Remb | None:
        remb = self._estimator.add(
            arrival_time_ms=arrival_time_ms, abs_send_time=abs_send_time, payload_size=payload_size, ssrc=ssrc
        )
        return self._throttle.admit(remb, arrival_time_ms)

    def __getattr__(self, name: str) -> Any:  # anything else aiortc may read goes to the estimator
        return getattr(self._estimator, name)


def supported(receiver: RTCRtpReceiver) -> bool:
    """True when this receiver has the estimator :func:`install` wraps (a video receiver of the
    pinned aiortc; audio receivers have none)."""
    return callable(getattr(getattr(receiver, _ESTIMATOR_ATTRIBUTE, None), "add", None))


def install(
    receiver: RTCRtpReceiver, throttle_factory: Callable[[], RembThrottle] = RembThrottle
) -> RembThrottle | None:
    """Thin out a video receiver's REMBs; None (and a warning) if aiortc has changed."""
    if not supported(receiver):
        log.warning("aiortc's receiver has changed: REMB feedback is sent as often as aiortc sends it")
        return None
    throttle = throttle_factory()
    setattr(receiver, _ESTIMATOR_ATTRIBUTE, _ThrottledEstimator(getattr(receiver, _ESTIMATOR_ATTRIBUTE), throttle))
    return throttle
