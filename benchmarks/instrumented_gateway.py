"""Run the gateway with instruments attached, for finding out where its time goes under load.

    SCENELINK_PROBE_OUT=probe.txt [SCENELINK_PROFILE_OUT=profile.txt] python -m benchmarks.instrumented_gateway serve

Used by ``python -m benchmarks.bench_media --probe`` and ``--profile``. Changes no gateway code:

* the probe (cheap) wraps the VP8 encoders (aiortc's and the relay's) and aiortc's decoder to time every call (CPU and wall
  clock) and samples, twice a second, the depth of every queue a frame passes through: each
  receiver's queue of encoded frames waiting for its decoder thread, each received track's queue of
  decoded frames, and the event loop's default executor (where aiortc runs the encoders);
* the profiler (expensive) is yappi over every thread with the CPU clock (``pip install yappi``;
  not a dependency of the project). C code is charged to the Python function that called it.
"""

from __future__ import annotations

import io
import os
import sys
import threading
import time
import weakref
from pathlib import Path
from typing import Any

STALL_SECONDS = 0.25


class Probe:
    def __init__(self, interval: float = 0.5) -> None:
        import asyncio

        import aiortc.codecs.vpx as vpx
        import aiortc.rtcrtpreceiver as receiver_module

        self.interval = interval
        self.receivers: weakref.WeakSet = weakref.WeakSet()
        self.loop: Any = None
        self.samples: list[tuple[float, list[int], list[int], int]] = []
        self.calls: dict[str, list[tuple[float, float]]] = {"encode": [], "decode": []}
        self.codec_opened: dict[str, int] = {}
        self.lags: list[float] = []
        self.peak_threads: tuple[int, dict[str, int]] = (0, {})
        self._lock = threading.Lock()

        init = receiver_module.RTCRtpReceiver.__init__

        def receiver_init(receiver, *args: Any, **kwargs: Any) -> None:
            init(receiver, *args, **kwargs)
            self.receivers.add(receiver)

        receiver_module.RTCRtpReceiver.__init__ = receiver_init
        from gateway.media.encoder import RelayVp8Encoder

        for cls, method, name in (
            (vpx.Vp8Encoder, "encode", "encode"),
            (RelayVp8Encoder, "encode", "encode"),  # the gateway's own, for its viewers
            (vpx.Vp8Decoder, "decode", "decode"),
        ):
            setattr(cls, method, self._timed(getattr(cls, method), name))

        # Loss handling on the caller's side: NACKs and PLIs the gateway sends, and the jitter
        # buffer throwing packets away after a gap it waited for in vain.
        import aiortc.jitterbuffer as jitter_module

        self.events: dict[str, int] = {}
        for cls, method, name in (
            (receiver_module.RTCRtpReceiver, "_send_rtcp_nack", "NACKs sent"),
            (receiver_module.RTCRtpReceiver, "_send_rtcp_pli", "PLIs sent"),
            (jitter_module.JitterBuffer, "smart_remove", "jitter buffer gave up waiting (smart_remove)"),
        ):
            setattr(cls, method, self._counted(getattr(cls, method), name))

        # The first peer connection is made on the event loop: remember the loop there (works for
        # any loop implementation) and start measuring its lag.
        import aiortc

        pc_init = aiortc.RTCPeerConnection.__init__

        def remember_loop(pc, *args: Any, **kwargs: Any) -> None:
            pc_init(pc, *args, **kwargs)
            if self.loop is None:
                self.loop = asyncio.get_running_loop()
                self.loop.create_task(self._heartbeat())

        aiortc.RTCPeerConnection.__init__ = remember_loop
        threading.Thread(target=self._sample, name="probe", daemon=True).start()

    async def _heartbeat(self) -> None:
        """Event-loop lag: how late a 20 ms sleep wakes up. With a stall file, a loop that stops for
        longer than ``STALL_SECONDS`` makes faulthandler (a C thread, needs no GIL) write every
        thread's Python stack to it: what the loop was stuck behind."""
        import asyncio
        import faulthandler

        stall_path = os.environ.get("SCENELINK_PROBE_STALLS")
        stall_file = open(stall_path, "w") if stall_path else None
        while True:
            if stall_file is not None:
                faulthandler.dump_traceback_later(STALL_SECONDS, file=stall_file)
            t = time.perf_counter()
            await asyncio.sleep(0.02)
            self.lags.append(1000 * (time.perf_counter() - t - 0.02))

    def _counted(self, function: Any, name: str) -> Any:
        import inspect

        if inspect.iscoroutinefunction(function):
            async def counted_async(*args: Any, **kwargs: Any) -> Any:
                self.events[name] = self.events.get(name, 0) + 1
                return await function(*args, **kwargs)

            return counted_async

        def counted(*args: Any, **kwargs: Any) -> Any:
            self.events[name] = self.events.get(name, 0) + 1
            return function(*args, **kwargs)

        return counted

    def _timed(self, function: Any, name: str) -> Any:
        calls = self.calls[name]

        def timed(coder: Any, *args: Any, **kwargs: Any) -> Any:
            codec = getattr(coder, "codec", None)
            w, c = time.perf_counter(), time.thread_time()
            try:
                return function(coder, *args, **kwargs)
            finally:
                with self._lock:
                    calls.append((1000 * (time.perf_counter() - w), 1000 * (time.thread_time() - c)))
                    if getattr(coder, "codec", None) is not codec:
                        # A VP8 encoder opens a new codec (and sends a keyframe) when the target
                        # bitrate changes (aiortc's: by over 10%; the relay's: a step).
                        self.codec_opened[name] = self.codec_opened.get(name, 0) + 1

        return timed

    def _sample(self) -> None:
        while True:
            time.sleep(self.interval)
            decoder, track = [], []
            for receiver in list(self.receivers):
                if getattr(receiver, "_RTCRtpReceiver__kind", "video") != "video":
                    continue
                decoder.append(receiver._RTCRtpReceiver__decoder_queue.qsize())
                if receiver._track is not None:
                    track.append(receiver._track._queue.qsize())
            executor = getattr(self.loop, "_default_executor", None) if self.loop else None
            pending = executor._work_queue.qsize() if executor is not None else 0
            self.samples.append((time.time(), decoder, track, pending))
            names: dict[str, int] = {}
            for thread in threading.enumerate():
                key = (
                    thread.name.split("(")[-1].rstrip(")") if "(" in thread.name else thread.name.rstrip("_0123456789")
                )
                names[key] = names.get(key, 0) + 1
            try:
                native = len(os.listdir("/proc/self/task"))
            except OSError:
                native = 0
            if native >= self.peak_threads[0]:
                self.peak_threads = (native, names)

    def report(self) -> str:
        out = io.StringIO()
        busy = [s for s in self.samples if s[1]]
        out.write(f"queue samples every {self.interval} s while any receiver existed: {len(busy)}\n")

        def dist(values: list[float]) -> str:
            if not values:
                return "n/a"
            v = sorted(values)
            pick = lambda q: v[min(len(v) - 1, int(q * (len(v) - 1)))]  # noqa: E731
            return f"p50 {pick(0.5):.1f}  p95 {pick(0.95):.1f}  max {v[-1]:.1f}  (n={len(v)})"

        out.write("deepest decoder input queue (encoded frames waiting for a decoder thread): "
                  f"{dist([max(s[1]) for s in busy])}\n")
        out.write("deepest decoded-frame queue (frames waiting for the relay's reader): "
                  f"{dist([max(s[2]) for s in busy if s[2]])}\n")
        out.write(f"default executor backlog (encode jobs waiting for a worker): {dist([s[3] for s in busy])}\n")
        out.write(f"event loop lag (a 20 ms sleep woke this much late), ms: {dist(self.lags)}; "
                  f"over 100 ms: {sum(1 for x in self.lags if x > 100)} times\n")
        out.write("loss handling: " + (", ".join(f"{k} {v}" for k, v in self.events.items()) or "none") + "\n")
        native, names = self.peak_threads
        out.write(f"threads at the peak: {native} in the process, of which Python threads: "
                  f"{', '.join(f'{n} x {k}' for k, n in sorted(names.items(), key=lambda kv: -kv[1]))}\n")
        out.write(f"VP8 encoder codec contexts opened (first frame, then each bitrate change > 10%): "
                  f"{self.codec_opened.get('encode', 0)}\n")
        for name, calls in self.calls.items():
            out.write(f"{name}: wall ms {dist([c[0] for c in calls])}\n")
            out.write(f"{name}: CPU ms  {dist([c[1] for c in calls])}\n")
        out.write("\ntimeline (time, deepest decoder queue, deepest track queue, executor backlog):\n")
        for t, d, k, p in busy[:: max(1, len(busy) // 60)]:
            out.write(f"{time.strftime('%H:%M:%S', time.localtime(t))} {max(d):4d} {max(k) if k else 0:4d} {p:4d}\n")
        return out.getvalue()


def profile_report(limit: int = 45) -> str:
    import yappi

    out = io.StringIO()
    funcs = yappi.get_func_stats()
    threads = yappi.get_thread_stats()
    total = sum(t.ttot for t in threads) or 1e-9
    out.write(f"CPU seen by yappi: {total:.1f} s over all threads\n\n== threads (CPU seconds) ==\n")
    by_name: dict[str, list[float]] = {}
    for t in threads:
        by_name.setdefault(t.name, []).append(t.ttot)
    for name, times in sorted(by_name.items(), key=lambda kv: -sum(kv[1])):
        out.write(f"{sum(times):8.2f} s {100 * sum(times) / total:5.1f}%  {len(times):3d} x {name}\n")
    for title, key in (("own time (tsub)", "tsub"), ("inclusive time (ttot)", "ttot")):
        out.write(f"\n== functions by {title}, all threads ==\n")
        funcs.sort(key, "desc")
        for stat in list(funcs)[:limit]:
            value = stat.tsub if key == "tsub" else stat.ttot
            out.write(f"{value:8.2f} s {100 * value / total:5.1f}% {stat.ncall:9d}  {stat.name}  "
                      f"({Path(stat.module).name}:{stat.lineno})\n")
    return out.getvalue()


SO_RCVBUFFORCE = 33  # Linux; lets root go past net.core.rmem_max


def force_udp_receive_buffer(size: int) -> None:
    """Give every UDP socket the event loop opens (aioice's, so every ICE candidate) ``size`` bytes of
    receive buffer instead of the kernel default (net.core.rmem_default, often 208 KiB).

    An experiment for the benchmark, not something the gateway does.
    """
    import asyncio
    import socket

    create = asyncio.base_events.BaseEventLoop.create_datagram_endpoint

    async def create_datagram_endpoint(loop, *args: Any, **kwargs: Any):
        transport, protocol = await create(loop, *args, **kwargs)
        sock = transport.get_extra_info("socket")
        if sock is not None:
            try:
                sock.setsockopt(socket.SOL_SOCKET, SO_RCVBUFFORCE, size)
            except OSError:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, size)
        return transport, protocol

    asyncio.base_events.BaseEventLoop.create_datagram_endpoint = create_datagram_endpoint


def luma_signature() -> None:
    """Experiment: the scene-change signature from the luma plane read in place, instead of
    ``frame.to_ndarray(format="gray")`` (which gives each frame its own swscale context and threads)."""
    import cv2
    import numpy as np

    import gateway.media.scenes as scenes
    import gateway.media.session as session

    def signature(frame: Any) -> Any:
        plane = frame.planes[0]
        gray = np.frombuffer(plane, np.uint8).reshape(plane.height, plane.line_size)[:, : plane.width]
        small = cv2.resize(gray, scenes.SIGNATURE_SIZE, interpolation=cv2.INTER_AREA)
        return cv2.GaussianBlur(small, (3, 3), 0).astype(np.float32)

    scenes.signature = session.signature = signature


def aiortc_remb() -> None:
    """The alternative to :mod:`gateway.media.feedback`: every REMB aiortc's estimator gives is sent
    (a throttle with no interval, which only counts them)."""
    import gateway.media.feedback as feedback

    install = feedback.install

    def every_remb(receiver: Any, *args: Any, **kwargs: Any) -> Any:
        return install(receiver, lambda: feedback.RembThrottle(interval_ms=0))

    feedback.install = every_remb  # type: ignore[assignment]


def decode_all_layers() -> None:
    """The alternative to :mod:`gateway.media.layers`: every frame of every temporal layer is
    decoded, as if something always needed them all."""
    import gateway.media.layers as layers

    layers.LayerFilter.every_frame = property(lambda self: True)  # type: ignore[assignment,method-assign]


def main() -> int:
    experiments = set(filter(None, os.environ.get("SCENELINK_PROBE_EXPERIMENTS", "").split(",")))
    if "uvloop" in experiments:
        import uvloop

        uvloop.install()
    if "luma" in experiments:
        luma_signature()
    if "aiortc-remb" in experiments:
        aiortc_remb()
    if "decode-all-layers" in experiments:
        decode_all_layers()
    if os.environ.get("SCENELINK_PROBE_RCVBUF"):
        force_udp_receive_buffer(int(os.environ["SCENELINK_PROBE_RCVBUF"]))
    probe_out = os.environ.get("SCENELINK_PROBE_OUT")
    profile_out = os.environ.get("SCENELINK_PROFILE_OUT")
    probe = Probe() if probe_out else None
    if profile_out:
        import yappi

        yappi.set_clock_type("cpu")
        yappi.start(builtins=True, profile_threads=True)
    from gateway.__main__ import main as gateway_main

    try:
        return gateway_main(sys.argv[1:])
    finally:
        if profile_out:
            import yappi

            yappi.stop()
            Path(profile_out).write_text(profile_report())
        if probe is not None:
            Path(probe_out).write_text(probe.report())


if __name__ == "__main__":
    sys.exit(main())
