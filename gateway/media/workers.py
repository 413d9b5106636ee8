"""A small thread pool of the gateway's own for image work (snapshots, scene signatures, MJPEG).

aiortc encodes every viewer's video on asyncio's default executor. Image work queued there would
wait behind those encoders, or make them wait, and a viewer's frames would arrive late; keeping it
on its own two threads bounds its share of the machine and leaves the encoders alone.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

T = TypeVar("T")

THREAD_PREFIX = "scenelink-image"
_pool = ThreadPoolExecutor(max_workers=2, thread_name_prefix=THREAD_PREFIX)


async def image_work(fn: Callable[..., T], *args: Any) -> T:
    """Run ``fn(*args)`` on the image pool and wait for it without blocking the event loop."""
    return await asyncio.get_running_loop().run_in_executor(_pool, functools.partial(fn, *args))
