"""The failure throttle and the sign-in lockout, kept where every node sees the same counts.

The rules are plain state machines (:class:`gateway.limits.FailureThrottle`,
:class:`gateway.lockout.Lockout`). This module decides where their state lives:

- :class:`Limits` (the embedded default): in this process.
- :class:`RedisLimits`: one Redis key per throttled key (an address, an account), so that a
  guesser spreading attempts over several nodes is counted once. Each change reads the key's
  state, applies the same rules in Python, and writes it back in a ``WATCH``/``MULTI``
  transaction (retried if another node changed it meanwhile); the key expires when its state
  no longer matters. Times are wall-clock seconds, which the nodes share (keep them on NTP).

If Redis cannot be reached, a node falls back to its own counts for the moment rather than
refusing or waving through every attempt.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from dataclasses import astuple
from typing import Any, TypeVar

import redis.asyncio as aioredis
from redis.exceptions import RedisError, WatchError

from .limits import FailureThrottle
from .lockout import Lockout, _Entry

log = logging.getLogger(__name__)

T = TypeVar("T")
PREFIX = "scenelink:limit"


class Limits:
    """Failure throttle and lockout state in this process."""

    backend = "memory"

    def __init__(self, throttle: FailureThrottle, lockout: Lockout) -> None:
        self.throttle = throttle
        self.lockout = lockout

    @staticmethod
    def now() -> float:
        return time.monotonic()

    async def close(self) -> None:
        """Release whatever connects this node to the others (nothing, in process)."""

    async def retry_after(self, key: str) -> float:
        """Seconds until ``key`` may try again after its failures; 0.0 when it may now."""
        return self.throttle.retry_after(key, self.now())

    async def fail(self, key: str) -> None:
        self.throttle.fail(key, self.now())

    async def succeed(self, key: str) -> None:
        self.throttle.succeed(key)

    async def locked_for(self, key: str) -> float:
        """Seconds ``key`` stays locked out of signing in; 0.0 when it may try."""
        return self.lockout.locked_for(key, self.now())

    async def lock_fail(self, key: str) -> bool:
        """Count a failed sign-in of ``key``; True when this failure locks it."""
        return self.lockout.fail(key, self.now())

    async def lock_succeed(self, key: str) -> None:
        self.lockout.succeed(key)

    async def unlock(self, key: str) -> bool:
        return self.lockout.unlock(key)


class RedisLimits(Limits):
    backend = "redis"

    def __init__(self, redis_url: str, throttle: FailureThrottle, lockout: Lockout) -> None:
        super().__init__(throttle, lockout)
        self._client = aioredis.from_url(redis_url, socket_timeout=2, socket_connect_timeout=2)

    @staticmethod
    def now() -> float:
        return time.time()

    async def close(self) -> None:
        await self._client.aclose()

    # -- one key's state, read, changed by the pure rules, written back ----------------------------

    def _throttle_scratch(self) -> FailureThrottle:
        t = self.throttle
        return FailureThrottle(free=t.free, window=t.window, base=t.base, max_delay=t.max_delay, size=1)

    def _lockout_scratch(self) -> Lockout:
        lk = self.lockout
        return Lockout(lk.limit, lk.window, lk.duration, size=1)

    async def _throttle_op(self, key: str, op: Callable[[FailureThrottle, float], T], write: bool) -> T:
        ttl = self.throttle.window + self.throttle.max_delay

        def load(scratch: FailureThrottle, raw: Any) -> None:
            scratch._failures[key] = tuple(json.loads(raw))

        def dump(scratch: FailureThrottle) -> str | None:
            entry = scratch._failures.get(key)
            return json.dumps(list(entry)) if entry is not None else None

        return await self._op(f"{PREFIX}:throttle:{key}", self._throttle_scratch, load, dump, op, write, ttl,
                              self.throttle, key)

    async def _lockout_op(self, key: str, op: Callable[[Lockout, float], T], write: bool) -> T:
        ttl = max(self.lockout.window, self.lockout.duration)

        def load(scratch: Lockout, raw: Any) -> None:
            scratch._entries[key] = _Entry(*json.loads(raw))

        def dump(scratch: Lockout) -> str | None:
            entry = scratch._entries.get(key)
            return json.dumps(list(astuple(entry))) if entry is not None else None

        return await self._op(f"{PREFIX}:lockout:{key}", self._lockout_scratch, load, dump, op, write, ttl,
                              self.lockout, key)

    async def _op(self, rkey, scratch_of, load, dump, op, write: bool, ttl: float, local, key: str):
        now = self.now()
        try:
            if not write:
                raw = await self._client.get(rkey)
                scratch = scratch_of()
                if raw is not None:
                    load(scratch, raw)
                return op(scratch, now)
            async with self._client.pipeline(transaction=True) as pipe:
                while True:
                    try:
                        await pipe.watch(rkey)
                        raw = await pipe.get(rkey)
                        scratch = scratch_of()
                        if raw is not None:
                            load(scratch, raw)
                        result = op(scratch, now)
                        state = dump(scratch)
                        pipe.multi()
                        if state is None:
                            pipe.delete(rkey)
                        else:
                            pipe.set(rkey, state, px=int(ttl * 1000) + 1000)
                        await pipe.execute()
                        return result
                    except WatchError:
                        continue  # another node changed it between our read and our write
        except (RedisError, OSError) as exc:
            log.warning("shared limits unreachable (%s): counting %s on this node for now", type(exc).__name__, key)
            return op(local, time.time())

    # -- the interface -------------------------------------------------------------------------

    async def retry_after(self, key: str) -> float:
        return await self._throttle_op(key, lambda t, now: t.retry_after(key, now), write=False)

    async def fail(self, key: str) -> None:
        await self._throttle_op(key, lambda t, now: t.fail(key, now), write=True)

    async def succeed(self, key: str) -> None:
        await self._throttle_op(key, lambda t, now: t.succeed(key), write=True)

    async def locked_for(self, key: str) -> float:
        return await self._lockout_op(key, lambda lk, now: lk.locked_for(key, now), write=False)

    async def lock_fail(self, key: str) -> bool:
        return await self._lockout_op(key, lambda lk, now: lk.fail(key, now), write=True)

    async def lock_succeed(self, key: str) -> None:
        await self._lockout_op(key, lambda lk, now: lk.succeed(key), write=True)

    async def unlock(self, key: str) -> bool:
        return await self._lockout_op(key, lambda lk, now: lk.unlock(key), write=True)


def make_limits(redis_url: str | None, throttle: FailureThrottle, lockout: Lockout) -> Limits:
    if not redis_url:
        return Limits(throttle, lockout)
    return RedisLimits(redis_url, throttle, lockout)
