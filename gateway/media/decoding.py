"""A bound on the caller's video frames waiting to be decoded.

aiortc hands each complete encoded frame from the event loop to the receiver's decoder thread
through an unbounded ``queue.Queue``. When the machine is short of CPU, or the jitter buffer
releases a burst after a stall, that queue grows, and every frame behind it, which every viewer,
snapshot and recording sees, is as late as the queue is long: seconds, growing, and never caught up.

:class:`DecoderQueue` takes its place with a limit. When a frame arrives and ``limit`` frames are
already waiting, the oldest waiting frames are dropped (and counted) rather than decoded late. A VP8
or H.264 frame is decoded against the one before it, so frames are dropped only up to a keyframe:

- if a keyframe is waiting (or is the frame arriving), everything before the newest one goes and
  decoding resumes from it with nothing missing;
- otherwise everything waiting goes, and so does every following frame until a keyframe arrives,
  which is asked for at once (a PLI, through the receiver's own decode-error path) and again every
  ``retry_seconds`` while it is awaited. A frame decoded against a missing reference is a smear,
  not evidence, so none is.

The end-of-stream marker (``None``) is never dropped. ``tap``, when set, sees every frame as it is
put, before any is dropped for the decoder's sake (:mod:`.forwarding` fans them out to viewers).
Then ``layers`` (:mod:`.layers`) keeps the frames of the caller's upper temporal layers from the
decoder unless something needs every frame; it also counts every frame put, of every layer.
:func:`install` puts one into an aiortc receiver (private members, checked by the tests on the
pinned aiortc version).
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from aiortc.rtcrtpreceiver import RTCRtpReceiver

from .keyframes import keyframe_test
from .layers import LayerFilter

log = logging.getLogger(__name__)

# Frames waiting for the decoder thread beyond which the oldest are dropped: two thirds of a second
# at the caller page's 15 fps. A stall's release after a retransmission (a few frames) fits well
# under it; a queue this deep means the decoder is not keeping up.
DEFAULT_LIMIT = 10
RETRY_SECONDS = 1.0

_QUEUE_ATTRIBUTE = "_RTCRtpReceiver__decoder_queue"
_ERROR_ATTRIBUTE = "_RTCRtpReceiver__decoder_error"


@dataclass
class DecoderQueueStats:
    """``dropped`` frames never decoded; ``overflows`` times the limit was reached;
    ``keyframe_requests`` PLIs asked for because of it; ``deepest`` the most frames ever waiting."""

    dropped: int = 0
    overflows: int = 0
    keyframe_requests: int = 0
    deepest: int = 0

    def as_dict(self) -> dict[str, int]:
        return dict(self.__dict__)


class DecoderQueue(queue.Queue):
    """aiortc's decoder input, ``(codec, JitterFrame)`` items, bounded (see the module's description).

    ``is_keyframe(codec, data)`` tells a keyframe; ``request_keyframe()`` asks the caller for one.
    ``put`` never blocks: it is called on the event loop.
    """

    def __init__(
        self,
        is_keyframe: Callable[[Any, bytes], bool],
        request_keyframe: Callable[[], None],
        limit: int = DEFAULT_LIMIT,
        retry_seconds: float = RETRY_SECONDS,
        clock: Callable[[], float] = time.monotonic,
        layers: LayerFilter | None = None,
    ) -> None:
        if limit < 1:
            raise ValueError("the decoder queue's limit must be at least 1")
        super().__init__()  # unbounded underneath: the limit is applied in _put, without blocking
        self.limit = limit
        self.retry_seconds = retry_seconds
        self.stats = DecoderQueueStats()
        self._is_keyframe = is_keyframe
        self._request_keyframe = request_keyframe
        self._clock = clock
        self._awaiting_keyframe = False
        self._requested_at = 0.0
        self.tap: Callable[[Any, Any], None] | None = None
        self.layers = layers

    @property
    def awaiting_keyframe(self) -> bool:
        return self._awaiting_keyframe

    def _key(self, item: Any) -> bool:
        codec, frame = item
        return self._is_keyframe(codec, frame.data)

    def put(self, item: Any, block: bool = True, timeout: float | None = None) -> None:
        if item is not None:
            if self.tap is not None:
                self.tap(*item)
            if self.layers is not None:
                # Only the event loop puts: the filter's state needs no lock.
                if not self.layers.admit(getattr(item[1], "layer", None), self._key(item)):
                    return
        super().put(item, block, timeout)

    # queue.Queue calls _put with its mutex held, from put(); the decoder thread's get() is
    # woken whether or not anything was added, and waits again on an empty queue.
    def _put(self, item: Any) -> None:
        if item is None:
            self.queue.append(None)
            return
        key = self._key(item)
        if self._awaiting_keyframe:
            if not key:
                self.stats.dropped += 1
                now = self._clock()
                if now - self._requested_at >= self.retry_seconds:
                    self._ask(now)
                return
            self._awaiting_keyframe = False
        waiting = [i for i in self.queue if i is not None]
        if len(waiting) >= self.limit:
            self.stats.overflows += 1
            self._overflow(key)
            if self._awaiting_keyframe:
                return
        self.queue.append(item)
        self.stats.deepest = max(self.stats.deepest, len(self.queue))

    def _overflow(self, arriving_is_key: bool) -> None:
        items = list(self.queue)
        frames = [i for i in items if i is not None]
        keep_from: int | None
        if arriving_is_key:
            keep_from = len(frames)  # the arriving keyframe starts afresh
        else:
            keys = [n for n, i in enumerate(frames) if self._key(i)]
            # A keyframe that is itself the oldest waiting frame would leave the queue as long.
            keep_from = keys[-1] if keys and keys[-1] > 0 else None
        if keep_from is None:
            # No keyframe to restart from: drop all, and what follows until one comes.
            self.stats.dropped += len(frames) + 1
            self._awaiting_keyframe = True
            self._ask(self._clock())
            keep: list[Any] = []
        else:
            self.stats.dropped += keep_from
            keep = frames[keep_from:]
        self.queue.clear()
        self.queue.extend(keep)
        if None in items:
            self.queue.append(None)

    def _ask(self, now: float) -> None:
        self._requested_at = now
        self.stats.keyframe_requests += 1
        self._request_keyframe()


def supported(receiver: RTCRtpReceiver) -> bool:
    """True when this aiortc receiver has the private members :func:`install` replaces."""
    return isinstance(getattr(receiver, _QUEUE_ATTRIBUTE, None), queue.Queue) and isinstance(
        getattr(receiver, _ERROR_ATTRIBUTE, None), threading.Event
    )


def install(receiver: RTCRtpReceiver, limit: int = DEFAULT_LIMIT) -> DecoderQueue | None:
    """Bound a video receiver's decoder queue; None (and a warning) if aiortc has changed.

    Must run before the receiver starts (after ``setRemoteDescription``, before the connection is
    up): the decoder thread is given the queue when it starts. A keyframe is asked for the way
    aiortc asks after a decoding error: the receiver sends a PLI with its next packet.
    """
    if not supported(receiver):
        log.warning("aiortc's receiver has changed: the decoder queue is unbounded")
        return None
    decode_error: threading.Event = getattr(receiver, _ERROR_ATTRIBUTE)

    def is_keyframe(codec: Any, data: bytes) -> bool:
        return keyframe_test(getattr(codec, "name", None))(data)

    bounded = DecoderQueue(is_keyframe, decode_error.set, limit, layers=LayerFilter())
    setattr(receiver, _QUEUE_ATTRIBUTE, bounded)
    return bounded
