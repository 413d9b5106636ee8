"""Rate limits as plain state: token buckets, failure counts per key, and a quota for log lines.

Nothing here sleeps, reads a clock of its own accord or touches I/O: each call is given ``now``
(monotonic seconds) and answers at once, so a refused client is told when to come back (a
``Retry-After``) instead of being held on an open connection. Every table is bounded, so a flood
of distinct keys cannot grow memory.
"""

from __future__ import annotations

import math
import time
from collections import OrderedDict
from dataclasses import dataclass


def _now(now: float | None) -> float:
    return time.monotonic() if now is None else now


def retry_after_header(seconds: float) -> str:
    """A ``Retry-After`` value: whole seconds, rounded up, at least 1."""
    return str(max(1, math.ceil(seconds)))


@dataclass
class _Bucket:
    tokens: float
    at: float


class TokenBuckets:
    """One token bucket per key: ``burst`` tokens at most, refilled at ``rate`` a second.

    :meth:`take` spends a token if there is one and answers 0.0, or answers how many seconds until
    the next token (spending nothing). The least recently used keys are forgotten beyond ``size``;
    a forgotten key starts again with a full bucket, which only ever errs towards letting a
    client through.
    """

    def __init__(self, rate: float, burst: int, size: int = 10_000) -> None:
        if rate <= 0 or burst < 1:
            raise ValueError("a token bucket needs a positive rate and a burst of at least 1")
        self.rate = rate
        self.burst = burst
        self.size = size
        self._buckets: OrderedDict[str, _Bucket] = OrderedDict()

    def take(self, key: str, now: float | None = None) -> float:
        now = _now(now)
        bucket = self._buckets.pop(key, None) or _Bucket(float(self.burst), now)
        bucket.tokens = min(float(self.burst), bucket.tokens + (now - bucket.at) * self.rate)
        bucket.at = now
        self._buckets[key] = bucket
        while len(self._buckets) > self.size:
            self._buckets.popitem(last=False)
        if bucket.tokens >= 1.0:
            bucket.tokens -= 1.0
            return 0.0
        return (1.0 - bucket.tokens) / self.rate

    def forget(self, key: str) -> None:
        self._buckets.pop(key, None)

    def __len__(self) -> int:
        return len(self._buckets)


class FailureThrottle:
    """Counts failures per key (a client address) and says how long that key is refused.

    ``free`` failures in a ``window`` cost nothing; each one beyond doubles the time the key is
    refused after its latest failure, from ``base`` up to ``max_delay`` seconds. Callers ask
    :meth:`retry_after` before the work a failure would cost, and answer ``429`` at once when it
    is positive. Only failures count: whatever succeeds is never looked up here.
    """

    def __init__(
        self, free: int = 5, window: float = 600.0, base: float = 0.25, max_delay: float = 30.0,
        size: int = 10_000,
    ) -> None:
        self.free = free
        self.window = window
        self.base = base
        self.max_delay = max_delay
        self.size = size
        # key -> (failures in the window, when the window began, latest failure)
        self._failures: OrderedDict[str, tuple[int, float, float]] = OrderedDict()

    def retry_after(self, key: str, now: float | None = None) -> float:
        """Seconds until ``key`` may try again; 0.0 when it may now."""
        now = _now(now)
        entry = self._failures.get(key)
        if entry is None:
            return 0.0
        count, first, last = entry
        if now - first > self.window or count <= self.free:
            return 0.0
        delay = min(self.max_delay, self.base * 2 ** (count - self.free))
        return max(0.0, last + delay - now)

    def fail(self, key: str, now: float | None = None) -> None:
        now = _now(now)
        count, first, _ = self._failures.pop(key, (0, now, now))
        if now - first > self.window:
            count, first = 0, now
        self._failures[key] = (count + 1, first, now)
        while len(self._failures) > self.size:
            self._failures.popitem(last=False)

    def succeed(self, key: str) -> None:
        self._failures.pop(key, None)

    def __len__(self) -> int:
        return len(self._failures)


class LogQuota:
    """How many lines of one kind may be logged: ``burst`` at once, then ``rate`` a second.

    :meth:`allow` answers None when the line must be dropped, else how many were dropped since
    the last line allowed (to be said in that line), so a flood leaves a count, not megabytes.
    """

    def __init__(self, rate: float = 1.0, burst: int = 10) -> None:
        self._bucket = TokenBuckets(rate, burst, size=1)
        self._dropped = 0

    def allow(self, now: float | None = None) -> int | None:
        if self._bucket.take("", now) > 0:
            self._dropped += 1
            return None
        dropped, self._dropped = self._dropped, 0
        return dropped
