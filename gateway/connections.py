"""Which open connections the gateway keeps when there are too many: plain state, no sockets.

Every accepted connection holds a file descriptor; a few hundred clients that connect and send
nothing (or send their headers a byte at a time) would otherwise hold them all, and the next
genuine caller, or ``/healthz``, would not be accepted at all. The table knows, for each open
connection, whether a request is being handled on it (busy) or not (idle: waiting for its first
request, or between two on a kept-alive connection). When a new connection takes the total over
the limit, the connection idle the longest is given up; a busy one never is. If every other
connection is busy, the new one is refused instead.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Hashable
from typing import Generic, TypeVar

C = TypeVar("C", bound=Hashable)


class ConnectionTable(Generic[C]):
    def __init__(self, limit: int) -> None:
        if limit < 1:
            raise ValueError("the connection limit must be at least 1")
        self.limit = limit
        self._idle: OrderedDict[C, float] = OrderedDict()  # idle since (monotonic), oldest first
        self._busy: dict[C, int] = {}                       # requests being handled on it
        self.evicted = 0
        self.refused = 0

    def __len__(self) -> int:
        return len(self._idle) + len(self._busy)

    def opened(self, conn: C, now: float) -> list[C]:
        """Count a new connection; returns the connections to close now (perhaps ``conn`` itself)."""
        self._idle[conn] = now
        victims: list[C] = []
        while len(self) > self.limit:
            oldest = next((c for c in self._idle if c is not conn), None)
            if oldest is None:
                # Everything else is busy: refusing the newcomer is the only choice left.
                del self._idle[conn]
                self.refused += 1
                victims.append(conn)
                break
            del self._idle[oldest]
            self.evicted += 1
            victims.append(oldest)
        return victims

    def busy(self, conn: C) -> None:
        """A request began on ``conn``."""
        if conn in self._idle:
            del self._idle[conn]
            self._busy[conn] = 1
        elif conn in self._busy:
            self._busy[conn] += 1

    def idle(self, conn: C, now: float) -> None:
        """A request on ``conn`` finished."""
        count = self._busy.get(conn)
        if count is None:
            return
        if count > 1:
            self._busy[conn] = count - 1
        else:
            del self._busy[conn]
            self._idle[conn] = now

    def closed(self, conn: C) -> None:
        self._idle.pop(conn, None)
        self._busy.pop(conn, None)

    def counts(self) -> dict[str, int]:
        return {"open": len(self), "busy": len(self._busy), "idle": len(self._idle),
                "evicted": self.evicted, "refused": self.refused, "limit": self.limit}
