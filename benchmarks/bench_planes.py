"""Benchmark: the two media planes side by side, with the same synthetic callers and viewers.

    make bench-planes           # tests/netns-run .venv/bin/python -m benchmarks.bench_planes
    tests/netns-run .venv/bin/python -m benchmarks.bench_planes [--callers N] [--viewers V]
        [--ceiling-steps 4,8,...] [--workers W] [--planes embedded,janus] [--no-write]

Runs a real gateway with the embedded plane, then one with Debian's Janus as its plane (started
with the deployment guide's files, as the tests do), one after the other, and drives each with the
synthetic callers and viewers of :mod:`benchmarks.media_peers` (pre-encoded, frame-stamped VP8
640x480 at 15 fps, looped with rising timestamps; viewers count frames by RTP timestamp and decode
a keyframe now and then to check the numbering, and one viewer per load-generator process decodes every
frame as a running check). The callers and viewers run in ``--workers`` processes of their own
(:mod:`benchmarks.peer_worker`), so the load generator is not held to one core. For each plane:

- gateway CPU with N callers and no viewer, then with V viewers per caller: CPU per caller and per
  viewer (``/proc/<pid>/stat``, all threads); with Janus, Janus's own CPU beside it;
- frames the viewers missed of those the callers sent, and the latency from the caller sending a
  frame to its last packet reaching the viewer's socket (through the gateway, or through Janus);
- the ceiling: callers (each with V viewers) added step by step (``--ceiling-steps``; the earlier
  ones stay) until more than 5% of frames are dropped; each step says what limited it: the load
  generator (a process of it near a full core, or callers late), the machine's CPU, or the plane.

Writes the "Media planes" section of ``docs/performance.md`` (between ``<!-- planes:begin -->``
and ``<!-- planes:end -->``) and appends the run to ``samples/build/bench_planes_runs.jsonl``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from benchmarks.bench_media import (  # noqa: E402
    HOST,
    PYTHON,
    QUIET_PCT,
    QUIET_WAIT,
    STEADY_FPS,
    fmt_ms,
    log,
    make_gateway,
    measure,
    percentiles,
    wait_for_quiet,
)
from benchmarks.media_sample import LAYERED_PATH, ensure_video  # noqa: E402
from benchmarks.procstat import CpuMeter, CpuWindow, process_cpu_seconds  # noqa: E402
from benchmarks.report import machine, write_section  # noqa: E402
from tests.conftest import on_private_test_network  # noqa: E402
from tests.services.janus import janus_server  # noqa: E402

BEGIN, END = "<!-- planes:begin -->", "<!-- planes:end -->"
BUILD = ROOT / "samples" / "build"
CEILING_DROP_PCT = 5.0
TARGET_CALLERS, TARGET_DROP_PCT, TARGET_P95_MS = 50, 2.0, 100.0  # the Janus plane's target, 50 x 2
LOADGEN_FULL_PCT = 85.0  # a load-generator process above this share of a core is itself a limit
MACHINE_FULL_PCT = 185.0  # of 200 on 2 cores: the machine's CPU is a limit
LOADGEN_LAG_MS = 50.0  # a load-generator event loop this late (p95) delays frames itself
INTRO = """\
The embedded relay forwards the caller's own VP8 frames to each VP8 viewer (`[media] viewer_video =
"forward"`, the default; with `"transcode"`, or for a viewer of another codec, it encodes once per
viewer); with Janus the gateway receives each caller once (its own subscription, for snapshots, recording and
health) and Janus forwards to viewers. `make bench-planes` runs both planes one after the other
with the same synthetic callers and viewers. The callers send a pre-encoded, frame-stamped VP8
file (640x480, 15 fps, about 1.2 Mbit/s, a keyframe every 4 s) in three temporal layers with the
layer in each packet, as Chromium sends the caller page's video (`--unlayered`: without), looped with timestamps that keep
rising where the file starts again, so an RTP timestamp names one frame however long a caller
lives, through the gateway and through Janus (which forwards the caller's timestamps shifted by an
offset). A synthetic caller answers a keyframe request (PLI/FIR) as a phone does, at once: its
next frame is the file's next keyframe, and the file plays on from there (`--ignore-keyframe-requests`
sends the file straight on, as bench-media's callers do; a plane that drops frames after a loss
until the next keyframe then loses up to 4 s of frames). The viewers count each frame complete at their socket by its RTP timestamp without decoding
it, once a decoded frame's stamp has tied RTP timestamps to frame numbers; they decode a keyframe
every few seconds to check that tie against the stamp in the picture, and one viewer per
load-generator process decodes every frame as a running check (its drops are in the run's log and
`samples/build/bench_planes_runs.jsonl`; misnumbered frames are counted below). Callers and viewers
run in separate load-generator processes, so they are not held to one core; but they share the
machine's two cores with the gateway and Janus, so each step reports the load generator's CPU (all
its processes, and the busiest one) and what limited it."""


LIMITS = f"""\
What limited a step, from its own figures: *load generator*, a load-generator process used over
{LOADGEN_FULL_PCT:.0f}% of a core or a caller sent under {STEADY_FPS} fps; *load generator late*, its event
loop ran timers over {LOADGEN_LAG_MS:.0f} ms late (p95), starved of CPU, which delays frames by itself
and so inflates drops and latency; *machine CPU*, all processes together used over
{MACHINE_FULL_PCT:.0f}% of the 2 cores, so the gateway, Janus, the load generator and any other work on
the machine (*others*) took CPU from each other; *gateway event loop*, the gateway's main thread near
a full core. A step with none of these (-) was limited by the plane itself."""


class LoadGenerator:
    """Worker processes (:mod:`benchmarks.peer_worker`), each holding some callers with their viewers."""

    def __init__(self, workers: int, decode_sample: bool, keyframes_on_request: bool = True) -> None:
        self.n = workers
        self.decode_sample = decode_sample
        self.keyframes_on_request = keyframes_on_request
        self.procs: list[asyncio.subprocess.Process] = []
        self.callers = [0] * workers
        self._locks: list[asyncio.Lock] = []

    @property
    def pids(self) -> tuple[int, ...]:
        return tuple(p.pid for p in self.procs)

    async def open(self, base_url: str, username: str, password: str, video: Path) -> None:
        for _ in range(self.n):
            proc = await asyncio.create_subprocess_exec(
                PYTHON, "-m", "benchmarks.peer_worker", cwd=ROOT,
                stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
                limit=64 * 1024 * 1024, env=dict(os.environ, PYTHONUNBUFFERED="1"),
            )
            self.procs.append(proc)
            self._locks.append(asyncio.Lock())
        await asyncio.gather(*(self._call(i, {
            "op": "open", "base_url": base_url, "username": username, "password": password,
            "video": str(video), "decode_sample": self.decode_sample,
            "keyframes_on_request": self.keyframes_on_request, "tag": f"{time.strftime('%H%M%S')}-{i + 1}",
        }) for i in range(self.n)))

    async def _call(self, i: int, cmd: dict[str, Any], timeout: float = 900) -> dict[str, Any]:
        proc = self.procs[i]
        assert proc.stdin is not None and proc.stdout is not None
        async with self._locks[i]:
            proc.stdin.write((json.dumps(cmd) + "\n").encode())
            await proc.stdin.drain()
            line = await asyncio.wait_for(proc.stdout.readline(), timeout)
        if not line:
            raise RuntimeError(f"load-generator process {proc.pid} exited")
        body = json.loads(line)
        if "error" in body:
            raise RuntimeError(body["error"])
        return body

    async def add(self, callers: int, viewers: int) -> None:
        """``callers`` more callers with ``viewers`` viewers each, spread evenly, started in parallel."""
        share = [0] * self.n
        for _ in range(callers):
            i = min(range(self.n), key=lambda k: self.callers[k] + share[k])
            share[i] += 1
        # A generous time for each process's share (a caller and its viewers take a second or two on
        # a quiet machine); every process answers before the first failure is raised.
        deadline = time.time() + 60 + 8 * max(share)
        replies = await asyncio.gather(*(self._call(i, {"op": "start", "callers": share[i], "viewers": viewers,
                                                        "deadline": deadline})
                                         for i in range(self.n) if share[i]), return_exceptions=True)
        for i in range(self.n):
            self.callers[i] += share[i]
        for r in replies:
            if isinstance(r, BaseException):
                raise r

    async def watch(self, viewers: int) -> None:
        await asyncio.gather(*(self._call(i, {"op": "watch", "viewers": viewers}) for i in range(self.n)))

    async def delivery(self, w0: float, w1: float) -> dict[str, Any]:
        parts = await asyncio.gather(*(self._call(i, {"op": "delivery", "w0": w0, "w1": w1}) for i in range(self.n)))
        sent = sum(p["sent"] for p in parts)
        received = sum(p["received"] for p in parts)
        fps = [f for p in parts for f in p["caller_fps"]]
        d_sent = sum(p["decoding_sent"] for p in parts)
        d_received = sum(p["decoding_received"] for p in parts)
        lags = [p["lag_p95_ms"] for p in parts if p["lag_p95_ms"] is not None]
        return {
            "sent": sent, "received": received, "drop_pct": 100 * (1 - received / sent) if sent else 100.0,
            "worst_pair_drop_pct": max((p["worst_pair_drop_pct"] for p in parts), default=100.0),
            # the viewers that decode every frame, numbered by their stamps: a check on the counting
            "decoding_drop_pct": 100 * (1 - d_received / d_sent) if d_sent else None,
            "wire_ms": percentiles([x for p in parts for x in p["wire_ms"]]),
            "caller_fps": sum(fps) / len(fps) if fps else 0.0,
            "slowest_caller_fps": min(fps) if fps else 0.0,
            "unreadable": sum(p["unreadable"] for p in parts),
            "verified": sum(p["verified"] for p in parts),
            "misnumbered": sum(p["misnumbered"] for p in parts),
            "sizes": sorted({s for p in parts for s in p["sizes"]}),
            "keyframes_on_request": sum(p["keyframes_on_request"] for p in parts),  # since the callers started
            "loop_lag_p95_ms": max(lags) if lags else None,
        }

    async def stop(self) -> None:
        await asyncio.gather(*(self._call(i, {"op": "stop"}, 300) for i in range(self.n)))
        self.callers = [0] * self.n

    async def close(self) -> None:
        for proc in self.procs:
            if proc.returncode is None and proc.stdin is not None:
                try:
                    proc.stdin.write(b'{"op": "exit"}\n')
                    await proc.stdin.drain()
                except (BrokenPipeError, ConnectionResetError):
                    pass
        for proc in self.procs:
            try:
                await asyncio.wait_for(proc.wait(), 60)
            except TimeoutError:
                proc.kill()
                await proc.wait()
        self.procs = []


class Window:
    """CPU over a window: the gateway (CpuMeter), Janus, each load-generator process."""

    def __init__(self, gateway_pid: int, janus_pid: int | None, loadgen: LoadGenerator) -> None:
        self.meter = CpuMeter(gateway_pid, loadgen.pids)
        self.janus_pid = janus_pid
        self.loadgen = loadgen

    async def measure(self, seconds: float) -> dict[str, Any]:
        pids = self.loadgen.pids
        j0 = process_cpu_seconds(self.janus_pid) if self.janus_pid else 0.0
        p0 = [process_cpu_seconds(p) for p in pids]
        started = self.meter.start()
        w0 = time.time()
        await asyncio.sleep(seconds)
        w1 = time.time()
        cpu: CpuWindow = self.meter.stop(started)
        elapsed = cpu.seconds
        janus = 100 * (process_cpu_seconds(self.janus_pid) - j0) / elapsed if self.janus_pid else None
        busiest = max((100 * (process_cpu_seconds(p) - c0) / elapsed for p, c0 in zip(pids, p0, strict=True)),
                      default=0.0)
        others = max(0.0, cpu.others_pct - (janus or 0.0))
        return {"w0": w0, "w1": w1, "gateway_pct": cpu.target_pct, "gateway_main_pct": cpu.main_thread_pct,
                "janus_pct": janus, "loadgen_pct": cpu.loadgen_pct, "loadgen_busiest_pct": busiest,
                "machine_pct": cpu.machine_busy_pct, "others_pct": others}


def limit_of(cpu: dict[str, Any], seen: dict[str, Any]) -> str:
    """What held a step back, from its own figures."""
    reasons = []
    if cpu["loadgen_busiest_pct"] >= LOADGEN_FULL_PCT or seen["slowest_caller_fps"] < STEADY_FPS:
        reasons.append("load generator")
    elif (seen["loop_lag_p95_ms"] or 0.0) >= LOADGEN_LAG_MS:
        reasons.append(f"load generator late (event loop {seen['loop_lag_p95_ms']:.0f} ms behind, p95)")
    if cpu["machine_pct"] >= MACHINE_FULL_PCT:
        reasons.append("machine CPU")
    if cpu["gateway_main_pct"] >= 90.0:
        reasons.append("gateway event loop")
    return ", ".join(reasons) or "-"


async def measure_plane(loadgen: LoadGenerator, gateway_pid: int, janus_pid: int | None, n: int, v: int,
                        warmup: float, window: float) -> dict[str, Any]:
    """CPU idle, with ``n`` callers, then with ``v`` viewers each; drops and latency with viewers."""
    win = Window(gateway_pid, janus_pid, loadgen)
    await wait_for_quiet(win.meter, QUIET_PCT, QUIET_WAIT)
    idle = await measure(win.meter, 4.0)
    try:
        await loadgen.add(n, 0)
        await asyncio.sleep(warmup)
        with_callers = await win.measure(window)
        await loadgen.watch(v)
        await asyncio.sleep(warmup)
        await wait_for_quiet(win.meter, QUIET_PCT, QUIET_WAIT)
        with_viewers = await win.measure(window)
        await asyncio.sleep(1.5)  # frames in flight at the window's end
        seen = await loadgen.delivery(with_viewers["w0"], with_viewers["w1"])
    finally:
        await loadgen.stop()
    return {
        "callers": n, "viewers_per_caller": v, "idle_pct": idle.target_pct,
        "with_callers": with_callers, "with_viewers": with_viewers,
        "per_caller_pct": (with_callers["gateway_pct"] - idle.target_pct) / n,
        "per_caller_all_viewers_pct": (with_viewers["gateway_pct"] - idle.target_pct) / n,
        "per_viewer_pct": (with_viewers["gateway_pct"] - with_callers["gateway_pct"]) / (n * v),
        "janus_pct": with_viewers["janus_pct"], "seen": seen, "limit": limit_of(with_viewers, seen),
        # what the load generator itself costs: a caller sending, a viewer counting
        "loadgen_per_caller_pct": (with_callers["loadgen_pct"] - idle.loadgen_pct) / n,
        "loadgen_per_viewer_pct": (with_viewers["loadgen_pct"] - with_callers["loadgen_pct"]) / (n * v),
    }


async def ceiling(loadgen: LoadGenerator, name: str, gateway_pid: int, janus_pid: int | None, v: int,
                  steps: list[int], settle: float, window: float) -> dict[str, Any]:
    """Callers (each with ``v`` viewers) added up to each count in ``steps`` (the earlier ones stay)
    until more than 5% of frames are dropped: the last count that held, and every step's figures."""
    win = Window(gateway_pid, janus_pid, loadgen)
    idle = await measure(win.meter, 3.0)
    out: list[dict[str, Any]] = []
    held, stopped, now = 0, "", 0
    try:
        for n in steps:
            t0 = time.monotonic()
            try:
                await loadgen.add(n - now, v)
            except (RuntimeError, TimeoutError) as exc:
                stopped = f"{n} callers x {v} could not all start: {exc}"
                log(f"  {name}: {stopped}")
                break
            now = n
            started_s = time.monotonic() - t0
            await asyncio.sleep(settle)
            cpu = await win.measure(window)
            await asyncio.sleep(1.5)
            seen = await loadgen.delivery(cpu["w0"], cpu["w1"])
            step = {"callers": n, **cpu, "idle_pct": idle.target_pct,
                    "gateway_per_caller_pct": (cpu["gateway_pct"] - idle.target_pct) / n,
                    "start_s": started_s, "limit": limit_of(cpu, seen),
                    **{k: seen[k] for k in ("drop_pct", "worst_pair_drop_pct", "caller_fps", "slowest_caller_fps",
                                            "unreadable", "verified", "misnumbered", "loop_lag_p95_ms", "sent",
                                            "decoding_drop_pct")},
                    "latency_ms": seen["wire_ms"]}
            out.append(step)
            log(f"  {name}: {n} callers x {v}: dropped {seen['drop_pct']:.2f}% of {seen['sent']} frames, p50/p95 "
                f"{fmt_ms(seen['wire_ms'])}; gateway {cpu['gateway_pct']:.0f}% "
                f"({step['gateway_per_caller_pct']:.2f}% a caller), "
                + (f"Janus {cpu['janus_pct']:.0f}%, " if cpu["janus_pct"] is not None else "")
                + f"load generator {cpu['loadgen_pct']:.0f}% (busiest process {cpu['loadgen_busiest_pct']:.0f}%, "
                f"loop lag p95 {seen['loop_lag_p95_ms'] or 0:.0f} ms, callers {seen['slowest_caller_fps']:.1f} fps "
                f"at the slowest), machine {cpu['machine_pct']:.0f}%, others {cpu['others_pct']:.0f}%; "
                f"stamps checked {seen['verified']}, misnumbered {seen['misnumbered']}, unreadable "
                f"{seen['unreadable']}; viewers decoding every frame dropped {_pct(seen['decoding_drop_pct'])}; "
                f"keyframes sent on request so far {seen['keyframes_on_request']}; "
                f"limit: {step['limit']}")
            if seen["drop_pct"] > CEILING_DROP_PCT:
                stopped = f"{n} callers x {v}: {seen['drop_pct']:.1f}% dropped"
                break
            held = n
    finally:
        await loadgen.stop()
    return {"held": held, "steps": out, "stopped": stopped, "reached_most": held == steps[-1]}


async def run(args: argparse.Namespace, video: Path, workdir: Path) -> dict[str, Any]:
    results: dict[str, Any] = {}
    for plane in args.planes:
        folder = workdir / plane
        folder.mkdir()
        gateway, password = make_gateway(folder)
        janus_context = janus_server(folder / "janus", HOST) if plane == "janus" else None
        janus = janus_context.__enter__() if janus_context is not None else None
        loadgen = LoadGenerator(args.workers, not args.no_decode_sample, not args.ignore_keyframe_requests)
        try:
            if janus is not None:
                gateway.env.update(janus.env())
            log(f"{plane}: starting the gateway")
            gateway.start()
            assert gateway.proc is not None
            await loadgen.open(gateway.base_url, "bench1", password, video)
            janus_pid = janus.pid if janus else None
            log(f"{plane}: {args.callers} callers, then {args.viewers} viewers each "
                f"({args.workers} load-generator processes)")
            r = await measure_plane(loadgen, gateway.proc.pid, janus_pid, args.callers, args.viewers,
                                    args.warmup, args.window)
            log_plane(plane, r, args.viewers)
            steps = [n for n in args.ceiling_steps if n > 0]
            if steps:
                log(f"{plane}: the ceiling, callers x {args.viewers} at {', '.join(map(str, steps))}")
                r["ceiling"] = await ceiling(loadgen, plane, gateway.proc.pid, janus_pid, args.viewers, steps,
                                             args.warmup, args.window)
            if plane == "janus" and args.janus_target:
                # The target's own run, whatever the ceiling found: all its callers at once, from none.
                log(f"{plane}: the target, {args.janus_target} callers x {args.viewers}")
                r["target"] = await ceiling(loadgen, plane, gateway.proc.pid, janus_pid, args.viewers,
                                            [args.janus_target], args.warmup, args.window)
            results[plane] = r
        finally:
            await loadgen.close()
            gateway.stop()
            if janus_context is not None:
                janus_context.__exit__(None, None, None)
    return results


def log_plane(plane: str, r: dict[str, Any], v: int) -> None:
    w, s = r["with_viewers"], r["seen"]
    janus_text = f", Janus {r['janus_pct']:.1f}%" if r["janus_pct"] is not None else ""
    log(f"  {plane}: gateway {r['per_caller_pct']:.2f}% of a core per caller, {r['per_viewer_pct']:.2f}% per viewer "
        f"({r['per_caller_all_viewers_pct']:.2f}% per caller with its {v} viewers){janus_text}; dropped "
        f"{s['drop_pct']:.2f}% of {s['sent']} frames, caller -> viewer p50/p95 {fmt_ms(s['wire_ms'])}; load generator "
        f"{w['loadgen_pct']:.0f}% (busiest process {w['loadgen_busiest_pct']:.0f}%; {r['loadgen_per_caller_pct']:.2f}% "
        f"a caller, {r['loadgen_per_viewer_pct']:.2f}% a viewer), other processes "
        f"{w['others_pct']:.0f}%; stamps checked {s['verified']}, misnumbered {s['misnumbered']}, "
        f"unreadable {s['unreadable']}; viewers decoding every frame dropped {_pct(s['decoding_drop_pct'])}")


def _pct(x: float | None) -> str:
    return "n/a" if x is None else f"{x:.2f}%"


def _p95(p: dict[str, Any]) -> str:
    return "n/a" if not p["n"] else f"{p['p95']:.0f} ms"


def _held(result: dict[str, Any]) -> str:
    c = result.get("ceiling")
    if not c or not c["steps"]:
        return "not measured" if not c else f"0 ({c['stopped']})"
    last = c["steps"][-1]
    if c["reached_most"]:
        return f"{c['held']}+ (the most tried)"
    if c["stopped"] and last["drop_pct"] <= CEILING_DROP_PCT:
        return f"{c['held']} ({c['stopped']})"
    return f"{c['held']} ({last['callers']}: {last['drop_pct']:.0f}% dropped; limit: {last['limit']})"


def _cell(st: dict[str, Any] | None) -> str:
    if st is None:
        return "-"
    janus = f", Janus {st['janus_pct']:.0f}%" if st["janus_pct"] is not None else ""
    return (f"{st['drop_pct']:.2f}%, p95 {_p95(st['latency_ms'])}; gateway {st['gateway_pct']:.0f}% "
            f"({st['gateway_per_caller_pct']:.1f}% a caller){janus}; load {st['loadgen_pct']:.0f}% "
            f"(busiest {st['loadgen_busiest_pct']:.0f}%); machine {st['machine_pct']:.0f}% "
            f"(others {st['others_pct']:.0f}%); limit: {st['limit']}")


def write_doc(results: dict[str, Any], args: argparse.Namespace, started: str) -> None:
    e, j = results["embedded"], results["janus"]
    v = args.viewers
    rows = [
        "| | embedded relay | Janus VideoRoom |",
        "|---|---|---|",
        f"| gateway CPU per caller, no viewer | {e['per_caller_pct']:.2f}% | {j['per_caller_pct']:.2f}% |",
        f"| gateway CPU per viewer | {e['per_viewer_pct']:.2f}% | {j['per_viewer_pct']:.2f}% |",
        f"| gateway CPU per caller with {v} viewers | {e['per_caller_all_viewers_pct']:.2f}% "
        f"| {j['per_caller_all_viewers_pct']:.2f}% |",
        f"| Janus CPU ({args.callers} x {v}) | - | {j['janus_pct']:.1f}% |",
        f"| frames dropped | {e['seen']['drop_pct']:.2f}% | {j['seen']['drop_pct']:.2f}% |",
        f"| caller -> viewer (frame complete at the viewer's socket) p50 / p95 | {fmt_ms(e['seen']['wire_ms'])} "
        f"| {fmt_ms(j['seen']['wire_ms'])} |",
        f"| load generator CPU (all its processes; busiest) | {e['with_viewers']['loadgen_pct']:.0f}%; "
        f"{e['with_viewers']['loadgen_busiest_pct']:.0f}% | {j['with_viewers']['loadgen_pct']:.0f}%; "
        f"{j['with_viewers']['loadgen_busiest_pct']:.0f}% |",
        f"| load generator CPU per caller / per viewer | {e['loadgen_per_caller_pct']:.2f}% / "
        f"{e['loadgen_per_viewer_pct']:.2f}% | {j['loadgen_per_caller_pct']:.2f}% / {j['loadgen_per_viewer_pct']:.2f}% |",
        f"| so the load generator alone at {TARGET_CALLERS} x {v} (from the Janus column) | - | "
        f"{TARGET_CALLERS * (j['loadgen_per_caller_pct'] + v * j['loadgen_per_viewer_pct']):.0f}% of a core |",
        f"| other processes on the machine (not Janus) | {e['with_viewers']['others_pct']:.0f}% "
        f"| {j['with_viewers']['others_pct']:.0f}% |",
    ]
    if "ceiling" in e and "ceiling" in j:
        rows.append(f"| ceiling: callers x {v} with at most {CEILING_DROP_PCT:.0f}% dropped "
                    f"(tried {', '.join(map(str, args.ceiling_steps))}) | {_held(e)} | {_held(j)} |")
    steps: list[str] = []
    if "ceiling" in j or "target" in j:
        tried = [st for key in ("target", "ceiling") for st in j.get(key, {}).get("steps", [])]
        at = {st["callers"]: st for st in reversed(tried)}.get(TARGET_CALLERS)
        if at is None:
            why = j.get("target", j.get("ceiling", {})).get("stopped") or "not tried"
            rows += ["", f"Janus's target, {TARGET_CALLERS} callers x {v}: not reached in this run ({why})."]
        else:
            met = (at["drop_pct"] < TARGET_DROP_PCT and at["latency_ms"]["n"]
                   and at["latency_ms"]["p95"] <= TARGET_P95_MS)
            rows += ["", f"Janus's target, {TARGET_CALLERS} callers x {v}: {at['drop_pct']:.2f}% of frames dropped "
                     f"(target < {TARGET_DROP_PCT:.0f}%), caller -> viewer p95 {_p95(at['latency_ms'])} (target <= "
                     f"{TARGET_P95_MS:.0f} ms), gateway {at['gateway_per_caller_pct']:.1f}% of a core a caller "
                     f"(target <= 3%), Janus {at['janus_pct']:.0f}%, load generator {at['loadgen_pct']:.0f}%, "
                     f"machine {at['machine_pct']:.0f}% of 200% (others {at['others_pct']:.0f}%): "
                     f"{'met' if met else 'not met'} (limit: {at['limit']})."]
    if "ceiling" in e and "ceiling" in j:
        steps = [
            "",
            f"The ceiling's steps (callers x {v} viewers, added to those already there; frames dropped, caller -> "
            "viewer p95, gateway CPU, Janus CPU, load generator CPU, the whole machine's CPU out of 200%, and "
            "what limited the step):",
            "",
            "| callers | embedded relay | Janus VideoRoom |",
            "|---:|---|---|",
        ]
        by_plane = {name: {s["callers"]: s for s in results[name]["ceiling"]["steps"]} for name in ("embedded", "janus")}
        for n in sorted(set(by_plane["embedded"]) | set(by_plane["janus"])):
            steps.append(f"| {n} | {_cell(by_plane['embedded'].get(n))} | {_cell(by_plane['janus'].get(n))} |")
        checked = sum(s["verified"] for p in (e, j) for s in p["ceiling"]["steps"])
        wrong = sum(s["misnumbered"] for p in (e, j) for s in p["ceiling"]["steps"])
        steps += ["", f"Stamps checked against RTP-timestamp numbering over the ceiling's windows: {checked}, "
                  f"misnumbered: {wrong}.", "", LIMITS]
    others = [w["others_pct"] for p in (e, j) for w in (p["with_callers"], p["with_viewers"])]
    others += [st["others_pct"] for p in (e, j) for key in ("ceiling", "target") for st in p.get(key, {}).get("steps", [])]
    disturbed = (f" Other work on the machine (not this benchmark's processes) used up to {max(others):.0f}% of a core "
                 "in the measured windows, so these figures are disturbed (all processes competed for the 2 cores): rerun on a quiet machine for figures to compare."
                 if max(others, default=0.0) > QUIET_PCT else "")
    text = "\n".join([
        "## Media planes",
        "",
        INTRO,
        "",
        f"{args.callers} callers x {v} viewers each, 640x480 at 15 fps, one run ({started}; {machine()}; "
        f"{args.workers} load-generator processes). Reproduce: `make bench-planes`.{disturbed}",
        "",
        *rows,
        *steps,
    ])
    write_section(BEGIN, END, text)


def _interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--callers", type=int, default=4)
    parser.add_argument("--viewers", type=int, default=2)
    parser.add_argument("--warmup", type=float, default=4.0)
    parser.add_argument("--window", type=float, default=10.0)
    parser.add_argument("--ceiling-steps", type=lambda text: [int(x) for x in text.split(",") if x.strip()],
                        default=[4, 8, 12, 16, 20, 30, 40, 50],
                        help="caller counts to try for the ceiling, comma-separated ('' or 0: none)")
    parser.add_argument("--janus-target", type=int, default=TARGET_CALLERS,
                        help="callers (each with --viewers) for Janus's own target run after its ceiling (0: none)")
    parser.add_argument("--workers", type=int, default=2, help="load-generator processes")
    parser.add_argument("--planes", type=lambda text: text.split(","), default=["embedded", "janus"])
    parser.add_argument("--no-decode-sample", action="store_true",
                        help="no viewer decodes every frame (only keyframes are decoded, to check numbering)")
    parser.add_argument("--ignore-keyframe-requests", action="store_true",
                        help="callers send their file straight on, never a keyframe on request (as bench-media's)")
    parser.add_argument("--unlayered", action="store_true",
                        help="callers send VP8 without temporal layers (as a browser refusing L1T3 does)")
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args()
    if not on_private_test_network():
        sys.exit("run inside the private test network: tests/netns-run .venv/bin/python -m benchmarks.bench_planes")
    video = ensure_video() if args.unlayered else ensure_video(LAYERED_PATH)
    started = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    # A SIGTERM (e.g. from a timeout wrapper) unwinds like Ctrl-C, so the servers and workers are stopped.
    signal.signal(signal.SIGTERM, _interrupt)
    with tempfile.TemporaryDirectory(prefix="bench-planes-") as tmp:
        results = asyncio.run(run(args, video, Path(tmp)))
    BUILD.mkdir(parents=True, exist_ok=True)
    with open(BUILD / "bench_planes_runs.jsonl", "a") as fh:
        fh.write(json.dumps({"at": time.time(), "args": vars(args), "results": results}) + "\n")
    if not args.no_write and {"embedded", "janus"} <= set(results):
        write_doc(results, args, started)


if __name__ == "__main__":
    main()
