"""Twenty sessions one after another leave no peers, tasks, threads or open files behind.

Leaks are counted as objects, not read from the resident set size: RSS measures the allocator
(arenas per thread, fragmentation) as much as the program, and moved by tens of megabytes between
runs on a busy machine without anything being held.
"""

from __future__ import annotations

import asyncio
import collections
import gc
import os
import threading

import pytest

from gateway.media.workers import THREAD_PREFIX
from gateway.web.keys import LIVE

from ..conftest import needs_test_network
from .test_media_features import add_viewer, open_caller

pytestmark = needs_test_network

# A census finds a single object left behind, and a descriptor a session would exceed the slack by
# the end: twenty sessions find what fifty would, in less than half the time.
SESSIONS = 20
WARM_UP = 3


def open_files() -> int:
    return len(os.listdir("/proc/self/fd"))


def tasks() -> list[str]:
    """The event loop's tasks other than the test's own, by coroutine name."""
    current = asyncio.current_task()
    return sorted(t.get_coro().__qualname__ for t in asyncio.all_tasks() if t is not current and not t.done())


async def one_session(client, n: int, census: list[dict[str, int]] | None = None) -> None:
    incident, csrf, path, caller = await open_caller(client)
    viewer, track = await add_viewer(client, f"/api/incidents/{incident['id']}/viewer", {"X-CSRF-Token": csrf})
    await asyncio.wait_for(track.recv(), 10)
    if census is not None:
        census.append(media_objects())
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


async def settle(threads: list[str], task_names: list[str]) -> None:
    """Poll until the sessions' threads and tasks have gone (up to 10 s); the asserts then say what is left."""
    for n in range(100):
        # A full collection costs a second or more once a long test run's heap has grown: once a
        # second is enough to free what only a cycle holds.
        if n % 10 == 0:
            gc.collect()
        if len(session_threads()) <= len(threads) and len(tasks()) <= len(task_names):
            return
        await asyncio.sleep(0.1)


MEDIA_OBJECTS = (
    "aiortc.rtcpeerconnection.RTCPeerConnection", "aiortc.rtcicetransport.RTCIceTransport",
    "aiortc.rtcdtlstransport.RTCDtlsTransport", "aiortc.rtcsctptransport.RTCSctpTransport",
    "aiortc.rtcdatachannel.RTCDataChannel", "aiortc.rtcrtpreceiver.RemoteStreamTrack",
    "aiortc.contrib.media.RelayStreamTrack", "aiortc.contrib.media.MediaRelay", "aioice.ice.Connection",
    "av.video.frame.VideoFrame", "gateway.media.ingest.CallerPeer", "gateway.live.LiveSession",
    "gateway.media.session.SessionMedia", "gateway.media.recorder.SegmentRecorder",
)


def media_objects() -> dict[str, int]:
    gc.collect()
    counts = collections.Counter(f"{type(o).__module__}.{type(o).__qualname__}" for o in gc.get_objects())
    return {name: counts[name] for name in MEDIA_OBJECTS if counts[name]}


@pytest.mark.timeout(300)  # twenty WebRTC sessions: a few seconds each on a busy two-core machine
async def test_twenty_sessions_return_peers_tasks_threads_and_files_to_where_they_started(client):
    census: list[dict[str, int]] = []
    for n in range(WARM_UP):
        await one_session(client, n, census if n == 0 else None)
    # The census sees a live session's objects (so its names are right and it can fail).
    live = {name.rsplit(".", 1)[1] for name in census[0]}
    assert {"RTCPeerConnection", "RTCIceTransport", "RTCDtlsTransport", "Connection", "CallerPeer",
            "LiveSession", "SessionMedia", "RemoteStreamTrack"} <= live, census[0]
    await settle([], [])
    threads, files, task_names = session_threads(), open_files(), tasks()
    assert media_objects() == {}, "after the warm-up nothing of a session is left either"

    for n in range(SESSIONS - WARM_UP):
        await one_session(client, n)
    await settle(threads, task_names)

    assert client.app[LIVE].by_incident == {}, "no live peer is left"
    # Every peer connection, its transports and channels, track, relay and frame is released:
    # one forgotten object would hold its decoder, sockets and frames (megabytes a session).
    assert media_objects() == {}
    assert tasks() == task_names, "every task a session started has ended"
    assert session_threads() == threads
    # Each session opened UDP sockets (ICE), a TCP connection or two and a recording's files.
    assert open_files() <= files + 2
