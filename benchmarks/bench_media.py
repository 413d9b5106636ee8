"""Benchmark: the gateway's media path against aiortc's example-server pattern, in one run.

    make bench-media            # tests/netns-run .venv/bin/python -m benchmarks.bench_media
    tests/netns-run .venv/bin/python -m benchmarks.bench_media [--quick] [--no-write] [--profile]

Must run inside the private network namespace made by ``tests/netns-run``: every packet stays on
10.99.0.1 there. Starts a real gateway process (its own data directory, TLS on, an operator made with
``scenelink users add``) as configured by default (VP8 viewers forwarded the caller's own frames), a
second one with ``[media] viewer_video = "transcode"`` (every viewer encoded for), and the
alternative (:mod:`benchmarks.relay_server`: a buffered ``MediaRelay``, one encoder per viewer),
then drives all three, phase by phase and one after the other,
with synthetic aiortc callers that send a pre-encoded, frame-stamped VP8 file without encoding it
(:mod:`benchmarks.media_sample`) and aiortc viewers that decode every frame and read its number.

Measured on the server process alone (``/proc/<pid>/stat``, all threads), 640x480 at 15 fps:

[1/5] offer -> first frame decoded by the server (the gateway's ``stream.started`` event), idle server;
[2/5] CPU per caller stream with no viewer, and extra CPU per VP8 viewer;
[3/5] 20 callers each with one viewer, quiet: frames dropped (sent by callers vs decoded by viewers),
      latency caller -> server -> viewer by the stamped frame number (to the server's departure, the
      viewer's socket and the viewer's decoded frame), datagrams the kernel dropped on the server's sockets;
[4/5] the same with 12 callers and a process spinning on one core beside the server;
[5/5] picture quality of a relayed frame, the gateway's VP8 encoder against aiortc's default
      (:mod:`benchmarks.picture_quality`: PSNR and SSIM against the caller's frame), and of a
      forwarded one (bytes and PSNR against the caller's).

Prints progress and the figures, appends the run to ``samples/build/bench_media_runs.jsonl`` and
writes the "Media" section of ``docs/performance.md`` (between ``<!-- media:begin -->`` and
``<!-- media:end -->``; the rest of the file is left alone). Every wait is bounded; the whole run takes
about twelve minutes on 2 cores and stops the processes it started.

``--profile`` instead runs only the 12 x 1 load against a gateway running under yappi (``pip install
yappi``) and prints where the gateway's CPU goes (all threads); it writes no figures.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import os
import platform
import secrets
import shutil
import signal
import socket
import ssl
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import asdict
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from benchmarks import picture_quality  # noqa: E402
from benchmarks import report as report_module  # noqa: E402
from benchmarks.media_peers import Caller, GatewayTarget, RelayTarget, Viewer  # noqa: E402
from benchmarks.media_sample import FPS, HEIGHT, SECONDS, WIDTH, ensure_video  # noqa: E402
from benchmarks.procstat import (  # noqa: E402
    CpuMeter,
    CpuWindow,
    drops_between,
    udp_counters,
    udp_drops_by_socket,
)
from tests.conftest import on_private_test_network  # noqa: E402

HOST = "10.99.0.1"
PYTHON = str(ROOT / ".venv" / "bin" / "python") if (ROOT / ".venv" / "bin" / "python").exists() else sys.executable
BUILD = ROOT / "samples" / "build"
DOC = ROOT / "docs" / "performance.md"
HISTORY = BUILD / "bench_media_runs.jsonl"
BEGIN, END = "<!-- media:begin -->", "<!-- media:end -->"
STARTUP_SECONDS = 40
RUN_LIMIT_SECONDS = 1500  # the whole run is abandoned (and cleaned up) past this
QUIET_PCT, QUIET_WAIT = 40.0, 15.0  # before a CPU or load window, wait up to 15 s for others to use < 40%
RETRY_BEFORE_SECONDS = 300  # a load window disturbed by other processes is repeated once if started before this

# The targets, on this 2-core machine, at 640x480 and 15 fps.
N_CPU = 4  # callers (then viewers) in the CPU-per-stream phase
TARGET_CALLER_PCT = 4.0
TARGET_VIEWER_PCT = 6.0
TARGET_LOAD_CALLERS = 12  # --probe / --profile's default
TARGET_QUIET_CALLERS = 20
TARGET_BUSY_CALLERS = 12
TARGET_DROP_PCT = 5.0
TARGET_P95_MS = 150.0
TARGET_BUSY_P95_MS = 300.0
TARGET_PSNR_LOSS_DB = 1.0
TARGET_FIRST_FRAME_S = 0.6
# Below this the load generator itself was starved (its callers fell behind their 15 fps): the
# window measured the machine, not the server.
STEADY_FPS = 14.5
BUSY_SETTLE = 3.0  # seconds between starting the busy process and the window
QUALITY_FRAMES = 150


def log(text: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {text}", flush=True)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


# ---------------------------------------------------------------------------------------------
# The two server processes


class Server:
    def __init__(self, name: str, argv: list[str], env: dict[str, str], base_url: str, log_path: Path) -> None:
        self.name, self.argv, self.env, self.base_url, self.log_path = name, argv, env, base_url, log_path
        self.proc: subprocess.Popen | None = None
        self._log = None

    def start(self) -> None:
        self._log = open(self.log_path, "wb")
        self.proc = subprocess.Popen(self.argv, env=self.env, cwd=ROOT, stdout=self._log, stderr=subprocess.STDOUT)
        context = ssl.create_default_context()
        context.check_hostname, context.verify_mode = False, ssl.CERT_NONE
        deadline = time.monotonic() + STARTUP_SECONDS
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.name} exited with {self.proc.returncode}:\n{self.tail()}")
            try:
                with urllib.request.urlopen(self.base_url + "/healthz", context=context, timeout=2) as resp:
                    if resp.status == 200:
                        return
            except Exception:
                time.sleep(0.2)
        raise RuntimeError(f"{self.name} was not ready within {STARTUP_SECONDS} s:\n{self.tail()}")

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=5)
        if self._log:
            self._log.close()
            self._log = None

    def tail(self, lines: int = 40) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"


def make_gateway(
    workdir: Path, probe_out: Path | None = None, profile_out: Path | None = None, rcvbuf: int = 0,
    experiments: str = "", viewer_video: str = "forward", name: str = "gateway",
) -> tuple[Server, str]:
    data_dir = workdir / f"{name}-data"
    port = free_port()
    base_url = f"https://{HOST}:{port}"
    password = secrets.token_urlsafe(18)
    env = dict(os.environ)
    env.update({
        "SCENELINK_DATA_DIR": str(data_dir),
        "SCENELINK_HOST": HOST,
        "SCENELINK_PORT": str(port),
        "SCENELINK_PUBLIC_URL": base_url,
        "SCENELINK_ADMIN_PASSWORD": secrets.token_urlsafe(18),
        "SCENELINK_MEDIA_VIEWER_VIDEO": viewer_video,
        "PYTHONUNBUFFERED": "1",
    })
    done = subprocess.run(
        [PYTHON, "-m", "gateway", "users", "add", "bench1", "--role", "handler"],
        input=password + "\n", env=env, cwd=ROOT, capture_output=True, text=True, timeout=60,
    )
    if done.returncode != 0:
        raise RuntimeError(f"`scenelink users add` failed:\n{done.stdout}\n{done.stderr}")
    argv = [PYTHON, "-m", "gateway", "serve"]
    if probe_out is not None or profile_out is not None or experiments:
        argv = [PYTHON, "-m", "benchmarks.instrumented_gateway", "serve"]
        if probe_out is not None:
            env["SCENELINK_PROBE_OUT"] = str(probe_out)
        if profile_out is not None:
            env["SCENELINK_PROFILE_OUT"] = str(profile_out)
        if rcvbuf:
            env["SCENELINK_PROBE_RCVBUF"] = str(rcvbuf)
        if experiments:
            env["SCENELINK_PROBE_EXPERIMENTS"] = experiments
        if probe_out is not None:
            env["SCENELINK_PROBE_STALLS"] = str(probe_out.with_name("bench_media_stalls.txt"))
    return Server(name, argv, env, base_url, workdir / f"{name}.log"), password


def make_relay(workdir: Path) -> Server:
    port = free_port()
    argv = [PYTHON, "-m", "benchmarks.relay_server", "--host", HOST, "--port", str(port)]
    return Server(
        "alternative", argv, dict(os.environ, PYTHONUNBUFFERED="1"), f"http://{HOST}:{port}", workdir / "relay.log"
    )


# ---------------------------------------------------------------------------------------------
# Phases


async def measure(meter: CpuMeter, seconds: float) -> CpuWindow:
    started = meter.start()
    await asyncio.sleep(seconds)
    return meter.stop(started)


async def wait_for_quiet(meter: CpuMeter, limit_pct: float, max_wait: float) -> float:
    """Wait (at most ``max_wait`` s) until other processes use under ``limit_pct`` of a core.

    Other work may share the machine; starting a measurement in a quieter moment makes the
    figures less noisy. Returns the last reading of the others' use.
    """
    deadline = time.monotonic() + max_wait
    while True:
        window = await measure(meter, 2.0)
        if window.others_pct <= limit_pct or time.monotonic() >= deadline:
            if window.others_pct > limit_pct:
                log(f"  other processes still use {window.others_pct:.0f}% of a core: measuring anyway")
            return window.others_pct
        log(f"  other processes use {window.others_pct:.0f}% of a core: waiting for a quieter moment")


async def stop_all(target, callers: list[Caller], viewers: list[Viewer]) -> None:
    for viewer in viewers:
        await asyncio.wait_for(viewer.close(), 10)
    for caller in callers:
        try:
            await asyncio.wait_for(target.stop_caller(caller), 10)
        except Exception as exc:  # keep stopping the others
            log(f"  {target.name}: stopping a caller failed: {exc!r}")


async def gateway_counters(target, callers: list[Caller]) -> dict[str, dict[str, int]] | None:
    """The gateway's own counts per caller, from stream health: frames dropped before decoding
    (the bounded decoder queue), frames dropped while a keyframe was awaited after a stall, stalls
    skipped, keyframe requests (PLI). None for the alternative, which has no such report."""
    if not hasattr(target, "stream_health"):
        return None
    out: dict[str, dict[str, int]] = {}
    for caller in callers:
        stream = await target.stream_health(caller)
        if not stream:
            continue
        queue, keys = stream.get("decoder_queue") or {}, stream.get("keyframes") or {}
        fwd = stream.get("forwarding") or {}
        out[caller.ref["incident"]] = {
            "decoder_dropped": queue.get("dropped", 0), "decoder_overflows": queue.get("overflows", 0),
            "jitter_dropped": keys.get("dropped_frames", 0), "stalls": keys.get("stalls", 0), "plis": keys.get("plis", 0),
            "held_back": fwd.get("held_back", 0), "viewer_overflows": fwd.get("overflows", 0),
        }
    return out


def counters_between(before: dict[str, dict[str, int]] | None, after: dict[str, dict[str, int]] | None) -> dict[str, int] | None:
    """Totals over the callers read both times (stream health is sampled every 2 s)."""
    if before is None or after is None:
        return None
    totals = {"decoder_dropped": 0, "decoder_overflows": 0, "jitter_dropped": 0, "stalls": 0, "plis": 0,
              "held_back": 0, "viewer_overflows": 0}
    for incident, counts in after.items():
        if incident in before:
            for key in totals:
                totals[key] += max(0, counts[key] - before[incident][key])
    return totals


def delivery(callers: list[Caller], viewers: list[Viewer], w0: float, w1: float) -> dict[str, Any]:
    """Frames sent in [w0, w1) against frames the viewers received, and their latency."""
    sent = received = 0
    departed: list[float] = []
    wire: list[float] = []
    decoded: list[float] = []
    per_pair = []
    for viewer in viewers:
        numbers = [n for n, t in viewer.caller.source.sent.items() if w0 <= t < w1]
        got = [n for n in numbers if n in viewer.got]
        sent += len(numbers)
        received += len(got)
        per_pair.append(100 * (1 - len(got) / len(numbers)) if numbers else 100.0)
        for n in got:
            t_sent = viewer.caller.source.sent[n]
            t_decoded, t_wire, t_departed = viewer.got[n]
            if t_decoded is not None:
                decoded.append(1000 * (t_decoded - t_sent))
            if t_wire is not None:
                wire.append(1000 * (t_wire - t_sent))
            if t_departed is not None:
                departed.append(1000 * (t_departed - t_sent))
    send_fps = [len([t for t in c.source.sent.values() if w0 <= t < w1]) / (w1 - w0) for c in callers]
    return {
        "sent": sent,
        "received": received,
        "drop_pct": 100 * (1 - received / sent) if sent else 100.0,
        "worst_pair_drop_pct": max(per_pair) if per_pair else 100.0,
        "departed_ms": percentiles(departed),
        "wire_ms": percentiles(wire),
        "decoded_ms": percentiles(decoded),
        "caller_fps": statistics.mean(send_fps) if send_fps else 0.0,
        "unreadable": sum(v.unreadable for v in viewers),
        "sizes": sorted({f"{w}x{h}" for v in viewers for (w, h) in v.sizes}),
    }


def percentiles(values: list[float]) -> dict[str, float | int | None]:
    if not values:
        return {"n": 0, "p50": None, "p95": None, "max": None}
    ordered = sorted(values)

    def pick(q: float) -> float:
        return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]

    return {"n": len(ordered), "p50": pick(0.5), "p95": pick(0.95), "max": ordered[-1]}


async def phase_first_frame(target, video: Path, sessions: int) -> dict[str, Any]:
    """(e) One caller at a time on an idle server: offer (and consent) -> first frame decoded."""
    offer, consent = [], []
    for _ in range(sessions):
        caller = await asyncio.wait_for(target.start_caller(video), 30)
        offer.append(caller.first_frame_at - caller.offer_at)
        consent.append(caller.first_frame_at - caller.consent_at)
        await asyncio.wait_for(target.stop_caller(caller), 10)
        await asyncio.sleep(0.3)
    return {
        "offer_s": offer, "consent_s": consent,
        "offer_median_s": statistics.median(offer), "consent_median_s": statistics.median(consent),
    }


async def phase_cpu(target, video: Path, meter: CpuMeter, n: int, warmup: float, window: float) -> dict[str, Any]:
    """(a) and (b): CPU idle, with ``n`` callers, then with one viewer each."""
    await wait_for_quiet(meter, QUIET_PCT, QUIET_WAIT)
    idle = await measure(meter, min(5.0, window / 2))
    callers: list[Caller] = []
    viewers: list[Viewer] = []
    try:
        for _ in range(n):
            callers.append(await asyncio.wait_for(target.start_caller(video), 30))
        await asyncio.sleep(warmup)
        with_callers = await measure(meter, window)
        for caller in callers:
            viewers.append(await asyncio.wait_for(target.add_viewer(caller), 30))
        for viewer in viewers:
            await viewer.first_frame()
        await asyncio.sleep(warmup)
        w0 = time.time()
        bytes0 = sum(v.rtp_bytes for v in viewers)
        with_viewers = await measure(meter, window)
        w1 = time.time()
        viewer_kbps = (sum(v.rtp_bytes for v in viewers) - bytes0) * 8 / (w1 - w0) / 1000 / n
        await asyncio.sleep(1.0)  # frames still in flight at the window's end
        light = delivery(callers, viewers, w0, w1)
    finally:
        await stop_all(target, callers, viewers)
    return {
        "idle": asdict(idle), "callers": asdict(with_callers), "viewers": asdict(with_viewers),
        "per_caller_pct": (with_callers.target_pct - idle.target_pct) / n,
        "per_viewer_pct": (with_viewers.target_pct - with_callers.target_pct) / n,
        "viewer_kbps": viewer_kbps, "delivery": light,
    }


async def phase_load(
    target, video: Path, meter: CpuMeter, n: int, warmup: float, window: float, busy: bool = False,
) -> dict[str, Any]:
    """(c) and (d): ``n`` callers, each with one viewer; with ``busy``, a process spinning on one
    core beside the server for the whole window (the stand-in for a loaded machine)."""
    callers: list[Caller] = []
    viewers: list[Viewer] = []
    first_frame = []
    spinner: subprocess.Popen | None = None
    try:
        for i in range(n):
            try:
                caller = await asyncio.wait_for(target.start_caller(video), 30)
            except (TimeoutError, RuntimeError) as exc:
                # On a loaded machine one start can miss its deadline; a second miss ends the run.
                log(f"  {target.name}: caller {i + 1} did not start ({exc!r}); once more")
                caller = await asyncio.wait_for(target.start_caller(video), 60)
            callers.append(caller)
            first_frame.append(caller.first_frame_at - caller.offer_at)
            viewers.append(await asyncio.wait_for(target.add_viewer(caller), 30))
            if (i + 1) % 4 == 0 or i + 1 == n:
                log(f"  {target.name}: {i + 1}/{n} callers with a viewer (offer -> first frame {first_frame[-1]:.2f} s)")
        for viewer in viewers:
            await viewer.first_frame()
        await asyncio.sleep(warmup)
        await wait_for_quiet(meter, QUIET_PCT, QUIET_WAIT)
        if busy:
            spinner = subprocess.Popen([sys.executable, "-c", "while True: pass"])
            log(f"  {target.name}: a busy process (pid {spinner.pid}) spins on one core; {BUSY_SETTLE:.0f} s to settle")
            await asyncio.sleep(BUSY_SETTLE)
        log(f"  {target.name}: measuring for {window:.0f} s")
        health0 = await gateway_counters(target, callers)
        w0 = time.time()
        bytes0 = sum(v.rtp_bytes for v in viewers)
        udp0, server0, loadgen0 = udp_counters(), udp_drops_by_socket(meter.pid), udp_drops_by_socket(os.getpid())
        cpu = await measure(meter, window)
        udp1, server1, loadgen1 = udp_counters(), udp_drops_by_socket(meter.pid), udp_drops_by_socket(os.getpid())
        w1 = time.time()
        viewer_kbps = (sum(v.rtp_bytes for v in viewers) - bytes0) * 8 / (w1 - w0) / 1000 / n
        await asyncio.sleep(2.5)  # frames in flight at the window's end; stream health's next sample
        result = delivery(callers, viewers, w0, w1)
        health1 = await gateway_counters(target, callers)
        result["gateway_counters"] = counters_between(health0, health1)
        # Datagrams the kernel dropped because a socket's receive buffer was full (either process).
        result["udp_rcvbuf_errors"] = udp1["RcvbufErrors"] - udp0["RcvbufErrors"]
        result["udp_in_datagrams"] = udp1["InDatagrams"] - udp0["InDatagrams"]
        result["udp_drops_server"] = drops_between(server0, server1)
        result["udp_drops_loadgen"] = drops_between(loadgen0, loadgen1)
        result["window_s"] = w1 - w0
    finally:
        if spinner is not None:
            spinner.kill()
            spinner.wait(timeout=10)
        await stop_all(target, callers, viewers)
    return {
        "cpu": asdict(cpu), "viewer_kbps": viewer_kbps, "busy": busy,
        "first_frame_under_load_median_s": statistics.median(first_frame), **result,
    }


# ---------------------------------------------------------------------------------------------
# Running it


async def run(args: argparse.Namespace, video: Path, workdir: Path) -> dict[str, Any]:
    started = time.monotonic()
    quick = args.quick
    n_cpu = 2 if quick else N_CPU
    n_quiet, n_busy = (6, 4) if quick else (TARGET_QUIET_CALLERS, TARGET_BUSY_CALLERS)
    warmup, window_cpu, window_load = (3.0, 5.0, 8.0) if quick else (5.0, 10.0, 20.0)
    sessions = 3

    def elapsed() -> str:
        return f"{(time.monotonic() - started) / 60:.1f} min in"

    gateway, password = make_gateway(workdir)
    transcoding, transcoding_password = make_gateway(workdir, viewer_video="transcode", name="transcode")
    relay = make_relay(workdir)
    servers = [gateway, transcoding, relay]
    results: dict[str, Any] = {"gateway": {}, "transcode": {}, "alternative": {}}
    try:
        for server in servers:
            log(f"starting {server.name}: {' '.join(server.argv[1:])}")
            server.start()
        # Viewers count frames without decoding them (see benchmarks/media_peers.py): the load
        # generator's decoding would otherwise take CPU from the server under test.
        # Callers answer a keyframe request with the file's next keyframe, as a phone's encoder
        # does: a forwarding relay that lost a frame waits for one, and a file's own keyframe
        # interval (4 s) would charge it for the load generator, not for itself.
        targets = [
            GatewayTarget(gateway.base_url, "bench1", password, gateway.proc.pid, count_only=True,
                          keyframes_on_request=True),
            GatewayTarget(transcoding.base_url, "bench1", transcoding_password, transcoding.proc.pid,
                          name="transcode", count_only=True, keyframes_on_request=True),
            RelayTarget(relay.base_url, relay.proc.pid, count_only=True, keyframes_on_request=True),
        ]
        try:
            for target in targets:
                await target.open()
            log(f"[1/5] offer -> first frame, {sessions} sessions one at a time on an idle server ({elapsed()})")
            for target in targets:
                r = await phase_first_frame(target, video, sessions)
                results[target.name]["first_frame"] = r
                log(
                    f"  {target.name}: median {r['offer_median_s']:.3f} s after the offer "
                    f"({r['consent_median_s']:.3f} s after consent); all: {', '.join(f'{v:.2f}' for v in r['offer_s'])}"
                )
            log(f"[2/5] CPU: idle, {n_cpu} callers, then one viewer each ({elapsed()})")
            for target in targets:
                r = await phase_cpu(target, video, CpuMeter(target.pid), n_cpu, warmup, window_cpu)
                results[target.name]["cpu"] = r
                d = r["delivery"]
                log(
                    f"  {target.name}: idle {r['idle']['target_pct']:.1f}%, {n_cpu} callers {r['callers']['target_pct']:.1f}%, "
                    f"+{n_cpu} viewers {r['viewers']['target_pct']:.1f}% -> {r['per_caller_pct']:.2f}% per caller, "
                    f"{r['per_viewer_pct']:.2f}% per viewer ({r['viewer_kbps']:.0f} kbit/s each); "
                    f"server-side latency p50/p95 {fmt_ms(d['departed_ms'])}, dropped {d['drop_pct']:.1f}%; "
                    f"other processes {r['viewers']['others_pct']:.0f}%"
                )
            log(f"[3/5] quiet load: {n_quiet} callers, one viewer each, {window_load:.0f} s window ({elapsed()})")
            for target in targets:
                attempts = []
                for _ in range(2):
                    r = await phase_load(target, video, CpuMeter(target.pid), n_quiet, warmup, window_load)
                    attempts.append(r)
                    if (r["cpu"]["others_pct"] <= QUIET_PCT and r["caller_fps"] >= STEADY_FPS) \
                            or time.monotonic() - started > RETRY_BEFORE_SECONDS:
                        break
                    log(f"  {target.name}: other processes used {r['cpu']['others_pct']:.0f}% of a core in that window, "
                        f"the callers sent {r['caller_fps']:.1f} fps (dropped {r['drop_pct']:.1f}%, p95 "
                        f"{fmt_ms(r['departed_ms'])}): once more")
                # The least disturbed window counts: one where the load generator kept its callers at
                # their frame rate, then the one where other processes took least; every attempt is
                # kept in the results.
                r = min(attempts, key=lambda a: (a["caller_fps"] < STEADY_FPS, a["cpu"]["others_pct"]))
                r["attempts"] = [
                    {"others_pct": a["cpu"]["others_pct"], "drop_pct": a["drop_pct"], "departed_ms": a["departed_ms"]}
                    for a in attempts
                ]
                results[target.name]["load"] = r
                log_load(target.name, r)
            log(f"[4/5] busy load: {n_busy} callers, one viewer each, a process spinning on one core beside the "
                f"server, {window_load:.0f} s window ({elapsed()})")
            for target in targets:
                r = await phase_load(target, video, CpuMeter(target.pid), n_busy, warmup, window_load, busy=True)
                results[target.name]["busy"] = r
                log_load(target.name, r)
        finally:
            for target in targets:
                await target.close()
    finally:
        for server in servers:
            server.stop()
        shutil.copy(gateway.log_path, BUILD / "bench_media_gateway.log")
    frames = 45 if quick else QUALITY_FRAMES
    log(f"[5/5] picture quality: {frames} frames of the sample video relayed through each encoder ({elapsed()})")
    results["quality"] = await asyncio.to_thread(picture_quality.measure, video, frames, picture_quality.BITRATES, log)
    f = results["forwarded_quality"] = await asyncio.to_thread(picture_quality.forwarded, video, frames)
    log(f"  forwarded: {f['identical_bytes']} of {f['frames']} frames bit-identical to the caller's, "
        f"worst PSNR {forwarded_psnr_text(f)}")
    return results


def forwarded_psnr_text(f: dict[str, Any]) -> str:
    return "∞ (identical pixels)" if f["psnr_db"] is None else f"{f['psnr_db']:.2f} dB"


def log_load(name: str, r: dict[str, Any]) -> None:
    c = r["cpu"]
    log(
        f"  {name}: dropped {r['drop_pct']:.2f}% of {r['sent']} frames (worst viewer {r['worst_pair_drop_pct']:.1f}%); "
        f"latency p50/p95 server-side {fmt_ms(r['departed_ms'])}, to the viewer's socket {fmt_ms(r['wire_ms'])}, "
        f"kernel UDP drops on the server's sockets {r['udp_drops_server']}; "
        f"CPU {c['target_pct']:.0f}% (main thread {c['main_thread_pct']:.0f}%), "
        f"load generator {c['loadgen_pct']:.0f}%, other processes {c['others_pct']:.0f}%; "
        f"callers sent {r['caller_fps']:.1f} fps, viewers got {r['viewer_kbps']:.0f} kbit/s; RSS {c['rss_mib']:.0f} MiB"
    )
    if r.get("gateway_counters"):
        log(f"  {name}: inside the gateway in the window: {counters_text(r['gateway_counters'])}")


def counters_text(g: dict[str, int]) -> str:
    return (f"{g['decoder_dropped']} frames dropped before decoding ({g['decoder_overflows']} overflows of the "
            f"decoder queue), {g['jitter_dropped']} while a keyframe was awaited after {g['stalls']} stalls, "
            f"{g['plis']} keyframe requests"
            + (f"; forwarding: {g['held_back']} frames held back from viewers awaiting a keyframe, "
               f"{g['viewer_overflows']} viewers restarted for falling behind" if g.get("held_back") or g.get("viewer_overflows") else ""))


def fmt_ms(p: dict) -> str:
    if not p["n"]:
        return "n/a"
    return f"{p['p50']:.0f}/{p['p95']:.0f} ms"


def code_hash() -> str:
    """Which media code was measured: a hash of gateway/media and gateway/live.py as they are on disk."""
    h = hashlib.sha256()
    for path in sorted((ROOT / "gateway" / "media").glob("*.py")) + [
        ROOT / "gateway" / "live.py", ROOT / "gateway" / "web" / "serving.py",
    ]:
        h.update(path.name.encode() + b"\0" + path.read_bytes())
    return h.hexdigest()[:12]


def git_head() -> str:
    try:
        return subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True,
                              timeout=10).stdout.strip() or "?"
    except Exception:
        return "?"


def machine() -> str:
    model = "unknown CPU"
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return f"{os.cpu_count()} cores ({model}), {mem:.0f} GiB, Linux {platform.release()}"


def versions() -> str:
    import aiohttp
    import aiortc
    import av

    return f"Python {platform.python_version()}, aiortc {aiortc.__version__}, PyAV {av.__version__}, aiohttp {aiohttp.__version__}"


# ---------------------------------------------------------------------------------------------
# Report


def summary(results: dict[str, Any]) -> dict[str, Any]:
    g, a = results["gateway"], results["alternative"]
    gl, al, gb, ab = g["load"], a["load"], g["busy"], a["busy"]
    quality = results.get("quality", [])
    return {
        "caller_pct": g["cpu"]["per_caller_pct"],
        "viewer_pct": g["cpu"]["per_viewer_pct"],
        "drop_pct": gl["drop_pct"],
        "departed_p50": gl["departed_ms"]["p50"], "departed_p95": gl["departed_ms"]["p95"],
        "wire_p95": gl["wire_ms"]["p95"], "decoded_p95": gl["decoded_ms"]["p95"],
        "udp_drops": gl["udp_drops_server"],
        "busy_drop_pct": gb["drop_pct"], "busy_departed_p95": gb["departed_ms"]["p95"],
        "busy_udp_drops": gb["udp_drops_server"],
        "light_departed_p95": g["cpu"]["delivery"]["departed_ms"]["p95"],
        "first_frame_s": g["first_frame"]["offer_median_s"],
        "consent_first_frame_s": g["first_frame"]["consent_median_s"],
        "load_cpu_pct": gl["cpu"]["target_pct"],
        "load_others_pct": gl["cpu"]["others_pct"],
        "alt_caller_pct": a["cpu"]["per_caller_pct"],
        "alt_viewer_pct": a["cpu"]["per_viewer_pct"],
        "alt_drop_pct": al["drop_pct"],
        "alt_departed_p95": al["departed_ms"]["p95"],
        "alt_udp_drops": al["udp_drops_server"],
        "alt_busy_drop_pct": ab["drop_pct"], "alt_busy_departed_p95": ab["departed_ms"]["p95"],
        "alt_first_frame_s": a["first_frame"]["offer_median_s"],
        "alt_load_cpu_pct": al["cpu"]["target_pct"],
        "alt_load_others_pct": al["cpu"]["others_pct"],
        "psnr_delta_db": min((q["psnr_delta_db"] for q in quality), default=None),
        **_transcode_summary(results.get("transcode")),
    }


def _transcode_summary(t: dict[str, Any] | None) -> dict[str, Any]:
    """The same gateway with ``[media] viewer_video = "transcode"`` (runs before it was measured: none)."""
    if not t:
        return {}
    return {
        "tr_caller_pct": t["cpu"]["per_caller_pct"], "tr_viewer_pct": t["cpu"]["per_viewer_pct"],
        "tr_drop_pct": t["load"]["drop_pct"], "tr_departed_p95": t["load"]["departed_ms"]["p95"],
        "tr_udp_drops": t["load"]["udp_drops_server"], "tr_load_cpu_pct": t["load"]["cpu"]["target_pct"],
        "tr_busy_drop_pct": t["busy"]["drop_pct"], "tr_busy_departed_p95": t["busy"]["departed_ms"]["p95"],
    }


def ratio(x: float | None, y: float | None) -> str:
    if x is None or y is None:
        return "n/a"
    if abs(y) < 1e-9:
        return "n/a (alternative 0)"
    return f"{x / y:.2f}"


def spread(history: list[dict[str, Any]], key: str, fmt: str) -> str:
    values = [h["summary"][key] for h in history if h["summary"].get(key) is not None]
    if len(values) < 2:
        return "(one run)"
    return f"{fmt.format(min(values))} to {fmt.format(max(values))}"


def _le(x: float | None, y: float | None) -> bool:
    return x is not None and y is not None and x <= y


def checks(s: dict[str, Any], n_quiet: int = TARGET_QUIET_CALLERS, n_busy: int = TARGET_BUSY_CALLERS) -> list[tuple[str, str, str, bool]]:
    """(target, this run, the summary's key for ranges over runs, met)."""
    p95, busy_p95 = s["departed_p95"], s["busy_departed_p95"]
    delta = s["psnr_delta_db"]
    return [
        (f"{n_quiet} callers × 1 viewer, quiet: < {TARGET_DROP_PCT:.0f}% of frames dropped",
         f"{s['drop_pct']:.2f}%", "drop_pct", s["drop_pct"] < TARGET_DROP_PCT),
        (f"… arrival → departure p95 ≤ {TARGET_P95_MS:.0f} ms", f"{p95 or 0:.0f} ms", "departed_p95",
         _le(p95, TARGET_P95_MS)),
        ("… no kernel UDP drops on the gateway's sockets", f"{s['udp_drops']}", "udp_drops", s["udp_drops"] == 0),
        ("… never more drops than aiortc's example pattern (same run)",
         f"{s['drop_pct']:.2f}% against {s['alt_drop_pct']:.2f}%", "drop_pct", _le(s["drop_pct"], s["alt_drop_pct"])),
        ("… never more latency (p95) than aiortc's example pattern (same run)",
         f"{p95 or 0:.0f} ms against {s['alt_departed_p95'] or 0:.0f} ms", "departed_p95",
         _le(p95, s["alt_departed_p95"])),
        (f"{n_busy} callers × 1 viewer, a busy process on one core beside it: < {TARGET_DROP_PCT:.0f}% dropped",
         f"{s['busy_drop_pct']:.2f}%", "busy_drop_pct", s["busy_drop_pct"] < TARGET_DROP_PCT),
        (f"… arrival → departure p95 ≤ {TARGET_BUSY_P95_MS:.0f} ms", f"{busy_p95 or 0:.0f} ms", "busy_departed_p95",
         _le(busy_p95, TARGET_BUSY_P95_MS)),
        (f"relayed picture: PSNR no worse than aiortc's default encoder by more than {TARGET_PSNR_LOSS_DB:.0f} dB",
         "n/a" if delta is None else f"{delta:+.2f} dB (worst bitrate)", "psnr_delta_db",
         delta is not None and delta >= -TARGET_PSNR_LOSS_DB),
        (f"CPU per caller stream (640x480, 15 fps, no viewer) ≤ {TARGET_CALLER_PCT:.0f}% of a core",
         f"{s['caller_pct']:.1f}%", "caller_pct", s["caller_pct"] <= TARGET_CALLER_PCT),
        (f"extra CPU per VP8 viewer ≤ {TARGET_VIEWER_PCT:.0f}% of a core", f"{s['viewer_pct']:.1f}%", "viewer_pct",
         s["viewer_pct"] <= TARGET_VIEWER_PCT),
        (f"offer → first frame decoded at the gateway, median ≤ {TARGET_FIRST_FRAME_S} s",
         f"{s['first_frame_s']:.2f} s", "first_frame_s", s["first_frame_s"] <= TARGET_FIRST_FRAME_S),
    ]


RANGE_FORMATS = {
    "drop_pct": "{:.2f}%", "departed_p95": "{:.0f} ms", "udp_drops": "{}", "busy_drop_pct": "{:.2f}%",
    "busy_departed_p95": "{:.0f} ms", "psnr_delta_db": "{:+.2f} dB", "caller_pct": "{:.1f}%", "viewer_pct": "{:.1f}%",
    "first_frame_s": "{:.2f} s",
}


FINDINGS = """\
### What the gateway does to hold under load, and why

These were found with `--probe` (inside the running gateway, without editing it: every VP8 encode
and decode timed; queue depths, threads and event-loop lag sampled; loss handling counted;
faulthandler dumps when the loop stalls over 250 ms), `--profile` (yappi over all threads) and
`--probe --experiment ...` (a change tried inside the running gateway), on the media code of
2026-11-27, with one or two busy processes beside the benchmark to stand in for a loaded machine.
Each is now in the gateway; these notes live in `benchmarks/bench_media.py` (`FINDINGS`) and are not
re-measured by each run (the tables above are).

- **uvloop** (`gateway/web/serving.py`, `[server] event_loop`). asyncio's datagram transport reads
  one datagram per socket per loop iteration. Under load an iteration took 5-10 ms while a caller's
  socket receives about 110 packets a second plus keyframe bursts, so on a busy machine the 208 KiB
  receive buffers overflowed: 211-601 datagrams dropped by the kernel in a 20 s window, all on the
  gateway's sockets. aiortc's jitter buffer then waited for each lost packet until 512 packets had
  arrived (seconds) and released a burst into the decoder thread's unbounded queue (seen 60 frames
  deep): p50 1.1-1.5 s, p95 2.5-3.4 s at 12 × 1 with two busy processes beside it. Forcing 8 MiB
  receive buffers did not stop the drops; uvloop (libuv reads many datagrams per wake-up) did, in 3
  runs out of 3 under the same stress.
- **The relay's VP8 encoder** (`gateway/media/encoder.py`). Encoding a 640x480 frame for a viewer
  cost about 3.3 ms of CPU with aiortc's settings (`cpu-used -6`, `noise-sensitivity 4`), decoding a
  caller's frame 1.2 ms. aiortc fixes its settings inside `Vp8Encoder.encode`; the gateway's own
  encoder keeps aiortc's packetisation and runs `cpu-used -12`, no noise filter, one thread per encoder
  (the executor already runs many encoders side by side) and error-resilient mode: in the trials 1.6
  ms instead of 2.8 ms a frame (−43%). The picture-quality table above compares it with aiortc's on
  every run. (`-16` was faster still but lost about 4 dB at 500 kbit/s.)
- **Coarser bitrate steps.** aiortc opens a new libvpx encoder, and so sends a keyframe, each time the
  viewer's REMB moves the target bitrate by over 10%: 123 times for 12 viewers in about 30 s. The
  relay's encoder follows the estimate on a ladder (250, 350, 500, 700, 1000, 1500 kbit/s), stepping
  down only when the estimate falls 15% under the step in use.
- **A bounded decoder queue** (`gateway/media/decoding.py`). Past 10 frames waiting for the decoder
  thread, the oldest are dropped up to a keyframe (one is asked for at once when none is waiting)
  and counted in stream health, instead of every later frame being decoded later still.
- **swscale threads on the event loop.** `frame.to_ndarray(format="gray")` on a newly decoded frame
  took about 10 ms (PyAV gives that frame its own swscale context and threads, freed with the frame,
  2.5-13 ms, in whichever thread drops it: the event loop). The scene-change signature reads the luma
  plane in place instead (`gateway/media/frames.luma`).
- **Forwarding** (`gateway/media/forwarding.py`, `[media] viewer_video`). With every viewer
  transcoded, each VP8 viewer cost a VP8 encode per frame: about 4.4% of a core
  per viewer on top of 4.3% per caller, so 20 callers × 1 viewer took the gateway about 146% of a
  core and dropped 9.23% of frames (p95 374 ms) on a quiet machine. A viewer that negotiated VP8 is
  now sent the caller's own encoded frames (tapped where the receiver hands them to its decoder),
  from a keyframe on; aiortc's sender only packs them. The transcoding path stays for a viewer of
  another codec and with `viewer_video = "transcode"`; both appear in the tables above.
- **The synthetic callers answer a keyframe request as a phone does** (PLI or FIR: their next frame
  is the file's next keyframe), for all three servers alike; left to the file's own keyframes
  (every 4 s), a forwarded viewer that lost a frame would wait for the load generator, not the relay.
"""


def attempts_text(load: dict[str, Any]) -> str:
    return "; ".join(
        f"others {a['others_pct']:.0f}%: dropped {a['drop_pct']:.1f}%, p95 {a['departed_ms']['p95'] or 0:.0f} ms"
        for a in load.get("attempts", [])
    )


def _load_rows(label: str, g: dict[str, Any], t: dict[str, Any], a: dict[str, Any]) -> list[str]:
    def ms(r: dict[str, Any], key: str) -> str:
        return fmt_ms(r[key])

    return [
        f"| **{label}**: frames dropped (of {g['sent']} / {t['sent']} / {a['sent']} sent) | **{g['drop_pct']:.2f}%** | {t['drop_pct']:.2f}% | {a['drop_pct']:.2f}% | {ratio(g['drop_pct'], a['drop_pct'])} |",
        f"| … worst single viewer's drop | {g['worst_pair_drop_pct']:.1f}% | {t['worst_pair_drop_pct']:.1f}% | {a['worst_pair_drop_pct']:.1f}% | |",
        f"| … arrival → departure p50 / p95 | **{ms(g, 'departed_ms')}** | {ms(t, 'departed_ms')} | {ms(a, 'departed_ms')} | {ratio(g['departed_ms']['p95'], a['departed_ms']['p95'])} (p95) |",
        f"| … caller → viewer's socket p50 / p95 | {ms(g, 'wire_ms')} | {ms(t, 'wire_ms')} | {ms(a, 'wire_ms')} | {ratio(g['wire_ms']['p95'], a['wire_ms']['p95'])} (p95) |",
        f"| … datagrams the kernel dropped on the server's sockets (of {g['udp_in_datagrams']} / {t['udp_in_datagrams']} / {a['udp_in_datagrams']} received on the machine) | **{g['udp_drops_server']}** | {t['udp_drops_server']} | {a['udp_drops_server']} | |",
        f"| … server CPU | {g['cpu']['target_pct']:.0f}% | {t['cpu']['target_pct']:.0f}% | {a['cpu']['target_pct']:.0f}% | {ratio(g['cpu']['target_pct'], a['cpu']['target_pct'])} |",
        f"| … CPU of other processes / of the load generator | {g['cpu']['others_pct']:.0f}% / {g['cpu']['loadgen_pct']:.0f}% | {t['cpu']['others_pct']:.0f}% / {t['cpu']['loadgen_pct']:.0f}% | {a['cpu']['others_pct']:.0f}% / {a['cpu']['loadgen_pct']:.0f}% | |",
        f"| … viewers' bitrate each; frames not matched to a number | {g['viewer_kbps']:.0f} kbit/s; {g['unreadable']} | {t['viewer_kbps']:.0f} kbit/s; {t['unreadable']} | {a['viewer_kbps']:.0f} kbit/s; {a['unreadable']} | |",
        f"| … server RSS, threads | {g['cpu']['rss_mib']:.0f} MiB, {g['cpu']['threads']} | {t['cpu']['rss_mib']:.0f} MiB, {t['cpu']['threads']} | {a['cpu']['rss_mib']:.0f} MiB, {a['cpu']['threads']} | |",
    ] + ([
        f"| … inside the gateway, from its stream health | {counters_text(g['gateway_counters'])} | {counters_text(t['gateway_counters']) if t.get('gateway_counters') else ''} | (not reported) | |",
    ] if g.get("gateway_counters") else [])


def report(results: dict[str, Any], history: list[dict[str, Any]], meta: dict[str, Any]) -> str:
    g, t, a = results["gateway"], results["transcode"], results["alternative"]
    s = summary(results)
    n_cpu, n_quiet, n_busy = meta["n_cpu"], meta["n_load"], meta["n_busy"]
    same = [h for h in history if h["code"] == meta["code"] and not h.get("quick") and "busy_drop_pct" in h["summary"]]
    gl, al, gb, ab = g["load"], a["load"], g["busy"], a["busy"]
    tl, tb, tc = t["load"], t["busy"], t["cpu"]
    gc, ac = g["cpu"], a["cpu"]
    load_before, load_after = meta["loadavg_before"], meta["loadavg_after"]
    lines = [
        "## Media",
        "",
        "Reproduce with `make bench-media`, which runs `tests/netns-run .venv/bin/python -m benchmarks.bench_media` "
        f"from the repository root (this run took {meta['minutes']:.1f} minutes, progress printed as it goes; every "
        "packet stays inside the private network namespace).",
        "",
        f"- Machine: {meta['machine']}; {meta['versions']}. Load average (1, 5, 15 min) "
        f"{', '.join(f'{x:.1f}' for x in load_before)} when the run began and {', '.join(f'{x:.1f}' for x in load_after)} "
        "when it ended; the CPU taken by other processes during each window is in the tables, and each window first "
        f"waits (up to {QUIET_WAIT:.0f} s) for them to use under {QUIET_PCT:.0f}% of a core. Absolute figures depend "
        "on the machine and its load; the gateway (forwarding, the default), the same gateway transcoding and the "
        "alternative are measured in the same run, one after the other, with the same callers.",
        f"- This run: {meta['when']}, commit {meta['git']}, media code {meta['code']} (a hash of `gateway/media`, "
        f"`gateway/live.py` and `gateway/web/serving.py`). Ranges are over the {len(same)} full run(s) of that code "
        "recorded on this machine (`samples/build/bench_media_runs.jsonl`).",
        f"- Load: synthetic aiortc callers send a pre-encoded, camera-like VP8 file without encoding it "
        f"({WIDTH}x{HEIGHT}, {FPS} fps, about {meta['video_kbps']:.0f} kbit/s, a keyframe every 4 s, each frame's number "
        "stamped in as blocks; looped with RTP timestamps that keep rising). aiortc viewers decode frames until one's "
        "number reads, which ties the stream's RTP timestamps to frame numbers (a keyframe every few seconds is decoded "
        "to check it); they count each frame whose packets have all arrived, by its RTP timestamp, "
        "without decoding it (decoding every frame of 20 viewers took the load generator a third of a core, which the "
        "server then lacked; a real viewer is a browser elsewhere). Callers and viewers run in one process (the "
        "load generator), separate from the server, and go through the real API over HTTPS (operator login with CSRF, "
        "incident, link, the caller's page, consent, offer, viewer). The gateway is `scenelink serve` as `make run` "
        "starts it, once as configured by default (`[media] viewer_video = \"forward\"`: each VP8 viewer is sent "
        "the caller's own encoded frames, nothing decoded or encoded for it) and once with `viewer_video = "
        "\"transcode\"` (each viewer's frames decoded and encoded again by the gateway's VP8 encoder, as before "
        "forwarding). A forwarded viewer starts at the caller's next keyframe, which a browser sends when asked "
        "(a PLI); the synthetic callers send a file and cannot, so a forwarded viewer that falls behind waits up to "
        "the file's 4 s keyframe interval, frames a browser caller would not lose.",
        "- The alternative is aiortc's example-server pattern (`benchmarks/relay_server.py`: one module-level "
        "`MediaRelay()`, every consumer a buffered `relay.subscribe(track)`, a blackhole sink, one aiortc encoder per "
        "viewer, asyncio's event loop).",
        '- Latency is matched frame by frame through the stamped number. "Arrival → departure" runs from the caller '
        "sending a frame (it reaches the server within the same millisecond on this network) to the server sending "
        "the frame's last packet to the viewer (the RTP abs-send-time it writes into each packet; one clock). It "
        "includes aiortc's receive jitter buffer, which releases a frame only when the next frame's first packet "
        f"arrives: about one frame interval, {1000 / FPS:.0f} ms at {FPS} fps. A frame is dropped when a caller sent "
        "it and its viewer never received all of it.",
        f"- Busy: for the {n_busy} × 1 window a process spinning on one core (`python -c 'while True: pass'`) runs "
        f"beside the server, started {BUSY_SETTLE:.0f} s before the window.",
        "- CPU is the server process alone (all its threads, `/proc/<pid>/stat`): per caller = (with callers − idle) "
        "/ callers; per viewer = (with viewers − with callers) / viewers.",
        "",
        "### Targets",
        "",
        "| target | this run | range over runs | met |",
        "|---|---:|---:|:---:|",
    ]
    for text, value, key, ok in checks(s, n_quiet, n_busy):
        lines.append(f"| {text} | {value} | {spread(same, key, RANGE_FORMATS[key])} | {'yes' if ok else '**no**'} |")
    disturbed = any(len(r.get("attempts", [])) > 1 for r in (gl, tl, al))
    lines += [
        "",
        "### Gateway forwarding, gateway transcoding, aiortc's example pattern (same run)",
        "",
        "| | gateway, forwarding (default) | gateway, transcoding | example pattern | forwarding / example |",
        "|---|---:|---:|---:|---:|",
        *_load_rows(f"{n_quiet} callers × 1 viewer, quiet", gl, tl, al),
        *_load_rows(f"{n_busy} callers × 1 viewer, a busy process beside it", gb, tb, ab),
        f"| CPU per caller stream, no viewer ({n_cpu} callers) | {s['caller_pct']:.1f}% | {s['tr_caller_pct']:.1f}% | {s['alt_caller_pct']:.1f}% | {ratio(s['caller_pct'], s['alt_caller_pct'])} |",
        f"| extra CPU per VP8 viewer ({n_cpu} viewers; {gc['viewer_kbps']:.0f} / {tc['viewer_kbps']:.0f} / {ac['viewer_kbps']:.0f} kbit/s each) | **{s['viewer_pct']:.1f}%** | {s['tr_viewer_pct']:.1f}% | {s['alt_viewer_pct']:.1f}% | {ratio(s['viewer_pct'], s['alt_viewer_pct'])} |",
        f"| server RSS idle, before any caller | {gc['idle']['rss_mib']:.0f} MiB | {tc['idle']['rss_mib']:.0f} MiB | {ac['idle']['rss_mib']:.0f} MiB | |",
        f"| offer → first frame decoded, idle server, median | {s['first_frame_s']:.2f} s | {t['first_frame']['offer_median_s']:.2f} s | {s['alt_first_frame_s']:.2f} s | {ratio(s['first_frame_s'], s['alt_first_frame_s'])} |",
        f"| offer → first frame while the {n_quiet} × 1 load builds up, median | {gl['first_frame_under_load_median_s']:.2f} s | {tl['first_frame_under_load_median_s']:.2f} s | {al['first_frame_under_load_median_s']:.2f} s | |",
        "",
        f"Frames the viewers received: {', '.join(gl['sizes']) or 'none'}; the callers sent {gl['caller_fps']:.1f} fps "
        "on average. The example pattern's buffered relay never skips a frame: when its encoders fall behind, frames "
        "wait in the relay's queues and latency grows instead, so compare drop rate and latency together. The "
        "gateway's unbuffered relay hands each encoder the newest frame and drops the rest; forwarding encodes "
        "nothing, and a forwarded viewer more than 10 frames behind restarts at the next keyframe."
        + (f" A quiet window disturbed by other processes, or in which the load generator could not keep its callers at 15 fps, was measured once more and the steadier one kept: "
           f"{attempts_text(gl)} for the gateway forwarding, {attempts_text(tl)} transcoding, {attempts_text(al)} for the example pattern." if disturbed else ""),
        "",
        "### Picture quality of a relayed frame (same run)",
        "",
        f"The caller's frames as the gateway decodes them (the first {results['quality'][0]['frames'] if results.get('quality') else 0} "
        "frames of the benchmark's video) are encoded for a viewer, packetised, depacketised and decoded again, and "
        "compared with the caller's frame: luma PSNR and SSIM (11x11 Gaussian window), means over the frames (worst "
        "frame in brackets), by the gateway's encoder and by aiortc's default `Vp8Encoder` at the same target bitrate "
        "(`python -m benchmarks.picture_quality`). Encode time is the median CPU time of one frame, in this run.",
        "",
        "| target bitrate | gateway's encoder PSNR / SSIM | aiortc's default PSNR / SSIM | PSNR difference | encode ms a frame, gateway / aiortc | kbit/s produced, gateway / aiortc |",
        "|---:|---:|---:|---:|---:|---:|",
    ]
    for q in results.get("quality", []):
        r, d = q["relay"], q["aiortc"]
        lines.append(
            f"| {q['bitrate'] // 1000} kbit/s | {r['psnr_db']:.2f} dB ({r['psnr_min_db']:.1f}) / {r['ssim']:.4f} ({r['ssim_min']:.3f}) "
            f"| {d['psnr_db']:.2f} dB ({d['psnr_min_db']:.1f}) / {d['ssim']:.4f} ({d['ssim_min']:.3f}) | **{q['psnr_delta_db']:+.2f} dB** "
            f"| {r['encode_ms']:.2f} / {d['encode_ms']:.2f} ({ratio(r['encode_ms'], d['encode_ms'])}) | {r['kbps']:.0f} / {d['kbps']:.0f} |"
        )
    f = results.get("forwarded_quality")
    if f:
        lines += [
            "",
            f"Forwarded (the default for a VP8 viewer): the caller's encoded frames packed as the gateway's sender "
            f"packs them, depacketised and decoded as a viewer does: **{f['identical_bytes']} of {f['frames']} frames "
            f"bit-identical** to the caller's, PSNR against the caller's frame {forwarded_psnr_text(f)}: a forwarded "
            "viewer sees exactly what the caller sent, at the caller's bitrate (no per-viewer bitrate adaptation)."
            + (f" Packing a frame for a forwarded viewer took {f['pack_ms']:.3f} ms of CPU (median), against the "
               "encode times above for a transcoded one." if f.get("pack_ms") is not None else ""),
        ]
    lines += ["", FINDINGS.rstrip()]
    return "\n".join(lines)


def write_doc(section: str) -> None:
    report_module.write_section(BEGIN, END, section, doc=DOC)


def load_history() -> list[dict[str, Any]]:
    if not HISTORY.exists():
        return []
    out = []
    for line in HISTORY.read_text().splitlines():
        try:
            out.append(json.loads(line))
        except ValueError:
            continue
    return out


# ---------------------------------------------------------------------------------------------
# Profiling


async def run_instrumented(args: argparse.Namespace, video: Path, workdir: Path) -> None:
    """Only the load phase, against a gateway with the probe (and, with --profile, yappi) attached."""
    probe_out = BUILD / "bench_media_probe.txt"
    profile_out = BUILD / "bench_media_profile.txt" if args.profile else None
    for path in (probe_out, profile_out):
        if path is not None and path.exists():
            path.unlink()
    gateway, password = make_gateway(
        workdir, probe_out=probe_out, profile_out=profile_out, rcvbuf=args.rcvbuf, experiments=args.experiment
    )
    if args.rcvbuf:
        from benchmarks.instrumented_gateway import force_udp_receive_buffer

        force_udp_receive_buffer(args.rcvbuf)  # the load generator's sockets too
        log(
            f"every UDP socket of the gateway and of the load generator gets a {args.rcvbuf // 1024} KiB receive buffer"
        )
    n = args.callers or (6 if args.quick else TARGET_LOAD_CALLERS)
    try:
        if args.experiment:
            log(f"experiments applied inside the gateway: {args.experiment}")
        log(f"starting the gateway with the probe{' and yappi (all threads, CPU clock)' if args.profile else ''}")
        gateway.start()
        target = GatewayTarget(gateway.base_url, "bench1", password, gateway.proc.pid)
        await target.open()
        try:
            r = await phase_load(target, video, CpuMeter(target.pid), n, 5.0, 8.0 if args.quick else 20.0)
            c = r["cpu"]
            log(f"  UDP datagrams dropped by the kernel (receive buffers full) in the window: {r['udp_rcvbuf_errors']} "
                f"of {r['udp_in_datagrams']}: {r['udp_drops_server']} on the gateway's sockets, "
                f"{r['udp_drops_loadgen']} on the load generator's")
            log(f"  {n} callers x 1 viewer, instrumented: dropped {r['drop_pct']:.1f}%, gateway-side latency p50/p95 "
                f"{fmt_ms(r['departed_ms'])}, CPU {c['target_pct']:.0f}% (main thread {c['main_thread_pct']:.0f}%), "
                f"load generator {c['loadgen_pct']:.0f}%, machine {c['machine_busy_pct']:.0f}%")
        finally:
            await target.close()
    finally:
        gateway.stop()
        shutil.copy(gateway.log_path, BUILD / "bench_media_gateway.log")
    for path in (probe_out, profile_out):
        if path is None:
            continue
        if path.exists():
            print(path.read_text()[:12000])
            log(f"written to {path.relative_to(ROOT)}")
        else:
            log(f"the gateway wrote no {path.name} (for --profile: is yappi installed?)")


# ---------------------------------------------------------------------------------------------


def _interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer callers, shorter windows (a smoke run)")
    parser.add_argument("--no-write", action="store_true", help="leave docs/performance.md alone")
    parser.add_argument("--probe", action="store_true",
                        help="only the 12 x 1 load, with queue depths and codec timings sampled inside the gateway")
    parser.add_argument("--profile", action="store_true", help="as --probe, plus yappi over all the gateway's threads")
    parser.add_argument("--callers", type=int, default=0, help="callers for --probe/--profile (default 12)")
    parser.add_argument("--experiment", default="",
                        help="with --probe: comma-separated changes tried on the running gateway without editing it: "
                             "'luma' (scene signature from the luma plane, no swscale), 'uvloop' (uvloop event loop)")
    parser.add_argument("--rcvbuf", type=int, default=0,
                        help="with --probe: force this UDP receive buffer (bytes) on every socket, an experiment")
    args = parser.parse_args(argv)

    if not on_private_test_network():
        print(
            f"bench_media: not on the private test network ({HOST} and nothing beyond): run it inside the private network namespace:\n"
            "  tests/netns-run .venv/bin/python -m benchmarks.bench_media",
            file=sys.stderr,
        )
        return 2
    BUILD.mkdir(parents=True, exist_ok=True)
    t0 = time.monotonic()
    loadavg_before = os.getloadavg()
    video = ensure_video()
    video_kbps = video.stat().st_size * 8 / SECONDS / 1000
    log(f"sample video: {video.relative_to(ROOT)} ({video.stat().st_size / 1e6:.1f} MB, ~{video_kbps:.0f} kbit/s)")

    # A SIGTERM (e.g. from a timeout wrapper) unwinds like Ctrl-C, so the servers are stopped.
    signal.signal(signal.SIGTERM, _interrupt)
    with tempfile.TemporaryDirectory(prefix="bench-media-") as tmp:
        workdir = Path(tmp)
        if args.probe or args.profile:
            asyncio.run(asyncio.wait_for(run_instrumented(args, video, workdir), RUN_LIMIT_SECONDS))
            return 0
        results = asyncio.run(asyncio.wait_for(run(args, video, workdir), RUN_LIMIT_SECONDS))

    meta = {
        "when": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "git": git_head(), "code": code_hash(),
        "machine": machine(), "versions": versions(), "video_kbps": video_kbps, "quick": args.quick,
        "n_cpu": 2 if args.quick else N_CPU, "n_load": 6 if args.quick else TARGET_QUIET_CALLERS,
        "n_busy": 4 if args.quick else TARGET_BUSY_CALLERS, "loadavg_before": loadavg_before,
        "loadavg_after": os.getloadavg(), "minutes": (time.monotonic() - t0) / 60,
    }
    record = {**meta, "summary": summary(results), "results": results}
    with open(HISTORY, "a") as fh:
        fh.write(json.dumps(record) + "\n")
    history = load_history()
    section = report(results, history, meta)
    print()
    print(section)
    print()
    for text, value, _, ok in checks(summary(results), meta["n_load"], meta["n_busy"]):
        print(f"[{'ok' if ok else 'MISSED'}] {text}: {value}")
    if not args.no_write and not args.quick:
        write_doc(section)
        log(f"wrote the Media section of {DOC.relative_to(ROOT)}")
    log(f"done in {time.monotonic() - t0:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
