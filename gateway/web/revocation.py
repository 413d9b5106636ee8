"""Long-lived streams re-check the credential that opened them.

An event WebSocket or an MJPEG stream outlives the request that checked its session, token or
embed link. Each one runs with a watcher that asks again every ``RECHECK_SECONDS`` and ends the
stream once the answer is no: signed out, session ended by an administrator, operator disabled,
token revoked or expired, embed link withdrawn or expired.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

RECHECK_SECONDS = 3.0

Check = Callable[[], Awaitable[bool]]


async def until_revoked(still_valid: Check, every: float | None = None) -> None:
    """Return once ``still_valid()`` answers False (checked every ``every`` seconds)."""
    while True:
        await asyncio.sleep(RECHECK_SECONDS if every is None else every)
        if not await still_valid():
            return


async def run_until_revoked(work: Awaitable[None], still_valid: Check) -> bool:
    """Run ``work`` until it ends or the credential is revoked; True when it was revoked."""
    task = asyncio.ensure_future(work)
    watcher = asyncio.ensure_future(until_revoked(still_valid))
    try:
        done, _ = await asyncio.wait({task, watcher}, return_when=asyncio.FIRST_COMPLETED)
        if task in done:
            task.result()  # its errors are the caller's
            return False
        return True
    finally:
        for pending in (task, watcher):
            pending.cancel()
        await asyncio.gather(task, watcher, return_exceptions=True)
