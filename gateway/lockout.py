"""Sign-in lockout as plain state: after too many failures, an account or an address is refused.

The failure throttle (gateway.limits) only slows a guesser down; this refuses them. ``limit``
failures within ``window`` seconds lock the key (``account:NAME`` or ``address:IP``) for
``duration`` seconds from the failure that locked it; while locked, every attempt is refused
before any password is checked, the right password included. A success forgets the key's failures.

Nothing here sleeps, reads a clock of its own accord or touches I/O: each call is given ``now``
(monotonic seconds). The table is bounded: a flood of distinct keys forgets the oldest, which only
ever errs towards letting an attempt be checked.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass


@dataclass
class _Entry:
    failures: int
    window_start: float
    locked_until: float = 0.0


class Lockout:
    def __init__(self, limit: int = 10, window: float = 900.0, duration: float = 900.0, size: int = 50_000) -> None:
        if limit < 1 or window <= 0 or duration <= 0:
            raise ValueError("a lockout needs a limit of at least 1 and a positive window and duration")
        self.limit = limit
        self.window = window
        self.duration = duration
        self.size = size
        self._entries: OrderedDict[str, _Entry] = OrderedDict()

    def locked_for(self, key: str, now: float) -> float:
        """Seconds ``key`` stays locked; 0.0 when it may try."""
        entry = self._entries.get(key)
        if entry is None:
            return 0.0
        return max(0.0, entry.locked_until - now)

    def fail(self, key: str, now: float) -> bool:
        """Count a failure of ``key``; True when this failure locks it."""
        entry = self._entries.pop(key, None)
        if entry is not None and entry.locked_until > now:
            self._entries[key] = entry  # refused attempts are not checked, so not counted
            return False
        if entry is None or now - entry.window_start > self.window:
            entry = _Entry(0, now)
        entry.failures += 1
        locks = entry.failures >= self.limit
        if locks:
            entry.locked_until = now + self.duration
            entry.failures, entry.window_start = 0, now  # after the lock, a fresh count
        self._entries[key] = entry
        while len(self._entries) > self.size:
            self._entries.popitem(last=False)
        return locks

    def succeed(self, key: str) -> None:
        self._entries.pop(key, None)

    def unlock(self, key: str) -> bool:
        """Lift a lock (an administrator re-enabling an account); True if there was one."""
        return self._entries.pop(key, None) is not None

    def __len__(self) -> int:
        return len(self._entries)
