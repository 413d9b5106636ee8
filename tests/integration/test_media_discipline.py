"""Fifty sessions one after another leave no threads, open files or memory behind."""

from __future__ import annotations

import asyncio
import collections
import ctypes
import gc
import os
import threading

from gateway.media.workers import THREAD_PREFIX
from gateway.web.keys import LIVE

from ..conftest import needs_test_network
from .test_media_features import add_viewer, open_caller

pytestmark = needs_test_network

SESSIONS = 50
WARM_UP = 5


def open_files() -> int:
    return len(os.listdir("/proc/self/fd"))


def rss_mb() -> float:
    """Resident memory after handing freed heap pages back, so fragmentation is not counted."""
    gc.collect()
    ctypes.CDLL("libc.so.6").malloc_trim(0)
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS")


async def one_session(client, n: int) -> None:
    incident, csrf, path, caller = await open_caller(client)
    viewer, track = await add_viewer(client, f"/api/incidents/{incident['id']}/viewer", {"X-CSRF-Token": csrf})
    await asyncio.wait_for(track.recv(), 10)
    resp = await client.post(f"/api/incidents/{incident['id']}/snapshots", json={}, headers={"X-CSRF-Token": csrf})
    assert resp.status == 201
    # Alternate who ends it: the handler, or the caller's page.
    if n % 2:
        await client.post(f"/api/incidents/{incident['id']}/end", json={}, headers={"X-CSRF-Token": csrf})
    else:
        await client.post(path + "/end", json={})
    await viewer.close()
    await caller.close()


def session_threads() -> list[str]:
    """Threads that belong to media sessions (decoders, encoders, recorders).

    Left out: bounded pools that may grow to their limit under load and then stay, namely the
    asyncio executor (min(32, cores + 4) threads), the gateway's two image workers, and one worker
    per pooled SQLite connection.
    """
    return sorted(
        t.name for t in threading.enumerate()
        if t is not threading.main_thread() and not t.name.startswith(("asyncio_", THREAD_PREFIX))
        and "_connection_worker_thread" not in t.name
    )


async def settle(baseline: list[str]) -> None:
    for _ in range(100):
        gc.collect()
        if len(session_threads()) <= len(baseline):
            return
        await asyncio.sleep(0.1)


MEDIA_OBJECTS = ("RTCPeerConnection", "CallerPeer", "LiveSession", "SessionMedia", "VideoFrame",
                 "RemoteStreamTrack", "RelayStreamTrack", "SegmentRecorder", "Viewer")


def media_objects() -> dict[str, int]:
    gc.collect()
    counts = collections.Counter(type(o).__name__ for o in gc.get_objects())
    return {name: counts[name] for name in MEDIA_OBJECTS if counts[name]}


async def test_fifty_sessions_return_threads_files_and_memory_to_where_they_started(client):
    for n in range(WARM_UP):
        await one_session(client, n)
    await settle([])
    threads, files, memory = session_threads(), open_files(), rss_mb()
    halfway = None

    for n in range(SESSIONS - WARM_UP):
        await one_session(client, n)
        if n == (SESSIONS - WARM_UP) // 2:
            halfway = rss_mb()
    await settle(threads)

    assert client.app[LIVE].by_incident == {}
    assert media_objects() == {}, "every peer connection, track and frame is released"
    assert session_threads() == threads
    assert open_files() <= files + 2
    # Each session held megabytes of 640x480 frames. A leak grows with every session; the
    # allocator's own growth levels off, so the second half must add next to nothing.
    end = rss_mb()
    assert end - halfway < 15, f"RSS {memory:.0f} MB -> {halfway:.0f} MB halfway -> {end:.0f} MB"
    assert end - memory < 60, f"RSS {memory:.0f} MB -> {end:.0f} MB"
