"""Whether a caller's session is alive, judged by the right clock (pure: times in, verdict out).

A video session is alive while *frames* arrive: the data channel can carry fixes for minutes
after the camera stopped or the video path broke, and that must not pass for live video. After a
short gap the video is ``frozen`` (the console says so, snapshots refuse the old frame); after the
silence timeout with no frame the session ends and the page makes a new connection, whatever the
data channel does. A session without a video track (location only) is alive while its data
channel is, and is in its own state, ``location``.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class StreamState(StrEnum):
    STARTING = "starting"   # video expected, no frame yet
    LIVE = "live"           # frames arriving
    FROZEN = "frozen"       # video expected, none for a short while
    LOCATION = "location"   # no video track: sharing location only


@dataclass(frozen=True)
class Verdict:
    state: StreamState
    # Seconds since the newest frame (None before the first, and for location-only sessions).
    frame_age: float | None
    # Why the session should end now, or None while it is alive.
    gone: str | None = None


@dataclass(frozen=True)
class Liveness:
    frozen_after_seconds: float = 1.5
    silence_timeout_seconds: float = 20.0

    def judge(
        self,
        now: float,
        started: float,
        has_video: bool,
        last_frame: float | None,
        last_message: float | None,
    ) -> Verdict:
        """All times are monotonic seconds; ``started`` is when the session began."""
        if not has_video:
            quiet = now - max(started, last_message or started)
            gone = None
            if quiet > self.silence_timeout_seconds:
                gone = f"nothing received from the caller for {int(quiet)} s"
            return Verdict(StreamState.LOCATION, None, gone)
        if last_frame is None:
            waited = now - started
            gone = f"no video from the caller for {int(waited)} s" if waited > self.silence_timeout_seconds else None
            return Verdict(StreamState.STARTING, None, gone)
        age = max(0.0, now - last_frame)
        if age > self.silence_timeout_seconds:
            quiet = now - max(last_frame, last_message or last_frame)
            what = "nothing received" if quiet > self.silence_timeout_seconds else "no video"
            return Verdict(StreamState.FROZEN, age, f"{what} from the caller for {int(age)} s")
        return Verdict(StreamState.FROZEN if age > self.frozen_after_seconds else StreamState.LIVE, age)
